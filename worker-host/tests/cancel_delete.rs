//! What users do to tasks in flight: cancel (queued, running, finished) and
//! delete (record, outputs and logs; `force` while active), checked on the
//! records, the objects in S3 and the queues, with real worker processes.

mod support;

use std::time::Duration;

use serde_json::json;
use support::{eventually, process_alive, shell_task, Stack};

const WAIT: Duration = Duration::from_secs(90);

async fn post(stack: &Stack, path: &str) -> reqwest::Response {
    stack
        .http
        .post(format!("{}{path}", stack.api_url))
        .bearer_auth(support::TOKEN)
        .send()
        .await
        .unwrap()
}

async fn delete(stack: &Stack, path: &str) -> reqwest::StatusCode {
    let response = stack
        .http
        .delete(format!("{}{path}", stack.api_url))
        .bearer_auth(support::TOKEN)
        .send()
        .await
        .unwrap();
    response.status()
}

#[tokio::test]
async fn cancel_queued_running_and_finished_tasks() {
    let stack = Stack::start().await;
    // Queued (delayed, so no worker takes it): cancelled at once.
    let queued = stack
        .submit_id(json!({"spec": {"process": {"command": ["true"]}}, "delaySeconds": 600}))
        .await;
    let response = post(&stack, &format!("/v1/tasks/{queued}/cancel")).await;
    assert_eq!(response.status(), 200);
    let task = stack.task(&queued).await;
    assert_eq!(
        (task["status"].as_str(), task["reason"].as_str()),
        (Some("cancelled"), Some("Cancelled"))
    );

    // Running: the process is gone within two heartbeats (1 s each here).
    let _worker = stack.spawn_worker();
    let pid_file = std::env::temp_dir().join(format!("{}pid", wharf_testkit::unique_prefix()));
    let mut long = shell_task(r#"echo started; echo $$ > "$PID_FILE"; exec sleep 300"#);
    long["spec"]["process"]["env"] = json!({"PID_FILE": pid_file});
    let running = stack.submit_id(long).await;
    eventually("it runs", WAIT, || async {
        pid_file.exists() && !std::fs::read_to_string(&pid_file).unwrap().is_empty()
    })
    .await;
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(process_alive(pid));
    assert_eq!(
        post(&stack, &format!("/v1/tasks/{running}/cancel"))
            .await
            .status(),
        200
    );
    let cancelled_at = std::time::Instant::now();
    eventually("the process is gone", Duration::from_secs(3), || async {
        !process_alive(pid)
    })
    .await;
    assert!(cancelled_at.elapsed() < Duration::from_secs(3));
    let task = stack.task(&running).await;
    assert_eq!(task["status"], "cancelled", "{task}");
    std::fs::remove_file(&pid_file).unwrap();

    // Finished: 409.
    let done = stack.submit_id(shell_task("true")).await;
    assert_eq!(stack.wait(&done, WAIT).await["status"], "succeeded");
    let response = post(&stack, &format!("/v1/tasks/{done}/cancel")).await;
    assert_eq!(response.status(), 409);
    assert_eq!(stack.task(&done).await["status"], "succeeded");
    // The cancelled tasks' messages are consumed too, once due.
    eventually("the running task's message is gone", WAIT, || async {
        let counts = stack.counts().await;
        counts.visible + counts.in_flight == 0
    })
    .await;
}

#[tokio::test]
async fn delete_removes_record_outputs_and_logs_and_needs_force_while_active() {
    let stack = Stack::start().await;
    let _worker = stack.spawn_worker();
    let finished = stack
        .submit_id(shell_task(
            r#"echo log line; echo out > "$WHARF_OUTPUT_DIR/o.txt""#,
        ))
        .await;
    assert_eq!(stack.wait(&finished, WAIT).await["status"], "succeeded");
    let prefix = wharf_core::artifacts::task_prefix(&finished);
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&stack.moto.sdk_config())
            .force_path_style(true)
            .build(),
    );
    let objects = |prefix: String| {
        let s3 = s3.clone();
        let bucket = stack.names.bucket.clone();
        async move {
            s3.list_objects_v2()
                .bucket(bucket)
                .prefix(prefix)
                .send()
                .await
                .unwrap()
                .key_count()
                .unwrap_or(0)
        }
    };
    assert_eq!(objects(prefix.clone()).await, 2, "an output and a log");
    assert_eq!(delete(&stack, &format!("/v1/tasks/{finished}")).await, 204);
    assert_eq!(
        stack.get(&format!("/v1/tasks/{finished}")).await.status(),
        404
    );
    assert_eq!(objects(prefix).await, 0);

    let running = stack.submit_id(shell_task("sleep 300")).await;
    eventually("it runs", WAIT, || async {
        stack.task(&running).await["status"] == "running"
    })
    .await;
    assert_eq!(delete(&stack, &format!("/v1/tasks/{running}")).await, 409);
    assert_eq!(stack.task(&running).await["status"], "running");
    assert_eq!(
        delete(&stack, &format!("/v1/tasks/{running}?force=true")).await,
        204
    );
    assert_eq!(
        stack.get(&format!("/v1/tasks/{running}")).await.status(),
        404
    );
    stack.queue_drained().await;
}
