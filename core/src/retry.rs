//! The one retry policy for outages: exponential backoff with jitter from
//! 250 ms up to 30 s, for as long as it takes, until the caller gives up.
//! Wharf's daemons never crash on an outage; they wait it out.

use std::future::Future;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};

/// Backoff between tries: 250 ms, doubling, at most 30 s, never giving up.
pub fn outage_backoff() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(250))
        .with_max_delay(Duration::from_secs(30))
        .with_jitter()
        .without_max_times()
}

/// Runs `op` until it succeeds or fails in a way `retry_if` does not retry,
/// backing off between tries, or until `give_up` is cancelled (then the
/// error is [`Error::Stopped`]). If `give_up` is cancelled already, `op`
/// is tried once.
pub async fn retry<T, F, Fut>(
    what: &'static str,
    give_up: &CancellationToken,
    retry_if: fn(&Error) -> bool,
    op: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let retried = op
        .retry(outage_backoff())
        .when(|err| retry_if(err) && !give_up.is_cancelled())
        .notify(|err, backoff| {
            tracing::warn!(operation = what, error = %err, backoff_ms = backoff.as_millis() as u64, "failed; retrying");
        });
    if give_up.is_cancelled() {
        return retried.await;
    }
    tokio::select! {
        result = retried => result,
        _ = give_up.cancelled() => Err(Error::Stopped(what)),
    }
}

/// [`retry`] for transient failures (an outage), which is what almost every
/// caller wants: a refusal is final, an outage is waited out.
pub async fn retry_transient<T, F, Fut>(
    what: &'static str,
    give_up: &CancellationToken,
    op: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    retry(what, give_up, Error::is_transient, op).await
}
