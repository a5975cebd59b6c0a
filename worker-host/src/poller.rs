//! The poll loop: wait for a free slot, long-poll the queues (highest
//! priority first) for at most as many messages as there are free slots,
//! and start each in a slot ([`Slots`]). On shutdown: stop receiving, give
//! running attempts the grace period, then stop and release the rest.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use wharf_core::queue::{Lane, ReceiveOptions, Received};
use wharf_core::retry::retry;

use crate::fleet::Registrar;
use crate::slots::Slots;
use crate::worker::Worker;

/// Registers the host and takes tasks into its `slots` until `shutdown` is
/// cancelled (the token the worker's [`HostState`](crate::fleet::HostState)
/// was made from), `max_tasks` or `exit_when_idle` say so, or an operator
/// drains or revokes it; then drains. Returns once every attempt has ended
/// and the host deregistered.
pub async fn run(slots: Arc<Slots>, shutdown: CancellationToken) {
    let worker = &slots.worker;
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
    if config.mode.polls() {
        poll(&slots).await;
    } else {
        host.not_taking().cancelled().await;
    }
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
        config.grace
    };
    slots.drain(grace).await;
    registration.stop().await;
    tracing::info!(tasks_run = slots.tasks_run(), "worker stopped");
}

/// Receives and starts handlers until receiving stops or the worker has
/// been idle for `exit_when_idle`.
async fn poll(slots: &Arc<Slots>) {
    let worker = &slots.worker;
    let stop = worker.host.not_taking();
    let mut last_busy = Instant::now();
    loop {
        let mut free = tokio::select! {
            free = slots.take_free() => free,
            _ = stop.cancelled() => return,
        };
        let retry_all = |_: &wharf_core::Error| true;
        let received = retry("receive", stop, retry_all, || receive(worker, free.len()));
        let Ok(messages) = received.await else { return };
        if !messages.is_empty() || !slots.idle() {
            last_busy = Instant::now();
        } else if worker
            .config
            .exit_when_idle
            .is_some_and(|limit| last_busy.elapsed() >= limit)
        {
            tracing::info!("idle for too long; exiting");
            return;
        }
        for message in messages {
            let slot = free.pop().expect("no more messages than free slots");
            slots.start(slot, |slots| async move {
                slots.worker.handle(message, &slots.stop_all).await
            });
        }
    }
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
