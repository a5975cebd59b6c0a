//! The fleet seam: worker hosts register themselves, heartbeat with their
//! resources and read the operator's commands (drain, revoke) back in the
//! same write. The real registry is a DynamoDB table
//! ([`crate::aws::DynamoFleet`]).

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::model::ExecutorKind;

/// A heartbeat older than this many intervals reads as `offline`.
pub const OFFLINE_AFTER_HEARTBEATS: u32 = 3;

/// A worker's record expires (DynamoDB TTL) this long after its last
/// heartbeat: a host that died stays visible as `offline` for a day.
pub const RECORD_RETENTION: chrono::Duration = chrono::Duration::days(1);

/// What a worker host says of itself at every heartbeat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkerReport {
    pub id: String,
    pub hostname: String,
    pub version: String,
    pub labels: BTreeMap<String, String>,
    /// Queues it serves, highest priority first.
    pub queues: Vec<String>,
    pub executors: Vec<ExecutorKind>,
    pub mode: String,
    pub slots: u32,
    pub busy_slots: u32,
    pub running_tasks: Vec<String>,
    pub resources: Resources,
    pub heartbeat_secs: u32,
    pub started_at: DateTime<Utc>,
    pub heartbeat_at: DateTime<Utc>,
    /// True once the worker has stopped taking tasks (drained or revoked).
    pub taking_tasks: bool,
}

/// The host's resources, read at each heartbeat.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = HostResources)]
pub struct Resources {
    pub cpu_cores: u32,
    /// Load average over one minute.
    pub load_average: f64,
    pub memory_total_bytes: u64,
    pub memory_available_bytes: u64,
    /// Of the file system holding the work directory.
    pub disk_total_bytes: u64,
    pub disk_available_bytes: u64,
    /// Received and sent over every interface since boot.
    pub network_received_bytes: u64,
    pub network_sent_bytes: u64,
}

/// `GET /v1/status`: every configured queue's counts and the fleet's
/// capacity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = QueuesAndFleet)]
pub struct FleetStatus {
    pub queues: Vec<QueueStatus>,
    pub workers: FleetCounts,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueueStatus {
    pub name: String,
    pub visible: u64,
    pub in_flight: u64,
    pub delayed: u64,
    pub dead_lettered: u64,
    /// Online workers taking this queue's tasks, and their free slots.
    pub workers: u32,
    pub free_slots: u32,
    /// Visible messages per free slot (per slot when none is free): what
    /// an autoscaler scales on.
    pub backlog_per_free_slot: f64,
}

/// Workers by state, and the slots of those not offline.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FleetCounts {
    pub online: u32,
    pub draining: u32,
    pub revoked: u32,
    pub offline: u32,
    pub busy_slots: u32,
    pub total_slots: u32,
}

/// What an operator asked of a worker.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::Display, strum::EnumString,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Command {
    /// Finish running tasks, take no more.
    Drain,
    /// Take no more, release running tasks, exit.
    Revoke,
}

/// A worker as the registry holds it: its last report and the command an
/// operator gave it, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Registered {
    pub report: WorkerReport,
    pub command: Option<Command>,
}

/// How a worker reads in the fleet view.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::Display, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum WorkerState {
    Online,
    Draining,
    Revoked,
    Offline,
}

impl Registered {
    pub fn state(&self, now: DateTime<Utc>) -> WorkerState {
        let interval = chrono::Duration::seconds(self.report.heartbeat_secs.max(1).into());
        if now - self.report.heartbeat_at > interval * OFFLINE_AFTER_HEARTBEATS as i32 {
            return WorkerState::Offline;
        }
        match self.command {
            Some(Command::Revoke) => WorkerState::Revoked,
            Some(Command::Drain) => WorkerState::Draining,
            None => WorkerState::Online,
        }
    }

    /// Online, polling, and taking tasks of `queue` (a push-only worker
    /// runs only what is pushed to it).
    pub fn serves(&self, queue: &str, now: DateTime<Utc>) -> bool {
        self.state(now) == WorkerState::Online
            && self.report.taking_tasks
            && self.report.mode != "push"
            && self.report.queues.iter().any(|q| q == queue)
    }
}

#[async_trait]
pub trait Fleet: Send + Sync {
    /// Writes the worker's report (creating its record if needed) and
    /// returns the command an operator left for it.
    async fn heartbeat(&self, report: &WorkerReport) -> Result<Option<Command>>;

    /// Removes a worker's record (its clean shutdown).
    async fn deregister(&self, worker_id: &str) -> Result<()>;

    async fn get(&self, worker_id: &str) -> Result<Option<Registered>>;

    /// Every registered worker, ordered by id.
    async fn list(&self) -> Result<Vec<Registered>>;

    /// Leaves a command for a worker; `false` if no such worker.
    async fn command(&self, worker_id: &str, command: Command) -> Result<bool>;
}
