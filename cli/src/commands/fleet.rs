//! `wharf workers` and `status`: the fleet, drain and revoke.

use std::process::ExitCode;

use reqwest::Method;

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
