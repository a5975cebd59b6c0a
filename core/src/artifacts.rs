//! The artifact seam: task outputs, logs and large payloads, and presigned
//! download URLs for them. The real one is S3 ([`crate::aws::S3Artifacts`]).
//!
//! Key layout, per task: `tasks/{id}/outputs/{path}`,
//! `tasks/{id}/logs/{attempt}/{offset}` (see [`crate::logs`]),
//! `tasks/{id}/payload.json`.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;

use crate::error::{Error, Result};
use crate::model::{OutputFile, Task};

pub fn output_key(task_id: &str, path: &str) -> String {
    format!("tasks/{task_id}/outputs/{path}")
}

/// Every object of a task lives under this prefix.
pub fn task_prefix(task_id: &str) -> String {
    format!("tasks/{task_id}/")
}

pub fn payload_key(task_id: &str) -> String {
    format!("tasks/{task_id}/payload.json")
}

/// Where a manifest too long for the record is kept.
pub fn manifest_key(task_id: &str) -> String {
    format!("tasks/{task_id}/manifest.json")
}

/// A task's outputs manifest, from its record or from S3.
pub async fn manifest(artifacts: &dyn Artifacts, task: &Task) -> Result<Vec<OutputFile>> {
    if !task.outputs_in_s3 {
        return Ok(task.outputs.clone());
    }
    let key = manifest_key(&task.id);
    let chunk = artifacts
        .get_from(&key, 0, u64::MAX)
        .await?
        .ok_or_else(|| Error::NotFound(format!("the outputs manifest {key}")))?;
    serde_json::from_slice(&chunk.data).map_err(|e| Error::Corrupt(format!("{key}: {e}")))
}

/// A byte range of a stored object, and the object's whole size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub data: Vec<u8>,
    pub total_size: u64,
}

/// An object found by [`Artifacts::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub key: String,
    pub size: u64,
}

/// One page of a listing, in key order, and whether more objects follow.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Listing {
    pub objects: Vec<Stored>,
    pub more: bool,
}

#[async_trait]
pub trait Artifacts: Send + Sync {
    async fn put_bytes(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<()>;

    /// Uploads a file (in parts when it is large).
    async fn put_file(&self, key: &str, path: &Path) -> Result<()>;

    /// Reads at most `limit` bytes of an object from byte `offset` (only
    /// that range is fetched); `None` if it does not exist. Reading at or
    /// past the end is an empty chunk.
    async fn get_from(&self, key: &str, offset: u64, limit: u64) -> Result<Option<Chunk>>;

    /// At most `limit` objects whose keys start with `prefix` and sort
    /// after `start_after`, in key order.
    async fn list(&self, prefix: &str, start_after: Option<&str>, limit: usize) -> Result<Listing>;

    /// Deletes every object whose key starts with `prefix`; returns how many.
    async fn delete_prefix(&self, prefix: &str) -> Result<usize>;

    /// A URL anyone can GET the object from until it expires.
    async fn presign_get(&self, key: &str, expires: Duration) -> Result<String>;
}
