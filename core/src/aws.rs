//! The real adapters: DynamoDB, SQS and S3 through the official SDK. AWS
//! access goes through `aws-config`'s standard chain (`AWS_REGION`,
//! credentials, profiles, `AWS_ENDPOINT_URL` for moto and LocalStack).

mod backend;
mod calls;
mod dynamo;
mod fleet;
mod registry;
mod s3;
mod sqs;

use aws_config::{BehaviorVersion, SdkConfig};

pub use backend::backend;
pub use calls::AwsCalls;
pub use dynamo::{DynamoTaskStore, TaskIndex, TASK_INDEXES, TTL_ATTRIBUTE};
pub use fleet::DynamoFleet;
pub use registry::DynamoRegistry;
pub use s3::{S3Artifacts, MULTIPART_PART_BYTES};
pub use sqs::SqsQueues;

/// Loads the AWS configuration from the standard chain.
pub async fn load_aws() -> SdkConfig {
    aws_config::load_defaults(BehaviorVersion::latest()).await
}

/// Names the deployment a tasks table belongs to: the table, its region and
/// the endpoint it is reached at (`aws` for AWS itself). Two local stacks on
/// one machine use the same table names; their endpoints tell them apart.
pub fn deployment(aws: &SdkConfig, tasks_table: &str) -> String {
    let region = aws.region().map_or("", |region| region.as_ref());
    let endpoint = aws.endpoint_url().unwrap_or("aws");
    format!("{tasks_table} {region} {endpoint}")
}

/// An S3 client. Path-style addressing is used whenever an endpoint URL is
/// configured (moto, LocalStack), since those serve buckets under one host.
pub fn s3_client(aws: &SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(s3_config(aws).build())
}

fn s3_config(aws: &SdkConfig) -> aws_sdk_s3::config::Builder {
    aws_sdk_s3::config::Builder::from(aws).force_path_style(aws.endpoint_url().is_some())
}
