//! The control plane's part in arrays (see [`crate::array`]): making the
//! children, hearing how they stand, retrying and cancelling them.

use std::time::Duration;

use chrono::Utc;
use futures_util::future::try_join_all;
use futures_util::stream::{self, StreamExt, TryStreamExt};

use super::{remaining_delay, ControlEvent, Flow, Retried};
use crate::array::{self, child_id, TaskArray};
use crate::error::{Error, Result};
use crate::lifecycle;
use crate::listing::TaskFilter;
use crate::model::{Status, Task, TaskMessage};
use crate::store::{CreateError, Transition, Versioned};

/// Children made (or retried, or cancelled) at once.
const AT_ONCE: usize = 16;

impl Flow<'_> {
    /// Makes the children of a released parent, a page at a time from its
    /// cursor, until every child exists: the parent as last written. An
    /// array with `nToN` dependencies waits (stays `unsent`, for the tick)
    /// until each upstream array has every child.
    pub(super) async fn expand(&self, mut parent: Versioned) -> Result<Task> {
        let id = parent.task.id.clone();
        let gone = || Error::NotFound(format!("array {id} was deleted"));
        loop {
            let task = &parent.task;
            let Some(array) = task.array.as_ref().filter(|a| a.unexpanded()) else {
                if task.array.as_ref().is_some_and(|a| a.cancelled) {
                    // Cancelled while this expansion made a page.
                    self.cancel_children(&id).await?;
                }
                return self.expanded(parent).await;
            };
            if let Some(upstream) = self.unexpanded_upstream(task).await? {
                tracing::info!(task_id = %task.id, upstream, "the upstream array has not made every child yet");
                return Ok(parent.task);
            }
            let from = array.created;
            let now = Utc::now();
            let children = (from..array.size.min(from + array::PAGE))
                .map(|index| array::child(task, index, now));
            let made: Vec<(Status, Option<Versioned>)> = stream::iter(children)
                .map(|child| self.make_child(child))
                .buffered(AT_ONCE)
                .try_collect()
                .await?;
            let (statuses, to_send): (Vec<Status>, Vec<Option<Versioned>>) =
                made.into_iter().unzip();
            let messages: Vec<(TaskMessage, Duration)> = to_send
                .iter()
                .flatten()
                .map(|c| {
                    (
                        TaskMessage::with_snapshot(&c.task, c.version),
                        remaining_delay(&c.task),
                    )
                })
                .collect();
            self.queues.send_all(&task.queue, &messages).await?;
            let grow = |t: &Task| array::grown(t, from, &statuses, now);
            parent = match self.store.transition_from(Some(parent), &grow).await? {
                Transition::Applied(written) => {
                    if written.task.array.as_ref().is_some_and(|a| !a.unexpanded()) {
                        tracing::info!(task_id = %id, "every child of the array is made");
                    }
                    written
                }
                // Another expansion made this page: it goes on.
                Transition::Refused(task) => return Ok(task),
                Transition::Missing => return Err(gone()),
            };
        }
    }

    /// Clears `unsent` on a parent with every child made.
    async fn expanded(&self, parent: Versioned) -> Result<Task> {
        let clear = |t: &Task| {
            t.unsent.then(|| Task {
                unsent: false,
                ..t.clone()
            })
        };
        Ok(
            match self.store.transition_from(Some(parent), &clear).await? {
                Transition::Applied(Versioned { task, .. }) | Transition::Refused(task) => task,
                Transition::Missing => return Err(Error::NotFound("the array was deleted".into())),
            },
        )
    }

    /// Handles an `Expand` event: the parent, if it is still to expand.
    pub(super) async fn expand_id(&self, id: &str) -> Result<()> {
        match self.store.get(id).await? {
            Some(parent) if parent.task.unsent && parent.task.array.is_some() => {
                self.expand(parent).await.map(drop)
            }
            _ => Ok(()),
        }
    }

    /// The first `nToN` upstream array still making children, if any.
    async fn unexpanded_upstream(&self, task: &Task) -> Result<Option<String>> {
        for dependency in task.depends_on.iter().filter(|d| !d.is_whole()) {
            let upstream = self.store.get(&dependency.task).await?;
            // A deleted upstream makes its children's dependents skip.
            let made = upstream.is_none_or(|u| {
                u.task
                    .array
                    .is_some_and(|a| a.created >= a.size || a.cancelled)
            });
            if !made {
                return Ok(Some(dependency.task.clone()));
            }
        }
        Ok(None)
    }

    /// Creates one child (or links it to its upstream child); one that
    /// exists already (an expansion cut short made it) is sent again if it
    /// is still queued, since its message may never have been. Answers its
    /// status, and itself if its message is to be sent: a page's are sent
    /// together.
    async fn make_child(&self, child: Task) -> Result<(Status, Option<Versioned>)> {
        let child = match self.store.create(&child).await {
            Ok(()) => Versioned {
                task: child,
                version: 1,
            },
            Err(CreateError::Store(Error::Conflict(_))) => match self.store.get(&child.id).await? {
                Some(existing) => existing,
                None => return Err(Error::Conflict(format!("child {} vanished", child.id))),
            },
            Err(CreateError::Store(err)) => return Err(err),
            Err(other) => return Err(Error::Conflict(other.to_string())),
        };
        Ok(match child.task.status {
            Status::Waiting => (self.link(&child.task).await?.status, None),
            Status::Queued if !child.task.unsent => (Status::Queued, Some(child)),
            status => (status, None),
        })
    }

    /// Tells `parent` how these children stand (`reopen`: they were
    /// retried, so an end may be undone). A parent that ends by it
    /// announces its end to its own dependents; one that was ended and is
    /// active again by it is answered (its skipped dependents may wait
    /// again).
    pub(super) async fn hear(
        &self,
        parent: &str,
        children: &[(u32, Status)],
        reopen: bool,
    ) -> Result<Option<Task>> {
        let now = Utc::now();
        let was_active = std::sync::atomic::AtomicBool::new(false);
        let next = |t: &Task| {
            was_active.store(
                !t.status.is_terminal(),
                std::sync::atomic::Ordering::Relaxed,
            );
            array::heard(t, children, reopen, now)
        };
        let Transition::Applied(written) = self.store.transition(parent, &next).await? else {
            return Ok(None);
        };
        let (was_active, ended) = (was_active.into_inner(), written.task.status.is_terminal());
        if was_active && ended {
            tracing::info!(task_id = %parent, status = %written.task.status, "every child of the array has ended");
            self.announce_end(&written.task).await;
        }
        Ok((!was_active && !ended).then_some(written.task))
    }

    /// Hears these children of `parent` from their records; a child gone
    /// (deleted) counts as cancelled, and a task that is not its child is
    /// not heard.
    pub(super) async fn hear_from(&self, parent: &str, children: &[String]) -> Result<()> {
        // A batch of events names a few children (an event per child).
        let read = try_join_all(children.iter().map(|id| self.store.get(id))).await?;
        let heard: Vec<(u32, Status)> = children
            .iter()
            .zip(read)
            .filter_map(|(id, child)| match child {
                Some(child) if child.task.parent_id.as_deref() == Some(parent) => {
                    child.task.array_index.map(|i| (i, child.task.status))
                }
                Some(_) => None,
                None => array::index_of(parent, id).map(|i| (i, Status::Cancelled)),
            })
            .collect();
        self.hear(parent, &heard, false).await.map(drop)
    }

    /// The tick's part for an active parent: hears every child from the
    /// listing, which makes up for an end whose announcement was lost.
    pub(super) async fn reconcile(&self, parent: &Task) -> Result<()> {
        let filter = TaskFilter {
            parent: Some(parent.id.clone()),
            ..TaskFilter::default()
        };
        let heard: Vec<(u32, Status)> = self
            .listed(filter, |_| true)
            .await?
            .iter()
            .filter_map(|c| c.array_index.map(|i| (i, c.status)))
            .collect();
        self.hear(&parent.id, &heard, false).await.map(drop)
    }

    /// Retries the children of an ended array that did not succeed (and,
    /// if it was cancelled midway, makes the rest). The parent is written
    /// first, its children `queued` again: a retry cut short leaves a
    /// parent the tick recounts from its children's records.
    pub(super) async fn retry_array(&self, parent: Versioned) -> Result<Retried> {
        let now = Utc::now();
        let unsuccessful = parent
            .task
            .array
            .as_ref()
            .map(TaskArray::unsuccessful)
            .unwrap_or_default();
        let reopen = |t: &Task| {
            lifecycle::retryable(t.status)
                .then(|| array::retried(t, now))
                .flatten()
        };
        let written = match self.store.transition_from(Some(parent), &reopen).await? {
            Transition::Applied(written) => written,
            Transition::Refused(task) => return Ok(Retried::Refused(task)),
            Transition::Missing => return Ok(Retried::Missing),
        };
        let id = written.task.id.as_str();
        // A child that is not retryable (still active) is left as it is.
        stream::iter(unsuccessful)
            .map(|index| async move { self.retry_task(&child_id(id, index)).await.map(drop) })
            .buffer_unordered(AT_ONCE)
            .try_collect::<()>()
            .await?;
        let waiting_again = self.unskip_dependents(&written.task, now).await?;
        let task = match written.task.status {
            Status::Waiting => self.settle(id).await?.unwrap_or(written.task.clone()),
            _ if written.task.unsent => {
                self.announce_array(&written.task).await;
                written.task.clone()
            }
            _ => written.task.clone(),
        };
        self.settle_dependents(waiting_again).await?;
        Ok(Retried::Retried(task))
    }

    /// Cancels a task that has not ended, announcing the end; an array's
    /// children are then cancelled by the control plane (however many
    /// there are, the request that cancels the array stays short).
    pub async fn cancel(&self, id: &str) -> Result<Transition> {
        let cancel = |t: &Task| lifecycle::cancel(t, Utc::now()).map(array::cancelled);
        let cancelled = self.store.transition(id, &cancel).await?;
        if let Transition::Applied(Versioned { task, .. }) = &cancelled {
            self.announce_end(task).await;
            if task.array.is_some() {
                let event = ControlEvent::CancelChildren {
                    task: task.id.clone(),
                };
                self.tell(&task.id, &event).await;
            }
        }
        Ok(cancelled)
    }

    /// Cancels every child of a cancelled array that has not ended, as
    /// the listing of its children finds them (so also those of a page
    /// made while the array was being cancelled).
    pub(super) async fn cancel_children(&self, parent: &str) -> Result<()> {
        let filter = TaskFilter {
            parent: Some(parent.to_owned()),
            ..TaskFilter::default()
        };
        let active = self.listed(filter, |t| !t.status.is_terminal()).await?;
        stream::iter(active)
            .map(|child| async move {
                let cancel = |t: &Task| lifecycle::cancel(t, Utc::now());
                if let Transition::Applied(cancelled) =
                    self.store.transition(&child.id, &cancel).await?
                {
                    self.announce_end(&cancelled.task).await;
                }
                Ok::<_, Error>(())
            })
            .buffer_unordered(AT_ONCE)
            .try_collect::<()>()
            .await
    }
}
