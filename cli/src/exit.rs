//! What went wrong, as the exit code scripts rely on (docs/cli.md). Every
//! failure the CLI reports is one line on stderr and one of these codes.

use std::process::ExitCode;

/// The documented exit codes of `wharf`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Anything else: a local file that cannot be written, an output whose
    /// SHA-256 does not match.
    Error = 1,
    /// Bad flags, an unreadable task file, a config file that does not
    /// parse (clap uses 2 for its own usage errors too).
    Usage = 2,
    /// The task ended without succeeding: failed, timed out, cancelled,
    /// or skipped because of a dependency.
    TaskUnsuccessful = 3,
    /// The API refused the request (400, 409, 413, 422, …).
    Refused = 4,
    /// The API did not accept the token (401) or its scopes (403).
    Unauthorized = 5,
    /// No such task, worker, function or route (404).
    NotFound = 6,
    /// The API could not be reached, or answered 5xx or something
    /// unreadable.
    Unavailable = 7,
    /// `--timeout` passed before the task ended.
    TimedOut = 8,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit as u8)
    }
}

/// An error with the exit code it should end `wharf` with; its message is
/// the one line `wharf` prints.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
}

impl Failure {
    pub fn new(exit: Exit, message: impl Into<String>) -> Failure {
        Failure {
            exit,
            message: message.into(),
        }
    }

    pub fn usage(message: impl Into<String>) -> Failure {
        Failure::new(Exit::Usage, message)
    }
}

/// The exit code an error ends `wharf` with: the first [`Failure`] in its
/// chain decides, anything else is [`Exit::Error`].
pub fn exit_code(error: &anyhow::Error) -> Exit {
    error
        .chain()
        .find_map(|cause| cause.downcast_ref::<Failure>())
        .map_or(Exit::Error, |failure| failure.exit)
}

#[cfg(test)]
mod tests {
    use anyhow::Context;

    use super::*;

    #[test]
    fn the_first_failure_in_the_chain_decides_the_exit_code() {
        let plain = anyhow::anyhow!("disk full");
        assert_eq!(exit_code(&plain), Exit::Error);
        let wrapped = Err::<(), _>(Failure::new(Exit::NotFound, "no task x"))
            .context("while downloading")
            .unwrap_err();
        assert_eq!(exit_code(&wrapped), Exit::NotFound);
        assert_eq!(ExitCode::from(Exit::TimedOut), ExitCode::from(8));
    }
}
