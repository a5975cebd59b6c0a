//! The error type of every adapter: SDK errors are turned into these here and
//! never reach domain code.

use std::error::Error as StdError;

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::SdkError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A conditional write found the record in another state than expected
    /// (for a worker: it no longer holds the task's lease).
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("not found: {0}")]
    NotFound(String),
    /// A call to AWS failed; `operation` names it. `transient` failures
    /// (network, timeouts, throttling, 5xx) are worth retrying.
    #[error("{operation} failed: {message}")]
    Aws {
        operation: &'static str,
        message: String,
        transient: bool,
    },
    /// A request could not even be built (a bug or bad input, not an outage).
    #[error("{operation} could not be built: {message}")]
    Request {
        operation: &'static str,
        message: String,
    },
    /// A stored record or message could not be read back.
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// A retried operation was given up because its caller stopped.
    #[error("{0} stopped before it could complete")]
    Stopped(&'static str),
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps an SDK error, keeping the whole chain of causes in the message
    /// (the SDK's top-level `Display` alone is often just "service error").
    pub fn aws<E: StdError + 'static>(
        operation: &'static str,
        err: SdkError<E, HttpResponse>,
    ) -> Self {
        let transient = match &err {
            SdkError::TimeoutError(_)
            | SdkError::DispatchFailure(_)
            | SdkError::ResponseError(_) => true,
            SdkError::ServiceError(service) => {
                let status = service.raw().status().as_u16();
                status >= 500 || status == 429
            }
            _ => false,
        };
        metrics::counter!(
            "wharf_aws_errors_total",
            "service" => service_of::<E>(),
            "operation" => operation,
        )
        .increment(1);
        Error::Aws {
            operation,
            message: error_chain(&err),
            transient,
        }
    }

    /// A request that could not be built.
    pub fn request(operation: &'static str, err: impl StdError) -> Self {
        Error::Request {
            operation,
            message: error_chain(&err),
        }
    }

    /// Whether trying again later may succeed (an outage, not a refusal).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::Aws {
                transient: true,
                ..
            }
        )
    }
}

/// The AWS service an SDK error type belongs to (`dynamodb`, `sqs`, `s3`),
/// from its crate: `aws_sdk_sqs::operation::…` is `sqs`.
fn service_of<E>() -> &'static str {
    let path = std::any::type_name::<E>();
    path.strip_prefix("aws_sdk_")
        .and_then(|rest| rest.split("::").next())
        .unwrap_or("aws")
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

#[cfg(test)]
mod tests {
    use super::service_of;

    #[test]
    fn an_sdk_error_names_its_service() {
        use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
        use aws_sdk_s3::operation::get_object::GetObjectError;
        use aws_sdk_sqs::operation::receive_message::ReceiveMessageError;
        assert_eq!(service_of::<UpdateItemError>(), "dynamodb");
        assert_eq!(service_of::<ReceiveMessageError>(), "sqs");
        assert_eq!(service_of::<GetObjectError>(), "s3");
        assert_eq!(service_of::<std::io::Error>(), "aws");
    }
}
