//! Submitting a validated task: record it, then enqueue it. A task is never
//! left recorded without a message: if enqueueing fails the record is removed
//! again and the caller is told to retry.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::artifacts::payload_key;
use crate::backend::Backend;
use crate::error::Error;
use crate::model::{new_task_id, Task, TaskMessage};
use crate::store::CreateError;
use crate::validate::{ValidTask, INLINE_PAYLOAD_BYTES};

/// What a submission did.
#[derive(Debug, Clone, PartialEq)]
pub enum Submitted {
    /// A new task was recorded and enqueued.
    Created(Task),
    /// The idempotency key had been used: this is the original task.
    Existing(Task),
}

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("a task named {name:?} exists already: {existing_id}")]
    NameTaken { name: String, existing_id: String },
    #[error(transparent)]
    Backend(#[from] Error),
}

/// The queued task a valid submission becomes.
pub fn new_task(valid: &ValidTask, id: String, now: DateTime<Utc>) -> Task {
    let inline = valid.payload_json.len() <= INLINE_PAYLOAD_BYTES;
    let request = &valid.request;
    Task {
        name: request.name.clone(),
        queue: valid.queue.clone(),
        payload: inline.then(|| request.payload.clone().unwrap_or_else(empty_object)),
        payload_in_s3: !inline,
        max_attempts: valid.max_attempts,
        timeout_seconds: valid.timeout_seconds,
        retry_on_failure: request.retry_on_failure,
        delay_seconds: valid.delay_seconds,
        labels: request.labels.clone(),
        ..Task::queued(id, request.spec.clone(), now)
    }
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

pub async fn submit(
    backend: &Backend,
    valid: ValidTask,
    idempotency_key: Option<&str>,
) -> Result<Submitted, SubmitError> {
    let task = new_task(&valid, new_task_id(), Utc::now());
    if task.payload_in_s3 {
        backend
            .artifacts
            .put_bytes(
                &payload_key(&task.id),
                valid.payload_json.into_bytes(),
                "application/json",
            )
            .await?;
    }
    match backend.store.create(&task, idempotency_key).await {
        Ok(()) => {}
        Err(CreateError::IdempotencyKeyUsed { existing_id }) => {
            let existing = backend.store.get(&existing_id).await?.ok_or_else(|| {
                Error::NotFound(format!("task {existing_id} of this idempotency key"))
            })?;
            return Ok(Submitted::Existing(existing.task));
        }
        Err(CreateError::NameTaken { name, existing_id }) => {
            return Err(SubmitError::NameTaken { name, existing_id })
        }
        Err(CreateError::Store(err)) => return Err(err.into()),
    }
    let message = TaskMessage {
        task_id: task.id.clone(),
    };
    let delay = Duration::from_secs(task.delay_seconds.into());
    if let Err(err) = backend.queues.send(&task.queue, &message, delay).await {
        tracing::error!(task_id = %task.id, error = %err, "enqueue failed; removing the task record");
        backend.store.delete(&task, idempotency_key).await?;
        return Err(err.into());
    }
    Ok(Submitted::Created(task))
}
