//! The subcommands.

mod admin;
mod download;
mod tasks;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::client::ApiArgs;

/// The command-line client of Wharf: submit tasks, watch them, fetch their
/// outputs, and administer the deployment.
#[derive(Debug, Parser)]
#[command(name = "wharf", version)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Administer the deployment: create resources, mint tokens.
    #[command(subcommand)]
    Admin(admin::Admin),
    /// Submit a task from a JSON file (`-` for stdin); prints the task.
    Submit {
        /// The task JSON (SPEC §3).
        file: String,
        /// Makes a retried submission return the original task.
        #[arg(long)]
        idempotency_key: Option<String>,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Print a task.
    Get {
        id: String,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Wait until a task has finished, print it; exits non-zero unless it
    /// succeeded.
    Wait {
        id: String,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 3600)]
        timeout: u64,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Download a task's outputs through their presigned URLs.
    Download(download::DownloadArgs),
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Admin(admin) => admin::run(admin).await,
        Command::Submit {
            file,
            idempotency_key,
            api,
        } => tasks::submit(&api, &file, idempotency_key.as_deref()).await,
        Command::Get { id, api } => tasks::get(&api, &id).await,
        Command::Wait { id, timeout, api } => tasks::wait(&api, &id, timeout).await,
        Command::Download(args) => download::run(args).await,
    }
}
