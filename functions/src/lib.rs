//! Wharf's Lambda handlers: `api` (which also serves plain HTTP locally)
//! and `dlq`, the dead-letter consumer.

pub mod api;
pub mod dlq;

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
