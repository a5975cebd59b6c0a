//! The artifact store in memory: objects by key, read from an offset.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use wharf_core::artifacts::{Artifacts, Chunk, Listing, Stored};
use wharf_core::logs::log_prefix;
use wharf_core::Result;

#[derive(Default)]
pub struct MemoryArtifacts {
    objects: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl MemoryArtifacts {
    /// An object's bytes, if it exists.
    pub fn object(&self, key: &str) -> Option<Vec<u8>> {
        self.objects.lock().unwrap().get(key).cloned()
    }

    /// An attempt's log: its parts joined in order, and how many there are.
    pub fn log(&self, task_id: &str, attempt: u32) -> (Vec<u8>, usize) {
        let prefix = log_prefix(task_id, attempt);
        let objects = self.objects.lock().unwrap();
        let parts: Vec<_> = objects
            .range(prefix.clone()..)
            .take_while(|(key, _)| key.starts_with(&prefix))
            .collect();
        (
            parts
                .iter()
                .flat_map(|(_, body)| body.iter().copied())
                .collect(),
            parts.len(),
        )
    }
}

#[async_trait]
impl Artifacts for MemoryArtifacts {
    async fn put_bytes(&self, key: &str, body: Vec<u8>, _content_type: &str) -> Result<()> {
        self.objects.lock().unwrap().insert(key.to_owned(), body);
        Ok(())
    }

    async fn put_file(&self, key: &str, path: &Path) -> Result<()> {
        let body = tokio::fs::read(path).await?;
        self.objects.lock().unwrap().insert(key.to_owned(), body);
        Ok(())
    }

    async fn get_from(&self, key: &str, offset: u64, limit: u64) -> Result<Option<Chunk>> {
        let objects = self.objects.lock().unwrap();
        Ok(objects.get(key).map(|body| {
            let start = (offset as usize).min(body.len());
            let end = start.saturating_add(limit as usize).min(body.len());
            Chunk {
                data: body[start..end].to_vec(),
                total_size: body.len() as u64,
            }
        }))
    }

    async fn list(&self, prefix: &str, start_after: Option<&str>, limit: usize) -> Result<Listing> {
        let objects = self.objects.lock().unwrap();
        let mut found = objects
            .iter()
            .filter(|(key, _)| key.starts_with(prefix) && Some(key.as_str()) > start_after)
            .map(|(key, body)| Stored {
                key: key.clone(),
                size: body.len() as u64,
            });
        let page: Vec<Stored> = found.by_ref().take(limit).collect();
        Ok(Listing {
            objects: page,
            more: found.next().is_some(),
        })
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<usize> {
        let mut objects = self.objects.lock().unwrap();
        let before = objects.len();
        objects.retain(|key, _| !key.starts_with(prefix));
        Ok(before - objects.len())
    }

    async fn presign_get(&self, key: &str, _expires: Duration) -> Result<String> {
        Ok(format!("memory://artifacts/{key}"))
    }
}
