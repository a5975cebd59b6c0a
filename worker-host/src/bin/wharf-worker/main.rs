//! `wharf-worker`: the worker host daemon (SPEC §5).

use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use wharf_core::aws::{deployment, load_aws};
use wharf_core::logging::{init_tracing, LogFormat};
use wharf_core::shutdown::on_signal;
use wharf_worker_host::executor::container::sweep::Sweeper;
use wharf_worker_host::fleet::HostState;
use wharf_worker_host::http::LocalHttp;
use wharf_worker_host::isolation::{close_work_dir, make_non_dumpable, TaskUsers};
use wharf_worker_host::push::worker_token;
use wharf_worker_host::secrets::aws::AwsSecrets;
use wharf_worker_host::{Slots, Worker};

mod args;

use args::Args;

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
    let worker = Worker::new(backend, config, Arc::new(executors), host)
        .with_secrets(Arc::new(AwsSecrets::new(&aws)));
    let slots = Slots::new(worker);
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
