//! `wharf-api`: the HTTP API. A Lambda function when `AWS_LAMBDA_RUNTIME_API`
//! is set, otherwise a plain HTTP server on `--listen`.

use std::net::SocketAddr;

use std::future::IntoFuture;
use std::time::Duration;

use clap::Parser;
use wharf_core::shutdown::on_signal;
use wharf_functions::api::{app, AppState, Tokens};
use wharf_functions::FunctionArgs;

#[derive(Debug, Parser)]
#[command(name = "wharf-api", version, about)]
struct Args {
    /// Serve plain HTTP on this address (when not running under Lambda).
    #[arg(long, env = "WHARF_API_LISTEN", default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// Accepted tokens as `<sha256 hex>:<scope>+<scope>,…` (mint one with
    /// `wharf admin token`).
    #[arg(
        long,
        env = "WHARF_API_TOKENS",
        default_value = "",
        hide_env_values = true
    )]
    tokens: Tokens,
    /// How long requests under way may finish on shutdown, in seconds.
    #[arg(long, env = "WHARF_GRACE_SECS", default_value_t = 30)]
    grace_secs: u64,
    #[command(flatten)]
    function: FunctionArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (backend, under_lambda) = args.function.start().await;
    let state = AppState {
        backend,
        tokens: args.tokens,
    };
    let router = app(state);
    if under_lambda {
        lambda_http::run(router)
            .await
            .map_err(|e| anyhow::anyhow!("lambda runtime: {e}"))?;
        return Ok(());
    }
    let shutdown = on_signal()?;
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    tracing::info!(address = %listener.local_addr()?, "wharf-api listening");
    let server = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown.clone().cancelled_owned())
        .into_future();
    tokio::pin!(server);
    tokio::select! {
        served = &mut server => served?,
        _ = shutdown.cancelled() => {
            let grace = Duration::from_secs(args.grace_secs);
            if tokio::time::timeout(grace, server).await.is_err() {
                tracing::warn!("grace period over; terminating now");
            }
        }
    }
    Ok(())
}
