//! The console's data, as HTML fragments the page's script fetches with
//! its bearer token and puts in place: the same reads as the JSON routes,
//! under the same scopes, with the buttons the caller's scopes allow.

use std::time::Duration;

use axum::extract::{RawQuery, State};
use chrono::{DateTime, Utc};
use maud::{html, Markup};
use wharf_contract::views::OutputLink;
use wharf_core::array::TaskArray;
use wharf_core::fleet::WorkerState;
use wharf_core::lifecycle;
use wharf_core::model::{Scope, Status, Task};
use wharf_core::pending::{why_pending, Pending};

use super::super::auth::Caller;
use super::super::extract::TaskId;
use super::super::problem::Problem;
use super::super::{fleet, listing, outputs, tasks, AppState};
use wharf_core::display::{age, run_time};

use super::render::{bytes, html_response, moment, pretty, status, HtmlResponse};

/// Outputs a task page lists (with links valid for an hour); the rest are
/// a `wharf download` away.
const OUTPUTS_SHOWN: usize = 1000;
const LINK_LIFETIME: Duration = Duration::from_secs(3600);

/// `GET /console/fragments/tasks`: a page of the task list, with the query
/// string of `GET /v1/tasks`; a "more" button carries the next cursor.
/// Listing an array's children (`parent=`), it says whose they are.
pub async fn tasks(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<HtmlResponse, Problem> {
    caller.require(Scope::Read)?;
    let raw = raw.as_deref().unwrap_or_default();
    let page = listing::page(&state, raw).await?;
    // The listing has checked it is a task id (and given only once).
    let parent_id = form_urlencoded::parse(raw.as_bytes())
        .find(|(key, _)| key == "parent")
        .map(|(_, id)| id.into_owned());
    let parent = match &parent_id {
        Some(id) => state.backend.store.get(id).await?.map(|v| v.task),
        None => None,
    };
    let any_queued = page.tasks.iter().any(|t| t.status == Status::Queued);
    let workers = match any_queued {
        true => state.backend.fleet.list().await?,
        false => Vec::new(),
    };
    let now = Utc::now();
    Ok(html_response(html! {
        @if let Some(id) = &parent_id {
            (children_of(id, parent.as_ref()))
        }
        div .scroll {
            table #task-table {
                caption .visually-hidden { "Tasks, newest first" }
                thead { tr {
                    th scope="col" { "Task" } th scope="col" { "Status" } th scope="col" { "Attempt" }
                    th scope="col" { "Queue" } th scope="col" { "Age" } th scope="col" { "Ran" }
                } }
                tbody #task-rows {
                    @for task in &page.tasks {
                        tr data-id=(task.id) {
                            td { a href={ "/console/tasks/" (task.id) } { (task.name.as_deref().unwrap_or(&task.id)) } }
                            td {
                                (status(task))
                                @if let Some(pending) = why_pending(task, &workers, now) {
                                    div .muted .pending { (pending.reason) ": " (pending.detail) }
                                }
                            }
                            td { (task.attempt) "/" (task.max_attempts) }
                            td { (task.queue) }
                            td { (age(task.created_at, now)) }
                            td { (run_time(task, now).unwrap_or_default()) }
                        }
                    }
                }
            }
        }
        @if page.tasks.is_empty() {
            p .muted { "No tasks match." }
        }
        @if let Some(cursor) = &page.next_cursor {
            p { button #more type="button" data-cursor=(cursor) { "More" } }
        }
    }))
}

/// Above a list of an array's children: whose they are.
fn children_of(id: &str, parent: Option<&Task>) -> Markup {
    html! {
        p #children-of {
            "Children of " (task_link(id))
            @if let Some(parent) = parent {
                @if let Some(name) = &parent.name { " (" (name) ")" }
                @if let Some(array) = &parent.array { ", an array of " (array.size) }
                " · " (status(parent))
            } @else {
                " (no such task)"
            }
        }
    }
}

/// `GET /console/fragments/tasks/{id}`: a task's summary, attempts,
/// outputs (with download links), spec and payload.
pub async fn task(
    State(state): State<AppState>,
    caller: Caller,
    TaskId(id): TaskId,
) -> Result<HtmlResponse, Problem> {
    caller.require(Scope::Read)?;
    let task = tasks::load(&state, &id).await?;
    let pending = fleet::pending(&state, &task).await?;
    let (outputs, more) =
        outputs::output_links(&state, &task, 0, OUTPUTS_SHOWN, LINK_LIFETIME).await?;
    Ok(html_response(html! {
        article #task data-status=(task.status) data-attempt=(task.attempt) {
            h1 { (task.name.as_deref().unwrap_or("Task")) " " small .mono { (task.id) } }
            (facts(&task, pending.as_ref(), Utc::now()))
            @if caller.may(Scope::Submit) {
                (actions(task.status))
            }
            @if let Some(result) = &task.result {
                section { h2 { "Result" } pre .json { (pretty(result)) } }
            }
            section {
                h2 { "Attempts" }
                (attempts(&task))
            }
            (output_section(&task, &outputs, more.is_some()))
            (spec_section(&task))
        }
    }))
}

/// A task's status, where it runs and when, as a list of facts.
fn facts(task: &Task, pending: Option<&Pending>, now: DateTime<Utc>) -> Markup {
    html! {
        dl .facts {
            dt { "Status" } dd { (status(task)) }
            @if let Some(pending) = pending {
                dt { "Pending" } dd { (pending.reason) ": " (pending.detail) }
            }
            @if let Some(message) = &task.message { dt { "Message" } dd { (message) } }
            dt { "Attempt" } dd { (task.attempt) " of " (task.max_attempts) }
            dt { "Queue" } dd { (task.queue) }
            @if let Some(worker) = &task.worker_id { dt { "Worker" } dd .mono { (worker) } }
            @if let Some(code) = task.exit_code { dt { "Exit code" } dd { (code) } }
            dt { "Created" } dd { (moment(task.created_at)) }
            @if let Some(at) = task.started_at { dt { "Started" } dd { (moment(at)) } }
            @if let Some(at) = task.finished_at { dt { "Finished" } dd { (moment(at)) } }
            @if let Some(ran) = run_time(task, now) { dt { "Ran" } dd { (ran) } }
            @if !task.labels.is_empty() {
                dt { "Labels" }
                dd { @for (key, value) in &task.labels { span .label { (key) "=" (value) } " " } }
            }
            @if !task.depends_on.is_empty() {
                dt { "Depends on" }
                dd .upstream {
                    @for (i, dependency) in task.depends_on.iter().enumerate() {
                        @if i > 0 { ", " }
                        (task_link(&dependency.task)) " (" (dependency.on) ")"
                    }
                }
            }
            @if !task.dependents.is_empty() {
                dt { "Dependents" }
                dd .dependents {
                    @for (i, dependent) in task.dependents.iter().enumerate() {
                        @if i > 0 { ", " }
                        (task_link(dependent))
                    }
                }
            }
            @if let Some(array) = &task.array {
                (array_facts(&task.id, array))
            }
            @if let Some(parent) = &task.parent_id {
                dt { "Parent" }
                dd .parent {
                    (task_link(parent))
                    @if let (Some(index), Some(size)) = (task.array_index, task.array_size) {
                        ", " span title="WHARF_ARRAY_INDEX (from 0) of WHARF_ARRAY_SIZE" { "child " (index) " of " (size) }
                    }
                }
            }
            @if let Some(limited) = &task.concurrency {
                dt { "Concurrency" }
                dd .concurrency { span .label .mono { (limited.key) } " at most " (limited.limit) " at once" }
            }
            @if !task.secrets.is_empty() {
                // References only: the values never leave the worker host.
                dt { "Secrets" }
                dd .secrets {
                    @for secret in &task.secrets {
                        span .label .mono { (secret.name) " ← " (secret.value_from) " (" (secret.deliver_as) ")" } " "
                    }
                }
            }
        }
    }
}

/// An array parent's rows: its size, how many children run at once, how
/// many exist, and how many are in each status, each count linking to
/// those children in the task list.
fn array_facts(id: &str, array: &TaskArray) -> Markup {
    let children = format!("/console?parent={id}");
    html! {
        dt { "Array" }
        dd .array {
            (array.size) " children"
            @if let Some(max) = array.max_parallel { " · at most " (max) " at once" }
            " · " (array.created) " of " (array.size) " created"
            @if array.cancelled { " · cancelled" }
            " · " a href=(children) { "children" }
        }
        dt { "Children" }
        dd .counts {
            @if array.counts.is_empty() {
                span .muted { "none yet" }
            }
            @for (i, (child_status, count)) in array.counts.iter().enumerate() {
                @if i > 0 { ", " }
                a href={ (children) "&status=" (child_status) } {
                    span class={ "badge s-" (child_status) } { (child_status) } " " (count)
                }
            }
        }
    }
}

/// Another task's id, linking to its page.
fn task_link(id: &str) -> Markup {
    html! { a .mono href={ "/console/tasks/" (id) } { (id) } }
}

/// Cancel (while the task is active), retry (once it has ended without
/// succeeding) and delete, for `submit` tokens.
fn actions(status: Status) -> Markup {
    let active = !status.is_terminal();
    html! {
        div .actions {
            @if active {
                button type="button" data-action="cancel" { "Cancel" }
            }
            @if lifecycle::retryable(status) {
                button type="button" data-action="retry" { "Retry" }
            }
            button type="button" .danger data-action="delete" data-force=(active) {
                @if active { "Cancel and delete" } @else { "Delete" }
            }
        }
    }
}

/// The first [`OUTPUTS_SHOWN`] outputs with their download links; `more`
/// when the task has others.
fn output_section(task: &Task, outputs: &[OutputLink], more: bool) -> Markup {
    let active = !task.status.is_terminal();
    html! {
        section {
            h2 { "Outputs" }
            @if outputs.is_empty() {
                p .muted { @if active { "None yet." } @else { "None." } }
            } @else {
                div .scroll { table #outputs {
                    thead { tr { th scope="col" { "Path" } th scope="col" { "Size" } th scope="col" { "SHA-256" } } }
                    tbody { @for output in outputs {
                        tr {
                            td { a href=(output.url) download=(output.path) { (output.path) } }
                            td { (bytes(output.size)) }
                            td .mono .digest { (output.sha256) }
                        }
                    } }
                } }
                @if more {
                    p .muted { "The first " (OUTPUTS_SHOWN) " are listed; " code { "wharf download " (task.id) } " fetches them all." }
                }
            }
        }
    }
}

/// The task's spec and its payload (or where the payload is).
fn spec_section(task: &Task) -> Markup {
    html! {
        details #spec {
            summary { h2 { "Spec and payload" } }
            pre .json { (pretty(&serde_json::to_value(&task.spec).unwrap_or_default())) }
            @match (&task.payload, task.payload_in_s3) {
                (_, true) => p .muted { "The payload is kept in S3 (too large for the record)." },
                (Some(payload), false) => pre .json { (pretty(payload)) },
                (None, false) => p .muted { "No payload." },
            }
        }
    }
}

/// The ended attempts and the one under way, oldest first.
fn attempts(task: &Task) -> Markup {
    html! {
        @if task.attempts.is_empty() && task.started_at.is_none() {
            p .muted { "Not started yet." }
        }
        ol .timeline {
            @for attempt in &task.attempts {
                li {
                    strong { "Attempt " (attempt.attempt) } " "
                    @if let Some(reason) = attempt.reason { span .reason { (reason) } } @else { span .reason { "released" } }
                    @if let Some(code) = attempt.exit_code { " · exit " (code) }
                    br;
                    span .muted {
                        @if let Some(worker) = &attempt.worker_id { "on " span .mono { (worker) } " · " }
                        @if let Some(start) = attempt.started_at { (moment(start)) " → " }
                        (moment(attempt.ended_at))
                    }
                }
            }
            @if !task.status.is_terminal() && task.started_at.is_some() && task.attempt as usize > task.attempts.len() {
                li .current {
                    strong { "Attempt " (task.attempt) } " " span .reason { (task.status) }
                    br;
                    span .muted {
                        @if let Some(worker) = &task.worker_id { "on " span .mono { (worker) } " · " }
                        @if let Some(start) = task.started_at { (moment(start)) " → now" }
                    }
                }
            }
        }
    }
}

/// `GET /console/fragments/workers`: each host with its slots and
/// resources; drain and revoke for `admin` tokens.
pub async fn workers(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<HtmlResponse, Problem> {
    caller.require(Scope::Read)?;
    let now = Utc::now();
    let workers = state.backend.fleet.list().await?;
    let admin = caller.may(Scope::Admin);
    Ok(html_response(html! {
        @if workers.is_empty() {
            p .muted { "No worker host has registered. Start one with " code { "wharf-worker" } "." }
        }
        div .cards {
            @for worker in &workers {
                @let report = &worker.report;
                @let worker_state = worker.state(now);
                @let resources = &report.resources;
                article .card data-worker=(report.id) {
                    h2 .mono { (report.id) }
                    p { span class={ "badge w-" (worker_state) } { (worker_state) } " " (report.hostname) " · v" (report.version) }
                    dl .facts {
                        dt { "Slots" } dd { (report.busy_slots) " busy of " (report.slots) }
                        dt { "Queues" } dd { (report.queues.join(", ")) }
                        dt { "Executors" } dd { @for (i, kind) in report.executors.iter().enumerate() { @if i > 0 { ", " } (kind) } }
                        @if !report.labels.is_empty() {
                            dt { "Labels" } dd { @for (key, value) in &report.labels { span .label { (key) "=" (value) } " " } }
                        }
                        dt { "Heartbeat" } dd { (age(report.heartbeat_at, now)) " ago" }
                    }
                    (gauge("CPU load", resources.load_average, f64::from(resources.cpu_cores.max(1)),
                        format!("{:.2} on {} cores", resources.load_average, resources.cpu_cores)))
                    (gauge("Memory used", (resources.memory_total_bytes - resources.memory_available_bytes.min(resources.memory_total_bytes)) as f64,
                        resources.memory_total_bytes as f64,
                        format!("{} free of {}", bytes(resources.memory_available_bytes), bytes(resources.memory_total_bytes))))
                    (gauge("Disk used", (resources.disk_total_bytes - resources.disk_available_bytes.min(resources.disk_total_bytes)) as f64,
                        resources.disk_total_bytes as f64,
                        format!("{} free of {}", bytes(resources.disk_available_bytes), bytes(resources.disk_total_bytes))))
                    @if admin && matches!(worker_state, WorkerState::Online | WorkerState::Draining) {
                        div .actions {
                            @if worker_state == WorkerState::Online {
                                button type="button" data-action="drain" data-worker=(report.id) { "Drain" }
                            }
                            button type="button" .danger data-action="revoke" data-worker=(report.id) { "Revoke" }
                        }
                    }
                }
            }
        }
    }))
}

/// A labelled bar for a resource (`<meter>`: no inline style needed).
fn gauge(label: &str, value: f64, max: f64, text: String) -> Markup {
    html! {
        div .gauge {
            span { (label) }
            meter min="0" max=(max) high=(max * 0.85) value=(value) title=(text) { (text) }
            span .muted { (text) }
        }
    }
}

/// `GET /console/fragments/queues`: each queue's counts (the page samples
/// `data-` attributes for its chart) and the fleet's capacity.
pub async fn queues(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<HtmlResponse, Problem> {
    caller.require(Scope::Read)?;
    let status = fleet::queues_and_fleet(&state).await?;
    let fleet = &status.workers;
    Ok(html_response(html! {
        div .scroll { table #queues {
            thead { tr {
                th scope="col" { "Queue" } th scope="col" { "Visible" } th scope="col" { "In flight" }
                th scope="col" { "Delayed" } th scope="col" { "Dead-lettered" } th scope="col" { "Workers" }
                th scope="col" { "Free slots" } th scope="col" { "Backlog per slot" }
            } }
            tbody { @for queue in &status.queues {
                tr data-queue=(queue.name) data-visible=(queue.visible) data-in-flight=(queue.in_flight) {
                    th scope="row" { (queue.name) }
                    td { (queue.visible) } td { (queue.in_flight) } td { (queue.delayed) }
                    td { (queue.dead_lettered) } td { (queue.workers) } td { (queue.free_slots) }
                    td { (format!("{:.1}", queue.backlog_per_free_slot)) }
                }
            } }
        } }
        p {
            "Workers: " (fleet.online) " online, " (fleet.draining) " draining, " (fleet.revoked) " revoked, "
            (fleet.offline) " offline; " (fleet.busy_slots) " of " (fleet.total_slots) " slots busy."
        }
    }))
}
