//! Pushed tasks (`--mode push` or `hybrid`): `POST /v1/tasks` on the
//! host's local HTTP server takes the API's task schema (bearer
//! `WHARF_WORKER_TOKEN`, compared in constant time) and runs the task here
//! at once — `202` — or answers `409` when no slot is free. The task is
//! recorded in DynamoDB like any other, claimed by this host before anyone
//! else can see it, and backed by a message enqueued with a delay of one
//! lease: should this host die, another worker receives that message and
//! takes the task over; otherwise it finds the task finished and deletes it.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use chrono::Utc;
use tracing::Instrument;
use wharf_contract::body::{parse, refused, require_json};
use wharf_contract::Problem;
use wharf_core::lifecycle;
use wharf_core::model::{Scope, Status, Task};
use wharf_core::queue::MAX_SQS_DELAY_SECONDS;
use wharf_core::store::{Transition, Versioned};
use wharf_core::submit::{submit, Enqueue, Submitted};
use wharf_core::validate::{FieldError, MAX_PAYLOAD_BYTES};

use crate::claim::Handled;
use crate::slots::Slots;

pub use wharf_contract::Tokens as WorkerToken;

/// The token pushes must carry, from `WHARF_WORKER_TOKEN`.
pub fn worker_token(token: &str) -> WorkerToken {
    WorkerToken::single(token, vec![Scope::Submit])
}

/// What the push endpoint serves with.
struct Pushing {
    slots: Arc<Slots>,
    /// `None`: no token was configured, and every push is refused.
    token: Option<WorkerToken>,
}

/// `POST /v1/tasks` of the local HTTP server, taking tasks into `slots`.
pub(crate) fn routes(slots: Arc<Slots>, token: Option<WorkerToken>) -> Router {
    let body_limit = DefaultBodyLimit::max(MAX_PAYLOAD_BYTES + 256 * 1024);
    Router::new()
        .route("/v1/tasks", post(accept).layer(body_limit))
        .with_state(Arc::new(Pushing { slots, token }))
}

async fn accept(State(pushing): State<Arc<Pushing>>, headers: HeaderMap, body: Bytes) -> Response {
    match push(&pushing, &headers, &body).await {
        Ok(task) => (StatusCode::ACCEPTED, Json(task)).into_response(),
        Err(problem) => problem.into_response(),
    }
}

async fn push(pushing: &Pushing, headers: &HeaderMap, body: &[u8]) -> Result<Task, Problem> {
    let token = pushing.token.as_ref().ok_or_else(Problem::unauthorized)?;
    token.caller(headers)?.require(Scope::Submit)?;
    require_json(headers)?;
    let slots = &pushing.slots;
    let worker = &slots.worker;
    let config = &worker.config;
    let valid = parse(body, &config.queues)?;
    if valid.delay_seconds > 0 {
        let message = "a pushed task runs at once; submit delayed tasks to the API";
        return Err(Problem::invalid(vec![FieldError::new(
            "delaySeconds",
            message,
        )]));
    }
    let waits = [
        ("dependsOn", !valid.request.depends_on.is_empty()),
        ("concurrency", valid.request.concurrency.is_some()),
        ("array", valid.request.array.is_some()),
    ];
    if let Some((field, _)) = waits.into_iter().find(|(_, given)| *given) {
        let message = format!("a pushed task runs at once; submit tasks with {field} to the API");
        return Err(Problem::invalid(vec![FieldError::new(field, message)]));
    }
    if !worker.host.taking_tasks() {
        return Err(conflict(
            "not-taking-tasks",
            "this worker takes no more tasks (draining or stopping)",
        ));
    }
    let slot = slots
        .try_take()
        .ok_or_else(|| conflict("no-free-slot", "every slot of this worker is busy"))?;
    // Hidden until this host's lease would have lapsed without renewal.
    let backstop =
        (config.lease + config.heartbeat).min(Duration::from_secs(MAX_SQS_DELAY_SECONDS.into()));
    let task = match submit(
        worker.backend.submission(),
        valid,
        None,
        Enqueue::Backstop(backstop),
    )
    .await
    {
        Ok(Submitted::Created(task) | Submitted::Existing(task)) => task,
        Err(err) => return Err(refused(err)),
    };
    let Some(claimed) = claim(worker, &task).await else {
        // Someone else has it; its backstop message sees to it.
        return Ok(task);
    };
    tracing::info!(task_id = %claimed.task.id, "pushed task accepted");
    let accepted = claimed.task.clone();
    let span = tracing::info_span!("task", task_id = %claimed.task.id);
    slots.start(slot, |slots| {
        async move {
            let stop_all = &slots.stop_all;
            slots
                .worker
                .run_attempt(claimed, (None, None), stop_all)
                .await;
            Handled::Ran
        }
        .instrument(span)
    });
    Ok(accepted)
}

/// Claims the just-recorded task for this host; `None` if it is not
/// queued any more.
async fn claim(worker: &crate::worker::Worker, task: &Task) -> Option<Versioned> {
    let config = &worker.config;
    let now = Utc::now();
    let lease_until = now + config.lease;
    let claim = |current: &Task| {
        (current.status == Status::Queued && current.attempt == 0)
            .then(|| lifecycle::claimed(current, &config.worker_id, 1, now, lease_until))
    };
    match worker
        .backend
        .store
        // As recorded (version 1) unless someone wrote it since; the store
        // answers the record then.
        .transition_from(
            Some(Versioned {
                task: task.clone(),
                version: 1,
            }),
            &claim,
        )
        .await
    {
        Ok(Transition::Applied(claimed)) => Some(claimed),
        Ok(_) => None,
        Err(err) => {
            tracing::warn!(task_id = %task.id, error = %err, "cannot claim the pushed task; its backstop message will");
            None
        }
    }
}

fn conflict(slug: &'static str, detail: &str) -> Problem {
    Problem::new(StatusCode::CONFLICT, slug, detail)
}
