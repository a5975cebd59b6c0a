//! Lifecycle rules as pure functions (SPEC §3, Lifecycle): which transitions
//! exist, what a worker does with a delivered task, and how an attempt ends.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::model::{OutputFile, Reason, Status, Task};

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
    /// The task has finished already (a duplicate or leftover delivery):
    /// delete the message, run nothing.
    AlreadyFinished,
    /// The lease was lost and no attempts are left: fail the task.
    Exhausted,
}

/// Decides what to do with a delivered task at time `now`.
pub fn on_delivery(task: &Task, now: DateTime<Utc>) -> Delivery {
    match task.status {
        Status::Queued => Delivery::Claim {
            attempt: task.attempt + 1,
        },
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

/// The task as claimed by `worker_id` for `attempt`, holding a lease until
/// `lease_until`. Taking over a lost attempt notes it in `message`.
pub fn claimed(
    task: &Task,
    worker_id: &str,
    attempt: u32,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> Task {
    let message = (task.status == Status::Running).then(|| {
        format!(
            "attempt {} lost its worker {} ({})",
            task.attempt,
            task.worker_id.as_deref().unwrap_or("unknown"),
            Reason::WorkerLost.as_str()
        )
    });
    Task {
        status: Status::Running,
        attempt,
        worker_id: Some(worker_id.to_owned()),
        lease_expires_at: Some(lease_until),
        started_at: Some(now),
        updated_at: now,
        exit_code: None,
        reason: None,
        message,
        ..task.clone()
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
    task.status = status;
    task.reason = Some(reason);
    task.exit_code = outcome.exit_code;
    task.message = outcome.message;
    task.result = outcome.result;
    task.outputs = outcome.outputs;
    task.lease_expires_at = None;
    task.finished_at = Some(now);
    task.updated_at = now;
}

/// Puts a running task back in the queue (a retry, or a worker letting go
/// of it); the next claim is the next attempt.
pub fn requeue(task: &mut Task, reason: Option<Reason>, message: String, now: DateTime<Utc>) {
    task.status = Status::Queued;
    task.reason = reason;
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
            on_delivery(&task(Status::Queued, 0), Utc::now()),
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
                on_delivery(&task(status, 1), Utc::now()),
                Delivery::AlreadyFinished
            );
        }
    }

    #[test]
    fn a_running_task_is_taken_over_only_after_its_lease() {
        let now = Utc::now();
        let mut running = task(Status::Running, 1);
        running.lease_expires_at = Some(now + Duration::seconds(10));
        assert_eq!(
            on_delivery(&running, now),
            Delivery::HeldElsewhere {
                lease_expires_at: now + Duration::seconds(10)
            }
        );
        running.lease_expires_at = Some(now - Duration::seconds(1));
        assert_eq!(on_delivery(&running, now), Delivery::Claim { attempt: 2 });
        running.attempt = 3;
        assert_eq!(on_delivery(&running, now), Delivery::Exhausted);
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
        assert!(next.message.unwrap().contains("WorkerLost"));
        let fresh = claimed(&task(Status::Queued, 0), "w2", 1, now, now);
        assert_eq!(fresh.message, None);
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
