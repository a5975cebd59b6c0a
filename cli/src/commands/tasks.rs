//! `wharf get`, `list`, `cancel`, `retry`, `delete`.

use std::process::ExitCode;

use chrono::Utc;
use reqwest::Method;
use serde_json::Value;
use wharf_core::display::{age, run_time};
use wharf_core::model::{Status, Task};

use super::{segment, Session};
use crate::client::read_as;
use crate::exit::Failure;
use crate::output::{print_json, print_table, print_task, status_cell, table};
use wharf_contract::views::{TaskList, TaskView};

pub async fn get(session: &Session, id: &str) -> anyhow::Result<ExitCode> {
    let id = segment(id, "task id")?;
    session
        .show(&format!("/v1/tasks/{id}"), |task: TaskView| {
            print_task(&task)
        })
        .await
}

/// A task as the API answers it.
pub async fn fetch(session: &Session, id: &str) -> Result<Value, Failure> {
    let id = segment(id, "task id")?;
    session.client.get(&format!("/v1/tasks/{id}")).await
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Only tasks in this status.
    #[arg(long, value_enum)]
    status: Option<Status>,
    /// Only tasks of this queue.
    #[arg(long)]
    queue: Option<String>,
    /// Only the task of this name.
    #[arg(long)]
    name: Option<String>,
    /// `KEY=VALUE`; repeat it: every label must match.
    #[arg(long = "label", value_name = "KEY=VALUE")]
    labels: Vec<String>,
    /// Only the children of this array.
    #[arg(long, value_name = "ID")]
    parent: Option<String>,
    /// At most this many tasks.
    #[arg(long, default_value_t = 50, conflicts_with = "all",
        value_parser = clap::value_parser!(u32).range(1..))]
    limit: u32,
    /// Every matching task, however many.
    #[arg(long)]
    all: bool,
}

/// The API's page size; the CLI asks for pages until it has `--limit`.
const PAGE: usize = 100;

pub async fn list(session: &Session, args: ListArgs) -> anyhow::Result<ExitCode> {
    let wanted = if args.all {
        usize::MAX
    } else {
        args.limit as usize
    };
    let listed = fetch_list(session, &args, wanted).await?;
    if session.json {
        print_json(&Value::Array(listed.answered));
        return Ok(ExitCode::SUCCESS);
    }
    let now = Utc::now();
    let mut rows = table(["ID", "NAME", "QUEUE", "STATUS", "ATTEMPT", "AGE", "RAN"]);
    for task in &listed.tasks {
        rows.add_row(vec![
            task.id.to_string(),
            task.name.clone().unwrap_or_default(),
            task.queue.clone(),
            status_cell(task),
            task.attempt.to_string(),
            age(task.created_at, now),
            run_time(task, now).unwrap_or_default(),
        ]);
    }
    print_table(&rows);
    if listed.more {
        eprintln!("(more tasks may match: raise --limit, or --all)");
    }
    Ok(ExitCode::SUCCESS)
}

/// The tasks `wharf list` shows: each as the API answered it (what
/// `--json` prints) and as read into a [`TaskList`]'s tasks.
struct Listed {
    answered: Vec<Value>,
    tasks: Vec<Task>,
    /// More tasks may match than `wanted`.
    more: bool,
}

/// Up to `wanted` matching tasks, a page of `GET /v1/tasks` at a time.
async fn fetch_list(session: &Session, args: &ListArgs, wanted: usize) -> Result<Listed, Failure> {
    let mut listed = Listed {
        answered: Vec::new(),
        tasks: Vec::new(),
        more: false,
    };
    let mut cursor: Option<String> = None;
    loop {
        let query = list_query(args, wanted - listed.tasks.len(), cursor.as_deref());
        let answer = session.client.get(&format!("/v1/tasks?{query}")).await?;
        let page: TaskList = read_as(&answer)?;
        if let Some(Value::Array(answered)) = answer.get("tasks") {
            listed.answered.extend(answered.iter().cloned());
        }
        listed.tasks.extend(page.tasks);
        cursor = page.next_cursor;
        if cursor.is_none() || listed.tasks.len() >= wanted {
            break;
        }
    }
    listed.more = cursor.is_some();
    listed.answered.truncate(wanted);
    listed.tasks.truncate(wanted);
    Ok(listed)
}

/// The query of one page of `GET /v1/tasks`: `args`' filters, at most
/// `left` tasks, from `cursor` on.
fn list_query(args: &ListArgs, left: usize, cursor: Option<&str>) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("limit", &PAGE.min(left).max(1).to_string());
    if let Some(status) = args.status {
        query.append_pair("status", &status.to_string());
    }
    let filters = [
        ("queue", &args.queue),
        ("name", &args.name),
        ("parent", &args.parent),
    ];
    for (key, value) in filters {
        if let Some(value) = value {
            query.append_pair(key, value);
        }
    }
    for label in &args.labels {
        query.append_pair("label", label);
    }
    if let Some(cursor) = cursor {
        query.append_pair("cursor", cursor);
    }
    query.finish()
}

pub async fn cancel(session: &Session, id: &str) -> anyhow::Result<ExitCode> {
    act(session, id, "cancel").await
}

pub async fn retry(session: &Session, id: &str) -> anyhow::Result<ExitCode> {
    act(session, id, "retry").await
}

/// `POST /v1/tasks/{id}/{action}`, then the task's status line, or the
/// task with `--json`.
async fn act(session: &Session, id: &str, action: &str) -> anyhow::Result<ExitCode> {
    let id = segment(id, "task id")?;
    let path = format!("/v1/tasks/{id}/{action}");
    let request = session.client.request(Method::POST, &path);
    let task = session.client.json(request).await?;
    match session.json {
        true => print_json(&task),
        false => {
            let task: Task = read_as(&task)?;
            println!("{id} {}", status_cell(&task));
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn delete(session: &Session, id: &str, force: bool) -> anyhow::Result<ExitCode> {
    let id = segment(id, "task id")?;
    let path = format!("/v1/tasks/{id}{}", if force { "?force=true" } else { "" });
    let request = session.client.request(Method::DELETE, &path);
    session.client.send(request).await?;
    match session.json {
        true => print_json(&serde_json::json!({ "id": id, "deleted": true })),
        false => println!("{id} deleted"),
    }
    Ok(ExitCode::SUCCESS)
}
