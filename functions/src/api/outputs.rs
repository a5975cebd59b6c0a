//! `/v1/tasks/{id}/outputs`: a task's outputs manifest, a page at a time
//! with presigned URLs, and a redirect to one output.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde::Deserialize;
use utoipa::IntoParams;
use wharf_core::artifacts::{manifest, output_key};
use wharf_core::model::Task;

use super::auth::Caller;
use super::extract::{Query, TaskId, TaskPath};
use super::problem::Problem;
use super::tasks::load;
use super::AppState;
use wharf_contract::views::{OutputLink, OutputsPage};
use wharf_core::model::Scope;
use wharf_core::validate::FieldError;

pub(crate) const DEFAULT_URL_EXPIRY_SECONDS: u64 = 3600;
/// S3 presigned URLs live at most seven days.
const MAX_URL_EXPIRY_SECONDS: u64 = 7 * 24 * 3600;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExpiryQuery {
    /// Seconds the presigned URL stays valid (1 to 604800, default 3600).
    expires: Option<u64>,
}

impl ExpiryQuery {
    fn duration(&self) -> Result<Duration, Problem> {
        let seconds = self.expires.unwrap_or(DEFAULT_URL_EXPIRY_SECONDS);
        if !(1..=MAX_URL_EXPIRY_SECONDS).contains(&seconds) {
            return Err(Problem::invalid(vec![FieldError::new(
                "expires",
                format!("must be between 1 and {MAX_URL_EXPIRY_SECONDS} seconds"),
            )]));
        }
        Ok(Duration::from_secs(seconds))
    }
}

/// A page of the manifest holds at most this many outputs.
const MAX_OUTPUTS_PAGE: usize = 1000;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OutputsQuery {
    /// Seconds the presigned URLs stay valid (1 to 604800, default 3600).
    expires: Option<u64>,
    /// Outputs per page, 1 to 1000 (the default).
    limit: Option<usize>,
    /// `nextCursor` of the previous page.
    cursor: Option<String>,
}

/// The outputs manifest, a page at a time (`limit` ≤ 1000, `cursor` from
/// the previous page's `nextCursor`), each entry with a presigned URL.
#[utoipa::path(get, path = "/v1/tasks/{id}/outputs", operation_id = "listOutputs", tag = "tasks", params(TaskPath, OutputsQuery),
    responses((status = 200, description = "A page of the manifest, each output with a presigned URL", body = OutputsPage)))]
pub async fn outputs(
    State(state): State<AppState>,
    caller: Caller,
    TaskId(id): TaskId,
    Query(query): Query<OutputsQuery>,
) -> Result<Json<OutputsPage>, Problem> {
    caller.require(Scope::Read)?;
    let expires = ExpiryQuery {
        expires: query.expires,
    }
    .duration()?;
    let (start, limit) = page(&query)?;
    let task = load(&state, &id).await?;
    let (outputs, end) = output_links(&state, &task, start, limit, expires).await?;
    let next_cursor = end.map(|end| format!("o{end:x}"));
    Ok(Json(OutputsPage {
        task_id: id,
        status: task.status,
        outputs,
        next_cursor,
    }))
}

/// At most `limit` of a task's outputs from the `start`th on, each with a
/// presigned URL valid for `expires`; and where the next ones start, if
/// any are left.
pub(crate) async fn output_links(
    state: &AppState,
    task: &Task,
    start: usize,
    limit: usize,
    expires: Duration,
) -> Result<(Vec<OutputLink>, Option<usize>), Problem> {
    let manifest = manifest(state.backend.artifacts.as_ref(), task).await?;
    let expires_at = Utc::now() + expires;
    let end = manifest.len().min(start.saturating_add(limit));
    let mut links = Vec::with_capacity(end.saturating_sub(start));
    for output in manifest.get(start..end).unwrap_or_default() {
        let url = state
            .backend
            .artifacts
            .presign_get(&output_key(&task.id, &output.path), expires)
            .await?;
        links.push(OutputLink {
            path: output.path.clone(),
            size: output.size,
            sha256: output.sha256.clone(),
            url,
            expires_at,
        });
    }
    Ok((links, (end < manifest.len()).then_some(end)))
}

/// Where a page starts and how long it is.
fn page(query: &OutputsQuery) -> Result<(usize, usize), Problem> {
    let invalid =
        |field: &str, message: &str| Problem::invalid(vec![FieldError::new(field, message)]);
    let limit = query.limit.unwrap_or(MAX_OUTPUTS_PAGE);
    if !(1..=MAX_OUTPUTS_PAGE).contains(&limit) {
        return Err(invalid("limit", "must be between 1 and 1000"));
    }
    let start = match &query.cursor {
        None => 0,
        Some(cursor) => cursor
            .strip_prefix('o')
            .and_then(|hex| usize::from_str_radix(hex, 16).ok())
            .ok_or_else(|| invalid("cursor", "is not a cursor this API gave out"))?,
    };
    Ok((start, limit))
}

/// `GET /v1/tasks/{id}/outputs/{path}`: a redirect to one output.
#[utoipa::path(get, path = "/v1/tasks/{id}/outputs/{*path}", operation_id = "getOutput", tag = "tasks",
    params(TaskPath, ("path" = String, Path, description = "The output's path in the task's output directory"), ExpiryQuery),
    responses((status = 302, description = "To the output's presigned URL",
        headers(("Location" = String, description = "The presigned URL")))))]
pub async fn output(
    State(state): State<AppState>,
    caller: Caller,
    TaskId(id): TaskId,
    Path(segments): Path<(String, String)>,
    Query(query): Query<ExpiryQuery>,
) -> Result<Response, Problem> {
    caller.require(Scope::Read)?;
    let (_, path) = segments;
    let expires = query.duration()?;
    let task = load(&state, &id).await?;
    let manifest = manifest(state.backend.artifacts.as_ref(), &task).await?;
    if !manifest.iter().any(|output| output.path == path) {
        return Err(Problem::not_found(format!(
            "task {id} has no output {path:?}"
        )));
    }
    let url = state
        .backend
        .artifacts
        .presign_get(&output_key(&id, &path), expires)
        .await?;
    Ok((StatusCode::FOUND, [(header::LOCATION, url)]).into_response())
}
