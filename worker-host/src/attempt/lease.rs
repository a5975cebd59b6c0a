//! The lease keeper of a running attempt: every `--heartbeat-secs` it renews
//! the lease in the task record (fenced by worker and attempt) and extends
//! the message's visibility — nothing else, so nothing can delay a renewal.
//! When the fence no longer holds it reports why, once: the task was
//! cancelled, deleted, or taken over.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use wharf_core::lifecycle::{self, Hold};
use wharf_core::queue::{Queue, Received};
use wharf_core::Error;

use super::held::Held;
use super::place::PlaceHeld;
use crate::background::Background;

/// Why an attempt no longer holds its task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseVerdict {
    /// A user cancelled the task.
    Cancelled,
    /// The task's record was deleted.
    Deleted,
    /// Another worker holds the task now.
    Lost,
}

pub struct LeaseKeeper {
    pub held: Arc<Held>,
    pub queues: Arc<dyn Queue>,
    /// The message the task came in; a pushed task has none.
    pub message: Option<Received>,
    pub every: Duration,
    pub lease: Duration,
    /// The attempt's concurrency place, renewed with the lease.
    pub place: Option<Arc<PlaceHeld>>,
}

/// A lease keeper running beside its attempt.
pub struct Keeping {
    verdict: oneshot::Receiver<LeaseVerdict>,
    keeper: Background<()>,
}

impl Keeping {
    /// Resolves once the fence is lost, with why; never while it holds.
    pub async fn lost(&mut self) -> LeaseVerdict {
        match (&mut self.verdict).await {
            Ok(verdict) => verdict,
            // The keeper ended without a verdict: it was stopped.
            Err(_) => std::future::pending().await,
        }
    }

    /// Stops renewing and waits until the keeper has.
    pub async fn stop(self) {
        self.keeper.stop().await
    }
}

impl LeaseKeeper {
    /// Starts keeping the lease in the background, in the current span.
    pub fn start(self) -> Keeping {
        let (report, verdict) = oneshot::channel();
        let keeper = Background::spawn(|done| self.run(report, done));
        Keeping { verdict, keeper }
    }

    async fn run(self, report: oneshot::Sender<LeaseVerdict>, done: CancellationToken) {
        loop {
            tokio::select! {
                _ = done.cancelled() => return,
                _ = tokio::time::sleep(self.every) => {}
            }
            match self.renew().await {
                Ok(lease_until) => {
                    self.extend_visibility().await;
                    if let Some(place) = &self.place {
                        place.renew(lease_until).await;
                    }
                }
                Err(Error::Conflict(_)) => {
                    let verdict = self.why_lost().await;
                    tracing::warn!(?verdict, "the attempt no longer holds its task");
                    let _ = report.send(verdict);
                    return;
                }
                // An outage: keep trying; the fence, not the clock, decides
                // who may write.
                Err(err) => tracing::warn!(error = %err, "lease renewal failed; will retry"),
            }
        }
    }

    /// Renews the lease: until when.
    async fn renew(&self) -> Result<DateTime<Utc>, Error> {
        let now = Utc::now();
        let lease_until = now + self.lease;
        let renewed = |task: &_| lifecycle::renewed(task, lease_until, now);
        self.held.update(&renewed).await.map(|_| lease_until)
    }

    async fn extend_visibility(&self) {
        let Some(message) = &self.message else { return };
        let visibility = self.lease + self.every;
        if let Err(err) = self.queues.set_visibility(message, visibility).await {
            tracing::warn!(error = %err, "cannot extend the message's visibility");
        }
    }

    async fn why_lost(&self) -> LeaseVerdict {
        match self.held.hold_now().await {
            Ok(Hold::Cancelled) => LeaseVerdict::Cancelled,
            Ok(Hold::Deleted) => LeaseVerdict::Deleted,
            // Held again by the time of this read cannot be: the fence only
            // moves on. Treat it as lost, like any other answer.
            Ok(Hold::Held | Hold::Lost) | Err(_) => LeaseVerdict::Lost,
        }
    }
}
