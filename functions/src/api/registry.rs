//! `/v1/functions`: registered functions — a task template and a JSON
//! Schema for its parameters — and their invocation. Registering and
//! removing take the `admin` scope (a function decides what runs on the
//! workers); invoking takes `submit`, reading `read`.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde::Serialize;
use wharf_core::model::{Scope, Task};
use wharf_core::registry::{
    check_definition, resolve, Function, FunctionRequest, Invocation, MAX_FUNCTIONS,
};
use wharf_core::validate::FieldError;

use super::auth::Caller;
use super::extract::{Name, NamePath};
use super::problem::Problem;
use super::submit::submit_valid;
use super::AppState;
use wharf_contract::body::{read_json, rejected};

fn no_function(name: &str) -> Problem {
    Problem::not_found(format!("no function {name:?}"))
}

/// `PUT /v1/functions/{name}`: registers a function, or replaces it.
#[utoipa::path(put, path = "/v1/functions/{name}", operation_id = "putFunction", tag = "functions",
    params(NamePath), request_body = FunctionRequest,
    responses(
        (status = 201, description = "Registered (`admin` scope)", body = Function),
        (status = 200, description = "Replaced", body = Function),
        (status = 409, description = "The registry is full", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn put(
    State(state): State<AppState>,
    caller: Caller,
    Name(name): Name,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    caller.require(Scope::Admin)?;
    let definition: FunctionRequest = read_json(&headers, body)?;
    check_definition(&definition, &state.backend.names.queues).map_err(rejected)?;
    let registry = &state.backend.registry;
    let existing = registry.get(&name).await?;
    if existing.is_none() && registry.list().await?.len() >= MAX_FUNCTIONS {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "too-many-functions",
            format!("at most {MAX_FUNCTIONS} functions may be registered; delete one first"),
        ));
    }
    let created_at = existing.as_ref().map_or_else(Utc::now, |f| f.created_at);
    let function = Function::new(name, definition, created_at);
    registry.put(&function).await?;
    tracing::info!(function = %function.name, "function registered");
    let status = match existing {
        Some(_) => StatusCode::OK,
        None => StatusCode::CREATED,
    };
    Ok((status, Json(function)).into_response())
}

#[utoipa::path(get, path = "/v1/functions/{name}", operation_id = "getFunction", tag = "functions",
    params(NamePath),
    responses((status = 200, description = "The function", body = Function)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Name(name): Name,
) -> Result<Json<Function>, Problem> {
    caller.require(Scope::Read)?;
    let function = state.backend.registry.get(&name).await?;
    Ok(Json(function.ok_or_else(|| no_function(&name))?))
}

#[utoipa::path(delete, path = "/v1/functions/{name}", operation_id = "deleteFunction", tag = "functions",
    params(NamePath),
    responses((status = 204, description = "Removed (`admin` scope); tasks made from it are left alone")))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Name(name): Name,
) -> Result<StatusCode, Problem> {
    caller.require(Scope::Admin)?;
    match state.backend.registry.delete(&name).await? {
        true => Ok(StatusCode::NO_CONTENT),
        false => Err(no_function(&name)),
    }
}

/// Every registered function.
#[derive(Serialize, utoipa::ToSchema)]
pub struct FunctionList {
    functions: Vec<Function>,
}

#[utoipa::path(get, path = "/v1/functions", operation_id = "listFunctions", tag = "functions",
    responses((status = 200, description = "Every registered function, by name, with its schema", body = FunctionList)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<FunctionList>, Problem> {
    caller.require(Scope::Read)?;
    let functions = state.backend.registry.list().await?;
    Ok(Json(FunctionList { functions }))
}

/// `POST /v1/functions/{name}/invoke`: a task of the function, with
/// `params` (checked against its schema) as its payload.
#[utoipa::path(post, path = "/v1/functions/{name}/invoke", operation_id = "invokeFunction", tag = "functions",
    params(NamePath,
        ("Idempotency-Key" = Option<String>, Header, description = "As on `POST /v1/tasks`")),
    request_body = Invocation,
    responses(
        (status = 202, description = "The task, recorded and enqueued", body = Task,
            headers(("Location" = String, description = "The task's URL"))),
        (status = 200, description = "A retry with the same `Idempotency-Key`: the original task", body = Task),
        (status = 409, description = "A task with this `name` exists", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The `Idempotency-Key` was used for another submission", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn invoke(
    State(state): State<AppState>,
    caller: Caller,
    Name(name): Name,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    caller.require(Scope::Submit)?;
    let call: Invocation = read_json(&headers, body)?;
    if call.function.is_some() {
        let error = FieldError::new("function", "is named in the path");
        return Err(Problem::invalid(vec![error]));
    }
    let function = state.backend.registry.get(&name).await?;
    let function = function.ok_or_else(|| no_function(&name))?;
    let valid =
        resolve(&function, call, "params", &state.backend.names.queues).map_err(rejected)?;
    submit_valid(&state, &caller, &headers, valid).await
}
