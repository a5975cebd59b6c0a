//! The queues in memory, as SQS behaves: a received message is hidden for
//! its visibility timeout and comes back unless deleted; each receipt hands
//! out a new receipt handle; after `MAX_RECEIVE_COUNT` receives a message
//! moves to the queue's dead-letter queue. Long polls wait in tokio time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;
use wharf_core::provision::MAX_RECEIVE_COUNT;
use wharf_core::queue::{
    Lane, Queue, QueueCounts, ReceiveOptions, Received, MAX_SQS_DELAY_SECONDS,
};
use wharf_core::Result;

/// How often a waiting receive looks again.
const POLL: Duration = Duration::from_millis(50);

#[derive(Default)]
pub struct MemoryQueues {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    queues: HashMap<(String, Lane), Vec<Message>>,
    next_id: u64,
}

#[derive(Debug, Clone)]
struct Message {
    id: String,
    body: String,
    visible_at: Instant,
    /// Whether it has been received since it was last made visible.
    in_flight: bool,
    receive_count: u32,
    receipt_handle: String,
}

/// A queue's address as a [`Received`] carries it.
fn url(queue: &str, lane: Lane) -> String {
    format!("memory://{queue}/{lane:?}")
}

impl State {
    fn next(&mut self) -> String {
        self.next_id += 1;
        self.next_id.to_string()
    }

    fn take_visible(&mut self, queue: &str, lane: Lane, options: ReceiveOptions) -> Vec<Received> {
        let now = Instant::now();
        let mut received = Vec::new();
        let mut dead = Vec::new();
        let mut handles = Vec::new();
        for _ in 0..options.max.clamp(1, 10) {
            handles.push(self.next());
        }
        let messages = self.queues.entry((queue.to_owned(), lane)).or_default();
        messages.retain_mut(|message| {
            if message.visible_at > now || received.len() >= handles.len() {
                return true;
            }
            if lane == Lane::Tasks && message.receive_count >= MAX_RECEIVE_COUNT {
                dead.push(message.clone());
                return false;
            }
            message.receive_count += 1;
            message.in_flight = true;
            message.visible_at = now + options.visibility;
            message.receipt_handle = handles[received.len()].clone();
            received.push(Received {
                queue: queue.to_owned(),
                queue_url: url(queue, lane),
                message_id: message.id.clone(),
                body: message.body.clone(),
                receipt_handle: message.receipt_handle.clone(),
                receive_count: message.receive_count,
            });
            true
        });
        let dlq = self
            .queues
            .entry((queue.to_owned(), Lane::DeadLetters))
            .or_default();
        for mut message in dead {
            message.in_flight = false;
            message.receive_count = 0;
            dlq.push(message);
        }
        received
    }

    /// The message a receipt handle names, if that handle is still current.
    fn by_handle(&mut self, received: &Received) -> Option<(&mut Vec<Message>, usize)> {
        let messages = self
            .queues
            .iter_mut()
            .find_map(|((queue, lane), messages)| {
                (url(queue, *lane) == received.queue_url).then_some(messages)
            })?;
        let index = messages
            .iter()
            .position(|m| m.receipt_handle == received.receipt_handle)?;
        Some((messages, index))
    }
}

#[async_trait]
impl Queue for MemoryQueues {
    async fn send_raw(&self, queue: &str, body: &str, delay: Duration) -> Result<()> {
        let delay = delay.min(Duration::from_secs(MAX_SQS_DELAY_SECONDS.into()));
        let mut state = self.state.lock().unwrap();
        let id = state.next();
        let message = Message {
            id,
            body: body.to_owned(),
            visible_at: Instant::now() + delay,
            in_flight: false,
            receive_count: 0,
            receipt_handle: String::new(),
        };
        let key = (queue.to_owned(), Lane::Tasks);
        state.queues.entry(key).or_default().push(message);
        Ok(())
    }

    async fn receive(
        &self,
        queue: &str,
        lane: Lane,
        options: ReceiveOptions,
    ) -> Result<Vec<Received>> {
        let deadline = Instant::now() + options.wait;
        loop {
            let received = self
                .state
                .lock()
                .unwrap()
                .take_visible(queue, lane, options);
            if !received.is_empty() || Instant::now() >= deadline {
                return Ok(received);
            }
            tokio::time::sleep(POLL.min(deadline - Instant::now())).await;
        }
    }

    async fn delete(&self, message: &Received) -> Result<()> {
        let mut state = self.state.lock().unwrap();
        if let Some((messages, index)) = state.by_handle(message) {
            messages.remove(index);
        }
        Ok(())
    }

    async fn set_visibility(&self, message: &Received, visibility: Duration) -> Result<()> {
        let mut state = self.state.lock().unwrap();
        if let Some((messages, index)) = state.by_handle(message) {
            messages[index].visible_at = Instant::now() + visibility;
        }
        Ok(())
    }

    async fn counts(&self, queue: &str, lane: Lane) -> Result<QueueCounts> {
        let state = self.state.lock().unwrap();
        let now = Instant::now();
        let mut counts = QueueCounts::default();
        let messages = state.queues.get(&(queue.to_owned(), lane));
        for message in messages.into_iter().flatten() {
            match (message.visible_at <= now, message.in_flight) {
                (true, _) => counts.visible += 1,
                (false, true) => counts.in_flight += 1,
                (false, false) => counts.delayed += 1,
            }
        }
        Ok(counts)
    }
}
