//! `wharf`: the command-line client. One module per subcommand family;
//! every failure is one line on stderr and a documented exit code.

mod client;
mod commands;
mod config;
mod exit;
mod output;

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    end_quietly_on_a_closed_pipe();
    let cli = commands::Cli::parse();
    match commands::run(cli).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("wharf: {error:#}");
            exit::exit_code(&error).into()
        }
    }
}

/// Like other Unix filters, `wharf list | head` ends quietly when its reader
/// goes away, instead of failing on a write to a closed pipe.
fn end_quietly_on_a_closed_pipe() {
    use nix::sys::signal::{signal, SigHandler, Signal};
    // SAFETY: restores the default disposition of SIGPIPE; no handler runs.
    unsafe {
        let _ = signal(Signal::SIGPIPE, SigHandler::SigDfl);
    }
}
