//! The real adapters: DynamoDB, SQS and S3 through the official SDK. AWS
//! access goes through `aws-config`'s standard chain (`AWS_REGION`,
//! credentials, profiles, `AWS_ENDPOINT_URL` for moto and LocalStack).

mod dynamo;
mod functions;
mod s3;
mod sqs;
mod workers;

use aws_config::{BehaviorVersion, SdkConfig};

pub use dynamo::{DynamoTaskStore, TaskIndex, TASK_INDEXES, TTL_ATTRIBUTE};
pub use functions::DynamoRegistry;
pub use s3::{S3Artifacts, MULTIPART_PART_BYTES};
pub use sqs::SqsQueues;
pub use workers::DynamoFleet;

/// Loads the AWS configuration from the standard chain.
pub async fn load_aws() -> SdkConfig {
    aws_config::load_defaults(BehaviorVersion::latest()).await
}

/// An S3 client. Path-style addressing is used whenever an endpoint URL is
/// configured (moto, LocalStack), since those serve buckets under one host.
pub fn s3_client(aws: &SdkConfig) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(aws)
        .force_path_style(aws.endpoint_url().is_some())
        .build();
    aws_sdk_s3::Client::from_conf(config)
}
