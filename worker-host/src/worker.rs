//! What a worker does with one delivered message: decide whether to run it
//! (finished already, held elsewhere, not due, not runnable here), claim it
//! with a conditional write, and hand it to [`crate::attempt`].

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use wharf_core::config::Backend;
use wharf_core::lifecycle::{self, on_delivery, Delivery};
use wharf_core::model::{ExecutorKind, Task, TaskSpec};
use wharf_core::queue::Received;
use wharf_core::store::{Transition, Versioned};
use wharf_core::Error;

use crate::config::WorkerConfig;
use crate::executor::container::ContainerHost;
use crate::executor::script::ScriptFetcher;
use crate::executor::{process, Ended, Run};

/// What became of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// An attempt ran on this host.
    Ran,
    /// Nothing ran here (finished already, held elsewhere, not due, …).
    Skipped,
}

pub struct Worker {
    pub backend: Backend,
    pub config: WorkerConfig,
    /// The Docker engine, when this host runs containers.
    pub containers: Option<ContainerHost>,
    pub scripts: ScriptFetcher,
}

impl Worker {
    /// Handles one message. `stop_all` is cancelled when running attempts
    /// must stop at once (shutdown after the grace period); they are then
    /// released for other workers.
    pub async fn handle(&self, message: Received, stop_all: &CancellationToken) -> Handled {
        let task_id = match message.task_message() {
            Ok(parsed) => parsed.task_id,
            Err(err) => {
                // Back at once: after the redrive count SQS moves it to the
                // DLQ, and it holds no slot meanwhile.
                tracing::error!(queue = %message.queue, receive_count = message.receive_count, error = %err, "malformed message; returning it for the dead-letter queue");
                self.set_visibility(&message, Duration::ZERO).await;
                return Handled::Skipped;
            }
        };
        let span = tracing::info_span!("task", task_id = %task_id);
        self.handle_task(&task_id, message, stop_all)
            .instrument(span)
            .await
    }

    async fn handle_task(
        &self,
        task_id: &str,
        message: Received,
        stop_all: &CancellationToken,
    ) -> Handled {
        let current = match self.backend.store.get(task_id).await {
            Ok(Some(current)) => current,
            Ok(None) => {
                tracing::warn!("message for a task that no longer exists; deleting it");
                self.delete(&message).await;
                return Handled::Skipped;
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot read the task; the message will be redelivered");
                return Handled::Skipped;
            }
        };
        let task = &current.task;
        let now = Utc::now();
        match on_delivery(task, &self.config.worker_id, now) {
            Delivery::AlreadyFinished => {
                tracing::info!(status = %task.status, "task already finished; deleting the leftover message");
                self.delete(&message).await;
                Handled::Skipped
            }
            Delivery::HeldElsewhere { lease_expires_at } => {
                let wait = (lease_expires_at - now).to_std().unwrap_or_default();
                self.set_visibility(&message, wait + Duration::from_secs(1))
                    .await;
                Handled::Skipped
            }
            Delivery::HeldHere => {
                // A duplicate of an attempt running here; its heartbeat keeps
                // the original message hidden.
                self.set_visibility(&message, self.config.lease).await;
                Handled::Skipped
            }
            Delivery::Exhausted => {
                self.fail_exhausted(task_id, &message, now).await;
                Handled::Skipped
            }
            Delivery::Claim { attempt } => self.claim(current, attempt, message, stop_all).await,
        }
    }

    async fn claim(
        &self,
        current: Versioned,
        attempt: u32,
        message: Received,
        stop_all: &CancellationToken,
    ) -> Handled {
        let task = &current.task;
        let now = Utc::now();
        if let Some(kind) = task.spec.kind() {
            if !self.can_run(kind).await {
                // Back off a little more on each delivery, so a capable
                // worker gets its chance; if none exists, SQS dead-letters
                // the message after its redrive count.
                tracing::info!(%kind, receive_count = message.receive_count, "this host cannot run this kind of task now; releasing it");
                let wait =
                    Duration::from_secs(message.receive_count.saturating_sub(1).min(5).into());
                self.set_visibility(&message, wait).await;
                return Handled::Skipped;
            }
        }
        if let Some(wait) = not_due_for(task, now) {
            // Delays beyond SQS's 15 minutes: hide the message again rather
            // than hold a slot.
            tracing::debug!(wait_secs = wait.as_secs(), "task not due yet; deferring it");
            self.set_visibility(&message, wait).await;
            return Handled::Skipped;
        }
        let lease_until = now + self.config.lease;
        let next = lifecycle::claimed(task, &self.config.worker_id, attempt, now, lease_until);
        match self.backend.store.replace(&current, next).await {
            Ok(claimed) => {
                let span = tracing::info_span!("attempt", attempt);
                self.run_attempt(claimed.task, message, stop_all)
                    .instrument(span)
                    .await;
                Handled::Ran
            }
            Err(Error::Conflict(_)) => {
                // The winner holds the lease now; look again after it.
                tracing::info!("another worker claimed the task first");
                self.set_visibility(&message, self.config.lease).await;
                Handled::Skipped
            }
            Err(err) => {
                tracing::warn!(error = %err, "claim failed; the message will be redelivered");
                Handled::Skipped
            }
        }
    }

    /// Whether this host may, and now can, run tasks of `kind`.
    async fn can_run(&self, kind: ExecutorKind) -> bool {
        if !self.config.executors.contains(&kind) {
            return false;
        }
        match (kind, &self.containers) {
            (ExecutorKind::Container, Some(host)) => host.available().await,
            (ExecutorKind::Container, None) => false,
            _ => true,
        }
    }

    /// Runs the spec with the executor of its kind.
    pub(crate) async fn execute(&self, spec: &TaskSpec, run: &Run) -> Ended {
        match (&spec.process, &spec.container, &spec.script) {
            (Some(process), _, _) => process::run_process(process, run).await,
            (_, Some(container), _) => match &self.containers {
                Some(host) => host.run(container, run).await,
                None => Ended::start_failed("this host has no Docker engine"),
            },
            (_, _, Some(script)) => self.scripts.run(script, run).await,
            _ => Ended::start_failed("the spec names no executor"),
        }
    }

    /// The lease of the last attempt lapsed and no attempts are left.
    async fn fail_exhausted(&self, task_id: &str, message: &Received, now: DateTime<Utc>) {
        let result = self
            .backend
            .store
            .transition(task_id, |task| {
                (on_delivery(task, &self.config.worker_id, now) == Delivery::Exhausted)
                    .then(|| lifecycle::lost_for_good(task, now))
            })
            .await;
        match result {
            Ok(Transition::Applied(_)) => {
                tracing::warn!("the last attempt lost its worker; the task failed");
                self.delete(message).await;
            }
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "cannot fail the exhausted task"),
        }
    }

    pub(crate) async fn delete(&self, message: &Received) {
        if let Err(err) = self.backend.queues.delete(message).await {
            tracing::warn!(error = %err, "cannot delete the message; it will be redelivered and recognised as done");
        }
    }

    pub(crate) async fn set_visibility(&self, message: &Received, visibility: Duration) {
        if let Err(err) = self
            .backend
            .queues
            .set_visibility(message, visibility)
            .await
        {
            tracing::warn!(error = %err, "cannot change the message's visibility");
        }
    }
}

/// How long until a delayed task is due, if it is not yet.
fn not_due_for(task: &Task, now: DateTime<Utc>) -> Option<Duration> {
    let due = task.created_at + chrono::Duration::seconds(task.delay_seconds.into());
    (due > now).then(|| (due - now).to_std().unwrap_or_default())
}
