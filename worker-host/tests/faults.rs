//! Nothing lost, nothing run twice: worker crashes, network cuts, malformed
//! messages, shutdown and exhausted attempts, each checked on the final
//! records, the objects in S3 and the queues. (Cancel and delete:
//! `cancel_delete.rs`.)

mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use nix::sys::signal::Signal;
use serde_json::{json, Value};
use support::proxy::Proxy;
use support::{eventually, shell_task, signal, Ledger, Stack};
use tokio_util::sync::CancellationToken;
use wharf_core::aws::SqsQueues;
use wharf_core::model::{Snapshot, TaskMessage};
use wharf_core::queue::{Lane, ReceiveOptions};
use wharf_functions::dlq::poll;

const WAIT: Duration = Duration::from_secs(90);

async fn statuses_are(stack: &Stack, ids: &[String], status: &str) -> bool {
    for id in ids {
        if stack.task(id).await["status"] != status {
            return false;
        }
    }
    true
}

/// How many times each task id appears in the ledger.
fn runs(ledger: &Ledger) -> BTreeMap<String, Vec<String>> {
    let mut runs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in ledger.lines() {
        let (id, attempt) = line.split_once(' ').unwrap();
        runs.entry(id.to_owned())
            .or_default()
            .push(attempt.to_owned());
    }
    runs
}

#[tokio::test]
async fn a_killed_worker_s_tasks_are_finished_by_another_as_attempt_two() {
    let stack = Stack::start().await;
    let ledger = Ledger::new();
    let mut ids = Vec::new();
    for _ in 0..10 {
        ids.push(stack.submit_id(ledger.task(3)).await);
    }
    let doomed = stack
        .worker_command()
        .arg("--concurrency=10")
        .spawn()
        .unwrap();
    eventually("all ten run", WAIT, || {
        statuses_are(&stack, &ids, "running")
    })
    .await;
    signal(&doomed, Signal::SIGKILL);

    let _survivor = stack
        .worker_command()
        .arg("--concurrency=10")
        .spawn()
        .unwrap();
    for id in &ids {
        let done = stack.wait(id, WAIT).await;
        assert_eq!(done["status"], "succeeded", "{done}");
        assert_eq!(done["attempt"], 2, "{done}");
        assert_eq!(done["attempts"][0]["reason"], "WorkerLost", "{done}");
    }
    // Exactly one outcome each: the first attempts died with their worker.
    let runs = runs(&ledger);
    assert_eq!(runs.len(), 10);
    assert!(runs.values().all(|attempts| attempts == &["2"]), "{runs:?}");
    stack.queue_drained().await;
}

#[tokio::test]
async fn a_network_cut_longer_than_the_lease_loses_and_duplicates_nothing() {
    let stack = Stack::start().await;
    let moto: SocketAddr = stack
        .moto
        .endpoint
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let proxy = Proxy::start(moto).await;
    let ledger = Ledger::new();
    let mut worker = stack
        .worker_command()
        .env("AWS_ENDPOINT_URL", &proxy.endpoint)
        .spawn()
        .unwrap();
    let mut ids = Vec::new();
    for _ in 0..2 {
        ids.push(stack.submit_id(ledger.task(2)).await);
    }
    eventually("both run", WAIT, || statuses_are(&stack, &ids, "running")).await;
    let workers = stack.json("/v1/workers").await;
    let worker_id = workers[0]["id"].as_str().unwrap().to_owned();
    let state = || async {
        let worker = stack.json(&format!("/v1/workers/{worker_id}")).await;
        worker["state"].as_str().unwrap_or("gone").to_owned()
    };
    assert_eq!(state().await, "online");
    proxy.cut();
    // Longer than the 4 s lease: the tasks finish while AWS is unreachable.
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert!(
        worker.try_wait().unwrap().is_none(),
        "the worker died in the outage"
    );
    assert_eq!(state().await, "offline", "three heartbeats were missed");
    // Its record even expired meanwhile: it registers again by itself.
    stack.backend.fleet.deregister(&worker_id).await.unwrap();
    assert_eq!(state().await, "gone");
    proxy.restore();
    eventually("the worker is back online", WAIT, || async {
        state().await == "online"
    })
    .await;

    for id in &ids {
        let done = stack.wait(id, WAIT).await;
        assert_eq!(done["status"], "succeeded", "{done}");
        assert_eq!(done["attempt"], 1, "{done}");
    }
    let runs = runs(&ledger);
    assert_eq!(runs.len(), 2);
    assert!(runs.values().all(|attempts| attempts == &["1"]), "{runs:?}");
    stack.queue_drained().await;
    // And it goes on working.
    let after = stack.submit_id(shell_task("true")).await;
    assert_eq!(stack.wait(&after, WAIT).await["status"], "succeeded");
    assert!(worker.try_wait().unwrap().is_none());
}

#[tokio::test]
async fn a_forged_snapshot_in_a_message_never_runs() {
    let stack = Stack::start().await;
    let id = stack.submit_id(shell_task("echo submitted")).await;
    // Its own message goes; in its place a message naming the task with a
    // snapshot of its record at the stored version, but another command in
    // it: what someone able to send to the queue might try.
    let queues = &stack.backend.queues;
    let options = ReceiveOptions {
        max: 1,
        wait: Duration::from_secs(1),
        visibility: Duration::from_secs(30),
    };
    let own = queues
        .receive("default", Lane::Tasks, options)
        .await
        .unwrap();
    assert_eq!(own.len(), 1);
    queues.delete(&own[0]).await.unwrap();
    let stored = stack.backend.store.get(&id).await.unwrap().unwrap();
    let mut forged = stored.task.clone();
    forged.spec = serde_json::from_value(shell_task("echo forged")["spec"].clone()).unwrap();
    let message = TaskMessage {
        task_id: id.clone(),
        snapshot: Some(Snapshot {
            version: stored.version,
            task: Box::new(forged),
        }),
        hint: false,
    };
    let body = serde_json::to_string(&message).unwrap();
    queues
        .send_raw("default", &body, Duration::ZERO)
        .await
        .unwrap();
    let _worker = stack.spawn_worker();
    let task = stack.wait(&id, WAIT).await;
    assert_eq!(task["status"], "succeeded", "{task}");
    assert_eq!(task["attempt"], 1, "{task}");
    assert_eq!(stack.logs(&id).await, "submitted\n");
    // The stored spec is untouched, and the message is gone.
    let spec = &stack.task(&id).await["spec"];
    assert_eq!(spec, &shell_task("echo submitted")["spec"]);
    stack.queue_drained().await;
    assert_eq!(stack.messages_left().await, 0);
}

#[tokio::test]
async fn malformed_messages_end_in_the_dlq_while_valid_tasks_run() {
    let stack = Stack::start().await;
    for i in 0..50 {
        let body = if i % 2 == 0 {
            format!("garbage {i}")
        } else {
            json!({"taskId": 5}).to_string()
        };
        stack
            .backend
            .queues
            .send_raw("default", &body, Duration::ZERO)
            .await
            .unwrap();
    }
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(stack.submit_id(shell_task("echo fine")).await);
    }
    let mut worker = stack
        .worker_command()
        .arg("--concurrency=10")
        .spawn()
        .unwrap();
    for id in &ids {
        assert_eq!(stack.wait(id, WAIT).await["status"], "succeeded");
    }
    eventually("all 50 are dead-lettered", WAIT, || async {
        stack.dead_letters().await == 50
    })
    .await;
    stack.queue_drained().await;
    assert!(
        worker.try_wait().unwrap().is_none(),
        "a malformed message crashed the worker"
    );

    // A task whose message was dead-lettered, and the DLQ handler over all.
    let stuck = stack
        .submit_id(json!({"spec": {"process": {"command": ["true"]}}, "delaySeconds": 900}))
        .await;
    let message = TaskMessage::bare(&stuck);
    let dlq_url = SqsQueues::new(
        aws_sdk_sqs::Client::new(&stack.moto.sdk_config()),
        &stack.names.queue_prefix,
    )
    .url("default", Lane::DeadLetters)
    .await
    .unwrap();
    aws_sdk_sqs::Client::new(&stack.moto.sdk_config())
        .send_message()
        .queue_url(dlq_url)
        .message_body(serde_json::to_string(&message).unwrap())
        .send()
        .await
        .unwrap();
    // The local DLQ consumer drains them all: the malformed ones are
    // logged and let go, the task is marked.
    poll(&stack.backend, true, &CancellationToken::new()).await;
    assert_eq!(stack.dead_letters().await, 0);
    let marked = stack.task(&stuck).await;
    assert_eq!(
        (marked["status"].as_str(), marked["reason"].as_str()),
        (Some("failed"), Some("DeadLettered"))
    );
}

#[tokio::test]
async fn sigterm_releases_a_long_task_to_another_worker() {
    let stack = Stack::start().await;
    let ledger = Ledger::new();
    let first = stack
        .worker_command()
        .arg("--grace-secs=1")
        .spawn()
        .unwrap();
    let id = stack.submit_id(ledger.task(6)).await;
    eventually("it runs", WAIT, || async {
        stack.task(&id).await["status"] == "running"
    })
    .await;
    signal(&first, Signal::SIGTERM);
    let mut first = first;
    let status = tokio::time::timeout(WAIT, first.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
    let released = stack.task(&id).await;
    assert_eq!(released["status"], "queued", "{released}");
    assert!(
        released["message"].as_str().unwrap().contains("released"),
        "{released}"
    );

    let _second = stack.spawn_worker();
    let done = stack.wait(&id, WAIT).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["attempt"], 2);
    assert_eq!(
        done["attempts"][0]["attempt"], 1,
        "the released attempt is on record"
    );
    assert_eq!(ledger.lines(), [format!("{id} 2")]);
    stack.queue_drained().await;
}

#[tokio::test]
async fn retries_stop_at_max_attempts() {
    let stack = Stack::start().await;
    let ledger = Ledger::new();
    let _worker = stack.spawn_worker();
    let mut failing = shell_task(r#"echo "$WHARF_TASK_ID $WHARF_ATTEMPT" >> "$LEDGER"; exit 1"#);
    failing["spec"]["process"]["env"] = json!({"LEDGER": ledger.0});
    failing["maxAttempts"] = json!(2);
    failing["retryOnFailure"] = json!(true);
    let id = stack.submit_id(failing).await;
    let done = stack.wait(&id, WAIT).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(done["reason"], "NonZeroExit");
    assert_eq!(done["attempt"], 2);
    assert_eq!(done["attempts"][0]["reason"], "NonZeroExit");
    assert_eq!(done["attempts"][1]["reason"], "NonZeroExit");
    assert_eq!(ledger.lines(), [format!("{id} 1"), format!("{id} 2")]);
    stack.queue_drained().await;
}

#[tokio::test]
async fn a_lost_last_attempt_fails_the_task_as_worker_lost() {
    let stack = Stack::start().await;
    let ledger = Ledger::new();
    let mut task = ledger.task(3);
    task["maxAttempts"] = json!(1);
    let id = stack.submit_id(task).await;
    let doomed = stack.spawn_worker();
    eventually("it runs", WAIT, || async {
        stack.task(&id).await["status"] == "running"
    })
    .await;
    signal(&doomed, Signal::SIGKILL);
    let _survivor = stack.spawn_worker();
    let done = stack.wait(&id, WAIT).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(done["reason"], "WorkerLost");
    assert_eq!(done["attempt"], 1);
    assert!(
        ledger.lines().is_empty(),
        "it ran again: {:?}",
        ledger.lines()
    );
    stack.queue_drained().await;
}

#[tokio::test]
async fn a_delay_beyond_fifteen_minutes_is_deferred_not_run() {
    let stack = Stack::start().await;
    let _worker = stack.spawn_worker();
    let id = stack
        .submit_id(json!({"spec": {"process": {"command": ["true"]}}, "delaySeconds": 3600}))
        .await;
    // SQS delays it 900 s at most; make it visible now, as SQS would later.
    stack.deliver_again(&id).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let task: Value = stack.task(&id).await;
    assert_eq!(task["status"], "queued", "{task}");
    assert_eq!(task["attempt"], 0);
    let counts = stack.counts().await;
    assert_eq!(counts.visible, 0, "the early message was hidden again");
    assert_eq!(counts.in_flight + counts.delayed, 2);
}
