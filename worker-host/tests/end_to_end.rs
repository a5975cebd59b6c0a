//! Submit → DynamoDB + SQS → a real `wharf-worker` runs the process →
//! outputs in S3 → presigned download, all against moto over HTTP.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;
use sha2::{Digest, Sha256};
use support::{eventually, process_alive, shell_task, Ledger, Stack};

const WAIT: Duration = Duration::from_secs(60);

#[tokio::test]
async fn a_submitted_task_runs_and_its_output_downloads_through_a_presigned_url() {
    let stack = Stack::start().await;
    let _worker = stack.spawn_worker();
    let mut task = shell_task(
        r#"echo "hello from $WHARF_TASK_ID attempt $WHARF_ATTEMPT"
           echo "to stderr" >&2
           cp "$WHARF_PAYLOAD" "$WHARF_OUTPUT_DIR/payload-copy.json"
           mkdir -p "$WHARF_OUTPUT_DIR/reports"
           printf 'report body' > "$WHARF_OUTPUT_DIR/reports/summary.txt"
           echo '{"rows": 42}' > "$WHARF_OUTPUT_DIR/result.json""#,
    );
    task["payload"] = json!({"day": "2026-11-22"});
    let submitted = stack.submit(task).await;
    assert_eq!(submitted["status"], "queued");
    let id = submitted["id"].as_str().unwrap();

    let done = stack.wait(id, WAIT).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["reason"], "Succeeded");
    assert_eq!(done["exitCode"], 0);
    assert_eq!(done["attempt"], 1);
    assert_eq!(done["result"], json!({"rows": 42}));
    let paths: Vec<&str> = done["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        ["payload-copy.json", "reports/summary.txt", "result.json"]
    );

    assert_eq!(
        stack.download(id, "reports/summary.txt").await,
        b"report body"
    );
    let payload: serde_json::Value =
        serde_json::from_slice(&stack.download(id, "payload-copy.json").await).unwrap();
    assert_eq!(payload, json!({"day": "2026-11-22"}));

    // The single-output route redirects to the same kind of URL.
    let redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!(
            "{}/v1/tasks/{id}/outputs/reports/summary.txt",
            stack.api_url
        ))
        .bearer_auth(support::TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.status(), 302);
    let location = redirect.headers()["location"].to_str().unwrap();
    assert_eq!(
        reqwest::get(location).await.unwrap().text().await.unwrap(),
        "report body"
    );

    // The log holds stdout and stderr, and the message is gone.
    let logs: serde_json::Value = stack
        .get(&format!("/v1/tasks/{id}/logs"))
        .await
        .json()
        .await
        .unwrap();
    let data = logs["data"].as_str().unwrap();
    assert!(
        data.contains(&format!("hello from {id} attempt 1")),
        "{logs}"
    );
    assert!(data.contains("to stderr"), "{logs}");
    assert_eq!(logs["complete"], true);
    assert_eq!(stack.messages_left().await, 0);
}

#[tokio::test]
async fn a_twenty_mebibyte_output_round_trips_with_the_same_sha256() {
    let stack = Stack::start().await;
    let _worker = stack.spawn_worker();
    let submitted = stack
        .submit(shell_task(
            "head -c 21000000 /dev/urandom > \"$WHARF_OUTPUT_DIR/big.bin\"",
        ))
        .await;
    let id = submitted["id"].as_str().unwrap();
    let done = stack.wait(id, WAIT).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let recorded = &done["outputs"][0];
    assert_eq!(recorded["size"], 21_000_000);
    let bytes = stack.download(id, "big.bin").await;
    assert_eq!(bytes.len(), 21_000_000);
    assert_eq!(
        hex::encode(Sha256::digest(&bytes)),
        recorded["sha256"].as_str().unwrap()
    );
}

#[tokio::test]
async fn a_non_zero_exit_fails_the_task_with_its_exit_code() {
    let stack = Stack::start().await;
    let _worker = stack.spawn_worker();
    let submitted = stack.submit(shell_task("echo failing; exit 3")).await;
    let done = stack.wait(submitted["id"].as_str().unwrap(), WAIT).await;
    assert_eq!(done["status"], "failed");
    assert_eq!(done["reason"], "NonZeroExit");
    assert_eq!(done["exitCode"], 3);
    assert_eq!(
        done["attempt"], 1,
        "a non-zero exit is not retried by default"
    );
    assert_eq!(stack.messages_left().await, 0);
}

#[tokio::test]
async fn a_timeout_kills_the_task_and_every_process_it_started() {
    let stack = Stack::start().await;
    let _worker = stack.spawn_worker();
    let pid_file =
        std::env::temp_dir().join(format!("{}child.pid", wharf_testkit::unique_prefix()));
    let mut task = shell_task(
        r#"sleep 300 &
           echo $! > "$PID_FILE"
           sleep 300"#,
    );
    task["spec"]["process"]["env"] = json!({"PID_FILE": pid_file});
    task["timeoutSeconds"] = json!(2);
    let submitted = stack.submit(task).await;
    let done = stack.wait(submitted["id"].as_str().unwrap(), WAIT).await;
    assert_eq!(done["status"], "timed_out", "{done}");
    assert_eq!(done["reason"], "Timeout");

    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        !process_alive(pid),
        "the task's child {pid} survived the timeout"
    );
    std::fs::remove_file(pid_file).unwrap();
}

#[tokio::test]
async fn two_workers_and_duplicate_deliveries_run_each_task_exactly_once() {
    let stack = Stack::start().await;
    let ledger = Ledger::new();
    let mut ids = Vec::new();
    for _ in 0..10 {
        let id = stack.submit_id(ledger.task(1)).await;
        // Three extra deliveries of every task.
        for _ in 0..3 {
            stack.deliver_again(&id).await;
        }
        ids.push(id);
    }
    let _a = stack.spawn_worker();
    let _b = stack.spawn_worker();
    for id in &ids {
        let done = stack.wait(id, WAIT).await;
        assert_eq!(done["status"], "succeeded", "{done}");
        assert_eq!(done["attempt"], 1);
    }
    let mut runs: BTreeMap<String, usize> = BTreeMap::new();
    for line in ledger.lines() {
        *runs.entry(line).or_default() += 1;
    }
    assert_eq!(runs.len(), ids.len());
    assert!(
        runs.values().all(|&n| n == 1),
        "some task ran twice: {runs:?}"
    );
    // Every duplicate is consumed too.
    eventually("the duplicates are consumed", WAIT, || async {
        stack.messages_left().await == 0
    })
    .await;
}

#[tokio::test]
async fn a_task_sees_a_clean_environment_without_the_workers_credentials() {
    let stack = Stack::start().await;
    let _worker = stack
        .worker_command()
        .env("AWS_SESSION_TOKEN", "worker-session-token")
        .env("WORKER_ONLY_SECRET", "hunter2")
        .spawn()
        .unwrap();
    let mut task = shell_task(r#"env > "$WHARF_OUTPUT_DIR/env.txt""#);
    task["spec"]["process"]["env"] = json!({"GREETING": "hi"});
    let id = stack.submit(task).await["id"].as_str().unwrap().to_owned();
    let done = stack.wait(&id, WAIT).await;
    assert_eq!(done["status"], "succeeded", "{done}");

    let env = String::from_utf8(stack.download(&id, "env.txt").await).unwrap();
    let names: Vec<&str> = env.lines().filter_map(|l| l.split('=').next()).collect();
    assert!(!names.iter().any(|n| n.starts_with("AWS_")), "{env}");
    assert!(
        !env.contains("hunter2") && !env.contains("worker-session-token"),
        "{env}"
    );
    assert!(env.contains(&format!("WHARF_TASK_ID={id}")), "{env}");
    assert!(env.contains("GREETING=hi"), "{env}");
    for name in [
        "PATH",
        "HOME",
        "WHARF_ATTEMPT",
        "WHARF_PAYLOAD",
        "WHARF_OUTPUT_DIR",
    ] {
        assert!(names.contains(&name), "{name} missing from {env}");
    }
}

#[tokio::test]
async fn sigterm_lets_the_running_task_finish_then_the_worker_exits_zero() {
    let stack = Stack::start().await;
    let mut worker = stack.spawn_worker();
    let id = stack.submit(shell_task("sleep 3; echo finished")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Wait until it runs, then ask the worker to stop.
    let deadline = std::time::Instant::now() + WAIT;
    while stack.task(&id).await["status"] != "running" {
        assert!(std::time::Instant::now() < deadline, "never started");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pid = nix::unistd::Pid::from_raw(worker.id().unwrap() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = tokio::time::timeout(WAIT, worker.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "worker exited with {status}");
    let done = stack.task(&id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(stack.messages_left().await, 0);
}

#[tokio::test]
async fn an_invoked_function_runs_with_its_params_even_when_they_live_in_s3() {
    let stack = Stack::start().await;
    let _worker = stack.spawn_worker();
    let copy = json!({
        "spec": {"process": {"command": ["sh", "-c", "cp \"$WHARF_PAYLOAD\" \"$WHARF_OUTPUT_DIR/params.json\""]}},
        "paramsSchema": {"type": "object", "required": ["blob"]},
        "defaults": {"timeoutSeconds": 60, "labels": {"via": "function"}}
    });
    let registered = stack
        .http
        .put(format!("{}/v1/functions/copy", stack.api_url))
        .bearer_auth(support::TOKEN)
        .json(&copy)
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);
    // Above 64 KiB the payload is kept in S3; the worker fetches it.
    let params = json!({"blob": "x".repeat(100 * 1024)});
    let invoked = stack
        .http
        .post(format!("{}/v1/functions/copy/invoke", stack.api_url))
        .bearer_auth(support::TOKEN)
        .json(&json!({"params": params}))
        .send()
        .await
        .unwrap();
    assert_eq!(invoked.status(), 202);
    let task: serde_json::Value = invoked.json().await.unwrap();
    assert_eq!(task["payloadInS3"], true);
    let id = task["id"].as_str().unwrap();
    let done = stack.wait(id, WAIT).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["function"], "copy");
    assert_eq!(done["labels"]["via"], "function");
    let copied: serde_json::Value =
        serde_json::from_slice(&stack.download(id, "params.json").await).unwrap();
    assert_eq!(copied, params);
}
