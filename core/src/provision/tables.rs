//! DynamoDB tables: each keyed by one string attribute, with global
//! secondary indexes sorted by that key. A table that exists is kept, and
//! gets the indexes it lacks (a table provisioned by an older Wharf).

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, CreateGlobalSecondaryIndexAction, GlobalSecondaryIndex,
    GlobalSecondaryIndexUpdate, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType,
};
use aws_sdk_dynamodb::Client;

use crate::aws::TaskIndex;
use crate::error::{Error, Result};

/// Creates `table` keyed by `key`, with `indexes`; returns whether it was
/// created.
pub(super) async fn create_table(
    client: &Client,
    table: &str,
    key: &str,
    indexes: &[TaskIndex],
) -> Result<bool> {
    let global_indexes = indexes
        .iter()
        .map(|index| global_index(index, key))
        .collect::<Result<Vec<_>>>()?;
    let created = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .set_attribute_definitions(Some(definitions(key, indexes)?))
        .key_schema(key_element(key, KeyType::Hash)?)
        .set_global_secondary_indexes((!global_indexes.is_empty()).then_some(global_indexes))
        .send()
        .await;
    match created {
        Ok(_) => Ok(true),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception()) =>
        {
            add_missing_indexes(client, table, key, indexes).await?;
            Ok(false)
        }
        Err(err) => Err(Error::aws("CreateTable", err)),
    }
}

/// Creates each of `indexes` the table lacks, one `UpdateTable` each (as
/// DynamoDB requires).
async fn add_missing_indexes(
    client: &Client,
    table: &str,
    key: &str,
    indexes: &[TaskIndex],
) -> Result<()> {
    let description = client
        .describe_table()
        .table_name(table)
        .send()
        .await
        .map_err(|e| Error::aws("DescribeTable", e))?;
    let existing: Vec<&str> = description
        .table()
        .map(|table| table.global_secondary_indexes())
        .unwrap_or_default()
        .iter()
        .filter_map(|index| index.index_name())
        .collect();
    for index in indexes.iter().filter(|i| !existing.contains(&i.name)) {
        let create = CreateGlobalSecondaryIndexAction::builder()
            .index_name(index.name)
            .key_schema(key_element(index.partition, KeyType::Hash)?)
            .key_schema(key_element(key, KeyType::Range)?)
            .projection(all_attributes())
            .build()
            .map_err(|e| Error::request("UpdateTable", e))?;
        client
            .update_table()
            .table_name(table)
            .set_attribute_definitions(Some(definitions(key, indexes)?))
            .global_secondary_index_updates(
                GlobalSecondaryIndexUpdate::builder().create(create).build(),
            )
            .send()
            .await
            .map_err(|e| Error::aws("UpdateTable", e))?;
    }
    Ok(())
}

/// Every attribute a key or index uses: all strings.
fn definitions(key: &str, indexes: &[TaskIndex]) -> Result<Vec<AttributeDefinition>> {
    std::iter::once(key)
        .chain(indexes.iter().map(|index| index.partition))
        .map(|name| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| Error::request("CreateTable", e))
        })
        .collect()
}

fn global_index(index: &TaskIndex, key: &str) -> Result<GlobalSecondaryIndex> {
    GlobalSecondaryIndex::builder()
        .index_name(index.name)
        .key_schema(key_element(index.partition, KeyType::Hash)?)
        .key_schema(key_element(key, KeyType::Range)?)
        .projection(all_attributes())
        .build()
        .map_err(|e| Error::request("CreateTable", e))
}

fn all_attributes() -> Projection {
    Projection::builder()
        .projection_type(ProjectionType::All)
        .build()
}

fn key_element(attribute: &str, key_type: KeyType) -> Result<KeySchemaElement> {
    KeySchemaElement::builder()
        .attribute_name(attribute)
        .key_type(key_type)
        .build()
        .map_err(|e| Error::request("CreateTable", e))
}
