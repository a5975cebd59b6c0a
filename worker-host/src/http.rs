//! The host's local HTTP server (`--http-listen`, on 127.0.0.1 by default):
//! `GET /health` says what the host is doing, `GET /metrics` gives its
//! Prometheus metrics.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;

use crate::fleet::HostState;

#[derive(Clone)]
pub struct Local {
    pub worker_id: String,
    pub mode: &'static str,
    pub slots: usize,
    pub host: HostState,
    pub metrics: PrometheusHandle,
}

pub fn router(local: Local) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .with_state(local)
}

async fn health(State(local): State<Local>) -> Json<serde_json::Value> {
    let running = local.host.running_tasks();
    let status = if local.host.revoked().is_cancelled() {
        "revoked"
    } else if local.host.taking_tasks() {
        "healthy"
    } else {
        "draining"
    };
    Json(json!({
        "status": status,
        "workerId": local.worker_id,
        "mode": local.mode,
        "slots": local.slots,
        "busySlots": running.len(),
        "runningTasks": running,
        "registered": local.host.is_registered(),
    }))
}

async fn metrics(State(local): State<Local>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        local.metrics.render(),
    )
}
