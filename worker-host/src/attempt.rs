//! One claimed attempt, from start to the final record: prepare its
//! directory, run it while the heartbeat holds the lease, upload what it
//! left, and record the outcome (retrying through outages) before the
//! message is deleted. A cancelled attempt keeps its log; a stopped one
//! (shutdown) is released for other workers; one that lost its lease writes
//! nothing more.

use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;
use wharf_core::artifacts::{log_key, output_key, payload_key};
use wharf_core::lifecycle::{self, verdict, Exit, Outcome, Verdict};
use wharf_core::model::{Fence, Reason, Status, Task};
use wharf_core::queue::Received;

use crate::executor::{Ended, Run};
use crate::heartbeat::{persist, Beating, Heartbeat, Interrupt};
use crate::outputs::{self, Found};
use crate::worker::Worker;

/// The attempt whose outcome is being recorded.
struct Recording<'a> {
    task: &'a Task,
    fence: &'a Fence,
    run: &'a Run,
    message: &'a Received,
}

impl Worker {
    pub(crate) async fn run_attempt(
        &self,
        task: Task,
        message: Received,
        stop_all: &CancellationToken,
    ) {
        let fence = Fence {
            worker_id: self.config.worker_id.clone(),
            attempt: task.attempt,
        };
        tracing::info!("attempt started");
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
        };
        let interrupt = Arc::new(OnceLock::new());
        let heartbeat = Heartbeat {
            backend: self.backend.clone(),
            task_id: task.id.clone(),
            fence: fence.clone(),
            message: message.clone(),
            log_file: run.log_file(),
            every: self.config.heartbeat,
            lease: self.config.lease,
            stop: run.stop.clone(),
            interrupt: interrupt.clone(),
        }
        .start();

        let ended = match self.prepare(&task, &run).await {
            Ok(()) => self.execute(&task.spec, &run).await,
            Err(message) => Ended::start_failed(message),
        };
        match interrupt.get() {
            Some(Interrupt::LeaseLost) => {
                heartbeat.stop().await;
                tracing::warn!("lease lost to another worker; this attempt's result is discarded")
            }
            Some(Interrupt::Cancelled) => {
                heartbeat.stop().await;
                tracing::info!("attempt cancelled; process stopped");
                self.upload_log(&task, &run).await.ok();
                self.delete(&message).await;
            }
            None if stop_all.is_cancelled() => {
                heartbeat.stop().await;
                self.release(&task, &fence, &run, &message).await
            }
            None => {
                let recording = Recording {
                    task: &task,
                    fence: &fence,
                    run: &run,
                    message: &message,
                };
                self.record(recording, ended, heartbeat).await
            }
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
                let key = payload_key(&task.id);
                persist("payload download", &run.stop, || {
                    self.backend.artifacts.get_from(&key, 0)
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
            .map_err(|e| format!("cannot write the payload file: {e}"))
    }

    /// Uploads the log and outputs (the heartbeat goes on meanwhile: large
    /// ones take time), then writes the final state (or queues a retry) and
    /// deletes the message. Outages are waited out; only losing the fence
    /// (or shutdown) gives up.
    async fn record(&self, recording: Recording<'_>, ended: Ended, heartbeat: Beating) {
        let Recording {
            task,
            fence,
            run,
            message,
        } = recording;
        let exit_code = match ended.exit {
            Exit::Code(code) => Some(code),
            _ => None,
        };
        let mut notes: Vec<String> = ended.message.into_iter().collect();
        let mut outcome = Outcome {
            exit_code,
            message: None,
            result: None,
            outputs: Vec::new(),
        };
        let verdict = match self.upload(task, run).await {
            Ok(found) => {
                outcome.result = outputs::read_result(&found).unwrap_or_else(|note| {
                    notes.push(note);
                    None
                });
                notes.extend(found.notes.iter().cloned());
                outcome.outputs = found.files.into_iter().map(|c| c.file).collect();
                verdict(
                    ended.exit,
                    task.attempt,
                    task.max_attempts,
                    task.retry_on_failure,
                )
            }
            Err((reason, note)) => {
                notes.push(note);
                Verdict::Final {
                    status: Status::Failed,
                    reason,
                }
            }
        };
        heartbeat.stop().await;
        if run.stop.is_cancelled() {
            tracing::warn!("the attempt was stopped before its outcome could be written");
            return;
        }
        outcome.message = (!notes.is_empty()).then(|| notes.join("; "));
        let now = Utc::now();
        let write = persist("recording the outcome", &run.stop, || {
            self.backend
                .store
                .update_fenced(&task.id, fence, |t| match verdict {
                    Verdict::Final { status, reason } => {
                        lifecycle::finish(t, status, reason, outcome.clone(), now)
                    }
                    Verdict::Retry { reason } => {
                        let note = format!(
                            "attempt {} ended with {}; retrying",
                            t.attempt,
                            reason.as_str()
                        );
                        lifecycle::requeue(t, Some(reason), exit_code, note, now)
                    }
                })
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

    /// Uploads the attempt's log, retrying through outages unless the
    /// attempt was stopped (then it is one try).
    async fn upload_log(&self, task: &Task, run: &Run) -> Result<(), wharf_core::Error> {
        let log = run.log_file();
        if !log.exists() {
            return Ok(());
        }
        let key = log_key(&task.id, task.attempt);
        persist("log upload", &run.stop, || {
            self.backend.artifacts.put_file(&key, &log)
        })
        .await
    }

    /// Uploads the log, then every output file, or says why it could not.
    async fn upload(&self, task: &Task, run: &Run) -> Result<Found, (Reason, String)> {
        let failed = |what: &str, err: &dyn std::fmt::Display| {
            (Reason::UploadFailed, format!("{what} failed: {err}"))
        };
        self.upload_log(task, run)
            .await
            .map_err(|e| failed("log upload", &e))?;
        let dir = run.output_dir();
        let found = tokio::task::spawn_blocking(move || outputs::collect(&dir))
            .await
            .map_err(|e| failed("collecting outputs", &e))?
            .map_err(|e| failed("collecting outputs", &e))?;
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
            let key = output_key(&task.id, &collected.file.path);
            persist("output upload", &run.stop, || {
                self.backend.artifacts.put_file(&key, &collected.source)
            })
            .await
            .map_err(|e| failed(&format!("upload of {}", collected.file.path), &e))?;
        }
        Ok(found)
    }

    /// Gives a stopped attempt back to the queue for another worker.
    async fn release(&self, task: &Task, fence: &Fence, run: &Run, message: &Received) {
        let _ = self.upload_log(task, run).await;
        let note = format!(
            "attempt {} released by {} at shutdown",
            task.attempt, fence.worker_id
        );
        let now = Utc::now();
        match self
            .backend
            .store
            .update_fenced(&task.id, fence, |t| {
                lifecycle::requeue(t, None, None, note.clone(), now)
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
}
