//! One delivered message, from receipt to the final record: decide whether to
//! run it, claim it, run it while heartbeating, upload what it left, record
//! the outcome, and only then delete the message.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use wharf_core::artifacts::{log_key, output_key, payload_key};
use wharf_core::config::Backend;
use wharf_core::lifecycle::{self, on_delivery, verdict, Delivery, Exit, Outcome, Verdict};
use wharf_core::model::{ExecutorKind, Fence, Reason, Status, Task, TaskSpec};
use wharf_core::queue::Received;
use wharf_core::store::Versioned;
use wharf_core::Error;

use crate::config::WorkerConfig;
use crate::executor::container::ContainerHost;
use crate::executor::script::ScriptFetcher;
use crate::executor::{process, Ended, Run};
use crate::outputs::{self, Found};

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
                // Left alone, it is redelivered until SQS moves it to the DLQ.
                tracing::error!(queue = %message.queue, error = %err, "malformed message left for the dead-letter queue");
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
            tracing::debug!(wait_secs = wait.as_secs(), "task not due yet; deferring it");
            self.set_visibility(&message, wait).await;
            return Handled::Skipped;
        }
        match on_delivery(task, now) {
            Delivery::AlreadyFinished => {
                tracing::info!(status = %task.status, "task already finished; deleting the duplicate message");
                self.delete(&message).await;
                Handled::Skipped
            }
            Delivery::HeldElsewhere { lease_expires_at } => {
                let wait = (lease_expires_at - now).to_std().unwrap_or_default();
                self.set_visibility(&message, wait + Duration::from_secs(1))
                    .await;
                Handled::Skipped
            }
            Delivery::Exhausted => {
                self.fail_exhausted(&current, &message, now).await;
                Handled::Skipped
            }
            Delivery::Claim { attempt } => {
                let lease_until = now + self.config.lease;
                let next =
                    lifecycle::claimed(task, &self.config.worker_id, attempt, now, lease_until);
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
    async fn execute(&self, spec: &TaskSpec, run: &Run) -> Ended {
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

    async fn fail_exhausted(&self, current: &Versioned, message: &Received, now: DateTime<Utc>) {
        let mut failed = current.task.clone();
        let note = format!(
            "attempt {} lost its worker and no attempts are left",
            failed.attempt
        );
        let outcome = Outcome {
            exit_code: None,
            message: Some(note),
            result: None,
            outputs: Vec::new(),
        };
        lifecycle::finish(
            &mut failed,
            Status::Failed,
            Reason::WorkerLost,
            outcome,
            now,
        );
        match self.backend.store.replace(current, failed).await {
            Ok(_) => self.delete(message).await,
            Err(err) => tracing::warn!(error = %err, "cannot fail the exhausted task"),
        }
    }

    async fn run_attempt(&self, task: Task, message: Received, stop_all: &CancellationToken) {
        let fence = Fence {
            worker_id: self.config.worker_id.clone(),
            attempt: task.attempt,
        };
        tracing::info!("attempt started");
        let stop = stop_all.child_token();
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
            stop: stop.clone(),
        };

        let lease_lost = Arc::new(AtomicBool::new(false));
        let heartbeat_done = CancellationToken::new();
        let heartbeat = tokio::spawn(
            heartbeat(HeartbeatJob {
                backend: self.backend.clone(),
                task_id: task.id.clone(),
                fence: fence.clone(),
                message: message.clone(),
                log_file: run.log_file(),
                every: self.config.heartbeat,
                lease: self.config.lease,
                stop: stop.clone(),
                done: heartbeat_done.clone(),
                lease_lost: lease_lost.clone(),
            })
            .in_current_span(),
        );
        let ended = match self.prepare(&task, &run).await {
            Ok(()) => self.execute(&task.spec, &run).await,
            Err(message) => Ended::start_failed(message),
        };
        heartbeat_done.cancel();
        let _ = heartbeat.await;

        if lease_lost.load(Ordering::SeqCst) {
            tracing::warn!("lease lost to another worker; this attempt's result is discarded");
        } else if stop_all.is_cancelled() {
            self.release(&task, &fence, &run, &message).await;
        } else {
            self.record(&task, &fence, &run, ended, &message).await;
        }
        if let Err(err) = tokio::fs::remove_dir_all(&run.dir).await {
            tracing::warn!(error = %err, "cannot remove the attempt directory");
        }
    }

    /// Makes the attempt's directories and writes the payload file.
    async fn prepare(&self, task: &Task, run: &Run) -> Result<(), String> {
        for dir in [run.home(), run.output_dir()] {
            tokio::fs::create_dir_all(&dir)
                .await
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        // A container may run as any user: let it write its outputs.
        tokio::fs::set_permissions(&run.output_dir(), std::fs::Permissions::from_mode(0o777))
            .await
            .map_err(|e| format!("cannot open up the output directory: {e}"))?;
        let payload = match &task.payload {
            Some(payload) => payload.to_string().into_bytes(),
            None if task.payload_in_s3 => {
                self.backend
                    .artifacts
                    .get_from(&payload_key(&task.id), 0)
                    .await
                    .map_err(|e| format!("cannot fetch the payload: {e}"))?
                    .ok_or("the payload is missing from S3")?
                    .data
            }
            None => b"{}".to_vec(),
        };
        tokio::fs::write(run.payload_file(), payload)
            .await
            .map_err(|e| format!("cannot write the payload file: {e}"))
    }

    /// Uploads the log and outputs, then writes the final state (or queues a
    /// retry) and deletes the message.
    async fn record(
        &self,
        task: &Task,
        fence: &Fence,
        run: &Run,
        ended: Ended,
        message: &Received,
    ) {
        let upload = self.upload(task, run).await;
        let exit_code = match ended.exit {
            Exit::Code(code) => Some(code),
            _ => None,
        };
        let mut notes: Vec<String> = ended.message.into_iter().collect();
        let (verdict, outcome) = match upload {
            Ok(found) => {
                let result = outputs::read_result(&found).unwrap_or_else(|note| {
                    notes.push(note);
                    None
                });
                notes.extend(found.notes.iter().cloned());
                let verdict = verdict(
                    ended.exit,
                    task.attempt,
                    task.max_attempts,
                    task.retry_on_failure,
                );
                let outputs = found.files.into_iter().map(|c| c.file).collect();
                (
                    verdict,
                    Outcome {
                        exit_code,
                        message: None,
                        result,
                        outputs,
                    },
                )
            }
            Err((reason, note)) => {
                notes.push(note);
                let verdict = Verdict::Final {
                    status: Status::Failed,
                    reason,
                };
                (
                    verdict,
                    Outcome {
                        exit_code,
                        message: None,
                        result: None,
                        outputs: Vec::new(),
                    },
                )
            }
        };
        let outcome = Outcome {
            message: (!notes.is_empty()).then(|| notes.join("; ")),
            ..outcome
        };
        let now = Utc::now();
        let write = self
            .backend
            .store
            .update_fenced(&task.id, fence, |t| match verdict {
                Verdict::Final { status, reason } => {
                    lifecycle::finish(t, status, reason, outcome.clone(), now)
                }
                Verdict::Retry { reason } => lifecycle::requeue(
                    t,
                    Some(reason),
                    format!(
                        "attempt {} ended with {}; retrying",
                        t.attempt,
                        reason.as_str()
                    ),
                    now,
                ),
            })
            .await;
        match (write, verdict) {
            (Ok(_), Verdict::Final { status, reason }) => {
                tracing::info!(%status, reason = reason.as_str(), ?exit_code, "attempt finished");
                self.delete(message).await;
            }
            (Ok(_), Verdict::Retry { reason }) => {
                tracing::info!(
                    reason = reason.as_str(),
                    "attempt failed; the task is queued again"
                );
                self.set_visibility(message, Duration::ZERO).await;
            }
            (Err(err), _) => {
                tracing::warn!(error = %err, "cannot record the outcome; the message stays for takeover")
            }
        }
    }

    /// Uploads the log, then every output file, or says why it could not.
    async fn upload(&self, task: &Task, run: &Run) -> Result<Found, (Reason, String)> {
        let artifacts = &self.backend.artifacts;
        if run.log_file().exists() {
            artifacts
                .put_file(&log_key(&task.id, task.attempt), &run.log_file())
                .await
                .map_err(|e| (Reason::UploadFailed, format!("log upload failed: {e}")))?;
        }
        let dir = run.output_dir();
        let found = tokio::task::spawn_blocking(move || outputs::collect(&dir))
            .await
            .map_err(|e| {
                (
                    Reason::UploadFailed,
                    format!("collecting outputs failed: {e}"),
                )
            })?
            .map_err(|e| {
                (
                    Reason::UploadFailed,
                    format!("collecting outputs failed: {e}"),
                )
            })?;
        if found.total_size() > self.config.max_output_bytes {
            return Err((
                Reason::OutputTooLarge,
                format!(
                    "outputs total {} bytes, more than this host's limit of {}",
                    found.total_size(),
                    self.config.max_output_bytes
                ),
            ));
        }
        for collected in &found.files {
            artifacts
                .put_file(
                    &output_key(&task.id, &collected.file.path),
                    &collected.source,
                )
                .await
                .map_err(|e| {
                    (
                        Reason::UploadFailed,
                        format!("upload of {} failed: {e}", collected.file.path),
                    )
                })?;
        }
        Ok(found)
    }

    /// Gives a stopped attempt back to the queue for another worker.
    async fn release(&self, task: &Task, fence: &Fence, run: &Run, message: &Received) {
        if run.log_file().exists() {
            let _ = self
                .backend
                .artifacts
                .put_file(&log_key(&task.id, task.attempt), &run.log_file())
                .await;
        }
        let note = format!(
            "attempt {} released by {} at shutdown",
            task.attempt, fence.worker_id
        );
        let now = Utc::now();
        match self
            .backend
            .store
            .update_fenced(&task.id, fence, |t| {
                lifecycle::requeue(t, None, note.clone(), now)
            })
            .await
        {
            Ok(_) => {
                tracing::info!("attempt released for other workers");
                self.set_visibility(message, Duration::ZERO).await;
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot release the task; it will be taken over when its lease expires")
            }
        }
    }

    async fn delete(&self, message: &Received) {
        if let Err(err) = self.backend.queues.delete(message).await {
            tracing::warn!(error = %err, "cannot delete the message; it will be redelivered and recognised as done");
        }
    }

    async fn set_visibility(&self, message: &Received, visibility: Duration) {
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

struct HeartbeatJob {
    backend: Backend,
    task_id: String,
    fence: Fence,
    message: Received,
    log_file: std::path::PathBuf,
    every: Duration,
    lease: Duration,
    /// Cancelled when the lease is lost, to stop the attempt.
    stop: CancellationToken,
    /// Cancelled when the attempt has ended.
    done: CancellationToken,
    lease_lost: Arc<AtomicBool>,
}

/// Every `every`: renew the lease (fenced), extend the message's visibility
/// and upload the log so far. Losing the fence stops the attempt.
async fn heartbeat(job: HeartbeatJob) {
    let mut uploaded_log_size = 0;
    loop {
        tokio::select! {
            _ = job.done.cancelled() => return,
            _ = tokio::time::sleep(job.every) => {}
        }
        let now = Utc::now();
        let lease_until = now + job.lease;
        let renewed = job
            .backend
            .store
            .update_fenced(&job.task_id, &job.fence, |t| {
                t.lease_expires_at = Some(lease_until);
                t.updated_at = now;
            })
            .await;
        match renewed {
            Ok(_) => {}
            Err(Error::Conflict(_)) | Err(Error::NotFound(_)) => {
                tracing::warn!("lease lost; stopping the attempt");
                job.lease_lost.store(true, Ordering::SeqCst);
                job.stop.cancel();
                return;
            }
            Err(err) => tracing::warn!(error = %err, "lease renewal failed; will retry"),
        }
        let visibility = job.lease + job.every;
        if let Err(err) = job
            .backend
            .queues
            .set_visibility(&job.message, visibility)
            .await
        {
            tracing::warn!(error = %err, "cannot extend the message's visibility");
        }
        uploaded_log_size = upload_log_if_grown(&job, uploaded_log_size).await;
    }
}

async fn upload_log_if_grown(job: &HeartbeatJob, uploaded: u64) -> u64 {
    let size = file_size(&job.log_file).await;
    if size <= uploaded {
        return uploaded;
    }
    let key = log_key(&job.task_id, job.fence.attempt);
    match job.backend.artifacts.put_file(&key, &job.log_file).await {
        Ok(()) => size,
        Err(err) => {
            tracing::warn!(error = %err, "live log upload failed");
            uploaded
        }
    }
}

async fn file_size(path: &Path) -> u64 {
    tokio::fs::metadata(path)
        .await
        .map(|m| m.len())
        .unwrap_or(0)
}
