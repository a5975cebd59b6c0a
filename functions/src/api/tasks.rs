//! `/v1/tasks/{id}`: read, cancel, delete and logs (outputs: `outputs.rs`).

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use headers::{ETag, HeaderMapExt, IfNoneMatch};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use utoipa::IntoParams;
use wharf_core::artifacts::task_prefix;
use wharf_core::flow::Retried;
use wharf_core::logs::read_log;
use wharf_core::model::Task;
use wharf_core::store::Transition;

use super::auth::Caller;
use super::extract::{Query, TaskId, TaskPath};
use super::problem::Problem;
use super::AppState;
use wharf_contract::views::{LogChunk, TaskView};
use wharf_core::model::Scope;

/// `POST /v1/tasks/{id}/cancel`: a queued task is cancelled at once; a
/// running one is marked cancelled and its worker kills it at its next
/// heartbeat; a finished one is `409`.
#[utoipa::path(post, path = "/v1/tasks/{id}/cancel", operation_id = "cancelTask", tag = "tasks", params(TaskPath),
    responses(
        (status = 200, description = "Cancelled; a running task is killed at its worker's next heartbeat", body = Task),
        (status = 409, description = "The task has finished already", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    TaskId(id): TaskId,
) -> Result<Json<Task>, Problem> {
    caller.require(Scope::Submit)?;
    match state.backend.flow().cancel(&id).await? {
        Transition::Applied(cancelled) => {
            tracing::info!(task_id = %id, "task cancelled");
            Ok(Json(cancelled.task))
        }
        Transition::Refused(task) => Err(finished(&task)),
        Transition::Missing => Err(Problem::not_found(format!("no task {id}"))),
    }
}

/// `POST /v1/tasks/{id}/retry`: a failed, timed-out, cancelled or skipped
/// task runs again with a fresh budget of `maxAttempts` (`waiting` again
/// when it has dependencies), and its dependents skipped because of it
/// wait again; an active or succeeded task is `409`.
#[utoipa::path(post, path = "/v1/tasks/{id}/retry", operation_id = "retryTask", tag = "tasks", params(TaskPath),
    responses(
        (status = 200, description = "Queued again (or waiting again, with dependencies)", body = Task),
        (status = 409, description = "The task is active or succeeded", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn retry(
    State(state): State<AppState>,
    caller: Caller,
    TaskId(id): TaskId,
) -> Result<Json<Task>, Problem> {
    caller.require(Scope::Submit)?;
    match state.backend.flow().retry(&id).await? {
        Retried::Retried(task) => {
            tracing::info!(task_id = %id, status = %task.status, "task retried");
            Ok(Json(task))
        }
        Retried::Refused(task) => Err(Problem::new(
            StatusCode::CONFLICT,
            "task-not-retryable",
            format!(
                "task {id} is {}; only a failed, timed-out, cancelled or skipped task can be retried",
                task.status
            ),
        )),
        Retried::Missing => Err(Problem::not_found(format!("no task {id}"))),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteQuery {
    /// Cancel an active task first instead of answering `409`.
    #[serde(default)]
    force: bool,
}

/// `DELETE /v1/tasks/{id}`: removes the record, its outputs and logs. An
/// active task is `409` unless `?force=true`, which cancels it first.
#[utoipa::path(delete, path = "/v1/tasks/{id}", operation_id = "deleteTask", tag = "tasks", params(TaskPath, DeleteQuery),
    responses(
        (status = 204, description = "The record, its outputs and logs are gone; its name and idempotency key are free"),
        (status = 409, description = "The task is active and `force` was not given", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    TaskId(id): TaskId,
    Query(query): Query<DeleteQuery>,
) -> Result<StatusCode, Problem> {
    caller.require(Scope::Submit)?;
    let mut task = load(&state, &id).await?;
    if !task.status.is_terminal() {
        if !query.force {
            return Err(Problem::new(
                StatusCode::CONFLICT,
                "task-active",
                format!(
                    "task {id} is {}; cancel it first or pass ?force=true",
                    task.status
                ),
            ));
        }
        match state.backend.flow().cancel(&id).await? {
            Transition::Applied(cancelled) => task = cancelled.task,
            Transition::Refused(current) => task = current,
            Transition::Missing => return Err(Problem::not_found(format!("no task {id}"))),
        }
    }
    state.backend.store.delete(&task).await?;
    state.backend.flow().announce_end(&task).await;
    let objects = state
        .backend
        .artifacts
        .delete_prefix(&task_prefix(&id))
        .await?;
    tracing::info!(task_id = %id, objects, "task deleted");
    Ok(StatusCode::NO_CONTENT)
}

fn finished(task: &Task) -> Problem {
    Problem::new(
        StatusCode::CONFLICT,
        "task-finished",
        format!("task {} has finished already ({})", task.id, task.status),
    )
}

pub(crate) async fn load(state: &AppState, id: &str) -> Result<Task, Problem> {
    state
        .backend
        .store
        .get(id)
        .await?
        .map(|versioned| versioned.task)
        .ok_or_else(|| Problem::not_found(format!("no task {id}")))
}

/// `GET /v1/tasks/{id}`, with an `ETag` of what it returns.
#[utoipa::path(get, path = "/v1/tasks/{id}", operation_id = "getTask", tag = "tasks", params(TaskPath,
        ("If-None-Match" = Option<String>, Header, description = "An ETag this route gave: `304` while the task still reads the same")),
    responses(
        (status = 200, description = "The task; a queued one says why it waits in `pending`", body = TaskView,
            headers(("ETag" = String, description = "Changes whenever the task does"))),
        (status = 304, description = "Unchanged since the ETag given in `If-None-Match`",
            headers(("ETag" = String))),
    ))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    TaskId(id): TaskId,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    caller.require(Scope::Read)?;
    let task = load(&state, &id).await?;
    let pending = super::fleet::pending(&state, &task).await?;
    let view = TaskView { task, pending };
    let body = serde_json::to_vec(&view).map_err(|e| wharf_core::Error::Corrupt(e.to_string()))?;
    let etag: ETag = format!("\"{}\"", &hex::encode(Sha256::digest(&body))[..32])
        .parse()
        .expect("a quoted hex digest is a valid entity tag");
    let unchanged = headers
        .typed_get::<IfNoneMatch>()
        .is_some_and(|tags| !tags.precondition_passes(&etag));
    let mut response = if unchanged {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let json = HeaderValue::from_static("application/json");
        ([(header::CONTENT_TYPE, json)], body).into_response()
    };
    response.headers_mut().typed_insert(etag);
    Ok(response)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// The attempt whose log to read; the latest by default.
    attempt: Option<u32>,
    /// Where to start: `nextOffset` of the previous response.
    #[serde(default)]
    offset: u64,
}

/// A log response carries at most this many bytes of log.
pub const MAX_LOG_CHUNK_BYTES: u64 = 1024 * 1024;

/// The log of one attempt (the latest by default) from `offset` on, at most
/// [`MAX_LOG_CHUNK_BYTES`] of it (only that range is read): follow
/// `nextOffset` until `complete`. While a task runs its worker uploads the
/// log every heartbeat, so it lags by a few seconds; `complete` turns true
/// once the attempt has ended and everything was read.
#[utoipa::path(get, path = "/v1/tasks/{id}/logs", operation_id = "getLogs", tag = "tasks", params(TaskPath, LogQuery),
    responses((status = 200, description = "At most 1 MiB of the attempt's log from `offset`", body = LogChunk)))]
pub async fn logs(
    State(state): State<AppState>,
    caller: Caller,
    TaskId(id): TaskId,
    Query(query): Query<LogQuery>,
) -> Result<Json<LogChunk>, Problem> {
    caller.require(Scope::Read)?;
    let task = load(&state, &id).await?;
    let attempt = query.attempt.unwrap_or(task.attempt);
    let ended = attempt < task.attempt || task.status.is_terminal();
    let read = read_log(
        state.backend.artifacts.as_ref(),
        (&id, attempt),
        query.offset,
        MAX_LOG_CHUNK_BYTES,
    )
    .await?;
    let complete = ended && read.at_end;
    let (data, taken) = whole_characters(read.data, complete);
    Ok(Json(LogChunk {
        attempt,
        data,
        next_offset: query.offset + taken as u64,
        complete,
    }))
}

/// The chunk as text and how many of its bytes that is: unless the log
/// ends here, a character cut at its end is left for the next read; other
/// invalid bytes become U+FFFD.
fn whole_characters(mut data: Vec<u8>, log_ends: bool) -> (String, usize) {
    let len = data.len();
    // The last character starts at the last byte that does not continue one.
    let last = (len.saturating_sub(4)..len)
        .rev()
        .find(|&i| data[i] & 0xC0 != 0x80);
    if let (Some(start), false) = (last, log_ends) {
        let width = match data[start] {
            0xF0.. => 4,
            0xE0.. => 3,
            0xC0.. => 2,
            _ => 1,
        };
        if start + width > len {
            data.truncate(start);
        }
    }
    let read = data.len();
    (String::from_utf8_lossy(&data).into_owned(), read)
}

#[cfg(test)]
mod tests {
    use super::whole_characters;

    #[test]
    fn a_character_cut_at_the_end_waits_for_the_next_read_unless_the_log_ends() {
        let text = "aé€😀".as_bytes();
        for cut in 0..=text.len() {
            let (data, taken) = whole_characters(text[..cut].to_vec(), false);
            assert!(text.starts_with(data.as_bytes()), "{cut}: {data:?}");
            assert_eq!(taken, data.len());
            let (data, taken) = whole_characters(text[..cut].to_vec(), true);
            assert_eq!(taken, cut);
            assert_eq!(data.is_empty(), cut == 0);
        }
        // Invalid bytes before a cut character do not hide the cut.
        let (data, taken) = whole_characters(b"a\xffb\xe2\x82".to_vec(), false);
        assert_eq!((data.as_str(), taken), ("a\u{fffd}b", 3));
    }
}
