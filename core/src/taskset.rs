//! Task sets (`PUT /v1/tasksets/{set}`): a declarative sync of named tasks,
//! as a Kubernetes controller's `setTasks`. The listed tasks that are
//! missing are created, the set's active tasks that are no longer listed are
//! cancelled, the rest is left as it is.
//!
//! The set is a record of its members (task name → id, in a
//! [`SetStore`](crate::sets::SetStore)) beside the tasks, written
//! conditionally on the version it was read at; each task also records its
//! set, so a sync cut off between creating a task and writing the record
//! adopts that task the next time instead of failing on its name.

use chrono::Utc;

use crate::error::{Error, Result};
use crate::lifecycle;
use crate::model::{Task, TaskId};
use crate::sets::{Members, SetStore};
use crate::store::{TaskStore, Transition};
use crate::submit::{submit, Enqueue, Seams, SubmitError, Submitted};
use crate::validate::{FieldError, ValidTask};

/// A sync lists at most this many tasks.
pub const MAX_SET_TASKS: usize = 100;

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Synced {
    /// The listed tasks, in the order listed, as they are now.
    pub tasks: Vec<Task>,
    /// The set's tasks that were not listed: cancelled if they were active.
    pub removed: Vec<Task>,
}

/// Why a sync could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// A listed name belongs to a task outside the set.
    #[error(
        "task {index}'s name {name:?} belongs to task {existing_id}, which is not in this set"
    )]
    NameTaken {
        index: usize,
        name: String,
        existing_id: String,
    },
    /// A listed task's dependencies cannot be depended on.
    #[error("task {index}'s dependencies are invalid")]
    Invalid {
        index: usize,
        errors: Vec<FieldError>,
    },
    #[error(transparent)]
    Backend(#[from] Error),
}

/// Makes set `set` hold exactly `tasks` (each valid and named, names
/// unique: the caller checks): the missing ones are submitted through
/// `seams`, the set's record is kept in `sets`.
pub async fn sync(
    seams: Seams<'_>,
    sets: &dyn SetStore,
    set: &str,
    tasks: Vec<ValidTask>,
) -> Result<Synced, SyncError> {
    let read = sets.members(set).await?;
    let (old, version) = read.map_or((Members::default(), None), |(m, v)| (m, Some(v)));
    let mut members = Members::default();
    let mut synced = Synced::default();
    for (index, mut valid) in tasks.into_iter().enumerate() {
        let name = valid.request.name.clone().unwrap_or_default();
        valid.task_set = Some(set.to_owned());
        let task = match existing(seams.store, old.0.get(&name)).await? {
            Some(task) => task,
            None => create(seams, set, index, valid).await?,
        };
        members.0.insert(name, task.id.clone());
        synced.tasks.push(task);
    }
    for (name, id) in &old.0 {
        if members.0.contains_key(name) {
            continue;
        }
        let cancel = |task: &Task| lifecycle::cancel(task, Utc::now());
        match seams.store.transition(id, &cancel).await? {
            Transition::Applied(cancelled) => {
                seams.flow().announce_end(&cancelled.task).await;
                synced.removed.push(cancelled.task)
            }
            Transition::Refused(task) => synced.removed.push(task),
            Transition::Missing => {}
        }
    }
    sets.put_members(set, &members, version).await?;
    Ok(synced)
}

/// The member task of this id, unless it was deleted meanwhile.
async fn existing(store: &dyn TaskStore, id: Option<&TaskId>) -> Result<Option<Task>> {
    let Some(id) = id else { return Ok(None) };
    Ok(store.get(id).await?.map(|versioned| versioned.task))
}

/// Creates a listed task, or adopts the task of its name when that one
/// belongs to the set already (a sync cut off before its record).
async fn create(
    seams: Seams<'_>,
    set: &str,
    index: usize,
    valid: ValidTask,
) -> Result<Task, SyncError> {
    match submit(seams, valid, None, Enqueue::AsRequested).await {
        Ok(Submitted::Created(task) | Submitted::Existing(task)) => Ok(task),
        Err(SubmitError::NameTaken { name, existing_id }) => {
            let existing = seams.store.get(&existing_id).await?;
            match existing.map(|v| v.task) {
                // Only an active task was left by a cut-off sync; a finished
                // one of the set was removed from it by an earlier sync.
                Some(task)
                    if task.task_set.as_deref() == Some(set) && !task.status.is_terminal() =>
                {
                    Ok(task)
                }
                _ => Err(SyncError::NameTaken {
                    index,
                    name,
                    existing_id,
                }),
            }
        }
        Err(SubmitError::Invalid(errors)) => Err(SyncError::Invalid { index, errors }),
        Err(SubmitError::Backend(err)) => Err(err.into()),
        Err(other @ SubmitError::KeyReused { .. }) => {
            Err(Error::Conflict(other.to_string()).into())
        }
    }
}
