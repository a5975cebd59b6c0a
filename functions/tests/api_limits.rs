//! Sizes and idempotency at the API, against moto: what a record may hold,
//! logs read in bounded pages, keys that belong to their client, names
//! freed by deletion.

mod support;

use axum::body::Body;
use axum::http::{header, Request};
use chrono::Utc;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use support::{api, Answer, Api, READER, SUBMITTER};
use wharf_core::lifecycle;
use wharf_core::logs::log_part_key;
use wharf_core::model::Task;
use wharf_functions::api::{app, AppState};

fn task() -> Value {
    json!({"spec": {"process": {"command": ["true"]}}})
}

async fn submit_with_key(api: &Api, token: &str, key: &str, body: &Value) -> Answer {
    let request = Request::post("/v1/tasks")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .header("idempotency-key", key)
        .body(Body::from(body.to_string()))
        .unwrap();
    api.call(request).await
}

#[tokio::test]
async fn the_task_without_its_payload_and_its_labels_are_bounded() {
    let api = api().await;
    let mut big_env = task();
    big_env["spec"]["process"]["env"] = json!({"BIG": "x".repeat(70 * 1024)});
    let answer = api.submit(Some(SUBMITTER), big_env.to_string()).await;
    assert_eq!(answer.status, 413, "{}", answer.body);
    assert_eq!(answer.body["errors"][0]["field"], "spec");

    let mut many_labels = task();
    let labels: serde_json::Map<String, Value> =
        (0..65).map(|i| (format!("k{i}"), json!("v"))).collect();
    many_labels["labels"] = Value::Object(labels);
    let answer = api.submit(Some(SUBMITTER), many_labels.to_string()).await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert_eq!(answer.body["errors"][0]["field"], "labels");
    // A large payload is fine: it is not part of the record.
    let mut big_payload = task();
    big_payload["payload"] = json!({"rows": "y".repeat(200 * 1024)});
    assert_eq!(
        api.submit(Some(SUBMITTER), big_payload.to_string())
            .await
            .status,
        202
    );
}

#[tokio::test]
async fn idempotency_keys_belong_to_their_client_and_to_one_body() {
    let api = api().await;
    let hash = |t: &str| hex::encode(Sha256::digest(t.as_bytes()));
    // A second submitter beside the harness's.
    let other = "other-submitter";
    let tokens = format!("{}:read+submit,{}:submit", hash(SUBMITTER), hash(other));
    let router = app(AppState {
        backend: api.backend.clone(),
        tokens: tokens.parse().unwrap(),
    });
    let api = Api { router, ..api };

    let first = submit_with_key(&api, SUBMITTER, "nightly", &task()).await;
    assert_eq!(first.status, 202);
    let retried = submit_with_key(&api, SUBMITTER, "nightly", &task()).await;
    assert_eq!(
        (retried.status.as_u16(), &retried.body["id"]),
        (200, &first.body["id"])
    );
    let theirs = submit_with_key(&api, other, "nightly", &task()).await;
    assert_eq!(theirs.status, 202, "another client's key is another key");
    assert_ne!(theirs.body["id"], first.body["id"]);

    let mut different = task();
    different["labels"] = json!({"run": "2"});
    let reused = submit_with_key(&api, SUBMITTER, "nightly", &different).await;
    assert_eq!(reused.status, 422, "{}", reused.body);
    assert_eq!(reused.body["existingId"], first.body["id"]);
    assert_eq!(
        reused.headers[header::CONTENT_TYPE],
        "application/problem+json"
    );
}

#[tokio::test]
async fn deleting_a_task_frees_its_name_and_its_key() {
    let api = api().await;
    let mut named = task();
    named["name"] = json!("report");
    let first = submit_with_key(&api, SUBMITTER, "k", &named).await;
    let id = first.body["id"].as_str().unwrap();
    let delete = Request::delete(format!("/v1/tasks/{id}?force=true"))
        .header(header::AUTHORIZATION, format!("Bearer {SUBMITTER}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(api.call(delete).await.status, 204);
    let again = submit_with_key(&api, SUBMITTER, "k", &named).await;
    assert_eq!(again.status, 202, "{}", again.body);
    assert_ne!(again.body["id"], first.body["id"]);
}

#[tokio::test]
async fn a_large_log_is_read_in_pages_of_at_most_one_mebibyte() {
    let api = api().await;
    let created = api.submit(Some(SUBMITTER), task().to_string()).await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    // A finished attempt 0 whose log holds 3.5 MiB of multi-byte text,
    // shipped as uneven parts cut inside characters.
    let finish = |task: &Task| lifecycle::cancel(task, Utc::now());
    api.backend.store.transition(&id, &finish).await.unwrap();
    let log: String = "é line of the log\n".repeat(190_000);
    assert!(log.len() > 3 * 1024 * 1024);
    let bytes = log.as_bytes();
    for (start, end) in [(0, 699_999), (699_999, 2_199_992), (2_199_992, bytes.len())] {
        let key = log_part_key(&id, 0, start as u64);
        let part = bytes[start..end].to_vec();
        api.backend
            .artifacts
            .put_bytes(&key, part, "text/plain")
            .await
            .unwrap();
    }

    let (mut read, mut offset, mut pages) = (String::new(), 0u64, 0);
    loop {
        let request = Request::get(format!("/v1/tasks/{id}/logs?attempt=0&offset={offset}"))
            .header(header::AUTHORIZATION, format!("Bearer {READER}"))
            .body(Body::empty())
            .unwrap();
        let page = api.call(request).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let data = page.body["data"].as_str().unwrap();
        assert!(data.len() <= 1024 * 1024, "a page of {} bytes", data.len());
        read.push_str(data);
        offset = page.body["nextOffset"].as_u64().unwrap();
        pages += 1;
        if page.body["complete"] == true {
            break;
        }
        assert!(pages < 10, "the log never completes");
    }
    assert_eq!(pages, 4);
    assert!(read == log, "the pages do not add up to the log");
}
