//! `wharf admin provision`: creates every table, queue (with its dead-letter
//! queue and redrive) and the bucket. Safe to run again: what exists is kept.

use aws_config::SdkConfig;
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, ExpirationStatus,
    LifecycleExpiration, LifecycleRule, LifecycleRuleFilter, PublicAccessBlockConfiguration,
    ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
    ServerSideEncryptionRule,
};
use aws_sdk_sqs::types::QueueAttributeName;

use crate::aws::{s3_client, TASK_INDEXES, TTL_ATTRIBUTE};
use crate::config::ResourceNames;
use crate::error::{Error, Result};

mod tables;

use tables::create_table;

// These settings are mirrored by infra/template.yaml and
// localstack/init/ready.d/10-wharf.sh; core/tests/consistency.rs fails when
// the three disagree.

/// SQS moves a message to the DLQ after this many receives.
pub const MAX_RECEIVE_COUNT: u32 = 10;
/// The queues' default visibility timeout; workers set their own on receive.
pub const QUEUE_VISIBILITY_SECONDS: u32 = 60;
/// How long SQS keeps a message: 4 days in a task queue, 14 in a DLQ.
pub const QUEUE_RETENTION_SECONDS: u32 = 4 * 24 * 3600;
pub const DLQ_RETENTION_SECONDS: u32 = 14 * 24 * 3600;
/// The bucket's lifecycle rule expiring task artifacts.
pub const LIFECYCLE_RULE_ID: &str = "expire-task-artifacts";

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
    for (table, key, indexes, ttl) in [
        (&names.tasks_table, "id", &TASK_INDEXES[..], true),
        (&names.workers_table, "id", &[][..], true),
        (&names.functions_table, "name", &[][..], false),
    ] {
        let created = create_table(&dynamo, table, key, indexes).await?;
        if ttl {
            enable_ttl(&dynamo, table).await?;
        }
        report.push(Provisioned {
            kind: "table",
            name: table.clone(),
            created,
        });
    }
    let sqs = aws_sdk_sqs::Client::new(aws);
    for queue in names.provisioned_queues() {
        let main = format!("{}{queue}", names.queue_prefix);
        let dlq = format!("{main}-dlq");
        let (dlq_url, dlq_created) = create_queue(&sqs, &dlq, DLQ_RETENTION_SECONDS, None).await?;
        let dlq_arn = queue_arn(&sqs, &dlq_url).await?;
        let redrive = serde_json::json!({
            "deadLetterTargetArn": dlq_arn,
            "maxReceiveCount": MAX_RECEIVE_COUNT.to_string(),
        })
        .to_string();
        let (_, main_created) =
            create_queue(&sqs, &main, QUEUE_RETENTION_SECONDS, Some(redrive)).await?;
        for (name, created) in [(dlq, dlq_created), (main, main_created)] {
            report.push(Provisioned {
                kind: "queue",
                name,
                created,
            });
        }
    }
    let s3 = s3_client(aws);
    let created = create_bucket(&s3, &names.bucket).await?;
    configure_bucket(&s3, &names.bucket, names.retention_days).await?;
    report.push(Provisioned {
        kind: "bucket",
        name: names.bucket.clone(),
        created,
    });
    Ok(report)
}

/// Creates a queue, or updates its attributes when it exists already (SQS's
/// CreateQueue is idempotent only for identical attributes). Returns its URL
/// and whether it was created.
async fn create_queue(
    client: &aws_sdk_sqs::Client,
    name: &str,
    retention_seconds: u32,
    redrive: Option<String>,
) -> Result<(String, bool)> {
    let mut attributes = vec![
        (
            QueueAttributeName::VisibilityTimeout,
            QUEUE_VISIBILITY_SECONDS.to_string(),
        ),
        (
            QueueAttributeName::MessageRetentionPeriod,
            retention_seconds.to_string(),
        ),
    ];
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

async fn enable_ttl(client: &aws_sdk_dynamodb::Client, table: &str) -> Result<()> {
    use aws_sdk_dynamodb::types::{TimeToLiveSpecification, TimeToLiveStatus};
    let current = client
        .describe_time_to_live()
        .table_name(table)
        .send()
        .await
        .map_err(|e| Error::aws("DescribeTimeToLive", e))?;
    let status = current
        .time_to_live_description()
        .and_then(|d| d.time_to_live_status());
    if matches!(
        status,
        Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
    ) {
        return Ok(());
    }
    let spec = TimeToLiveSpecification::builder()
        .attribute_name(TTL_ATTRIBUTE)
        .enabled(true)
        .build()
        .map_err(|e| Error::request("UpdateTimeToLive", e))?;
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(spec)
        .send()
        .await
        .map_err(|e| Error::aws("UpdateTimeToLive", e))?;
    Ok(())
}

/// Encryption at rest (SSE-S3), no public access, and task artifacts
/// expiring after `retention_days` (unfinished multipart uploads after one).
async fn configure_bucket(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    retention_days: u32,
) -> Result<()> {
    encrypt_bucket(client, bucket).await?;
    client
        .put_public_access_block()
        .bucket(bucket)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(true)
                .block_public_policy(true)
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .map_err(|e| Error::aws("PutPublicAccessBlock", e))?;
    expire_artifacts(client, bucket, retention_days).await
}

/// SSE-S3 (AES-256) by default for every object.
async fn encrypt_bucket(client: &aws_sdk_s3::Client, bucket: &str) -> Result<()> {
    let by_default = ServerSideEncryptionByDefault::builder()
        .sse_algorithm(ServerSideEncryption::Aes256)
        .build()
        .map_err(|e| Error::request("PutBucketEncryption", e))?;
    let encryption = ServerSideEncryptionConfiguration::builder()
        .rules(
            ServerSideEncryptionRule::builder()
                .apply_server_side_encryption_by_default(by_default)
                .build(),
        )
        .build()
        .map_err(|e| Error::request("PutBucketEncryption", e))?;
    client
        .put_bucket_encryption()
        .bucket(bucket)
        .server_side_encryption_configuration(encryption)
        .send()
        .await
        .map_err(|e| Error::aws("PutBucketEncryption", e))?;
    Ok(())
}

/// Task artifacts expire with their records; unfinished multipart uploads
/// after a day.
async fn expire_artifacts(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    retention_days: u32,
) -> Result<()> {
    let rule = LifecycleRule::builder()
        .id(LIFECYCLE_RULE_ID)
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix("tasks/").build())
        .expiration(
            LifecycleExpiration::builder()
                .days(retention_days as i32)
                .build(),
        )
        .abort_incomplete_multipart_upload(
            AbortIncompleteMultipartUpload::builder()
                .days_after_initiation(1)
                .build(),
        )
        .build()
        .map_err(|e| Error::request("PutBucketLifecycleConfiguration", e))?;
    let lifecycle = BucketLifecycleConfiguration::builder()
        .rules(rule)
        .build()
        .map_err(|e| Error::request("PutBucketLifecycleConfiguration", e))?;
    client
        .put_bucket_lifecycle_configuration()
        .bucket(bucket)
        .lifecycle_configuration(lifecycle)
        .send()
        .await
        .map_err(|e| Error::aws("PutBucketLifecycleConfiguration", e))?;
    Ok(())
}
