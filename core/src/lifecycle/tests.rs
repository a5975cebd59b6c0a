use super::*;
use crate::model::{OutputFile, ProcessSpec, TaskSpec};
use chrono::Duration;

fn task(status: Status, attempt: u32) -> Task {
    let spec = TaskSpec::Process(ProcessSpec::default());
    Task {
        status,
        attempt,
        ..Task::queued("t".into(), spec, Utc::now())
    }
}

fn fence(worker_id: &str, attempt: u32) -> Fence {
    Fence {
        worker_id: worker_id.into(),
        attempt,
    }
}

#[test]
fn an_attempt_holds_its_task_only_while_it_runs_under_its_fence() {
    let mut running = task(Status::Running, 2);
    running.worker_id = Some("w1".into());
    assert_eq!(hold(Some(&running), &fence("w1", 2)), Hold::Held);
    assert_eq!(hold(Some(&running), &fence("w1", 1)), Hold::Lost);
    assert_eq!(hold(Some(&running), &fence("w2", 2)), Hold::Lost);
    assert_eq!(hold(None, &fence("w1", 2)), Hold::Deleted);
    let cancelled = cancel(&running, Utc::now()).unwrap();
    assert_eq!(hold(Some(&cancelled), &fence("w1", 2)), Hold::Cancelled);
    let outcome = Outcome {
        exit_code: Some(0),
        message: None,
        result: None,
        outputs: vec![],
        log_truncated: false,
    };
    let done = finish(
        &running,
        (Status::Succeeded, Reason::Succeeded),
        outcome,
        Utc::now(),
    );
    assert_eq!(hold(Some(&done), &fence("w1", 2)), Hold::Lost);
    let requeued = requeue(&running, None, None, "released".into(), Utc::now());
    assert_eq!(hold(Some(&requeued), &fence("w1", 2)), Hold::Lost);
    assert_eq!(requeued.status, Status::Queued);
    assert_eq!(requeued.attempts.len(), 1);
}

#[test]
fn a_queued_task_is_claimed_as_the_next_attempt() {
    assert_eq!(
        on_delivery(&task(Status::Queued, 0), "w", Utc::now()),
        Delivery::Claim { attempt: 1 }
    );
}

#[test]
fn a_finished_task_is_never_run_again() {
    for status in [
        Status::Succeeded,
        Status::Failed,
        Status::TimedOut,
        Status::Cancelled,
    ] {
        assert_eq!(
            on_delivery(&task(status, 1), "w", Utc::now()),
            Delivery::AlreadyFinished
        );
    }
}

#[test]
fn a_running_task_is_taken_over_only_after_its_lease() {
    let now = Utc::now();
    let mut running = task(Status::Running, 1);
    running.worker_id = Some("w1".into());
    running.lease_expires_at = Some(now + Duration::seconds(10));
    assert_eq!(
        on_delivery(&running, "w2", now),
        Delivery::HeldElsewhere {
            lease_expires_at: now + Duration::seconds(10)
        }
    );
    running.lease_expires_at = Some(now - Duration::seconds(1));
    assert_eq!(
        on_delivery(&running, "w2", now),
        Delivery::Claim { attempt: 2 }
    );
    running.attempt = 3;
    assert_eq!(on_delivery(&running, "w2", now), Delivery::Exhausted);
}

#[test]
fn a_worker_never_takes_over_its_own_attempt() {
    let now = Utc::now();
    let mut running = task(Status::Running, 1);
    running.worker_id = Some("w1".into());
    running.lease_expires_at = Some(now - Duration::seconds(60));
    assert_eq!(on_delivery(&running, "w1", now), Delivery::HeldHere);
}

#[test]
fn only_unfinished_tasks_can_be_cancelled_or_dead_lettered() {
    let now = Utc::now();
    for status in [Status::Queued, Status::Running] {
        let cancelled = cancel(&task(status, 1), now).unwrap();
        assert_eq!(cancelled.status, Status::Cancelled);
        assert_eq!(cancelled.reason, Some(Reason::Cancelled));
        let dead = dead_lettered(&task(status, 1), now).unwrap();
        assert_eq!(
            (dead.status, dead.reason),
            (Status::Failed, Some(Reason::DeadLettered))
        );
    }
    for status in [
        Status::Succeeded,
        Status::Failed,
        Status::TimedOut,
        Status::Cancelled,
        Status::Skipped,
    ] {
        assert_eq!(cancel(&task(status, 1), now), None);
        assert_eq!(dead_lettered(&task(status, 1), now), None);
    }
    // A duplicate of a running attempt's message leaves the attempt alone.
    let mut running = task(Status::Running, 1);
    running.lease_expires_at = Some(now + Duration::seconds(30));
    assert_eq!(dead_lettered(&running, now), None);
}

#[test]
fn a_takeover_notes_the_lost_attempt() {
    let now = Utc::now();
    let mut lost = task(Status::Running, 1);
    lost.worker_id = Some("w1".into());
    let next = claimed(&lost, "w2", 2, now, now + Duration::seconds(30));
    assert_eq!(next.status, Status::Running);
    assert_eq!(next.attempt, 2);
    assert_eq!(next.worker_id.as_deref(), Some("w2"));
    assert_eq!(next.attempts.len(), 1);
    assert_eq!(next.attempts[0].attempt, 1);
    assert_eq!(next.attempts[0].worker_id.as_deref(), Some("w1"));
    assert_eq!(next.attempts[0].reason, Some(Reason::WorkerLost));
    let fresh = claimed(&task(Status::Queued, 0), "w2", 1, now, now);
    assert!(fresh.attempts.is_empty());
}

#[test]
fn exit_codes_decide_the_outcome() {
    assert_eq!(
        verdict(Exit::Code(0), 1, 3, false),
        Verdict::Final {
            status: Status::Succeeded,
            reason: Reason::Succeeded
        }
    );
    assert_eq!(
        verdict(Exit::Code(2), 1, 3, false),
        Verdict::Final {
            status: Status::Failed,
            reason: Reason::NonZeroExit
        }
    );
    assert_eq!(
        verdict(Exit::TimedOut, 1, 3, false),
        Verdict::Final {
            status: Status::TimedOut,
            reason: Reason::Timeout
        }
    );
}

#[test]
fn retry_on_failure_retries_within_max_attempts() {
    assert_eq!(
        verdict(Exit::Code(1), 1, 3, true),
        Verdict::Retry {
            reason: Reason::NonZeroExit
        }
    );
    assert_eq!(
        verdict(Exit::Code(1), 3, 3, true),
        Verdict::Final {
            status: Status::Failed,
            reason: Reason::NonZeroExit
        }
    );
    assert_eq!(
        verdict(Exit::StartFailed, 1, 3, true),
        Verdict::Final {
            status: Status::Failed,
            reason: Reason::StartFailed
        }
    );
}

#[test]
fn what_a_record_holds_stays_bounded() {
    let now = Utc::now();
    let mut running = task(Status::Running, 1);
    running.worker_id = Some("w".into());
    let file = |path: String| OutputFile {
        path,
        size: 1,
        sha256: "0".repeat(64),
    };
    let long_paths: Vec<OutputFile> = (0..50)
        .map(|i| file(format!("{i}{}", "p".repeat(4000))))
        .collect();
    let outcome = Outcome {
        exit_code: Some(0),
        message: Some("é".repeat(10_000)),
        result: None,
        outputs: long_paths,
        log_truncated: false,
    };
    let done = finish(
        &running,
        (Status::Succeeded, Reason::Succeeded),
        outcome,
        now,
    );
    // Few outputs, but long paths: the manifest goes to S3.
    assert!(done.outputs_in_s3 && done.outputs.is_empty());
    assert_eq!(done.output_count, Some(50));
    let message = done.message.unwrap();
    assert!(message.len() <= MAX_MESSAGE_BYTES && message.ends_with('…'));
    let few: Vec<OutputFile> = (0..3).map(|i| file(format!("{i}.txt"))).collect();
    assert!(!manifest_in_s3(&few));
}
