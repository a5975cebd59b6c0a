//! The heartbeat of a running attempt: every `--heartbeat-secs`, renew the
//! lease in the task record (fenced by worker and attempt), extend the
//! message's visibility, and upload the log so far. When the fence is lost
//! — the task was cancelled, or another worker took it over — the attempt is
//! stopped and told why.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;
use wharf_core::artifacts::log_key;
use wharf_core::config::Backend;
use wharf_core::model::{Fence, Status};
use wharf_core::queue::Received;
use wharf_core::Error;

/// Why an attempt was stopped from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupt {
    /// A user cancelled the task.
    Cancelled,
    /// Another worker holds the task now; write nothing more.
    LeaseLost,
}

pub struct Heartbeat {
    pub backend: Backend,
    pub task_id: String,
    pub fence: Fence,
    pub message: Received,
    pub log_file: PathBuf,
    pub every: Duration,
    pub lease: Duration,
    /// Cancelled to stop the attempt when the fence is lost.
    pub stop: CancellationToken,
    /// Set (once) to why the attempt was stopped.
    pub interrupt: Arc<OnceLock<Interrupt>>,
}

/// A heartbeat running beside its attempt.
pub struct Beating {
    done: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Beating {
    /// Stops the heartbeat and waits until it has.
    pub async fn stop(self) {
        self.done.cancel();
        let _ = self.task.await;
    }
}

impl Heartbeat {
    /// Starts beating in the background, in the current span.
    pub fn start(self) -> Beating {
        use tracing::Instrument;
        let done = CancellationToken::new();
        let task = tokio::spawn(self.run(done.clone()).in_current_span());
        Beating { done, task }
    }

    /// Beats until `done` is cancelled or the fence is lost.
    async fn run(self, done: CancellationToken) {
        let mut uploaded_log_size = 0;
        loop {
            tokio::select! {
                _ = done.cancelled() => return,
                _ = tokio::time::sleep(self.every) => {}
            }
            let now = Utc::now();
            let lease_until = now + self.lease;
            let renewed = self
                .backend
                .store
                .update_fenced(&self.task_id, &self.fence, |t| {
                    t.lease_expires_at = Some(lease_until);
                    t.updated_at = now;
                })
                .await;
            match renewed {
                Ok(_) => {}
                Err(Error::Conflict(_)) => {
                    let why = self.why_lost().await;
                    tracing::warn!(?why, "the attempt no longer holds its task; stopping it");
                    let _ = self.interrupt.set(why);
                    self.stop.cancel();
                    return;
                }
                // An outage: keep beating; the fence, not the clock, decides
                // who may write.
                Err(err) => {
                    tracing::warn!(error = %err, "lease renewal failed; will retry");
                    continue;
                }
            }
            let visibility = self.lease + self.every;
            if let Err(err) = self
                .backend
                .queues
                .set_visibility(&self.message, visibility)
                .await
            {
                tracing::warn!(error = %err, "cannot extend the message's visibility");
            }
            uploaded_log_size = self.upload_log_if_grown(uploaded_log_size).await;
        }
    }

    async fn why_lost(&self) -> Interrupt {
        match self.backend.store.get(&self.task_id).await {
            Ok(Some(current))
                if current.task.status == Status::Cancelled
                    && current.task.fence().as_ref() == Some(&self.fence) =>
            {
                Interrupt::Cancelled
            }
            _ => Interrupt::LeaseLost,
        }
    }

    async fn upload_log_if_grown(&self, uploaded: u64) -> u64 {
        let size = tokio::fs::metadata(&self.log_file)
            .await
            .map(|m| m.len())
            .unwrap_or(0);
        if size <= uploaded {
            return uploaded;
        }
        let key = log_key(&self.task_id, self.fence.attempt);
        match self.backend.artifacts.put_file(&key, &self.log_file).await {
            Ok(()) => size,
            Err(err) => {
                tracing::warn!(error = %err, "live log upload failed");
                uploaded
            }
        }
    }
}

/// Retries `op` while it fails transiently (an outage), backing off up to
/// 30 s, until it succeeds, fails for good, or `give_up` is cancelled.
pub async fn persist<T, F, Fut>(
    what: &str,
    give_up: &CancellationToken,
    mut op: F,
) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>>,
{
    let mut backoff = Duration::from_millis(250);
    loop {
        match op().await {
            Err(err) if err.is_transient() && !give_up.is_cancelled() => {
                tracing::warn!(operation = what, error = %err, backoff_ms = backoff.as_millis() as u64, "transient failure; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = give_up.cancelled() => return Err(err),
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
            other => return other,
        }
    }
}
