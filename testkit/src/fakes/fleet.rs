//! The worker registry in memory: reports by worker id, and commands left
//! for them.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use wharf_core::fleet::{Command, Fleet, Registered, WorkerReport};
use wharf_core::Result;

#[derive(Default)]
pub struct MemoryFleet {
    workers: Mutex<BTreeMap<String, Registered>>,
}

#[async_trait]
impl Fleet for MemoryFleet {
    async fn heartbeat(&self, report: &WorkerReport) -> Result<Option<Command>> {
        let mut workers = self.workers.lock().unwrap();
        let worker = workers
            .entry(report.id.clone())
            .or_insert_with(|| Registered {
                report: report.clone(),
                command: None,
            });
        worker.report = report.clone();
        Ok(worker.command)
    }

    async fn deregister(&self, worker_id: &str) -> Result<()> {
        self.workers.lock().unwrap().remove(worker_id);
        Ok(())
    }

    async fn get(&self, worker_id: &str) -> Result<Option<Registered>> {
        Ok(self.workers.lock().unwrap().get(worker_id).cloned())
    }

    async fn list(&self) -> Result<Vec<Registered>> {
        Ok(self.workers.lock().unwrap().values().cloned().collect())
    }

    async fn command(&self, worker_id: &str, command: Command) -> Result<bool> {
        let mut workers = self.workers.lock().unwrap();
        let worker = workers.get_mut(worker_id);
        Ok(worker.map(|w| w.command = Some(command)).is_some())
    }
}
