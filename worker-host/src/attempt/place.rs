//! An attempt's place under its task's concurrency key
//! ([`wharf_core::concurrency`]): taken before the claim, renewed with the
//! lease, given back with the record (waking the first task waiting for
//! it), and never given back by an attempt whose task was taken over — the
//! attempt that took it over holds the place now.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use wharf_core::concurrency::{self, ConcurrencyStore, Taken, Waiter};
use wharf_core::model::{Task, TaskMessage};
use wharf_core::queue::Queue;
use wharf_core::{Backend, Result};

/// The place of one attempt of a task with a concurrency key.
pub struct PlaceHeld {
    store: Arc<dyn ConcurrencyStore>,
    queues: Arc<dyn Queue>,
    key: String,
    task: String,
    attempt: u32,
}

impl PlaceHeld {
    /// Takes a place for attempt `attempt` of `task` until `until`: `None`
    /// for a task without a key; `Err` with how many hold the places when
    /// every one is taken (the task is on the key's waiting list then).
    pub async fn take(
        backend: &Backend,
        task: &Task,
        attempt: u32,
        until: DateTime<Utc>,
    ) -> Result<std::result::Result<Option<PlaceHeld>, usize>> {
        let Some(limited) = &task.concurrency else {
            return Ok(Ok(None));
        };
        let waiter = Waiter {
            task: task.id.clone(),
            queue: task.queue.clone(),
        };
        let store = &*backend.concurrency;
        Ok(
            match concurrency::take(store, limited, (&waiter, attempt), until).await? {
                Taken::Full { held } => Err(held),
                Taken::Place => Ok(Some(PlaceHeld {
                    store: backend.concurrency.clone(),
                    queues: backend.queues.clone(),
                    key: limited.key.clone(),
                    task: task.id.clone(),
                    attempt,
                })),
            },
        )
    }

    /// Makes the place attempt `attempt`'s, when the claim came out as
    /// another attempt than the place was taken for (the record changed in
    /// between).
    pub async fn claimed_as(&mut self, attempt: u32, until: DateTime<Utc>) {
        if attempt == self.attempt {
            return;
        }
        let holder = (self.task.as_str(), self.attempt);
        match concurrency::pass_on(&*self.store, &self.key, holder, (attempt, until)).await {
            Ok(true) => self.attempt = attempt,
            Ok(false) => {
                tracing::warn!(key = %self.key, "the concurrency place lapsed before the claim")
            }
            Err(err) => {
                tracing::warn!(key = %self.key, error = %err, "cannot hand the concurrency place to the claimed attempt")
            }
        }
    }

    /// Extends the place with the lease.
    pub async fn renew(&self, until: DateTime<Utc>) {
        let holder = (self.task.as_str(), self.attempt);
        match concurrency::renew(&*self.store, &self.key, holder, until).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(key = %self.key, "the attempt's concurrency place lapsed and was taken")
            }
            Err(err) => {
                tracing::warn!(key = %self.key, error = %err, "cannot renew the concurrency place; will retry")
            }
        }
    }

    /// Gives the place back and wakes the first task waiting for one.
    pub async fn give_back(&self) {
        let holder = (self.task.as_str(), self.attempt);
        let next = match concurrency::give_back(&*self.store, &self.key, holder).await {
            Ok(next) => next,
            Err(err) => {
                tracing::warn!(key = %self.key, error = %err, "cannot give the concurrency place back; it lapses with the lease");
                return;
            }
        };
        if let Some(Waiter { task, queue }) = next {
            let message = TaskMessage::bare(&task);
            if let Err(err) = self.queues.send(&queue, &message, Duration::ZERO).await {
                tracing::warn!(task_id = %task, error = %err, "cannot wake the next task of the key; its own message comes back");
            }
        }
    }
}
