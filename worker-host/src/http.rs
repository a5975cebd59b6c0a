//! The host's local HTTP server (`--http-listen`, on 127.0.0.1 by default):
//! `GET /health` says what the host is doing, `GET /metrics` gives its
//! Prometheus metrics, and in push and hybrid mode `POST /v1/tasks` runs a
//! task here at once ([`crate::push`]).

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;
use tokio::net::TcpListener;

use crate::background::Background;
use crate::push::{self, WorkerToken};
use crate::slots::Slots;

/// What the server needs before the worker runs: its socket (bound early,
/// so a taken port fails the start), the metrics recorder's handle, and
/// the token pushes must carry.
pub struct LocalHttp {
    pub listener: TcpListener,
    pub metrics: PrometheusHandle,
    pub token: Option<WorkerToken>,
}

#[derive(Clone)]
struct Local {
    slots: Arc<Slots>,
    metrics: PrometheusHandle,
}

impl LocalHttp {
    /// Serves in the background, for the host whose `slots` these are,
    /// until stopped.
    pub fn serve(self, slots: Arc<Slots>) -> Background<()> {
        let pushes = slots.worker.config.mode.takes_pushes();
        let mut router = Router::new()
            .route("/health", get(health))
            .route("/metrics", get(metrics))
            .with_state(Local {
                slots: slots.clone(),
                metrics: self.metrics,
            });
        if pushes {
            router = router.merge(push::routes(slots, self.token));
        }
        Background::spawn(move |done| async move {
            let served = axum::serve(self.listener, router)
                .with_graceful_shutdown(done.cancelled_owned())
                .await;
            if let Err(err) = served {
                tracing::error!(error = %err, "the local HTTP server failed");
            }
        })
    }
}

async fn health(State(local): State<Local>) -> Json<serde_json::Value> {
    let worker = &local.slots.worker;
    let host = &worker.host;
    let running = host.running_tasks();
    let status = if host.revoked().is_cancelled() {
        "revoked"
    } else if host.taking_tasks() {
        "healthy"
    } else {
        "draining"
    };
    Json(json!({
        "status": status,
        "workerId": worker.config.worker_id,
        "mode": worker.config.mode.to_string(),
        "slots": worker.config.concurrency,
        "busySlots": running.len(),
        "runningTasks": running,
        "registered": host.is_registered(),
    }))
}

async fn metrics(State(local): State<Local>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        local.metrics.render(),
    )
}
