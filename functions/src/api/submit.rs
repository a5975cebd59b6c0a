//! `POST /v1/tasks`: submit a task. The body must be declared JSON; a
//! retried POST with the same `Idempotency-Key` (per client) returns the
//! original task.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use wharf_contract::body::{idempotency_key, json_body, parse, refused, rejected};
use wharf_contract::{Caller, Problem};
use wharf_core::model::{Scope, Task, TaskRequest};
use wharf_core::registry::{resolve, Invocation};
use wharf_core::submit::{submit, ClientKey, Enqueue, Submitted};
use wharf_core::validate::{is_resource_name, parse_json, FieldError, ValidTask};

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
        Some(call) => resolve_call(&state, call, "payload").await?,
        None => {
            let valid = parse(&body, &state.backend.names.queues)?;
            // A function's secrets were granted when an admin registered
            // it; a task's own are the caller's to name.
            caller.may_reference(&valid.request.secrets)?;
            valid
        }
    };
    submit_valid(&state, &caller, &headers, valid).await
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

/// The task a body naming a `function` on `POST /v1/tasks` makes; `field`
/// names the parameters in errors.
async fn resolve_call(
    state: &AppState,
    call: Invocation,
    field: &str,
) -> Result<ValidTask, Problem> {
    let name = call.function.clone().unwrap_or_default();
    let unknown = || {
        let error = FieldError::new("function", format!("no function {name:?} is registered"));
        Problem::invalid(vec![error])
    };
    if !is_resource_name(&name) {
        return Err(unknown());
    }
    let function = state
        .backend
        .registry
        .get(&name)
        .await?
        .ok_or_else(unknown)?;
    resolve(&function, call, field, &state.backend.names.queues).map_err(rejected)
}

/// A dependent task reads its upstream tasks' results and outputs
/// (`WHARF_UPSTREAM`): only a caller that may read tasks may name them.
pub fn may_depend(caller: &Caller, valid: &ValidTask) -> Result<(), Problem> {
    if valid.request.depends_on.is_empty() {
        return Ok(());
    }
    caller.require(Scope::Read)
}

/// Records and enqueues a valid task (honouring `Idempotency-Key`):
/// `202` with the task, or `200` with the original one for a retry.
pub async fn submit_valid(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    valid: ValidTask,
) -> Result<Response, Problem> {
    may_depend(caller, &valid)?;
    let key = idempotency_key(headers)?.map(|key| ClientKey {
        client: &caller.client,
        key,
    });
    match submit(state.backend.submission(), valid, key, Enqueue::AsRequested).await {
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
