//! The HTTP API (SPEC §4): one axum router, served by `lambda_http` under
//! Lambda and by a plain listener locally.

pub mod auth;
mod extract;
mod fleet;
mod listing;
pub mod problem;
pub mod submit;
mod tasks;

use axum::extract::DefaultBodyLimit;
use axum::http::{Method, StatusCode, Uri};
use axum::routing::{get, post};
use axum::{Json, Router};
use wharf_core::validate::MAX_PAYLOAD_BYTES;
use wharf_core::Backend;

pub use auth::Tokens;
use problem::Problem;
pub use wharf_core::model::Scope;

/// What every handler may use; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub backend: Backend,
    pub tokens: Tokens,
}

/// Request bodies may be this large: a maximal payload plus its spec. Larger
/// ones are refused with `413` before they are read.
pub const MAX_BODY_BYTES: usize = MAX_PAYLOAD_BYTES + 256 * 1024;

pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/v1/tasks", post(submit::create).get(listing::list))
        .route("/v1/tasks/{id}", get(tasks::get).delete(tasks::delete))
        .route("/v1/tasks/{id}/cancel", post(tasks::cancel))
        .route("/v1/tasks/{id}/outputs", get(tasks::outputs))
        .route("/v1/tasks/{id}/outputs/{*path}", get(tasks::output))
        .route("/v1/tasks/{id}/logs", get(tasks::logs))
        .route("/v1/workers", get(fleet::list))
        .route("/v1/workers/{id}", get(fleet::get))
        .route("/v1/workers/{id}/drain", post(fleet::drain))
        .route("/v1/workers/{id}/revoke", post(fleet::revoke))
        .route("/v1/status", get(fleet::status))
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn unknown_route(uri: Uri) -> Problem {
    Problem::not_found(format!("no route {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> Problem {
    let detail = format!("{} does not answer {method}", uri.path());
    Problem::new(StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed", detail)
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "healthy"}))
}
