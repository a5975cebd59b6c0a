//! Why a queued task is waiting, from the worker registry: the answer the
//! API gives in a queued task's `pending`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::fleet::Registered;
use crate::model::{Status, Task};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::Display, utoipa::ToSchema,
)]
pub enum PendingReason {
    /// Submitted with `delaySeconds` that have not passed yet.
    Delayed,
    /// No online worker serves the task's queue.
    NoWorkerForQueue,
    /// Workers serve the queue, but none of them runs the task's kind.
    NoWorkerForKind,
    /// A worker gave the task back (shutdown or revoke); another one
    /// receives it next.
    Releasing,
    /// Every slot of the workers that could run it is busy.
    AllSlotsBusy,
    /// A worker with a free slot receives it at its next poll.
    Starting,
    /// Waiting for its dependencies to end (`dependsOn`).
    WaitingOnDependencies,
    /// Every place of its concurrency key is taken by a running task.
    ConcurrencyLimit,
    /// An array whose children the control plane has not made yet.
    MakingChildren,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Pending {
    pub reason: PendingReason,
    pub detail: String,
    pub until: Option<DateTime<Utc>>,
    /// With `AllSlotsBusy`: the messages waiting on the task's queue.
    pub backlog: Option<u64>,
}

/// Why a waiting task waits: these upstream tasks have not ended.
pub fn waiting_on(unfinished: &[String]) -> Pending {
    Pending {
        reason: PendingReason::WaitingOnDependencies,
        detail: format!("waiting for {}", unfinished.join(", ")),
        until: None,
        backlog: None,
    }
}

/// Why a queued task with a concurrency key waits: `held` of its places
/// are taken (all of them).
pub fn concurrency_limit(key: &str, held: usize) -> Pending {
    Pending {
        reason: PendingReason::ConcurrencyLimit,
        detail: format!("all {held} places of concurrency key {key:?} are taken"),
        until: None,
        backlog: None,
    }
}

/// Why `task` is waiting, if it is queued (the caller adds the backlog to
/// `AllSlotsBusy`).
pub fn why_pending(task: &Task, workers: &[Registered], now: DateTime<Utc>) -> Option<Pending> {
    if task.status != Status::Queued {
        return None;
    }
    let pending = |reason, detail: String| {
        Some(Pending {
            reason,
            detail,
            until: None,
            backlog: None,
        })
    };
    if let Some(array) = &task.array {
        let detail = format!(
            "the control plane makes its children ({} of {} so far)",
            array.created, array.size
        );
        return pending(PendingReason::MakingChildren, detail);
    }
    let ready_at = task.created_at + chrono::Duration::seconds(task.delay_seconds.into());
    if task.attempt == 0 && ready_at > now {
        return Some(Pending {
            reason: PendingReason::Delayed,
            detail: format!("submitted with a delay; ready at {ready_at}"),
            until: Some(ready_at),
            backlog: None,
        });
    }
    let serving: Vec<&Registered> = workers
        .iter()
        .filter(|w| w.serves(&task.queue, now))
        .collect();
    if serving.is_empty() {
        let detail = format!("no online worker serves queue {:?}", task.queue);
        return pending(PendingReason::NoWorkerForQueue, detail);
    }
    let kind = task.spec.kind();
    let able: Vec<&Registered> = serving
        .into_iter()
        .filter(|w| w.report.executors.contains(&kind))
        .collect();
    if able.is_empty() {
        let detail = format!(
            "no online worker of queue {:?} runs {kind} tasks",
            task.queue
        );
        return pending(PendingReason::NoWorkerForKind, detail);
    }
    if task.attempt > 0 && task.reason.is_none() {
        let detail = task.message.clone().unwrap_or_default();
        return pending(PendingReason::Releasing, detail);
    }
    let slots: u32 = able.iter().map(|w| w.report.slots).sum();
    let busy: u32 = able
        .iter()
        .map(|w| w.report.busy_slots.min(w.report.slots))
        .sum();
    if busy >= slots {
        let detail = format!(
            "all {slots} slots of the {} workers that could run it are busy",
            able.len()
        );
        return pending(PendingReason::AllSlotsBusy, detail);
    }
    let detail = format!("{} of {slots} slots are free", slots - busy);
    pending(PendingReason::Starting, detail)
}

#[cfg(test)]
mod tests;
