//! The task queues in SQS: queue `q` is `<prefix>q`, its dead-letter queue
//! `<prefix>q-dlq`. Queue URLs are looked up once and remembered.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::types::{
    BatchResultErrorEntry, ChangeMessageVisibilityBatchRequestEntry,
    DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName, QueueAttributeName,
    SendMessageBatchRequestEntry,
};
use aws_sdk_sqs::Client;

use crate::error::{Error, Result};
use crate::model::TaskMessage;
use crate::queue::{
    batches, body, Lane, Queue, QueueCounts, ReceiveOptions, Received, MAX_SQS_DELAY_SECONDS,
};

/// SQS's longest visibility timeout.
const MAX_VISIBILITY_SECONDS: u64 = 43_200;

#[derive(Clone)]
pub struct SqsQueues {
    client: Client,
    prefix: String,
    urls: Arc<Mutex<HashMap<String, String>>>,
}

impl SqsQueues {
    pub fn new(client: Client, prefix: &str) -> Self {
        SqsQueues {
            client,
            prefix: prefix.to_owned(),
            urls: Arc::default(),
        }
    }

    /// The SQS name of a Wharf queue, or of its dead-letter queue.
    pub fn sqs_name(&self, queue: &str, lane: Lane) -> String {
        match lane {
            Lane::Tasks => format!("{}{queue}", self.prefix),
            Lane::DeadLetters => format!("{}{queue}-dlq", self.prefix),
        }
    }

    /// The URL of a queue, looked up once and remembered.
    pub async fn url(&self, queue: &str, lane: Lane) -> Result<String> {
        let name = self.sqs_name(queue, lane);
        if let Some(url) = self
            .urls
            .lock()
            .ok()
            .and_then(|urls| urls.get(&name).cloned())
        {
            return Ok(url);
        }
        let url = self
            .client
            .get_queue_url()
            .queue_name(&name)
            .send()
            .await
            .map_err(|e| Error::aws("GetQueueUrl", e))?
            .queue_url
            .ok_or_else(|| Error::NotFound(format!("queue {name}")))?;
        if let Ok(mut urls) = self.urls.lock() {
            urls.insert(name, url.clone());
        }
        Ok(url)
    }
}

#[async_trait]
impl Queue for SqsQueues {
    async fn send_raw(&self, queue: &str, body: &str, delay: Duration) -> Result<()> {
        self.client
            .send_message()
            .queue_url(self.url(queue, Lane::Tasks).await?)
            .message_body(body)
            .delay_seconds(delay_seconds(delay))
            .send()
            .await
            .map_err(|e| Error::aws("SendMessage", e))?;
        Ok(())
    }

    async fn send_all(&self, queue: &str, messages: &[(TaskMessage, Duration)]) -> Result<()> {
        if messages.is_empty() {
            return Ok(());
        }
        let url = self.url(queue, Lane::Tasks).await?;
        let bodies = messages
            .iter()
            .map(|(message, delay)| Ok((body(message)?, *delay)))
            .collect::<Result<Vec<_>>>()?;
        for batch in batches(bodies) {
            let entries = batch
                .into_iter()
                .enumerate()
                .map(|(i, (body, delay))| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body)
                        .delay_seconds(delay_seconds(delay))
                        .build()
                        .map_err(|e| Error::request(SEND_BATCH, e))
                })
                .collect::<Result<Vec<_>>>()?;
            let count = entries.len();
            let sent = self
                .client
                .send_message_batch()
                .queue_url(&url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| Error::aws(SEND_BATCH, e))?;
            batch_results(count, SEND_BATCH, sent.failed())
                .into_iter()
                .collect::<Result<()>>()?;
        }
        Ok(())
    }

    async fn receive(
        &self,
        queue: &str,
        lane: Lane,
        options: ReceiveOptions,
    ) -> Result<Vec<Received>> {
        let url = self.url(queue, lane).await?;
        let output = self
            .client
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(options.max.clamp(1, 10) as i32)
            .wait_time_seconds(options.wait.as_secs().min(20) as i32)
            .visibility_timeout(options.visibility.as_secs().min(MAX_VISIBILITY_SECONDS) as i32)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|e| Error::aws("ReceiveMessage", e))?;
        Ok(output
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|message| received(queue, &url, message))
            .collect())
    }

    async fn delete(&self, message: &Received) -> Result<()> {
        self.client
            .delete_message()
            .queue_url(&message.queue_url)
            .receipt_handle(&message.receipt_handle)
            .send()
            .await
            .map_err(|e| Error::aws("DeleteMessage", e))?;
        Ok(())
    }

    async fn set_visibility(&self, message: &Received, visibility: Duration) -> Result<()> {
        self.client
            .change_message_visibility()
            .queue_url(&message.queue_url)
            .receipt_handle(&message.receipt_handle)
            .visibility_timeout(visibility_seconds(visibility))
            .send()
            .await
            .map_err(|e| Error::aws("ChangeMessageVisibility", e))?;
        Ok(())
    }

    async fn delete_batch(&self, messages: &[Received]) -> Vec<Result<()>> {
        let Some(first) = messages.first() else {
            return Vec::new();
        };
        let entries = messages.iter().enumerate().map(|(i, message)| {
            DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(&message.receipt_handle)
                .build()
        });
        let sent = match entries.collect::<Result<Vec<_>, _>>() {
            Ok(entries) => {
                let call = self.client.delete_message_batch();
                call.queue_url(&first.queue_url)
                    .set_entries(Some(entries))
                    .send()
                    .await
            }
            Err(err) => {
                return failed_batch(
                    messages.len(),
                    DELETE_BATCH,
                    Error::request(DELETE_BATCH, err),
                )
            }
        };
        match sent {
            Ok(output) => batch_results(messages.len(), DELETE_BATCH, output.failed()),
            Err(err) => failed_batch(messages.len(), DELETE_BATCH, Error::aws(DELETE_BATCH, err)),
        }
    }

    async fn set_visibility_batch(&self, changes: &[(Received, Duration)]) -> Vec<Result<()>> {
        let Some((first, _)) = changes.first() else {
            return Vec::new();
        };
        let entries = changes
            .iter()
            .enumerate()
            .map(|(i, (message, visibility))| {
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(&message.receipt_handle)
                    .visibility_timeout(visibility_seconds(*visibility))
                    .build()
            });
        let sent = match entries.collect::<Result<Vec<_>, _>>() {
            Ok(entries) => {
                let call = self.client.change_message_visibility_batch();
                call.queue_url(&first.queue_url)
                    .set_entries(Some(entries))
                    .send()
                    .await
            }
            Err(err) => {
                return failed_batch(changes.len(), HIDE_BATCH, Error::request(HIDE_BATCH, err))
            }
        };
        match sent {
            Ok(output) => batch_results(changes.len(), HIDE_BATCH, output.failed()),
            Err(err) => failed_batch(changes.len(), HIDE_BATCH, Error::aws(HIDE_BATCH, err)),
        }
    }

    async fn counts(&self, queue: &str, lane: Lane) -> Result<QueueCounts> {
        use QueueAttributeName as A;
        let output = self
            .client
            .get_queue_attributes()
            .queue_url(self.url(queue, lane).await?)
            .attribute_names(A::ApproximateNumberOfMessages)
            .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(A::ApproximateNumberOfMessagesDelayed)
            .send()
            .await
            .map_err(|e| Error::aws("GetQueueAttributes", e))?;
        let attributes = output.attributes.unwrap_or_default();
        let get = |name: A| {
            attributes
                .get(&name)
                .and_then(|n| n.parse().ok())
                .unwrap_or(0)
        };
        Ok(QueueCounts {
            visible: get(A::ApproximateNumberOfMessages),
            in_flight: get(A::ApproximateNumberOfMessagesNotVisible),
            delayed: get(A::ApproximateNumberOfMessagesDelayed),
        })
    }
}

const SEND_BATCH: &str = "SendMessageBatch";
const DELETE_BATCH: &str = "DeleteMessageBatch";
const HIDE_BATCH: &str = "ChangeMessageVisibilityBatch";

fn delay_seconds(delay: Duration) -> i32 {
    delay.as_secs().min(u64::from(MAX_SQS_DELAY_SECONDS)) as i32
}

fn visibility_seconds(visibility: Duration) -> i32 {
    visibility.as_secs().min(MAX_VISIBILITY_SECONDS) as i32
}

/// Each entry's result of a batch call that was answered: an entry SQS
/// lists as failed (by its index as id) failed, the others succeeded.
fn batch_results(
    count: usize,
    operation: &'static str,
    failed: &[BatchResultErrorEntry],
) -> Vec<Result<()>> {
    let mut results: Vec<Result<()>> = (0..count).map(|_| Ok(())).collect();
    for entry in failed {
        if let Some(result) = entry
            .id
            .parse::<usize>()
            .ok()
            .and_then(|i| results.get_mut(i))
        {
            *result = Err(Error::Aws {
                operation,
                message: format!("{}: {}", entry.code, entry.message.as_deref().unwrap_or("")),
                transient: !entry.sender_fault,
            });
        }
    }
    results
}

/// Each entry's result of a batch call that failed as a whole.
fn failed_batch(count: usize, operation: &'static str, err: Error) -> Vec<Result<()>> {
    let transient = matches!(
        err,
        Error::Aws {
            transient: true,
            ..
        }
    );
    let message = err.to_string();
    (0..count)
        .map(|_| {
            Err(Error::Aws {
                operation,
                message: message.clone(),
                transient,
            })
        })
        .collect()
}

/// A received SQS message in Wharf's terms; `None` without a receipt handle
/// (it could not be deleted or extended anyway).
fn received(queue: &str, url: &str, message: Message) -> Option<Received> {
    let receive_count = message
        .attributes()
        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    Some(Received {
        queue: queue.to_owned(),
        queue_url: url.to_owned(),
        message_id: message.message_id.unwrap_or_default(),
        body: message.body.unwrap_or_default(),
        receipt_handle: message.receipt_handle?,
        receive_count,
    })
}
