//! The task store seam: where task records live, in Wharf's own types. The
//! real one is DynamoDB ([`crate::aws::DynamoTaskStore`]); tests may use a
//! stateful fake with the same behaviour.
//!
//! Every write is conditional on the version it was computed from, so a
//! transition fails with [`Error::Conflict`] if anyone wrote in between.

use async_trait::async_trait;

use crate::error::{Error, Result};
use crate::lifecycle::{hold, Hold};
use crate::listing::{TaskPage, TaskQuery};
use crate::model::{Fence, Task};

/// A task together with the version it was read at.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned {
    pub task: Task,
    pub version: u64,
}

/// What [`TaskStore::transition`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    /// Written; the new record.
    Applied(Task),
    /// The transition does not apply to the current record (returned).
    Refused(Task),
    /// There is no such task.
    Missing,
}

/// Why a new task could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("a task named {name:?} exists already: {existing_id}")]
    NameTaken { name: String, existing_id: String },
    #[error("idempotency key already used by task {existing_id}")]
    IdempotencyKeyUsed { existing_id: String },
    #[error(transparent)]
    Store(#[from] Error),
}

/// What a task reserves beside its record, as keys of the same table: its
/// client's idempotency key (`idem#client#key`) and its name (`name#…`), in
/// that order — when both are taken, a retried POST must find its task.
pub fn reservations(task: &Task) -> Vec<String> {
    let key = task
        .idempotency
        .as_ref()
        .map(|idem| format!("{IDEMPOTENCY_PREFIX}{}#{}", idem.client, idem.key));
    let name = task.name.as_deref().map(name_reservation);
    key.into_iter().chain(name).collect()
}

const IDEMPOTENCY_PREFIX: &str = "idem#";

/// The key of the item reserving a task name.
pub fn name_reservation(name: &str) -> String {
    format!("name#{name}")
}

/// What it means that reservation `key` is held by the live task
/// `existing_id`.
pub fn taken(task: &Task, key: &str, existing_id: String) -> CreateError {
    match &task.name {
        Some(name) if !key.starts_with(IDEMPOTENCY_PREFIX) => CreateError::NameTaken {
            name: name.clone(),
            existing_id,
        },
        _ => CreateError::IdempotencyKeyUsed { existing_id },
    }
}

/// Computes the next record from the current one, or `None` when the
/// transition does not apply.
pub type NextTask<'a> = &'a (dyn Fn(&Task) -> Option<Task> + Send + Sync);

/// Computes the next record of a running attempt from the current one.
pub type ChangeTask<'a> = &'a (dyn Fn(&Task) -> Task + Send + Sync);

#[async_trait]
pub trait TaskStore: Send + Sync {
    /// Stores a new task, reserving its name and idempotency key. A
    /// reservation whose task is gone (deleted, expired) is taken over.
    async fn create(&self, task: &Task) -> Result<(), CreateError>;

    /// Deletes a task record and the reservations of its name and
    /// idempotency key.
    async fn delete(&self, task: &Task) -> Result<()>;

    /// The current record (a consistent read).
    async fn get(&self, id: &str) -> Result<Option<Versioned>>;

    /// A page of tasks, newest first (eventually consistent: a task written
    /// a moment ago may be missing, or show its previous state).
    async fn list(&self, query: &TaskQuery) -> Result<TaskPage>;

    /// Replaces `current` by `next` if nobody wrote the task since `current`
    /// was read; fails with [`Error::Conflict`] otherwise.
    async fn replace(&self, current: &Versioned, next: Task) -> Result<Versioned>;

    /// Applies `next` to the current record, reading again and retrying
    /// when another write comes in between.
    async fn transition(&self, id: &str, next: NextTask<'_>) -> Result<Transition> {
        loop {
            let Some(current) = self.get(id).await? else {
                return Ok(Transition::Missing);
            };
            let Some(task) = next(&current.task) else {
                return Ok(Transition::Refused(current.task));
            };
            match self.replace(&current, task).await {
                Err(Error::Conflict(_)) => continue,
                Err(err) => return Err(err),
                Ok(written) => return Ok(Transition::Applied(written.task)),
            }
        }
    }

    /// Applies `change` (which computes the next record from the current
    /// one) as long as `fence` still holds the task. Fails with [`Error::Conflict`] once the fence is
    /// lost: the caller must stop.
    async fn update_fenced(&self, id: &str, fence: &Fence, change: ChangeTask<'_>) -> Result<Task> {
        let next = |task: &Task| (hold(Some(task), fence) == Hold::Held).then(|| change(task));
        match self.transition(id, &next).await? {
            Transition::Applied(task) => Ok(task),
            Transition::Refused(_) | Transition::Missing => Err(Error::Conflict(format!(
                "task {id} is no longer held by {} attempt {}",
                fence.worker_id, fence.attempt
            ))),
        }
    }
}
