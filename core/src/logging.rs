//! How every daemon logs: `tracing` to stderr, the level from `RUST_LOG`
//! (default `info`), as text for people or JSON lines for machines.

/// The shape of the log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
    /// JSON lines without their own time: under Lambda, CloudWatch stamps
    /// every line.
    JsonUntimed,
}

/// Installs the global subscriber; call once, first thing in `main`.
pub fn init_tracing(format: LogFormat) {
    let subscriber = tracing_subscriber::fmt().with_env_filter(
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
    );
    match format {
        LogFormat::Text => subscriber.init(),
        LogFormat::Json => subscriber.json().init(),
        LogFormat::JsonUntimed => subscriber.json().without_time().init(),
    }
}
