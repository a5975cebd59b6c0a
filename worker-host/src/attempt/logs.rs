//! Shipping an attempt's log as appended parts ([`wharf_core::logs`]):
//! while the attempt runs, whatever the log file grew by is uploaded every
//! heartbeat, so `GET /v1/tasks/{id}/logs` follows it with a lag of a few
//! seconds; when it ends, the rest is. A byte once shipped is never
//! uploaded again. The shipper runs apart from the lease keeper, so a slow
//! upload never delays a lease renewal.

use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use wharf_core::artifacts::Artifacts;
use wharf_core::logs::{log_part_key, MAX_LOG_PART_BYTES};

use crate::background::Background;

/// An attempt's log file and how much of it is in the artifact store.
pub struct LogStream {
    artifacts: Arc<dyn Artifacts>,
    log_file: PathBuf,
    task_id: String,
    attempt: u32,
    /// Bytes of the file already stored.
    shipped: AtomicU64,
}

impl LogStream {
    pub fn new(
        artifacts: Arc<dyn Artifacts>,
        log_file: PathBuf,
        (task_id, attempt): (&str, u32),
    ) -> Self {
        LogStream {
            artifacts,
            log_file,
            task_id: task_id.to_owned(),
            attempt,
            shipped: AtomicU64::new(0),
        }
    }

    /// Uploads what the file holds beyond what was shipped, in parts of at
    /// most [`MAX_LOG_PART_BYTES`]. A part that fails is shipped again,
    /// from the same offset under the same key, by the next call.
    pub async fn ship(&self) -> wharf_core::Result<()> {
        let size = match tokio::fs::metadata(&self.log_file).await {
            Ok(metadata) => metadata.len(),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(err) => return Err(err.into()),
        };
        loop {
            let shipped = self.shipped.load(Ordering::Acquire);
            if shipped >= size {
                return Ok(());
            }
            let length = (size - shipped).min(MAX_LOG_PART_BYTES);
            let part = self.read_part(shipped, length).await?;
            let key = log_part_key(&self.task_id, self.attempt, shipped);
            self.artifacts
                .put_bytes(&key, part, "text/plain; charset=utf-8")
                .await?;
            self.shipped.store(shipped + length, Ordering::Release);
        }
    }

    async fn read_part(&self, offset: u64, length: u64) -> std::io::Result<Vec<u8>> {
        let path = self.log_file.clone();
        tokio::task::spawn_blocking(move || {
            let mut part = vec![0; length as usize];
            std::fs::File::open(path)?.read_exact_at(&mut part, offset)?;
            Ok(part)
        })
        .await
        .map_err(std::io::Error::other)?
    }

    /// Ships the log every `every` until stopped.
    pub fn start(self, every: Duration) -> Shipping {
        Background::spawn(move |done| self.follow(every, done))
    }

    async fn follow(self, every: Duration, done: CancellationToken) -> LogStream {
        loop {
            tokio::select! {
                _ = done.cancelled() => return self,
                _ = tokio::time::sleep(every) => {}
            }
            if let Err(err) = self.ship().await {
                tracing::warn!(error = %err, "live log upload failed");
            }
        }
    }
}

/// A log being shipped beside its attempt; stopping it gives the stream
/// back for the last part.
pub type Shipping = Background<LogStream>;
