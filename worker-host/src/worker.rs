//! The worker: its backend (task store, queues, artifacts), its settings and
//! its executors, and the two things every step does with a message.

use std::sync::Arc;
use std::time::Duration;

use wharf_core::queue::Received;
use wharf_core::Backend;

use crate::batching::BatchingQueue;
use crate::config::WorkerConfig;
use crate::executor::Execute;
use crate::fleet::HostState;
use crate::secrets::SecretSource;

pub struct Worker {
    pub backend: Backend,
    pub config: WorkerConfig,
    pub executors: Arc<dyn Execute>,
    /// What the host is doing, shared with its registration and HTTP.
    pub host: HostState,
    /// Where tasks' secrets are read; without one, a task naming secrets
    /// fails to start.
    pub secrets: Option<Arc<dyn SecretSource>>,
}

impl Worker {
    /// A worker whose message deletes and visibility changes are batched
    /// ([`BatchingQueue`]); starts the batching in the background.
    pub fn new(
        mut backend: Backend,
        config: WorkerConfig,
        executors: Arc<dyn Execute>,
        host: HostState,
    ) -> Worker {
        backend.queues = Arc::new(BatchingQueue::start(backend.queues));
        Worker {
            backend,
            config,
            executors,
            host,
            secrets: None,
        }
    }

    /// This worker reads tasks' secrets from `source`.
    pub fn with_secrets(self, source: Arc<dyn SecretSource>) -> Worker {
        Worker {
            secrets: Some(source),
            ..self
        }
    }

    /// Deletes a message whose work is done. A failure is only logged: the
    /// message comes back and is recognised as done.
    pub(crate) async fn delete(&self, message: &Received) {
        if let Err(err) = self.backend.queues.delete(message).await {
            tracing::warn!(error = %err, "cannot delete the message; it will be redelivered and recognised as done");
        }
    }

    /// Hides a message for `visibility` from now (zero: visible at once).
    pub(crate) async fn set_visibility(&self, message: &Received, visibility: Duration) {
        if let Err(err) = self
            .backend
            .queues
            .set_visibility(message, visibility)
            .await
        {
            tracing::warn!(error = %err, "cannot change the message's visibility");
        }
    }
}
