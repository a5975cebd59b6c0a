//! `wharf workers`, `status` and `functions`: the fleet and what it runs.

use std::process::ExitCode;

use reqwest::Method;
use wharf_core::registry::Function;

use super::{segment, Session};
use crate::output::{print_json, print_table, table};
use chrono::Utc;
use wharf_core::display::age;
use wharf_core::fleet::FleetStatus;

use wharf_contract::views::WorkerView;

#[derive(Debug, clap::Subcommand)]
pub enum WorkerAction {
    /// The worker takes no more tasks and lets its running ones finish.
    Drain { id: String },
    /// The worker takes no more tasks, gives its running ones to other
    /// workers and exits.
    Revoke { id: String },
}

pub async fn workers(session: &Session, action: Option<WorkerAction>) -> anyhow::Result<ExitCode> {
    let (id, verb) = match &action {
        None => return list_workers(session).await,
        Some(WorkerAction::Drain { id }) => (id, "drain"),
        Some(WorkerAction::Revoke { id }) => (id, "revoke"),
    };
    let id = segment(id, "worker id")?;
    let request = session
        .client
        .request(Method::POST, &format!("/v1/workers/{id}/{verb}"));
    let worker = session.client.json(request).await?;
    match session.json {
        true => print_json(&worker),
        false => println!("{id}: asked to {verb}; it obeys at its next heartbeat"),
    }
    Ok(ExitCode::SUCCESS)
}

async fn list_workers(session: &Session) -> anyhow::Result<ExitCode> {
    session.show("/v1/workers", print_workers).await
}

fn print_workers(workers: Vec<WorkerView>) {
    let now = Utc::now();
    let mut rows = table([
        "ID",
        "HOST",
        "STATE",
        "QUEUES",
        "EXECUTORS",
        "BUSY",
        "LOAD",
        "MEM FREE",
        "HEARTBEAT",
    ]);
    for worker in &workers {
        let report = &worker.report;
        let executors: Vec<String> = report.executors.iter().map(ToString::to_string).collect();
        rows.add_row(vec![
            report.id.clone(),
            report.hostname.clone(),
            worker.state.to_string(),
            report.queues.join(","),
            executors.join(","),
            format!("{}/{}", report.busy_slots, report.slots),
            format!("{:.2}", report.resources.load_average),
            indicatif::HumanBytes(report.resources.memory_available_bytes).to_string(),
            format!("{} ago", age(report.heartbeat_at, now)),
        ]);
    }
    print_table(&rows);
    if workers.is_empty() {
        eprintln!("(no worker hosts have registered)");
    }
}

pub async fn status(session: &Session) -> anyhow::Result<ExitCode> {
    session.show("/v1/status", print_status).await
}

fn print_status(status: FleetStatus) {
    let mut rows = table([
        "QUEUE",
        "VISIBLE",
        "IN FLIGHT",
        "DELAYED",
        "DEAD",
        "WORKERS",
        "FREE SLOTS",
        "BACKLOG/SLOT",
    ]);
    for queue in &status.queues {
        rows.add_row(vec![
            queue.name.clone(),
            queue.visible.to_string(),
            queue.in_flight.to_string(),
            queue.delayed.to_string(),
            queue.dead_lettered.to_string(),
            queue.workers.to_string(),
            queue.free_slots.to_string(),
            format!("{:.1}", queue.backlog_per_free_slot),
        ]);
    }
    print_table(&rows);
    let fleet = &status.workers;
    println!(
        "\nworkers: {} online, {} draining, {} revoked, {} offline; slots: {} of {} busy",
        fleet.online,
        fleet.draining,
        fleet.revoked,
        fleet.offline,
        fleet.busy_slots,
        fleet.total_slots
    );
}

#[derive(Debug, clap::Subcommand)]
pub enum FunctionAction {
    /// Show one function: its spec, parameter schema and defaults.
    Show { name: String },
    /// Register a function from a JSON file (`description`, `spec`,
    /// `paramsSchema`, `defaults`), replacing one of the same name.
    Put {
        name: String,
        /// The definition (`-` reads stdin).
        file: String,
    },
    /// Remove a function (tasks made from it are kept).
    Delete { name: String },
}

pub async fn functions(
    session: &Session,
    action: Option<FunctionAction>,
) -> anyhow::Result<ExitCode> {
    let client = &session.client;
    let answer = match &action {
        None => return list_functions(session).await,
        Some(FunctionAction::Show { name }) => {
            let name = segment(name, "function name")?;
            client.get(&format!("/v1/functions/{name}")).await?
        }
        Some(FunctionAction::Put { name, file }) => {
            let name = segment(name, "function name")?;
            let definition = super::submit::read_json_arg("the definition", &format!("@{file}"))?;
            let request = client.request(Method::PUT, &format!("/v1/functions/{name}"));
            client.json(request.json(&definition)).await?
        }
        Some(FunctionAction::Delete { name }) => {
            let name = segment(name, "function name")?;
            let request = client.request(Method::DELETE, &format!("/v1/functions/{name}"));
            client.send(request).await?;
            serde_json::json!({ "name": name, "deleted": true })
        }
    };
    match (session.json, &action) {
        (false, Some(FunctionAction::Put { name, .. })) => println!("{name} registered"),
        (false, Some(FunctionAction::Delete { name })) => println!("{name} deleted"),
        _ => print_json(&answer),
    }
    Ok(ExitCode::SUCCESS)
}

/// `GET /v1/functions`.
#[derive(serde::Deserialize)]
struct FunctionList {
    functions: Vec<Function>,
}

async fn list_functions(session: &Session) -> anyhow::Result<ExitCode> {
    session.show("/v1/functions", print_functions).await
}

fn print_functions(FunctionList { functions }: FunctionList) {
    let mut rows = table(["NAME", "KIND", "QUEUE", "DESCRIPTION"]);
    for function in &functions {
        rows.add_row(vec![
            function.name.clone(),
            function.spec.kind().to_string(),
            function
                .defaults
                .queue
                .clone()
                .unwrap_or_else(|| "default".into()),
            function.description.clone().unwrap_or_default(),
        ]);
    }
    print_table(&rows);
}
