//! Tasks that wait for each other (`dependsOn`), end to end: the API, a
//! real `wharf-worker`, and `wharf-control` (in this process) on moto. The
//! first upstream task runs across several lease periods of the worker.

mod support;

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{json, Value};
use support::{shell_task, Ledger, Stack};
use tokio_util::sync::CancellationToken;
use wharf_core::flow::CONTROL_QUEUE;
use wharf_core::model::Status;
use wharf_core::queue::{Lane, ReceiveOptions};

const WAIT: Duration = Duration::from_secs(90);
const TICK: Duration = Duration::from_secs(2);

/// A task running `script` that waits for `upstream`, each `(id, on)`.
fn dependent(script: &str, upstream: &[(&str, &str)]) -> Value {
    let mut task = shell_task(script);
    task["dependsOn"] = upstream
        .iter()
        .map(|(task, on)| json!({"task": task, "on": on}))
        .collect();
    task
}

fn status(task: &Value) -> (&str, Option<&str>) {
    (task["status"].as_str().unwrap(), task["reason"].as_str())
}

#[tokio::test]
async fn a_fan_in_waits_for_every_upstream_and_gets_their_results_and_outputs() {
    let stack = Stack::start().await;
    let _control = stack.control(TICK);
    let _worker = stack.spawn_worker_of(3);
    let mut parts = Vec::new();
    // 9 s: over two lease periods of the test worker.
    for (i, sleep) in [(0, 9), (1, 1), (2, 2)] {
        let script = format!(
            r#"sleep {sleep}; echo part-{i} > "$WHARF_OUTPUT_DIR/part.txt"; echo '{{"part": {i}}}' > "$WHARF_OUTPUT_DIR/result.json""#
        );
        parts.push(stack.submit_id(shell_task(&script)).await);
    }
    let upstream: Vec<(&str, &str)> = parts.iter().map(|id| (id.as_str(), "success")).collect();
    let report = dependent(
        r#"cp "$WHARF_UPSTREAM" "$WHARF_OUTPUT_DIR/upstream.json""#,
        &upstream,
    );
    let submitted = stack.submit(report).await;
    assert_eq!(submitted["status"], "waiting", "{submitted}");
    let id = submitted["id"].as_str().unwrap();
    let waiting = stack.task(id).await;
    assert_eq!(
        waiting["pending"]["reason"], "WaitingOnDependencies",
        "{waiting}"
    );
    assert_eq!(
        waiting["dependsOn"][1],
        json!({"task": parts[1], "on": "success"})
    );

    let done = stack.wait(id, WAIT).await;
    assert_eq!(status(&done), ("succeeded", Some("Succeeded")), "{done}");
    let mut last_end = String::new();
    for part in &parts {
        let upstream = stack.task(part).await;
        assert_eq!(upstream["status"], "succeeded");
        assert_eq!(upstream["dependents"], json!([id]));
        last_end = last_end.max(upstream["finishedAt"].as_str().unwrap().to_owned());
    }
    assert!(
        done["startedAt"].as_str().unwrap() >= last_end.as_str(),
        "started before its last dependency ended: {done}"
    );
    let seen: Vec<Value> =
        serde_json::from_slice(&stack.download(id, "upstream.json").await).unwrap();
    assert_eq!(seen.len(), 3);
    for (i, (entry, part)) in seen.iter().zip(&parts).enumerate() {
        assert_eq!(entry["id"], part.as_str());
        assert_eq!(entry["status"], "succeeded");
        assert_eq!(entry["result"], json!({"part": i}));
        let output = entry["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["path"] == "part.txt")
            .unwrap_or_else(|| panic!("no part.txt in {entry}"));
        // The presigned URL alone, no credentials.
        let body = reqwest::get(output["url"].as_str().unwrap())
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(body, format!("part-{i}\n"));
    }
    stack.queue_drained().await;
}

#[tokio::test]
async fn a_failure_skips_its_success_dependents_recursively_and_releases_the_others() {
    let stack = Stack::start().await;
    let _control = stack.control(TICK);
    let _worker = stack.spawn_worker();
    let failing = stack.submit_id(shell_task("sleep 1; exit 3")).await;
    let on_success = stack
        .submit_id(dependent("true", &[(&failing, "success")]))
        .await;
    let below = stack
        .submit_id(dependent("true", &[(&on_success, "success")]))
        .await;
    let below_any = stack
        .submit_id(dependent("true", &[(&on_success, "any")]))
        .await;
    let on_failure = stack
        .submit_id(dependent("true", &[(&failing, "failure")]))
        .await;

    let failed = stack.wait(&failing, WAIT).await;
    assert_eq!(status(&failed), ("failed", Some("NonZeroExit")));
    for skipped in [&on_success, &below] {
        let task = stack.wait(skipped, WAIT).await;
        assert_eq!(
            status(&task),
            ("skipped", Some("DependencyFailed")),
            "{task}"
        );
        assert_eq!(task["attempt"], 0, "a skipped task never runs: {task}");
    }
    let message = stack.task(&on_success).await["message"].clone();
    assert_eq!(message, format!("dependency {failing} ended failed"));
    let message = stack.task(&below).await["message"].clone();
    assert_eq!(message, format!("dependency {on_success} ended skipped"));
    for ran in [&on_failure, &below_any] {
        let task = stack.wait(ran, WAIT).await;
        assert_eq!(status(&task), ("succeeded", Some("Succeeded")), "{task}");
    }
    // Cancelling an upstream task skips what waits on its success.
    let long = stack.submit_id(shell_task("sleep 30")).await;
    let after_long = stack
        .submit_id(dependent("true", &[(&long, "success")]))
        .await;
    assert_eq!(stack.post(&format!("/v1/tasks/{long}/cancel")).await.0, 200);
    let task = stack.wait(&after_long, WAIT).await;
    assert_eq!(
        status(&task),
        ("skipped", Some("DependencyFailed")),
        "{task}"
    );
    stack.queue_drained().await;
}

/// The worker announced the end, and the announcement was lost (as if the
/// worker died right after writing it): the control plane's tick releases
/// the dependents all the same. Two controls tick at once: each dependent
/// runs exactly once.
#[tokio::test]
async fn a_lost_announcement_is_made_up_by_the_tick_of_two_controls_releasing_each_task_once() {
    let stack = Stack::start().await;
    let ledger = Ledger::new();
    let upstream = stack.submit_id(shell_task("sleep 1")).await;
    let mut dependents = Vec::new();
    for _ in 0..8 {
        let mut task = ledger.task(0);
        task["dependsOn"] = json!([{"task": upstream}]);
        dependents.push(stack.submit_id(task).await);
    }
    // The worker starts once every dependent waits on the upstream (on a
    // busy machine, eight submissions can outlast its second).
    let _worker = stack.spawn_worker_of(4);
    stack.wait(&upstream, WAIT).await;
    // No control runs yet: the announcement waits on the control queue.
    let options = ReceiveOptions {
        max: 10,
        wait: Duration::from_secs(5),
        visibility: Duration::from_secs(600),
    };
    let lost = stack
        .backend
        .queues
        .receive(CONTROL_QUEUE, Lane::Tasks, options)
        .await
        .unwrap();
    assert_eq!(lost.len(), 1, "one announcement of the end");
    for message in &lost {
        stack.backend.queues.delete(message).await.unwrap();
    }
    for id in &dependents {
        assert_eq!(stack.task(id).await["status"], "waiting");
    }

    let stop = CancellationToken::new();
    let controls: Vec<_> = (0..2)
        .map(|_| {
            let (backend, stop) = (stack.backend.clone(), stop.clone());
            tokio::spawn(async move {
                wharf_functions::control::run(&backend, TICK, false, &stop).await
            })
        })
        .collect();
    for id in &dependents {
        let done = stack.wait(id, WAIT).await;
        assert_eq!(
            (done["status"].as_str(), done["attempt"].as_u64()),
            (Some("succeeded"), Some(1))
        );
    }
    stack.queue_drained().await;
    stop.cancel();
    for control in controls {
        control.await.unwrap();
    }
    let ran: Vec<String> = ledger.lines();
    let expected: HashSet<String> = dependents.iter().map(|id| format!("{id} 1")).collect();
    assert_eq!(ran.len(), dependents.len(), "each ran once: {ran:?}");
    assert_eq!(ran.into_iter().collect::<HashSet<_>>(), expected);
}

/// A task released but never sent (its releaser died between the two
/// writes) is sent by the tick.
#[tokio::test]
async fn a_released_task_whose_message_was_never_sent_is_sent_by_the_tick() {
    let stack = Stack::start().await;
    let upstream = stack.submit_id(shell_task("true")).await;
    let id = stack
        .submit_id(dependent("true", &[(&upstream, "success")]))
        .await;
    // Released as the control plane would, without the message.
    let now = chrono::Utc::now();
    let release = |task: &wharf_core::model::Task| {
        wharf_core::lifecycle::released(task, now - wharf_core::flow::UNSENT_GRACE * 2)
    };
    let store = &stack.backend.store;
    store.transition(&id, &release).await.unwrap();
    let _worker = stack.spawn_worker();
    stack.wait(&upstream, WAIT).await;
    let stuck = stack.task(&id).await;
    assert_eq!(
        (stuck["status"].as_str(), stuck["unsent"].as_bool()),
        (Some("queued"), Some(true))
    );

    wharf_functions::control::run(&stack.backend, TICK, true, &CancellationToken::new()).await;
    let done = stack.wait(&id, WAIT).await;
    assert_eq!(status(&done), ("succeeded", Some("Succeeded")), "{done}");
    assert_eq!(done.get("unsent"), None);
    stack.queue_drained().await;
}

#[tokio::test]
async fn a_retried_upstream_runs_again_and_brings_its_skipped_dependents_back() {
    let stack = Stack::start().await;
    let _control = stack.control(TICK);
    let _worker = stack.spawn_worker();
    let marker = std::env::temp_dir().join(format!("{}marker", wharf_testkit::unique_prefix()));
    let mut flaky = shell_task(&format!("test -e {}", marker.display()));
    flaky["maxAttempts"] = json!(1);
    let flaky = stack.submit_id(flaky).await;
    let next = stack
        .submit_id(dependent("true", &[(&flaky, "success")]))
        .await;
    let last = stack
        .submit_id(dependent("true", &[(&next, "success")]))
        .await;
    assert_eq!(status(&stack.wait(&last, WAIT).await).0, "skipped");
    assert_eq!(
        stack.post(&format!("/v1/tasks/{next}/retry")).await.0,
        200,
        "a skipped task may be retried"
    );
    assert_eq!(
        status(&stack.wait(&next, WAIT).await).0,
        "skipped",
        "skipped again: its upstream still failed"
    );

    std::fs::write(&marker, "").unwrap();
    let (code, retried) = stack.post(&format!("/v1/tasks/{flaky}/retry")).await;
    assert_eq!(code, 200, "{retried}");
    assert_eq!(retried["status"], "queued");
    for id in [&flaky, &next, &last] {
        let done = stack.wait(id, WAIT).await;
        assert_eq!(status(&done), ("succeeded", Some("Succeeded")), "{done}");
    }
    let again = stack.task(&flaky).await;
    assert_eq!(
        again["attempt"], 2,
        "a fresh budget of one attempt: {again}"
    );
    assert_eq!(again["attempts"].as_array().unwrap().len(), 2);
    let (code, refused) = stack.post(&format!("/v1/tasks/{flaky}/retry")).await;
    assert_eq!(
        (code, refused["type"].as_str()),
        (409, Some("https://wharf.dev/problems/task-not-retryable"))
    );
    let _ = std::fs::remove_file(&marker);
    stack.queue_drained().await;
}

#[tokio::test]
async fn bad_dependencies_are_refused_naming_the_field_and_record_nothing() {
    let stack = Stack::start().await;
    let upstream = stack.submit_id(shell_task("true")).await;
    let many: Vec<Value> = (0..21).map(|_| json!({"task": upstream})).collect();
    for (depends_on, field) in [
        (json!([{"task": "01nosuchtask"}]), "dependsOn[0].task"),
        (
            json!([{"task": upstream}, {"task": "gone"}]),
            "dependsOn[1].task",
        ),
        (
            json!([{"task": upstream, "on": "sometimes"}]),
            "dependsOn[0].on",
        ),
        (json!(many), "dependsOn"),
        (
            json!([{"task": upstream}, {"task": upstream}]),
            "dependsOn[1].task",
        ),
    ] {
        let mut task = shell_task("true");
        task["dependsOn"] = depends_on;
        let fields = stack.refused_fields(&task).await;
        assert_eq!(fields[0], field, "{task}: {fields:?}");
    }
    let listed = stack.json("/v1/tasks").await;
    assert_eq!(
        listed["tasks"].as_array().unwrap().len(),
        1,
        "only the upstream task: {listed}"
    );
    let record = stack.backend.store.get(&upstream).await.unwrap().unwrap();
    assert!(record.task.dependents.is_empty());
    assert_eq!(record.task.status, Status::Queued);
}

/// No dependent is left waiting once its upstream ends, whatever the order.
#[tokio::test]
async fn a_dependency_on_a_finished_task_is_released_at_submission() {
    let stack = Stack::start().await;
    let _worker = stack.spawn_worker();
    let upstream = stack.submit_id(shell_task("true")).await;
    stack.wait(&upstream, WAIT).await;
    // No control runs: the submission itself releases it.
    let submitted = stack
        .submit(dependent("true", &[(&upstream, "success")]))
        .await;
    assert_eq!(submitted["status"], "queued", "{submitted}");
    let id = submitted["id"].as_str().unwrap();
    let done = stack.wait(id, WAIT).await;
    assert_eq!(status(&done), ("succeeded", Some("Succeeded")));
    stack.queue_drained().await;
}

/// `kill -9` of `wharf-control` and of the worker, each twice, while tasks
/// with dependents (and one fan-in over all of them) run: every task ends
/// succeeded, its last attempt ran to its end once, every dependent
/// started after its upstream ended, and nothing is left waiting.
#[tokio::test]
async fn killing_the_control_and_the_worker_mid_pipeline_loses_and_repeats_nothing() {
    let stack = Stack::start().await;
    let ledger = Ledger::new();
    let mut control = stack.spawn_control();
    let mut worker = stack.spawn_worker_of(4);
    let mut upstream = Vec::new();
    let mut pairs = Vec::new();
    for i in 0..12 {
        let id = stack.submit_id(ledger.task(1 + i % 3)).await;
        let mut task = ledger.task(1);
        task["dependsOn"] = json!([{"task": id}]);
        pairs.push((id.clone(), stack.submit_id(task).await));
        upstream.push(id);
    }
    let mut fan_in = ledger.task(0);
    fan_in["dependsOn"] = upstream.iter().map(|id| json!({"task": id})).collect();
    let fan_in = stack.submit_id(fan_in).await;

    for round in 0..2 {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        support::signal(&control, nix::sys::signal::Signal::SIGKILL);
        tokio::time::sleep(Duration::from_millis(700)).await;
        support::signal(&worker, nix::sys::signal::Signal::SIGKILL);
        let _ = (control.wait().await, worker.wait().await);
        tokio::time::sleep(Duration::from_millis(500 * (round + 1))).await;
        control = stack.spawn_control();
        worker = stack.spawn_worker_of(4);
    }

    let mut finished = std::collections::HashMap::new();
    for id in upstream
        .iter()
        .chain(pairs.iter().map(|(_, d)| d))
        .chain([&fan_in])
    {
        let done = stack.wait(id, Duration::from_secs(180)).await;
        assert_eq!(status(&done), ("succeeded", Some("Succeeded")), "{done}");
        finished.insert(id.clone(), done);
    }
    let lines = ledger.lines();
    for (id, done) in &finished {
        let last = format!("{id} {}", done["attempt"]);
        let ran_to_the_end = lines.iter().filter(|line| **line == last).count();
        assert_eq!(ran_to_the_end, 1, "{id} ran to its end once: {lines:?}");
        // An attempt killed between its end and its record runs again (at
        // least once, as README says): never more than the kills allow.
        let attempts = done["attempt"].as_u64().unwrap();
        assert!((1..=3).contains(&attempts), "{done}");
    }
    let started = |id: &str| finished[id]["startedAt"].as_str().unwrap().to_owned();
    let ended = |id: &str| finished[id]["finishedAt"].as_str().unwrap().to_owned();
    for (up, down) in &pairs {
        assert!(
            started(down) >= ended(up),
            "{down} started before {up} ended"
        );
    }
    let last_upstream = upstream.iter().map(|id| ended(id)).max().unwrap();
    assert!(started(&fan_in) >= last_upstream);
    let waiting = stack.json("/v1/tasks?status=waiting").await;
    assert_eq!(waiting["tasks"], json!([]), "nothing waits");
    stack.queue_drained().await;
}
