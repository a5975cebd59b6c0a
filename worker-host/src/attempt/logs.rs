//! Live log shipping: while an attempt runs, its log file is uploaded every
//! heartbeat whenever it has grown, so `GET /v1/tasks/{id}/logs` follows it
//! with a lag of a few seconds. It runs apart from the lease keeper, so a
//! slow upload never delays a lease renewal.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use wharf_core::artifacts::Artifacts;

pub struct LogShipper {
    pub artifacts: Arc<dyn Artifacts>,
    pub log_file: PathBuf,
    pub key: String,
    pub every: Duration,
}

/// A shipper running beside its attempt.
pub struct Shipping {
    done: CancellationToken,
    task: JoinHandle<()>,
}

impl Shipping {
    /// Stops shipping and waits for an upload under way.
    pub async fn stop(self) {
        self.done.cancel();
        let _ = self.task.await;
    }
}

impl LogShipper {
    pub fn start(self) -> Shipping {
        let done = CancellationToken::new();
        let task = tokio::spawn(self.run(done.clone()).in_current_span());
        Shipping { done, task }
    }

    async fn run(self, done: CancellationToken) {
        let mut shipped = 0;
        loop {
            tokio::select! {
                _ = done.cancelled() => return,
                _ = tokio::time::sleep(self.every) => {}
            }
            let size = tokio::fs::metadata(&self.log_file)
                .await
                .map_or(0, |m| m.len());
            if size <= shipped {
                continue;
            }
            match self.artifacts.put_file(&self.key, &self.log_file).await {
                Ok(()) => shipped = size,
                Err(err) => tracing::warn!(error = %err, "live log upload failed"),
            }
        }
    }
}
