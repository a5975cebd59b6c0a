//! What a worker does with one delivered message: decide whether to run it
//! (finished already, held elsewhere, not due, not runnable here), claim it
//! with one conditional write, and hand the claimed task to
//! [`crate::attempt`]. A message carrying a snapshot of its record needs no
//! read: the claim is written only over exactly that record, and otherwise
//! answers the stored one to decide again on.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use wharf_core::lifecycle::{self, on_delivery, Delivery};
use wharf_core::model::{Snapshot, Task, TaskMessage};
use wharf_core::queue::Received;
use wharf_core::store::{Transition, Versioned};

use crate::attempt::place::PlaceHeld;
use crate::worker::Worker;

/// A task waiting for a concurrency place is delivered again after this
/// long, should no place given back wake it first (its holder died).
const PLACE_BACKSTOP: Duration = Duration::from_secs(20);

/// What became of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// An attempt ran on this host.
    Ran,
    /// Nothing ran here (finished already, held elsewhere, not due, …).
    Skipped,
}

impl Worker {
    /// Handles one message. `stop_all` is cancelled when running attempts
    /// must stop at once (shutdown after the grace period); they are then
    /// released for other workers.
    pub async fn handle(&self, message: Received, stop_all: &CancellationToken) -> Handled {
        let parsed = match message.task_message() {
            Ok(parsed) => parsed,
            Err(err) => {
                // Back at once: after the redrive count SQS moves it to the
                // DLQ, and it holds no slot meanwhile.
                tracing::error!(queue = %message.queue, receive_count = message.receive_count, error = %err, "malformed message; returning it for the dead-letter queue");
                self.set_visibility(&message, Duration::ZERO).await;
                return Handled::Skipped;
            }
        };
        let span = tracing::info_span!("task", task_id = %parsed.task_id);
        self.on_delivery(parsed, message, stop_all)
            .instrument(span)
            .await
    }

    /// Decides on the record the message carries (its snapshot) or, without
    /// one, on the record read; a claim that finds the stored record changed
    /// decides again on the record it answers.
    async fn on_delivery(
        &self,
        parsed: TaskMessage,
        message: Received,
        stop_all: &CancellationToken,
    ) -> Handled {
        let hint = parsed.hint;
        let Some(known) = self.record_of(parsed).await else {
            return Handled::Skipped;
        };
        let now = Utc::now();
        // What may stop a claim but never changes with the record: the
        // task's kind and when it is due.
        if let Some(known) = &known {
            let decided = on_delivery(&known.task, &self.config.worker_id, now);
            if matches!(decided, Delivery::Claim { .. }) {
                if let Some(wait) = self.not_now(&known.task, &message, now).await {
                    self.set_visibility(&message, wait).await;
                    return Handled::Skipped;
                }
            }
        }
        let lease_until = now + self.config.lease;
        let place = match self.take_place(known.as_ref(), &message, lease_until).await {
            Ok(place) => place,
            Err(handled) => return handled,
        };
        let worker_id = &self.config.worker_id;
        let claim = |task: &Task| match on_delivery(task, worker_id, now) {
            Delivery::Claim { attempt } => Some(lifecycle::claimed(
                task,
                worker_id,
                attempt,
                now,
                lease_until,
            )),
            _ => None,
        };
        // Of two workers, only one wins: the write is conditional on the
        // record it was computed from.
        let claimed = self.backend.store.transition_from(known, &claim).await;
        if let Some(place) = place
            .as_ref()
            .filter(|_| !matches!(claimed, Ok(Transition::Applied(_))))
        {
            place.give_back().await;
        }
        match claimed {
            Ok(Transition::Applied(claimed)) => {
                let place = match place {
                    // The record changed meanwhile: the place is the
                    // claimed attempt's.
                    Some(mut place) => {
                        place.claimed_as(claimed.task.attempt, lease_until).await;
                        Some(place)
                    }
                    None => None,
                };
                self.run_attempt(claimed, (Some(message), place), stop_all)
                    .await;
                Handled::Ran
            }
            Ok(Transition::Refused(task)) => {
                self.not_claimed(&task, (&message, hint), now).await;
                Handled::Skipped
            }
            Ok(Transition::Missing) => {
                tracing::warn!("message for a task that no longer exists; deleting it");
                self.delete(&message).await;
                Handled::Skipped
            }
            Err(err) => {
                tracing::warn!(error = %err, "claim failed; the message will be redelivered");
                Handled::Skipped
            }
        }
    }

    /// The place under the task's concurrency key, taken for the attempt
    /// this delivery would claim (`Ok(None)`: it has no key, or will not be
    /// claimed). With every place taken, the task waits on the key's list:
    /// its message is sent again for later, as a backstop to the wake-up a
    /// place given back sends, and this one deleted (hiding it instead would
    /// count towards the dead-letter queue's redrive).
    async fn take_place(
        &self,
        known: Option<&Versioned>,
        message: &Received,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<PlaceHeld>, Handled> {
        let Some(task) = known.map(|known| &known.task) else {
            return Ok(None);
        };
        let Delivery::Claim { attempt } = on_delivery(task, &self.config.worker_id, Utc::now())
        else {
            return Ok(None);
        };
        let worker = self.config.worker_id.as_str();
        match PlaceHeld::take(&self.backend, task, (attempt, worker), lease_until).await {
            Ok(Ok(place)) => Ok(place),
            Ok(Err(none)) => {
                tracing::info!(?none, "no concurrency place for the task now; it waits");
                let again = TaskMessage::hint(&task.id);
                match self
                    .backend
                    .queues
                    .send(&task.queue, &again, PLACE_BACKSTOP)
                    .await
                {
                    Ok(()) => self.delete(message).await,
                    Err(err) => {
                        tracing::warn!(error = %err, "cannot send the waiting task's backstop; its message comes back");
                        self.set_visibility(message, PLACE_BACKSTOP).await;
                    }
                }
                Err(Handled::Skipped)
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot take a concurrency place now; the message comes back");
                self.set_visibility(message, Duration::from_secs(2)).await;
                Err(Handled::Skipped)
            }
        }
    }

    /// The record the message carries (its snapshot), or else the stored
    /// one (`Some(None)`: there is none); `None` when it cannot be read (the
    /// message is redelivered).
    async fn record_of(&self, parsed: TaskMessage) -> Option<Option<Versioned>> {
        match parsed.snapshot {
            Some(Snapshot { version, task }) => Some(Some(Versioned {
                task: *task,
                version,
            })),
            None => match self.backend.store.get(&parsed.task_id).await {
                Ok(read) => Some(read),
                Err(err) => {
                    tracing::warn!(error = %err, "cannot read the task; the message will be redelivered");
                    None
                }
            },
        }
    }

    /// What becomes of the message of a task this host does not claim. A
    /// wake-up (`hint`) of a task held by an attempt is deleted: the
    /// attempt's own message stands for the task.
    async fn not_claimed(
        &self,
        task: &Task,
        (message, hint): (&Received, bool),
        now: DateTime<Utc>,
    ) {
        match on_delivery(task, &self.config.worker_id, now) {
            Delivery::HeldElsewhere { .. } | Delivery::HeldHere if hint => {
                tracing::info!("a wake-up of a task held by an attempt; deleting it");
                self.delete(message).await;
            }
            Delivery::AlreadyFinished => {
                tracing::info!(status = %task.status, "task already finished; deleting the leftover message");
                self.delete(message).await;
            }
            Delivery::HeldElsewhere { lease_expires_at } => {
                let wait = (lease_expires_at - now).to_std().unwrap_or_default();
                self.set_visibility(message, wait + Duration::from_secs(1))
                    .await;
            }
            Delivery::HeldHere => {
                // A duplicate of an attempt running here; its lease keeper
                // keeps the original message hidden.
                self.set_visibility(message, self.config.lease).await;
            }
            Delivery::Exhausted => self.fail_exhausted(&task.id, message, now).await,
            Delivery::Claim { .. } => unreachable!("a claimable task is claimed"),
        }
    }

    /// How long to hide the message instead of running the task now: this
    /// host cannot run its kind, or it is not due yet.
    async fn not_now(
        &self,
        task: &Task,
        message: &Received,
        now: DateTime<Utc>,
    ) -> Option<Duration> {
        let kind = task.spec.kind();
        if !self.executors.can_run(kind).await {
            // Back off a little more on each delivery, so a capable worker
            // gets its chance; if none exists, SQS dead-letters the message
            // after its redrive count.
            tracing::info!(%kind, receive_count = message.receive_count, "this host cannot run this kind of task now; releasing it");
            let backoff = message.receive_count.saturating_sub(1).min(5);
            return Some(Duration::from_secs(backoff.into()));
        }
        // Delays beyond SQS's 15 minutes: hide the message again rather
        // than hold a slot.
        let due = task.created_at + chrono::Duration::seconds(task.delay_seconds.into());
        let wait = (due > now).then(|| (due - now).to_std().unwrap_or_default());
        if let Some(wait) = wait {
            tracing::debug!(wait_secs = wait.as_secs(), "task not due yet; deferring it");
        }
        wait
    }

    /// The lease of the last attempt lapsed and no attempts are left.
    async fn fail_exhausted(&self, task_id: &str, message: &Received, now: DateTime<Utc>) {
        let worker_id = &self.config.worker_id;
        let next = |task: &Task| {
            (on_delivery(task, worker_id, now) == Delivery::Exhausted)
                .then(|| lifecycle::lost_for_good(task, now))
        };
        match self.backend.store.transition(task_id, &next).await {
            Ok(Transition::Applied(failed)) => {
                tracing::warn!("the last attempt lost its worker; the task failed");
                self.backend.flow().announce_end(&failed.task).await;
                self.delete(message).await;
            }
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "cannot fail the exhausted task"),
        }
    }
}
