//! The host in the fleet: what it is doing ([`HostState`], shared with the
//! poller, the attempts and the local HTTP server) and its registration
//! ([`Registrar`]): a heartbeat every interval writes its report with
//! resources and reads back the operator's command, drain or revoke.

pub mod resources;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use clap::ValueEnum;
use tokio_util::sync::CancellationToken;
use wharf_core::fleet::{Command, Fleet, WorkerReport};
use wharf_core::model::ExecutorKind;

use crate::background::Background;
use crate::config::WorkerConfig;
use crate::executor::Execute;

/// What the host is doing, and whether it still takes tasks.
#[derive(Clone)]
pub struct HostState(Arc<Inner>);

struct Inner {
    /// The attempts running here, by task id and attempt.
    running: Mutex<BTreeSet<(String, u32)>>,
    /// Cancelled when the host takes no more tasks: on shutdown (it is the
    /// shutdown token's child), drain, revoke, or after `--max-tasks`.
    not_taking: CancellationToken,
    drained: AtomicBool,
    revoked: CancellationToken,
    registered: AtomicBool,
}

impl HostState {
    pub fn new(shutdown: &CancellationToken) -> HostState {
        HostState(Arc::new(Inner {
            running: Mutex::default(),
            not_taking: shutdown.child_token(),
            drained: AtomicBool::new(false),
            revoked: CancellationToken::new(),
            registered: AtomicBool::new(false),
        }))
    }

    /// Notes an attempt as running until the guard is dropped.
    pub fn running(&self, task_id: &str, attempt: u32) -> RunningGuard {
        let key = (task_id.to_owned(), attempt);
        let mut running = self.0.running.lock().unwrap();
        running.insert(key.clone());
        metrics::gauge!("wharf_busy_slots").set(running.len() as f64);
        RunningGuard {
            host: self.clone(),
            key,
        }
    }

    /// Whether attempt `attempt` of `task_id` runs on this host now.
    pub fn runs(&self, task_id: &str, attempt: u32) -> bool {
        let key = (task_id.to_owned(), attempt);
        self.0.running.lock().unwrap().contains(&key)
    }

    /// The ids of the tasks running here.
    pub fn running_tasks(&self) -> Vec<String> {
        let running = self.0.running.lock().unwrap();
        let ids: BTreeSet<&String> = running.iter().map(|(id, _)| id).collect();
        ids.into_iter().cloned().collect()
    }

    /// Cancelled once the host takes no more tasks.
    pub fn not_taking(&self) -> &CancellationToken {
        &self.0.not_taking
    }

    pub fn taking_tasks(&self) -> bool {
        !self.0.not_taking.is_cancelled()
    }

    /// Takes no more tasks; running ones finish.
    pub fn drain(&self) {
        self.0.drained.store(true, Ordering::SeqCst);
        self.0.not_taking.cancel();
    }

    pub fn is_drained(&self) -> bool {
        self.0.drained.load(Ordering::SeqCst)
    }

    /// Takes no more tasks and releases the running ones.
    pub fn revoke(&self) {
        self.0.revoked.cancel();
        self.0.not_taking.cancel();
    }

    pub fn revoked(&self) -> &CancellationToken {
        &self.0.revoked
    }

    pub fn is_registered(&self) -> bool {
        self.0.registered.load(Ordering::SeqCst)
    }
}

/// Removes its attempt from the running ones when dropped.
pub struct RunningGuard {
    host: HostState,
    key: (String, u32),
}

impl Drop for RunningGuard {
    fn drop(&mut self) {
        let mut running = self.host.0.running.lock().unwrap();
        running.remove(&self.key);
        metrics::gauge!("wharf_busy_slots").set(running.len() as f64);
    }
}

/// Registers the host, heartbeats, obeys commands, deregisters at the end.
pub struct Registrar {
    pub fleet: Arc<dyn Fleet>,
    pub config: WorkerConfig,
    pub host: HostState,
    /// Asked at each heartbeat which kinds it can run now.
    pub executors: Arc<dyn Execute>,
}

/// A registrar heartbeating beside the poller; stopping it removes the
/// host's record.
pub type Registration = Background<()>;

impl Registrar {
    pub fn start(self) -> Registration {
        Background::spawn(move |done| self.heartbeat_until(done))
    }

    async fn heartbeat_until(self, done: CancellationToken) {
        let started_at = Utc::now();
        loop {
            let report = self.report(started_at).await;
            match self.fleet.heartbeat(&report).await {
                Ok(command) => {
                    if !self.host.0.registered.swap(true, Ordering::SeqCst) {
                        tracing::info!("registered in the fleet");
                    }
                    self.obey(command);
                }
                Err(err) => tracing::warn!(error = %err, "heartbeat failed; retrying at the next"),
            }
            tokio::select! {
                _ = done.cancelled() => break,
                _ = tokio::time::sleep(self.config.heartbeat) => {}
            }
        }
        match self.fleet.deregister(&self.config.worker_id).await {
            Ok(()) => tracing::info!("deregistered from the fleet"),
            Err(err) => {
                tracing::warn!(error = %err, "cannot deregister; the record reads offline until it expires")
            }
        }
    }

    fn obey(&self, command: Option<Command>) {
        match command {
            Some(Command::Drain) if !self.host.is_drained() => {
                tracing::info!("drain requested: taking no more tasks");
                self.host.drain();
            }
            Some(Command::Revoke) if !self.host.revoked().is_cancelled() => {
                tracing::warn!("revoked: releasing running tasks and exiting");
                self.host.revoke();
            }
            _ => {}
        }
    }

    async fn report(&self, started_at: DateTime<Utc>) -> WorkerReport {
        let config = &self.config;
        let mut executors = Vec::new();
        for kind in ExecutorKind::value_variants() {
            if self.executors.can_run(*kind).await {
                executors.push(*kind);
            }
        }
        let running_tasks = self.host.running_tasks();
        let work_dir = config.work_dir.clone();
        let resources = tokio::task::spawn_blocking(move || resources::read(&work_dir))
            .await
            .unwrap_or_default();
        WorkerReport {
            id: config.worker_id.clone(),
            hostname: config.hostname.clone(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            labels: config.labels.clone(),
            queues: config.queues.clone(),
            executors,
            mode: config.mode.to_string(),
            slots: config.concurrency as u32,
            busy_slots: running_tasks.len() as u32,
            running_tasks,
            resources,
            heartbeat_secs: config.heartbeat.as_secs().max(1) as u32,
            started_at,
            heartbeat_at: Utc::now(),
            taking_tasks: self.host.taking_tasks(),
        }
    }
}

/// A label that is not `key=value`.
#[derive(Debug, thiserror::Error)]
#[error("label {0:?} is not key=value")]
pub struct LabelError(String);

/// Parses `k=v,…` labels.
pub fn parse_labels(text: &str) -> Result<BTreeMap<String, String>, LabelError> {
    text.split(',')
        .filter(|pair| !pair.trim().is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => {
                Ok((key.trim().to_owned(), value.trim().to_owned()))
            }
            _ => Err(LabelError(pair.to_owned())),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_key_value_pairs() {
        let labels = parse_labels(" gpu=a100, ,zone = b").unwrap();
        assert_eq!(labels["gpu"], "a100");
        assert_eq!(labels["zone"], "b");
        let err = parse_labels("gpu").unwrap_err().to_string();
        assert_eq!(err, "label \"gpu\" is not key=value");
    }
}
