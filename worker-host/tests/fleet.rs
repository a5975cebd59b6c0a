//! The fleet with real `wharf-worker` processes and moto: registration
//! with resources, offline after a kill, drain and revoke, queue
//! priorities, why a task is pending, `/health` and `/metrics`,
//! `--max-tasks`.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};
use support::{eventually, shell_task, signal, Stack};
use tokio::process::Child;

const WAIT: Duration = Duration::from_secs(60);

/// The fleet view's record of the only worker whose labels say `zone`.
async fn worker_in(stack: &Stack, zone: &str) -> Option<Value> {
    let workers = stack.json("/v1/workers").await;
    workers
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["labels"]["zone"] == zone)
        .cloned()
}

async fn worker_id(stack: &Stack, zone: &str) -> String {
    eventually("the worker registered", WAIT, || async {
        worker_in(stack, zone).await.is_some()
    })
    .await;
    let worker = worker_in(stack, zone).await.unwrap();
    worker["id"].as_str().unwrap().to_owned()
}

fn spawn_in(stack: &Stack, zone: &str, args: &[&str]) -> Child {
    let mut command = stack.worker_command();
    command.arg(format!("--labels=zone={zone}")).args(args);
    command.spawn().unwrap()
}

async fn state_of(stack: &Stack, id: &str) -> String {
    let worker = stack.json(&format!("/v1/workers/{id}")).await;
    worker["state"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn the_fleet_shows_each_host_with_resources_and_a_killed_one_offline() {
    let stack = Stack::start().await;
    let mut a = spawn_in(&stack, "a", &[]);
    let b = spawn_in(&stack, "b", &[]);
    let (id_a, id_b) = (worker_id(&stack, "a").await, worker_id(&stack, "b").await);
    for id in [&id_a, &id_b] {
        let worker = stack.json(&format!("/v1/workers/{id}")).await;
        assert_eq!(worker["state"], "online", "{worker}");
        assert_eq!(worker["slots"], 2);
        assert_eq!(worker["queues"], json!(["default"]));
        assert!(worker["executors"]
            .as_array()
            .unwrap()
            .contains(&json!("process")));
        let resources = &worker["resources"];
        assert!(resources["cpuCores"].as_u64().unwrap() >= 1, "{worker}");
        assert!(resources["memoryTotalBytes"].as_u64().unwrap() > 0);
        assert!(resources["diskTotalBytes"].as_u64().unwrap() > 0);
    }
    let status = stack.json("/v1/status").await;
    assert_eq!(status["workers"]["online"], 2, "{status}");
    assert_eq!(status["workers"]["totalSlots"], 4);
    assert_eq!(status["queues"][0]["freeSlots"], 4);

    a.start_kill().unwrap();
    a.wait().await.unwrap();
    // Offline once three heartbeats (1 s here) are missed.
    eventually(
        "the killed worker reads offline",
        Duration::from_secs(10),
        || async { state_of(&stack, &id_a).await == "offline" },
    )
    .await;
    assert_eq!(state_of(&stack, &id_b).await, "online");
    let status = stack.json("/v1/status").await;
    assert_eq!(status["workers"]["offline"], 1, "{status}");
    assert_eq!(status["workers"]["totalSlots"], 2, "{status}");

    // A clean shutdown removes the record.
    signal(&b, nix::sys::signal::Signal::SIGTERM);
    eventually("the stopped worker deregistered", WAIT, || async {
        stack.get(&format!("/v1/workers/{id_b}")).await.status() == 404
    })
    .await;
}

#[tokio::test]
async fn drain_finishes_running_tasks_and_takes_no_more_revoke_releases_and_exits() {
    let stack = Stack::start().await;
    let mut a = spawn_in(&stack, "a", &[]);
    let id_a = worker_id(&stack, "a").await;
    let first = stack.submit_id(shell_task("sleep 3")).await;
    eventually("the first task runs", WAIT, || async {
        stack.task(&first).await["status"] == "running"
    })
    .await;
    let (status, worker) = stack.post(&format!("/v1/workers/{id_a}/drain")).await;
    assert_eq!((status, worker["state"].as_str()), (202, Some("draining")));
    eventually("the worker stops taking tasks", WAIT, || async {
        worker_in(&stack, "a").await.unwrap()["takingTasks"] == false
    })
    .await;
    let second = stack.submit_id(shell_task("true")).await;
    assert_eq!(stack.wait(&first, WAIT).await["status"], "succeeded");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let waiting = stack.task(&second).await;
    assert_eq!(waiting["status"], "queued", "{waiting}");
    assert_eq!(
        waiting["pending"]["reason"], "NoWorkerForQueue",
        "{waiting}"
    );
    assert!(a.try_wait().unwrap().is_none(), "a drained worker stays up");

    // A revoked worker releases what it runs and exits.
    let mut b = spawn_in(&stack, "b", &[]);
    let id_b = worker_id(&stack, "b").await;
    assert_eq!(stack.wait(&second, WAIT).await["status"], "succeeded");
    let long = stack.submit_id(shell_task("sleep 600")).await;
    eventually("the long task runs", WAIT, || async {
        stack.task(&long).await["status"] == "running"
    })
    .await;
    for (id, worker) in [(&id_a, &mut a), (&id_b, &mut b)] {
        let (status, _) = stack.post(&format!("/v1/workers/{id}/revoke")).await;
        assert_eq!(status, 202);
        let exited = tokio::time::timeout(WAIT, worker.wait()).await;
        assert!(exited.expect("the revoked worker exits").unwrap().success());
    }
    let released = stack.task(&long).await;
    assert_eq!(released["status"], "queued", "{released}");
    assert!(released["message"].as_str().unwrap().contains("released"));
    let (status, _) = stack.post("/v1/workers/nobody-here/drain").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_higher_queue_starts_first_and_unserved_queues_and_kinds_say_so() {
    let stack = Stack::with_queues(&["high", "default", "gpu"]).await;
    let mut low = Vec::new();
    for _ in 0..2 {
        low.push(stack.submit_id(shell_task("sleep 1")).await);
    }
    let mut urgent = shell_task("sleep 1");
    urgent["queue"] = json!("high");
    let urgent = stack.submit_id(urgent).await;
    let _worker = spawn_in(
        &stack,
        "a",
        &[
            "--queues=high,default",
            "--concurrency=1",
            "--executors=process",
        ],
    );
    let started = |task: &Value| {
        chrono::DateTime::parse_from_rfc3339(task["startedAt"].as_str().unwrap()).unwrap()
    };
    let urgent_started = started(&stack.wait(&urgent, WAIT).await);
    for id in &low {
        let task = stack.wait(id, WAIT).await;
        assert!(urgent_started < started(&task), "{task}");
    }

    let mut gpu = shell_task("true");
    gpu["queue"] = json!("gpu");
    let gpu = stack.submit_id(gpu).await;
    let container = json!({"spec": {"container": {"image": "busybox"}}});
    let container = stack.submit_id(container).await;
    let reasons = [(gpu, "NoWorkerForQueue"), (container, "NoWorkerForKind")];
    for (id, reason) in reasons {
        let task = stack.task(&id).await;
        assert_eq!(task["pending"]["reason"], reason, "{task}");
    }
}

/// A free local port for a worker's HTTP server.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Every sample of `/metrics`, parsed as Prometheus text, by name and
/// labels; a histogram by its count (its `+Inf` bucket).
async fn metrics(port: u16) -> HashMap<String, f64> {
    let text = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines = text.lines().map(|line| Ok(line.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("Prometheus text");
    scrape
        .samples
        .into_iter()
        .filter_map(|sample| {
            let value = match sample.value {
                prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Gauge(v) => v,
                prometheus_parse::Value::Histogram(buckets) => buckets.last()?.count,
                _ => return None,
            };
            let mut labels: Vec<_> = sample
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            labels.sort();
            Some((format!("{}{{{}}}", sample.metric, labels.join(",")), value))
        })
        .collect()
}

#[tokio::test]
async fn health_and_metrics_count_what_ran_and_max_tasks_exits() {
    let stack = Stack::start().await;
    let port = free_port();
    let mut worker = stack
        .worker_command()
        .arg(format!("--http-listen=127.0.0.1:{port}"))
        .arg("--max-tasks=3")
        .spawn()
        .unwrap();
    let ok = stack.submit_id(shell_task("true")).await;
    let failed = stack.submit_id(shell_task("exit 3")).await;
    assert_eq!(stack.wait(&ok, WAIT).await["status"], "succeeded");
    assert_eq!(stack.wait(&failed, WAIT).await["status"], "failed");

    let health = || async {
        let url = format!("http://127.0.0.1:{port}/health");
        let health: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
        health
    };
    // A slot is free once its attempt directory is gone, just after the
    // record is written.
    eventually("the slots are free", WAIT, || async {
        health().await["busySlots"] == 0
    })
    .await;
    let health = health().await;
    assert_eq!(health["status"], "healthy", "{health}");
    assert_eq!(health["registered"], true);
    let samples = metrics(port).await;
    let sample = |key: &str| samples.get(key).copied();
    assert_eq!(
        sample("wharf_tasks_started_total{queue=default}"),
        Some(2.0),
        "{samples:?}"
    );
    let succeeded = "wharf_tasks_finished_total{reason=Succeeded,status=succeeded}";
    assert_eq!(sample(succeeded), Some(1.0), "{samples:?}");
    let failed = "wharf_tasks_finished_total{reason=NonZeroExit,status=failed}";
    assert_eq!(sample(failed), Some(1.0), "{samples:?}");
    let durations = "wharf_task_duration_seconds{status=succeeded}";
    assert_eq!(sample(durations), Some(1.0), "{samples:?}");
    assert_eq!(sample("wharf_busy_slots{}"), Some(0.0), "{samples:?}");

    // The third task is its last.
    let last = stack.submit_id(shell_task("true")).await;
    assert_eq!(stack.wait(&last, WAIT).await["status"], "succeeded");
    let exited = tokio::time::timeout(WAIT, worker.wait()).await;
    assert!(exited
        .expect("the worker exits after --max-tasks")
        .unwrap()
        .success());
}

#[tokio::test]
async fn a_no_op_task_costs_two_writes_a_share_of_a_receive_and_of_a_batched_delete() {
    let stack = Stack::start().await;
    const TASKS: usize = 24;
    let mut ids = Vec::new();
    for _ in 0..TASKS {
        ids.push(stack.submit_id(shell_task("true")).await);
    }
    let port = free_port();
    let started = std::time::Instant::now();
    let _worker = stack
        .worker_command()
        .env("WHARF_CONCURRENCY", "8")
        .arg(format!("--http-listen=127.0.0.1:{port}"))
        .spawn()
        .unwrap();
    for id in &ids {
        assert_eq!(stack.wait(id, WAIT).await["status"], "succeeded");
    }
    eventually("every message is deleted", WAIT, || async {
        stack.messages_left().await == 0
    })
    .await;
    let samples = metrics(port).await;
    let calls = |service: &str, operation: &str| {
        let key = format!("wharf_aws_calls_total{{operation={operation},service={service}}}");
        samples.get(&key).copied().unwrap_or(0.0) as usize
    };
    // No read: each message carries its task's record, and the claim is
    // conditional on it. Then one write to finish, none for an empty log.
    assert_eq!(calls("DynamoDB", "GetItem"), 0, "{samples:?}");
    let heartbeats = started.elapsed().as_secs() as usize + 1;
    let updates = calls("DynamoDB", "UpdateItem");
    assert!(
        (2 * TASKS..=2 * TASKS + heartbeats).contains(&updates),
        "{updates} UpdateItem calls for {TASKS} tasks and at most {heartbeats} heartbeats"
    );
    assert_eq!(calls("S3", "PutObject"), 0, "{samples:?}");
    // Messages are deleted in batches, never one by one, and none hidden.
    assert_eq!(calls("SQS", "DeleteMessage"), 0, "{samples:?}");
    assert_eq!(calls("SQS", "ChangeMessageVisibility"), 0, "{samples:?}");
    let batches = calls("SQS", "DeleteMessageBatch");
    assert!((TASKS / 10..=TASKS).contains(&batches), "{samples:?}");
    let receives = calls("SQS", "ReceiveMessage");
    assert!(receives >= TASKS / 10, "{samples:?}");
    println!(
        "{TASKS} no-op tasks: {updates} UpdateItem, {batches} DeleteMessageBatch, {receives} ReceiveMessage"
    );
}

const WORKER_TOKEN: &str = "a-worker-token-for-pushes";

/// Pushes a task to a worker's local endpoint; the status and answer.
async fn push(port: u16, token: Option<&str>, task: &Value) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/v1/tasks"))
        .json(task);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

#[tokio::test]
async fn push_mode_runs_at_once_up_to_its_slots_and_a_backstop_message_follows() {
    let stack = Stack::start().await;
    let port = free_port();
    let _pushed_to = stack
        .worker_command()
        .env("WHARF_WORKER_TOKEN", WORKER_TOKEN)
        .args(["--mode=push", "--concurrency=1"])
        .arg(format!("--http-listen=127.0.0.1:{port}"))
        .spawn()
        .unwrap();
    eventually("the push worker listens", WAIT, || async {
        reqwest::get(format!("http://127.0.0.1:{port}/health"))
            .await
            .is_ok()
    })
    .await;
    let (status, problem) = push(port, None, &shell_task("true")).await;
    assert_eq!(
        (status, &problem["status"]),
        (401, &json!(401)),
        "{problem}"
    );
    let (status, _) = push(port, Some("not-the-token-at-all"), &shell_task("true")).await;
    assert_eq!(status, 401);

    let (status, task) = push(port, Some(WORKER_TOKEN), &shell_task("sleep 2")).await;
    assert_eq!(status, 202, "{task}");
    assert_eq!(task["status"], "running", "{task}");
    let id = task["id"].as_str().unwrap().to_owned();
    let (status, problem) = push(port, Some(WORKER_TOKEN), &shell_task("true")).await;
    assert_eq!(status, 409, "{problem}");
    let mut delayed = shell_task("true");
    delayed["delaySeconds"] = json!(5);
    let (status, problem) = push(port, Some(WORKER_TOKEN), &delayed).await;
    assert_eq!(
        (status, &problem["errors"][0]["field"]),
        (400, &json!("delaySeconds"))
    );
    let mut dependent = shell_task("true");
    dependent["dependsOn"] = json!([{"task": id}]);
    let (status, problem) = push(port, Some(WORKER_TOKEN), &dependent).await;
    assert_eq!(
        (status, &problem["errors"][0]["field"]),
        (400, &json!("dependsOn"))
    );
    let mut limited = shell_task("true");
    limited["concurrency"] = json!({"key": "k", "limit": 1});
    let (status, problem) = push(port, Some(WORKER_TOKEN), &limited).await;
    assert_eq!(
        (status, &problem["errors"][0]["field"]),
        (400, &json!("concurrency"))
    );
    // Recorded like any task, and visible through the central API.
    assert_eq!(stack.wait(&id, WAIT).await["status"], "succeeded");
    // A push-only worker polls nothing: a task submitted to the API waits.
    let submitted = stack.submit_id(shell_task("true")).await;
    let waiting = stack.task(&submitted).await;
    assert_eq!(
        waiting["pending"]["reason"], "NoWorkerForQueue",
        "{waiting}"
    );
    // The pushed task's backstop message is left; a polling worker finds
    // the task finished and deletes it, and runs the submitted one.
    assert_eq!(stack.messages_left().await, 2);
    let _polling = stack.spawn_worker();
    assert_eq!(stack.wait(&submitted, WAIT).await["status"], "succeeded");
    stack.queue_drained().await;
    let pushed = stack.task(&id).await;
    assert_eq!(pushed["attempt"], 1, "run once: {pushed}");
}
