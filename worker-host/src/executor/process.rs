//! The process executor: the task's command runs as a child in a process
//! group of its own, in a clean environment, with stdout and stderr going to
//! the attempt's log file. Timeout and stop signal the whole group (SIGTERM,
//! then SIGKILL after the grace period); whatever the group left running
//! when the main process exits is killed too.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use std::os::fd::OwnedFd;
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::sys::stat::{umask, Mode};
use nix::unistd::Pid;
use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;
use wharf_core::lifecycle::Exit;
use wharf_core::model::ProcessSpec;

use super::log::CappedLog;
use super::{Ended, Run, DEFAULT_PATH};

/// The environment a task sees: `PATH`, `HOME`, the spec's `env`, its
/// `as: env` secrets and the `WHARF_*` variables, nothing of the worker's
/// own.
pub fn task_env(run: &Run, spec_env: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut env = BTreeMap::from([
        ("PATH".to_owned(), DEFAULT_PATH.to_owned()),
        ("HOME".to_owned(), run.home().display().to_string()),
    ]);
    env.extend(spec_env.clone());
    env.extend(run.secret_env(&run.secrets_dir().display().to_string()));
    env.extend(run.wharf_env(&run.io_dir().display().to_string()));
    env
}

/// Runs the process to its end, as `user` (uid and gid, no supplementary
/// groups, umask 077) when given, else as the worker's own user.
pub async fn run_process(spec: &ProcessSpec, run: &Run, user: Option<u32>) -> Ended {
    let Some((program, first_args)) = spec.command.split_first() else {
        return Ended::start_failed("command is empty");
    };
    let (output, log) = match output_pipe(run) {
        Ok(opened) => opened,
        Err(err) => return Ended::start_failed(format!("cannot open the log: {err}")),
    };
    let working_dir: PathBuf = spec
        .working_dir
        .as_ref()
        .map(Into::into)
        .unwrap_or_else(|| run.home());
    let mut command = Command::new(program);
    command
        .args(first_args)
        .args(&spec.args)
        .env_clear()
        .envs(task_env(run, &spec.env))
        .current_dir(&working_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::from(output.stdout))
        .stderr(Stdio::from(output.stderr))
        .process_group(0)
        .kill_on_drop(true);
    if let Some(uid) = user {
        // Without supplementary groups: std drops them when root sets a uid.
        command.uid(uid).gid(uid);
    }
    // If the worker dies (even by SIGKILL), the task's main process goes
    // with it rather than running on unsupervised beside a takeover. This
    // runs after the uid change, which would otherwise clear it.
    // SAFETY: the closure runs in the forked child before exec and only
    // makes the async-signal-safe prctl(2) and umask(2) calls.
    unsafe {
        command.pre_exec(move || {
            if user.is_some() {
                umask(Mode::from_bits_truncate(0o077));
            }
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)
        });
    }
    let spawned = command.spawn();
    // Our copies of the pipe's writing end go, so its reader sees the end
    // once the task's processes are gone.
    drop(command);
    let child = match spawned {
        Ok(child) => child,
        Err(err) => return Ended::start_failed(start_failure(program, &working_dir, user, &err)),
    };
    let ended = supervise(child, run).await;
    Ended {
        log_truncated: finish_log(log).await,
        ..ended
    }
}

/// Why the task could not start, saying what its user could not reach when
/// that is the cause (a working directory under a directory closed to it).
fn start_failure(
    program: &str,
    working_dir: &Path,
    user: Option<u32>,
    err: &std::io::Error,
) -> String {
    let who = user.map_or_else(String::new, |uid| format!(" as uid {uid}"));
    let mut message = format!(
        "cannot start {program:?}{who} in {}: {err}",
        working_dir.display()
    );
    if err.kind() == std::io::ErrorKind::PermissionDenied && user.is_some() {
        if let Some(closed) = crate::isolation::closed_on_the_way(working_dir) {
            message.push_str(&format!("; {closed}"));
        }
    }
    message
}

/// Where the task's stdout and stderr go: both ends of one pipe, so their
/// lines stay in order.
struct OutputPipe {
    stdout: OwnedFd,
    stderr: OwnedFd,
}

/// The task's output pipe, and the worker's task draining it into the
/// attempt's capped log.
fn output_pipe(run: &Run) -> std::io::Result<(OutputPipe, JoinHandle<std::io::Result<CappedLog>>)> {
    let mut log = run.open_log()?;
    // Close-on-exec: no other task started meanwhile inherits it.
    let (reader, writer) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let pipe = OutputPipe {
        stderr: writer.try_clone()?,
        stdout: writer,
    };
    let mut reader = tokio::net::unix::pipe::Receiver::from_owned_fd(reader)?;
    let drain = tokio::spawn(async move {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let n = reader.read(&mut buffer).await?;
            if n == 0 {
                return Ok(log);
            }
            log.write(&buffer[..n])?;
        }
    });
    Ok((pipe, drain))
}

/// Waits a moment for the log's last bytes (a process that escaped the
/// group may hold the pipe open), then joins its head and tail; whether
/// anything was left out.
async fn finish_log(drain: JoinHandle<std::io::Result<CappedLog>>) -> bool {
    let abort = drain.abort_handle();
    let finished = match tokio::time::timeout(Duration::from_secs(2), drain).await {
        Ok(Ok(Ok(log))) => log.finish(),
        Ok(Ok(Err(err))) => Err(err),
        Ok(Err(err)) => Err(std::io::Error::other(err)),
        Err(_) => {
            abort.abort();
            Err(std::io::Error::other("the task's output did not end"))
        }
    };
    finished.unwrap_or_else(|err| {
        tracing::warn!(error = %err, "the log may be incomplete");
        false
    })
}

/// Races the child's exit against the timeout and the stop signal.
async fn supervise(mut child: Child, run: &Run) -> Ended {
    let Some(pgid) = child.id().map(|pid| Pid::from_raw(pid as i32)) else {
        return Ended::start_failed("the process exited before it could be supervised");
    };
    let (exit, message) = tokio::select! {
        status = child.wait() => match status {
            Ok(status) => (exit_of(status), None),
            Err(err) => (Exit::StartFailed, Some(format!("waiting for the process failed: {err}"))),
        },
        _ = tokio::time::sleep(run.timeout) => {
            terminate(&mut child, pgid, run).await;
            (Exit::TimedOut, Some(format!("timed out after {} s", run.timeout.as_secs())))
        }
        _ = run.stop.cancelled() => {
            let status = terminate(&mut child, pgid, run).await;
            (status.map(exit_of).unwrap_or(Exit::Signal(Signal::SIGKILL as i32)), Some("stopped by the worker".to_owned()))
        }
    };
    // Children the task left behind in its group go with it.
    let _ = killpg(pgid, Signal::SIGKILL);
    Ended::new(exit, message)
}

/// SIGTERM to the group, then SIGKILL once the grace period is over.
async fn terminate(child: &mut Child, pgid: Pid, run: &Run) -> Option<std::process::ExitStatus> {
    let _ = killpg(pgid, Signal::SIGTERM);
    match tokio::time::timeout(run.kill_grace, child.wait()).await {
        Ok(Ok(status)) => Some(status),
        _ => {
            let _ = killpg(pgid, Signal::SIGKILL);
            child.wait().await.ok()
        }
    }
}

fn exit_of(status: std::process::ExitStatus) -> Exit {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => Exit::Code(code.into()),
        (None, Some(signal)) => Exit::Signal(signal),
        (None, None) => Exit::Code(-1),
    }
}
