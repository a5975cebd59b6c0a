//! Recording how an attempt ended, by [`AttemptEnd`]: an exited attempt has
//! its log and outputs uploaded and its final state written (or is queued
//! again for a retry) before its message is deleted; a cancelled one keeps
//! its log; a stopped one is released for other workers; one that lost its
//! task writes nothing more. Every write is fenced by the attempt.

use std::time::Duration;

use chrono::Utc;
use wharf_core::lifecycle::{self, verdict, Exit, Outcome, Verdict};
use wharf_core::model::{Reason, Status, Task};
use wharf_core::retry::retry_transient;
use wharf_core::Error;

use super::lease::LeaseVerdict;
use super::outputs::read_result;
use super::{Attempt, AttemptEnd, Closing};
use crate::executor::Ended;
use crate::worker::Worker;

/// What the record writes, decided while the lease is still kept.
enum Decision {
    /// The outcome is known: write it (or queue a retry).
    Finish(Verdict, Outcome),
    /// Give the task back for another worker.
    Release,
    /// The fence was lost: cancelled, deleted or taken over.
    Interrupted(LeaseVerdict),
}

impl Worker {
    /// The one way out of an attempt: decides from its end what to write
    /// (uploading what an exited attempt left), stops the lease keeper —
    /// once, on every path — and writes it.
    pub(super) async fn record(&self, attempt: Attempt, end: AttemptEnd) {
        let (closing, mut lease) = attempt.close().await;
        let decision = match end {
            // The lease keeper goes on while uploads run: large ones take
            // time. Losing the task stops them, so a lost attempt does not
            // overwrite the objects of the one that took over.
            AttemptEnd::Exited(ended) => tokio::select! {
                outcome = self.outcome(&closing, ended) => match outcome {
                    Some((verdict, outcome)) => Decision::Finish(verdict, outcome),
                    None => Decision::Release,
                },
                verdict = lease.lost() => Decision::Interrupted(verdict),
            },
            AttemptEnd::Interrupted(verdict) => Decision::Interrupted(verdict),
            AttemptEnd::Stopped => Decision::Release,
        };
        lease.stop().await;
        // A task taken over is another attempt's, and so is its place.
        let taken_over = matches!(decision, Decision::Interrupted(LeaseVerdict::Lost));
        match decision {
            Decision::Finish(verdict, outcome) => self.finish(&closing, verdict, outcome).await,
            Decision::Release => self.release(&closing).await,
            Decision::Interrupted(verdict) => self.interrupted(&closing, verdict).await,
        }
        if let Some(place) = closing.claim.place.as_ref().filter(|_| !taken_over) {
            place.give_back().await;
        }
    }

    /// Uploads what the attempt left and decides its verdict; `None` when
    /// the worker was stopped before the uploads were done.
    async fn outcome(&self, attempt: &Closing, ended: Ended) -> Option<(Verdict, Outcome)> {
        let task = &attempt.claim.task;
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
            log_truncated: ended.log_truncated,
        };
        let uploaded = self.upload(&attempt.run, &attempt.log).await;
        if attempt.run.stop.is_cancelled() {
            tracing::warn!("the worker stopped before the attempt's outputs were uploaded");
            return None;
        }
        let verdict = match uploaded {
            Ok(uploaded) => {
                outcome.result = read_result(&uploaded.found).unwrap_or_else(|note| {
                    notes.push(note);
                    None
                });
                notes.extend(uploaded.found.notes);
                outcome.outputs = uploaded.outputs;
                let (attempt, max, retry) = (
                    task.attempts_made(),
                    task.max_attempts,
                    task.retry_on_failure,
                );
                verdict(ended.exit, attempt, max, retry)
            }
            Err((reason, note)) => {
                notes.push(note);
                let status = Status::Failed;
                Verdict::Final { status, reason }
            }
        };
        // Notes may quote the task (an output's name): redacted like its log.
        let redaction = &attempt.run.secrets.redaction;
        outcome.message = (!notes.is_empty()).then(|| redaction.redact_str(&notes.join("; ")));
        Some((verdict, outcome))
    }

    /// Writes the final state (or queues a retry), waiting out outages, then
    /// lets go of the message.
    async fn finish(&self, attempt: &Closing, verdict: Verdict, outcome: Outcome) {
        let now = Utc::now();
        let next = |task: &Task| match verdict {
            Verdict::Final { status, reason } => {
                lifecycle::finish(task, (status, reason), outcome.clone(), now)
            }
            Verdict::Retry { reason } => {
                let note = format!("attempt {} ended with {reason}; retrying", task.attempt);
                lifecycle::requeue(task, Some(reason), outcome.exit_code, note, now)
            }
        };
        let written = self
            .write_fenced("recording the outcome", attempt, &next)
            .await;
        match (written, verdict) {
            (Ok(task), Verdict::Final { status, reason }) => {
                tracing::info!(%status, %reason, exit_code = ?outcome.exit_code, "attempt finished");
                finished(&task, status, reason);
                self.backend.flow().announce_end(&task).await;
                self.let_go(attempt).await;
            }
            (Ok(_), Verdict::Retry { reason }) => {
                tracing::info!(%reason, "attempt failed; the task is queued again");
                self.show_again(attempt).await;
            }
            (Err(err), _) => {
                tracing::warn!(error = %err, "cannot record the outcome; the message stays for takeover")
            }
        }
    }

    /// The lease keeper found the fence lost and the executor was stopped.
    async fn interrupted(&self, attempt: &Closing, verdict: LeaseVerdict) {
        match verdict {
            LeaseVerdict::Cancelled => {
                tracing::info!("attempt cancelled; process stopped");
                if let Err(err) = self.upload_log(&attempt.run, &attempt.log).await {
                    tracing::warn!(error = %err, "cannot upload the log of the cancelled attempt");
                }
                self.let_go(attempt).await;
            }
            LeaseVerdict::Deleted => {
                tracing::info!("task deleted; process stopped");
                self.let_go(attempt).await;
            }
            LeaseVerdict::Lost => {
                tracing::warn!("lease lost to another worker; this attempt's result is discarded")
            }
        }
    }

    /// Gives a stopped attempt back to the queue for another worker.
    async fn release(&self, attempt: &Closing) {
        if let Err(err) = self.upload_log(&attempt.run, &attempt.log).await {
            tracing::warn!(error = %err, "cannot upload the log of the released attempt");
        }
        let note = format!(
            "attempt {} released by {} at shutdown",
            attempt.claim.held.fence.attempt, attempt.claim.held.fence.worker_id
        );
        let now = Utc::now();
        let next = |task: &Task| lifecycle::requeue(task, None, None, note.clone(), now);
        match self
            .write_fenced("releasing the task", attempt, &next)
            .await
        {
            Ok(_) => {
                tracing::info!("attempt released for other workers");
                self.show_again(attempt).await;
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot release the task; it will be taken over when its lease expires")
            }
        }
    }

    /// Deletes the attempt's message: its work is done. A pushed task has
    /// none here; its backstop message is deleted by whichever worker
    /// receives it, once it finds the task finished.
    async fn let_go(&self, attempt: &Closing) {
        if let Some(message) = &attempt.claim.message {
            self.delete(message).await;
        }
    }

    /// Makes the attempt's message visible to every worker at once (a
    /// pushed task's backstop message becomes visible when its delay ends).
    async fn show_again(&self, attempt: &Closing) {
        if let Some(message) = &attempt.claim.message {
            self.set_visibility(message, Duration::ZERO).await;
        }
    }

    /// A fenced write of the attempt's task, retried through outages until
    /// the attempt is stopped.
    async fn write_fenced(
        &self,
        what: &'static str,
        attempt: &Closing,
        next: &(dyn Fn(&Task) -> Task + Send + Sync),
    ) -> Result<Task, Error> {
        retry_transient(what, &attempt.run.stop, || attempt.claim.held.update(next)).await
    }
}

/// Counts a finished task and records how long its last attempt ran.
fn finished(task: &Task, status: Status, reason: Reason) {
    let (status, reason) = (status.to_string(), reason.to_string());
    let ran = task.started_at.zip(task.finished_at).map(|(s, f)| f - s);
    if let Some(ran) = ran.and_then(|d| d.to_std().ok()) {
        metrics::histogram!("wharf_task_duration_seconds", "status" => status.clone())
            .record(ran.as_secs_f64());
    }
    metrics::counter!("wharf_tasks_finished_total", "status" => status, "reason" => reason)
        .increment(1);
}
