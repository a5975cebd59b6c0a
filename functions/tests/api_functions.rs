//! Registered functions against moto: register, read, list, invoke (the
//! parameters checked against the function's JSON Schema), `{"function"}`
//! on `POST /v1/tasks`, delete.

mod support;

use serde_json::{json, Value};
use support::{api, Api, ADMIN, READER, SUBMITTER};

fn fakejob() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../samples/functions/fakejob.json"
    ))
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

async fn register(api: &Api) {
    let answer = api
        .send("PUT", "/v1/functions/fakejob", ADMIN, &fakejob())
        .await;
    assert_eq!(answer.status, 201, "{}", answer.body);
}

#[tokio::test]
async fn functions_register_replace_list_and_delete() {
    let api = api().await;
    let refused = api
        .send("PUT", "/v1/functions/fakejob", SUBMITTER, &fakejob())
        .await;
    assert_eq!(refused.status, 403);
    register(&api).await;
    let again = api
        .send("PUT", "/v1/functions/fakejob", ADMIN, &fakejob())
        .await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body["name"], "fakejob");

    let one = api.read("GET", "/v1/functions/fakejob", READER).await;
    assert_eq!(one.status, 200);
    assert_eq!(
        one.body["paramsSchema"]["required"],
        json!(["delay_seconds"])
    );
    assert_eq!(one.body["defaults"]["maxAttempts"], 1);
    let all = api.read("GET", "/v1/functions", READER).await;
    let names: Vec<&str> = all.body["functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["fakejob"]);

    let mut bad = fakejob();
    bad["paramsSchema"] = json!({"type": 12});
    bad["defaults"]["queue"] = json!("nope");
    let answer = api.send("PUT", "/v1/functions/broken", ADMIN, &bad).await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.fields(), ["paramsSchema", "defaults.queue"]);
    let odd = api
        .send("PUT", "/v1/functions/a%20b", ADMIN, &fakejob())
        .await;
    assert_eq!(odd.status, 404);

    let deleted = api.read("DELETE", "/v1/functions/fakejob", ADMIN).await;
    assert_eq!(deleted.status, 204);
    let gone = api.read("GET", "/v1/functions/fakejob", READER).await;
    assert_eq!(gone.status, 404);
    assert_eq!(gone.headers["content-type"], "application/problem+json");
    let invoked = api
        .send(
            "POST",
            "/v1/functions/fakejob/invoke",
            SUBMITTER,
            &json!({"params": {"delay_seconds": 1}}),
        )
        .await;
    assert_eq!(invoked.status, 404);
    assert_eq!(api.queued().await, 0);
}

#[tokio::test]
async fn an_invocation_is_checked_against_the_schema_then_becomes_a_task() {
    let api = api().await;
    register(&api).await;
    let uri = "/v1/functions/fakejob/invoke";
    let bad = api
        .send(
            "POST",
            uri,
            SUBMITTER,
            &json!({"params": {"delay_seconds": 0, "x": 1}}),
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert_eq!(bad.fields(), ["params.delay_seconds", "params"]);
    let missing = api.send("POST", uri, SUBMITTER, &json!({})).await;
    assert_eq!(missing.fields(), ["params"]);
    assert_eq!(
        api.queued().await,
        0,
        "a refused invocation enqueues nothing"
    );

    let call = json!({"params": {"delay_seconds": 2}, "name": "fake-1", "labels": {"run": "a"}});
    let answer = api.send("POST", uri, SUBMITTER, &call).await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    let id = answer.body["id"].as_str().unwrap();
    let task = api.backend.store.get(id).await.unwrap().unwrap().task;
    assert_eq!(task.function.as_deref(), Some("fakejob"));
    assert_eq!(task.payload, Some(json!({"delay_seconds": 2})));
    assert_eq!(task.name.as_deref(), Some("fake-1"));
    assert_eq!(task.timeout_seconds, 120);
    assert_eq!(task.max_attempts, 1);
    assert_eq!(task.labels["sample"], "fakejob");
    assert_eq!(task.labels["run"], "a");
    assert_eq!(api.queued().await, 1);

    // The same through POST /v1/tasks, naming the function.
    let body = json!({"function": "fakejob", "payload": {"delay_seconds": 5}, "maxAttempts": 2});
    let answer = api.submit(Some(SUBMITTER), body.to_string()).await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    assert_eq!(answer.body["function"], "fakejob");
    assert_eq!(answer.body["maxAttempts"], 2);
    assert_eq!(answer.body["timeoutSeconds"], 120);
    let body = json!({"function": "fakejob", "payload": {"delay_seconds": "soon"}});
    let answer = api.submit(Some(SUBMITTER), body.to_string()).await;
    assert_eq!(answer.fields(), ["payload.delay_seconds"]);
    let body = json!({"function": "nobody", "payload": {}});
    let answer = api.submit(Some(SUBMITTER), body.to_string()).await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.fields(), ["function"]);
    let body = json!({"function": "fakejob", "spec": {"process": {"command": ["true"]}}});
    let answer = api.submit(Some(SUBMITTER), body.to_string()).await;
    assert_eq!(answer.fields(), ["spec"]);
    assert_eq!(api.queued().await, 2);
}
