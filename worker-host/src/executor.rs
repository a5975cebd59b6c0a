//! Executors run one attempt of a task and report how it ended. Each kind
//! (process, script, container) gets the same [`Run`] and answers with an
//! [`Ended`]; the attempt logic around them does not care which ran. An
//! executor stops what it started when [`Run::stop`] is cancelled, and
//! returns only once it is gone.

pub mod container;
pub mod log;
mod ownership;
pub mod process;
pub mod script;
mod start_failure;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;
use wharf_core::lifecycle::Exit;
use wharf_core::model::{ExecutorKind, TaskSpec};

use std::future::Future;

use container::ContainerHost;
use script::ScriptFetcher;

use crate::isolation::{TaskUid, TaskUsers};
use crate::secrets::{Redactor, Resolved};

pub use start_failure::StartFailure;

/// The executor seam: what the attempt logic needs from whatever runs tasks.
#[async_trait]
pub trait Execute: Send + Sync {
    /// Whether this host may, and now can, run tasks of `kind`.
    async fn can_run(&self, kind: ExecutorKind) -> bool;

    /// Runs one attempt to its end.
    async fn execute(&self, spec: &TaskSpec, run: &Run) -> Ended;
}

/// The real executors of this host: the kinds it may run (`--executors`),
/// who process and script tasks run as, the script fetcher, and the Docker
/// engine when it runs containers.
pub struct Executors {
    pub kinds: Vec<ExecutorKind>,
    pub users: TaskUsers,
    pub scripts: ScriptFetcher,
    pub containers: Option<ContainerHost>,
}

#[async_trait]
impl Execute for Executors {
    async fn can_run(&self, kind: ExecutorKind) -> bool {
        if !self.kinds.contains(&kind) {
            return false;
        }
        match (kind, &self.containers) {
            (ExecutorKind::Container, Some(host)) => host.available().await,
            (ExecutorKind::Container, None) => false,
            _ => true,
        }
    }

    async fn execute(&self, spec: &TaskSpec, run: &Run) -> Ended {
        match spec {
            TaskSpec::Process(process) => {
                let start = |user| process::run_process(process, run, user);
                self.as_task_user(run, start).await
            }
            TaskSpec::Script(script) => {
                let start = |user| self.scripts.run(script, run, user);
                self.as_task_user(run, start).await
            }
            TaskSpec::Container(container) => match &self.containers {
                Some(host) => host.run(container, run).await,
                None => Ended::start_failed("this host has no Docker engine"),
            },
        }
    }
}

const UPSTREAM_FILE: &str = "upstream.json";

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
    /// The log keeps its head and tail within this many bytes.
    pub max_log_bytes: u64,
    /// The task's secrets, resolved when the attempt started; every byte
    /// of its log passes their redaction.
    pub secrets: Arc<Resolved>,
    /// An array's child: its index, and the array's size.
    pub array: Option<(u32, u32)>,
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
    /// What the upstream tasks left (`WHARF_UPSTREAM`), for a task with
    /// dependencies.
    pub fn upstream_file(&self) -> PathBuf {
        self.io_dir().join(UPSTREAM_FILE)
    }
    pub fn log_file(&self) -> PathBuf {
        self.dir.join("attempt.log")
    }
    /// The `as: file` secrets: beside `io/`, never inside it.
    pub fn secrets_dir(&self) -> PathBuf {
        self.dir.join("secrets")
    }

    /// The `as: env` secrets, and `WHARF_SECRETS_DIR` (as the task sees
    /// it) when there are `as: file` ones.
    pub fn secret_env(&self, secrets_dir: &str) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = (self.secrets.env.iter())
            .map(|(name, value)| (name.clone(), value.as_str().to_owned()))
            .collect();
        if !self.secrets.files.is_empty() {
            env.push(("WHARF_SECRETS_DIR".to_owned(), secrets_dir.to_owned()));
        }
        env
    }

    /// The `WHARF_*` variables, with the paths in `io/` as the task sees
    /// that directory (`io_dir`); `WHARF_UPSTREAM` when there is an
    /// upstream file.
    pub fn wharf_env(&self, io_dir: &str) -> BTreeMap<String, String> {
        let mut env = BTreeMap::from([
            ("WHARF_TASK_ID".to_owned(), self.task_id.clone()),
            ("WHARF_ATTEMPT".to_owned(), self.attempt.to_string()),
            ("WHARF_PAYLOAD".to_owned(), format!("{io_dir}/payload.json")),
            ("WHARF_OUTPUT_DIR".to_owned(), format!("{io_dir}/output")),
        ]);
        if self.upstream_file().exists() {
            let upstream = format!("{io_dir}/{UPSTREAM_FILE}");
            env.insert("WHARF_UPSTREAM".to_owned(), upstream);
        }
        if let Some((index, size)) = self.array {
            env.insert("WHARF_ARRAY_INDEX".to_owned(), index.to_string());
            env.insert("WHARF_ARRAY_SIZE".to_owned(), size.to_string());
        }
        env
    }

    /// The attempt's log, bounded by `max_log_bytes`, redacted.
    pub fn open_log(&self) -> std::io::Result<log::CappedLog> {
        let redactor = Redactor::new(self.secrets.redaction.clone());
        log::CappedLog::create(&self.log_file(), self.max_log_bytes, redactor)
    }
}

impl Executors {
    /// Runs a process or script task under a uid of its own when this
    /// worker isolates tasks (`start` gets it), and afterwards kills
    /// whatever is left under that uid.
    async fn as_task_user<F, Fut>(&self, run: &Run, start: F) -> Ended
    where
        F: FnOnce(Option<u32>) -> Fut,
        Fut: Future<Output = Ended>,
    {
        let task_uid = match self.users.acquire().await {
            Ok(task_uid) => task_uid,
            Err(err) => return Ended::start_failed(err),
        };
        let user = task_uid.as_ref().map(TaskUid::uid);
        if let Some(uid) = user {
            if let Err(err) = ownership::hand_over(run, uid) {
                return Ended::start_failed(format!(
                    "cannot hand the attempt directory over to uid {uid}: {err}"
                ));
            }
        }
        let ended = start(user).await;
        if let Some(task_uid) = &task_uid {
            task_uid.reap().await;
            let run = run.clone();
            let taken = tokio::task::spawn_blocking(move || ownership::take_back(&run)).await;
            if let Ok(Err(err)) | Err(err) = taken.map_err(std::io::Error::other) {
                return Ended::start_failed(format!(
                    "cannot take the outputs back from the task: {err}"
                ));
            }
        }
        ended
    }
}

/// How an attempt ended, with a human-readable note when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    pub exit: Exit,
    pub message: Option<String>,
    /// The log outgrew `--max-log-bytes`: its middle was left out.
    pub log_truncated: bool,
}

impl Ended {
    pub fn new(exit: Exit, message: Option<String>) -> Self {
        Ended {
            exit,
            message,
            log_truncated: false,
        }
    }

    /// It did not start, and `why` (a [`StartFailure`], or a note) says
    /// why.
    pub fn start_failed(why: impl std::fmt::Display) -> Self {
        Ended::new(Exit::StartFailed, Some(why.to_string()))
    }
}

/// The PATH a task gets unless its spec sets one.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
