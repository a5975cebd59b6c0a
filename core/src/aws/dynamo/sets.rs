//! Task sets' member records in the tasks table: one item per set, keyed
//! `set#<name>`, holding the members as JSON and a version every write is
//! conditional on. They lack the attributes the listing indexes use, so
//! they are never listed as tasks.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

use super::{number, DynamoTaskStore, KEY};
use crate::error::{Error, Result};
use crate::sets::{Members, SetStore};

fn set_key(set: &str) -> String {
    format!("set#{set}")
}

#[async_trait]
impl SetStore for DynamoTaskStore {
    async fn members(&self, set: &str) -> Result<Option<(Members, u64)>> {
        let Some(item) = self.item(&set_key(set)).await? else {
            return Ok(None);
        };
        let corrupt = |what: &str| Error::Corrupt(format!("task set {set:?}: {what}"));
        let json = item.get("members").and_then(|v| v.as_s().ok());
        let members = serde_json::from_str(json.ok_or_else(|| corrupt("no members"))?)
            .map_err(|e| corrupt(&e.to_string()))?;
        let version = item
            .get("version")
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| corrupt("no version"))?;
        Ok(Some((members, version)))
    }

    async fn put_members(&self, set: &str, members: &Members, read: Option<u64>) -> Result<()> {
        let json = serde_json::to_string(members).map_err(|e| Error::Corrupt(e.to_string()))?;
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(KEY, AttributeValue::S(set_key(set)))
            .item("members", AttributeValue::S(json))
            .item("version", number(read.unwrap_or(0) + 1));
        let request = match read {
            None => request
                .condition_expression("attribute_not_exists(#id)")
                .expression_attribute_names("#id", KEY),
            Some(version) => request
                .condition_expression("#version = :read")
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(":read", number(version)),
        };
        match request.send().await {
            Ok(_) => Ok(()),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Err(Error::Conflict(format!(
                    "task set {set:?} was changed by another sync meanwhile"
                )))
            }
            Err(err) => Err(Error::aws("PutItem", err)),
        }
    }
}
