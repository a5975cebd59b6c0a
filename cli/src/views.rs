//! The API's answers as the CLI reads them to show them (`--json` prints
//! them whole). Tasks, workers and the fleet's status are read as
//! wharf-core's own types, which the API writes; the rest as the few fields
//! shown. Fields the CLI does not know are ignored.

use chrono::{DateTime, Utc};
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

/// How long ago `at` was, for tables ("5s", "3m", "2h").
pub fn age(at: DateTime<Utc>) -> String {
    let seconds = (Utc::now() - at).num_seconds().max(0) as u64;
    short_duration(seconds)
}

/// A duration in its largest whole unit and the next one ("3m04s").
pub fn short_duration(seconds: u64) -> String {
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3600 => format!("{}m{:02}s", seconds / 60, seconds % 60),
        3600..86400 => format!("{}h{:02}m", seconds / 3600, seconds % 3600 / 60),
        _ => format!("{}d{:02}h", seconds / 86400, seconds % 86400 / 3600),
    }
}

/// How long a task ran, or has run so far.
pub fn run_time(task: &Task) -> Option<String> {
    let started = task.started_at?;
    let ended = task.finished_at.unwrap_or_else(Utc::now);
    let millis = (ended - started).num_milliseconds().max(0) as u64;
    Some(match millis {
        0..10_000 => format!("{:.1}s", millis as f64 / 1000.0),
        _ => short_duration(millis / 1000),
    })
}

#[cfg(test)]
mod tests {
    use super::short_duration;

    #[test]
    fn durations_read_in_their_two_largest_units() {
        assert_eq!(short_duration(0), "0s");
        assert_eq!(short_duration(59), "59s");
        assert_eq!(short_duration(184), "3m04s");
        assert_eq!(short_duration(3600 + 120), "1h02m");
        assert_eq!(short_duration(90000), "1d01h");
    }
}
