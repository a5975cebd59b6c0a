//! `wharf-control`: the control plane's background work (dependency
//! releases). A Lambda function (the control queue's SQS event source and
//! an EventBridge rule once a minute) when `AWS_LAMBDA_RUNTIME_API` is set;
//! otherwise a daemon that ticks every `--tick-secs` and handles the
//! control queue between ticks (`--once`: one pass, then exit).

use std::time::Duration;

use clap::Parser;
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;
use wharf_core::shutdown::on_signal;
use wharf_functions::control::{on_event, run};
use wharf_functions::FunctionArgs;

#[derive(Debug, Parser)]
#[command(name = "wharf-control", version, about)]
struct Args {
    /// How often the clock ticks, in seconds.
    #[arg(long, env = "WHARF_TICK_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    tick_secs: u64,
    /// One pass of everything, then exit (when not under Lambda).
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
        lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
            on_event(flow, event.payload)
                .await
                .map_err(lambda_runtime::Error::from)
        }))
        .await
        .map_err(|e| anyhow::anyhow!("lambda runtime: {e}"))?;
        return Ok(());
    }
    let shutdown = on_signal()?;
    tracing::info!(
        tick_secs = args.tick_secs,
        once = args.once,
        "wharf-control started"
    );
    run(
        &backend,
        Duration::from_secs(args.tick_secs),
        args.once,
        &shutdown,
    )
    .await;
    Ok(())
}
