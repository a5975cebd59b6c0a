//! `wharf`: the command-line client. One module per subcommand family;
//! every failure is one line on stderr and a documented exit code.

mod client;
mod commands;
mod config;
mod exit;
mod output;
mod views;

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = commands::Cli::parse();
    match commands::run(cli).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("wharf: {error:#}");
            exit::exit_code(&error).into()
        }
    }
}
