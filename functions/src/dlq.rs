//! The dead-letter consumer: a message SQS gave up on marks its task
//! `failed` with reason `DeadLettered`. Nothing is dropped silently: a
//! message that names no task is logged with its body, and one that cannot
//! be handled now (an outage) is reported back so it is delivered again.
//!
//! Under Lambda, SQS delivers batches ([`on_event`]); locally, [`poll`]
//! receives from every dead-letter queue itself.

use std::time::Duration;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use chrono::Utc;
use tokio_util::sync::CancellationToken;
use wharf_core::flow::Flow;
use wharf_core::lifecycle;
use wharf_core::model::{Task, TaskMessage};
use wharf_core::queue::{Lane, ReceiveOptions};
use wharf_core::retry::retry;
use wharf_core::store::Transition;
use wharf_core::{Backend, Error};

/// What became of one dead-lettered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeadLetter {
    /// Its task is now `failed` / `DeadLettered`.
    Marked { task_id: String },
    /// Its task had finished already and stays as it is.
    AlreadyFinished { task_id: String },
    /// Its task no longer exists.
    UnknownTask { task_id: String },
    /// The body is not a task message; it is logged and let go.
    Malformed,
}

/// Handles one dead-lettered message body. `Err` means "try again later".
pub async fn handle_dead_letter(
    flow: Flow<'_>,
    message_id: &str,
    body: &str,
) -> Result<DeadLetter, Error> {
    let Ok(TaskMessage { task_id, .. }) = serde_json::from_str::<TaskMessage>(body) else {
        tracing::error!(
            message_id,
            body,
            "dead-lettered message is not a task message; dropping it"
        );
        return Ok(DeadLetter::Malformed);
    };
    let outcome = match flow
        .store
        .transition(&task_id, &|task: &Task| {
            lifecycle::dead_lettered(task, Utc::now())
        })
        .await?
    {
        Transition::Applied(marked) => {
            flow.announce_end(&marked.task).await;
            DeadLetter::Marked { task_id }
        }
        Transition::Refused(_) => DeadLetter::AlreadyFinished { task_id },
        Transition::Missing => DeadLetter::UnknownTask { task_id },
    };
    tracing::info!(message_id, outcome = ?outcome, "dead-lettered message handled");
    Ok(outcome)
}

/// One Lambda batch: records that could not be handled now are reported as
/// failures, so SQS delivers them again.
pub async fn on_event(flow: Flow<'_>, event: SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        let id = record.message_id.unwrap_or_default();
        let body = record.body.unwrap_or_default();
        if let Err(err) = handle_dead_letter(flow, &id, &body).await {
            tracing::warn!(message_id = %id, error = %err, "cannot handle the dead letter now");
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}

/// Polls every dead-letter queue of `backend.names.queues` and deletes each
/// message once it is handled, until `shutdown`; with `once`, until a round
/// finds nothing. Outages are waited out with backoff.
pub async fn poll(backend: &Backend, once: bool, shutdown: &CancellationToken) {
    let options = ReceiveOptions {
        max: 10,
        wait: if once {
            Duration::ZERO
        } else {
            Duration::from_secs(20)
        },
        visibility: Duration::from_secs(60),
    };
    loop {
        let mut handled = 0;
        for queue in &backend.names.queues {
            let receive = || backend.queues.receive(queue, Lane::DeadLetters, options);
            let Ok(messages) = retry("receive dead letters", shutdown, |_| true, receive).await
            else {
                return;
            };
            for message in messages {
                match handle_dead_letter(backend.flow(), &message.message_id, &message.body).await {
                    Ok(_) => {
                        handled += 1;
                        if let Err(err) = backend.queues.delete(&message).await {
                            tracing::warn!(error = %err, "cannot delete the handled dead letter; it comes back and is recognised as handled");
                        }
                    }
                    Err(err) => tracing::warn!(error = %err, "cannot handle the dead letter now"),
                }
            }
        }
        if once && handled == 0 {
            return;
        }
    }
}
