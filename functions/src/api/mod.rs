//! The HTTP API (SPEC §4): one axum router, served by `lambda_http` under
//! Lambda and by a plain listener locally.

pub mod auth;
pub mod problem;
mod tasks;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::{Json, Router};
use wharf_core::validate::MAX_PAYLOAD_BYTES;
use wharf_core::Backend;

pub use auth::Tokens;
pub use wharf_core::model::Scope;

/// What every handler may use; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub backend: Backend,
    pub tokens: Tokens,
}

/// Request bodies may be this large: a maximal payload plus its spec. Larger
/// ones are refused with `413` before they are read.
const MAX_BODY_BYTES: usize = MAX_PAYLOAD_BYTES + 256 * 1024;

pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/v1/tasks", post(tasks::create))
        .route("/v1/tasks/{id}", get(tasks::get).delete(tasks::delete))
        .route("/v1/tasks/{id}/cancel", post(tasks::cancel))
        .route("/v1/tasks/{id}/outputs", get(tasks::outputs))
        .route("/v1/tasks/{id}/outputs/{*path}", get(tasks::output))
        .route("/v1/tasks/{id}/logs", get(tasks::logs))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "healthy"}))
}
