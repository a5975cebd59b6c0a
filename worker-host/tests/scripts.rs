//! Script tasks: scripts served over HTTPS by a local server whose
//! certificate comes from a private CA made in the test; the worker trusts
//! that CA through `--extra-ca-file`.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use support::scripts::{serve, serve_issued, Issued};
use support::Stack;

const WAIT: Duration = Duration::from_secs(60);

const GOOD_SCRIPT: &str = r#"#!/bin/sh
echo "script args: $*"
cp "$WHARF_PAYLOAD" "$WHARF_OUTPUT_DIR/received.json"
"#;

fn script_task(url: &str, name: &str, sha256: Option<String>) -> Value {
    let mut script = json!({"url": url, "name": name, "args": ["first", "second"]});
    if let Some(sha256) = sha256 {
        script["sha256"] = json!(sha256);
    }
    json!({"spec": {"script": script}, "payload": {"invoice": 17}})
}

#[tokio::test]
async fn a_downloaded_script_runs_with_its_args_and_payload() {
    let server = serve(HashMap::from([("/jobs/job.sh", GOOD_SCRIPT)])).await;
    let stack = Stack::start().await;
    let _worker = server.trusting_worker(&stack);
    let sha = hex::encode(Sha256::digest(GOOD_SCRIPT.as_bytes()));
    let url = format!("{}/jobs/job.sh", server.base_url);
    let id = stack
        .submit_id(script_task(&url, "job.sh", Some(sha)))
        .await;
    let done = stack.wait(&id, WAIT).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let received: Value =
        serde_json::from_slice(&stack.download(&id, "received.json").await).unwrap();
    assert_eq!(received, json!({"invoice": 17}));
    let logs = stack.logs(&id).await;
    assert!(logs.contains("script args: first second"), "{logs}");
}

#[tokio::test]
async fn a_sha256_mismatch_fails_the_task_without_running_the_script() {
    let server = serve(HashMap::from([("/job.sh", GOOD_SCRIPT)])).await;
    let stack = Stack::start().await;
    let _worker = server.trusting_worker(&stack);
    let url = format!("{}/job.sh", server.base_url);
    let wrong = hex::encode(Sha256::digest(b"something else"));
    let id = stack
        .submit_id(script_task(&url, "job.sh", Some(wrong)))
        .await;
    let done = stack.wait(&id, WAIT).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(done["reason"], "StartFailed");
    assert!(
        done["message"]
            .as_str()
            .unwrap()
            .contains("sha256 mismatch"),
        "{done}"
    );
    assert!(
        done["outputs"].as_array().unwrap().is_empty(),
        "the script ran: {done}"
    );
}

#[tokio::test]
async fn a_server_outside_the_trusted_roots_is_refused() {
    let server = serve(HashMap::from([("/job.sh", GOOD_SCRIPT)])).await;
    let stack = Stack::start().await;
    let _worker = stack.spawn_worker(); // no --extra-ca-file
    let url = format!("{}/job.sh", server.base_url);
    let id = stack.submit_id(script_task(&url, "job.sh", None)).await;
    let done = stack.wait(&id, WAIT).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(done["reason"], "StartFailed");
    assert!(
        done["message"].as_str().unwrap().contains("certificate"),
        "{done}"
    );
}

#[tokio::test]
async fn a_self_signed_server_certificate_in_the_extra_ca_file_is_pinned() {
    let server = serve_issued(
        HashMap::from([("/job.sh", GOOD_SCRIPT)]),
        Issued::SelfSigned,
    )
    .await;
    let stack = Stack::start().await;
    let _worker = server.trusting_worker(&stack);
    let url = format!("{}/job.sh", server.base_url);
    let pinned = stack.submit_id(script_task(&url, "job.sh", None)).await;
    let done = stack.wait(&pinned, WAIT).await;
    assert_eq!(done["status"], "succeeded", "{done}");

    // Another self-signed server, not pinned: refused, and the message
    // says why.
    let other = serve_issued(
        HashMap::from([("/job.sh", GOOD_SCRIPT)]),
        Issued::SelfSigned,
    )
    .await;
    let url = format!("{}/job.sh", other.base_url);
    let refused = stack.submit_id(script_task(&url, "job.sh", None)).await;
    let done = stack.wait(&refused, WAIT).await;
    assert_eq!(done["reason"], "StartFailed", "{done}");
    let message = done["message"].as_str().unwrap();
    assert!(message.contains("invalid peer certificate"), "{message}");
}

#[tokio::test]
async fn insecure_or_misnamed_scripts_are_refused_at_submission() {
    let stack = Stack::start().await;
    let submit = |task: Value| {
        stack
            .http
            .post(format!("{}/v1/tasks", stack.api_url))
            .bearer_auth(support::TOKEN)
            .json(&task)
            .send()
    };
    let http = submit(script_task("http://127.0.0.1/job.sh", "job.sh", None))
        .await
        .unwrap();
    assert_eq!(http.status(), 400);
    let problem: Value = http.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "spec.script.url");

    let misnamed = submit(script_task("https://127.0.0.1/job.sh", "other.sh", None))
        .await
        .unwrap();
    assert_eq!(misnamed.status(), 400);
    let problem: Value = misnamed.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "spec.script.name");
    assert_eq!(stack.messages_left().await, 0);
}
