//! `wharf-dlq`: the dead-letter consumer. A Lambda function (SQS event
//! source on every DLQ, with partial batch responses) when
//! `AWS_LAMBDA_RUNTIME_API` is set; otherwise it polls the DLQs of
//! `WHARF_QUEUES` itself (`--once` drains them and exits).

use std::time::Duration;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use clap::Parser;
use lambda_runtime::{service_fn, LambdaEvent};
use tokio_util::sync::CancellationToken;
use wharf_core::config::{load_aws, Backend};
use wharf_functions::dlq::handle_dead_letter;
use wharf_functions::FunctionArgs;

#[derive(Debug, Parser)]
#[command(name = "wharf-dlq", version, about)]
struct Args {
    /// Drain every DLQ once and exit (when not under Lambda).
    #[arg(long)]
    once: bool,
    #[command(flatten)]
    function: FunctionArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let under_lambda = args.function.under_lambda();
    wharf_functions::init_tracing(under_lambda);
    let backend = Backend::new(&load_aws().await, args.function.names);
    if under_lambda {
        let backend = &backend;
        lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
            Ok::<_, lambda_runtime::Error>(on_event(backend, event.payload).await)
        }))
        .await
        .map_err(|e| anyhow::anyhow!("lambda runtime: {e}"))?;
        return Ok(());
    }
    let shutdown = CancellationToken::new();
    let signal = shutdown.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        signal.cancel();
    });
    poll(&backend, args.once, shutdown).await
}

/// One Lambda batch: records that could not be handled now are reported as
/// failures, so SQS delivers them again.
async fn on_event(backend: &Backend, event: SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        let id = record.message_id.unwrap_or_default();
        let body = record.body.unwrap_or_default();
        if let Err(err) = handle_dead_letter(&backend.store, &id, &body).await {
            tracing::warn!(message_id = %id, error = %err, "cannot handle the dead letter now");
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}

/// Polls every DLQ; deletes a message once it is handled.
async fn poll(backend: &Backend, once: bool, shutdown: CancellationToken) -> anyhow::Result<()> {
    let wait = if once {
        Duration::ZERO
    } else {
        Duration::from_secs(20)
    };
    loop {
        let mut handled = 0;
        for queue in &backend.names.queues {
            let messages = tokio::select! {
                received = backend.queues.receive_dead_letters(queue, 10, wait, Duration::from_secs(60)) => received?,
                _ = shutdown.cancelled() => return Ok(()),
            };
            for message in messages {
                match handle_dead_letter(&backend.store, &message.message_id, &message.body).await {
                    Ok(_) => {
                        backend.queues.delete(&message).await?;
                        handled += 1;
                    }
                    Err(err) => tracing::warn!(error = %err, "cannot handle the dead letter now"),
                }
            }
        }
        if once && handled == 0 {
            return Ok(());
        }
    }
}
