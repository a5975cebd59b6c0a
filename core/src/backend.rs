//! The adapters every Wharf service uses, behind their seams, built
//! once in `main` and shared (cheap to clone).

use std::sync::Arc;

use aws_config::SdkConfig;

use crate::artifacts::Artifacts;
use crate::aws::{AwsCalls, DynamoFleet, DynamoRegistry, DynamoTaskStore, S3Artifacts, SqsQueues};
use crate::config::ResourceNames;
use crate::fleet::Fleet;
use crate::queue::Queue;
use crate::registry::Registry;
use crate::sets::SetStore;
use crate::store::TaskStore;

#[derive(Clone)]
pub struct Backend {
    pub store: Arc<dyn TaskStore>,
    /// Task sets' member records (beside the tasks, in the same table).
    pub sets: Arc<dyn SetStore>,
    pub queues: Arc<dyn Queue>,
    pub artifacts: Arc<dyn Artifacts>,
    pub fleet: Arc<dyn Fleet>,
    pub registry: Arc<dyn Registry>,
    pub names: ResourceNames,
    /// The AWS calls made through these adapters (none for fakes).
    pub calls: AwsCalls,
}

impl Backend {
    /// The real adapters (DynamoDB, SQS, S3) for the named resources.
    pub fn aws(aws: &SdkConfig, names: ResourceNames) -> Self {
        let calls = AwsCalls::default();
        let dynamo = calls.dynamo(aws);
        let store = Arc::new(DynamoTaskStore::new(
            dynamo.clone(),
            &names.tasks_table,
            names.retention_days,
        ));
        Backend {
            store: store.clone(),
            sets: store,
            queues: Arc::new(SqsQueues::new(calls.sqs(aws), &names.queue_prefix)),
            artifacts: Arc::new(S3Artifacts::new(calls.s3(aws), &names.bucket)),
            fleet: Arc::new(DynamoFleet::new(dynamo.clone(), &names.workers_table)),
            registry: Arc::new(DynamoRegistry::new(dynamo, &names.functions_table)),
            names,
            calls,
        }
    }
}
