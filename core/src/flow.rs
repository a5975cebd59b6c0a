//! Tasks that wait for each other (`dependsOn`, SPEC §8.2).
//!
//! A task with dependencies is stored `waiting` and linked into each
//! upstream task's `dependents`. Whoever ends a task (a worker, a cancel, a
//! dead letter) announces it on the control queue; the control plane then
//! settles its dependents: a waiting task whose every condition holds is
//! released to `queued`, one whose condition can no longer hold is
//! `skipped`, and so, in turn, are its own dependents. The control plane's
//! tick settles every waiting task too, so a lost announcement delays a
//! release by one tick at most, and nothing waits forever.
//!
//! Every step is a conditional write: several settling the same task at
//! once release or skip it exactly once. A release is written first (the
//! task `queued` and `unsent`), its message sent next, and `unsent` cleared
//! last; a task left `unsent` by a crash in between is sent by the tick.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::array::ArrayRequest;
use crate::error::{Error, Result};
use crate::lifecycle;
use crate::listing::TaskFilter;
use crate::model::{Dependency, Status, Task, TaskId, TaskMessage};
use crate::queue::{Queue, MAX_SQS_DELAY_SECONDS};
use crate::store::{TaskStore, Transition, Versioned};
use crate::validate::FieldError;

/// A task may depend on at most this many others.
pub const MAX_DEPENDENCIES: usize = 20;
/// A task may have at most this many dependents (its record holds them).
pub const MAX_DEPENDENTS: usize = 1000;
/// The control plane's own queue (`<prefix>control`): what it is told.
pub const CONTROL_QUEUE: &str = "control";
/// A released task still `unsent` this long after its release is sent by
/// the control plane's tick: whoever released it has died.
pub const UNSENT_GRACE: chrono::TimeDelta = chrono::TimeDelta::seconds(10);
/// The tick recounts a running array from its children's records only once
/// its record has been left alone this long: a retry writes the parent
/// first, then its children, and a recount in between would hear the
/// children's ends from before the retry.
const RECOUNT_GRACE: chrono::TimeDelta = chrono::TimeDelta::seconds(10);

/// What the control queue carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ControlEvent {
    /// A task has ended (or was deleted): settle the tasks that wait for it.
    Ended {
        task: TaskId,
        dependents: Vec<TaskId>,
        /// The array it is a child of, if any: the parent counts its end.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        parent: Option<TaskId>,
    },
    /// An array was submitted: make its children.
    Expand { task: TaskId },
    /// An array was cancelled: cancel its children.
    CancelChildren { task: TaskId },
}

/// The stores the flow of dependencies reads and writes.
#[derive(Clone, Copy)]
pub struct Flow<'a> {
    pub store: &'a dyn TaskStore,
    pub queues: &'a dyn Queue,
}

/// What [`Flow::retry`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Retried {
    /// The task as it is now: queued, waiting, or already released again.
    Retried(Task),
    /// The task is active or succeeded.
    Refused(Task),
    Missing,
}

/// Where a waiting task stands with its dependencies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// These upstream tasks have not ended.
    Waiting(Vec<TaskId>),
    /// Every condition holds.
    Ready,
    /// This upstream task ended so that its condition cannot hold (`None`:
    /// it is gone).
    Blocked {
        upstream: TaskId,
        status: Option<Status>,
    },
}

/// Weighs `task`'s conditions against its upstream tasks' statuses (a
/// missing one is gone).
pub fn readiness(task: &Task, statuses: &HashMap<TaskId, Status>) -> Readiness {
    let mut unfinished = Vec::new();
    for Dependency {
        task: upstream, on, ..
    } in task.depends_on.iter().filter(|d| d.is_whole())
    {
        let status = statuses.get(upstream).copied();
        match status.map(|status| on.holds(status)) {
            Some(Some(true)) => {}
            Some(None) => unfinished.push(upstream.clone()),
            Some(Some(false)) | None => {
                return Readiness::Blocked {
                    upstream: upstream.clone(),
                    status,
                }
            }
        }
    }
    if unfinished.is_empty() {
        Readiness::Ready
    } else {
        Readiness::Waiting(unfinished)
    }
}

/// The checks of `dependsOn` that need no store.
pub fn check(depends_on: &[Dependency], errors: &mut Vec<FieldError>) {
    if depends_on.len() > MAX_DEPENDENCIES {
        errors.push(FieldError::new(
            "dependsOn",
            format!(
                "at most {MAX_DEPENDENCIES} dependencies, got {}",
                depends_on.len()
            ),
        ));
    }
    let mut seen = HashSet::new();
    for (i, dependency) in depends_on.iter().enumerate() {
        if !seen.insert(&dependency.task) {
            errors.push(FieldError::new(
                format!("dependsOn[{i}].task"),
                format!("task {} is listed twice", dependency.task),
            ));
        }
    }
}

impl Flow<'_> {
    /// The upstream tasks of a submission, each read once: `400` naming
    /// `dependsOn[i].task` for one that does not exist or has too many
    /// dependents already, `dependsOn[i].mode` for `nToN` on a task that
    /// is not an array of the submitted one's size.
    pub async fn check_upstream(
        &self,
        depends_on: &[Dependency],
        array: Option<&ArrayRequest>,
    ) -> Result<Vec<FieldError>> {
        let mut errors = Vec::new();
        for (i, dependency) in depends_on.iter().enumerate() {
            let field = format!("dependsOn[{i}].task");
            match self.store.get(&dependency.task).await? {
                None => errors.push(FieldError::new(
                    field,
                    format!("no task {:?}", dependency.task),
                )),
                Some(found)
                    if !dependency.is_whole()
                        && found.task.array.as_ref().map(|a| a.size) != array.map(|a| a.size) =>
                {
                    errors.push(FieldError::new(
                        format!("dependsOn[{i}].mode"),
                        format!(
                            "nToN needs task {} to be an array of the same size",
                            dependency.task
                        ),
                    ))
                }
                Some(found) if found.task.dependents.len() >= MAX_DEPENDENTS => {
                    errors.push(FieldError::new(
                        field,
                        format!(
                            "task {} has {MAX_DEPENDENTS} dependents already",
                            dependency.task
                        ),
                    ))
                }
                Some(_) => {}
            }
        }
        Ok(errors)
    }

    /// Links a newly stored waiting task into its upstream tasks'
    /// `dependents`, then settles it against what those records said: a
    /// task whose dependencies have ended already is released (or skipped)
    /// at once. An upstream ending after its link announces the end.
    pub async fn link(&self, task: &Task) -> Result<Task> {
        let mut statuses = HashMap::new();
        for dependency in task.depends_on.iter().filter(|d| d.is_whole()) {
            let id = task.id.clone();
            let add = move |upstream: &Task| {
                let mut next = upstream.clone();
                (!next.dependents.contains(&id)).then(|| {
                    next.dependents.push(id.clone());
                    next
                })
            };
            match self.store.transition(&dependency.task, &add).await? {
                Transition::Applied(Versioned { task: upstream, .. })
                | Transition::Refused(upstream) => {
                    statuses.insert(upstream.id.clone(), upstream.status);
                }
                Transition::Missing => {}
            }
        }
        let current = self.store.get(&task.id).await?;
        Ok(self
            .settle_read(current, &statuses)
            .await?
            .unwrap_or_else(|| task.clone()))
    }

    /// Settles these dependents of an ended task, and theirs in turn when
    /// they are skipped.
    pub async fn settle_dependents(&self, mut todo: Vec<TaskId>) -> Result<()> {
        while let Some(id) = todo.pop() {
            if let Some(settled) = self.settle(&id).await? {
                if settled.status == Status::Skipped {
                    todo.extend(settled.dependents);
                }
            }
        }
        Ok(())
    }

    /// Settles one waiting task by its upstream tasks' current records: the
    /// task as written when it was released or skipped, `None` when it
    /// stays as it is.
    pub async fn settle(&self, id: &str) -> Result<Option<Task>> {
        let Some(current) = self.store.get(id).await? else {
            return Ok(None);
        };
        if current.task.status != Status::Waiting {
            return Ok(None);
        }
        let statuses = self.upstream_statuses(&current.task).await?;
        self.settle_read(Some(current), &statuses).await
    }

    /// The current status of each of `task`'s upstream tasks that exists.
    pub async fn upstream_statuses(&self, task: &Task) -> Result<HashMap<TaskId, Status>> {
        let mut statuses = HashMap::new();
        for dependency in &task.depends_on {
            if let Some(upstream) = self.store.get(&dependency.task).await? {
                statuses.insert(upstream.task.id, upstream.task.status);
            }
        }
        Ok(statuses)
    }

    /// Releases or skips `current` as `statuses` decide.
    async fn settle_read(
        &self,
        current: Option<Versioned>,
        statuses: &HashMap<TaskId, Status>,
    ) -> Result<Option<Task>> {
        let Some(current) = current.filter(|c| c.task.status == Status::Waiting) else {
            return Ok(None);
        };
        let now = Utc::now();
        let next = |task: &Task| match readiness(task, statuses) {
            Readiness::Waiting(_) => None,
            Readiness::Ready => lifecycle::released(task, now),
            Readiness::Blocked { upstream, status } => {
                lifecycle::skipped(task, &upstream, status, now)
            }
        };
        let written = self.store.transition_from(Some(current), &next).await?;
        if let Transition::Applied(Versioned { task, .. }) = &written {
            if let (Some(parent), Some(index)) = (&task.parent_id, task.array_index) {
                self.hear(parent, &[(index, task.status)], false).await?;
            }
        }
        match written {
            Transition::Applied(written) if written.task.status == Status::Queued => {
                tracing::info!(task_id = %written.task.id, "dependencies met; task released");
                Ok(Some(self.send(written).await?))
            }
            Transition::Applied(written) => {
                // An upstream retried between the read and the skip: the
                // retry found the task still waiting, so it waits again.
                let now_statuses = self.upstream_statuses(&written.task).await?;
                if !matches!(
                    readiness(&written.task, &now_statuses),
                    Readiness::Blocked { .. }
                ) {
                    let again = |task: &Task| lifecycle::unskipped(task, Utc::now());
                    self.store.transition_from(Some(written), &again).await?;
                    return Ok(None);
                }
                let message = written.task.message.as_deref().unwrap_or_default();
                tracing::info!(task_id = %written.task.id, message, "task skipped");
                Ok(Some(written.task))
            }
            Transition::Refused(_) | Transition::Missing => Ok(None),
        }
    }

    /// Sends the message of a released (`unsent`) task, then clears
    /// `unsent`. The message carries the record as it is once cleared, so
    /// a worker claims it without reading it first.
    pub async fn send(&self, released: Versioned) -> Result<Task> {
        if released.task.array.is_some() {
            // Made by the control plane, never in the request that
            // released the array.
            self.announce_array(&released.task).await;
            return Ok(released.task);
        }
        let task = &released.task;
        let cleared = Task {
            unsent: false,
            ..task.clone()
        };
        let message = TaskMessage::with_snapshot(&cleared, released.version + 1);
        self.queues
            .send(&task.queue, &message, remaining_delay(task))
            .await?;
        let clear = |task: &Task| {
            task.unsent.then(|| Task {
                unsent: false,
                ..task.clone()
            })
        };
        Ok(
            match self.store.transition_from(Some(released), &clear).await? {
                Transition::Applied(written) => written.task,
                Transition::Refused(task) => task,
                Transition::Missing => cleared,
            },
        )
    }

    /// Tells the control plane that `task` has ended, if anything waits
    /// for it or counts it (its array's parent). Not being able to is
    /// logged, not fatal: the control plane's tick makes up for it.
    pub async fn announce_end(&self, task: &Task) {
        if task.dependents.is_empty() && task.parent_id.is_none() {
            return;
        }
        self.tell(
            &task.id,
            &ControlEvent::Ended {
                task: task.id.clone(),
                dependents: task.dependents.clone(),
                parent: task.parent_id.clone(),
            },
        )
        .await;
    }

    /// Asks the control plane to make a new array's children. Not being
    /// able to is logged, not fatal: the tick makes them a little later.
    pub async fn announce_array(&self, task: &Task) {
        let event = ControlEvent::Expand {
            task: task.id.clone(),
        };
        self.tell(&task.id, &event).await;
    }

    pub(crate) async fn tell(&self, task_id: &str, event: &ControlEvent) {
        let body = serde_json::to_string(event).unwrap_or_default();
        if let Err(err) = self
            .queues
            .send_raw(CONTROL_QUEUE, &body, Duration::ZERO)
            .await
        {
            tracing::warn!(task_id, error = %err, "cannot tell the control plane; its tick makes up for it");
        }
    }

    /// Retries an ended task that did not succeed: it runs again (or waits
    /// again, with dependencies), and the dependents it had skipped wait
    /// again, recursively. An array retries its unsuccessful children.
    pub async fn retry(&self, id: &str) -> Result<Retried> {
        match self.store.get(id).await? {
            Some(parent) if parent.task.array.is_some() => self.retry_array(parent).await,
            Some(_) => self.retry_task(id).await,
            None => Ok(Retried::Missing),
        }
    }

    /// [`Flow::retry`] of a task that is not an array.
    async fn retry_task(&self, id: &str) -> Result<Retried> {
        let now = Utc::now();
        let written = match self
            .store
            .transition(id, &|task: &Task| lifecycle::retried(task, now))
            .await?
        {
            Transition::Applied(written) => written,
            Transition::Refused(task) => return Ok(Retried::Refused(task)),
            Transition::Missing => return Ok(Retried::Missing),
        };
        if let (Some(parent), Some(index)) = (&written.task.parent_id, written.task.array_index) {
            let heard = self
                .hear(parent, &[(index, written.task.status)], true)
                .await?;
            if let Some(reopened) = heard {
                let again = self.unskip_dependents(&reopened, now).await?;
                self.settle_dependents(again).await?;
            }
        }
        let waiting_again = self.unskip_dependents(&written.task, now).await?;
        let task = if written.task.status == Status::Queued {
            self.send(written).await?
        } else {
            let waiting = written.task.clone();
            self.settle(id).await?.unwrap_or(waiting)
        };
        // Another dependency of theirs may have failed meanwhile.
        self.settle_dependents(waiting_again).await?;
        Ok(Retried::Retried(task))
    }

    /// The dependents a retried task had skipped, recursively, waiting
    /// again (each array child among them told to its parent): their ids.
    async fn unskip_dependents(&self, task: &Task, now: DateTime<Utc>) -> Result<Vec<TaskId>> {
        let mut waiting_again = Vec::new();
        let mut todo = task.dependents.clone();
        while let Some(dependent) = todo.pop() {
            let wait = |task: &Task| lifecycle::unskipped(task, now);
            if let Transition::Applied(again) = self.store.transition(&dependent, &wait).await? {
                let again = again.task;
                if let (Some(parent), Some(index)) = (&again.parent_id, again.array_index) {
                    let heard = self.hear(parent, &[(index, Status::Waiting)], true).await?;
                    // An array active again: what it had skipped waits too.
                    todo.extend(heard.map(|parent| parent.dependents).unwrap_or_default());
                }
                todo.extend(again.dependents);
                waiting_again.push(dependent);
            }
        }
        Ok(waiting_again)
    }

    /// Handles a batch of control events, answering each one's outcome in
    /// order (`Err`: try it again later; [`Error::Corrupt`]: it is not a
    /// control event). The ends of one array's children are counted in
    /// one write of their parent.
    pub async fn on_events(&self, bodies: &[&str]) -> Vec<Result<()>> {
        let mut outcomes = Vec::with_capacity(bodies.len());
        let mut parents: HashMap<TaskId, Vec<(usize, TaskId)>> = HashMap::new();
        for (at, body) in bodies.iter().enumerate() {
            let outcome = match serde_json::from_str::<ControlEvent>(body) {
                Err(e) => Err(Error::Corrupt(format!("not a control event: {e}: {body}"))),
                Ok(ControlEvent::Expand { task }) => self.expand_id(&task).await,
                Ok(ControlEvent::CancelChildren { task }) => self.cancel_children(&task).await,
                Ok(ControlEvent::Ended {
                    task,
                    dependents,
                    parent,
                }) => {
                    if let Some(parent) = parent {
                        parents.entry(parent).or_default().push((at, task));
                    }
                    self.settle_dependents(dependents).await
                }
            };
            outcomes.push(outcome);
        }
        for (parent, children) in parents {
            let ids: Vec<TaskId> = children.iter().map(|(_, id)| id.clone()).collect();
            if let Err(err) = self.hear_from(&parent, &ids).await {
                for (at, _) in children {
                    if outcomes[at].is_ok() {
                        outcomes[at] = Err(Error::Conflict(format!("array {parent}: {err}")));
                    }
                }
            }
        }
        outcomes
    }

    /// The tick's part: sends the message of every task left `unsent` for
    /// longer than [`UNSENT_GRACE`], then settles every waiting task (and
    /// the dependents of those it skips), then hears the children of every
    /// running array left alone for [`RECOUNT_GRACE`], a page at a time. A task that cannot be handled now
    /// is logged and left for the next tick. Answers how many tasks it
    /// sent, and how many it released or skipped.
    pub async fn sweep(&self) -> Result<(usize, usize)> {
        let now = Utc::now();
        let (mut sent, mut settled) = (0, 0);
        let unsent = |t: &Task| t.unsent && t.updated_at <= now - UNSENT_GRACE;
        for task in self.listed(Status::Queued.into(), unsent).await? {
            match self.send_unsent(&task.id, now).await {
                Ok(done) => sent += usize::from(done),
                Err(err) => {
                    tracing::warn!(task_id = %task.id, error = %err, "cannot send the released task now")
                }
            }
        }
        for task in self.listed(Status::Waiting.into(), |_| true).await? {
            match self.settle(&task.id).await {
                Ok(None) => {}
                Ok(Some(done)) => {
                    settled += 1;
                    if done.status == Status::Skipped {
                        if let Err(err) = self.settle_dependents(done.dependents).await {
                            tracing::warn!(task_id = %task.id, error = %err, "cannot settle the dependents of a skipped task now");
                        }
                    }
                }
                Err(err) => {
                    tracing::warn!(task_id = %task.id, error = %err, "cannot settle the task now")
                }
            }
        }
        let arrays = |t: &Task| t.array.is_some();
        for parent in self.listed(Status::Running.into(), arrays).await? {
            if unsent(&parent) {
                if let Err(err) = self.send_unsent(&parent.id, now).await {
                    tracing::warn!(task_id = %parent.id, error = %err, "cannot make the array's children now");
                }
            }
            if parent.updated_at > now - RECOUNT_GRACE {
                continue;
            }
            if let Err(err) = self.reconcile(&parent).await {
                tracing::warn!(task_id = %parent.id, error = %err, "cannot hear the array's children now");
            }
        }
        Ok((sent, settled))
    }

    /// Sends a task released but left unsent, taking it first by a write of
    /// its own so that two sweeps send it once; `false` if another did.
    async fn send_unsent(&self, id: &str, now: DateTime<Utc>) -> Result<bool> {
        let take = |task: &Task| {
            (task.unsent && task.updated_at <= now - UNSENT_GRACE).then(|| Task {
                updated_at: now,
                ..task.clone()
            })
        };
        let Transition::Applied(taken) = self.store.transition(id, &take).await? else {
            return Ok(false);
        };
        tracing::warn!(task_id = %id, "a released task's message was never sent; sending it");
        self.send(taken).await?;
        Ok(true)
    }

    /// Every task `filter` lists that `keep` keeps.
    async fn listed(&self, filter: TaskFilter, keep: impl Fn(&Task) -> bool) -> Result<Vec<Task>> {
        let mut all = self.store.list_all(&filter).await?;
        all.retain(|t| keep(t));
        Ok(all)
    }
}

/// What is left of a task's `delaySeconds`, counted from its submission.
fn remaining_delay(task: &Task) -> Duration {
    let ready_at = task.created_at + chrono::Duration::seconds(task.delay_seconds.into());
    let left = (ready_at - Utc::now())
        .num_seconds()
        .clamp(0, MAX_SQS_DELAY_SECONDS.into());
    Duration::from_secs(left as u64)
}

mod arrays;
#[cfg(test)]
mod tests;
