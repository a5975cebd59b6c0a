//! `wharf`: the command-line client. One module per subcommand.

mod client;
mod commands;

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = commands::Cli::parse();
    match commands::run(cli).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("wharf: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
