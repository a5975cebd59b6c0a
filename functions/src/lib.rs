//! Wharf's Lambda handlers: `api` (which also serves plain HTTP locally)
//! and `dlq`, the dead-letter consumer.

pub mod api;
pub mod dlq;

use wharf_core::config::ResourceNames;

/// What every function binary reads from its environment.
#[derive(Debug, clap::Args)]
pub struct FunctionArgs {
    /// Set by the Lambda runtime; when present the binary serves Lambda
    /// events instead of running locally.
    #[arg(long, env = "AWS_LAMBDA_RUNTIME_API", hide = true)]
    pub lambda_runtime_api: Option<String>,
    #[command(flatten)]
    pub names: ResourceNames,
}

impl FunctionArgs {
    pub fn under_lambda(&self) -> bool {
        self.lambda_runtime_api.is_some()
    }
}

/// Logs as JSON lines under Lambda (CloudWatch), as text otherwise; the level
/// comes from `RUST_LOG` (default `info`).
pub fn init_tracing(json: bool) {
    let subscriber = tracing_subscriber::fmt().with_env_filter(
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
    );
    if json {
        subscriber.json().without_time().init();
    } else {
        subscriber.init();
    }
}
