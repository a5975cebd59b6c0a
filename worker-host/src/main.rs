//! `wharf-worker`: the worker host daemon (SPEC §5).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use wharf_core::aws::{deployment, load_aws};
use wharf_core::config::ResourceNames;
use wharf_core::logging::{init_tracing, LogFormat};
use wharf_core::model::ExecutorKind;
use wharf_core::shutdown::on_signal;
use wharf_worker_host::config::Mode;
use wharf_worker_host::executor::container::sweep::Sweeper;
use wharf_worker_host::executor::container::{
    AllowedMount, Ceilings, ContainerHost, HostRules, RegistryAuth,
};
use wharf_worker_host::executor::script::ScriptFetcher;
use wharf_worker_host::executor::Executors;
use wharf_worker_host::fleet::{parse_labels, HostState};
use wharf_worker_host::http::LocalHttp;
use wharf_worker_host::isolation::{close_work_dir, make_non_dumpable, TaskUsers, UidRange};
use wharf_worker_host::push::worker_token;
use wharf_worker_host::{Slots, Worker, WorkerConfig};

#[derive(Debug, Parser)]
#[command(name = "wharf-worker", version, about)]
struct Args {
    /// Task slots (default: the number of CPUs).
    #[arg(long, env = "WHARF_CONCURRENCY")]
    concurrency: Option<usize>,
    /// Kinds of task this host may run.
    #[arg(
        long,
        env = "WHARF_EXECUTORS",
        default_value = "process,script,container",
        value_delimiter = ','
    )]
    executors: Vec<ExecutorKind>,
    /// Heartbeat and lease renewal interval, in seconds.
    #[arg(long, env = "WHARF_HEARTBEAT_SECS", default_value_t = 5)]
    heartbeat_secs: u64,
    /// A lease not renewed for this long is lost, in seconds.
    #[arg(long, env = "WHARF_LEASE_SECS", default_value_t = 30)]
    lease_secs: u64,
    /// How long running tasks may finish on shutdown, in seconds.
    #[arg(long, env = "WHARF_GRACE_SECS", default_value_t = 30)]
    grace_secs: u64,
    /// How long a stopped task may take to exit before SIGKILL, in seconds.
    #[arg(long, env = "WHARF_KILL_GRACE_SECS", default_value_t = 5)]
    kill_grace_secs: u64,
    /// Directory for per-task work directories (default: a new one in the
    /// temporary directory, removed at exit). A root worker refuses one that
    /// its task uids cannot reach (a parent closed to others).
    #[arg(long, env = "WHARF_WORK_DIR")]
    work_dir: Option<PathBuf>,
    /// Long-poll wait of each receive, in seconds (at most 20).
    #[arg(long, env = "WHARF_POLL_WAIT_SECS", default_value_t = 20)]
    poll_wait_secs: u64,
    /// Exit after one task.
    #[arg(long, conflicts_with = "max_tasks")]
    once: bool,
    /// Exit after this many tasks.
    #[arg(long, env = "WHARF_MAX_TASKS")]
    max_tasks: Option<usize>,
    /// Exit after this many seconds with nothing to do.
    #[arg(long, env = "WHARF_EXIT_WHEN_IDLE")]
    exit_when_idle: Option<u64>,
    /// Outputs of one attempt may total at most this many bytes.
    #[arg(long, env = "WHARF_MAX_OUTPUT_BYTES", default_value_t = 10 * 1024 * 1024 * 1024)]
    max_output_bytes: u64,
    /// Outputs of one attempt may be at most this many files.
    #[arg(long, env = "WHARF_MAX_OUTPUT_FILES", default_value_t = 10_000)]
    max_output_files: usize,
    /// An attempt's log is kept within this many bytes: beyond, its head and
    /// tail are kept around a marker line (`logTruncated: true`).
    #[arg(long, env = "WHARF_MAX_LOG_BYTES", default_value_t = 100 * 1024 * 1024)]
    max_log_bytes: u64,
    /// Uploading an attempt's log and outputs may take this many seconds;
    /// beyond, the attempt fails `UploadFailed`.
    #[arg(long, env = "WHARF_UPLOAD_TIMEOUT_SECS", default_value_t = 3600)]
    upload_timeout_secs: u64,
    /// PEM bundle trusted in addition to the system roots (script downloads).
    #[arg(long, env = "WHARF_EXTRA_CA_FILE")]
    extra_ca_file: Option<PathBuf>,
    /// Scripts larger than this many bytes are refused.
    #[arg(long, env = "WHARF_MAX_SCRIPT_BYTES", default_value_t = 16 * 1024 * 1024)]
    max_script_bytes: u64,
    /// Script downloads taking longer than this many seconds fail.
    #[arg(long, env = "WHARF_SCRIPT_TIMEOUT_SECS", default_value_t = 60)]
    script_timeout_secs: u64,
    /// Host paths container tasks may mount (and what lies below them), as
    /// `PATH[:ro],…`; `:ro` mounts read-only whatever the task asks. Each is
    /// resolved at start-up and must exist.
    #[arg(long, env = "WHARF_ALLOWED_MOUNTS", value_delimiter = ',')]
    allowed_mounts: Vec<AllowedMount>,
    /// Most memory a container task may have, in MiB (also its default).
    #[arg(long, env = "WHARF_CONTAINER_MAX_MEMORY_MB")]
    container_max_memory_mb: Option<u64>,
    /// Most CPUs a container task may have (also its default).
    #[arg(long, env = "WHARF_CONTAINER_MAX_CPUS")]
    container_max_cpus: Option<f64>,
    /// Most processes a container task may have (also its default).
    #[arg(long, env = "WHARF_CONTAINER_MAX_PIDS")]
    container_max_pids: Option<i64>,
    /// JSON file of registry credentials for image pulls:
    /// `[{"server": "ghcr.io", "username": "…", "password": "…"}]`.
    #[arg(long, env = "WHARF_REGISTRY_AUTH_FILE")]
    registry_auth_file: Option<PathBuf>,
    /// When the worker runs as root: the uids process and script tasks run
    /// under, one per running task (at least as many as task slots).
    #[arg(long, env = "WHARF_TASK_UIDS", default_value = "61000-61999")]
    task_uids: UidRange,
    /// `root` runs process and script tasks as root instead: an explicit
    /// opt-out of per-task users, logged as a warning.
    #[arg(long, env = "WHARF_TASK_USER", value_enum)]
    task_user: Option<TaskUser>,
    /// `k=v,…` shown in the fleet view.
    #[arg(long, env = "WHARF_LABELS", default_value = "", value_parser = parse_labels)]
    labels: BTreeMap<String, String>,
    /// `poll` the queues, run tasks `push`ed to the local `POST /v1/tasks`,
    /// or both (`hybrid`).
    #[arg(long, env = "WHARF_MODE", value_enum, default_value_t = Mode::Poll)]
    mode: Mode,
    /// Address of the local HTTP server (`/health`, `/metrics`, and
    /// `POST /v1/tasks` in push and hybrid mode).
    #[arg(long, env = "WHARF_HTTP_LISTEN", default_value = "127.0.0.1:9090")]
    http_listen: SocketAddr,
    /// Log as JSON lines.
    #[arg(long, env = "WHARF_LOG_JSON")]
    log_json: bool,
    #[command(flatten)]
    names: ResourceNames,
}

/// The user process and script tasks run as, instead of their own uids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum TaskUser {
    Root,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    init_tracing(if args.log_json {
        LogFormat::Json
    } else {
        LogFormat::Text
    });
    // First of all: no task may read this process's memory or environment.
    make_non_dumpable()?;
    let shutdown = on_signal()?;
    let hostname = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "worker".to_owned());
    let config = args.config(&hostname)?;
    let aws = load_aws().await;
    let deployment = deployment(&aws, &args.names.tasks_table);
    let executors = args.executors(&hostname, &deployment).await?;
    if matches!(executors.users, TaskUsers::Isolated(_)) {
        close_work_dir(&config.work_dir)?;
    }
    let host = HostState::new(&shutdown);
    let http = local_http(&args).await?;
    let backend = wharf_core::aws::backend(&aws, args.names);
    if let Some(containers) = &executors.containers {
        // A crashed run of this host leaves its containers behind.
        let sweeper = Sweeper {
            containers: containers.clone(),
            store: backend.store.clone(),
            worker_id: config.worker_id.clone(),
            running: host.clone(),
            lease: config.lease,
        };
        tokio::spawn(sweeper.run(shutdown.clone()));
    }
    // The default work directory is this run's own: it goes when the run does.
    let own_work_dir = args.work_dir.is_none().then(|| config.work_dir.clone());
    let slots = Slots::new(Worker::new(backend, config, Arc::new(executors), host));
    // The local HTTP server serves until every attempt has ended.
    let serving = http.serve(slots.clone());
    wharf_worker_host::run(slots, shutdown).await;
    serving.stop().await;
    if let Some(dir) = own_work_dir {
        if let Err(err) = std::fs::remove_dir_all(&dir) {
            tracing::warn!(dir = %dir.display(), error = %err, "cannot remove the work directory");
        }
    }
    Ok(())
}

/// Buckets of the duration histograms, in seconds: from a tenth of a second
/// to the longest timeout (12 hours).
const DURATION_BUCKETS: [f64; 12] = [
    0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 14400.0, 43200.0,
];

/// Binds the local HTTP server's socket and installs the Prometheus
/// recorder it serves; in push and hybrid mode, reads the token pushes
/// must carry.
async fn local_http(args: &Args) -> anyhow::Result<LocalHttp> {
    let metrics = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &DURATION_BUCKETS)
        .context("histogram buckets")?
        .install_recorder()
        .context("cannot install the metrics recorder")?;
    let token = if args.mode.takes_pushes() {
        let token = std::env::var("WHARF_WORKER_TOKEN").unwrap_or_default();
        if token.len() < 16 {
            anyhow::bail!(
                "--mode {}: WHARF_WORKER_TOKEN must hold a token of at least 16 characters",
                args.mode
            );
        }
        Some(worker_token(&token))
    } else {
        None
    };
    let listener = tokio::net::TcpListener::bind(args.http_listen)
        .await
        .with_context(|| format!("--http-listen {}", args.http_listen))?;
    tracing::info!(address = %listener.local_addr()?, mode = %args.mode, "local HTTP server listening");
    Ok(LocalHttp {
        listener,
        metrics,
        token,
    })
}

impl Args {
    fn config(&self, hostname: &str) -> anyhow::Result<WorkerConfig> {
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

    async fn executors(&self, hostname: &str, deployment: &str) -> anyhow::Result<Executors> {
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
        let users = TaskUsers::new(self.task_uids, slots, as_root).map_err(anyhow::Error::msg)?;
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
