//! Executors run one attempt of a task and report how it ended. Each kind
//! (process, script, container) gets the same [`Run`] and answers with an
//! [`Ended`]; the attempt logic around them does not care which ran.

pub mod process;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use wharf_core::lifecycle::Exit;

/// Everything an executor needs to start one attempt.
#[derive(Debug, Clone)]
pub struct Run {
    /// The attempt's own directory; the task's `HOME` and default working
    /// directory.
    pub home: PathBuf,
    /// The directory whose files are uploaded afterwards.
    pub output_dir: PathBuf,
    /// The file holding the payload JSON.
    pub payload_file: PathBuf,
    /// Where stdout and stderr go, together, in order.
    pub log_file: PathBuf,
    /// `WHARF_*` variables for the task.
    pub wharf_env: BTreeMap<String, String>,
    pub timeout: Duration,
    /// How long a stopped task may take to exit before it is killed.
    pub kill_grace: Duration,
    /// Cancelled when the attempt must stop now (lost lease, shutdown).
    pub stop: CancellationToken,
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
