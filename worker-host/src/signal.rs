//! Shutdown signals.

use tokio_util::sync::CancellationToken;

/// Cancels `token` on the first SIGTERM (process managers, `kill`) or SIGINT
/// (Ctrl-C).
pub async fn cancel_on_signal(token: CancellationToken) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received; draining"),
        _ = int.recv() => tracing::info!("SIGINT received; draining"),
    }
    token.cancel();
    Ok(())
}
