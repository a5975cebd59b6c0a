//! `wharf-control`, the control plane's background work: it settles the
//! dependents of every task announced as ended on the control queue
//! within moments, and every clock tick it settles whatever waits and
//! sends what a crash left unsent ([`Flow::sweep`]).
//!
//! Under Lambda, SQS delivers the control queue's batches and an
//! EventBridge rule the ticks ([`on_event`]); locally, [`run`] does both.
//! Several may run at once: every write they make is conditional.

use std::time::Duration;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use serde_json::Value;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use wharf_core::flow::{Flow, CONTROL_QUEUE};
use wharf_core::queue::{Lane, ReceiveOptions};
use wharf_core::retry::retry;
use wharf_core::{Backend, Error};

/// The longest a receive waits for an event (SQS's long-poll limit).
const LONG_POLL: Duration = Duration::from_secs(20);

/// One tick: every waiting task settled, every unsent one sent.
pub async fn tick(flow: Flow<'_>) -> Result<(), Error> {
    let (sent, settled) = flow.sweep().await?;
    if settled + sent > 0 {
        tracing::info!(settled, sent, "tick");
    }
    Ok(())
}

/// One Lambda invocation: a batch of the control queue (records that
/// cannot be handled now are reported, so SQS delivers them again), or
/// anything else — the EventBridge rule's scheduled event — a tick.
pub async fn on_event(flow: Flow<'_>, event: Value) -> Result<Value, Error> {
    if event.get("Records").is_none() {
        tick(flow).await?;
        return Ok(Value::Object(Default::default()));
    }
    let event: SqsEvent =
        serde_json::from_value(event).map_err(|e| Error::Corrupt(e.to_string()))?;
    let mut response = SqsBatchResponse::default();
    let bodies: Vec<&str> = event
        .records
        .iter()
        .map(|record| record.body.as_deref().unwrap_or_default())
        .collect();
    for (record, outcome) in event.records.iter().zip(handle(flow, &bodies).await) {
        let id = record.message_id.clone().unwrap_or_default();
        if let Err(err) = outcome {
            tracing::warn!(message_id = %id, error = %err, "cannot handle the control event now");
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    serde_json::to_value(response).map_err(|e| Error::Corrupt(e.to_string()))
}

/// Handles a batch of events; a body that is not one is logged and let go (the
/// tick does its work anyway).
async fn handle(flow: Flow<'_>, bodies: &[&str]) -> Vec<Result<(), Error>> {
    let mut outcomes = flow.on_events(bodies).await;
    for outcome in &mut outcomes {
        if let Err(Error::Corrupt(reason)) = outcome {
            tracing::error!(%reason, "not a control event; dropping it");
            *outcome = Ok(());
        }
    }
    outcomes
}

/// Ticks every `every` and handles the control queue's events between
/// ticks, until `shutdown`; with `once`, one tick, then events until a
/// receive finds none. Outages are waited out with backoff.
pub async fn run(backend: &Backend, every: Duration, once: bool, shutdown: &CancellationToken) {
    let flow = backend.flow();
    let mut next_tick = Instant::now();
    loop {
        if Instant::now() >= next_tick {
            if let Err(err) = tick(flow).await {
                tracing::warn!(error = %err, "tick failed; the next one tries again");
            }
            next_tick = Instant::now() + every;
        }
        let wait = match once {
            true => Duration::ZERO,
            false => next_tick
                .saturating_duration_since(Instant::now())
                .min(LONG_POLL),
        };
        let options = ReceiveOptions {
            max: 10,
            wait,
            visibility: Duration::from_secs(60),
        };
        let receive = || backend.queues.receive(CONTROL_QUEUE, Lane::Tasks, options);
        let received = tokio::select! {
            received = retry("receive control events", shutdown, |_| true, receive) => received,
            _ = shutdown.cancelled() => return,
        };
        let Ok(messages) = received else { return };
        let none = messages.is_empty();
        let bodies: Vec<&str> = messages.iter().map(|m| m.body.as_str()).collect();
        let outcomes = handle(flow, &bodies).await;
        for (message, outcome) in messages.iter().zip(outcomes) {
            match outcome {
                Ok(()) => {
                    if let Err(err) = backend.queues.delete(message).await {
                        tracing::warn!(error = %err, "cannot delete a handled control event; it comes back and settles nothing twice");
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, "cannot handle the control event now; it comes back")
                }
            }
        }
        if (once && none) || shutdown.is_cancelled() {
            return;
        }
    }
}
