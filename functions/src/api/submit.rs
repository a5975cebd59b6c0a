//! `POST /v1/tasks`: submit a task. The body must be declared JSON; a
//! retried POST with the same `Idempotency-Key` (per client) returns the
//! original task.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use wharf_core::model::{Scope, Task, TaskRequest};
use wharf_core::submit::{submit, ClientKey, Enqueue, SubmitError, Submitted};
use wharf_core::validate::{
    parse_task_request, FieldError, Rejection, ValidTask, MAX_PAYLOAD_BYTES, MAX_TASK_BYTES,
};

use super::auth::Caller;
use super::problem::Problem;
use super::AppState;

#[utoipa::path(post, path = "/v1/tasks", operation_id = "submitTask", tag = "tasks",
    request_body = TaskRequest,
    params(("Idempotency-Key" = Option<String>, Header,
        description = "1 to 255 printable ASCII characters: a retried POST with the same key (and body) returns the original task")),
    responses(
        (status = 202, description = "Recorded and enqueued", body = Task,
            headers(("Location" = String, description = "The task's URL"))),
        (status = 200, description = "A retry with the same `Idempotency-Key`: the original task", body = Task),
        (status = 409, description = "A task with this `name` exists (`existingId` names it)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The `Idempotency-Key` was used for another submission", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    caller.require(Scope::Submit)?;
    require_json(&headers)?;
    let body = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => too_large(),
        status => Problem::new(status, "unreadable-body", rejection.body_text()),
    })?;
    let valid = parse(&body, &state.backend.names.queues)?;
    let key = idempotency_key(&headers)?.map(|key| ClientKey {
        client: &caller.client,
        key,
    });
    match submit(&state.backend, valid, key, Enqueue::AsRequested).await {
        Ok(Submitted::Created(task)) => {
            tracing::info!(task_id = %task.id, queue = %task.queue, "task submitted");
            let location = format!("/v1/tasks/{}", task.id);
            Ok((
                StatusCode::ACCEPTED,
                [(header::LOCATION, location)],
                Json(task),
            )
                .into_response())
        }
        Ok(Submitted::Existing(task)) => Ok((StatusCode::OK, Json(task)).into_response()),
        Err(err) => Err(refused(err)),
    }
}

/// A submission body validated against the configured queues, or the
/// problem naming what is wrong with it.
pub fn parse(body: &[u8], queues: &[String]) -> Result<ValidTask, Problem> {
    match parse_task_request(body, queues) {
        Ok(valid) => Ok(valid),
        Err(Rejection::Invalid(errors)) => Err(Problem::invalid(errors)),
        Err(Rejection::TooLarge { .. }) => Err(too_large()),
        Err(Rejection::TaskTooLarge { field, size }) => {
            let message = format!("the task without its payload is {size} bytes, more than {MAX_TASK_BYTES}; {field} is its largest part");
            Err(Problem {
                errors: vec![FieldError::new(field, message.clone())],
                ..Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "task-too-large", message)
            })
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
        SubmitError::Backend(err) => err.into(),
    }
}

/// Keys may be up to this long.
const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;

/// The `Idempotency-Key` header: printable ASCII, 1 to 255 characters.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<&str>, Problem> {
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
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    let essence = essence.to_ascii_lowercase();
    if essence == "application/json" || essence.ends_with("+json") {
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
