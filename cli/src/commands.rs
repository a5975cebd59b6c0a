//! The subcommands, one module per family; this file is the command line
//! (clap derive: each doc comment is its `--help`) and the dispatch.

mod admin;
mod download;
mod fleet;
mod functions;
mod submit;
mod tasks;
mod watch;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use crate::client::{read_as, Client};
use crate::config::ApiArgs;
use crate::exit::Failure;
use crate::output::print_json;

/// The command-line client of Wharf: submit tasks and invoke functions,
/// follow them, fetch their outputs, look at the fleet.
///
/// The API and token come from --api-url and --token, else WHARF_API_URL
/// and WHARF_TOKEN, else a profile of ~/.config/wharf/config.toml. Exit
/// codes: 0 success, 1 error, 2 usage, 3 task did not succeed, 4 refused
/// by the API, 5 bad or missing token, 6 not found, 7 API unreachable,
/// 8 gave up waiting.
#[derive(Debug, Parser)]
#[command(name = "wharf", version)]
pub struct Cli {
    #[command(flatten)]
    api: ApiArgs,
    /// Print JSON (the API's answers) instead of tables, for scripts.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Submit a task from a JSON or YAML file, or from flags; prints its id.
    Submit(Box<submit::SubmitArgs>),
    /// Run a registered function with parameters; prints the task's id.
    Invoke(submit::InvokeArgs),
    /// Show a task.
    Get { id: String },
    /// List tasks, newest first.
    List(tasks::ListArgs),
    /// Wait until a task ends, then show it; exits 0 only if it succeeded.
    Wait(watch::WaitArgs),
    /// Print a task's log; with -f, follow it until the task ends.
    Logs(watch::LogsArgs),
    /// Download a task's outputs, resuming partial files and checking each
    /// against its SHA-256.
    Download(download::DownloadArgs),
    /// Cancel a waiting, queued or running task.
    Cancel { id: String },
    /// Run a failed, timed-out, cancelled or skipped task again, with a
    /// fresh budget of attempts; the tasks it skipped wait again.
    Retry { id: String },
    /// Delete a finished task with its outputs and logs.
    Delete {
        id: String,
        /// Cancel the task first if it is still queued or running.
        #[arg(long)]
        force: bool,
    },
    /// The worker hosts; drain or revoke one.
    Workers {
        #[command(subcommand)]
        action: Option<fleet::WorkerAction>,
    },
    /// Each queue's messages and the fleet's slots.
    Status,
    /// The registered functions; show, register or delete one.
    Functions {
        #[command(subcommand)]
        action: Option<functions::FunctionAction>,
    },
    /// Print a shell completion script: `wharf completions bash >
    /// /etc/bash_completion.d/wharf`.
    Completions { shell: clap_complete::Shell },
    /// Administer the deployment: create resources, mint tokens.
    #[command(subcommand)]
    Admin(admin::Admin),
}

/// What every command that talks to the API works with.
pub struct Session {
    pub client: Client,
    /// `--json`: print answers as JSON rather than for people.
    pub json: bool,
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let session = || -> anyhow::Result<Session> {
        Ok(Session {
            client: Client::new(cli.api.resolve()?)?,
            json: cli.json,
        })
    };
    match cli.command {
        Command::Submit(args) => submit::submit(&session()?, *args).await,
        Command::Invoke(args) => submit::invoke(&session()?, args).await,
        Command::Get { id } => tasks::get(&session()?, &id).await,
        Command::List(args) => tasks::list(&session()?, args).await,
        Command::Wait(args) => watch::wait(&session()?, args).await,
        Command::Logs(args) => watch::logs(&session()?, args).await,
        Command::Download(args) => download::run(&session()?, args).await,
        Command::Cancel { id } => tasks::cancel(&session()?, &id).await,
        Command::Retry { id } => tasks::retry(&session()?, &id).await,
        Command::Delete { id, force } => tasks::delete(&session()?, &id, force).await,
        Command::Workers { action } => fleet::workers(&session()?, action).await,
        Command::Status => fleet::status(&session()?).await,
        Command::Functions { action } => functions::run(&session()?, action).await,
        Command::Completions { shell } => {
            let mut command = Cli::command();
            clap_complete::generate(shell, &mut command, "wharf", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Admin(admin) => admin::run(admin, cli.json).await,
    }
}

impl Session {
    /// GETs `path` and prints the answer: whole as JSON with `--json`,
    /// else read as `T` and shown by `show`.
    pub async fn show<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        show: impl FnOnce(T),
    ) -> anyhow::Result<ExitCode> {
        let answer = self.client.get(path).await?;
        match self.json {
            true => print_json(&answer),
            false => show(read_as(&answer)?),
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// Everything but the unreserved characters of RFC 3986 is escaped in a
/// path segment.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A task id, worker id or function name as one segment of an API path,
/// escaped; refused if it could still name another route (`.`, `..`).
pub fn segment(value: &str, what: &str) -> Result<String, Failure> {
    if value.is_empty() || value.chars().all(|c| c == '.') {
        return Err(Failure::usage(format!("{value:?} is not a {what}")));
    }
    Ok(percent_encoding::utf8_percent_encode(value, SEGMENT).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn ids_stay_one_path_segment() {
        assert_eq!(
            segment("01kbq9x3m0000000000000000", "task id").unwrap(),
            "01kbq9x3m0000000000000000"
        );
        assert_eq!(
            segment("host 1:4f/2a", "worker id").unwrap(),
            "host%201%3A4f%2F2a"
        );
        assert_eq!(segment("../workers", "task id").unwrap(), "..%2Fworkers");
        assert_eq!(segment("a?b#c", "task id").unwrap(), "a%3Fb%23c");
        for bad in ["", ".", ".."] {
            assert!(segment(bad, "task id").is_err(), "{bad:?}");
        }
    }
}
