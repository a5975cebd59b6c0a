//! An attempt's place under its task's concurrency key
//! ([`wharf_core::concurrency`]): taken before the claim, renewed with the
//! lease, given back with the record (waking the first task waiting for
//! it), and never given back by an attempt whose task was taken over — the
//! attempt that took it over holds the place now. A place is held by the
//! attempt on this worker: another worker delivered the same task neither
//! takes nor frees it.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use wharf_core::concurrency::{self, ConcurrencyStore, Holder, Taken, Waiter};
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
    worker: String,
}

impl PlaceHeld {
    /// Takes a place for attempt `attempt` of `task` on worker `worker`
    /// until `until`: `None` for a task without a key; `Err` when there is
    /// none (every place is taken, and the task is on the key's waiting
    /// list; or another worker holds this task's).
    pub async fn take(
        backend: &Backend,
        task: &Task,
        (attempt, worker): (u32, &str),
        until: DateTime<Utc>,
    ) -> Result<std::result::Result<Option<PlaceHeld>, Taken>> {
        let Some(limited) = &task.concurrency else {
            return Ok(Ok(None));
        };
        let holder = Holder {
            task: &task.id,
            attempt,
            worker,
        };
        let store = &*backend.concurrency;
        let taken = concurrency::take(store, limited, (holder, &task.queue), until).await?;
        Ok(match taken {
            Taken::Place => Ok(Some(PlaceHeld {
                store: backend.concurrency.clone(),
                queues: backend.queues.clone(),
                key: limited.key.clone(),
                task: task.id.clone(),
                attempt,
                worker: worker.to_owned(),
            })),
            none => Err(none),
        })
    }

    fn holder(&self) -> Holder<'_> {
        Holder {
            task: &self.task,
            attempt: self.attempt,
            worker: &self.worker,
        }
    }

    /// Makes the place attempt `attempt`'s, when the claim came out as
    /// another attempt than the place was taken for (the record changed in
    /// between).
    pub async fn claimed_as(&mut self, attempt: u32, until: DateTime<Utc>) {
        if attempt == self.attempt {
            return;
        }
        let passed = concurrency::pass_on(&*self.store, &self.key, self.holder(), (attempt, until));
        match passed.await {
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
        match concurrency::renew(&*self.store, &self.key, self.holder(), until).await {
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
        let next = match concurrency::give_back(&*self.store, &self.key, self.holder()).await {
            Ok(next) => next,
            Err(err) => {
                tracing::warn!(key = %self.key, error = %err, "cannot give the concurrency place back; it lapses with the lease");
                return;
            }
        };
        if let Some(Waiter { task, queue }) = next {
            let message = TaskMessage::hint(&task);
            if let Err(err) = self.queues.send(&queue, &message, Duration::ZERO).await {
                tracing::warn!(task_id = %task, error = %err, "cannot wake the next task of the key; its own message comes back");
            }
        }
    }
}
