//! `GET /v1/tasks`: tasks newest first, filtered by `status`, `queue`,
//! `name` and `label=key=value` (repeatable, all must match), `limit` at a
//! time, with an opaque `cursor` to the next page.

use std::str::FromStr;

use axum::extract::{RawQuery, State};
use axum::Json;
use wharf_core::listing::{TaskFilter, TaskQuery, DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT};
use wharf_core::model::{Scope, Status};
use wharf_core::validate::FieldError;

use super::auth::Caller;
use super::extract::is_task_id;
use super::problem::Problem;
use super::AppState;
use wharf_contract::views::TaskList;

#[utoipa::path(get, path = "/v1/tasks", operation_id = "listTasks", tag = "tasks",
    params(
        ("status" = Option<Status>, Query, description = "Only tasks in this status"),
        ("queue" = Option<String>, Query, description = "Only tasks of this queue"),
        ("name" = Option<String>, Query, description = "The task of this name"),
        ("parent" = Option<String>, Query, description = "Only the children of this array"),
        ("label" = Option<Vec<String>>, Query, explode, description = "`key=value`; repeat it: every label must match"),
        ("limit" = Option<usize>, Query, minimum = 1, maximum = 1000, description = "Tasks per page (default 100)"),
        ("cursor" = Option<String>, Query, description = "`nextCursor` of the previous page"),
    ),
    responses((status = 200, description = "A page of tasks, newest first", body = TaskList)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<TaskList>, Problem> {
    caller.require(Scope::Read)?;
    Ok(Json(
        page(&state, raw.as_deref().unwrap_or_default()).await?,
    ))
}

/// The page of tasks a query string asks for (the console's task list
/// reads the same).
pub(crate) async fn page(state: &AppState, raw: &str) -> Result<TaskList, Problem> {
    let query = parse(raw, &state.backend.names.queues)?;
    let page = state.backend.store.list(&query).await?;
    Ok(TaskList {
        tasks: page.tasks,
        next_cursor: page.next.map(|id| format!("{CURSOR_PREFIX}{id}")),
    })
}

/// Cursors are `t` and the id of the last task read; clients treat them as
/// opaque.
const CURSOR_PREFIX: &str = "t";

/// The query string as a listing, or a `400` naming every parameter that is
/// wrong.
fn parse(raw: &str, queues: &[String]) -> Result<TaskQuery, Problem> {
    let mut query = TaskQuery {
        filter: TaskFilter::default(),
        limit: DEFAULT_LIST_LIMIT,
        before: None,
    };
    let mut errors = Vec::new();
    let mut seen = Vec::new();
    for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
        if key != "label" && seen.contains(&key) {
            errors.push(FieldError::new(key.as_ref(), "is given more than once"));
            continue;
        }
        seen.push(key.clone());
        if let Err(message) = apply(&mut query, &key, value.into_owned(), queues) {
            errors.push(FieldError::new(key.as_ref(), message.to_string()));
        }
    }
    match errors.is_empty() {
        true => Ok(query),
        false => Err(Problem::invalid(errors)),
    }
}

/// What is wrong with one query parameter's value.
#[derive(Debug, thiserror::Error)]
enum BadValue<'q> {
    #[error(
        "must be one of waiting, queued, running, succeeded, failed, timed_out, cancelled, skipped"
    )]
    Status,
    #[error("is not a configured queue ({})", .0.join(", "))]
    Queue(&'q [String]),
    #[error("must be key=value, as in label=team=data")]
    Label,
    #[error("must be a whole number from 1 to {}", MAX_LIST_LIMIT)]
    Limit,
    #[error("is not a cursor this API gave out")]
    Cursor,
    #[error("is not a task id")]
    Parent,
    #[error(
        "is not a parameter of this route (status, queue, name, parent, label, limit, cursor)"
    )]
    Unknown,
}

/// Sets one query parameter, or says what is wrong with its value.
fn apply<'q>(
    query: &mut TaskQuery,
    key: &str,
    value: String,
    queues: &'q [String],
) -> Result<(), BadValue<'q>> {
    let filter = &mut query.filter;
    match key {
        "status" => {
            let status = Status::from_str(&value).map_err(|_| BadValue::Status)?;
            filter.status = Some(status);
        }
        "queue" if queues.contains(&value) => filter.queue = Some(value),
        "queue" => return Err(BadValue::Queue(queues)),
        "name" => filter.name = Some(value),
        "parent" if is_task_id(&value) => filter.parent = Some(value),
        "parent" => return Err(BadValue::Parent),
        "label" => {
            let (label, wanted) = value.split_once('=').ok_or(BadValue::Label)?;
            filter.labels.insert(label.to_owned(), wanted.to_owned());
        }
        "limit" => {
            query.limit = value
                .parse()
                .ok()
                .filter(|limit| (1..=MAX_LIST_LIMIT).contains(limit))
                .ok_or(BadValue::Limit)?;
        }
        "cursor" => {
            let id = value
                .strip_prefix(CURSOR_PREFIX)
                .filter(|id| is_task_id(id))
                .ok_or(BadValue::Cursor)?;
            query.before = Some(id.to_owned());
        }
        _ => return Err(BadValue::Unknown),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queues() -> Vec<String> {
        vec!["default".to_owned()]
    }

    #[test]
    fn every_filter_is_read_and_labels_repeat() {
        let query = parse(
            "status=running&queue=default&name=n&label=team%3Ddata&label=env=prod&limit=5&parent=01kba1j8ebm3tyd43p3jy7w0cz",
            &queues(),
        )
        .unwrap();
        assert_eq!(query.filter.status, Some(Status::Running));
        assert_eq!(query.filter.queue.as_deref(), Some("default"));
        assert_eq!(query.filter.name.as_deref(), Some("n"));
        assert_eq!(query.filter.labels.len(), 2);
        assert_eq!(query.filter.labels["team"], "data");
        assert_eq!(query.limit, 5);
        assert_eq!(
            query.filter.parent.as_deref(),
            Some("01kba1j8ebm3tyd43p3jy7w0cz")
        );
    }

    #[test]
    fn each_wrong_parameter_is_named() {
        let Err(problem) = parse(
            "status=done&queue=nope&limit=0&cursor=x&label=novalue&sort=asc&limit=2&parent=..",
            &queues(),
        ) else {
            panic!("accepted");
        };
        let fields: Vec<&str> = problem.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["status", "queue", "limit", "cursor", "label", "sort", "limit", "parent"]
        );
    }
}
