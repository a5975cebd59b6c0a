//! Deleting and hiding messages in batches. A worker's attempts end and
//! renew their leases independently; each asks for its own delete or
//! visibility change, and the requests made while a call is in flight go
//! together in the next one (per queue, up to SQS's ten per call). A busy
//! host thus makes one call for many tasks, and an idle one waits for
//! nothing.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::future::join_all;
use tokio::sync::{mpsc, oneshot};
use wharf_core::model::TaskMessage;
use wharf_core::queue::{Lane, Queue, QueueCounts, ReceiveOptions, Received, MAX_BATCH};
use wharf_core::{Error, Result};

/// A queue whose deletes and visibility changes are batched; the rest is
/// passed through.
pub struct BatchingQueue {
    inner: Arc<dyn Queue>,
    requests: mpsc::UnboundedSender<Request>,
}

/// What to do with a message.
#[derive(Debug, Clone, Copy)]
enum Action {
    Delete,
    Hide(Duration),
}

struct Request {
    message: Received,
    action: Action,
    done: Done,
}

impl BatchingQueue {
    /// Starts batching in the background (until the queue is dropped).
    pub fn start(inner: Arc<dyn Queue>) -> BatchingQueue {
        let (requests, pending) = mpsc::unbounded_channel();
        tokio::spawn(batch(inner.clone(), pending));
        BatchingQueue { inner, requests }
    }

    async fn ask(&self, message: &Received, action: Action) -> Result<()> {
        let (done, answer) = oneshot::channel();
        let request = Request {
            message: message.clone(),
            action,
            done,
        };
        self.requests
            .send(request)
            .map_err(|_| Error::Stopped("message batching"))?;
        answer
            .await
            .unwrap_or(Err(Error::Stopped("message batching")))
    }
}

type Done = oneshot::Sender<Result<()>>;
/// Requests waiting for their call, by queue URL.
type ByQueue<T> = BTreeMap<String, Vec<(T, Done)>>;

/// Takes what is waiting, settles it in as few calls as SQS allows (all at
/// once), and again.
async fn batch(queue: Arc<dyn Queue>, mut pending: mpsc::UnboundedReceiver<Request>) {
    let mut waiting = Vec::new();
    while pending.recv_many(&mut waiting, usize::MAX).await > 0 {
        let mut deletes: ByQueue<Received> = BTreeMap::new();
        let mut hides: ByQueue<(Received, Duration)> = BTreeMap::new();
        for Request {
            message,
            action,
            done,
        } in waiting.drain(..)
        {
            let url = message.queue_url.clone();
            match action {
                Action::Delete => deletes.entry(url).or_default().push((message, done)),
                Action::Hide(visibility) => hides
                    .entry(url)
                    .or_default()
                    .push(((message, visibility), done)),
            }
        }
        let queue = queue.as_ref();
        let deletes = deletes.into_values().flat_map(chunks).map(|chunk| {
            settle(chunk, |messages| async move {
                queue.delete_batch(&messages).await
            })
        });
        let hides = hides.into_values().flat_map(chunks).map(|chunk| {
            settle(chunk, |changes| async move {
                queue.set_visibility_batch(&changes).await
            })
        });
        tokio::join!(join_all(deletes), join_all(hides));
    }
}

/// Splits requests of one queue into calls of at most [`MAX_BATCH`].
fn chunks<T>(mut requests: Vec<T>) -> Vec<Vec<T>> {
    let mut chunks = Vec::new();
    while requests.len() > MAX_BATCH {
        let rest = requests.split_off(MAX_BATCH);
        chunks.push(requests);
        requests = rest;
    }
    chunks.push(requests);
    chunks
}

/// Makes one batch `call` and answers each request with its result.
async fn settle<T, F>(requests: Vec<(T, Done)>, call: impl FnOnce(Vec<T>) -> F)
where
    F: Future<Output = Vec<Result<()>>>,
{
    let (entries, answers): (Vec<T>, Vec<Done>) = requests.into_iter().unzip();
    for (done, result) in answers.into_iter().zip(call(entries).await) {
        let _ = done.send(result);
    }
}

#[async_trait]
impl Queue for BatchingQueue {
    async fn send_raw(&self, queue: &str, body: &str, delay: Duration) -> Result<()> {
        self.inner.send_raw(queue, body, delay).await
    }

    async fn send_all(&self, queue: &str, messages: &[(TaskMessage, Duration)]) -> Result<()> {
        self.inner.send_all(queue, messages).await
    }

    async fn receive(
        &self,
        queue: &str,
        lane: Lane,
        options: ReceiveOptions,
    ) -> Result<Vec<Received>> {
        self.inner.receive(queue, lane, options).await
    }

    async fn delete(&self, message: &Received) -> Result<()> {
        self.ask(message, Action::Delete).await
    }

    async fn set_visibility(&self, message: &Received, visibility: Duration) -> Result<()> {
        self.ask(message, Action::Hide(visibility)).await
    }

    async fn counts(&self, queue: &str, lane: Lane) -> Result<QueueCounts> {
        self.inner.counts(queue, lane).await
    }
}
