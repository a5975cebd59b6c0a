//! `wharf wait` and `wharf logs`, and the waiting and following that
//! `submit --wait` / `--follow` share with them.

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::header::{ETAG, IF_NONE_MATCH};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use wharf_core::model::Status;

use super::{segment, tasks, Session};
use crate::client::read_as;
use crate::exit::{Exit, Failure};
use crate::output::{array_summary, print_json, print_task, status_cell};
use wharf_contract::views::{LogChunk, TaskView};

/// Polls start this often and slow down to [`SLOWEST_POLL`] while nothing
/// changes.
const FIRST_POLL: Duration = Duration::from_millis(250);
const SLOWEST_POLL: Duration = Duration::from_secs(2);
/// How often a followed log is read while it does not grow (the worker
/// uploads it every heartbeat).
const LOG_POLL: Duration = Duration::from_secs(1);
/// How long waiting and following ride out an API that cannot be reached
/// or answers 5xx, retrying with backoff, before they give up (exit 7).
const PATIENCE: Duration = Duration::from_secs(120);

/// Calls `call` until it answers, or fails otherwise than with an
/// unavailable API, or it has waited [`PATIENCE`] in all between tries.
async fn patiently<T, F, Fut>(call: F) -> Result<T, Failure>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Failure>>,
{
    let backoff = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(500))
        .with_max_delay(Duration::from_secs(10))
        .with_total_delay(Some(PATIENCE))
        .without_max_times();
    let mut warned = false;
    call.retry(backoff)
        .when(|failure: &Failure| failure.exit == Exit::Unavailable)
        .notify(|failure, _| {
            if !std::mem::replace(&mut warned, true) {
                eprintln!(
                    "wharf: {failure}; retrying for up to {} s",
                    PATIENCE.as_secs()
                );
            }
        })
        .await
}

#[derive(Debug, clap::Args)]
pub struct WaitArgs {
    id: String,
    /// Give up after this many seconds (exit code 8).
    #[arg(long, value_name = "SECS")]
    timeout: Option<u64>,
}

pub async fn wait(session: &Session, args: WaitArgs) -> anyhow::Result<ExitCode> {
    let timeout = args.timeout.map(Duration::from_secs);
    let task = until_done(session, &args.id, timeout).await?;
    show_end(session, &task)
}

/// Polls a task (cheaply: `If-None-Match`) until it has ended, with a
/// spinner on a terminal; answers the ended task.
pub async fn until_done(
    session: &Session,
    id: &str,
    timeout: Option<Duration>,
) -> Result<Value, Failure> {
    let id = segment(id, "task id")?;
    let path = format!("/v1/tasks/{id}");
    let started = Instant::now();
    let spinner = spinner();
    let mut seen: Option<(String, Value)> = None;
    let mut interval = FIRST_POLL;
    loop {
        let response = patiently(|| {
            let mut request = session.client.request(Method::GET, &path);
            if let Some((etag, _)) = &seen {
                request = request.header(IF_NONE_MATCH, etag);
            }
            session.client.send(request)
        })
        .await?;
        if response.status() == StatusCode::NOT_MODIFIED {
            interval = (interval * 3 / 2).min(SLOWEST_POLL);
        } else {
            let etag = response.headers().get(ETAG).and_then(|v| v.to_str().ok());
            let etag = etag.unwrap_or_default().to_owned();
            let task: Value = response.json().await.map_err(|e| {
                Failure::new(
                    Exit::Unavailable,
                    format!("the API answered invalid JSON: {e}"),
                )
            })?;
            let view: TaskView = read_as(&task)?;
            if view.task.status.is_terminal() {
                spinner.finish_and_clear();
                return Ok(task);
            }
            spinner.set_message(progress_line(&view));
            seen = Some((etag, task));
            interval = FIRST_POLL;
        }
        if timeout.is_some_and(|limit| started.elapsed() >= limit) {
            spinner.finish_and_clear();
            return Err(gave_up(&id, seen.as_ref().map(|(_, task)| task), started));
        }
        tokio::time::sleep(interval).await;
    }
}

/// The spinner `until_done` shows while it waits.
fn spinner() -> ProgressBar {
    let spinner = ProgressBar::new_spinner();
    spinner.set_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            .expect("the spinner template is valid"),
    );
    spinner.enable_steady_tick(Duration::from_millis(120));
    spinner
}

/// Waiting for a task ran out of time; `seen` is the task as last read.
fn gave_up(id: &str, seen: Option<&Value>, started: Instant) -> Failure {
    let status = seen.map_or("unfinished".to_owned(), |t| {
        t["status"].as_str().unwrap_or("unfinished").to_owned()
    });
    Failure::new(
        Exit::TimedOut,
        format!(
            "task {id} is still {status}; gave up after {} s",
            started.elapsed().as_secs()
        ),
    )
}

/// "01k… running, attempt 1 of 3 on host-1" or "01k… queued: why".
fn progress_line(view: &TaskView) -> String {
    let task = &view.task;
    match (&view.pending, &task.worker_id) {
        (Some(pending), _) => format!("{} {}: {}", task.id, task.status, pending.detail),
        (None, Some(worker)) => format!(
            "{} {}, attempt {} of {} on {worker}",
            task.id, task.status, task.attempt, task.max_attempts
        ),
        (None, None) => match &task.array {
            Some(array) => format!("{} {}: {}", task.id, task.status, array_summary(array)),
            None => format!("{} {}", task.id, task.status),
        },
    }
}

/// Shows an ended task and answers the exit code that mirrors it.
pub fn show_end(session: &Session, task: &Value) -> anyhow::Result<ExitCode> {
    let view: TaskView = read_as(task)?;
    match session.json {
        true => print_json(task),
        false => print_task(&view),
    }
    Ok(exit_for(view.task.status))
}

/// 0 only for a task that succeeded; 3 for one that ended otherwise,
/// `skipped` (a dependency ended so that it could not run) like `failed`
/// and `cancelled`.
fn exit_for(status: Status) -> ExitCode {
    match status {
        Status::Succeeded => ExitCode::SUCCESS,
        Status::Failed | Status::TimedOut | Status::Cancelled | Status::Skipped => {
            Exit::TaskUnsuccessful.into()
        }
        // Not reached: only an ended task is shown with an exit code.
        Status::Waiting | Status::Queued | Status::Running => Exit::TaskUnsuccessful.into(),
    }
}

#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    id: String,
    /// Keep printing the log as the task writes it, through its retries,
    /// until it ends.
    #[arg(long, short = 'f')]
    follow: bool,
    /// The log of this attempt (default: the latest).
    #[arg(long)]
    attempt: Option<u32>,
}

pub async fn logs(session: &Session, args: LogsArgs) -> anyhow::Result<ExitCode> {
    let id = segment(&args.id, "task id")?;
    print_log(session, &id, args.attempt, args.follow).await?;
    Ok(ExitCode::SUCCESS)
}

/// `submit --follow`: the log until the task ends, then a line saying how
/// it ended and the exit code that mirrors it.
pub async fn follow_then_exit(session: &Session, id: &str) -> anyhow::Result<ExitCode> {
    print_log(session, id, None, true).await?;
    let task = until_done(session, id, None).await?;
    let view: TaskView = read_as(&task)?;
    match session.json {
        true => print_json(&task),
        false => eprintln!("wharf: {id} {}", status_cell(&view.task)),
    }
    Ok(exit_for(view.task.status))
}

/// Prints one attempt's log (the latest by default) from the start, a
/// MiB at a time; following, also what is written later and the logs of
/// the attempts that come after it, until the task has ended.
async fn print_log(
    session: &Session,
    id: &str,
    only_attempt: Option<u32>,
    follow: bool,
) -> anyhow::Result<()> {
    let mut attempt = only_attempt;
    let mut offset = 0u64;
    let mut stdout = std::io::stdout();
    loop {
        let mut path = format!("/v1/tasks/{id}/logs?offset={offset}");
        if let Some(attempt) = attempt {
            path.push_str(&format!("&attempt={attempt}"));
        }
        let answer = patiently(|| session.client.get(&path)).await?;
        let chunk: LogChunk = read_as(&answer)?;
        if chunk.attempt == 0 {
            // Not started yet: no attempt has a log.
            if !follow || chunk.complete {
                return Ok(());
            }
            tokio::time::sleep(LOG_POLL).await;
            continue;
        }
        attempt = Some(chunk.attempt);
        if !chunk.data.is_empty() {
            match session.json {
                true => writeln!(stdout, "{answer}")?,
                false => stdout.write_all(chunk.data.as_bytes())?,
            }
            stdout.flush()?;
        }
        offset = chunk.next_offset;
        if chunk.complete {
            if !follow || only_attempt.is_some() {
                return Ok(());
            }
            let task: TaskView = read_as(&patiently(|| tasks::fetch(session, id)).await?)?;
            if task.task.attempt > chunk.attempt {
                attempt = Some(chunk.attempt + 1);
                offset = 0;
                eprintln!("wharf: attempt {} of {id}", chunk.attempt + 1);
                continue;
            }
            if task.task.status.is_terminal() {
                return Ok(());
            }
        } else if chunk.data.is_empty() && !follow {
            return Ok(());
        }
        if chunk.data.is_empty() || chunk.complete {
            tokio::time::sleep(LOG_POLL).await;
        }
    }
}
