//! The sweep: containers of this host and deployment whose attempt no longer
//! holds its task (the worker crashed, the lease passed, the task finished)
//! are removed, at start-up and then every lease period.
//!
//! Three rules keep it off live attempts. It sweeps only its own deployment
//! (tasks table, region and AWS endpoint: two local stacks on one engine use
//! the same table names). A container of this very worker is decided by what
//! the worker runs now, never by the record: the executor removes its own
//! containers, and a renewal that is late (an AWS hiccup) must not kill a
//! task whose fence still holds. Another worker's container goes once its
//! attempt lost the task, or its lease has been over for a whole lease
//! period (a late renewal is not a dead worker).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bollard::errors::Error as DockerError;
use bollard::query_parameters::{ListContainersOptionsBuilder, RemoveContainerOptionsBuilder};
use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;
use wharf_core::lifecycle::{hold, Hold};
use wharf_core::model::{Fence, Task};
use wharf_core::store::TaskStore;

use super::{ContainerHost, LABEL_ATTEMPT, LABEL_DEPLOYMENT, LABEL_HOST, LABEL_TASK, LABEL_WORKER};
use crate::fleet::HostState;

/// The sweep of one worker.
pub struct Sweeper {
    pub containers: ContainerHost,
    pub store: Arc<dyn TaskStore>,
    /// This worker's id, and what it runs now.
    pub worker_id: String,
    pub running: HostState,
    /// The lease period: how often it sweeps, and how long past its lease
    /// another worker's attempt is still given.
    pub lease: Duration,
}

/// What the sweep does with one container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    Keep,
    Remove,
    /// Another worker's: the task's record decides ([`held`]).
    ByRecord,
}

/// One container of this host and deployment, as its labels tell.
struct Labelled {
    id: String,
    task_id: String,
    fence: Fence,
}

impl Sweeper {
    /// Sweeps every lease period until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            if let Err(err) = self.sweep().await {
                tracing::warn!(error = %err, "container sweep failed; will retry");
            }
            tokio::select! {
                _ = tokio::time::sleep(self.lease) => {}
                _ = shutdown.cancelled() => return,
            }
        }
    }

    /// Removes the containers whose attempt no longer holds its task.
    /// Returns how many were removed.
    pub async fn sweep(&self) -> Result<usize, DockerError> {
        let mut removed = 0;
        for container in self.list().await? {
            if self.keeps(&container).await {
                continue;
            }
            let options = RemoveContainerOptionsBuilder::default().force(true).build();
            let docker = &self.containers.docker;
            match docker.remove_container(&container.id, Some(options)).await {
                Ok(()) => {
                    tracing::info!(container = %container.id, task_id = %container.task_id, "removed a leftover container");
                    removed += 1;
                }
                Err(err) => {
                    tracing::warn!(container = %container.id, error = %err, "cannot remove a leftover container")
                }
            }
        }
        Ok(removed)
    }

    async fn list(&self) -> Result<Vec<Labelled>, DockerError> {
        let filters = HashMap::from([(
            "label".to_owned(),
            vec![
                format!("{LABEL_HOST}={}", self.containers.host),
                format!("{LABEL_DEPLOYMENT}={}", self.containers.deployment),
            ],
        )]);
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let listed = self
            .containers
            .docker
            .list_containers(Some(options))
            .await?;
        Ok(listed.into_iter().filter_map(Labelled::of).collect())
    }

    /// Whether `container` stays. When the store cannot tell, it stays
    /// until the next sweep.
    async fn keeps(&self, container: &Labelled) -> bool {
        let runs_here = |attempt| self.running.runs(&container.task_id, attempt);
        match decide(&container.fence, &self.worker_id, runs_here) {
            Decision::Keep => true,
            Decision::Remove => false,
            Decision::ByRecord => match self.store.get(&container.task_id).await {
                Ok(record) => {
                    let grace = chrono::Duration::from_std(self.lease).unwrap_or_default();
                    let task = record.map(|r| r.task);
                    held(task.as_ref(), &container.fence, Utc::now() - grace)
                }
                Err(_) => true,
            },
        }
    }
}

/// The container of attempt `fence`, swept by worker `worker_id`: its own
/// stays exactly while that attempt runs here (`runs_here`).
fn decide(fence: &Fence, worker_id: &str, runs_here: impl Fn(u32) -> bool) -> Decision {
    match (fence.worker_id == worker_id, runs_here(fence.attempt)) {
        (true, true) => Decision::Keep,
        (true, false) => Decision::Remove,
        (false, _) => Decision::ByRecord,
    }
}

/// Whether the attempt `fence` holds its task with a lease live at `at`, by
/// the task's `record` (`None`: there is none).
fn held(record: Option<&Task>, fence: &Fence, at: DateTime<Utc>) -> bool {
    hold(record, fence) == Hold::Held && record.is_some_and(|task| task.lease_live(at))
}

impl Labelled {
    fn of(container: bollard::models::ContainerSummary) -> Option<Labelled> {
        let labels = container.labels?;
        Some(Labelled {
            id: container.id?,
            task_id: labels.get(LABEL_TASK)?.clone(),
            fence: Fence {
                worker_id: labels.get(LABEL_WORKER)?.clone(),
                attempt: labels.get(LABEL_ATTEMPT)?.parse().ok()?,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use wharf_core::lifecycle::{cancel, claimed, renewed};
    use wharf_core::model::{ProcessSpec, TaskSpec};

    use super::*;

    const LEASE: Duration = Duration::seconds(6);

    fn fence(worker: &str, attempt: u32) -> Fence {
        Fence {
            worker_id: worker.to_owned(),
            attempt,
        }
    }

    /// A task claimed by `w1` and renewed `renewals` times a second apart,
    /// as the lease keeper writes it, read back as the store holds it
    /// (JSON), with the time of its last renewal.
    fn renewed_record(renewals: i64) -> (Task, DateTime<Utc>) {
        let start = Utc::now();
        let spec = TaskSpec::Process(ProcessSpec {
            command: vec!["sleep".into(), "45".into()],
            ..Default::default()
        });
        let queued = Task::queued("01-task".to_owned(), spec, start);
        let mut task = claimed(&queued, "w1", 1, start, start + LEASE);
        let mut last = start;
        for i in 1..=renewals {
            last = start + Duration::seconds(i);
            task = renewed(&task, last + LEASE, last);
        }
        let stored = serde_json::to_string(&task).unwrap();
        (serde_json::from_str(&stored).unwrap(), last)
    }

    #[test]
    fn a_renewed_attempt_holds_its_task_across_many_lease_periods() {
        // 45 renewals, a second apart, with a lease of 6: many periods.
        let (record, last) = renewed_record(45);
        let now = last + Duration::milliseconds(500);
        assert!(held(Some(&record), &fence("w1", 1), now));
    }

    #[test]
    fn an_attempt_whose_lease_passed_no_longer_holds() {
        let (record, last) = renewed_record(3);
        assert!(!held(Some(&record), &fence("w1", 1), last + LEASE));
    }

    #[test]
    fn another_attempt_or_worker_or_no_record_does_not_hold() {
        let (record, last) = renewed_record(3);
        let now = last + Duration::seconds(1);
        assert!(!held(Some(&record), &fence("w1", 2), now));
        assert!(!held(Some(&record), &fence("w2", 1), now));
        assert!(!held(None, &fence("w1", 1), now));
    }

    #[test]
    fn this_workers_own_container_stays_exactly_while_its_attempt_runs_here() {
        let running_attempt_2 = |attempt| attempt == 2;
        // Whatever the record says (a late renewal, a lease passed): the
        // record is not asked.
        assert_eq!(
            decide(&fence("w1", 2), "w1", running_attempt_2),
            Decision::Keep
        );
        // An earlier attempt of a task that runs here again is a leftover.
        assert_eq!(
            decide(&fence("w1", 1), "w1", running_attempt_2),
            Decision::Remove
        );
        assert_eq!(decide(&fence("w1", 1), "w1", |_| false), Decision::Remove);
        assert_eq!(
            decide(&fence("w0", 2), "w1", running_attempt_2),
            Decision::ByRecord
        );
    }

    #[test]
    fn a_cancelled_attempt_no_longer_holds() {
        let (record, last) = renewed_record(3);
        let cancelled = cancel(&record, last).unwrap();
        assert!(!held(Some(&cancelled), &fence("w1", 1), last));
    }
}
