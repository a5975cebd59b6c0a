//! The web console: `/console` and below, served by `wharf-api` itself so it
//! works the same locally and behind API Gateway.
//!
//! Pages are server-rendered shells ([`pages`]) that hold no data and need
//! no token. The console's script (`assets/console.js`) keeps the API
//! token in `sessionStorage` and sends it as a bearer header to fetch
//! server-rendered fragments ([`fragments`], which answer `401`/`403` like
//! every API route) and to act through the JSON API. Everything is served
//! under a strict Content-Security-Policy: no inline script or style,
//! nothing from elsewhere.

mod fragments;
mod pages;
mod render;

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::AppState;

/// What the browser may do on a console page: only this origin's script,
/// style, images and fetches; no frames, no plugins, no inline code.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; \
    base-uri 'none'; frame-ancestors 'none'";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console", get(pages::tasks))
        .route("/console/tasks/{id}", get(pages::task))
        .route("/console/workers", get(pages::workers))
        .route("/console/queues", get(pages::queues))
        .route("/console/assets/console.js", get(script))
        .route("/console/assets/console.css", get(style))
        .route("/console/fragments/tasks", get(fragments::tasks))
        .route("/console/fragments/tasks/{id}", get(fragments::task))
        .route("/console/fragments/workers", get(fragments::workers))
        .route("/console/fragments/queues", get(fragments::queues))
        .layer(axum::middleware::map_response(secure))
}

async fn script() -> Response {
    let js = include_str!("console/assets/console.js");
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        js,
    )
        .into_response()
}

async fn style() -> Response {
    let css = include_str!("console/assets/console.css");
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], css).into_response()
}

/// Headers on every console answer: the policy, no sniffing, no framing,
/// no referrer (a presigned URL or a task id never leaves in one), and
/// nothing kept in caches.
async fn secure(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let set = [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    for (name, value) in set {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}
