//! `/v1/tasksets/{set}`: declarative sync of a set of named tasks (`PUT`)
//! and the set as it is (`GET`).

use std::collections::BTreeSet;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::Serialize;
use wharf_core::model::{Scope, Task, TaskRequest};
use wharf_core::taskset::{sync, SyncError, MAX_SET_TASKS};
use wharf_core::validate::{
    is_resource_name, parse_json, parse_task_request, FieldError, Rejection, ValidTask,
};

use super::auth::Caller;
use super::problem::Problem;
use super::submit::{json_body, rejected};
use super::AppState;

/// A set name from the path; anything that cannot be one names no set.
pub struct SetName(pub String);

impl<S: Send + Sync> FromRequestParts<S> for SetName {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let name = super::extract::path_param(parts, state, "set").await?;
        match is_resource_name(&name) {
            true => Ok(SetName(name)),
            false => Err(no_set(&name)),
        }
    }
}

/// The `{set}` of the task-set routes, as the OpenAPI document shows it.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // only its parameter description is used
pub struct SetPath {
    /// 1 to 128 letters, digits, `-`, `_` or `.`.
    set: String,
}

fn no_set(name: &str) -> Problem {
    Problem::not_found(format!("no task set {name:?}"))
}

/// A task set after a sync, or as it is.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TaskSetView {
    set: String,
    /// The set's tasks: as listed after a sync, by name otherwise.
    tasks: Vec<Task>,
    /// Tasks this sync took out of the set (cancelled if they were active).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    removed: Vec<Task>,
}

/// `PUT /v1/tasksets/{set}`: the body lists the set's tasks, each named.
#[utoipa::path(put, path = "/v1/tasksets/{set}", operation_id = "syncTaskSet", tag = "tasks",
    params(SetPath), request_body = Vec<TaskRequest>,
    responses(
        (status = 200, description = "Missing tasks created, unlisted active ones cancelled; the set as it is now", body = TaskSetView),
        (status = 409, description = "A listed name belongs to a task outside the set (`existingId`), or another sync changed the set meanwhile",
            body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn put(
    State(state): State<AppState>,
    caller: Caller,
    SetName(set): SetName,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<TaskSetView>, Problem> {
    caller.require(Scope::Submit)?;
    let body = json_body(&headers, body)?;
    let tasks = parse_listed(&body, &state.backend.names.queues)?;
    match sync(&state.backend, &set, tasks).await {
        Ok(synced) => {
            tracing::info!(set = %set, tasks = synced.tasks.len(), removed = synced.removed.len(), "task set synced");
            Ok(Json(TaskSetView {
                set,
                tasks: synced.tasks,
                removed: synced.removed,
            }))
        }
        Err(SyncError::NameTaken {
            index,
            name,
            existing_id,
        }) => {
            let detail =
                format!("{name:?} is the name of task {existing_id}, which is not in set {set:?}");
            Err(Problem {
                errors: vec![FieldError::new(format!("[{index}].name"), detail.clone())],
                existing_id: Some(existing_id),
                ..Problem::new(StatusCode::CONFLICT, "name-taken", detail)
            })
        }
        Err(SyncError::Backend(err)) => Err(err.into()),
    }
}

/// The listed tasks, each valid and named, names unique; errors name the
/// task as `[index].field`.
fn parse_listed(body: &[u8], queues: &[String]) -> Result<Vec<ValidTask>, Problem> {
    let listed: Vec<serde_json::Value> = parse_json(body).map_err(|e| Problem::invalid(vec![e]))?;
    if listed.len() > MAX_SET_TASKS {
        let error = FieldError::new("", format!("a set holds at most {MAX_SET_TASKS} tasks"));
        return Err(Problem::invalid(vec![error]));
    }
    let mut errors = Vec::new();
    let mut names = BTreeSet::new();
    let mut tasks = Vec::with_capacity(listed.len());
    for (index, task) in listed.iter().enumerate() {
        let at = |field: &str| match field {
            "" => format!("[{index}]"),
            field => format!("[{index}].{field}"),
        };
        let bytes = serde_json::to_vec(task).unwrap_or_default();
        match parse_task_request(&bytes, queues) {
            Ok(valid) => match valid.request.name.clone() {
                None => errors.push(FieldError::new(at("name"), "a set's tasks must be named")),
                Some(name) if !names.insert(name.clone()) => {
                    errors.push(FieldError::new(
                        at("name"),
                        format!("{name:?} is listed twice"),
                    ));
                }
                Some(_) => tasks.push(valid),
            },
            Err(Rejection::Invalid(invalid)) => errors.extend(
                invalid
                    .into_iter()
                    .map(|e| FieldError::new(at(&e.field), e.message)),
            ),
            Err(too_large) => return Err(rejected(too_large)),
        }
    }
    match errors.is_empty() {
        true => Ok(tasks),
        false => Err(Problem::invalid(errors)),
    }
}

/// `GET /v1/tasksets/{set}`: the set's tasks as they are now.
#[utoipa::path(get, path = "/v1/tasksets/{set}", operation_id = "getTaskSet", tag = "tasks",
    params(SetPath),
    responses((status = 200, description = "The set's tasks as they are now", body = TaskSetView)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    SetName(set): SetName,
) -> Result<Json<TaskSetView>, Problem> {
    caller.require(Scope::Read)?;
    let members = state.backend.sets.members(&set).await?;
    let (members, _) = members.ok_or_else(|| no_set(&set))?;
    let mut tasks = Vec::with_capacity(members.0.len());
    for id in members.0.values() {
        if let Some(versioned) = state.backend.store.get(id).await? {
            tasks.push(versioned.task);
        }
    }
    Ok(Json(TaskSetView {
        set,
        tasks,
        removed: Vec::new(),
    }))
}
