//! Concurrency keys (SPEC §8.3): at most `limit` tasks with the same key
//! run at once, fleet-wide.
//!
//! A key's places live in one record ([`Places`]), every write conditional
//! on the version read. A worker takes a place before it claims a task and
//! holds it as long as the task's lease: the lease keeper renews both, so a
//! place of a worker that died lapses with its lease and is free again.
//! A task that finds every place taken joins the key's `waiting` list and
//! its message comes back later (a backstop); whoever gives a place back
//! wakes the first waiting task at once with a message of its own.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::TaskId;
use crate::validate::FieldError;

/// A key may have at most this many places.
pub const MAX_LIMIT: u32 = 1000;
/// At most this many tasks wait on a key's list (the record stays far
/// below DynamoDB's 400 KB); more wait on their messages' backstop alone.
pub const MAX_WAITING: usize = 1000;
const MAX_KEY_CHARS: usize = 128;
/// An array's `maxParallel` is the concurrency key of this prefix and its
/// id; no task may name such a key itself.
pub const ARRAY_KEY_PREFIX: &str = "array#";

/// `concurrency` on a task: its key and how many tasks of that key may run
/// at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Concurrency {
    pub key: String,
    pub limit: u32,
}

/// One place, held by a task's attempt on a worker until its lease ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Place {
    pub attempt: u32,
    pub worker: String,
    pub until: DateTime<Utc>,
}

/// Who holds a place: an attempt of a task, on a worker (two workers
/// delivered the same task never hold each other's place).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holder<'a> {
    pub task: &'a str,
    pub attempt: u32,
    pub worker: &'a str,
}

impl Holder<'_> {
    fn holds(&self, place: &Place) -> bool {
        place.attempt == self.attempt && place.worker == self.worker
    }
}

/// A task waiting for a place, and the queue its message goes to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waiter {
    pub task: TaskId,
    pub queue: String,
}

/// A key's record: who holds its places, and who waits for one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Places {
    pub held: BTreeMap<TaskId, Place>,
    pub waiting: Vec<Waiter>,
}

impl Places {
    /// The places whose holder's lease has not ended by `now`.
    pub fn live(&self, now: DateTime<Utc>) -> usize {
        self.held.values().filter(|place| place.until > now).count()
    }
}

/// Where keys' places are kept (beside the tasks, in the same table).
#[async_trait]
pub trait ConcurrencyStore: Send + Sync {
    /// The key's record and the version it was read at; `None` if no task
    /// ever took a place under it.
    async fn places(&self, key: &str) -> Result<Option<(Places, u64)>>;

    /// Writes the key's record if it is still at version `read` (`None`: if
    /// there is none yet); [`Error::Conflict`] otherwise.
    async fn put_places(&self, key: &str, places: &Places, read: Option<u64>) -> Result<()>;
}

/// What [`take`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// The place is the attempt's until its lease ends.
    Place,
    /// Every place is taken by a live holder: the task waits.
    Full { held: usize },
    /// Another worker holds a live place for this very task (it claims
    /// it, or runs it).
    Elsewhere,
}

/// Applies `change` to the key's record, read again whenever another write
/// came in between; `change` answers what to write, or `None` to write
/// nothing.
async fn change<T>(
    store: &dyn ConcurrencyStore,
    key: &str,
    change: impl Fn(&mut Places) -> (bool, T),
) -> Result<T> {
    loop {
        let (mut places, read) = match store.places(key).await? {
            Some((places, version)) => (places, Some(version)),
            None => (Places::default(), None),
        };
        let (write, answer) = change(&mut places);
        if !write {
            return Ok(answer);
        }
        match store.put_places(key, &places, read).await {
            Ok(()) => return Ok(answer),
            Err(Error::Conflict(_)) => continue,
            Err(err) => return Err(err),
        }
    }
}

/// Takes a place under the key for the holder until `until`, if fewer
/// than `limit` live holders have one (lapsed places are dropped);
/// otherwise puts the task on the waiting list, with the queue its message
/// goes to.
pub async fn take(
    store: &dyn ConcurrencyStore,
    Concurrency { key, limit }: &Concurrency,
    (holder, queue): (Holder<'_>, &str),
    until: DateTime<Utc>,
) -> Result<Taken> {
    let now = Utc::now();
    let task = holder.task;
    let waiter = &Waiter {
        task: task.to_owned(),
        queue: queue.to_owned(),
    };
    change(store, key, |places| {
        places.held.retain(|_, place| place.until > now);
        if places
            .held
            .get(task)
            .is_some_and(|place| place.worker != holder.worker)
        {
            return (false, Taken::Elsewhere);
        }
        places.held.remove(task);
        if places.held.len() >= *limit as usize {
            if places.waiting.len() < MAX_WAITING && !places.waiting.contains(waiter) {
                places.waiting.push(waiter.clone());
            }
            return (
                true,
                Taken::Full {
                    held: places.held.len(),
                },
            );
        }
        places.waiting.retain(|waiting| waiting != waiter);
        let worker = holder.worker.to_owned();
        let place = Place {
            attempt: holder.attempt,
            worker,
            until,
        };
        places.held.insert(task.to_owned(), place);
        (true, Taken::Place)
    })
    .await
}

/// Extends the attempt's place to `until`; `false` if it lost it (its
/// lease lapsed and another task took it).
pub async fn renew(
    store: &dyn ConcurrencyStore,
    key: &str,
    holder: Holder<'_>,
    until: DateTime<Utc>,
) -> Result<bool> {
    pass_on(store, key, holder, (holder.attempt, until)).await
}

/// Makes the holder's place attempt `to`'s (on the same worker), until
/// `until`; `false` if the holder has none.
pub async fn pass_on(
    store: &dyn ConcurrencyStore,
    key: &str,
    holder: Holder<'_>,
    (to, until): (u32, DateTime<Utc>),
) -> Result<bool> {
    change(store, key, |places| {
        match places.held.get_mut(holder.task) {
            Some(place) if holder.holds(place) => {
                (place.attempt, place.until) = (to, until);
                (true, true)
            }
            _ => (false, false),
        }
    })
    .await
}

/// Gives the attempt's place back (a later attempt's stays) and answers
/// the first waiting task, taken off the list, to wake.
pub async fn give_back(
    store: &dyn ConcurrencyStore,
    key: &str,
    holder: Holder<'_>,
) -> Result<Option<Waiter>> {
    change(store, key, |places| {
        let held = places
            .held
            .get(holder.task)
            .is_some_and(|p| holder.holds(p));
        if held {
            places.held.remove(holder.task);
        }
        let next = (!places.waiting.is_empty()).then(|| places.waiting.remove(0));
        (held || next.is_some(), next)
    })
    .await
}

/// The checks of `concurrency`.
pub fn check(concurrency: Option<&Concurrency>, errors: &mut Vec<FieldError>) {
    let Some(concurrency) = concurrency else {
        return;
    };
    let key = &concurrency.key;
    if key.is_empty() || key.chars().count() > MAX_KEY_CHARS || key.chars().any(char::is_control) {
        let message = format!("must be 1 to {MAX_KEY_CHARS} characters, no control characters");
        errors.push(FieldError::new("concurrency.key", message));
    }
    if key.starts_with(ARRAY_KEY_PREFIX) {
        let message = format!("keys starting {ARRAY_KEY_PREFIX:?} are arrays' own (maxParallel)");
        errors.push(FieldError::new("concurrency.key", message));
    }
    if !(1..=MAX_LIMIT).contains(&concurrency.limit) {
        let message = format!(
            "must be between 1 and {MAX_LIMIT}, got {}",
            concurrency.limit
        );
        errors.push(FieldError::new("concurrency.limit", message));
    }
}

#[cfg(test)]
mod tests;
