//! Shutdown, the same way in every daemon: the first SIGTERM (process
//! managers, `kill`, `docker stop`) or SIGINT (Ctrl-C) cancels one
//! [`CancellationToken`]; the daemon stops taking work, lets what runs finish
//! within a grace period ([`drain`]), then stops the rest.

use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A token cancelled on the first SIGTERM or SIGINT. The handlers are
/// installed before this returns, so no signal is missed after it.
pub fn on_signal() -> std::io::Result<CancellationToken> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        // SIGTERM: asked to stop by whoever manages the process.
        // SIGINT: Ctrl-C in a terminal.
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        tracing::info!(signal = name, "shutting down");
        cancel.cancel();
    });
    Ok(token)
}

/// How a [`drain`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drained {
    /// Everything tracked finished within the grace period.
    Finished,
    /// The grace period ran out with work still running.
    GraceOver,
}

/// Closes `tracker` and waits up to `grace` for what it tracks.
pub async fn drain(tracker: &TaskTracker, grace: Duration) -> Drained {
    tracker.close();
    if tracker.is_empty() {
        return Drained::Finished;
    }
    tracing::info!(
        running = tracker.len(),
        grace_secs = grace.as_secs(),
        "waiting for running work"
    );
    match tokio::time::timeout(grace, tracker.wait()).await {
        Ok(()) => Drained::Finished,
        Err(_) => {
            tracing::warn!(running = tracker.len(), "grace period over");
            Drained::GraceOver
        }
    }
}
