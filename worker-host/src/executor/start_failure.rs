//! Why an attempt could not start, before its executor ran anything:
//! its directory or payload could not be made, or a container task breaks
//! this host's rules or its image cannot be had. The text is the record's
//! `message` ([`super::Ended::start_failed`]).

use super::container::{ImageError, MountError, RuleError};
use crate::secrets::SecretFailure;

#[derive(Debug, thiserror::Error)]
pub enum StartFailure {
    /// The attempt's directory, or a file in it, could not be made.
    #[error("cannot {what}: {err}")]
    Io { what: String, err: std::io::Error },
    /// The payload is in S3 and could not be fetched.
    #[error("cannot fetch the payload: {0}")]
    PayloadFetch(wharf_core::Error),
    #[error("the payload is missing from S3")]
    PayloadMissing,
    /// The upstream tasks' records or outputs could not be read.
    #[error("cannot read the upstream tasks: {0}")]
    Upstream(wharf_core::Error),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Rule(#[from] RuleError),
    #[error(transparent)]
    Mount(#[from] MountError),
    #[error(transparent)]
    Secret(#[from] SecretFailure),
    #[error("this task names secrets, and this worker host reads none")]
    NoSecretSource,
    #[error(
        "secrets as: file in a container need spec.user unset or numeric (UID[:GID]), not {0:?}"
    )]
    SecretFilesUser(String),
}

impl StartFailure {
    /// `cannot <what>: <err>`, for `map_err`.
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> StartFailure {
        let what = what.into();
        move |err| StartFailure::Io { what, err }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Error, ErrorKind};

    use super::*;

    /// The texts are the record's `message`: they read as they always did.
    #[test]
    fn a_start_failure_reads_as_the_records_message() {
        let denied = || Error::new(ErrorKind::PermissionDenied, "denied");
        let cases = [
            (
                StartFailure::io("create /w/home")(denied()),
                "cannot create /w/home: denied",
            ),
            (
                StartFailure::PayloadMissing,
                "the payload is missing from S3",
            ),
            (
                ImageError::NotPresent("x:1".to_owned()).into(),
                "image x:1 is not present on this host and pullPolicy is Never",
            ),
            (
                RuleError::NotJoinable("db".to_owned()).into(),
                "pidMode container:db is not allowed: the operator must label it wharf.pid-joinable=true",
            ),
            (
                MountError::NotAbsolute("a/../b".to_owned()).into(),
                "mount source a/../b must be an absolute path without \"..\"",
            ),
        ];
        for (failure, text) in cases {
            assert_eq!(failure.to_string(), text);
        }
    }
}
