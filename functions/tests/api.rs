//! The HTTP API through `app(state).oneshot(request)`, backed by a real moto
//! server: authentication, validation, conditional GETs, names and
//! idempotency keys.

mod support;

use axum::body::Body;
use axum::http::{header, Request};
use serde_json::{json, Value};
use support::{api, READER, SUBMITTER, WRITE_ONLY};
use wharf_core::queue::{Lane, ReceiveOptions};

fn task() -> Value {
    json!({"spec": {"process": {"command": ["true"]}}})
}

#[tokio::test]
async fn health_needs_no_token() {
    let api = api().await;
    let answer = api
        .call(Request::get("/health").body(Body::empty()).unwrap())
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, json!({"status": "healthy"}));
}

#[tokio::test]
async fn no_token_is_401_and_a_token_without_submit_is_403() {
    let api = api().await;
    for token in [None, Some("not-a-configured-token")] {
        let answer = api.submit(token, task().to_string()).await;
        assert_eq!(answer.status, 401);
        assert_eq!(
            answer.headers[header::CONTENT_TYPE],
            "application/problem+json"
        );
    }
    let answer = api.submit(Some(READER), task().to_string()).await;
    assert_eq!(answer.status, 403);
    assert_eq!(answer.body["status"], 403);
    // Nothing was enqueued by the refused requests.
    assert_eq!(api.queued().await, 0);
}

/// A dependent sees its upstream tasks' results and outputs: naming them
/// takes the read scope a write-only token lacks.
#[tokio::test]
async fn a_token_that_cannot_read_cannot_depend_on_tasks() {
    let api = api().await;
    let upstream = api.submit(Some(WRITE_ONLY), task().to_string()).await;
    assert_eq!(upstream.status, 202, "{}", upstream.body);
    let id = upstream.body["id"].as_str().unwrap();
    let mut dependent = task();
    dependent["dependsOn"] = json!([{"task": id}]);
    let refused = api.submit(Some(WRITE_ONLY), dependent.to_string()).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(refused.body["detail"], "this token lacks the read scope");
    assert_eq!(api.queued().await, 1, "only the upstream task");
    let accepted = api.submit(Some(SUBMITTER), dependent.to_string()).await;
    assert_eq!(accepted.status, 202, "{}", accepted.body);
}

#[tokio::test]
async fn a_valid_task_is_recorded_and_enqueued() {
    let api = api().await;
    let answer = api.submit(Some(SUBMITTER), task().to_string()).await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    let id = answer.body["id"].as_str().unwrap();
    assert_eq!(answer.headers[header::LOCATION], format!("/v1/tasks/{id}"));
    let stored = api.backend.store.get(id).await.unwrap().unwrap().task;
    assert_eq!(stored.status.to_string(), "queued");
    assert_eq!(stored.max_attempts, 3);
    let received = api
        .backend
        .queues
        .receive(
            "default",
            Lane::Tasks,
            ReceiveOptions {
                max: 10,
                wait: std::time::Duration::from_secs(1),
                visibility: std::time::Duration::from_secs(30),
            },
        )
        .await
        .unwrap();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].task_message().unwrap().task_id, id);
}

#[tokio::test]
async fn malformed_specs_are_400_naming_the_field() {
    let api = api().await;
    let cases = [
        (
            json!({"spec": {"process": {"command": []}}}),
            "spec.process.command",
        ),
        (
            json!({"spec": {"process": {"command": ["true"]}}, "timeoutSeconds": 0}),
            "timeoutSeconds",
        ),
        (
            json!({"spec": {"process": {"command": ["true"]}}, "queue": "nope"}),
            "queue",
        ),
        (
            json!({"spec": {"process": {"command": ["true"], "shell": true}}}),
            "spec.process.shell",
        ),
        (
            json!({"spec": {"script": {"url": "http://example.com/a.py", "name": "a.py"}}}),
            "spec.script.url",
        ),
        (json!({"spec": {}}), "spec"),
    ];
    for (body, field) in cases {
        let answer = api.submit(Some(SUBMITTER), body.to_string()).await;
        assert_eq!(answer.status, 400, "{body}");
        assert_eq!(
            answer.headers[header::CONTENT_TYPE],
            "application/problem+json"
        );
        assert_eq!(answer.body["errors"][0]["field"], field, "{}", answer.body);
        assert!(answer.body["detail"].as_str().unwrap().contains(field));
    }
    let answer = api.submit(Some(SUBMITTER), "{not json").await;
    assert_eq!(answer.status, 400);
    assert_eq!(api.queued().await, 0, "a refused task must not be enqueued");
}

#[tokio::test]
async fn payloads_above_64_kib_go_to_s3_and_above_1_mib_are_413() {
    let api = api().await;
    let mut body = task();
    body["payload"] = json!({"blob": "x".repeat(100 * 1024)});
    let answer = api.submit(Some(SUBMITTER), body.to_string()).await;
    assert_eq!(answer.status, 202);
    assert_eq!(answer.body["payloadInS3"], true);
    let id = answer.body["id"].as_str().unwrap();
    let stored = api
        .backend
        .artifacts
        .get_from(&wharf_core::artifacts::payload_key(id), 0, u64::MAX)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&stored.data).unwrap(),
        body["payload"]
    );

    body["payload"] = json!({"blob": "x".repeat(1024 * 1024)});
    let answer = api.submit(Some(SUBMITTER), body.to_string()).await;
    assert_eq!(answer.status, 413);
    body["payload"] = json!({"blob": "x".repeat(3 * 1024 * 1024)});
    let answer = api.submit(Some(SUBMITTER), body.to_string()).await;
    assert_eq!(answer.status, 413);
}

#[tokio::test]
async fn if_none_match_with_the_current_etag_is_304() {
    let api = api().await;
    let id = api.submit(Some(SUBMITTER), task().to_string()).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let get = |etag: Option<&str>| {
        let mut request = Request::get(format!("/v1/tasks/{id}"))
            .header(header::AUTHORIZATION, format!("Bearer {READER}"));
        if let Some(etag) = etag {
            request = request.header(header::IF_NONE_MATCH, etag);
        }
        request.body(Body::empty()).unwrap()
    };
    let first = api.call(get(None)).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.body["id"], id.as_str());
    let etag = first.headers[header::ETAG].to_str().unwrap().to_owned();
    let again = api.call(get(Some(&etag))).await;
    assert_eq!(again.status, 304);
    assert_eq!(again.headers[header::ETAG], etag.as_str());
    let stale = api.call(get(Some("\"something-else\""))).await;
    assert_eq!(stale.status, 200);

    let missing = api
        .call(
            Request::get("/v1/tasks/nope")
                .header(header::AUTHORIZATION, format!("Bearer {READER}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(missing.status, 404);
}

#[tokio::test]
async fn names_are_unique_and_idempotency_keys_return_the_original() {
    let api = api().await;
    let mut named = task();
    named["name"] = json!("nightly-report");
    let first = api.submit(Some(SUBMITTER), named.to_string()).await;
    assert_eq!(first.status, 202);
    let second = api.submit(Some(SUBMITTER), named.to_string()).await;
    assert_eq!(second.status, 409);
    assert_eq!(second.body["existingId"], first.body["id"]);

    let with_key = |key: &str| {
        Request::post("/v1/tasks")
            .header(header::AUTHORIZATION, format!("Bearer {SUBMITTER}"))
            .header("idempotency-key", key)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(task().to_string()))
            .unwrap()
    };
    let original = api.call(with_key("retry-me")).await;
    assert_eq!(original.status, 202);
    let retried = api.call(with_key("retry-me")).await;
    assert_eq!(retried.status, 200);
    assert_eq!(retried.body["id"], original.body["id"]);
    // Only the two created tasks were enqueued.
    assert_eq!(api.queued().await, 2);
}
