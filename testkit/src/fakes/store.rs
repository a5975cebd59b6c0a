//! The task store in memory: versioned records, conditional replaces, and
//! name and idempotency-key reservations made with the record.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use wharf_core::concurrency::{ConcurrencyStore, Places};
use wharf_core::listing::{TaskPage, TaskQuery};
use wharf_core::model::Task;
use wharf_core::sets::{Members, SetStore};
use wharf_core::store::{reservations, taken, CreateError, Replaced, TaskStore, Versioned};
use wharf_core::{Error, Result};

#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    tasks: HashMap<String, Versioned>,
    /// `name#…` and `idem#…` → task id.
    reservations: HashMap<String, String>,
    /// Task sets: their members and version.
    sets: HashMap<String, (Members, u64)>,
    /// Concurrency keys: their places and version.
    places: HashMap<String, (Places, u64)>,
}

/// Stores `value` under `key` if it is still at version `read` (`None`:
/// if there is none).
fn put_versioned<T: Clone>(
    records: &mut HashMap<String, (T, u64)>,
    key: &str,
    value: &T,
    read: Option<u64>,
) -> Result<()> {
    let stored = records.get(key).map(|(_, version)| *version);
    if stored != read {
        return Err(Error::Conflict(format!("{key:?} changed")));
    }
    let version = read.unwrap_or(0) + 1;
    records.insert(key.to_owned(), (value.clone(), version));
    Ok(())
}

impl MemoryStore {
    /// Every record, as stored.
    pub fn tasks(&self) -> Vec<Task> {
        let state = self.state.lock().unwrap();
        state.tasks.values().map(|v| v.task.clone()).collect()
    }
}

#[async_trait]
impl TaskStore for MemoryStore {
    async fn create(&self, task: &Task) -> Result<(), CreateError> {
        let mut state = self.state.lock().unwrap();
        let keys = reservations(task);
        for key in &keys {
            let Some(existing_id) = state.reservations.get(key).cloned() else {
                continue;
            };
            // A reservation whose task is gone is taken over.
            if state.tasks.contains_key(&existing_id) {
                return Err(taken(task, key, existing_id));
            }
        }
        if state.tasks.contains_key(&task.id) {
            return Err(Error::Conflict(format!("task {} exists already", task.id)).into());
        }
        for key in keys {
            state.reservations.insert(key, task.id.clone());
        }
        let versioned = Versioned {
            task: task.clone(),
            version: 1,
        };
        state.tasks.insert(task.id.clone(), versioned);
        Ok(())
    }

    async fn delete(&self, task: &Task) -> Result<()> {
        let mut state = self.state.lock().unwrap();
        state.tasks.remove(&task.id);
        for key in reservations(task) {
            state.reservations.remove(&key);
        }
        Ok(())
    }

    async fn get(&self, id: &str) -> Result<Option<Versioned>> {
        Ok(self.state.lock().unwrap().tasks.get(id).cloned())
    }

    /// Reads every record, as DynamoDB's indexes would, but with no page
    /// budget: a page is full, or the last.
    async fn list(&self, query: &TaskQuery) -> Result<TaskPage> {
        let state = self.state.lock().unwrap();
        let mut tasks: Vec<&Task> = state
            .tasks
            .values()
            .map(|v| &v.task)
            .filter(|task| query.before.as_ref().is_none_or(|before| &task.id < before))
            .filter(|task| query.filter.matches(task))
            .collect();
        tasks.sort_by(|a, b| b.id.cmp(&a.id));
        let more = tasks.len() > query.limit;
        let tasks: Vec<Task> = tasks.into_iter().take(query.limit).cloned().collect();
        let next = more
            .then(|| tasks.last().map(|task| task.id.clone()))
            .flatten();
        Ok(TaskPage { tasks, next })
    }

    async fn replace(&self, current: &Versioned, next: Task) -> Result<Replaced> {
        let mut state = self.state.lock().unwrap();
        let stored = state.tasks.get(&next.id);
        if stored != Some(current) {
            return Ok(Replaced::Stale(stored.cloned()));
        }
        let written = Versioned {
            task: next,
            version: current.version + 1,
        };
        state.tasks.insert(written.task.id.clone(), written.clone());
        Ok(Replaced::Written(written))
    }
}

#[async_trait]
impl SetStore for MemoryStore {
    async fn members(&self, set: &str) -> Result<Option<(Members, u64)>> {
        Ok(self.state.lock().unwrap().sets.get(set).cloned())
    }

    async fn put_members(&self, set: &str, members: &Members, read: Option<u64>) -> Result<()> {
        put_versioned(&mut self.state.lock().unwrap().sets, set, members, read)
    }
}

#[async_trait]
impl ConcurrencyStore for MemoryStore {
    async fn places(&self, key: &str) -> Result<Option<(Places, u64)>> {
        Ok(self.state.lock().unwrap().places.get(key).cloned())
    }

    async fn put_places(&self, key: &str, places: &Places, read: Option<u64>) -> Result<()> {
        put_versioned(&mut self.state.lock().unwrap().places, key, places, read)
    }
}
