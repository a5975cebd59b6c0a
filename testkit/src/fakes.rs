//! In-memory fakes of the storage seams. Each keeps real state and
//! behaves as its AWS adapter does where Wharf relies on it: versioned
//! conditional writes and reservations (DynamoDB), visibility timeouts,
//! receive counts and redrive to the dead-letter queue (SQS), byte ranges
//! (S3). Time is tokio's, so tests may pause it.

mod artifacts;
mod fleet;
mod queue;
mod registry;
mod store;

use std::sync::Arc;

use wharf_core::aws::AwsCalls;
use wharf_core::config::ResourceNames;
use wharf_core::Backend;

pub use artifacts::MemoryArtifacts;
pub use fleet::MemoryFleet;
pub use queue::MemoryQueues;
pub use registry::MemoryRegistry;
pub use store::MemoryStore;

/// A backend of fakes, with the concrete fakes kept for inspection.
pub struct Fakes {
    pub store: Arc<MemoryStore>,
    pub queues: Arc<MemoryQueues>,
    pub artifacts: Arc<MemoryArtifacts>,
    pub fleet: Arc<MemoryFleet>,
    pub backend: Backend,
}

impl Fakes {
    pub fn new() -> Fakes {
        let store = Arc::new(MemoryStore::default());
        let queues = Arc::new(MemoryQueues::default());
        let artifacts = Arc::new(MemoryArtifacts::default());
        let fleet = Arc::new(MemoryFleet::default());
        let backend = Backend {
            store: store.clone(),
            sets: store.clone(),
            concurrency: store.clone(),
            queues: queues.clone(),
            artifacts: artifacts.clone(),
            fleet: fleet.clone(),
            registry: Arc::new(MemoryRegistry::default()),
            names: ResourceNames::with_prefix("fake-"),
            calls: AwsCalls::default(),
        };
        Fakes {
            store,
            queues,
            artifacts,
            fleet,
            backend,
        }
    }
}

impl Default for Fakes {
    fn default() -> Self {
        Fakes::new()
    }
}
