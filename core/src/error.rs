//! The error type of every adapter: SDK errors are turned into these here and
//! never reach domain code.

use std::error::Error as StdError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A conditional write found the record in another state than expected
    /// (for a worker: it no longer holds the task's lease).
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("not found: {0}")]
    NotFound(String),
    /// A call to AWS failed; `operation` names it.
    #[error("{operation} failed: {message}")]
    Aws {
        operation: &'static str,
        message: String,
    },
    /// A stored record or message could not be read back.
    #[error("corrupt record: {0}")]
    Corrupt(String),
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps an SDK error, keeping the whole chain of causes in the message
    /// (the SDK's top-level `Display` alone is often just "service error").
    pub fn aws(operation: &'static str, err: impl StdError) -> Self {
        Error::Aws {
            operation,
            message: error_chain(&err),
        }
    }
}

/// An error's message followed by each of its causes.
pub fn error_chain(err: &dyn StdError) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}
