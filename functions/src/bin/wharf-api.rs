//! `wharf-api`: the HTTP API. A Lambda function when `AWS_LAMBDA_RUNTIME_API`
//! is set, otherwise a plain HTTP server on `--listen`.

use std::net::SocketAddr;

use clap::Parser;
use wharf_core::config::{load_aws, Backend};
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
    #[command(flatten)]
    function: FunctionArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let under_lambda = args.function.under_lambda();
    wharf_functions::init_tracing(under_lambda);
    let aws = load_aws().await;
    let state = AppState {
        backend: Backend::new(&aws, args.function.names),
        tokens: args.tokens,
    };
    let router = app(state);
    if under_lambda {
        lambda_http::run(router)
            .await
            .map_err(|e| anyhow::anyhow!("lambda runtime: {e}"))?;
        return Ok(());
    }
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    tracing::info!(address = %listener.local_addr()?, "wharf-api listening");
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    Ok(())
}

/// SIGINT (Ctrl-C) or SIGTERM (what `kill` and process managers send).
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
