//! The task store seam: where task records live, in Wharf's own types. The
//! real one is DynamoDB ([`crate::aws::DynamoTaskStore`]); tests may use a
//! stateful fake with the same behaviour.
//!
//! Every write is conditional on the record it was computed from: when
//! anyone wrote in between, nothing is written and the write answers the
//! record as it is now, to compute the transition again from.

use async_trait::async_trait;

use crate::error::{Error, Result};
use crate::lifecycle::{hold, Hold};
use crate::listing::{TaskFilter, TaskPage, TaskQuery, MAX_LIST_LIMIT};
use crate::model::{Fence, Task};

/// A task together with the version it was read at.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned {
    pub task: Task,
    pub version: u64,
}

/// What [`TaskStore::replace`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Replaced {
    /// Written; the new record.
    Written(Versioned),
    /// The record is not `current` (anyone wrote since, or `current` was
    /// never what was stored): nothing was written. The record as it is
    /// now, `None` when there is none.
    Stale(Option<Versioned>),
}

/// What [`TaskStore::transition`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    /// Written; the new record.
    Applied(Versioned),
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

    /// Every task `filter` lists, read a page at a time.
    async fn list_all(&self, filter: &TaskFilter) -> Result<Vec<Task>> {
        let mut all = Vec::new();
        let mut before = None;
        loop {
            let query = TaskQuery {
                filter: filter.clone(),
                limit: MAX_LIST_LIMIT,
                before,
            };
            let page = self.list(&query).await?;
            all.extend(page.tasks);
            let Some(next) = page.next else { break };
            before = Some(next);
        }
        Ok(all)
    }

    /// Replaces `current` by `next` if the stored record is exactly
    /// `current` (same version, same content); otherwise writes nothing and
    /// answers the record as it is, in the same call. So `current` may come
    /// from anywhere, a message included: only what is stored is ever
    /// built on.
    async fn replace(&self, current: &Versioned, next: Task) -> Result<Replaced>;

    /// Applies `next` to the current record, retrying on the record the
    /// store answers when another write came in between.
    async fn transition(&self, id: &str, next: NextTask<'_>) -> Result<Transition> {
        let current = self.get(id).await?;
        self.transition_from(current, next).await
    }

    /// [`TaskStore::transition`] from a record read (or believed) before:
    /// no read when it is still the stored one.
    async fn transition_from(
        &self,
        mut current: Option<Versioned>,
        next: NextTask<'_>,
    ) -> Result<Transition> {
        loop {
            let Some(known) = current else {
                return Ok(Transition::Missing);
            };
            let Some(task) = next(&known.task) else {
                return Ok(Transition::Refused(known.task));
            };
            match self.replace(&known, task).await? {
                Replaced::Written(written) => return Ok(Transition::Applied(written)),
                Replaced::Stale(now) => current = now,
            }
        }
    }

    /// Applies `change` (which computes the next record from the current
    /// one) to the record last written by the attempt (`known`), as long
    /// as `fence` still holds the task. Fails with [`Error::Conflict`] once
    /// the fence is lost: the caller must stop.
    async fn update_fenced(
        &self,
        known: Versioned,
        fence: &Fence,
        change: ChangeTask<'_>,
    ) -> Result<Versioned> {
        let id = known.task.id.clone();
        let next = |task: &Task| (hold(Some(task), fence) == Hold::Held).then(|| change(task));
        match self.transition_from(Some(known), &next).await? {
            Transition::Applied(written) => Ok(written),
            Transition::Refused(_) | Transition::Missing => Err(Error::Conflict(format!(
                "task {id} is no longer held by {} attempt {}",
                fence.worker_id, fence.attempt
            ))),
        }
    }
}
