//! The worker host's settings, built once by `main` from its flags.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use wharf_core::secrets::Prefixes;

/// How the host takes tasks (`--mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, strum::Display)]
#[strum(serialize_all = "lowercase")]
pub enum Mode {
    /// Long-polls its queues.
    Poll,
    /// Runs what is pushed to its local `POST /v1/tasks`, and polls nothing.
    Push,
    /// Both.
    Hybrid,
}

impl Mode {
    pub fn polls(self) -> bool {
        self != Mode::Push
    }

    pub fn takes_pushes(self) -> bool {
        self != Mode::Poll
    }
}

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub mode: Mode,
    /// This host's id in task records: `<hostname>-<random>`.
    pub worker_id: String,
    pub hostname: String,
    /// Shown in the fleet view.
    pub labels: BTreeMap<String, String>,
    /// Queues to serve, highest priority first.
    pub queues: Vec<String>,
    /// Task slots.
    pub concurrency: usize,
    pub heartbeat: Duration,
    pub lease: Duration,
    /// How long running tasks may finish on shutdown.
    pub grace: Duration,
    /// How long a stopped task may take to exit before it is killed.
    pub kill_grace: Duration,
    /// Where per-attempt directories are made.
    pub work_dir: PathBuf,
    /// Long-poll wait of a receive (SQS allows up to 20 s).
    pub poll_wait: Duration,
    /// Exit after this many tasks.
    pub max_tasks: Option<usize>,
    /// Exit after this long with nothing to do.
    pub exit_when_idle: Option<Duration>,
    /// Outputs of one attempt larger than this fail it (`OutputTooLarge`).
    pub max_output_bytes: u64,
    /// More output files than this fail the attempt (`OutputTooLarge`).
    pub max_output_files: usize,
    /// An attempt's log keeps its head and tail within this many bytes.
    pub max_log_bytes: u64,
    /// The upload phase of an attempt may take this long (`UploadFailed`).
    pub upload_timeout: Duration,
    /// Secrets are resolved only under these (`--secret-prefixes`).
    pub secret_prefixes: Prefixes,
}
