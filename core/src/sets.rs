//! The seam to task sets' member records: a set's members (task name →
//! task id), written conditionally on the version they were read at. The
//! sync that uses them is in [`crate::taskset`].

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::model::TaskId;

/// A set's members as stored: task name → task id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Members(pub BTreeMap<String, TaskId>);

/// Where set records live (the tasks table, or a fake).
#[async_trait]
pub trait SetStore: Send + Sync {
    /// The set's members and the version they were read at.
    async fn members(&self, set: &str) -> Result<Option<(Members, u64)>>;
    /// Writes the members if the record is still at `read` (`None`: there
    /// was none); [`Error::Conflict`](crate::error::Error::Conflict) otherwise.
    async fn put_members(&self, set: &str, members: &Members, read: Option<u64>) -> Result<()>;
}
