//! Lifecycle rules as pure functions (SPEC §3, Lifecycle): which transitions
//! exist, what a worker does with a delivered task, and how an attempt ends.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::model::{AttemptRecord, OutputFile, Reason, Status, Task};

/// Whether a task may move from `from` to `to`.
pub fn can_transition(from: Status, to: Status) -> bool {
    use Status::*;
    matches!(
        (from, to),
        (Queued, Running)
            | (Queued, Cancelled)
            | (Running, Queued)
            | (Running, Succeeded)
            | (Running, Failed)
            | (Running, TimedOut)
            | (Running, Cancelled)
    )
}

/// What a worker should do with a task whose message it just received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Claim it as this attempt number.
    Claim { attempt: u32 },
    /// Another worker holds a live lease: leave the message until it expires.
    HeldElsewhere { lease_expires_at: DateTime<Utc> },
    /// This very worker runs (or is recording) the attempt; its lease may
    /// have lapsed during an outage, but it is not lost.
    HeldHere,
    /// The task has finished already (a duplicate or leftover delivery):
    /// delete the message, run nothing.
    AlreadyFinished,
    /// The lease was lost and no attempts are left: fail the task.
    Exhausted,
}

/// Decides what worker `worker_id` does with a delivered task at `now`.
pub fn on_delivery(task: &Task, worker_id: &str, now: DateTime<Utc>) -> Delivery {
    match task.status {
        Status::Queued => Delivery::Claim {
            attempt: task.attempt + 1,
        },
        Status::Running if task.worker_id.as_deref() == Some(worker_id) => Delivery::HeldHere,
        Status::Running => match task.lease_expires_at {
            Some(lease) if lease > now => Delivery::HeldElsewhere {
                lease_expires_at: lease,
            },
            _ if task.attempt >= task.max_attempts => Delivery::Exhausted,
            _ => Delivery::Claim {
                attempt: task.attempt + 1,
            },
        },
        _ => Delivery::AlreadyFinished,
    }
}

/// How one attempt's process ended, as the executor saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i64),
    /// Killed by a signal (no exit code).
    Signal(i32),
    TimedOut,
    OomKilled,
    StartFailed,
}

/// What to record once an attempt has ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The task is finished with this status and reason.
    Final { status: Status, reason: Reason },
    /// Queue the task again for another attempt.
    Retry { reason: Reason },
}

/// Decides the outcome of an attempt: a non-zero exit is final unless the
/// task asked for retries and attempts remain.
pub fn verdict(exit: Exit, attempt: u32, max_attempts: u32, retry_on_failure: bool) -> Verdict {
    let (status, reason) = match exit {
        Exit::Code(0) => {
            return Verdict::Final {
                status: Status::Succeeded,
                reason: Reason::Succeeded,
            }
        }
        Exit::Code(_) | Exit::Signal(_) => (Status::Failed, Reason::NonZeroExit),
        Exit::TimedOut => (Status::TimedOut, Reason::Timeout),
        Exit::OomKilled => (Status::Failed, Reason::OomKilled),
        Exit::StartFailed => (Status::Failed, Reason::StartFailed),
    };
    let retryable = retry_on_failure && !matches!(exit, Exit::StartFailed);
    if retryable && attempt < max_attempts {
        Verdict::Retry { reason }
    } else {
        Verdict::Final { status, reason }
    }
}

/// Notes how the running attempt ended in the task's `attempts` history.
fn note_attempt(
    task: &mut Task,
    reason: Option<Reason>,
    exit_code: Option<i64>,
    now: DateTime<Utc>,
) {
    if task.status == Status::Running {
        task.attempts.push(AttemptRecord {
            attempt: task.attempt,
            worker_id: task.worker_id.clone(),
            reason,
            exit_code,
            started_at: task.started_at,
            ended_at: now,
        });
    }
}

/// The task ended with a final status.
fn end(
    task: &Task,
    (status, reason): (Status, Reason),
    exit_code: Option<i64>,
    message: Option<String>,
    now: DateTime<Utc>,
) -> Task {
    let mut next = task.clone();
    note_attempt(&mut next, Some(reason), exit_code, now);
    Task {
        status,
        reason: Some(reason),
        exit_code,
        message,
        lease_expires_at: None,
        finished_at: Some(now),
        updated_at: now,
        ..next
    }
}

/// The task as claimed by `worker_id` for `attempt`, holding a lease until
/// `lease_until`. Taking over a running task records its lost attempt as
/// `WorkerLost`.
pub fn claimed(
    task: &Task,
    worker_id: &str,
    attempt: u32,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> Task {
    let mut next = task.clone();
    note_attempt(&mut next, Some(Reason::WorkerLost), None, now);
    Task {
        status: Status::Running,
        attempt,
        worker_id: Some(worker_id.to_owned()),
        lease_expires_at: Some(lease_until),
        started_at: Some(now),
        updated_at: now,
        exit_code: None,
        reason: None,
        message: None,
        ..next
    }
}

/// How an attempt ended, as recorded on the task.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub exit_code: Option<i64>,
    pub message: Option<String>,
    pub result: Option<Value>,
    pub outputs: Vec<OutputFile>,
}

/// Records a final status on a running task.
pub fn finish(
    task: &mut Task,
    status: Status,
    reason: Reason,
    outcome: Outcome,
    now: DateTime<Utc>,
) {
    *task = Task {
        result: outcome.result,
        outputs: outcome.outputs,
        ..end(
            task,
            (status, reason),
            outcome.exit_code,
            outcome.message,
            now,
        )
    };
}

/// Fails a task whose last attempt lost its worker.
pub fn lost_for_good(task: &Task, now: DateTime<Utc>) -> Task {
    let message = format!(
        "attempt {} lost its worker {} and no attempts are left",
        task.attempt,
        task.worker_id.as_deref().unwrap_or("unknown")
    );
    end(
        task,
        (Status::Failed, Reason::WorkerLost),
        None,
        Some(message),
        now,
    )
}

/// Cancels a queued or running task; a finished one cannot be cancelled.
pub fn cancel(task: &Task, now: DateTime<Utc>) -> Option<Task> {
    let message = "cancelled on request".to_owned();
    (!task.status.is_terminal()).then(|| {
        end(
            task,
            (Status::Cancelled, Reason::Cancelled),
            None,
            Some(message),
            now,
        )
    })
}

/// Marks a task whose message was dead-lettered; a finished task stays as
/// it is.
pub fn dead_lettered(task: &Task, now: DateTime<Utc>) -> Option<Task> {
    let message = "its message could not be processed and went to the dead-letter queue".to_owned();
    (!task.status.is_terminal()).then(|| {
        end(
            task,
            (Status::Failed, Reason::DeadLettered),
            None,
            Some(message),
            now,
        )
    })
}

/// Puts a running task back in the queue (a retry, or a worker letting go
/// of it); the next claim is the next attempt.
pub fn requeue(
    task: &mut Task,
    reason: Option<Reason>,
    exit_code: Option<i64>,
    message: String,
    now: DateTime<Utc>,
) {
    note_attempt(task, reason, exit_code, now);
    task.status = Status::Queued;
    task.reason = reason;
    task.exit_code = exit_code;
    task.message = Some(message);
    task.worker_id = None;
    task.lease_expires_at = None;
    task.updated_at = now;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TaskSpec;
    use chrono::Duration;

    fn task(status: Status, attempt: u32) -> Task {
        let now = Utc::now();
        Task {
            id: "t".into(),
            name: None,
            queue: "default".into(),
            spec: TaskSpec::default(),
            payload: None,
            payload_in_s3: false,
            status,
            attempt,
            max_attempts: 3,
            timeout_seconds: 60,
            retry_on_failure: false,
            delay_seconds: 0,
            labels: Default::default(),
            worker_id: None,
            exit_code: None,
            reason: None,
            message: None,
            result: None,
            outputs: vec![],
            attempts: vec![],
            created_at: now,
            started_at: None,
            finished_at: None,
            updated_at: now,
            lease_expires_at: None,
        }
    }

    #[test]
    fn terminal_states_never_move() {
        for from in [
            Status::Succeeded,
            Status::Failed,
            Status::TimedOut,
            Status::Cancelled,
        ] {
            assert!(from.is_terminal());
            for to in [
                Status::Queued,
                Status::Running,
                Status::Succeeded,
                Status::Cancelled,
            ] {
                assert!(!can_transition(from, to), "{from} -> {to}");
            }
        }
        assert!(can_transition(Status::Queued, Status::Running));
        assert!(can_transition(Status::Queued, Status::Cancelled));
        assert!(!can_transition(Status::Queued, Status::Succeeded));
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
        ] {
            assert_eq!(cancel(&task(status, 1), now), None);
            assert_eq!(dead_lettered(&task(status, 1), now), None);
        }
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
}
