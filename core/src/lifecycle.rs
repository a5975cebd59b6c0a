//! Lifecycle rules as pure functions (SPEC §3, Lifecycle): what a worker does
//! with a delivered task, whether an attempt still holds its task, how an
//! attempt ends, and the records each transition produces. Every transition
//! takes the current record and returns the next one.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::model::{AttemptRecord, Fence, OutputFile, Reason, Status, Task};

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
            _ if task.attempts_made() >= task.max_attempts => Delivery::Exhausted,
            _ => Delivery::Claim {
                attempt: task.attempt + 1,
            },
        },
        _ => Delivery::AlreadyFinished,
    }
}

/// Where an attempt stands with its task: the one answer to "does this
/// fence still hold the task?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// The attempt runs and may write.
    Held,
    /// A user cancelled the task while this attempt ran.
    Cancelled,
    /// The task's record is gone.
    Deleted,
    /// Another attempt holds the task, or it has ended: write nothing more.
    Lost,
}

/// Where the attempt `fence` stands with `task` (`None`: no record).
pub fn hold(task: Option<&Task>, fence: &Fence) -> Hold {
    let Some(task) = task else {
        return Hold::Deleted;
    };
    if task.fence().as_ref() != Some(fence) {
        return Hold::Lost;
    }
    match task.status {
        Status::Running => Hold::Held,
        Status::Cancelled => Hold::Cancelled,
        _ => Hold::Lost,
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
        message: message.map(bounded),
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
        unsent: false,
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
    pub log_truncated: bool,
}

/// A manifest of more entries, or more bytes, than this lives in S3 rather
/// than in the record, which then stays far below DynamoDB's 400 KB whatever
/// the paths.
pub const MAX_INLINE_OUTPUTS: usize = 200;
pub const MAX_INLINE_MANIFEST_BYTES: usize = 64 * 1024;

/// Whether the manifest of these outputs lives in S3.
pub fn manifest_in_s3(outputs: &[OutputFile]) -> bool {
    let bytes = || serde_json::to_vec(outputs).map_or(usize::MAX, |json| json.len());
    outputs.len() > MAX_INLINE_OUTPUTS || bytes() > MAX_INLINE_MANIFEST_BYTES
}

/// A task's `message` is at most this long (notes of thousands of skipped
/// files would otherwise outgrow the record).
pub const MAX_MESSAGE_BYTES: usize = 4096;

/// The message, cut at a character boundary within [`MAX_MESSAGE_BYTES`].
fn bounded(mut message: String) -> String {
    if message.len() > MAX_MESSAGE_BYTES {
        let mut cut = MAX_MESSAGE_BYTES - "…".len();
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
        message.push('…');
    }
    message
}

/// The running task, finished with a final status.
pub fn finish(
    task: &Task,
    (status, reason): (Status, Reason),
    outcome: Outcome,
    now: DateTime<Utc>,
) -> Task {
    let in_s3 = manifest_in_s3(&outcome.outputs);
    let bytes = outcome.outputs.iter().map(|output| output.size).sum();
    Task {
        result: outcome.result,
        log_truncated: outcome.log_truncated,
        output_count: Some(outcome.outputs.len() as u64),
        output_bytes: Some(bytes),
        outputs_in_s3: in_s3,
        outputs: if in_s3 { Vec::new() } else { outcome.outputs },
        ..end(
            task,
            (status, reason),
            outcome.exit_code,
            outcome.message,
            now,
        )
    }
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
    let ending = (Status::Cancelled, Reason::Cancelled);
    end_unfinished(task, ending, "cancelled on request", now)
}

/// A waiting task whose every dependency holds, queued: its message is
/// still to be sent (`unsent`).
pub fn released(task: &Task, now: DateTime<Utc>) -> Option<Task> {
    (task.status == Status::Waiting).then(|| Task {
        status: Status::Queued,
        unsent: true,
        message: None,
        updated_at: now,
        ..task.clone()
    })
}

/// A waiting task skipped because a dependency cannot hold: `upstream`
/// ended `status` (`None`: it was deleted).
pub fn skipped(
    task: &Task,
    upstream: &str,
    status: Option<Status>,
    now: DateTime<Utc>,
) -> Option<Task> {
    let ended = status.map_or_else(|| "was deleted".to_owned(), |s| format!("ended {s}"));
    let message = format!("dependency {upstream} {ended}");
    (task.status == Status::Waiting).then(|| {
        end(
            task,
            (Status::Skipped, Reason::DependencyFailed),
            None,
            Some(message),
            now,
        )
    })
}

/// Whether a user may retry a task in this status.
pub fn retryable(status: Status) -> bool {
    matches!(
        status,
        Status::Failed | Status::TimedOut | Status::Cancelled | Status::Skipped
    )
}

/// A task that ended without success, made to run again with a fresh
/// budget of `maxAttempts`: `waiting` when it has dependencies (they are
/// weighed again), else `queued` with its message still to be sent.
pub fn retried(task: &Task, now: DateTime<Utc>) -> Option<Task> {
    retryable(task.status).then(|| {
        let waits = !task.depends_on.is_empty();
        Task {
            status: if waits {
                Status::Waiting
            } else {
                Status::Queued
            },
            unsent: !waits,
            retry_base: task.attempt,
            worker_id: None,
            exit_code: None,
            reason: None,
            message: Some("retried on request".to_owned()),
            result: None,
            outputs: Vec::new(),
            outputs_in_s3: false,
            output_count: None,
            output_bytes: None,
            log_truncated: false,
            finished_at: None,
            lease_expires_at: None,
            updated_at: now,
            ..task.clone()
        }
    })
}

/// A task skipped because of a dependency, waiting again: that
/// dependency (or one above it) was retried.
pub fn unskipped(task: &Task, now: DateTime<Utc>) -> Option<Task> {
    (task.status == Status::Skipped && task.reason == Some(Reason::DependencyFailed)).then(|| {
        Task {
            status: Status::Waiting,
            retry_base: task.attempt,
            reason: None,
            message: Some("waiting again: a dependency was retried".to_owned()),
            finished_at: None,
            updated_at: now,
            ..task.clone()
        }
    })
}

/// Marks a task whose message was dead-lettered; a finished task stays as
/// it is, and so does a running one whose lease is live: the message was a
/// duplicate of the one its attempt holds.
pub fn dead_lettered(task: &Task, now: DateTime<Utc>) -> Option<Task> {
    if task.status == Status::Running && task.lease_live(now) {
        return None;
    }
    let message = "its message could not be processed and went to the dead-letter queue";
    end_unfinished(task, (Status::Failed, Reason::DeadLettered), message, now)
}

/// Ends a task that has not finished; `None` for one that has.
fn end_unfinished(
    task: &Task,
    ending: (Status, Reason),
    message: &str,
    now: DateTime<Utc>,
) -> Option<Task> {
    (!task.status.is_terminal()).then(|| end(task, ending, None, Some(message.to_owned()), now))
}

/// The running task, back in the queue (a retry, or a worker letting go
/// of it); the next claim is the next attempt. `reason` is `None` for a
/// release.
pub fn requeue(
    task: &Task,
    reason: Option<Reason>,
    exit_code: Option<i64>,
    message: String,
    now: DateTime<Utc>,
) -> Task {
    let mut next = task.clone();
    note_attempt(&mut next, reason, exit_code, now);
    Task {
        status: Status::Queued,
        reason,
        exit_code,
        message: Some(bounded(message)),
        worker_id: None,
        lease_expires_at: None,
        updated_at: now,
        ..next
    }
}

/// The running task with its lease renewed until `lease_until`.
pub fn renewed(task: &Task, lease_until: DateTime<Utc>, now: DateTime<Utc>) -> Task {
    Task {
        lease_expires_at: Some(lease_until),
        updated_at: now,
        ..task.clone()
    }
}

#[cfg(test)]
mod tests;
