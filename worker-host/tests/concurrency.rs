//! Concurrency keys end to end: the API, real `wharf-worker` processes and
//! moto. At most `limit` tasks of a key run at once across workers, the
//! others wait `queued` with `ConcurrencyLimit`, and a place held by a
//! killed worker comes back once its lease has lapsed: no place leaks.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::{eventually, shell_task, signal, Stack};
use wharf_core::concurrency::Places;

const WAIT: Duration = Duration::from_secs(120);

/// A task of `key` (at most `limit` at once) that notes its start and end
/// times in `ledger` and sleeps `secs` between them (several lease periods
/// of the test workers).
fn limited(ledger: &support::Ledger, key: &str, limit: u32, secs: u32) -> Value {
    let mut task = shell_task(&format!(
        r#"echo "start $(date +%s.%N)" >> "$LEDGER"; sleep {secs}; echo "end $(date +%s.%N)" >> "$LEDGER""#
    ));
    task["spec"]["process"]["env"] = json!({"LEDGER": ledger.0});
    task["concurrency"] = json!({"key": key, "limit": limit});
    task
}

/// The most tasks that ran at once, from the ledger's start and end lines.
fn most_at_once(lines: &[String]) -> usize {
    let mut events: Vec<(f64, i32)> = lines
        .iter()
        .map(|line| {
            let (what, at) = line.split_once(' ').unwrap();
            (at.parse().unwrap(), if what == "start" { 1 } else { -1 })
        })
        .collect();
    // At the same instant an end comes before a start.
    events.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let (mut running, mut most) = (0, 0);
    for (_, change) in events {
        running += change;
        most = most.max(running);
    }
    most as usize
}

async fn places(stack: &Stack, key: &str) -> Places {
    let read = stack.backend.concurrency.places(key).await.unwrap();
    read.map(|(places, _)| places).unwrap_or_default()
}

#[tokio::test]
async fn at_most_limit_tasks_of_a_key_run_at_once_across_workers() {
    let stack = Stack::start().await;
    let ledger = support::Ledger::new();
    let other = support::Ledger::new();
    let _workers = [stack.spawn_worker(), stack.spawn_worker()];
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(stack.submit_id(limited(&ledger, "customer-42", 2, 5)).await);
    }
    // Another key is not held up by this one.
    let unrelated = stack.submit_id(limited(&other, "customer-7", 1, 1)).await;
    assert_eq!(stack.wait(&unrelated, WAIT).await["status"], "succeeded");

    eventually("a task waits for a place", WAIT, || async {
        let mut told = false;
        for id in &ids {
            let task = stack.task(id).await;
            told |= task["pending"]["reason"] == "ConcurrencyLimit";
        }
        told
    })
    .await;
    for id in &ids {
        let done = stack.wait(id, WAIT).await;
        assert_eq!(done["status"], "succeeded", "{done}");
    }
    let lines = ledger.lines();
    assert_eq!(lines.len(), 10, "each ran once: {lines:?}");
    assert_eq!(most_at_once(&lines), 2, "{lines:?}");
    let left = places(&stack, "customer-42").await;
    assert!(left.held.is_empty() && left.waiting.is_empty(), "{left:?}");
    stack.queue_drained().await;
}

#[tokio::test]
async fn a_place_held_by_a_killed_worker_comes_back_when_its_lease_lapses() {
    let stack = Stack::start().await;
    let ledger = support::Ledger::new();
    let doomed = stack.spawn_worker();
    let mut first = limited(&ledger, "k", 1, 60);
    first["maxAttempts"] = json!(1);
    let first = stack.submit_id(first).await;
    eventually("the first task runs", WAIT, || async {
        stack.task(&first).await["status"] == "running"
    })
    .await;
    let second = stack.submit_id(limited(&ledger, "k", 1, 1)).await;
    signal(&doomed, nix::sys::signal::Signal::SIGKILL);
    assert_eq!(
        places(&stack, "k").await.held.len(),
        1,
        "the dead worker's place"
    );

    let _survivor = stack.spawn_worker();
    let done = stack.wait(&second, WAIT).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let lost = stack.wait(&first, WAIT).await;
    assert_eq!(
        (lost["status"].as_str(), lost["reason"].as_str()),
        (Some("failed"), Some("WorkerLost"))
    );
    let left = places(&stack, "k").await;
    assert!(
        left.held.is_empty() && left.waiting.is_empty(),
        "nothing leaks: {left:?}"
    );
    stack.queue_drained().await;
}

#[tokio::test]
async fn a_bad_concurrency_is_refused_naming_the_field() {
    let stack = Stack::start().await;
    for (concurrency, field) in [
        (json!({"key": "k", "limit": 0}), "concurrency.limit"),
        (json!({"key": "", "limit": 1}), "concurrency.key"),
        (json!({"limit": 1}), "concurrency"),
    ] {
        let mut task = shell_task("true");
        task["concurrency"] = concurrency;
        let (code, problem) = stack.post_json("/v1/tasks", &task).await;
        assert_eq!(code, 400, "{problem}");
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    let listed = stack.json("/v1/tasks").await;
    assert_eq!(listed["tasks"], json!([]), "nothing recorded");
}
