//! Wharf's Lambda handlers: `api` (which also serves plain HTTP locally),
//! `control`, the control plane's background work, and `dlq`, the
//! dead-letter consumer.

pub mod api;
pub mod control;
pub mod dlq;

use wharf_core::config::ResourceNames;
use wharf_core::Backend;

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

    /// Logging set up for where the binary runs, and the real adapters of
    /// the named resources; whether it runs under Lambda.
    pub async fn start(self) -> (Backend, bool) {
        let under_lambda = self.under_lambda();
        init_tracing(under_lambda);
        let backend = wharf_core::aws::backend(&wharf_core::aws::load_aws().await, self.names);
        (backend, under_lambda)
    }
}

/// Logs as JSON lines under Lambda (CloudWatch stamps them), as text
/// otherwise.
pub fn init_tracing(under_lambda: bool) {
    use wharf_core::logging::{init_tracing, LogFormat};
    init_tracing(if under_lambda {
        LogFormat::JsonUntimed
    } else {
        LogFormat::Text
    });
}
