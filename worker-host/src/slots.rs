//! The host's task slots and the attempts running in them. The poller and
//! the push endpoint both start attempts here, so a slot is held, an attempt
//! tracked for the drain and a run counted (`--max-tasks`) in one place.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use wharf_core::shutdown::{drain, Drained};

use crate::claim::Handled;
use crate::worker::Worker;

/// SQS hands out at most ten messages per receive.
pub const MAX_BATCH: usize = 10;

/// One free slot, held until dropped.
pub type Slot = OwnedSemaphorePermit;

pub struct Slots {
    pub worker: Worker,
    free: Arc<Semaphore>,
    tracker: TaskTracker,
    /// Cancelled when running attempts must stop at once (they are then
    /// released for other workers).
    pub stop_all: CancellationToken,
    ran: AtomicUsize,
}

impl Slots {
    /// As many slots as the worker's `concurrency`.
    pub fn new(worker: Worker) -> Arc<Slots> {
        Arc::new(Slots {
            free: Arc::new(Semaphore::new(worker.config.concurrency)),
            tracker: TaskTracker::new(),
            worker,
            stop_all: CancellationToken::new(),
            ran: AtomicUsize::new(0),
        })
    }

    /// A free slot now, if there is one.
    pub fn try_take(&self) -> Option<Slot> {
        self.free.clone().try_acquire_owned().ok()
    }

    /// Waits for one free slot, then takes whatever others are free (up to
    /// a batch).
    pub async fn take_free(&self) -> Vec<Slot> {
        let first = self
            .free
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let mut taken = vec![first];
        while taken.len() < MAX_BATCH {
            match self.try_take() {
                Some(slot) => taken.push(slot),
                None => break,
            }
        }
        taken
    }

    /// Runs `work` in `slot`, tracked until it ends; counts it when it ran
    /// an attempt (after `max_tasks` of them the host takes no more).
    pub fn start<F, Fut>(self: &Arc<Self>, slot: Slot, work: F)
    where
        F: FnOnce(Arc<Slots>) -> Fut,
        Fut: Future<Output = Handled> + Send + 'static,
    {
        let running = work(self.clone());
        let slots = self.clone();
        self.tracker.spawn(async move {
            if running.await == Handled::Ran {
                slots.ran_one();
            }
            drop(slot);
        });
    }

    fn ran_one(&self) {
        let count = self.ran.fetch_add(1, Ordering::SeqCst) + 1;
        if self.worker.config.max_tasks.is_some_and(|max| count >= max) {
            self.worker.host.not_taking().cancel();
        }
    }

    /// How many attempts ran.
    pub fn tasks_run(&self) -> usize {
        self.ran.load(Ordering::SeqCst)
    }

    /// Whether nothing runs now.
    pub fn idle(&self) -> bool {
        self.tracker.is_empty()
    }

    /// Lets running attempts finish within `grace`, then stops them (they
    /// are released) and waits until every one has ended.
    pub async fn drain(&self, grace: Duration) {
        if drain(&self.tracker, grace).await == Drained::GraceOver {
            tracing::warn!("stopping and releasing running tasks");
            self.stop_all.cancel();
            self.tracker.wait().await;
        }
    }
}
