//! The sweep: containers of this host and deployment whose attempt no longer holds its task
//! (the worker crashed, the lease passed, the task finished) are removed, at
//! start-up and then every lease period.

use std::collections::HashMap;
use std::time::Duration;

use bollard::errors::Error as DockerError;
use bollard::query_parameters::{ListContainersOptionsBuilder, RemoveContainerOptionsBuilder};
use tokio_util::sync::CancellationToken;
use wharf_core::lifecycle::{hold, Hold};
use wharf_core::model::Fence;
use wharf_core::store::TaskStore;

use super::{
    ContainerHost, LABEL_ATTEMPT, LABEL_HOST, LABEL_TASK, LABEL_TASKS_TABLE, LABEL_WORKER,
};

/// Sweeps every `every` until `shutdown`.
pub async fn sweep_every(
    host: ContainerHost,
    store: std::sync::Arc<dyn TaskStore>,
    every: Duration,
    shutdown: CancellationToken,
) {
    loop {
        if let Err(err) = host.sweep(store.as_ref()).await {
            tracing::warn!(error = %err, "container sweep failed; will retry");
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

impl ContainerHost {
    /// Removes containers of this host whose attempt no longer holds its
    /// task (the worker crashed, the lease passed, the task finished).
    /// Returns how many were removed.
    pub async fn sweep(&self, store: &dyn TaskStore) -> Result<usize, DockerError> {
        let filters = HashMap::from([(
            "label".to_owned(),
            vec![
                format!("{LABEL_HOST}={}", self.host),
                format!("{LABEL_TASKS_TABLE}={}", self.tasks_table),
            ],
        )]);
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let mut removed = 0;
        for container in self.docker.list_containers(Some(options)).await? {
            let labels = container.labels.unwrap_or_default();
            let (Some(task_id), Some(fence)) = (labels.get(LABEL_TASK), fence_of(&labels)) else {
                continue;
            };
            if self.still_held(store, task_id, &fence).await {
                continue;
            }
            let Some(id) = container.id else { continue };
            let options = RemoveContainerOptionsBuilder::default().force(true).build();
            match self.docker.remove_container(&id, Some(options)).await {
                Ok(()) => {
                    tracing::info!(container = %id, task_id = %task_id, "removed a leftover container");
                    removed += 1;
                }
                Err(err) => {
                    tracing::warn!(container = %id, error = %err, "cannot remove a leftover container")
                }
            }
        }
        Ok(removed)
    }

    /// Whether the container's attempt still holds its task under a live
    /// lease; when the store cannot tell, it is left for the next sweep.
    async fn still_held(&self, store: &dyn TaskStore, task_id: &str, fence: &Fence) -> bool {
        match store.get(task_id).await {
            Ok(current) => {
                let task = current.map(|current| current.task);
                hold(task.as_ref(), fence) == Hold::Held
                    && task.is_some_and(|task| task.lease_live(chrono::Utc::now()))
            }
            Err(_) => true,
        }
    }
}

/// The attempt a container was started for, from its labels.
fn fence_of(labels: &HashMap<String, String>) -> Option<Fence> {
    Some(Fence {
        worker_id: labels.get(LABEL_WORKER)?.clone(),
        attempt: labels.get(LABEL_ATTEMPT)?.parse().ok()?,
    })
}
