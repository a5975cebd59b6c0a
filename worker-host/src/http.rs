//! The host's local HTTP server (`--http-listen`, on 127.0.0.1 by default):
//! `GET /health` says what the host is doing, `GET /metrics` gives its
//! Prometheus metrics, and in push and hybrid mode `POST /v1/tasks` runs a
//! task here at once ([`crate::push`]).

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;
use tokio::net::TcpListener;
use wharf_core::validate::MAX_PAYLOAD_BYTES;

use crate::background::Background;
use crate::poller::Shared;
use crate::push::{self, WorkerToken};

/// What the server needs before the worker runs: its socket (bound early,
/// so a taken port fails the start), the metrics recorder's handle, and
/// the token pushes must carry.
pub struct LocalHttp {
    pub listener: TcpListener,
    pub metrics: PrometheusHandle,
    pub token: Option<WorkerToken>,
}

#[derive(Clone)]
pub(crate) struct Local {
    pub shared: Arc<Shared>,
    pub metrics: PrometheusHandle,
    pub token: Option<Arc<WorkerToken>>,
}

/// The server running beside the worker.
pub(crate) type Serving = Background<()>;

impl LocalHttp {
    pub(crate) fn serve(self, shared: Arc<Shared>) -> Serving {
        let pushes = shared.worker.config.mode.takes_pushes();
        let local = Local {
            shared,
            metrics: self.metrics,
            token: self.token.map(Arc::new),
        };
        let mut router = Router::new()
            .route("/health", get(health))
            .route("/metrics", get(metrics));
        if pushes {
            let body_limit = DefaultBodyLimit::max(MAX_PAYLOAD_BYTES + 256 * 1024);
            router = router.route("/v1/tasks", post(push::accept).layer(body_limit));
        }
        let router = router.with_state(local);
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
    let worker = &local.shared.worker;
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
