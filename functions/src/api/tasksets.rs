//! `/v1/tasksets/{set}`: declarative sync of a set of named tasks (`PUT`)
//! and the set as it is (`GET`).

use std::collections::BTreeSet;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::Serialize;
use wharf_core::model::{Scope, Task, TaskRequest};
use wharf_core::taskset::{sync, SyncError, MAX_SET_TASKS};
use wharf_core::validate::{parse_task_request, FieldError, Rejection, ValidTask};

use super::auth::Caller;
use super::extract::{Name, NamePath};
use super::problem::Problem;
use super::submit::may_depend;
use super::AppState;
use wharf_contract::body::{read_json, rejected};

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
#[utoipa::path(put, path = "/v1/tasksets/{name}", operation_id = "syncTaskSet", tag = "tasks",
    params(NamePath), request_body = Vec<TaskRequest>,
    responses(
        (status = 200, description = "Missing tasks created, unlisted active ones cancelled; the set as it is now", body = TaskSetView),
        (status = 409, description = "A listed name belongs to a task outside the set (`existingId`), or another sync changed the set meanwhile",
            body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn put(
    State(state): State<AppState>,
    caller: Caller,
    Name(set): Name,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<TaskSetView>, Problem> {
    caller.require(Scope::Submit)?;
    let listed: Vec<serde_json::Value> = read_json(&headers, body)?;
    let tasks = parse_listed(&listed, &state.backend.names.queues)?;
    for (index, task) in tasks.iter().enumerate() {
        caller
            .may_reference(&task.request.secrets)
            .and_then(|()| may_depend(&caller, task))
            .map_err(|mut problem| {
                for error in &mut problem.errors {
                    error.field = format!("[{index}].{}", error.field);
                }
                problem
            })?;
    }
    match sync(
        state.backend.submission(),
        &*state.backend.sets,
        &set,
        tasks,
    )
    .await
    {
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
        Err(SyncError::Invalid { index, mut errors }) => {
            for error in &mut errors {
                error.field = format!("[{index}].{}", error.field);
            }
            Err(Problem::invalid(errors))
        }
        Err(SyncError::Backend(err)) => Err(err.into()),
    }
}

/// The listed tasks, each valid and named, names unique; errors name the
/// task as `[index].field`.
fn parse_listed(
    listed: &[serde_json::Value],
    queues: &[String],
) -> Result<Vec<ValidTask>, Problem> {
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
            Ok(valid) if valid.request.array.is_some() => errors.push(FieldError::new(
                at("array"),
                "a set's tasks are single tasks, not arrays",
            )),
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
#[utoipa::path(get, path = "/v1/tasksets/{name}", operation_id = "getTaskSet", tag = "tasks",
    params(NamePath),
    responses((status = 200, description = "The set's tasks as they are now", body = TaskSetView)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Name(set): Name,
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
