//! Arrays (SPEC §8.2): one submission makes a parent task and `size`
//! children; child i runs the parent's task with `WHARF_ARRAY_INDEX=i`.
//!
//! The parent itself never runs. It is stored `queued` and `unsent` (or
//! `waiting`, with dependencies of its own), and where another task's
//! message would be sent, the control plane expands it instead
//! ([`crate::flow::Flow::send`]): it creates the children a page at a time
//! under ids that the parent and the index alone decide (`<parent>-0007`),
//! each by a conditional write, and advances the parent's cursor
//! (`created`) after each page. An expansion cut short resumes at the
//! cursor, and a child it finds there already is not made twice.
//!
//! The parent keeps one character per child (`states`): the child's status
//! as last heard, from its end's announcement or from the control plane's
//! tick. Its counts and its own status follow from them: `running` while a
//! child is active, then `succeeded` if every child did, else `failed`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::concurrency::{Concurrency, ARRAY_KEY_PREFIX};
use crate::model::{Dependency, Status, Task, TaskId};
use crate::validate::FieldError;

pub const MIN_SIZE: u32 = 2;
pub const MAX_SIZE: u32 = 10_000;
/// The control plane creates this many children per write of the parent.
pub const PAGE: u32 = 100;

/// `array` on a submission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ArrayRequest {
    /// How many children: 2 to 10,000.
    pub size: u32,
    /// At most this many children run at once.
    #[serde(default)]
    pub max_parallel: Option<u32>,
}

/// The array of a parent task, as its record holds it.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskArray {
    pub size: u32,
    pub max_parallel: Option<u32>,
    /// How many children exist so far.
    pub created: u32,
    /// How many children are in each status, as last heard.
    #[schema(value_type = BTreeMap<String, u32>)]
    pub counts: BTreeMap<Status, u32>,
    /// One character per child that exists, its status as last heard
    /// (`w`aiting, `q`ueued, `r`unning, `s`ucceeded, `f`ailed, `t`imed
    /// out, `c`ancelled, s`k`ipped).
    pub states: String,
    /// The array was cancelled: no more children are made.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cancelled: bool,
    /// Children that ended before their page was recorded, by index:
    /// their ends are taken into `states` with the page.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(value_type = BTreeMap<String, Status>)]
    pub early: BTreeMap<u32, Status>,
}

const CODES: [(Status, u8); 8] = [
    (Status::Waiting, b'w'),
    (Status::Queued, b'q'),
    (Status::Running, b'r'),
    (Status::Succeeded, b's'),
    (Status::Failed, b'f'),
    (Status::TimedOut, b't'),
    (Status::Cancelled, b'c'),
    (Status::Skipped, b'k'),
];

fn code(status: Status) -> u8 {
    CODES
        .iter()
        .find(|(s, _)| *s == status)
        .map_or(b'q', |(_, c)| *c)
}

fn status_of(code: u8) -> Status {
    CODES
        .iter()
        .find(|(_, c)| *c == code)
        .map_or(Status::Queued, |(s, _)| *s)
}

/// The id of an array's child: its parent's and its index.
pub fn child_id(parent: &str, index: u32) -> TaskId {
    format!("{parent}-{index:04}")
}

/// The index of `parent`'s child `id`, if it is one.
pub fn index_of(parent: &str, id: &str) -> Option<u32> {
    let index = id.strip_prefix(parent)?.strip_prefix('-')?;
    (index.len() == 4).then(|| index.parse().ok()).flatten()
}

/// The checks of `array` that need no store.
pub fn check(
    array: Option<&ArrayRequest>,
    concurrency: Option<&Concurrency>,
    depends_on: &[Dependency],
    errors: &mut Vec<FieldError>,
) {
    let Some(array) = array else {
        for (i, dependency) in depends_on.iter().enumerate() {
            if !dependency.is_whole() {
                errors.push(FieldError::new(
                    format!("dependsOn[{i}].mode"),
                    "nToN is for an array depending on an array",
                ));
            }
        }
        return;
    };
    if !(MIN_SIZE..=MAX_SIZE).contains(&array.size) {
        errors.push(FieldError::new(
            "array.size",
            format!("must be {MIN_SIZE} to {MAX_SIZE}, got {}", array.size),
        ));
    }
    if let Some(max) = array.max_parallel {
        if max < 1 {
            errors.push(FieldError::new("array.maxParallel", "must be at least 1"));
        } else if concurrency.is_some() {
            errors.push(FieldError::new(
                "array.maxParallel",
                "an array has either maxParallel or a concurrency key, not both",
            ));
        }
    }
}

impl TaskArray {
    pub fn new(request: &ArrayRequest) -> TaskArray {
        TaskArray {
            size: request.size,
            max_parallel: request.max_parallel,
            created: 0,
            counts: BTreeMap::new(),
            states: String::new(),
            cancelled: false,
            early: BTreeMap::new(),
        }
    }

    /// Every child exists and has ended (or, cancelled, every child made).
    fn all_ended(&self) -> bool {
        (self.cancelled || self.created >= self.size)
            && self.states.bytes().all(|c| status_of(c).is_terminal())
    }

    /// Whether the parent's expansion has children left to make.
    pub fn unexpanded(&self) -> bool {
        !self.cancelled && self.created < self.size
    }

    /// The indexes of the children that exist and did not succeed.
    pub fn unsuccessful(&self) -> Vec<u32> {
        self.indexes(|status| status != Status::Succeeded)
    }

    fn indexes(&self, which: impl Fn(Status) -> bool) -> Vec<u32> {
        (0..self.created)
            .zip(self.states.bytes())
            .filter(|(_, c)| which(status_of(*c)))
            .map(|(i, _)| i)
            .collect()
    }

    /// Records what was heard of child `index`. An ended child's status
    /// stands until a retry (`reopen`), so a stale report of it as active
    /// never overwrites its end. Answers whether anything changed.
    fn hear(&mut self, index: u32, status: Status, reopen: bool) -> bool {
        if index >= self.created {
            // Its page is being made: the end waits for it.
            let early = index < self.size && status.is_terminal();
            return early && self.early.insert(index, status) != Some(status);
        }
        let at = index as usize;
        let old = status_of(self.states.as_bytes()[at]);
        if old == status || (old.is_terminal() && !status.is_terminal() && !reopen) {
            return false;
        }
        let mut states = std::mem::take(&mut self.states).into_bytes();
        states[at] = code(status);
        self.states = String::from_utf8(states).unwrap_or_default();
        true
    }

    /// Appends the children just made, with their statuses (or their
    /// ends, when those were heard first).
    fn grow(&mut self, statuses: &[Status]) {
        for status in statuses {
            let index = self.states.len() as u32;
            let status = self.early.remove(&index).unwrap_or(*status);
            self.states.push(char::from(code(status)));
        }
        self.created = self.states.len() as u32;
    }

    fn recount(&mut self) {
        self.counts.clear();
        for c in self.states.bytes() {
            *self.counts.entry(status_of(c)).or_default() += 1;
        }
    }
}

/// Child `index` of `parent`: the parent's task, with its index, its
/// parent's id, and for each `nToN` dependency of the parent one on that
/// array's child `index`. The parent's other dependencies held already.
pub fn child(parent: &Task, index: u32, now: DateTime<Utc>) -> Task {
    let array = parent.array.as_ref();
    let depends_on: Vec<Dependency> = parent
        .depends_on
        .iter()
        .filter(|d| !d.is_whole())
        .map(|d| Dependency {
            task: child_id(&d.task, index),
            on: d.on,
            mode: None,
        })
        .collect();
    let concurrency = match array.and_then(|a| a.max_parallel) {
        Some(limit) => Some(Concurrency {
            key: format!("{ARRAY_KEY_PREFIX}{}", parent.id),
            limit,
        }),
        None => parent.concurrency.clone(),
    };
    Task {
        status: if depends_on.is_empty() {
            Status::Queued
        } else {
            Status::Waiting
        },
        depends_on,
        concurrency,
        parent_id: Some(parent.id.clone()),
        array_index: Some(index),
        array_size: array.map(|a| a.size),
        created_at: parent.created_at,
        ..Task::queued(child_id(&parent.id, index), parent.spec.clone(), now)
    }
    .inheriting(parent)
}

impl Task {
    /// What a child takes from its parent beyond the spec.
    fn inheriting(self, parent: &Task) -> Task {
        Task {
            queue: parent.queue.clone(),
            payload: parent.payload.clone(),
            payload_in_s3: parent.payload_in_s3,
            max_attempts: parent.max_attempts,
            timeout_seconds: parent.timeout_seconds,
            retry_on_failure: parent.retry_on_failure,
            delay_seconds: parent.delay_seconds,
            labels: parent.labels.clone(),
            secrets: parent.secrets.clone(),
            function: parent.function.clone(),
            ..self
        }
    }

    /// The task whose payload this one reads: an array's children share
    /// their parent's.
    pub fn payload_owner(&self) -> &str {
        self.parent_id.as_deref().unwrap_or(&self.id)
    }
}

/// The parent with its next page of children made, or `None` if another
/// expansion made that page first.
pub fn grown(parent: &Task, from: u32, statuses: &[Status], now: DateTime<Utc>) -> Option<Task> {
    let array = parent.array.as_ref()?;
    // A page made while the array was cancelled is recorded all the same:
    // its children are cancelled with the rest.
    (array.created == from && array.created < array.size).then(|| {
        let mut next = parent.clone();
        if let Some(array) = next.array.as_mut() {
            array.grow(statuses);
        }
        next.started_at = next.started_at.or(Some(now));
        next.unsent = next.array.as_ref().is_some_and(TaskArray::unexpanded);
        followed(next, now)
    })
}

/// The parent with what was heard of its children (`(index, status)`),
/// or `None` if that changes nothing. `reopen` lets an ended child's
/// status go back to active: it was retried.
pub fn heard(
    parent: &Task,
    children: &[(u32, Status)],
    reopen: bool,
    now: DateTime<Utc>,
) -> Option<Task> {
    let mut next = parent.clone();
    let array = next.array.as_mut()?;
    let mut changed = false;
    for (index, status) in children {
        changed |= array.hear(*index, *status, reopen);
    }
    changed.then(|| followed(next, now))
}

/// A cancelled parent: it makes no more children, and stays cancelled
/// while those it made end.
pub fn cancelled(mut parent: Task) -> Task {
    if let Some(array) = parent.array.as_mut() {
        array.cancelled = true;
    }
    parent.unsent = false;
    parent
}

/// A parent whose unsuccessful children are to be retried: those
/// children `queued` again, the array no longer cancelled, its expansion
/// resumed if it was cut short, or — when it had made no child yet and has
/// dependencies of its own — `waiting` again for them.
pub fn retried(parent: &Task, now: DateTime<Utc>) -> Option<Task> {
    let mut next = parent.clone();
    let array = next.array.as_mut()?;
    let unsuccessful = array.unsuccessful();
    array.cancelled = false;
    for index in &unsuccessful {
        array.hear(*index, Status::Queued, true);
    }
    next.message = Some(format!("{} children retried", unsuccessful.len()));
    if array.created == 0 && next.depends_on.iter().any(Dependency::is_whole) {
        return Some(Task {
            status: Status::Waiting,
            unsent: false,
            finished_at: None,
            reason: None,
            updated_at: now,
            ..next
        });
    }
    next.unsent = array.unexpanded();
    Some(followed(next, now))
}

/// The parent's counts and status, as its children's states decide.
fn followed(mut parent: Task, now: DateTime<Utc>) -> Task {
    let Some(array) = parent.array.as_mut() else {
        return parent;
    };
    array.recount();
    parent.updated_at = now;
    if !array.all_ended() {
        if !array.cancelled {
            parent.status = Status::Running;
            parent.finished_at = None;
            parent.reason = None;
        }
        return parent;
    }
    let unsuccessful = array.created - array.counts.get(&Status::Succeeded).copied().unwrap_or(0);
    parent.status = match (array.cancelled, unsuccessful) {
        (true, _) => Status::Cancelled,
        (false, 0) => Status::Succeeded,
        (false, _) => Status::Failed,
    };
    if parent.status == Status::Failed {
        parent.message = Some(format!(
            "{unsuccessful} of {} children did not succeed",
            array.size
        ));
    }
    parent.finished_at = parent.finished_at.or(Some(now));
    parent
}

#[cfg(test)]
mod tests;
