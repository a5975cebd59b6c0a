//! How answers are shown: tables and key-value lists for people, JSON for
//! scripts (`--json`). Data goes to stdout; progress and notes to stderr.

use comfy_table::{presets, ContentArrangement, Table};
use serde_json::Value;
use wharf_core::array::TaskArray;
use wharf_core::model::{Status, Task};

use wharf_core::display::{age, run_time};

use wharf_contract::views::TaskView;

/// A table in the style of `kubectl get`: a header row, columns two
/// spaces apart, no borders.
pub fn table<const N: usize>(header: [&str; N]) -> Table {
    let mut table = Table::new();
    table
        .load_style(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header);
    table
}

/// Prints a table without the padding before its first column.
pub fn print_table(table: &Table) {
    for line in table.lines() {
        println!("{}", line.strip_prefix(' ').unwrap_or(&line).trim_end());
    }
}

pub fn print_json(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("a JSON value always serializes")
    );
}

/// A task's status with why it ended, as one cell: "failed (NonZeroExit)".
pub fn status_cell(task: &Task) -> String {
    match task.telling_reason() {
        Some(reason) => format!("{} ({reason})", task.status),
        None => task.status.to_string(),
    }
}

/// A task as `wharf get` shows it: one field a line.
pub fn print_task(view: &TaskView) {
    let mut table = Table::new();
    table
        .load_style(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled);
    for (key, value) in task_rows(view) {
        table.add_row(vec![key.to_owned(), value]);
    }
    print_table(&table);
}

/// The fields of a task as `wharf get` shows them, in order.
fn task_rows(view: &TaskView) -> Vec<(&'static str, String)> {
    let task = &view.task;
    let now = chrono::Utc::now();
    let mut rows: Vec<(&'static str, String)> = vec![("id", task.id.to_string())];
    if let Some(name) = &task.name {
        rows.push(("name", name.clone()));
    }
    if let (Some(parent), Some(index)) = (&task.parent_id, task.array_index) {
        let of = task.array_size.map(|size| format!(" of {size}"));
        let child = format!("{parent} (child {index}{})", of.unwrap_or_default());
        rows.push(("parent", child));
    }
    rows.push(("queue", task.queue.clone()));
    rows.push(("status", status_cell(task)));
    if let Some(array) = &task.array {
        rows.push(("array", array_summary(array)));
    }
    if let Some(pending) = &view.pending {
        rows.push(("pending", format!("{}: {}", pending.reason, pending.detail)));
    }
    if let Some(message) = &task.message {
        rows.push(("message", message.clone()));
    }
    if !task.depends_on.is_empty() {
        let upstream: Vec<String> = task
            .depends_on
            .iter()
            .map(|d| match d.is_whole() {
                true => format!("{} ({})", d.task, d.on),
                false => format!("{} ({}, nToN)", d.task, d.on),
            })
            .collect();
        rows.push(("depends on", upstream.join(", ")));
    }
    if !task.dependents.is_empty() {
        rows.push(("dependents", task.dependents.join(", ")));
    }
    if let Some(limited) = &task.concurrency {
        let at_most = format!("{} (at most {} at once)", limited.key, limited.limit);
        rows.push(("concurrency", at_most));
    }
    if task.array.is_none() {
        // An array's parent never runs: its children make the attempts.
        rows.push((
            "attempt",
            format!("{} of {}", task.attempt, task.max_attempts),
        ));
    }
    if let Some(worker) = &task.worker_id {
        rows.push(("worker", worker.clone()));
    }
    if let Some(code) = task.exit_code {
        rows.push(("exit code", code.to_string()));
    }
    let created = task.created_at.format("%Y-%m-%d %H:%M:%S UTC");
    rows.push((
        "created",
        format!("{created} ({} ago)", age(task.created_at, now)),
    ));
    if let Some(ran) = run_time(task, now) {
        rows.push(("ran", ran));
    }
    rows.extend(result_rows(task));
    rows
}

/// The order an array's counts are told in: the ended, then the active.
const COUNTED: [Status; 8] = [
    Status::Succeeded,
    Status::Failed,
    Status::TimedOut,
    Status::Cancelled,
    Status::Skipped,
    Status::Running,
    Status::Queued,
    Status::Waiting,
];

/// An array parent's children, as last heard: "6 children (maxParallel
/// 2): 4 succeeded, 1 failed, 1 running".
pub fn array_summary(array: &TaskArray) -> String {
    let mut line = format!("{} children", array.size);
    if let Some(max) = array.max_parallel {
        line.push_str(&format!(" (maxParallel {max})"));
    }
    let counts: Vec<String> = COUNTED
        .iter()
        .filter_map(|status| {
            let count = array.counts.get(status).copied().unwrap_or(0);
            (count > 0).then(|| format!("{count} {status}"))
        })
        .collect();
    match counts.is_empty() {
        true => line.push_str(": none made yet"),
        false => line.push_str(&format!(": {}", counts.join(", "))),
    }
    match (array.cancelled, array.created < array.size) {
        (true, true) => line.push_str(&format!("; cancelled after {} made", array.created)),
        (true, false) => line.push_str("; cancelled"),
        (false, true) if array.created > 0 => {
            line.push_str(&format!("; {} made so far", array.created));
        }
        (false, _) => {}
    }
    line
}

/// A task's labels, result, outputs and whether its log was cut.
fn result_rows(task: &Task) -> Vec<(&'static str, String)> {
    let mut rows = Vec::new();
    if !task.labels.is_empty() {
        let labels: Vec<String> = task
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        rows.push(("labels", labels.join(",")));
    }
    if !task.secrets.is_empty() {
        let secrets: Vec<String> = task
            .secrets
            .iter()
            .map(|s| format!("{}={} ({})", s.name, s.value_from, s.deliver_as))
            .collect();
        rows.push(("secrets", secrets.join(", ")));
    }
    if let Some(result) = &task.result {
        rows.push(("result", result.to_string()));
    }
    match (task.output_count, task.output_bytes) {
        (Some(count), Some(bytes)) => rows.push((
            "outputs",
            format!(
                "{count} ({}); wharf download {}",
                indicatif::HumanBytes(bytes),
                task.id
            ),
        )),
        _ if !task.outputs.is_empty() => {
            rows.push(("outputs", format!("{}", task.outputs.len())));
        }
        _ => {}
    }
    if task.log_truncated {
        rows.push(("log", "truncated by the worker's limit".to_owned()));
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn array(states: &str, size: u32, max_parallel: Option<u32>) -> TaskArray {
        let mut array = TaskArray {
            size,
            max_parallel,
            created: states.len() as u32,
            counts: Default::default(),
            states: states.to_owned(),
            cancelled: false,
            early: Default::default(),
        };
        for (code, status) in [
            ('s', Status::Succeeded),
            ('f', Status::Failed),
            ('r', Status::Running),
            ('q', Status::Queued),
        ] {
            let count = states.chars().filter(|c| *c == code).count() as u32;
            if count > 0 {
                array.counts.insert(status, count);
            }
        }
        array
    }

    #[test]
    fn an_array_is_told_by_its_childrens_counts_the_ended_first() {
        assert_eq!(
            array_summary(&array("rsfsss", 6, Some(2))),
            "6 children (maxParallel 2): 4 succeeded, 1 failed, 1 running"
        );
        assert_eq!(
            array_summary(&array("", 3, None)),
            "3 children: none made yet"
        );
        assert_eq!(
            array_summary(&array("qq", 300, None)),
            "300 children: 2 queued; 2 made so far"
        );
        let mut cancelled = array("sq", 300, None);
        cancelled.cancelled = true;
        assert_eq!(
            array_summary(&cancelled),
            "300 children: 1 succeeded, 1 queued; cancelled after 2 made"
        );
    }
}
