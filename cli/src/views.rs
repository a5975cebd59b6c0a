//! The API's answers as the CLI reads them to show them (`--json` prints
//! them whole). Tasks, workers and the fleet's status are read as
//! wharf-core's own types, which the API writes; the rest as the few fields
//! shown. Fields the CLI does not know are ignored.

use serde::Deserialize;
use wharf_core::fleet::WorkerReport;
use wharf_core::model::Task;

/// `GET /v1/tasks/{id}`: the task and, while it is queued, why.
#[derive(Debug, Deserialize)]
pub struct TaskView {
    #[serde(flatten)]
    pub task: Task,
    #[serde(default)]
    pub pending: Option<Pending>,
}

#[derive(Debug, Deserialize)]
pub struct Pending {
    pub reason: String,
    pub detail: String,
}

/// `GET /v1/tasks`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskPage {
    pub tasks: Vec<serde_json::Value>,
    #[serde(default)]
    pub next_cursor: Option<String>,
}

/// `GET /v1/tasks/{id}/outputs`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputsPage {
    pub outputs: Vec<OutputLink>,
    #[serde(default)]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct OutputLink {
    pub path: String,
    pub size: u64,
    pub sha256: String,
    pub url: String,
}

/// `GET /v1/tasks/{id}/logs`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogChunk {
    pub attempt: u32,
    pub data: String,
    pub next_offset: u64,
    pub complete: bool,
}

/// `GET /v1/workers`.
#[derive(Debug, Deserialize)]
pub struct WorkerView {
    #[serde(flatten)]
    pub report: WorkerReport,
    pub state: String,
}
