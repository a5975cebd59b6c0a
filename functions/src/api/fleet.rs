//! The fleet: `/v1/workers` (the registry, drain and revoke), `/v1/status`
//! (queues and capacity), and why a queued task is pending.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use wharf_core::fleet::{Command, FleetCounts, FleetStatus, QueueStatus, Registered, WorkerState};
use wharf_core::flow::{readiness, Readiness};
use wharf_core::model::Status;
use wharf_core::model::{Scope, Task};
use wharf_core::pending::{concurrency_limit, waiting_on, why_pending, Pending, PendingReason};
use wharf_core::queue::Lane;

use super::auth::Caller;
use super::extract::{WorkerId, WorkerPath};
use super::problem::Problem;
use super::AppState;
use wharf_contract::views::WorkerView;

/// `GET /v1/workers`: every registered worker host, by id.
#[utoipa::path(get, path = "/v1/workers", operation_id = "listWorkers", tag = "workers",
    responses((status = 200, description = "Every registered worker host", body = Vec<WorkerView>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<WorkerView>>, Problem> {
    caller.require(Scope::Read)?;
    let workers = state.backend.fleet.list().await?;
    Ok(Json(workers.into_iter().map(WorkerView::from).collect()))
}

/// `GET /v1/workers/{id}`.
#[utoipa::path(get, path = "/v1/workers/{id}", operation_id = "getWorker", tag = "workers", params(WorkerPath),
    responses((status = 200, description = "The worker host", body = WorkerView)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    WorkerId(id): WorkerId,
) -> Result<Json<WorkerView>, Problem> {
    caller.require(Scope::Read)?;
    let worker = state.backend.fleet.get(&id).await?;
    let worker = worker.ok_or_else(|| Problem::not_found(format!("no worker {id}")))?;
    Ok(Json(worker.into()))
}

/// `POST /v1/workers/{id}/drain`: the worker takes no more tasks and lets
/// the running ones finish; it obeys at its next heartbeat.
#[utoipa::path(post, path = "/v1/workers/{id}/drain", operation_id = "drainWorker", tag = "workers", params(WorkerPath),
    responses((status = 202, description = "Left for the worker, which obeys at its next heartbeat (`admin` scope)", body = WorkerView)))]
pub async fn drain(
    state: State<AppState>,
    caller: Caller,
    id: WorkerId,
) -> Result<(StatusCode, Json<WorkerView>), Problem> {
    command(state, caller, id, Command::Drain).await
}

/// `POST /v1/workers/{id}/revoke`: the worker takes no more tasks,
/// releases the running ones to other workers and exits.
#[utoipa::path(post, path = "/v1/workers/{id}/revoke", operation_id = "revokeWorker", tag = "workers", params(WorkerPath),
    responses((status = 202, description = "Left for the worker, which obeys at its next heartbeat (`admin` scope)", body = WorkerView)))]
pub async fn revoke(
    state: State<AppState>,
    caller: Caller,
    id: WorkerId,
) -> Result<(StatusCode, Json<WorkerView>), Problem> {
    command(state, caller, id, Command::Revoke).await
}

async fn command(
    State(state): State<AppState>,
    caller: Caller,
    WorkerId(id): WorkerId,
    command: Command,
) -> Result<(StatusCode, Json<WorkerView>), Problem> {
    caller.require(Scope::Admin)?;
    let fleet = &state.backend.fleet;
    if !fleet.command(&id, command).await? {
        return Err(Problem::not_found(format!("no worker {id}")));
    }
    tracing::info!(worker_id = %id, %command, "worker command left");
    let worker = fleet.get(&id).await?;
    let worker = worker.ok_or_else(|| Problem::not_found(format!("no worker {id}")))?;
    Ok((StatusCode::ACCEPTED, Json(worker.into())))
}

/// Why a queued task waits, with its queue's backlog when every slot is
/// busy.
pub async fn pending(state: &AppState, task: &Task) -> Result<Option<Pending>, Problem> {
    match task.status {
        Status::Queued => {
            if let Some(limited) = &task.concurrency {
                let places = state.backend.concurrency.places(&limited.key).await?;
                let held = places.map_or(0, |(places, _)| places.live(Utc::now()));
                if held >= limited.limit as usize {
                    return Ok(Some(concurrency_limit(&limited.key, held)));
                }
            }
        }
        Status::Waiting => {
            let flow = state.backend.flow();
            let statuses = flow.upstream_statuses(task).await?;
            return Ok(match readiness(task, &statuses) {
                Readiness::Waiting(unfinished) => Some(waiting_on(&unfinished)),
                // Settled at the control plane's next look.
                Readiness::Ready | Readiness::Blocked { .. } => None,
            });
        }
        _ => return Ok(None),
    }
    let workers = state.backend.fleet.list().await?;
    let mut pending = why_pending(task, &workers, Utc::now());
    if let Some(busy) = pending
        .as_mut()
        .filter(|p| p.reason == PendingReason::AllSlotsBusy)
    {
        let counts = state
            .backend
            .queues
            .counts(&task.queue, Lane::Tasks)
            .await?;
        busy.backlog = Some(counts.visible + counts.delayed);
    }
    Ok(pending)
}

/// `GET /v1/status`: every configured queue's counts and the fleet's
/// capacity.
#[utoipa::path(get, path = "/v1/status", operation_id = "getStatus", tag = "status",
    responses((status = 200, description = "Each configured queue's counts and the fleet's capacity", body = FleetStatus)))]
pub async fn status(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<FleetStatus>, Problem> {
    caller.require(Scope::Read)?;
    Ok(Json(queues_and_fleet(&state).await?))
}

/// Every configured queue's counts and the fleet's capacity, now.
pub(crate) async fn queues_and_fleet(state: &AppState) -> Result<FleetStatus, Problem> {
    let now = Utc::now();
    let workers = state.backend.fleet.list().await?;
    let mut counts = FleetCounts::default();
    for worker in &workers {
        let state = worker.state(now);
        match state {
            WorkerState::Online => counts.online += 1,
            WorkerState::Draining => counts.draining += 1,
            WorkerState::Revoked => counts.revoked += 1,
            WorkerState::Offline => counts.offline += 1,
        }
        if state != WorkerState::Offline {
            counts.busy_slots += worker.report.busy_slots;
            counts.total_slots += worker.report.slots;
        }
    }
    let mut queues = Vec::new();
    for name in &state.backend.names.queues {
        let tasks = state.backend.queues.counts(name, Lane::Tasks).await?;
        let dead = state.backend.queues.counts(name, Lane::DeadLetters).await?;
        let serving: Vec<&Registered> = workers.iter().filter(|w| w.serves(name, now)).collect();
        let slots: u32 = serving.iter().map(|w| w.report.slots).sum();
        let busy: u32 = serving
            .iter()
            .map(|w| w.report.busy_slots.min(w.report.slots))
            .sum();
        let free_slots = slots - busy;
        queues.push(QueueStatus {
            name: name.clone(),
            visible: tasks.visible,
            in_flight: tasks.in_flight,
            delayed: tasks.delayed,
            dead_lettered: dead.visible + dead.in_flight,
            workers: serving.len() as u32,
            free_slots,
            backlog_per_free_slot: tasks.visible as f64 / f64::from(free_slots.max(1)),
        });
    }
    Ok(FleetStatus {
        queues,
        workers: counts,
    })
}
