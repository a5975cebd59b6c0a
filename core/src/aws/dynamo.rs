//! The task store in DynamoDB.
//!
//! Each item holds the whole task as JSON (`task`) next to the attributes that
//! conditions and indexes need (`status`, `queue`, `listed`, `createdAt`,
//! `version`; the indexes are in [`listing`]).
//! Every write is conditional on the `version` and `task` it was computed
//! from; when anyone wrote in between, the failed condition answers the
//! item as it is now. Names
//! and idempotency keys are reserved by items of their own (`name#…`,
//! `idem#…`) written in the same transaction as the task.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use aws_sdk_dynamodb::Client;

use crate::error::{Error, Result};
use crate::listing::{TaskPage, TaskQuery};
use crate::model::Task;
use crate::store::{reservations, taken, CreateError, Replaced, TaskStore, Versioned};

mod listing;
mod sets;
mod update;

pub use listing::{TaskIndex, TASK_INDEXES};
use update::Update;

const KEY: &str = "id";
/// A DynamoDB item, by attribute name.
type Item = HashMap<String, AttributeValue>;
/// The attribute DynamoDB's TTL reads on the tasks and workers tables.
pub const TTL_ATTRIBUTE: &str = "expiresAt";

#[derive(Clone)]
pub struct DynamoTaskStore {
    client: Client,
    table: String,
    /// A finished task's record expires (DynamoDB TTL) this long after it
    /// finished.
    retention: chrono::Duration,
}

#[async_trait]
impl TaskStore for DynamoTaskStore {
    async fn create(&self, task: &Task) -> Result<(), CreateError> {
        if reservations(task).is_empty() {
            // One conditional put; a transaction costs more (on moto, a copy
            // of the table), and an array's children are made by the
            // thousand.
            return self.put_alone(task).await;
        }
        // A second try after stale reservations (their tasks gone) were
        // removed.
        for _ in 0..2 {
            let Err(err) = self.put_with_reservations(task).await? else {
                return Ok(());
            };
            if !is_cancelled_by_condition(&err) {
                return Err(Error::aws("TransactWriteItems", err).into());
            }
            let mut removed_stale = false;
            for key in reservations(task) {
                let Some(existing_id) = self.reserved_by(&key).await? else {
                    continue;
                };
                if self.get(&existing_id).await?.is_some() {
                    return Err(taken(task, &key, existing_id));
                }
                self.remove_stale(&key, &existing_id).await?;
                removed_stale = true;
            }
            if !removed_stale {
                break;
            }
        }
        Err(exists(task))
    }

    async fn delete(&self, task: &Task) -> Result<()> {
        let keys = std::iter::once(task.id.clone()).chain(reservations(task));
        let items = keys
            .map(|key| {
                aws_sdk_dynamodb::types::Delete::builder()
                    .table_name(&self.table)
                    .key(KEY, AttributeValue::S(key))
                    .build()
                    .map(|delete| TransactWriteItem::builder().delete(delete).build())
                    .map_err(|e| Error::request("TransactWriteItems", e))
            })
            .collect::<Result<Vec<_>>>()?;
        self.client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .map_err(|e| Error::aws("TransactWriteItems", e))?;
        Ok(())
    }

    async fn get(&self, id: &str) -> Result<Option<Versioned>> {
        let item = self.item(id).await?;
        item.map(|item| read_task(&item)).transpose()
    }

    async fn list(&self, query: &TaskQuery) -> Result<TaskPage> {
        match &query.filter.name {
            Some(name) => self.list_named(name, query).await,
            None => self.list_indexed(query).await,
        }
    }

    /// An `UpdateItem` conditional on the version and the whole stored
    /// task, answering the stored item when the condition fails: it never
    /// creates a record, so a worker needs no `PutItem` permission.
    async fn replace(&self, current: &Versioned, next: Task) -> Result<Replaced> {
        // What is stored, if the condition holds; the version always changes.
        let before = self.task_item(&current.task, current.version)?;
        let version = current.version + 1;
        let mut after = self.task_item(&next, version)?;
        after.remove(KEY);
        let update = Update::between(&before, &after);
        let mut expected = before["task"].clone();
        let mut retried = false;
        loop {
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .key(KEY, AttributeValue::S(next.id.clone()))
                .update_expression(&update.expression)
                .set_expression_attribute_names(Some(update.names.clone()))
                .set_expression_attribute_values(Some(update.values.clone()))
                .expression_attribute_values(":expected", number(current.version))
                .expression_attribute_values(":expectedTask", expected.clone())
                .condition_expression("#version = :expected AND #task = :expectedTask")
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .send()
                .await;
            let stored = match result {
                Ok(_) => {
                    return Ok(Replaced::Written(Versioned {
                        task: next,
                        version,
                    }))
                }
                Err(err) => match err.as_service_error() {
                    Some(UpdateItemError::ConditionalCheckFailedException(failed)) => {
                        failed.item().cloned()
                    }
                    _ => return Err(Error::aws("UpdateItem", err)),
                },
            };
            let now = stored.as_ref().map(read_task).transpose()?;
            // The stored record may be `current` written out differently
            // (by an older Wharf, with fields this one ignores): then its own
            // text, as the store answered it, is the condition of a second try.
            match stored.and_then(|mut item| item.remove("task")) {
                Some(text) if !retried && now.as_ref() == Some(current) => {
                    expected = text;
                    retried = true;
                }
                _ => return Ok(Replaced::Stale(now)),
            }
        }
    }
}

impl DynamoTaskStore {
    pub fn new(client: Client, table: &str, retention_days: u32) -> Self {
        DynamoTaskStore {
            client,
            table: table.to_owned(),
            retention: chrono::Duration::days(retention_days.into()),
        }
    }

    /// Writes a task that reserves nothing, unless its id is taken. The
    /// SDK retries a put whose answer was lost; finding the very record it
    /// wrote is success (a transaction has a request token for that).
    async fn put_alone(&self, task: &Task) -> Result<(), CreateError> {
        let item = self.task_item(task, 1)?;
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item.clone()))
            .condition_expression("attribute_not_exists(#id)")
            .expression_attribute_names("#id", KEY)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let err = match put {
            Ok(_) => return Ok(()),
            Err(err) => err,
        };
        match err.as_service_error() {
            Some(PutItemError::ConditionalCheckFailedException(failed)) => {
                let stored = failed.item();
                let ours = |name: &str| stored.and_then(|s| s.get(name)) == item.get(name);
                if ours("task") && ours("version") {
                    Ok(())
                } else {
                    Err(exists(task))
                }
            }
            _ => Err(Error::aws("PutItem", err).into()),
        }
    }

    /// Writes the task and its reservations in one transaction; `Ok(Err)`
    /// is the transaction's refusal.
    async fn put_with_reservations(
        &self,
        task: &Task,
    ) -> Result<Result<(), SdkError<TransactWriteItemsError, HttpResponse>>> {
        let mut items = vec![self.put_new(self.task_item(task, 1)?)?];
        // Reservations outlive any task they can belong to, and are taken
        // over once their task is gone.
        let expires_at = task.created_at + self.retention + chrono::Duration::days(14);
        for key in reservations(task) {
            items.push(self.put_new(reservation(&key, &task.id, expires_at))?);
        }
        let sent = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        Ok(sent.map(drop))
    }

    /// Removes a reservation whose task no longer exists, unless someone
    /// took it over meanwhile.
    async fn remove_stale(&self, key: &str, task_id: &str) -> Result<()> {
        let removed = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(key.to_owned()))
            .condition_expression("taskId = :task")
            .expression_attribute_values(":task", AttributeValue::S(task_id.to_owned()))
            .send()
            .await;
        match removed {
            Ok(_) => Ok(()),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(err) => Err(Error::aws("DeleteItem", err)),
        }
    }

    /// One item, read consistently.
    async fn item(&self, key: &str) -> Result<Option<Item>> {
        get_item(&self.client, &self.table, (KEY, key)).await
    }

    async fn reserved_by(&self, key: &str) -> Result<Option<String>> {
        let item = self.item(key).await?;
        Ok(item.and_then(|item| item.get("taskId").and_then(|v| v.as_s().ok()).cloned()))
    }

    fn task_item(&self, task: &Task, version: u64) -> Result<Item> {
        let json = serde_json::to_string(task).map_err(|e| Error::Corrupt(e.to_string()))?;
        let mut item = HashMap::from([
            (KEY.to_owned(), AttributeValue::S(task.id.clone())),
            ("version".to_owned(), number(version)),
            (
                "status".to_owned(),
                AttributeValue::S(task.status.to_string()),
            ),
            ("queue".to_owned(), AttributeValue::S(task.queue.clone())),
            (
                "createdAt".to_owned(),
                AttributeValue::S(task.created_at.to_rfc3339()),
            ),
            ("task".to_owned(), AttributeValue::S(json)),
            (
                listing::LISTED.to_owned(),
                AttributeValue::S(listing::LISTED_VALUE.to_owned()),
            ),
        ]);
        if let Some(name) = &task.name {
            item.insert("name".to_owned(), AttributeValue::S(name.clone()));
        }
        if let Some(finished_at) = task.finished_at.filter(|_| task.status.is_terminal()) {
            let expires_at = (finished_at + self.retention).timestamp();
            item.insert(TTL_ATTRIBUTE.to_owned(), number(expires_at));
        }
        Ok(item)
    }

    fn put_new(&self, item: Item) -> Result<TransactWriteItem> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#id)")
            .expression_attribute_names("#id", KEY)
            .build()
            .map_err(|e| Error::request("TransactWriteItems", e))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }
}

/// The item of `table` whose key attribute `key.0` is `key.1`, read
/// consistently.
pub(super) async fn get_item(
    client: &Client,
    table: &str,
    key: (&str, &str),
) -> Result<Option<Item>> {
    let output = client
        .get_item()
        .table_name(table)
        .key(key.0, AttributeValue::S(key.1.to_owned()))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| Error::aws("GetItem", e))?;
    Ok(output.item)
}

/// Every item of `table` (up to `max`), read by `read`.
pub(super) async fn scan<T>(
    client: &Client,
    table: &str,
    max: usize,
    read: impl Fn(&Item) -> Result<T>,
) -> Result<Vec<T>> {
    let mut found = Vec::new();
    let mut pages = client.scan().table_name(table).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| Error::aws("Scan", e))?;
        for item in page.items() {
            found.push(read(item)?);
        }
        if found.len() >= max {
            break;
        }
    }
    found.truncate(max);
    Ok(found)
}

pub(super) fn number(n: impl ToString) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

fn exists(task: &Task) -> CreateError {
    Error::Conflict(format!("task {} exists already", task.id)).into()
}

fn reservation(key: &str, task_id: &str, expires_at: chrono::DateTime<chrono::Utc>) -> Item {
    HashMap::from([
        (KEY.to_owned(), AttributeValue::S(key.to_owned())),
        ("taskId".to_owned(), AttributeValue::S(task_id.to_owned())),
        (TTL_ATTRIBUTE.to_owned(), number(expires_at.timestamp())),
    ])
}

fn read_task(item: &Item) -> Result<Versioned> {
    let id = item.get(KEY).and_then(|v| v.as_s().ok());
    let corrupt = |what: &str| Error::Corrupt(format!("task item {id:?}: {what}"));
    let json = item
        .get("task")
        .and_then(|v| v.as_s().ok())
        .ok_or_else(|| corrupt("no task attribute"))?;
    let version = item
        .get("version")
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| corrupt("no version"))?;
    let task = serde_json::from_str(json).map_err(|e| corrupt(&e.to_string()))?;
    Ok(Versioned { task, version })
}

pub(super) fn is_condition_failure<R>(
    err: &SdkError<aws_sdk_dynamodb::operation::update_item::UpdateItemError, R>,
) -> bool {
    err.as_service_error()
        .is_some_and(|e| e.is_conditional_check_failed_exception())
}

fn is_cancelled_by_condition<R>(err: &SdkError<TransactWriteItemsError, R>) -> bool {
    match err.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(cancel)) => cancel
            .cancellation_reasons()
            .iter()
            .any(|reason| reason.code() == Some("ConditionalCheckFailed")),
        _ => false,
    }
}
