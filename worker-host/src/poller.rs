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
use wharf_core::queue::Received;

use crate::worker::{Handled, Worker};

/// SQS hands out at most ten messages per receive.
const MAX_BATCH: usize = 10;
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Runs until `shutdown` is cancelled (or `max_tasks` / `exit_when_idle`
/// say so), then drains. Returns once every attempt has ended.
pub async fn run(worker: Worker, shutdown: CancellationToken) {
    let worker = Arc::new(worker);
    let config = &worker.config;
    let slots = Arc::new(Semaphore::new(config.concurrency));
    let tracker = TaskTracker::new();
    let stop_all = CancellationToken::new();
    let ran = Arc::new(AtomicUsize::new(0));
    // Stops receiving when enough tasks have been taken on.
    let enough = CancellationToken::new();
    let mut backoff = Duration::from_millis(200);
    let mut last_busy = Instant::now();
    tracing::info!(worker_id = %config.worker_id, queues = ?config.queues, slots = config.concurrency, "worker started");
    let sweeper = tokio::spawn(sweep_containers(worker.clone(), shutdown.clone()));

    loop {
        let mut permits = tokio::select! {
            permit = slots.clone().acquire_many_owned(1) => vec![permit.expect("the semaphore is never closed")],
            _ = shutdown.cancelled() => break,
            _ = enough.cancelled() => break,
        };
        while permits.len() < MAX_BATCH {
            match slots.clone().try_acquire_owned() {
                Ok(permit) => permits.push(permit),
                Err(_) => break,
            }
        }
        let received = tokio::select! {
            received = receive(&worker, permits.len()) => received,
            _ = shutdown.cancelled() => break,
            _ = enough.cancelled() => break,
        };
        let messages = match received {
            Ok(messages) => {
                backoff = Duration::from_millis(200);
                messages
            }
            Err(err) => {
                tracing::warn!(error = %err, backoff_ms = backoff.as_millis() as u64, "receive failed; backing off");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.cancelled() => break,
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        let idle = messages.is_empty() && tracker.is_empty();
        if !idle {
            last_busy = Instant::now();
        } else if config
            .exit_when_idle
            .is_some_and(|limit| last_busy.elapsed() >= limit)
        {
            tracing::info!("idle for too long; exiting");
            break;
        }
        for message in messages {
            let permit = permits.pop().expect("no more messages than permits");
            spawn_handler(
                &tracker,
                Handler {
                    worker: worker.clone(),
                    message,
                    permit,
                    stop_all: stop_all.clone(),
                    ran: ran.clone(),
                    enough: enough.clone(),
                },
            );
        }
    }

    drain(&tracker, &stop_all, config.grace).await;
    sweeper.abort();
    tracing::info!(tasks_run = ran.load(Ordering::SeqCst), "worker stopped");
}

/// One message's handling, holding its slot until it ends.
struct Handler {
    worker: Arc<Worker>,
    message: Received,
    permit: OwnedSemaphorePermit,
    stop_all: CancellationToken,
    ran: Arc<AtomicUsize>,
    enough: CancellationToken,
}

fn spawn_handler(tracker: &TaskTracker, handler: Handler) {
    let max_tasks = handler.worker.config.max_tasks;
    tracker.spawn(async move {
        if handler
            .worker
            .handle(handler.message, &handler.stop_all)
            .await
            == Handled::Ran
        {
            let count = handler.ran.fetch_add(1, Ordering::SeqCst) + 1;
            if max_tasks.is_some_and(|max| count >= max) {
                handler.enough.cancel();
            }
        }
        drop(handler.permit);
    });
}

/// Receives from the first queue (in priority order) that has messages.
/// Only the last queue is long-polled, so higher ones are always checked
/// first on the next round.
async fn receive(worker: &Worker, max: usize) -> wharf_core::Result<Vec<Received>> {
    let config = &worker.config;
    // Hidden as long as a heartbeat keeps it hidden: if this worker dies
    // before its first beat, the message is back once the lease has passed.
    let visibility = config.lease + config.heartbeat;
    for (i, queue) in config.queues.iter().enumerate() {
        let last = i + 1 == config.queues.len();
        let wait = if last {
            config.poll_wait
        } else {
            Duration::ZERO
        };
        let messages = worker
            .backend
            .queues
            .receive(queue, max, wait, visibility)
            .await?;
        if !messages.is_empty() {
            return Ok(messages);
        }
    }
    Ok(Vec::new())
}

/// Removes leftover containers at start-up and then every lease period: a
/// crashed run of this host leaves its containers behind.
async fn sweep_containers(worker: Arc<Worker>, shutdown: CancellationToken) {
    let Some(containers) = &worker.containers else {
        return;
    };
    loop {
        if let Err(err) = containers.sweep(&worker.backend.store).await {
            tracing::warn!(error = %err, "container sweep failed; will retry");
        }
        tokio::select! {
            _ = tokio::time::sleep(worker.config.lease) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

/// Waits up to `grace` for running attempts, then stops the rest (they
/// release their tasks) and waits for that.
async fn drain(tracker: &TaskTracker, stop_all: &CancellationToken, grace: Duration) {
    tracker.close();
    if tracker.is_empty() {
        return;
    }
    tracing::info!(
        running = tracker.len(),
        grace_secs = grace.as_secs(),
        "waiting for running tasks"
    );
    if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
        tracing::warn!(
            running = tracker.len(),
            "grace period over; stopping and releasing running tasks"
        );
        stop_all.cancel();
        tracker.wait().await;
    }
}
