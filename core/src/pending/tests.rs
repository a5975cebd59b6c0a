use chrono::{Duration, Utc};

use super::*;
use crate::fleet::{Command, Registered, Resources, WorkerReport};
use crate::model::{ExecutorKind, ProcessSpec, Reason, TaskSpec};

fn task() -> Task {
    let spec = TaskSpec::Process(ProcessSpec {
        command: vec!["true".into()],
        ..ProcessSpec::default()
    });
    Task::queued("t1".to_owned(), spec, Utc::now())
}

fn worker(queues: &[&str], executors: &[ExecutorKind], busy: u32) -> Registered {
    let now = Utc::now();
    Registered {
        report: WorkerReport {
            id: format!("w-{}", queues.join("-")),
            hostname: "h".into(),
            version: "0".into(),
            labels: Default::default(),
            queues: queues.iter().map(|q| q.to_string()).collect(),
            executors: executors.to_vec(),
            mode: "poll".into(),
            slots: 2,
            busy_slots: busy,
            running_tasks: Vec::new(),
            resources: Resources::default(),
            heartbeat_secs: 5,
            started_at: now,
            heartbeat_at: now,
            taking_tasks: true,
        },
        command: None,
    }
}

fn reason(task: &Task, workers: &[Registered]) -> Option<PendingReason> {
    why_pending(task, workers, Utc::now()).map(|p| p.reason)
}

const PROCESS: &[ExecutorKind] = &[ExecutorKind::Process];

#[test]
fn only_queued_tasks_are_pending() {
    let mut running = task();
    running.status = Status::Running;
    assert_eq!(reason(&running, &[]), None);
}

#[test]
fn a_delay_not_yet_passed_says_until_when() {
    let mut delayed = task();
    delayed.delay_seconds = 60;
    let pending = why_pending(&delayed, &[], Utc::now()).unwrap();
    assert_eq!(pending.reason, PendingReason::Delayed);
    assert_eq!(
        pending.until,
        Some(delayed.created_at + Duration::seconds(60))
    );
}

#[test]
fn a_queue_or_kind_no_online_worker_serves() {
    let other_queue = worker(&["gpu"], PROCESS, 0);
    assert_eq!(
        reason(&task(), &[other_queue]),
        Some(PendingReason::NoWorkerForQueue)
    );
    let mut offline = worker(&["default"], PROCESS, 0);
    offline.report.heartbeat_at = Utc::now() - Duration::seconds(16);
    assert_eq!(
        reason(&task(), &[offline]),
        Some(PendingReason::NoWorkerForQueue)
    );
    let mut drained = worker(&["default"], PROCESS, 0);
    drained.command = Some(Command::Drain);
    assert_eq!(
        reason(&task(), &[drained]),
        Some(PendingReason::NoWorkerForQueue)
    );
    let containers_only = worker(&["default"], &[ExecutorKind::Container], 0);
    let pending = why_pending(&task(), &[containers_only], Utc::now()).unwrap();
    assert_eq!(pending.reason, PendingReason::NoWorkerForKind);
    assert!(pending.detail.contains("process"), "{}", pending.detail);
}

#[test]
fn busy_slots_released_tasks_and_free_slots() {
    let busy = worker(&["default"], PROCESS, 2);
    assert_eq!(
        reason(&task(), std::slice::from_ref(&busy)),
        Some(PendingReason::AllSlotsBusy)
    );
    let free = worker(&["default", "high"], PROCESS, 1);
    assert_eq!(
        reason(&task(), &[busy, free.clone()]),
        Some(PendingReason::Starting)
    );
    let mut released = task();
    released.attempt = 1;
    released.message = Some("attempt 1 released by w at shutdown".into());
    let pending = why_pending(&released, std::slice::from_ref(&free), Utc::now()).unwrap();
    assert_eq!(pending.reason, PendingReason::Releasing);
    assert!(pending.detail.contains("released"));
    // A retry after a failure is not a release.
    released.reason = Some(Reason::NonZeroExit);
    assert_eq!(reason(&released, &[free]), Some(PendingReason::Starting));
}
