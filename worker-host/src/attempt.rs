//! One claimed attempt, from its claim to its record, in the order it runs:
//!
//! 1. [`Worker::run_attempt`] is the one way in, for polled and pushed
//!    tasks alike: it [starts](Worker::start) an [`Attempt`], which owns the
//!    claim, the run, the lease keeper ([`lease`]) and the live log shipper
//!    ([`logs`]);
//! 2. [`prepare`] makes the attempt's directory and payload file, and
//!    resolves its secrets (into the [`Run`], whose log they redact);
//! 3. [`Worker::supervise`] runs it: a `select!` over the executor's exit,
//!    the lease keeper's verdict and the shutdown decides an [`AttemptEnd`];
//! 4. [`record`] is the one way out: it takes the attempt and its end,
//!    uploads what the task left ([`upload`]), stops the lease keeper once
//!    and writes the outcome.

mod held;
pub mod lease;
pub mod logs;
pub mod outputs;
pub mod place;
mod prepare;
mod record;
pub mod upload;

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use wharf_core::model::{Fence, Task};
use wharf_core::queue::Received;
use wharf_core::store::Versioned;

use crate::executor::{Ended, Run};
use crate::secrets::Resolved;
use crate::worker::Worker;
use held::Held;
use lease::{Keeping, LeaseKeeper, LeaseVerdict};
use logs::{LogStream, Shipping};
use place::PlaceHeld;

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

/// What an attempt holds from its claim until its record, and what runs
/// beside it. Anything more an attempt comes to hold (values resolved when
/// it starts, a filter for what leaves it, its standard input) is one more
/// field here: set up in [`Worker::start`] or written by [`prepare`], given
/// to the executor through its [`Run`] and to [`record`] through
/// [`Closing`].
pub(crate) struct Attempt {
    pub claim: Claim,
    /// What the executor gets; its directory is removed after the record.
    pub run: Run,
    /// Renews the lease while the attempt runs and while it uploads.
    lease: Keeping,
    /// Ships the live log while the attempt runs.
    logs: Shipping,
}

/// The claim: the task as claimed, its record and fence, and the message
/// it came in.
pub(crate) struct Claim {
    pub task: Task,
    pub held: Arc<Held>,
    /// A pushed task has none.
    pub message: Option<Received>,
    /// Its place under its concurrency key, if it has one.
    pub place: Option<Arc<PlaceHeld>>,
}

/// A closing attempt, its log shipper stopped: what its record writes
/// from, and the lease keeper it stops (once, whichever way it ended).
pub(crate) struct Closing {
    pub claim: Claim,
    pub run: Run,
    /// The log, for its last part.
    pub log: LogStream,
}

impl Attempt {
    /// Stops the log shipper; the lease keeper goes on, for the record to
    /// stop once its uploads are done.
    async fn close(self) -> (Closing, Keeping) {
        let log = self.logs.stop().await;
        let closing = Closing {
            claim: self.claim,
            run: self.run,
            log,
        };
        (closing, self.lease)
    }
}

impl Worker {
    /// Runs one claimed attempt to its record (`message`: the one it came
    /// in; a pushed task has none). The poller and the push endpoint both
    /// come here, each from a slot of [`crate::slots::Slots`].
    pub(crate) async fn run_attempt(
        &self,
        claimed: Versioned,
        (message, place): (Option<Received>, Option<PlaceHeld>),
        stop_all: &CancellationToken,
    ) {
        let span = tracing::info_span!("attempt", attempt = claimed.task.attempt);
        async {
            let task = &claimed.task;
            tracing::info!("attempt started");
            let _running = self.host.running(&task.id, task.attempt);
            started(task);
            let mut attempt = self.start(claimed, (message, place), stop_all);
            let end = self.supervise(&mut attempt, stop_all).await;
            let dir = attempt.run.dir.clone();
            self.record(attempt, end).await;
            if let Err(err) = tokio::fs::remove_dir_all(&dir).await {
                tracing::warn!(error = %err, "cannot remove the attempt directory");
            }
        }
        .instrument(span)
        .await
    }

    /// The attempt of a claimed task, with its lease keeper and log
    /// shipper started beside it.
    fn start(
        &self,
        claimed: Versioned,
        (message, place): (Option<Received>, Option<PlaceHeld>),
        stop_all: &CancellationToken,
    ) -> Attempt {
        let place = place.map(Arc::new);
        let task = claimed.task.clone();
        let run = self.run_of(&task, stop_all);
        let fence = Fence {
            worker_id: self.config.worker_id.clone(),
            attempt: task.attempt,
        };
        let held = Arc::new(Held::new(self.backend.store.clone(), fence, claimed));
        let lease = LeaseKeeper {
            held: held.clone(),
            queues: self.backend.queues.clone(),
            message: message.clone(),
            every: self.config.heartbeat,
            lease: self.config.lease,
            place: place.clone(),
        }
        .start();
        let logs = LogStream::new(
            self.backend.artifacts.clone(),
            run.log_file(),
            (&task.id, task.attempt),
        )
        .start(self.config.heartbeat);
        Attempt {
            claim: Claim {
                task,
                held,
                message,
                place,
            },
            run,
            lease,
            logs,
        }
    }

    /// What the executor gets for this attempt of `task`.
    fn run_of(&self, task: &Task, stop_all: &CancellationToken) -> Run {
        Run {
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
            secrets: Arc::new(Resolved::none()),
            array: task.array_index.zip(task.array_size),
        }
    }

    /// Prepares and runs the attempt until it ends one way or another.
    /// When the lease keeper or the shutdown ends it, the executor is
    /// stopped and awaited: nothing it started outlives the attempt.
    async fn supervise(&self, attempt: &mut Attempt, stop_all: &CancellationToken) -> AttemptEnd {
        let prepared = tokio::select! {
            prepared = self.prepare(&attempt.claim.task, &attempt.run) => prepared,
            verdict = attempt.lease.lost() => return AttemptEnd::Interrupted(verdict),
            _ = stop_all.cancelled() => return AttemptEnd::Stopped,
        };
        match prepared {
            Ok(secrets) => attempt.run.secrets = Arc::new(secrets),
            Err(failure) => return AttemptEnd::Exited(Ended::start_failed(failure)),
        }
        let (task, run) = (&attempt.claim.task, &attempt.run);
        let execution = self.executors.execute(&task.spec, run);
        tokio::pin!(execution);
        let end = tokio::select! {
            ended = &mut execution => return AttemptEnd::Exited(ended),
            verdict = attempt.lease.lost() => AttemptEnd::Interrupted(verdict),
            _ = stop_all.cancelled() => AttemptEnd::Stopped,
        };
        run.stop.cancel();
        execution.await;
        end
    }
}

/// Counts a started attempt and records how long its task waited.
fn started(task: &Task) {
    metrics::counter!("wharf_tasks_started_total", "queue" => task.queue.clone()).increment(1);
    if let Some(started) = task.started_at {
        let waited = (started - task.created_at).to_std().unwrap_or_default();
        metrics::histogram!("wharf_task_wait_seconds").record(waited.as_secs_f64());
    }
}
