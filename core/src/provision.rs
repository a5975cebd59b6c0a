//! `wharf admin provision`: creates every table, queue (with its dead-letter
//! queue and redrive) and the bucket. Safe to run again: what exists is kept.

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use aws_sdk_sqs::types::QueueAttributeName;

use crate::config::{s3_client, ResourceNames};
use crate::error::{Error, Result};

/// SQS moves a message to the DLQ after this many receives.
pub const MAX_RECEIVE_COUNT: u32 = 10;
/// How long a received message stays hidden before a worker claims it; a
/// worker extends it while the task runs.
pub const QUEUE_VISIBILITY_SECONDS: u32 = 60;

/// Each resource, and whether this run created it or found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provisioned {
    pub kind: &'static str,
    pub name: String,
    pub created: bool,
}

pub async fn provision(aws: &SdkConfig, names: &ResourceNames) -> Result<Vec<Provisioned>> {
    let mut report = Vec::new();
    let dynamo = aws_sdk_dynamodb::Client::new(aws);
    for (table, key) in [
        (&names.tasks_table, "id"),
        (&names.workers_table, "id"),
        (&names.functions_table, "name"),
    ] {
        let created = create_table(&dynamo, table, key).await?;
        report.push(Provisioned {
            kind: "table",
            name: table.clone(),
            created,
        });
    }
    let sqs = aws_sdk_sqs::Client::new(aws);
    for queue in &names.queues {
        let main = format!("{}{queue}", names.queue_prefix);
        let dlq = format!("{main}-dlq");
        let (dlq_url, dlq_created) = create_queue(&sqs, &dlq, None).await?;
        let dlq_arn = queue_arn(&sqs, &dlq_url).await?;
        let redrive = serde_json::json!({
            "deadLetterTargetArn": dlq_arn,
            "maxReceiveCount": MAX_RECEIVE_COUNT.to_string(),
        })
        .to_string();
        let (_, main_created) = create_queue(&sqs, &main, Some(redrive)).await?;
        for (name, created) in [(dlq, dlq_created), (main, main_created)] {
            report.push(Provisioned {
                kind: "queue",
                name,
                created,
            });
        }
    }
    let created = create_bucket(&s3_client(aws), &names.bucket).await?;
    report.push(Provisioned {
        kind: "bucket",
        name: names.bucket.clone(),
        created,
    });
    Ok(report)
}

async fn create_table(client: &aws_sdk_dynamodb::Client, table: &str, key: &str) -> Result<bool> {
    let result = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(key)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| Error::request("CreateTable", e))?,
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name(key)
                .key_type(KeyType::Hash)
                .build()
                .map_err(|e| Error::request("CreateTable", e))?,
        )
        .send()
        .await;
    match result {
        Ok(_) => Ok(true),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception()) =>
        {
            Ok(false)
        }
        Err(err) => Err(Error::aws("CreateTable", err)),
    }
}

/// Creates a queue, or updates its attributes when it exists already (SQS's
/// CreateQueue is idempotent only for identical attributes). Returns its URL
/// and whether it was created.
async fn create_queue(
    client: &aws_sdk_sqs::Client,
    name: &str,
    redrive: Option<String>,
) -> Result<(String, bool)> {
    let mut attributes = vec![(
        QueueAttributeName::VisibilityTimeout,
        QUEUE_VISIBILITY_SECONDS.to_string(),
    )];
    if let Some(redrive) = redrive {
        attributes.push((QueueAttributeName::RedrivePolicy, redrive));
    }
    let url = match client.get_queue_url().queue_name(name).send().await {
        Ok(output) => output.queue_url,
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_queue_does_not_exist()) =>
        {
            None
        }
        Err(err) => return Err(Error::aws("GetQueueUrl", err)),
    };
    if let Some(url) = url {
        client
            .set_queue_attributes()
            .queue_url(&url)
            .set_attributes(Some(attributes.into_iter().collect()))
            .send()
            .await
            .map_err(|e| Error::aws("SetQueueAttributes", e))?;
        return Ok((url, false));
    }
    let url = client
        .create_queue()
        .queue_name(name)
        .set_attributes(Some(attributes.into_iter().collect()))
        .send()
        .await
        .map_err(|e| Error::aws("CreateQueue", e))?
        .queue_url
        .ok_or_else(|| Error::Corrupt(format!("CreateQueue {name} returned no URL")))?;
    Ok((url, true))
}

async fn queue_arn(client: &aws_sdk_sqs::Client, url: &str) -> Result<String> {
    client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| Error::aws("GetQueueAttributes", e))?
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .ok_or_else(|| Error::Corrupt(format!("queue {url} has no ARN")))
}

/// Creates the bucket unless it exists (in us-east-1, S3 answers a repeated
/// CreateBucket with success, so existence is checked first).
async fn create_bucket(client: &aws_sdk_s3::Client, bucket: &str) -> Result<bool> {
    if client.head_bucket().bucket(bucket).send().await.is_ok() {
        return Ok(false);
    }
    match client.create_bucket().bucket(bucket).send().await {
        Ok(_) => Ok(true),
        Err(err)
            if err.as_service_error().is_some_and(|e| {
                e.is_bucket_already_owned_by_you() || e.is_bucket_already_exists()
            }) =>
        {
            Ok(false)
        }
        Err(err) => Err(Error::aws("CreateBucket", err)),
    }
}
