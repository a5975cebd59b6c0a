//! A task that runs beside another (the log shipper beside an attempt, the
//! registrar and the local HTTP server beside the poller) until told to
//! stop.

use std::future::Future;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

pub struct Background<T> {
    done: CancellationToken,
    task: JoinHandle<T>,
}

impl<T: Send + 'static> Background<T> {
    /// Spawns `run` in the current span; the token it gets is cancelled by
    /// [`Background::stop`].
    pub fn spawn<F, Fut>(run: F) -> Background<T>
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = T> + Send + 'static,
    {
        let done = CancellationToken::new();
        let task = tokio::spawn(run(done.clone()).in_current_span());
        Background { done, task }
    }

    /// Tells it to stop and waits until it has, for what it returns.
    pub async fn stop(self) -> T {
        self.done.cancel();
        self.task.await.expect("a background task panicked")
    }
}
