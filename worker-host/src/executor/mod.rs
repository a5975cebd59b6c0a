//! Executors run one attempt of a task and report how it ended. Each kind
//! (process, script, container) gets the same [`Run`] and answers with an
//! [`Ended`]; the attempt logic around them does not care which ran.

pub mod container;
pub mod process;
pub mod script;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use wharf_core::lifecycle::Exit;

/// Everything an executor needs to start one attempt. The attempt's
/// directory holds `home/` (the task's `HOME`), `io/payload.json`,
/// `io/output/` (uploaded afterwards; `io/` is `/wharf` in a container) and
/// `attempt.log` (stdout and stderr, in order).
#[derive(Debug, Clone)]
pub struct Run {
    pub task_id: String,
    pub attempt: u32,
    pub worker_id: String,
    pub dir: PathBuf,
    pub timeout: Duration,
    /// How long a stopped task may take to exit before it is killed.
    pub kill_grace: Duration,
    /// Cancelled when the attempt must stop now (lost lease, shutdown).
    pub stop: CancellationToken,
}

impl Run {
    pub fn home(&self) -> PathBuf {
        self.dir.join("home")
    }
    pub fn io_dir(&self) -> PathBuf {
        self.dir.join("io")
    }
    pub fn payload_file(&self) -> PathBuf {
        self.io_dir().join("payload.json")
    }
    pub fn output_dir(&self) -> PathBuf {
        self.io_dir().join("output")
    }
    pub fn log_file(&self) -> PathBuf {
        self.dir.join("attempt.log")
    }

    /// The `WHARF_*` variables, with the payload and output paths as the
    /// task sees them.
    pub fn wharf_env(&self, payload: &str, output_dir: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("WHARF_TASK_ID".to_owned(), self.task_id.clone()),
            ("WHARF_ATTEMPT".to_owned(), self.attempt.to_string()),
            ("WHARF_PAYLOAD".to_owned(), payload.to_owned()),
            ("WHARF_OUTPUT_DIR".to_owned(), output_dir.to_owned()),
        ])
    }

    /// Opens the log file for appending.
    pub fn open_log(&self) -> std::io::Result<std::fs::File> {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_file())
    }
}

/// How an attempt ended, with a human-readable note when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    pub exit: Exit,
    pub message: Option<String>,
}

impl Ended {
    pub fn start_failed(message: impl Into<String>) -> Self {
        Ended {
            exit: Exit::StartFailed,
            message: Some(message.into()),
        }
    }
}

/// The PATH a task gets unless its spec sets one.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
