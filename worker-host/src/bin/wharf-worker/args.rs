//! The worker's flags, each with its `WHARF_*` variable, and what they make: its configuration, its executors and the container rules.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use wharf_core::config::ResourceNames;
use wharf_core::model::ExecutorKind;
use wharf_core::secrets::Prefixes;
use wharf_worker_host::config::Mode;
use wharf_worker_host::executor::container::{
    AllowedMount, Ceilings, ContainerHost, HostRules, RegistryAuth,
};
use wharf_worker_host::executor::script::ScriptFetcher;
use wharf_worker_host::executor::Executors;
use wharf_worker_host::fleet::parse_labels;
use wharf_worker_host::isolation::{TaskUsers, UidRange};
use wharf_worker_host::WorkerConfig;

#[derive(Debug, Parser)]
#[command(name = "wharf-worker", version, about)]
pub struct Args {
    /// Task slots (default: the number of CPUs).
    #[arg(long, env = "WHARF_CONCURRENCY")]
    pub concurrency: Option<usize>,
    /// Kinds of task this host may run.
    #[arg(
        long,
        env = "WHARF_EXECUTORS",
        default_value = "process,script,container",
        value_delimiter = ','
    )]
    pub executors: Vec<ExecutorKind>,
    /// Heartbeat and lease renewal interval, in seconds.
    #[arg(long, env = "WHARF_HEARTBEAT_SECS", default_value_t = 5)]
    pub heartbeat_secs: u64,
    /// A lease not renewed for this long is lost, in seconds.
    #[arg(long, env = "WHARF_LEASE_SECS", default_value_t = 30)]
    pub lease_secs: u64,
    /// How long running tasks may finish on shutdown, in seconds.
    #[arg(long, env = "WHARF_GRACE_SECS", default_value_t = 30)]
    pub grace_secs: u64,
    /// How long a stopped task may take to exit before SIGKILL, in seconds.
    #[arg(long, env = "WHARF_KILL_GRACE_SECS", default_value_t = 5)]
    pub kill_grace_secs: u64,
    /// Directory for per-task work directories (default: a new one in the
    /// temporary directory, removed at exit). A root worker refuses one that
    /// its task uids cannot reach (a parent closed to others).
    #[arg(long, env = "WHARF_WORK_DIR")]
    pub work_dir: Option<PathBuf>,
    /// Long-poll wait of each receive, in seconds (at most 20).
    #[arg(long, env = "WHARF_POLL_WAIT_SECS", default_value_t = 20)]
    pub poll_wait_secs: u64,
    /// Exit after one task.
    #[arg(long, conflicts_with = "max_tasks")]
    pub once: bool,
    /// Exit after this many tasks.
    #[arg(long, env = "WHARF_MAX_TASKS")]
    pub max_tasks: Option<usize>,
    /// Exit after this many seconds with nothing to do.
    #[arg(long, env = "WHARF_EXIT_WHEN_IDLE")]
    pub exit_when_idle: Option<u64>,
    /// Outputs of one attempt may total at most this many bytes.
    #[arg(long, env = "WHARF_MAX_OUTPUT_BYTES", default_value_t = 10 * 1024 * 1024 * 1024)]
    pub max_output_bytes: u64,
    /// Outputs of one attempt may be at most this many files.
    #[arg(long, env = "WHARF_MAX_OUTPUT_FILES", default_value_t = 10_000)]
    pub max_output_files: usize,
    /// An attempt's log is kept within this many bytes: beyond, its head and
    /// tail are kept around a marker line (`logTruncated: true`).
    #[arg(long, env = "WHARF_MAX_LOG_BYTES", default_value_t = 100 * 1024 * 1024)]
    pub max_log_bytes: u64,
    /// Uploading an attempt's log and outputs may take this many seconds;
    /// beyond, the attempt fails `UploadFailed`.
    #[arg(long, env = "WHARF_UPLOAD_TIMEOUT_SECS", default_value_t = 3600)]
    pub upload_timeout_secs: u64,
    /// Name prefixes under which tasks' secrets are read, with this host's
    /// credentials: those starting with `/` are SSM parameters, the others
    /// Secrets Manager secrets.
    #[arg(
        long,
        env = "WHARF_SECRET_PREFIXES",
        value_delimiter = ',',
        default_value = "/wharf/,wharf/"
    )]
    pub secret_prefixes: Vec<String>,
    /// PEM bundle trusted in addition to the system roots (script downloads).
    #[arg(long, env = "WHARF_EXTRA_CA_FILE")]
    pub extra_ca_file: Option<PathBuf>,
    /// Scripts larger than this many bytes are refused.
    #[arg(long, env = "WHARF_MAX_SCRIPT_BYTES", default_value_t = 16 * 1024 * 1024)]
    pub max_script_bytes: u64,
    /// Script downloads taking longer than this many seconds fail.
    #[arg(long, env = "WHARF_SCRIPT_TIMEOUT_SECS", default_value_t = 60)]
    pub script_timeout_secs: u64,
    /// Host paths container tasks may mount (and what lies below them), as
    /// `PATH[:ro],…`; `:ro` mounts read-only whatever the task asks. Each is
    /// resolved at start-up and must exist.
    #[arg(long, env = "WHARF_ALLOWED_MOUNTS", value_delimiter = ',')]
    pub allowed_mounts: Vec<AllowedMount>,
    /// Most memory a container task may have, in MiB (also its default).
    #[arg(long, env = "WHARF_CONTAINER_MAX_MEMORY_MB")]
    pub container_max_memory_mb: Option<u64>,
    /// Most CPUs a container task may have (also its default).
    #[arg(long, env = "WHARF_CONTAINER_MAX_CPUS")]
    pub container_max_cpus: Option<f64>,
    /// Most processes a container task may have (also its default).
    #[arg(long, env = "WHARF_CONTAINER_MAX_PIDS")]
    pub container_max_pids: Option<i64>,
    /// JSON file of registry credentials for image pulls:
    /// `[{"server": "ghcr.io", "username": "…", "password": "…"}]`.
    #[arg(long, env = "WHARF_REGISTRY_AUTH_FILE")]
    pub registry_auth_file: Option<PathBuf>,
    /// When the worker runs as root: the uids process and script tasks run
    /// under, one per running task (at least as many as task slots).
    #[arg(long, env = "WHARF_TASK_UIDS", default_value = "61000-61999")]
    pub task_uids: UidRange,
    /// `root` runs process and script tasks as root instead: an explicit
    /// opt-out of per-task users, logged as a warning.
    #[arg(long, env = "WHARF_TASK_USER", value_enum)]
    pub task_user: Option<TaskUser>,
    /// `k=v,…` shown in the fleet view.
    #[arg(long, env = "WHARF_LABELS", default_value = "", value_parser = parse_labels)]
    pub labels: BTreeMap<String, String>,
    /// `poll` the queues, run tasks `push`ed to the local `POST /v1/tasks`,
    /// or both (`hybrid`).
    #[arg(long, env = "WHARF_MODE", value_enum, default_value_t = Mode::Poll)]
    pub mode: Mode,
    /// Address of the local HTTP server (`/health`, `/metrics`, and
    /// `POST /v1/tasks` in push and hybrid mode).
    #[arg(long, env = "WHARF_HTTP_LISTEN", default_value = "127.0.0.1:9090")]
    pub http_listen: SocketAddr,
    /// Log as JSON lines.
    #[arg(long, env = "WHARF_LOG_JSON")]
    pub log_json: bool,
    #[command(flatten)]
    pub names: ResourceNames,
}

/// The user process and script tasks run as, instead of their own uids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TaskUser {
    Root,
}

impl Args {
    pub fn config(&self, hostname: &str) -> anyhow::Result<WorkerConfig> {
        if self.lease_secs <= self.heartbeat_secs {
            anyhow::bail!(
                "--lease-secs ({}) must be longer than --heartbeat-secs ({})",
                self.lease_secs,
                self.heartbeat_secs
            );
        }
        let random = ulid::Ulid::new().to_string()[20..].to_lowercase();
        let work_dir = match &self.work_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir)?;
                dir.clone()
            }
            // A name nobody could have taken before: a directory made
            // beforehand by someone else (and what they put in it) is never
            // this worker's.
            None => {
                let dir = std::env::temp_dir().join(format!("wharf-worker-{random}"));
                std::fs::DirBuilder::new()
                    .mode(0o700)
                    .create(&dir)
                    .with_context(|| {
                        format!("cannot create the work directory {}", dir.display())
                    })?;
                dir
            }
        };
        Ok(WorkerConfig {
            mode: self.mode,
            worker_id: format!("{hostname}-{random}"),
            hostname: hostname.to_owned(),
            labels: self.labels.clone(),
            queues: self.names.queues.clone(),
            concurrency: self.slots(),
            heartbeat: Duration::from_secs(self.heartbeat_secs),
            lease: Duration::from_secs(self.lease_secs),
            grace: Duration::from_secs(self.grace_secs),
            kill_grace: Duration::from_secs(self.kill_grace_secs),
            // Tasks run in their own directories: every path they get is
            // absolute.
            work_dir: work_dir.canonicalize()?,
            poll_wait: Duration::from_secs(self.poll_wait_secs.min(20)),
            max_tasks: if self.once { Some(1) } else { self.max_tasks },
            exit_when_idle: self.exit_when_idle.map(Duration::from_secs),
            max_output_bytes: self.max_output_bytes,
            max_output_files: self.max_output_files,
            max_log_bytes: self.max_log_bytes,
            upload_timeout: Duration::from_secs(self.upload_timeout_secs),
            secret_prefixes: Prefixes::new(self.secret_prefixes.clone()),
        })
    }

    fn container_rules(&self) -> anyhow::Result<HostRules> {
        let allowed_mounts = self
            .allowed_mounts
            .iter()
            .map(|allowed| {
                let root = allowed.root.display().to_string();
                allowed
                    .clone()
                    .resolved()
                    .with_context(|| format!("--allowed-mounts {root}"))
            })
            .collect::<anyhow::Result<_>>()?;
        let registry_auth = match &self.registry_auth_file {
            Some(path) => read_registry_auth(path)?,
            None => Vec::new(),
        };
        let ceilings = Ceilings {
            memory_mb: self.container_max_memory_mb,
            cpus: self.container_max_cpus,
            pids: self.container_max_pids,
        };
        Ok(HostRules {
            allowed_mounts,
            registry_auth,
            ceilings,
        })
    }

    /// Task slots: `--concurrency`, or one per CPU.
    fn slots(&self) -> usize {
        self.concurrency
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    pub async fn executors(&self, hostname: &str, deployment: &str) -> anyhow::Result<Executors> {
        let scripts = ScriptFetcher::new(
            self.extra_ca_file.as_deref(),
            Duration::from_secs(self.script_timeout_secs),
            self.max_script_bytes,
        )?;
        let containers = if self.executors.contains(&ExecutorKind::Container) {
            let rules = self.container_rules()?;
            Some(ContainerHost::connect(hostname, deployment, rules).await?)
        } else {
            None
        };
        let slots = self.slots();
        let as_root = self.task_user == Some(TaskUser::Root);
        let users = TaskUsers::new(self.task_uids, slots, as_root)?;
        Ok(Executors {
            kinds: self.executors.clone(),
            users,
            scripts,
            containers,
        })
    }
}

fn read_registry_auth(path: &std::path::Path) -> anyhow::Result<Vec<RegistryAuth>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| {
        format!(
            "{} must hold [{{\"server\", \"username\", \"password\"}}, …]",
            path.display()
        )
    })
}
