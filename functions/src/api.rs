//! The HTTP API (SPEC §4): one axum router, served by `lambda_http` under
//! Lambda and by a plain listener locally.

pub mod auth;
mod console;
mod extract;
mod fleet;
mod listing;
mod openapi;
mod outputs;
mod registry;
pub mod submit;
mod tasks;
mod tasksets;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{Method, StatusCode, Uri};
use axum::{Extension, Json, Router};
use serde::Serialize;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wharf_core::validate::MAX_PAYLOAD_BYTES;
use wharf_core::Backend;

pub use auth::Tokens;
pub use wharf_contract::problem;
use wharf_contract::Problem;
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
    let (router, doc) = OpenApiRouter::with_openapi(openapi::Frame::openapi())
        .routes(routes!(health))
        .routes(routes!(openapi_json))
        .routes(routes!(submit::create, listing::list))
        .routes(routes!(tasks::get, tasks::delete))
        .routes(routes!(tasks::cancel))
        .routes(routes!(tasks::retry))
        .routes(routes!(outputs::outputs))
        .routes(routes!(outputs::output))
        .routes(routes!(tasks::logs))
        .routes(routes!(fleet::list))
        .routes(routes!(fleet::get))
        .routes(routes!(fleet::drain))
        .routes(routes!(fleet::revoke))
        .routes(routes!(fleet::status))
        .routes(routes!(registry::list))
        .routes(routes!(registry::put, registry::get, registry::delete))
        .routes(routes!(registry::invoke))
        .routes(routes!(tasksets::put, tasksets::get))
        .split_for_parts();
    let doc = Document(Arc::new(openapi::complete(doc)));
    router
        .merge(console::router())
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(Extension(doc))
        .with_state(state)
}

/// The OpenAPI document the router was built with.
#[derive(Clone)]
struct Document(Arc<serde_json::Value>);

async fn unknown_route(uri: Uri) -> Problem {
    Problem::not_found(format!("no route {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> Problem {
    let detail = format!("{} does not answer {method}", uri.path());
    Problem::new(StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed", detail)
}

#[derive(Serialize, utoipa::ToSchema)]
struct Health {
    /// Always `healthy`.
    status: &'static str,
}

#[utoipa::path(get, path = "/health", operation_id = "health", tag = "meta",
    responses((status = 200, description = "The API answers", body = Health)))]
async fn health() -> Json<Health> {
    Json(Health { status: "healthy" })
}

/// The OpenAPI 3.1 document of every route.
#[utoipa::path(get, path = "/openapi.json", operation_id = "openapi", tag = "meta",
    responses((status = 200, description = "This API's OpenAPI 3.1 document", content_type = "application/json")))]
async fn openapi_json(
    Extension(Document(doc)): Extension<Document>,
) -> Json<Arc<serde_json::Value>> {
    Json(doc)
}
