//! The record an attempt last wrote, shared by its lease keeper and its end.
//! Each fenced write is computed from it and conditional on it, so an
//! attempt reads its task only when somebody else wrote it (a cancel, a
//! takeover): the write then answers the stored record.

use std::sync::{Arc, Mutex};

use wharf_core::lifecycle::{hold, Hold};
use wharf_core::model::{Fence, Task};
use wharf_core::store::{ChangeTask, TaskStore, Versioned};
use wharf_core::Result;

pub struct Held {
    store: Arc<dyn TaskStore>,
    pub fence: Fence,
    known: Mutex<Versioned>,
}

impl Held {
    /// The task as this attempt (`fence`) claimed it.
    pub fn new(store: Arc<dyn TaskStore>, fence: Fence, claimed: Versioned) -> Held {
        Held {
            store,
            fence,
            known: Mutex::new(claimed),
        }
    }

    fn known(&self) -> Versioned {
        self.known.lock().expect("never poisoned").clone()
    }

    /// Applies `change` while the fence holds; fails with
    /// [`wharf_core::Error::Conflict`] once it does not.
    pub async fn update(&self, change: ChangeTask<'_>) -> Result<Task> {
        let written = self
            .store
            .update_fenced(self.known(), &self.fence, change)
            .await?;
        let task = written.task.clone();
        *self.known.lock().expect("never poisoned") = written;
        Ok(task)
    }

    /// Where the attempt stands with its task now (read from the store).
    pub async fn hold_now(&self) -> Result<Hold> {
        let current = self.store.get(&self.known().task.id).await?;
        Ok(hold(current.map(|c| c.task).as_ref(), &self.fence))
    }
}
