//! The task model: what a user submits and what Wharf records (SPEC §3).

use chrono::{DateTime, Utc};
use clap::ValueEnum;
use serde::{Deserialize, Serialize};
use strum::{Display, EnumString, IntoStaticStr};

use serde_json::{Map, Value};
use std::collections::BTreeMap;

use crate::array::{ArrayRequest, TaskArray};
use crate::concurrency::Concurrency;
use crate::secrets::SecretRef;

pub type TaskId = String;
pub type JsonObject = Map<String, Value>;

pub const DEFAULT_TIMEOUT_SECONDS: u32 = 3600;
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;

mod spec;

pub use spec::{
    ContainerSpec, ExecutorKind, Mount, ProcessSpec, PullPolicy, Resources, ScriptSpec, TaskSpec,
};

/// A task as submitted to `POST /v1/tasks`. Unknown fields are rejected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TaskRequest {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub queue: Option<String>,
    pub spec: TaskSpec,
    #[serde(default)]
    pub payload: Option<Value>,
    #[serde(default)]
    pub timeout_seconds: Option<u32>,
    #[serde(default)]
    pub max_attempts: Option<u32>,
    #[serde(default)]
    pub retry_on_failure: bool,
    #[serde(default)]
    pub delay_seconds: Option<u32>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Secrets the task gets from SSM or Secrets Manager, by reference.
    #[serde(default)]
    pub secrets: Vec<SecretRef>,
    /// Tasks this one waits for, each with the condition it needs.
    #[serde(default)]
    pub depends_on: Vec<Dependency>,
    /// At most `limit` tasks with this `key` run at once, fleet-wide.
    #[serde(default)]
    pub concurrency: Option<Concurrency>,
    /// Run `size` children of this task instead of the task itself.
    #[serde(default)]
    pub array: Option<ArrayRequest>,
}

/// One entry of `dependsOn`: an upstream task and the way it must end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Dependency {
    #[schema(value_type = String)]
    pub task: TaskId,
    #[serde(default)]
    pub on: DependOn,
    /// `nToN`, between two arrays of the same size: child i waits for the
    /// upstream array's child i alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<DependMode>,
}

impl Dependency {
    /// Whether the dependency is the task's own (not one its array's
    /// children have, each on an upstream child).
    pub fn is_whole(&self) -> bool {
        self.mode.is_none()
    }
}

/// How a dependency between arrays maps their children.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum DependMode {
    /// Child i of the dependent waits for child i of the upstream array.
    #[serde(rename = "nToN")]
    NToN,
}

/// How an upstream task must end for its dependent to run.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    Display,
    EnumString,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum DependOn {
    /// It succeeded.
    #[default]
    Success,
    /// It ended any other way (failed, timed out, cancelled, skipped).
    Failure,
    /// It ended.
    Any,
}

impl DependOn {
    /// Whether the condition holds on an upstream task in `status`; `None`
    /// while that task has not ended.
    pub fn holds(self, status: Status) -> Option<bool> {
        status.is_terminal().then(|| match self {
            DependOn::Success => status == Status::Succeeded,
            DependOn::Failure => status != Status::Succeeded,
            DependOn::Any => true,
        })
    }
}

/// Where a task is in its lifecycle (SPEC §3, Lifecycle).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    Display,
    EnumString,
    IntoStaticStr,
    ValueEnum,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum Status {
    /// Its dependencies have not all ended (`dependsOn`).
    Waiting,
    Queued,
    Running,
    Succeeded,
    Failed,
    TimedOut,
    Cancelled,
    /// A dependency ended in a way that its condition cannot hold.
    Skipped,
}

impl Status {
    /// A terminal status changes only when a user retries the task.
    pub fn is_terminal(self) -> bool {
        !matches!(self, Status::Waiting | Status::Queued | Status::Running)
    }
}

/// Why a task (or one attempt of it) ended the way it did.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    Display,
    EnumString,
    IntoStaticStr,
    utoipa::ToSchema,
)]
pub enum Reason {
    Succeeded,
    NonZeroExit,
    Timeout,
    Cancelled,
    #[serde(rename = "OOMKilled")]
    #[strum(serialize = "OOMKilled")]
    OomKilled,
    StartFailed,
    WorkerLost,
    DeadLettered,
    UploadFailed,
    OutputTooLarge,
    /// Skipped: a dependency's condition can no longer hold.
    DependencyFailed,
}

/// What an API token may do (`WHARF_API_TOKENS`, `wharf admin token`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Display, EnumString, ValueEnum,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Scope {
    Read,
    Submit,
    Admin,
}

/// One file a task left in its output directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OutputFile {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

/// The task record as stored in DynamoDB and returned by the API.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    #[schema(value_type = String)]
    pub id: TaskId,
    pub name: Option<String>,
    pub queue: String,
    pub spec: TaskSpec,
    /// The payload, when it is small enough to live in the record; larger
    /// payloads live in S3 (`payloadInS3`).
    pub payload: Option<Value>,
    #[serde(default)]
    pub payload_in_s3: bool,
    pub status: Status,
    pub attempt: u32,
    pub max_attempts: u32,
    pub timeout_seconds: u32,
    pub retry_on_failure: bool,
    pub delay_seconds: u32,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Its secrets, by name and reference; never their values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SecretRef>,
    /// The tasks it waits for, as submitted, with `on` filled in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<Dependency>,
    /// The tasks that wait for it, in the order they were submitted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<String>)]
    pub dependents: Vec<TaskId>,
    /// Its concurrency key and limit.
    pub concurrency: Option<Concurrency>,
    /// An array's parent: its size, and how its children stand.
    pub array: Option<TaskArray>,
    /// An array's child: its parent, and its index in the array.
    pub parent_id: Option<TaskId>,
    pub array_index: Option<u32>,
    pub array_size: Option<u32>,
    /// Released from `waiting`, and its message may not be sent yet: the
    /// control plane sends it if whoever released the task did not.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unsent: bool,
    /// Attempts made before the last `POST /v1/tasks/{id}/retry`: each
    /// retry gives the task `maxAttempts` more.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retry_base: u32,
    /// The registered function it was made from, if any.
    pub function: Option<String>,
    /// The task set it is a member of (`PUT /v1/tasksets/{set}`), if any.
    pub task_set: Option<String>,
    /// The `Idempotency-Key` it was submitted with, if any.
    pub idempotency: Option<Idempotency>,
    pub worker_id: Option<String>,
    pub exit_code: Option<i64>,
    pub reason: Option<Reason>,
    pub message: Option<String>,
    pub result: Option<Value>,
    /// The outputs manifest, when it is short enough for the record; a
    /// longer one is in S3 (`outputsInS3`), read through the API's pages.
    #[serde(default)]
    pub outputs: Vec<OutputFile>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub outputs_in_s3: bool,
    /// How many outputs the attempt left, and their total size.
    pub output_count: Option<u64>,
    pub output_bytes: Option<u64>,
    /// The last attempt's log outgrew the host's limit: its middle was left
    /// out, marked by a line saying how much.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub log_truncated: bool,
    /// Every attempt that has ended, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<AttemptRecord>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    /// The lease of record: a running task whose lease has passed may be
    /// taken over by another worker.
    pub lease_expires_at: Option<DateTime<Utc>>,
}

impl Task {
    /// A new queued task running `spec`, with the defaults of SPEC §3 and
    /// nothing else set.
    pub fn queued(id: TaskId, spec: TaskSpec, now: DateTime<Utc>) -> Task {
        Task {
            id,
            name: None,
            queue: "default".to_owned(),
            spec,
            payload: None,
            payload_in_s3: false,
            status: Status::Queued,
            attempt: 0,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            timeout_seconds: DEFAULT_TIMEOUT_SECONDS,
            retry_on_failure: false,
            delay_seconds: 0,
            labels: BTreeMap::new(),
            secrets: Vec::new(),
            depends_on: Vec::new(),
            dependents: Vec::new(),
            concurrency: None,
            array: None,
            parent_id: None,
            array_index: None,
            array_size: None,
            unsent: false,
            retry_base: 0,
            function: None,
            task_set: None,
            idempotency: None,
            worker_id: None,
            exit_code: None,
            reason: None,
            message: None,
            result: None,
            outputs: Vec::new(),
            outputs_in_s3: false,
            output_count: None,
            output_bytes: None,
            log_truncated: false,
            attempts: Vec::new(),
            created_at: now,
            started_at: None,
            finished_at: None,
            updated_at: now,
            lease_expires_at: None,
        }
    }

    /// The fence a worker holds while it runs this task's current attempt.
    pub fn fence(&self) -> Option<Fence> {
        self.worker_id.as_ref().map(|worker_id| Fence {
            worker_id: worker_id.clone(),
            attempt: self.attempt,
        })
    }

    /// Why the task ended, when that says more than its status does
    /// (`failed` with `NonZeroExit`, not `succeeded` with `Succeeded`).
    pub fn telling_reason(&self) -> Option<Reason> {
        match (self.status, self.reason?) {
            (Status::Succeeded, Reason::Succeeded)
            | (Status::Cancelled, Reason::Cancelled)
            | (Status::TimedOut, Reason::Timeout) => None,
            (_, reason) => Some(reason),
        }
    }

    /// The attempts made since the task was last retried by a user: what
    /// `maxAttempts` bounds.
    pub fn attempts_made(&self) -> u32 {
        self.attempt.saturating_sub(self.retry_base)
    }

    /// Whether the task's lease of record is still live at `now`.
    pub fn lease_live(&self, now: DateTime<Utc>) -> bool {
        self.lease_expires_at.is_some_and(|lease| lease > now)
    }
}

fn is_zero(value: &u32) -> bool {
    *value == 0
}

/// An `Idempotency-Key` as a task holds it: the key belongs to the client
/// (API token) that sent it, and `digest` identifies what was submitted, so
/// the same key with another body can be told apart from a retry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Idempotency {
    pub client: String,
    pub key: String,
    pub digest: String,
}

/// One attempt of a task, once it has ended.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttemptRecord {
    pub attempt: u32,
    pub worker_id: Option<String>,
    /// `None` for an attempt released at shutdown.
    pub reason: Option<Reason>,
    pub exit_code: Option<i64>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: DateTime<Utc>,
}

/// `(workerId, attempt)`: every write a worker makes to a running task is
/// conditional on it, so a worker that lost its lease cannot overwrite a newer
/// attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub worker_id: String,
    pub attempt: u32,
}

/// The body of every SQS message Wharf sends. The task lives in DynamoDB;
/// a message may also carry the record as it was when the message was sent
/// (`snapshot`), so a worker can claim the task without reading it first.
/// A snapshot is never trusted: the claim is written only if the stored
/// record is exactly the snapshot, and answers the stored record otherwise.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskMessage {
    pub task_id: TaskId,
    pub snapshot: Option<Snapshot>,
    /// A wake-up beside the task's own message (a concurrency place came
    /// free, or a backstop of a task waiting for one): a worker that finds
    /// the task held deletes it rather than keep it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hint: bool,
}

/// A task record as it was stored at `version`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub version: u64,
    pub task: Box<Task>,
}

/// Snapshots of records larger than this (as JSON) stay out of messages:
/// the worker reads those records instead.
pub const MAX_SNAPSHOT_BYTES: usize = 64 * 1024;

impl TaskMessage {
    /// The message of a task, with its record at `version` when that is
    /// small enough to carry.
    pub fn with_snapshot(task: &Task, version: u64) -> TaskMessage {
        let fits = serde_json::to_vec(task).is_ok_and(|json| json.len() <= MAX_SNAPSHOT_BYTES);
        TaskMessage {
            task_id: task.id.clone(),
            snapshot: fits.then(|| Snapshot {
                version,
                task: Box::new(task.clone()),
            }),
            hint: false,
        }
    }

    /// A message naming the task only: the worker reads the record.
    pub fn bare(task_id: &str) -> TaskMessage {
        TaskMessage {
            task_id: task_id.to_owned(),
            snapshot: None,
            hint: false,
        }
    }

    /// A wake-up naming the task only ([`TaskMessage::hint`]).
    pub fn hint(task_id: &str) -> TaskMessage {
        TaskMessage {
            hint: true,
            ..TaskMessage::bare(task_id)
        }
    }
}

/// A new, time-sortable task id (ULID).
pub fn new_task_id() -> TaskId {
    ulid::Ulid::new().to_string().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_has_the_same_name_on_the_command_line_as_in_json() {
        for status in Status::value_variants() {
            let named = status.to_possible_value().unwrap();
            assert_eq!(named.get_name(), status.to_string());
            assert_eq!(serde_json::to_value(status).unwrap(), status.to_string());
        }
        assert_eq!(Status::value_variants().len(), 8);
    }

    #[test]
    fn a_reason_is_told_only_when_it_says_more_than_the_status() {
        let mut task = Task::queued(
            new_task_id(),
            TaskSpec::Process(ProcessSpec::default()),
            Utc::now(),
        );
        assert_eq!(task.telling_reason(), None);
        for (status, reason, told) in [
            (Status::Succeeded, Reason::Succeeded, None),
            (Status::Cancelled, Reason::Cancelled, None),
            (Status::TimedOut, Reason::Timeout, None),
            (
                Status::Failed,
                Reason::NonZeroExit,
                Some(Reason::NonZeroExit),
            ),
            (Status::Failed, Reason::WorkerLost, Some(Reason::WorkerLost)),
            (Status::Queued, Reason::WorkerLost, Some(Reason::WorkerLost)),
        ] {
            (task.status, task.reason) = (status, Some(reason));
            assert_eq!(task.telling_reason(), told, "{status} {reason}");
        }
    }
}
