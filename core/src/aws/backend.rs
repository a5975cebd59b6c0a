//! The real adapters assembled into a [`Backend`].

use std::sync::Arc;

use aws_config::SdkConfig;

use super::{AwsCalls, DynamoFleet, DynamoRegistry, DynamoTaskStore, S3Artifacts, SqsQueues};
use crate::backend::Backend;
use crate::config::ResourceNames;

/// The real adapters (DynamoDB, SQS, S3) for the named resources.
pub fn backend(aws: &SdkConfig, names: ResourceNames) -> Backend {
    let calls = AwsCalls::default();
    let dynamo = calls.dynamo(aws);
    let store = Arc::new(DynamoTaskStore::new(
        dynamo.clone(),
        &names.tasks_table,
        names.retention_days,
    ));
    Backend {
        store: store.clone(),
        sets: store.clone(),
        concurrency: store,
        queues: Arc::new(SqsQueues::new(calls.sqs(aws), &names.queue_prefix)),
        artifacts: Arc::new(S3Artifacts::new(calls.s3(aws), &names.bucket)),
        fleet: Arc::new(DynamoFleet::new(dynamo.clone(), &names.workers_table)),
        registry: Arc::new(DynamoRegistry::new(dynamo, &names.functions_table)),
        names,
        calls,
    }
}
