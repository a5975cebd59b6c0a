//! The adapters every Wharf service uses, behind their seams, built
//! once in `main` and shared (cheap to clone). The real ones are built by
//! [`crate::aws::backend`]; tests build one of fakes.

use std::sync::Arc;

use crate::artifacts::Artifacts;
use crate::aws::AwsCalls;
use crate::concurrency::ConcurrencyStore;
use crate::config::ResourceNames;
use crate::fleet::Fleet;
use crate::flow::Flow;
use crate::queue::Queue;
use crate::registry::Registry;
use crate::sets::SetStore;
use crate::store::TaskStore;
use crate::submit::Seams;

#[derive(Clone)]
pub struct Backend {
    pub store: Arc<dyn TaskStore>,
    /// Task sets' member records (beside the tasks, in the same table).
    pub sets: Arc<dyn SetStore>,
    /// Concurrency keys' places (beside the tasks, in the same table).
    pub concurrency: Arc<dyn ConcurrencyStore>,
    pub queues: Arc<dyn Queue>,
    pub artifacts: Arc<dyn Artifacts>,
    pub fleet: Arc<dyn Fleet>,
    pub registry: Arc<dyn Registry>,
    pub names: ResourceNames,
    /// The AWS calls made through these adapters (none for fakes).
    pub calls: AwsCalls,
}

impl Backend {
    /// The stores dependencies are settled through.
    pub fn flow(&self) -> Flow<'_> {
        Flow {
            store: &*self.store,
            queues: &*self.queues,
        }
    }

    /// The seams a submission (or a set's sync) writes to.
    pub fn submission(&self) -> Seams<'_> {
        Seams {
            store: &*self.store,
            queues: &*self.queues,
            artifacts: &*self.artifacts,
        }
    }
}
