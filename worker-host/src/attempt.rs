//! One claimed attempt, from start to its record. It is supervised in one
//! place ([`Worker::supervise`]): a `select!` over the executor's exit, the
//! lease keeper's verdict and the shutdown decides an [`AttemptEnd`], and
//! [`Worker::record`] matches on it.
//!
//! Beside the attempt run the lease keeper ([`lease`]) and the live log
//! shipper ([`logs`]); what the task left is uploaded by [`upload`].

mod held;
pub mod lease;
pub mod logs;
pub mod outputs;
mod record;
pub mod upload;

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use wharf_core::artifacts::payload_key;
use wharf_core::model::{Fence, Task};
use wharf_core::queue::Received;
use wharf_core::retry::retry_transient;
use wharf_core::store::Versioned;
use wharf_core::validate::MAX_PAYLOAD_BYTES;

use crate::executor::{Ended, Run};
use crate::worker::Worker;
use held::Held;
use lease::{Keeping, LeaseKeeper, LeaseVerdict};
use logs::LogStream;

/// How an attempt ended: the one thing its record depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptEnd {
    /// The executor ended by itself (exit, timeout, OOM, start failure).
    Exited(Ended),
    /// The lease keeper found the fence lost; the executor was stopped.
    Interrupted(LeaseVerdict),
    /// The worker is shutting down and the grace period is over; the
    /// executor was stopped and the task is released.
    Stopped,
}

/// A claimed attempt: the task as claimed, its record and fence, its
/// message, and what the executor gets.
pub(crate) struct Attempt {
    pub task: Task,
    pub held: Arc<Held>,
    /// The message it came in; a pushed task has none.
    pub message: Option<Received>,
    pub run: Run,
}

impl Worker {
    pub(crate) async fn run_attempt(
        &self,
        claimed: Versioned,
        message: Option<Received>,
        stop_all: &CancellationToken,
    ) {
        let task = claimed.task.clone();
        tracing::info!("attempt started");
        let _running = self.host.running(&task.id, task.attempt);
        metrics::counter!("wharf_tasks_started_total", "queue" => task.queue.clone()).increment(1);
        if let Some(started) = task.started_at {
            let waited = (started - task.created_at).to_std().unwrap_or_default();
            metrics::histogram!("wharf_task_wait_seconds").record(waited.as_secs_f64());
        }
        let attempt = self.attempt(claimed, message, stop_all);
        let mut lease = LeaseKeeper {
            held: attempt.held.clone(),
            queues: self.backend.queues.clone(),
            message: attempt.message.clone(),
            every: self.config.heartbeat,
            lease: self.config.lease,
        }
        .start();
        let logs = LogStream::new(
            self.backend.artifacts.clone(),
            attempt.run.log_file(),
            (&attempt.task.id, attempt.task.attempt),
        )
        .start(self.config.heartbeat);
        let end = self.supervise(&attempt, &mut lease, stop_all).await;
        self.record(&attempt, end, lease, logs).await;
        if let Err(err) = tokio::fs::remove_dir_all(&attempt.run.dir).await {
            tracing::warn!(error = %err, "cannot remove the attempt directory");
        }
    }

    fn attempt(
        &self,
        claimed: Versioned,
        message: Option<Received>,
        stop_all: &CancellationToken,
    ) -> Attempt {
        let task = claimed.task.clone();
        let run = Run {
            task_id: task.id.clone(),
            attempt: task.attempt,
            worker_id: self.config.worker_id.clone(),
            dir: self
                .config
                .work_dir
                .join(format!("{}-{}", task.id, task.attempt)),
            timeout: Duration::from_secs(task.timeout_seconds.into()),
            kill_grace: self.config.kill_grace,
            stop: stop_all.child_token(),
            max_log_bytes: self.config.max_log_bytes,
        };
        let fence = Fence {
            worker_id: self.config.worker_id.clone(),
            attempt: task.attempt,
        };
        Attempt {
            held: Arc::new(Held::new(self.backend.store.clone(), fence, claimed)),
            task,
            message,
            run,
        }
    }

    /// Runs the attempt until it ends one way or another. When the lease
    /// keeper or the shutdown ends it, the executor is stopped and awaited:
    /// nothing it started outlives the attempt.
    async fn supervise(
        &self,
        attempt: &Attempt,
        lease: &mut Keeping,
        stop_all: &CancellationToken,
    ) -> AttemptEnd {
        let execution = async {
            match self.prepare(&attempt.task, &attempt.run).await {
                Ok(()) => {
                    self.executors
                        .execute(&attempt.task.spec, &attempt.run)
                        .await
                }
                Err(message) => Ended::start_failed(message),
            }
        };
        tokio::pin!(execution);
        let end = tokio::select! {
            ended = &mut execution => return AttemptEnd::Exited(ended),
            verdict = lease.lost() => AttemptEnd::Interrupted(verdict),
            _ = stop_all.cancelled() => AttemptEnd::Stopped,
        };
        attempt.run.stop.cancel();
        execution.await;
        end
    }

    /// Makes the attempt's directories and writes the payload file.
    async fn prepare(&self, task: &Task, run: &Run) -> Result<(), String> {
        for dir in [run.home(), run.output_dir()] {
            tokio::fs::create_dir_all(&dir)
                .await
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        // The attempt directory and `io/` stay the worker's, whatever the
        // worker's umask: others may pass through to the payload and the
        // output directory, not list or change them (the log lives here).
        // A container may run as any user: let it write its outputs.
        for (dir, mode) in [
            (run.dir.clone(), 0o711),
            (run.io_dir(), 0o711),
            (run.output_dir(), 0o777),
        ] {
            tokio::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode))
                .await
                .map_err(|e| format!("cannot set the mode of {}: {e}", dir.display()))?;
        }
        let payload = match &task.payload {
            Some(payload) => payload.to_string().into_bytes(),
            None if task.payload_in_s3 => {
                let key = payload_key(&task.id);
                retry_transient("payload download", &run.stop, || {
                    self.backend
                        .artifacts
                        .get_from(&key, 0, MAX_PAYLOAD_BYTES as u64)
                })
                .await
                .map_err(|e| format!("cannot fetch the payload: {e}"))?
                .ok_or("the payload is missing from S3")?
                .data
            }
            None => b"{}".to_vec(),
        };
        tokio::fs::write(run.payload_file(), payload)
            .await
            .map_err(|e| format!("cannot write the payload file: {e}"))?;
        let readable = std::fs::Permissions::from_mode(0o644);
        tokio::fs::set_permissions(run.payload_file(), readable)
            .await
            .map_err(|e| format!("cannot set the mode of the payload file: {e}"))
    }
}
