//! Listing tasks (`GET /v1/tasks`): newest first, filtered, a page at a
//! time. The task store serves it from indexes (in DynamoDB: one by status,
//! one by queue, one over all tasks, each sorted by the time-sortable id);
//! filters no index covers are applied to what the index returns.

use std::collections::BTreeMap;

use crate::model::{Status, Task, TaskId};

/// A page holds at most this many tasks.
pub const MAX_LIST_LIMIT: usize = 1000;
/// …and this many when the caller does not say.
pub const DEFAULT_LIST_LIMIT: usize = 100;

/// Which tasks to list; every filter given must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskFilter {
    pub status: Option<Status>,
    pub queue: Option<String>,
    pub name: Option<String>,
    /// Each label must be present with this value.
    pub labels: BTreeMap<String, String>,
    /// The children of this array.
    pub parent: Option<TaskId>,
}

impl From<Status> for TaskFilter {
    fn from(status: Status) -> TaskFilter {
        TaskFilter {
            status: Some(status),
            ..TaskFilter::default()
        }
    }
}

impl TaskFilter {
    pub fn matches(&self, task: &Task) -> bool {
        self.status.is_none_or(|status| task.status == status)
            && self.queue.as_ref().is_none_or(|queue| &task.queue == queue)
            && self
                .name
                .as_ref()
                .is_none_or(|name| task.name.as_ref() == Some(name))
            && self
                .labels
                .iter()
                .all(|(key, value)| task.labels.get(key) == Some(value))
            && self
                .parent
                .as_ref()
                .is_none_or(|parent| task.parent_id.as_ref() == Some(parent))
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskQuery {
    pub filter: TaskFilter,
    /// At most this many tasks (1 to [`MAX_LIST_LIMIT`]).
    pub limit: usize,
    /// Only tasks older than this one: where the previous page stopped.
    pub before: Option<TaskId>,
}

/// Tasks, newest first, and where the next page starts when there may be
/// more. A page may hold fewer than `limit` tasks (even none) and still
/// have a next one: a store reads a bounded number of index entries per
/// page, and filters no index covers may leave most of them out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskPage {
    pub tasks: Vec<Task>,
    pub next: Option<TaskId>,
}
