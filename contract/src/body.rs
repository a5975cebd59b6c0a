//! Request bodies: declared JSON (`415` otherwise), within the limit (`413`),
//! read into our types with a `400` naming the field that does not fit; and
//! the problems a task submission is refused with.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{header, HeaderMap, StatusCode};
use wharf_core::submit::SubmitError;
use wharf_core::validate::{
    parse_json, parse_task_request, FieldError, Rejection, ValidTask, MAX_PAYLOAD_BYTES,
    MAX_TASK_BYTES,
};

use crate::problem::Problem;

/// The body of a request that must be JSON: `415` unless it is declared
/// so, `413` beyond the limit.
pub fn json_body(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Bytes, Problem> {
    require_json(headers)?;
    body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => too_large(),
        status => Problem::new(status, "unreadable-body", rejection.body_text()),
    })
}

/// A JSON body read as `T`; a field that does not fit is a `400` naming it.
pub fn read_json<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<T, Problem> {
    let body = json_body(headers, body)?;
    parse_json(&body).map_err(|e| Problem::invalid(vec![e]))
}

/// A submission body validated against the configured queues, or the
/// problem naming what is wrong with it.
pub fn parse(body: &[u8], queues: &[String]) -> Result<ValidTask, Problem> {
    parse_task_request(body, queues).map_err(rejected)
}

/// The problem a task that fails validation answers with.
pub fn rejected(rejection: Rejection) -> Problem {
    match rejection {
        Rejection::Invalid(errors) => Problem::invalid(errors),
        Rejection::TooLarge { .. } => too_large(),
        Rejection::TaskTooLarge { field, size } => {
            let message = format!("the task without its payload is {size} bytes, more than {MAX_TASK_BYTES}; {field} is its largest part");
            Problem {
                errors: vec![FieldError::new(field, message.clone())],
                ..Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "task-too-large", message)
            }
        }
    }
}

/// The problem a refused submission answers with.
pub fn refused(err: SubmitError) -> Problem {
    match err {
        SubmitError::NameTaken { name, existing_id } => Problem {
            existing_id: Some(existing_id.clone()),
            ..Problem::new(
                StatusCode::CONFLICT,
                "name-taken",
                format!("a task named {name:?} exists already: {existing_id}"),
            )
        },
        SubmitError::KeyReused { key, existing_id } => Problem {
            existing_id: Some(existing_id.clone()),
            ..Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                format!(
                    "idempotency key {key:?} was used for another submission (task {existing_id})"
                ),
            )
        },
        SubmitError::Invalid(errors) => Problem::invalid(errors),
        SubmitError::Backend(err) => err.into(),
    }
}

/// Keys may be up to this long.
const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;

/// The `Idempotency-Key` header: printable ASCII, 1 to 255 characters.
pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<&str>, Problem> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(key) if (1..=MAX_IDEMPOTENCY_KEY_CHARS).contains(&key.len()) => Ok(Some(key)),
        _ => Err(Problem::invalid(vec![FieldError::new(
            "Idempotency-Key",
            format!("must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} printable ASCII characters"),
        )])),
    }
}

/// `415` unless the body is declared JSON (`application/json` or a
/// `+json` type).
pub fn require_json(headers: &HeaderMap) -> Result<(), Problem> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let json = content_type.parse::<mime::Mime>().is_ok_and(|declared| {
        declared.type_() == mime::APPLICATION
            && (declared.subtype() == mime::JSON || declared.suffix() == Some(mime::JSON))
    });
    if json {
        return Ok(());
    }
    Err(Problem::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported-media-type",
        format!("the body must be application/json, not {content_type:?}"),
    ))
}

fn too_large() -> Problem {
    Problem::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload-too-large",
        format!("the payload may be at most {MAX_PAYLOAD_BYTES} bytes"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declared(content_type: &str) -> HeaderMap {
        HeaderMap::from_iter([(header::CONTENT_TYPE, content_type.parse().unwrap())])
    }

    #[test]
    fn json_and_json_suffixed_types_are_json_whatever_their_case_and_parameters() {
        for json in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/problem+json",
            "application/vnd.wharf.task+json",
        ] {
            assert!(require_json(&declared(json)).is_ok(), "{json}");
        }
    }

    #[test]
    fn other_or_missing_types_are_415() {
        for other in [
            "text/plain",
            "application/jsonx",
            "json",
            "application/x-json+xml",
        ] {
            let problem = require_json(&declared(other)).unwrap_err();
            assert_eq!(
                problem.status,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "{other}"
            );
        }
        assert!(require_json(&HeaderMap::new()).is_err());
    }
}
