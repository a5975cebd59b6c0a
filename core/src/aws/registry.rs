//! Registered functions in DynamoDB: one item per function, keyed by its
//! name, holding the function as JSON (`function`).

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use aws_sdk_dynamodb::Client;

use super::dynamo::{get_item, scan};
use crate::error::{Error, Result};
use crate::registry::{Function, Registry, MAX_FUNCTIONS};

const KEY: &str = "name";

#[derive(Clone)]
pub struct DynamoRegistry {
    client: Client,
    table: String,
}

impl DynamoRegistry {
    pub fn new(client: Client, table: &str) -> Self {
        DynamoRegistry {
            client,
            table: table.to_owned(),
        }
    }
}

#[async_trait]
impl Registry for DynamoRegistry {
    async fn put(&self, function: &Function) -> Result<()> {
        let json = serde_json::to_string(function).map_err(|e| Error::Corrupt(e.to_string()))?;
        self.client
            .put_item()
            .table_name(&self.table)
            .item(KEY, AttributeValue::S(function.name.clone()))
            .item("function", AttributeValue::S(json))
            .send()
            .await
            .map_err(|e| Error::aws("PutItem", e))?;
        Ok(())
    }

    async fn get(&self, name: &str) -> Result<Option<Function>> {
        let item = get_item(&self.client, &self.table, (KEY, name)).await?;
        item.as_ref().map(function_of).transpose()
    }

    async fn delete(&self, name: &str) -> Result<bool> {
        let output = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(name.to_owned()))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| Error::aws("DeleteItem", e))?;
        Ok(output.attributes.is_some_and(|old| !old.is_empty()))
    }

    async fn list(&self) -> Result<Vec<Function>> {
        let mut functions = scan(&self.client, &self.table, MAX_FUNCTIONS, function_of).await?;
        functions.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(functions)
    }
}

fn function_of(item: &HashMap<String, AttributeValue>) -> Result<Function> {
    let name = item.get(KEY).and_then(|v| v.as_s().ok());
    let json = item
        .get("function")
        .and_then(|v| v.as_s().ok())
        .ok_or_else(|| Error::Corrupt(format!("function item {name:?}: no function")))?;
    serde_json::from_str(json).map_err(|e| Error::Corrupt(format!("function item {name:?}: {e}")))
}
