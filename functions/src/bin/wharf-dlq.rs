//! `wharf-dlq`: the dead-letter consumer. A Lambda function (SQS event
//! source on every DLQ, with partial batch responses) when
//! `AWS_LAMBDA_RUNTIME_API` is set; otherwise it polls the DLQs of
//! `WHARF_QUEUES` itself (`--once` drains them and exits).

use clap::Parser;
use lambda_runtime::{service_fn, LambdaEvent};
use wharf_core::shutdown::on_signal;
use wharf_functions::dlq::{on_event, poll};
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
    let (backend, under_lambda) = args.function.start().await;
    if under_lambda {
        let flow = backend.flow();
        lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| async move {
            Ok::<_, lambda_runtime::Error>(on_event(flow, event.payload).await)
        }))
        .await
        .map_err(|e| anyhow::anyhow!("lambda runtime: {e}"))?;
        return Ok(());
    }
    let shutdown = on_signal()?;
    poll(&backend, args.once, &shutdown).await;
    Ok(())
}
