//! The task queues: SQS. Messages carry only a task id (the task lives in
//! DynamoDB); SQS merely wakes workers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_sqs::types::MessageSystemAttributeName;
use aws_sdk_sqs::Client;

use crate::error::{Error, Result};
use crate::model::TaskMessage;

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
    /// The task message in the body, or why it is not one.
    pub fn task_message(&self) -> Result<TaskMessage> {
        serde_json::from_str(&self.body)
            .map_err(|e| Error::Corrupt(format!("message body is not a task message: {e}")))
    }
}

#[derive(Clone)]
pub struct Queues {
    client: Client,
    prefix: String,
    urls: Arc<Mutex<HashMap<String, String>>>,
}

impl Queues {
    pub fn new(client: Client, prefix: &str) -> Self {
        Queues {
            client,
            prefix: prefix.to_owned(),
            urls: Arc::default(),
        }
    }

    /// The SQS name of a Wharf queue, and of its dead-letter queue.
    pub fn sqs_name(&self, queue: &str) -> String {
        format!("{}{queue}", self.prefix)
    }

    pub fn dlq_name(&self, queue: &str) -> String {
        format!("{}{queue}-dlq", self.prefix)
    }

    /// The URL of a queue, looked up once and remembered.
    pub async fn url(&self, queue: &str) -> Result<String> {
        if let Some(url) = self.cached(queue) {
            return Ok(url);
        }
        self.lookup(queue, &self.sqs_name(queue)).await
    }

    pub async fn dlq_url(&self, queue: &str) -> Result<String> {
        let name = self.dlq_name(queue);
        if let Some(url) = self.cached(&name) {
            return Ok(url);
        }
        self.lookup(&name, &name).await
    }

    fn cached(&self, key: &str) -> Option<String> {
        self.urls.lock().ok()?.get(key).cloned()
    }

    async fn lookup(&self, key: &str, sqs_name: &str) -> Result<String> {
        let url = self
            .client
            .get_queue_url()
            .queue_name(sqs_name)
            .send()
            .await
            .map_err(|e| Error::aws("GetQueueUrl", e))?
            .queue_url
            .ok_or_else(|| Error::NotFound(format!("queue {sqs_name}")))?;
        if let Ok(mut urls) = self.urls.lock() {
            urls.insert(key.to_owned(), url.clone());
        }
        Ok(url)
    }

    /// Enqueues a task, invisible for `delay` (capped at SQS's 15 minutes).
    pub async fn send(&self, queue: &str, message: &TaskMessage, delay: Duration) -> Result<()> {
        let body = serde_json::to_string(message).map_err(|e| Error::Corrupt(e.to_string()))?;
        self.send_raw(queue, &body, delay).await
    }

    /// Enqueues any body; used for tests of malformed messages too.
    pub async fn send_raw(&self, queue: &str, body: &str, delay: Duration) -> Result<()> {
        let delay = delay.as_secs().min(u64::from(MAX_SQS_DELAY_SECONDS)) as i32;
        self.client
            .send_message()
            .queue_url(self.url(queue).await?)
            .message_body(body)
            .delay_seconds(delay)
            .send()
            .await
            .map_err(|e| Error::aws("SendMessage", e))?;
        Ok(())
    }

    /// Long-polls one queue for up to `max` messages (at most 10), hiding
    /// them for `visibility`.
    pub async fn receive(
        &self,
        queue: &str,
        max: usize,
        wait: Duration,
        visibility: Duration,
    ) -> Result<Vec<Received>> {
        let url = self.url(queue).await?;
        self.receive_at(queue, url, max, wait, visibility).await
    }

    /// Like [`Queues::receive`], from the queue's dead-letter queue.
    pub async fn receive_dead_letters(
        &self,
        queue: &str,
        max: usize,
        wait: Duration,
        visibility: Duration,
    ) -> Result<Vec<Received>> {
        let url = self.dlq_url(queue).await?;
        self.receive_at(queue, url, max, wait, visibility).await
    }

    async fn receive_at(
        &self,
        queue: &str,
        url: String,
        max: usize,
        wait: Duration,
        visibility: Duration,
    ) -> Result<Vec<Received>> {
        let output = self
            .client
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(max.clamp(1, 10) as i32)
            .wait_time_seconds(wait.as_secs().min(20) as i32)
            .visibility_timeout(visibility.as_secs() as i32)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|e| Error::aws("ReceiveMessage", e))?;
        Ok(output
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|message| {
                let receive_count = message
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(1);
                Some(Received {
                    queue: queue.to_owned(),
                    queue_url: url.clone(),
                    message_id: message.message_id.unwrap_or_default(),
                    body: message.body.unwrap_or_default(),
                    receipt_handle: message.receipt_handle?,
                    receive_count,
                })
            })
            .collect())
    }

    /// Deletes a message whose work is done.
    pub async fn delete(&self, message: &Received) -> Result<()> {
        self.client
            .delete_message()
            .queue_url(&message.queue_url)
            .receipt_handle(&message.receipt_handle)
            .send()
            .await
            .map_err(|e| Error::aws("DeleteMessage", e))?;
        Ok(())
    }

    /// Hides a message for `visibility` from now (zero makes it visible to
    /// other workers at once).
    pub async fn set_visibility(&self, message: &Received, visibility: Duration) -> Result<()> {
        self.client
            .change_message_visibility()
            .queue_url(&message.queue_url)
            .receipt_handle(&message.receipt_handle)
            .visibility_timeout(visibility.as_secs().min(43_200) as i32)
            .send()
            .await
            .map_err(|e| Error::aws("ChangeMessageVisibility", e))?;
        Ok(())
    }

    /// Approximate counts of a queue: (visible, in flight, delayed).
    pub async fn counts(&self, queue: &str) -> Result<QueueCounts> {
        counts(&self.client, &self.url(queue).await?).await
    }

    pub async fn dlq_counts(&self, queue: &str) -> Result<QueueCounts> {
        counts(&self.client, &self.dlq_url(queue).await?).await
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueCounts {
    pub visible: u64,
    pub in_flight: u64,
    pub delayed: u64,
}

async fn counts(client: &Client, url: &str) -> Result<QueueCounts> {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let output = client
        .get_queue_attributes()
        .queue_url(url)
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
