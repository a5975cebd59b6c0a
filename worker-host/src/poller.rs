//! The poll loop: wait for a free slot, long-poll the queues (highest
//! priority first) for at most as many messages as there are free slots,
//! and hand each to a tracked task. On shutdown: stop receiving, give running
//! attempts the grace period, then stop and release the rest.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use wharf_core::queue::{Lane, ReceiveOptions, Received};
use wharf_core::retry::retry;
use wharf_core::shutdown::{drain, Drained};

use crate::claim::Handled;
use crate::fleet::Registrar;
use crate::http::LocalHttp;
use crate::worker::Worker;

/// SQS hands out at most ten messages per receive.
const MAX_BATCH: usize = 10;

/// What the poll loop shares with the attempts it spawns and with the push
/// endpoint.
pub(crate) struct Shared {
    pub worker: Worker,
    /// Task slots: a running attempt holds one.
    pub slots: Arc<Semaphore>,
    pub tracker: TaskTracker,
    /// Cancelled when running attempts must stop at once.
    pub stop_all: CancellationToken,
    ran: AtomicUsize,
}

impl Shared {
    /// Counts an attempt that ran; after `max_tasks` the host takes no more.
    pub fn ran_one(&self) {
        let count = self.ran.fetch_add(1, Ordering::SeqCst) + 1;
        if self.worker.config.max_tasks.is_some_and(|max| count >= max) {
            self.worker.host.not_taking().cancel();
        }
    }
}

/// Registers the host and takes tasks until `shutdown` is cancelled (the
/// token the worker's [`HostState`](crate::fleet::HostState) was made
/// from), `max_tasks` or
/// `exit_when_idle` say so, or an operator drains or revokes it; then
/// drains. Returns once every attempt has ended and the host deregistered.
pub async fn run(worker: Worker, shutdown: CancellationToken) {
    run_serving(worker, shutdown, None).await
}

/// [`run`], with the host's local HTTP server (health, metrics, and the
/// push endpoint in push and hybrid mode) when `http` is given.
pub async fn run_serving(worker: Worker, shutdown: CancellationToken, http: Option<LocalHttp>) {
    let config = &worker.config;
    tracing::info!(worker_id = %config.worker_id, queues = ?config.queues, slots = config.concurrency, "worker started");
    let host = worker.host.clone();
    let registration = Registrar {
        fleet: worker.backend.fleet.clone(),
        config: config.clone(),
        host: host.clone(),
        executors: worker.executors.clone(),
    }
    .start();
    let grace = config.grace;
    let mode = config.mode;
    let shared = Arc::new(Shared {
        slots: Arc::new(Semaphore::new(config.concurrency)),
        tracker: TaskTracker::new(),
        worker,
        stop_all: CancellationToken::new(),
        ran: AtomicUsize::new(0),
    });
    let serving = http.map(|http| http.serve(shared.clone()));
    if mode.polls() {
        poll(&shared).await;
    } else {
        host.not_taking().cancelled().await;
    }
    let tracker = &shared.tracker;
    if host.is_drained() {
        // Drained by an operator: running tasks finish however long they
        // take; the host stays up, shown as draining, until it is shut
        // down or revoked.
        tokio::select! {
            _ = shutdown.cancelled() => {}
            _ = host.revoked().cancelled() => {}
        }
    }
    // Revoked: what runs is released at once.
    let grace = if host.revoked().is_cancelled() {
        Duration::ZERO
    } else {
        grace
    };
    if drain(tracker, grace).await == Drained::GraceOver {
        tracing::warn!("stopping and releasing running tasks");
        shared.stop_all.cancel();
        tracker.wait().await;
    }
    registration.stop().await;
    if let Some(serving) = serving {
        serving.stop().await;
    }
    tracing::info!(
        tasks_run = shared.ran.load(Ordering::SeqCst),
        "worker stopped"
    );
}

/// Receives and spawns handlers until receiving stops or the worker has
/// been idle for `exit_when_idle`.
async fn poll(shared: &Arc<Shared>) {
    let config = &shared.worker.config;
    let (slots, tracker) = (&shared.slots, &shared.tracker);
    let stop = shared.worker.host.not_taking();
    let mut last_busy = Instant::now();
    loop {
        let mut permits = tokio::select! {
            permits = free_slots(slots) => permits,
            _ = stop.cancelled() => return,
        };
        let retry_all = |_: &wharf_core::Error| true;
        let received = retry("receive", stop, retry_all, || {
            receive(&shared.worker, permits.len())
        });
        let Ok(messages) = received.await else { return };
        if !messages.is_empty() || !tracker.is_empty() {
            last_busy = Instant::now();
        } else if config
            .exit_when_idle
            .is_some_and(|limit| last_busy.elapsed() >= limit)
        {
            tracing::info!("idle for too long; exiting");
            return;
        }
        for message in messages {
            let permit = permits.pop().expect("no more messages than permits");
            tracker.spawn(handle(shared.clone(), message, permit));
        }
    }
}

/// Waits for one free slot, then takes whatever others are free (up to a
/// batch).
async fn free_slots(slots: &Arc<Semaphore>) -> Vec<OwnedSemaphorePermit> {
    let first = slots
        .clone()
        .acquire_owned()
        .await
        .expect("the semaphore is never closed");
    let mut permits = vec![first];
    while permits.len() < MAX_BATCH {
        match slots.clone().try_acquire_owned() {
            Ok(permit) => permits.push(permit),
            Err(_) => break,
        }
    }
    permits
}

/// Handles one message, holding its slot until it ends.
async fn handle(shared: Arc<Shared>, message: Received, permit: OwnedSemaphorePermit) {
    if shared.worker.handle(message, &shared.stop_all).await == Handled::Ran {
        shared.ran_one();
    }
    drop(permit);
}

/// Receives from the first queue (in priority order) that has messages.
/// Only the last queue is long-polled, so higher ones are always checked
/// first on the next round.
async fn receive(worker: &Worker, max: usize) -> wharf_core::Result<Vec<Received>> {
    let config = &worker.config;
    // Hidden as long as the lease keeper keeps it hidden: if this worker
    // dies before its first renewal, the message is back once the lease has
    // passed.
    let visibility = config.lease + config.heartbeat;
    for (i, queue) in config.queues.iter().enumerate() {
        let last = i + 1 == config.queues.len();
        let wait = if last {
            config.poll_wait
        } else {
            Duration::ZERO
        };
        let options = ReceiveOptions {
            max,
            wait,
            visibility,
        };
        let messages = worker
            .backend
            .queues
            .receive(queue, Lane::Tasks, options)
            .await?;
        if !messages.is_empty() {
            return Ok(messages);
        }
    }
    Ok(Vec::new())
}
