//! The API's answers, as the server writes them and clients read them: the
//! CLI and the console use these very types. Fields a reader does not know
//! are ignored, so a newer server's additions do not break an older client.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use wharf_core::fleet::{Registered, WorkerReport, WorkerState};
use wharf_core::model::{Status, Task};
use wharf_core::pending::Pending;

/// A task as `GET` shows it: while queued, with why it is pending.
#[serde_with::skip_serializing_none]
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TaskView {
    #[serde(flatten)]
    pub task: Task,
    pub pending: Option<Pending>,
}

/// One page of tasks.
#[serde_with::skip_serializing_none]
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskList {
    pub tasks: Vec<Task>,
    /// Pass as `cursor` for the next page; absent on the last one. A page may
    /// hold fewer than `limit` tasks and still have a next one.
    pub next_cursor: Option<String>,
}

/// One output with a presigned URL.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OutputLink {
    pub path: String,
    pub size: u64,
    pub sha256: String,
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

/// A page of a task's outputs manifest.
#[serde_with::skip_serializing_none]
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OutputsPage {
    pub task_id: String,
    pub status: Status,
    pub outputs: Vec<OutputLink>,
    /// Pass as `cursor` for the next page; absent on the last one.
    pub next_cursor: Option<String>,
}

/// A part of one attempt's log.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogChunk {
    pub attempt: u32,
    pub data: String,
    pub next_offset: u64,
    /// True once this attempt's log will not grow any more.
    pub complete: bool,
}

/// A worker as the API shows it: its last report and how it reads now.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkerView {
    #[serde(flatten)]
    pub report: WorkerReport,
    pub state: WorkerState,
}

impl From<Registered> for WorkerView {
    fn from(worker: Registered) -> Self {
        WorkerView {
            state: worker.state(Utc::now()),
            report: worker.report,
        }
    }
}
