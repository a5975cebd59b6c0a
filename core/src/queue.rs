//! The queue seam: task messages carry a task id and perhaps a snapshot of
//! its record (the task lives in the store); a queue merely wakes workers. The real one is SQS
//! ([`crate::aws::SqsQueues`]); every queue has a dead-letter queue.

use std::time::Duration;

use async_trait::async_trait;

use crate::error::{Error, Result};
use crate::model::TaskMessage;

/// SQS receives, deletes or hides at most this many messages per call.
pub const MAX_BATCH: usize = 10;

/// The most a batch of messages sent in one SQS call may hold, bodies
/// together.
pub const MAX_BATCH_BYTES: usize = 256 * 1024;

/// SQS's longest per-message delay.
pub const MAX_SQS_DELAY_SECONDS: u32 = 900;

/// A message received from a queue.
#[derive(Debug, Clone)]
pub struct Received {
    /// The Wharf queue name (without prefix) it came from.
    pub queue: String,
    /// The SQS queue it came from (the DLQ's, for dead letters).
    pub queue_url: String,
    pub message_id: String,
    pub body: String,
    pub receipt_handle: String,
    /// How many times SQS has delivered this message, this time included.
    pub receive_count: u32,
}

impl Received {
    /// The task message in the body, or why it is not one. A snapshot of
    /// another task than the one named is dropped.
    pub fn task_message(&self) -> Result<TaskMessage> {
        let mut message: TaskMessage = serde_json::from_str(&self.body)
            .map_err(|e| Error::Corrupt(format!("message body is not a task message: {e}")))?;
        if message
            .snapshot
            .as_ref()
            .is_some_and(|snapshot| snapshot.task.id != message.task_id)
        {
            message.snapshot = None;
        }
        Ok(message)
    }
}

/// How to receive: at most `max` messages (SQS: 10), waiting up to `wait`
/// for the first (long polling), hiding them for `visibility`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiveOptions {
    pub max: usize,
    pub wait: Duration,
    pub visibility: Duration,
}

/// Which of a queue's two SQS queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lane {
    Tasks,
    DeadLetters,
}

/// Approximate counts of one queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueCounts {
    pub visible: u64,
    pub in_flight: u64,
    pub delayed: u64,
}

#[async_trait]
pub trait Queue: Send + Sync {
    /// Enqueues any body, invisible for `delay` (capped at SQS's 15
    /// minutes). Tests use it for malformed messages too.
    async fn send_raw(&self, queue: &str, body: &str, delay: Duration) -> Result<()>;

    /// Receives from a queue (or its dead-letter queue).
    async fn receive(
        &self,
        queue: &str,
        lane: Lane,
        options: ReceiveOptions,
    ) -> Result<Vec<Received>>;

    /// Deletes a message whose work is done.
    async fn delete(&self, message: &Received) -> Result<()>;

    /// Hides a message for `visibility` from now (zero makes it visible to
    /// other workers at once).
    async fn set_visibility(&self, message: &Received, visibility: Duration) -> Result<()>;

    /// Approximate counts of a queue (or its dead-letter queue).
    async fn counts(&self, queue: &str, lane: Lane) -> Result<QueueCounts>;

    /// Deletes messages of one queue ([`MAX_BATCH`] at most): each one's
    /// result, in order. SQS does it in one call.
    async fn delete_batch(&self, messages: &[Received]) -> Vec<Result<()>> {
        let mut results = Vec::with_capacity(messages.len());
        for message in messages {
            results.push(self.delete(message).await);
        }
        results
    }

    /// Hides messages of one queue ([`MAX_BATCH`] at most), each for its
    /// own time: each one's result, in order. SQS does it in one call.
    async fn set_visibility_batch(&self, changes: &[(Received, Duration)]) -> Vec<Result<()>> {
        let mut results = Vec::with_capacity(changes.len());
        for (message, visibility) in changes {
            results.push(self.set_visibility(message, *visibility).await);
        }
        results
    }

    /// Enqueues a task.
    async fn send(&self, queue: &str, message: &TaskMessage, delay: Duration) -> Result<()> {
        self.send_raw(queue, &body(message)?, delay).await
    }

    /// Enqueues tasks on one queue, each with its own delay; the first
    /// failure is answered (some may have been sent). SQS sends up to
    /// [`MAX_BATCH`] per call.
    async fn send_all(&self, queue: &str, messages: &[(TaskMessage, Duration)]) -> Result<()> {
        for (message, delay) in messages {
            self.send(queue, message, *delay).await?;
        }
        Ok(())
    }
}

/// A task message as sent.
pub fn body(message: &TaskMessage) -> Result<String> {
    serde_json::to_string(message).map_err(|e| Error::Corrupt(e.to_string()))
}

/// Splits bodies into batches of at most [`MAX_BATCH`] messages and
/// [`MAX_BATCH_BYTES`] together (a body larger than that goes alone).
pub fn batches<T>(messages: Vec<(String, T)>) -> Vec<Vec<(String, T)>> {
    let mut batches: Vec<Vec<(String, T)>> = Vec::new();
    let mut bytes = 0;
    for message in messages {
        let size = message.0.len();
        match batches.last_mut() {
            Some(batch) if batch.len() < MAX_BATCH && bytes + size <= MAX_BATCH_BYTES => {
                bytes += size;
                batch.push(message);
            }
            _ => {
                bytes = size;
                batches.push(vec![message]);
            }
        }
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_hold_ten_messages_and_256_kib_at_most() {
        let sized = |sizes: &[usize]| -> Vec<(String, usize)> {
            sizes.iter().map(|&n| ("x".repeat(n), n)).collect()
        };
        let shape = |batches: Vec<Vec<(String, usize)>>| -> Vec<Vec<usize>> {
            batches
                .into_iter()
                .map(|b| b.into_iter().map(|(_, n)| n).collect())
                .collect()
        };
        assert_eq!(
            shape(batches(sized(&[1; 23]))),
            [vec![1; 10], vec![1; 10], vec![1; 3]]
        );
        let big = 100 * 1024;
        // Two large bodies fit together, a third starts the next batch;
        // one larger than a batch goes alone.
        assert_eq!(
            shape(batches(sized(&[
                big,
                big,
                big,
                10,
                MAX_BATCH_BYTES + 1,
                10
            ]))),
            [
                vec![big, big],
                vec![big, 10],
                vec![MAX_BATCH_BYTES + 1],
                vec![10]
            ]
        );
        assert!(batches(sized(&[])).is_empty());
    }
}
