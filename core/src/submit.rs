//! Submitting a validated task: record it, then enqueue it. A task is never
//! left recorded without a message: if enqueueing fails the record is removed
//! again and the caller is told to retry.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::array::TaskArray;
use crate::artifacts::{payload_key, Artifacts};
use crate::error::Error;
use crate::flow::Flow;
use crate::model::{new_task_id, Dependency, Idempotency, Status, Task, TaskMessage};
use crate::queue::Queue;
use crate::store::{CreateError, TaskStore};
use crate::validate::{FieldError, ValidTask, INLINE_PAYLOAD_BYTES};

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
    /// The client used this idempotency key for another submission.
    #[error("idempotency key {key:?} was used for another submission: task {existing_id}")]
    KeyReused { key: String, existing_id: String },
    /// A dependency names a task that cannot be depended on.
    #[error("invalid dependencies")]
    Invalid(Vec<FieldError>),
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
        secrets: request.secrets.clone(),
        depends_on: request.depends_on.clone(),
        concurrency: request.concurrency.clone(),
        status: if request.depends_on.iter().any(Dependency::is_whole) {
            Status::Waiting
        } else {
            Status::Queued
        },
        array: request.array.as_ref().map(TaskArray::new),
        // An array's children are still to be made.
        unsent: request.array.is_some() && !request.depends_on.iter().any(Dependency::is_whole),
        function: valid.function.clone(),
        task_set: valid.task_set.clone(),
        ..Task::queued(id, request.spec.clone(), now)
    }
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

/// An `Idempotency-Key` as a client (an API token's id) sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientKey<'a> {
    pub client: &'a str,
    pub key: &'a str,
}

/// What identifies a submission for its idempotency key: the validated
/// request, serialized in its fixed field order.
fn digest(valid: &ValidTask) -> String {
    let canonical = serde_json::to_vec(&valid.request).unwrap_or_default();
    hex::encode(Sha256::digest(canonical))
}

/// When a submission's message becomes visible.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueue {
    /// After the task's own `delaySeconds`: any worker may take it.
    AsRequested,
    /// After this long: the task was pushed to a worker that runs it now,
    /// and the message is the backstop that lets another worker take it
    /// over should that one die.
    Backstop(Duration),
}

/// The seams a submission writes to: the task's record, its message, and
/// its payload when that is too large to be inline.
#[derive(Clone, Copy)]
pub struct Seams<'a> {
    pub store: &'a dyn TaskStore,
    pub queues: &'a dyn Queue,
    pub artifacts: &'a dyn Artifacts,
}

impl Seams<'_> {
    /// The stores dependencies are settled through.
    pub fn flow(&self) -> Flow<'_> {
        Flow {
            store: self.store,
            queues: self.queues,
        }
    }
}

/// Records a valid submission, then enqueues its message; one with
/// dependencies is linked to them instead, and released once they hold.
pub async fn submit(
    seams: Seams<'_>,
    valid: ValidTask,
    key: Option<ClientKey<'_>>,
    enqueue: Enqueue,
) -> Result<Submitted, SubmitError> {
    let task = Task {
        idempotency: key.map(|key| Idempotency {
            client: key.client.to_owned(),
            key: key.key.to_owned(),
            digest: digest(&valid),
        }),
        ..new_task(&valid, new_task_id(), Utc::now())
    };
    let invalid = seams
        .flow()
        .check_upstream(&task.depends_on, valid.request.array.as_ref())
        .await?;
    if !invalid.is_empty() {
        return Err(SubmitError::Invalid(invalid));
    }
    if task.payload_in_s3 {
        seams
            .artifacts
            .put_bytes(
                &payload_key(&task.id),
                valid.payload_json.into_bytes(),
                "application/json",
            )
            .await?;
    }
    match seams.store.create(&task).await {
        Ok(()) => {}
        Err(CreateError::IdempotencyKeyUsed { existing_id }) => {
            let existing = seams.store.get(&existing_id).await?.ok_or_else(|| {
                Error::NotFound(format!("task {existing_id} of this idempotency key"))
            })?;
            let digest = |task: &Task| task.idempotency.as_ref().map(|i| i.digest.clone());
            if digest(&existing.task) != digest(&task) {
                let key = key.map(|k| k.key.to_owned()).unwrap_or_default();
                return Err(SubmitError::KeyReused { key, existing_id });
            }
            return Ok(Submitted::Existing(existing.task));
        }
        Err(CreateError::NameTaken { name, existing_id }) => {
            return Err(SubmitError::NameTaken { name, existing_id })
        }
        Err(CreateError::Store(err)) => return Err(err.into()),
    }
    if task.status == Status::Waiting {
        // Stored: from here on it is the control plane's to release, so a
        // failure to link or release is logged, never a refusal.
        return Ok(Submitted::Created(
            seams.flow().link(&task).await.unwrap_or_else(|err| {
                tracing::warn!(task_id = %task.id, error = %err, "cannot link the task to its dependencies now; the control plane's tick settles it");
                task
            }),
        ));
    }
    if task.array.is_some() {
        // Stored: the control plane makes its children.
        seams.flow().announce_array(&task).await;
        return Ok(Submitted::Created(task));
    }
    // A new record is stored at version 1.
    let message = TaskMessage::with_snapshot(&task, 1);
    let delay = match enqueue {
        Enqueue::AsRequested => Duration::from_secs(task.delay_seconds.into()),
        Enqueue::Backstop(delay) => delay,
    };
    if let Err(err) = seams.queues.send(&task.queue, &message, delay).await {
        tracing::error!(task_id = %task.id, error = %err, "enqueue failed; removing the task record");
        seams.store.delete(&task).await?;
        return Err(err.into());
    }
    Ok(Submitted::Created(task))
}
