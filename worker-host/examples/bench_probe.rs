//! Measurements `bench/` takes inside the worker's own code, each printed
//! as one JSON object (`bench/README.md` explains them):
//!
//! - `spawn RUNS`: a process task of `/bin/true` through the process
//!   executor (payload, attempt directory, log, isolation as configured)
//!   vs a bare `posix_spawn` of `/bin/true` (Rust's `Command`), seconds each.
//! - `container IMAGE RUNS`: a container task running `true` through the
//!   container executor (create, start, wait, remove), seconds each.
//! - `upload FILE`: one file put to the bucket as the worker puts outputs
//!   (`WHARF_BUCKET`; AWS from the environment), seconds.
//! - `ceiling TASKS SLOTS`: the bare SDK loop doing only the calls a no-op
//!   task needs (receive, claim, finish, batched delete) on tasks already
//!   queued (`WHARF_TASKS_TABLE`, `WHARF_QUEUE_PREFIX`), tasks per second.
//! - `redact LOG SECRETS PASSES`: the file LOG fed through a secrets
//!   [`Redactor`] in 64 KiB writes, as the log pipe feeds it (its output
//!   buffer reused, as `CappedLog` does), the redaction built from SECRETS
//!   (one `NAME=value` a line); MiB/s of each pass, and the sha256 and the
//!   replacement count of what an untimed last pass let through.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use wharf_core::config::ResourceNames;
use wharf_core::lifecycle::{self, Exit, Outcome};
use wharf_core::model::{ContainerSpec, ExecutorKind, ProcessSpec, Reason, Status, TaskSpec};
use wharf_core::queue::{Lane, ReceiveOptions, MAX_BATCH};
use wharf_core::store::{Replaced, Versioned};
use wharf_core::Backend;
use wharf_worker_host::executor::container::{ContainerHost, HostRules};
use wharf_worker_host::executor::script::ScriptFetcher;
use wharf_worker_host::executor::{Execute, Executors, Run};
use wharf_worker_host::isolation::{TaskUsers, UidRange};
use wharf_worker_host::secrets::{Redaction, Redactor, Resolved};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| {
        args.get(i)
            .cloned()
            .context("missing argument; see the module docs")
    };
    let result = match arg(0)?.as_str() {
        "spawn" => spawn(arg(1)?.parse()?).await?,
        "container" => container(&arg(1)?, arg(2)?.parse()?).await?,
        "upload" => upload(&arg(1)?).await?,
        "ceiling" => ceiling(arg(1)?.parse()?, arg(2)?.parse()?).await?,
        "redact" => redact(&arg(1)?, &arg(2)?, arg(3)?.parse()?)?,
        other => anyhow::bail!("unknown measurement {other}"),
    };
    println!("{result}");
    Ok(())
}

/// A run of a test task in a fresh directory.
fn run(dir: &std::path::Path, i: usize) -> anyhow::Result<Run> {
    let run = Run {
        task_id: format!("bench-{}-{i}", std::process::id()),
        attempt: 1,
        worker_id: "bench".into(),
        dir: dir.join(i.to_string()),
        timeout: Duration::from_secs(60),
        kill_grace: Duration::from_secs(1),
        stop: CancellationToken::new(),
        max_log_bytes: 1 << 20,
        secrets: Arc::new(Resolved::none()),
        array: None,
    };
    std::fs::create_dir_all(run.home())?;
    std::fs::create_dir_all(run.output_dir())?;
    std::fs::write(run.payload_file(), b"{}")?;
    Ok(run)
}

fn executors(containers: Option<ContainerHost>) -> anyhow::Result<Executors> {
    // As the worker runs by default: as root, each task under a uid of its own.
    let uids = UidRange {
        first: 61000,
        last: 61999,
    };
    let users = TaskUsers::new(uids, 1, false)?;
    Ok(Executors {
        kinds: vec![ExecutorKind::Process, ExecutorKind::Container],
        users,
        scripts: ScriptFetcher::new(None, Duration::from_secs(10), 1 << 20)?,
        containers,
    })
}

/// Times `execute` of `spec` `runs` times; fails unless each exits 0.
async fn time_tasks(
    executors: &Executors,
    spec: &TaskSpec,
    runs: usize,
) -> anyhow::Result<Vec<f64>> {
    let dir = std::env::temp_dir().join(format!("wharf-bench-{}", std::process::id()));
    let mut times = Vec::with_capacity(runs);
    for i in 0..runs {
        let run = run(&dir, i)?;
        let started = Instant::now();
        let ended = executors.execute(spec, &run).await;
        times.push(started.elapsed().as_secs_f64());
        anyhow::ensure!(ended.exit == Exit::Code(0), "the task ended {ended:?}");
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(times)
}

async fn spawn(runs: usize) -> anyhow::Result<serde_json::Value> {
    let spec = TaskSpec::Process(ProcessSpec {
        command: vec!["/bin/true".into()],
        ..Default::default()
    });
    let wharf = time_tasks(&executors(None)?, &spec, runs).await?;
    let mut bare = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let status = std::process::Command::new("/bin/true").status()?;
        bare.push(started.elapsed().as_secs_f64());
        anyhow::ensure!(status.success());
    }
    Ok(json!({"wharf": wharf, "bare": bare}))
}

async fn container(image: &str, runs: usize) -> anyhow::Result<serde_json::Value> {
    let host = ContainerHost::connect("bench", "bench-tasks", HostRules::default()).await?;
    let spec: ContainerSpec = serde_json::from_value(json!({"image": image, "command": ["true"]}))?;
    let wharf = time_tasks(&executors(Some(host))?, &TaskSpec::Container(spec), runs).await?;
    Ok(json!({"wharf": wharf}))
}

/// The backend the worker would use, named by its environment.
async fn backend() -> Backend {
    #[derive(clap::Parser)]
    struct Names {
        #[command(flatten)]
        names: ResourceNames,
    }
    let names = <Names as clap::Parser>::parse_from(["bench_probe"]).names;
    wharf_core::aws::backend(&wharf_core::aws::load_aws().await, names)
}

async fn upload(file: &str) -> anyhow::Result<serde_json::Value> {
    let backend = backend().await;
    let started = Instant::now();
    backend
        .artifacts
        .put_file("bench/upload", std::path::Path::new(file))
        .await?;
    Ok(json!({"wharf": started.elapsed().as_secs_f64(), "calls": calls(&backend)}))
}

fn calls(backend: &Backend) -> serde_json::Value {
    let counts = backend.calls.counts();
    json!(counts
        .into_iter()
        .map(|((service, operation), n)| (format!("{service}.{operation}"), n))
        .collect::<std::collections::BTreeMap<_, _>>())
}

/// `slots` loops, each receiving up to ten messages, claiming, running
/// `true` and finishing each task, then deleting what it received in one
/// call: 2.2 calls a task.
async fn ceiling(tasks: usize, slots: usize) -> anyhow::Result<serde_json::Value> {
    let backend = Arc::new(backend().await);
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut loops = tokio::task::JoinSet::new();
    for _ in 0..slots {
        let (backend, done) = (backend.clone(), done.clone());
        loops.spawn(async move {
            while done.load(std::sync::atomic::Ordering::SeqCst) < tasks {
                let options = ReceiveOptions {
                    max: MAX_BATCH,
                    wait: Duration::from_secs(1),
                    visibility: Duration::from_secs(60),
                };
                let messages = backend
                    .queues
                    .receive("default", Lane::Tasks, options)
                    .await?;
                for message in &messages {
                    let parsed = message.task_message()?;
                    let snapshot = parsed.snapshot.context("no snapshot")?;
                    let known = Versioned {
                        task: *snapshot.task,
                        version: snapshot.version,
                    };
                    let now = Utc::now();
                    let claimed = lifecycle::claimed(
                        &known.task,
                        "ceiling",
                        1,
                        now,
                        now + Duration::from_secs(60),
                    );
                    let Replaced::Written(claimed) = backend.store.replace(&known, claimed).await?
                    else {
                        anyhow::bail!("claim lost");
                    };
                    tokio::process::Command::new("/bin/true").status().await?;
                    let outcome = Outcome {
                        exit_code: Some(0),
                        message: None,
                        result: None,
                        outputs: Vec::new(),
                        log_truncated: false,
                    };
                    let ended = (Status::Succeeded, Reason::Succeeded);
                    let finished = lifecycle::finish(&claimed.task, ended, outcome, Utc::now());
                    backend.store.replace(&claimed, finished).await?;
                }
                let results = backend.queues.delete_batch(&messages).await;
                results
                    .into_iter()
                    .collect::<wharf_core::Result<Vec<()>>>()?;
                done.fetch_add(messages.len(), std::sync::atomic::Ordering::SeqCst);
            }
            anyhow::Ok(())
        });
    }
    while let Some(result) = loops.join_next().await {
        result??;
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(
        json!({"tasks_per_second": tasks as f64 / seconds, "seconds": seconds, "calls": calls(&backend)}),
    )
}

/// What the log pipe hands the redactor at a time.
const LOG_WRITE: usize = 64 << 10;

fn redact(log: &str, secrets: &str, passes: usize) -> anyhow::Result<serde_json::Value> {
    use sha2::Digest;
    let log = std::fs::read(log)?;
    let secrets = std::fs::read_to_string(secrets)?;
    let secrets: Vec<(&str, &str)> = secrets
        .lines()
        .map(|line| line.split_once('=').context("a secret line is NAME=value"))
        .collect::<anyhow::Result<_>>()?;
    let redaction = Arc::new(Redaction::new(
        secrets
            .iter()
            .map(|(name, value)| (*name, value.as_bytes())),
    )?);
    // Each write's output goes to `sink` (none kept, as the log file would
    // take it); `sink` sees it, so nothing is optimised away.
    let pass = |sink: &mut dyn FnMut(&[u8])| {
        let mut stream = Redactor::new(redaction.clone());
        let mut through = Vec::with_capacity(2 * LOG_WRITE);
        for chunk in log.chunks(LOG_WRITE) {
            stream.write(chunk, &mut through);
            sink(&through);
            through.clear();
        }
        stream.finish(&mut through);
        sink(&through);
    };
    let mib = log.len() as f64 / f64::from(1 << 20);
    let mut mib_per_second = Vec::with_capacity(passes);
    for _ in 0..passes {
        let mut bytes = 0;
        let started = Instant::now();
        pass(&mut |through| bytes += through.len());
        mib_per_second.push(mib / started.elapsed().as_secs_f64());
        std::hint::black_box(bytes);
    }
    let mut digest = sha2::Sha256::new();
    let mut replaced = 0;
    let mut tail = Vec::new();
    pass(&mut |through| {
        digest.update(through);
        // A replacement split across two writes' outputs is counted once.
        tail.extend_from_slice(through);
        replaced += tail.windows(10).filter(|w| w == b"[redacted:").count();
        let keep = tail.len().min(9);
        tail.drain(..tail.len() - keep);
    });
    Ok(json!({
        "mib_per_second": mib_per_second,
        "mib": mib,
        "sha256": hex::encode(digest.finalize()),
        "replaced": replaced,
    }))
}
