//! Listing tasks from the tasks table's global secondary indexes. Each is
//! partitioned by one attribute of a task item and sorted by the task id
//! (a ULID, so by creation time): a query reads newest first from where the
//! previous page stopped. Reservation items lack these attributes and stay
//! out of every index.

use aws_sdk_dynamodb::types::AttributeValue;

use super::{read_task, DynamoTaskStore, KEY};
use crate::error::{Error, Result};
use crate::listing::{TaskFilter, TaskPage, TaskQuery};
use crate::store::{name_reservation, TaskStore};

/// A global secondary index of the tasks table: partition key
/// `partition`, sort key `id`, every attribute projected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskIndex {
    pub name: &'static str,
    pub partition: &'static str,
}

/// The attribute every task item has, with one value: the partition of the
/// index over all tasks.
pub(super) const LISTED: &str = "listed";
pub(super) const LISTED_VALUE: &str = "task";

const BY_STATUS: TaskIndex = TaskIndex {
    name: "by-status",
    partition: "status",
};
const BY_QUEUE: TaskIndex = TaskIndex {
    name: "by-queue",
    partition: "queue",
};
const ALL_TASKS: TaskIndex = TaskIndex {
    name: "all-tasks",
    partition: LISTED,
};

/// The indexes `wharf admin provision` creates (and the SAM template and
/// the LocalStack hook declare).
pub const TASK_INDEXES: [TaskIndex; 3] = [BY_STATUS, BY_QUEUE, ALL_TASKS];

/// A page reads an index at most this many times; filters no index covers
/// (labels, a queue beside a status) may leave a page short of its limit,
/// with a cursor to go on.
const MAX_QUERIES_PER_PAGE: usize = 8;

/// The narrowest index for `filter`, and the partition to read.
fn index_for(filter: &TaskFilter) -> (TaskIndex, String) {
    match (&filter.status, &filter.queue) {
        (Some(status), _) => (BY_STATUS, status.to_string()),
        (None, Some(queue)) => (BY_QUEUE, queue.clone()),
        (None, None) => (ALL_TASKS, LISTED_VALUE.to_owned()),
    }
}

impl DynamoTaskStore {
    pub(super) async fn list_indexed(&self, query: &TaskQuery) -> Result<TaskPage> {
        let (index, partition) = index_for(&query.filter);
        let mut page = TaskPage::default();
        let mut before = query.before.clone();
        // An array's children have ids of its own id and an index.
        let children = query
            .filter
            .parent
            .as_ref()
            .map(|parent| format!("{parent}-"));
        if let (Some(before), Some(prefix)) = (&before, &children) {
            if before <= prefix {
                return Ok(page);
            }
        }
        for _ in 0..MAX_QUERIES_PER_PAGE {
            // BETWEEN (below) reads the cursor's own item too.
            let between = usize::from(before.is_some() && children.is_some());
            let remaining = query.limit - page.tasks.len() + between;
            let mut request = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index.name)
                .scan_index_forward(false)
                .limit(i32::try_from(remaining).unwrap_or(i32::MAX))
                .expression_attribute_names("#pk", index.partition)
                .expression_attribute_values(":pk", AttributeValue::S(partition.clone()))
                .key_condition_expression("#pk = :pk");
            request = match (&before, &children) {
                (None, None) => request,
                (Some(before), None) => request
                    .expression_attribute_names("#id", KEY)
                    .expression_attribute_values(":before", AttributeValue::S(before.clone()))
                    .key_condition_expression("#pk = :pk AND #id < :before"),
                (None, Some(prefix)) => request
                    .expression_attribute_names("#id", KEY)
                    .expression_attribute_values(":prefix", AttributeValue::S(prefix.clone()))
                    .key_condition_expression("#pk = :pk AND begins_with(#id, :prefix)"),
                // BETWEEN includes `before`, which is left out below.
                (Some(before), Some(prefix)) => request
                    .expression_attribute_names("#id", KEY)
                    .expression_attribute_values(":prefix", AttributeValue::S(prefix.clone()))
                    .expression_attribute_values(":before", AttributeValue::S(before.clone()))
                    .key_condition_expression("#pk = :pk AND #id BETWEEN :prefix AND :before"),
            };
            let output = request.send().await.map_err(|e| Error::aws("Query", e))?;
            for item in output.items() {
                let task = read_task(item)?.task;
                if query.filter.matches(&task) && Some(&task.id) != before.as_ref() {
                    page.tasks.push(task);
                }
            }
            let Some(last) = output.last_evaluated_key() else {
                return Ok(page);
            };
            before = last.get(KEY).and_then(|id| id.as_s().ok()).cloned();
            if before.is_none() || page.tasks.len() == query.limit {
                break;
            }
        }
        page.next = before;
        Ok(page)
    }

    /// Names are unique: the reservation of `name` leads to the one task
    /// that may have it.
    pub(super) async fn list_named(&self, name: &str, query: &TaskQuery) -> Result<TaskPage> {
        let Some(id) = self.reserved_by(&name_reservation(name)).await? else {
            return Ok(TaskPage::default());
        };
        let older = query.before.as_ref().is_none_or(|before| &id < before);
        let task = match older {
            true => self.get(&id).await?.map(|versioned| versioned.task),
            false => None,
        };
        Ok(TaskPage {
            tasks: task
                .into_iter()
                .filter(|task| query.filter.matches(task))
                .collect(),
            next: None,
        })
    }
}
