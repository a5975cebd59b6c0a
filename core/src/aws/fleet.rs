//! The worker registry in DynamoDB: one item per worker host holding its
//! last report as JSON (`report`), the TTL attribute, and the operator's
//! `command` when there is one. A heartbeat sets the first two and reads
//! the command back in the same `UpdateItem`.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use aws_sdk_dynamodb::Client;

use super::dynamo::{get_item, is_condition_failure, number, scan, TTL_ATTRIBUTE};
use crate::error::{Error, Result};
use crate::fleet::{Command, Fleet, Registered, WorkerReport, RECORD_RETENTION};

const KEY: &str = "id";

#[derive(Clone)]
pub struct DynamoFleet {
    client: Client,
    table: String,
}

impl DynamoFleet {
    pub fn new(client: Client, table: &str) -> Self {
        DynamoFleet {
            client,
            table: table.to_owned(),
        }
    }
}

type Item = HashMap<String, AttributeValue>;

#[async_trait]
impl Fleet for DynamoFleet {
    async fn heartbeat(&self, report: &WorkerReport) -> Result<Option<Command>> {
        let json = serde_json::to_string(report).map_err(|e| Error::Corrupt(e.to_string()))?;
        let expires_at = report.heartbeat_at + RECORD_RETENTION;
        let output = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(report.id.clone()))
            .update_expression("SET #report = :report, #ttl = :ttl")
            .expression_attribute_names("#report", "report")
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":report", AttributeValue::S(json))
            .expression_attribute_values(":ttl", number(expires_at.timestamp()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| Error::aws("UpdateItem", e))?;
        command_of(&output.attributes.unwrap_or_default())
    }

    async fn deregister(&self, worker_id: &str) -> Result<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(worker_id.to_owned()))
            .send()
            .await
            .map_err(|e| Error::aws("DeleteItem", e))?;
        Ok(())
    }

    async fn get(&self, worker_id: &str) -> Result<Option<Registered>> {
        let item = get_item(&self.client, &self.table, (KEY, worker_id)).await?;
        item.as_ref().map(registered).transpose()
    }

    async fn list(&self) -> Result<Vec<Registered>> {
        let mut workers = scan(&self.client, &self.table, usize::MAX, registered).await?;
        workers.sort_by(|a, b| a.report.id.cmp(&b.report.id));
        Ok(workers)
    }

    async fn command(&self, worker_id: &str, command: Command) -> Result<bool> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(worker_id.to_owned()))
            .update_expression("SET #command = :command")
            .condition_expression("attribute_exists(#id)")
            .expression_attribute_names("#command", "command")
            .expression_attribute_names("#id", KEY)
            .expression_attribute_values(":command", AttributeValue::S(command.to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if is_condition_failure(&err) => Ok(false),
            Err(err) => Err(Error::aws("UpdateItem", err)),
        }
    }
}

fn registered(item: &Item) -> Result<Registered> {
    let id = item.get(KEY).and_then(|v| v.as_s().ok());
    let json = item
        .get("report")
        .and_then(|v| v.as_s().ok())
        .ok_or_else(|| Error::Corrupt(format!("worker item {id:?}: no report")))?;
    let report = serde_json::from_str(json)
        .map_err(|e| Error::Corrupt(format!("worker item {id:?}: {e}")))?;
    Ok(Registered {
        report,
        command: command_of(item)?,
    })
}

fn command_of(item: &Item) -> Result<Option<Command>> {
    item.get("command")
        .and_then(|v| v.as_s().ok())
        .map(|c| {
            c.parse()
                .map_err(|_| Error::Corrupt(format!("unknown worker command {c:?}")))
        })
        .transpose()
}
