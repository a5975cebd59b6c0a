//! Records beside the tasks in the tasks table, each one item holding JSON
//! and a version every write is conditional on: task sets' members
//! (`set#<name>`) and concurrency keys' places (`concurrency#<key>`). They
//! lack the attributes the listing indexes use, so they are never listed as
//! tasks.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{number, DynamoTaskStore, KEY};
use crate::concurrency::{ConcurrencyStore, Places};
use crate::error::{Error, Result};
use crate::sets::{Members, SetStore};

fn set_key(set: &str) -> String {
    format!("set#{set}")
}

fn concurrency_key(key: &str) -> String {
    format!("concurrency#{key}")
}

#[async_trait]
impl SetStore for DynamoTaskStore {
    async fn members(&self, set: &str) -> Result<Option<(Members, u64)>> {
        self.json_item(&set_key(set), "members").await
    }

    async fn put_members(&self, set: &str, members: &Members, read: Option<u64>) -> Result<()> {
        self.put_json_item(&set_key(set), "members", members, read)
            .await
            .map_err(|err| match err {
                Error::Conflict(_) => Error::Conflict(format!(
                    "task set {set:?} was changed by another sync meanwhile"
                )),
                err => err,
            })
    }
}

#[async_trait]
impl ConcurrencyStore for DynamoTaskStore {
    async fn places(&self, key: &str) -> Result<Option<(Places, u64)>> {
        self.json_item(&concurrency_key(key), "places").await
    }

    async fn put_places(&self, key: &str, places: &Places, read: Option<u64>) -> Result<()> {
        self.put_json_item(&concurrency_key(key), "places", places, read)
            .await
    }
}

impl DynamoTaskStore {
    /// The JSON attribute `field` of item `key`, and its version.
    async fn json_item<T: DeserializeOwned>(
        &self,
        key: &str,
        field: &str,
    ) -> Result<Option<(T, u64)>> {
        let Some(item) = self.item(key).await? else {
            return Ok(None);
        };
        let corrupt = |what: &str| Error::Corrupt(format!("item {key:?}: {what}"));
        let json = item.get(field).and_then(|v| v.as_s().ok());
        let value = serde_json::from_str(json.ok_or_else(|| corrupt(&format!("no {field}")))?)
            .map_err(|e| corrupt(&e.to_string()))?;
        let version = item
            .get("version")
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| corrupt("no version"))?;
        Ok(Some((value, version)))
    }

    /// Writes item `key` with `value` as its JSON attribute `field`, if it
    /// is still at version `read` (`None`: if there is none);
    /// [`Error::Conflict`] otherwise.
    async fn put_json_item(
        &self,
        key: &str,
        field: &str,
        value: &impl Serialize,
        read: Option<u64>,
    ) -> Result<()> {
        let json = serde_json::to_string(value).map_err(|e| Error::Corrupt(e.to_string()))?;
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(KEY, AttributeValue::S(key.to_owned()))
            .item(field, AttributeValue::S(json))
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
                Err(Error::Conflict(format!("item {key:?} changed meanwhile")))
            }
            Err(err) => Err(Error::aws("PutItem", err)),
        }
    }
}
