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
use wharf_core::registry::Invocation;
use wharf_core::submit::{submit, ClientKey, Enqueue, SubmitError, Submitted};
use wharf_core::validate::{
    parse_json, parse_task_request, FieldError, Rejection, ValidTask, MAX_PAYLOAD_BYTES,
    MAX_TASK_BYTES,
};

use super::auth::Caller;
use super::problem::Problem;
use super::registry;
use super::AppState;

/// The body of `POST /v1/tasks`, as the OpenAPI document shows it: a task,
/// or a call of a registered function (`function` instead of `spec`).
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // bodies are read by `parse` and `function_call`
enum SubmitBody {
    Task(Box<TaskRequest>),
    Call(Invocation),
}

#[utoipa::path(post, path = "/v1/tasks", operation_id = "submitTask", tag = "tasks",
    request_body = SubmitBody,
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
    let body = json_body(&headers, body)?;
    let valid = match function_call(&body)? {
        Some(call) => registry::resolve_call(&state, call, "payload").await?,
        None => parse(&body, &state.backend.names.queues)?,
    };
    submit_valid(&state, &caller, &headers, valid).await
}

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

/// A body naming a `function` instead of a `spec`: a call of it.
fn function_call(body: &[u8]) -> Result<Option<Invocation>, Problem> {
    let names_function = serde_json::from_slice::<serde_json::Value>(body)
        .is_ok_and(|value| value.get("function").is_some());
    if !names_function {
        return Ok(None);
    }
    let call = parse_json::<Invocation>(body).map_err(|e| Problem::invalid(vec![e]))?;
    Ok(Some(call))
}

/// Records and enqueues a valid task (honouring `Idempotency-Key`):
/// `202` with the task, or `200` with the original one for a retry.
pub async fn submit_valid(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    valid: ValidTask,
) -> Result<Response, Problem> {
    let key = idempotency_key(headers)?.map(|key| ClientKey {
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
