//! Preparing an attempt's directory before its executor starts: `home/`,
//! `io/output/`, the payload file `io/payload.json`, for a task with
//! dependencies the upstream file `io/upstream.json`, and the task's
//! secrets, resolved, with the `as: file` ones in `secrets/` (mode 0400,
//! beside `io/`, never in what is uploaded). What an attempt needs on disk
//! is written here; it is all removed with the attempt directory after the
//! record.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};

use std::time::Duration;

use futures_util::future::try_join_all;
use serde_json::{json, Value};
use wharf_core::array::child_id;
use wharf_core::artifacts::{self, output_key, payload_key};
use wharf_core::model::Task;
use wharf_core::retry::retry_transient;
use wharf_core::validate::MAX_PAYLOAD_BYTES;

use crate::executor::{Run, StartFailure};
use crate::secrets::{self, Resolved};
use crate::worker::Worker;

/// An upstream array's children are read this many at a time.
const CHILDREN_AT_ONCE: usize = 16;

/// S3's longest presigned URL.
const MAX_PRESIGN: Duration = Duration::from_secs(7 * 24 * 3600);

impl Worker {
    /// Makes the attempt's directories, writes the payload file and
    /// resolves the task's secrets.
    pub(super) async fn prepare(&self, task: &Task, run: &Run) -> Result<Resolved, StartFailure> {
        for dir in [run.home(), run.output_dir()] {
            tokio::fs::create_dir_all(&dir)
                .await
                .map_err(StartFailure::io(format!("create {}", dir.display())))?;
        }
        // The attempt directory and `io/` stay the worker's, whatever the
        // worker's umask: others may pass through to the payload and the
        // output directory, not list or change them (the log lives here).
        // A container may run as any user: let it write its outputs.
        for (dir, mode) in [
            (run.dir.clone(), 0o711),
            (run.io_dir(), 0o711),
            (run.output_dir(), 0o777),
        ] {
            tokio::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode))
                .await
                .map_err(StartFailure::io(format!(
                    "set the mode of {}",
                    dir.display()
                )))?;
        }
        let payload = self.payload(task, run).await?;
        tokio::fs::write(run.payload_file(), payload)
            .await
            .map_err(StartFailure::io("write the payload file"))?;
        let readable = std::fs::Permissions::from_mode(0o644);
        tokio::fs::set_permissions(run.payload_file(), readable.clone())
            .await
            .map_err(StartFailure::io("set the mode of the payload file"))?;
        if !task.depends_on.is_empty() {
            let upstream = self.upstream(task, run).await?;
            tokio::fs::write(run.upstream_file(), upstream)
                .await
                .map_err(StartFailure::io("write the upstream file"))?;
            tokio::fs::set_permissions(run.upstream_file(), readable)
                .await
                .map_err(StartFailure::io("set the mode of the upstream file"))?;
        }
        let secrets = self.secrets_of(task, run).await?;
        write_secret_files(run, &secrets)?;
        Ok(secrets)
    }

    /// The task's secrets, read with this host's credentials under its
    /// prefixes.
    async fn secrets_of(&self, task: &Task, run: &Run) -> Result<Resolved, StartFailure> {
        if task.secrets.is_empty() {
            return Ok(Resolved::none());
        }
        let source = self
            .secrets
            .as_deref()
            .ok_or(StartFailure::NoSecretSource)?;
        let prefixes = &self.config.secret_prefixes;
        Ok(secrets::resolve(source, prefixes, &task.secrets, &run.stop).await?)
    }

    /// `WHARF_UPSTREAM`'s file: each upstream task's id, name, status,
    /// result and outputs, each output with a URL presigned for the task's
    /// timeout; an upstream array stands for its children, in index order.
    /// A task gone since it released this one is left out.
    async fn upstream(&self, task: &Task, run: &Run) -> Result<Vec<u8>, StartFailure> {
        let expires = Duration::from_secs(task.timeout_seconds.into()).min(MAX_PRESIGN);
        let mut upstream = Vec::new();
        for dependency in &task.depends_on {
            let read = || self.backend.store.get(&dependency.task);
            let Some(found) = retry_transient("upstream read", &run.stop, read)
                .await
                .map_err(StartFailure::Upstream)?
            else {
                continue;
            };
            if found.task.array.is_none() {
                upstream.push(self.upstream_entry(found.task, expires, run).await?);
                continue;
            }
            // Each child read by its id (consistently), a few at a time.
            let made = found.task.array.as_ref().map_or(0, |a| a.created);
            let ids: Vec<String> = (0..made).map(|i| child_id(&found.task.id, i)).collect();
            for some in ids.chunks(CHILDREN_AT_ONCE) {
                let read = || try_join_all(some.iter().map(|id| self.backend.store.get(id)));
                let children = retry_transient("upstream children", &run.stop, read)
                    .await
                    .map_err(StartFailure::Upstream)?;
                for child in children.into_iter().flatten() {
                    upstream.push(self.upstream_entry(child.task, expires, run).await?);
                }
            }
        }
        Ok(serde_json::to_vec_pretty(&upstream).unwrap_or_default())
    }

    /// One upstream task as `WHARF_UPSTREAM` lists it.
    async fn upstream_entry(
        &self,
        found: Task,
        expires: Duration,
        run: &Run,
    ) -> Result<Value, StartFailure> {
        let artifacts = &*self.backend.artifacts;
        let manifest = || artifacts::manifest(artifacts, &found);
        let mut outputs = Vec::new();
        for output in retry_transient("upstream manifest", &run.stop, manifest)
            .await
            .map_err(StartFailure::Upstream)?
        {
            let key = output_key(&found.id, &output.path);
            let url = artifacts
                .presign_get(&key, expires)
                .await
                .map_err(StartFailure::Upstream)?;
            outputs.push(json!({
                "path": output.path, "size": output.size, "sha256": output.sha256, "url": url,
            }));
        }
        let mut entry = json!({
            "id": found.id, "name": found.name, "status": found.status,
            "result": found.result, "outputs": outputs,
        });
        if let (Some(parent), Some(index)) = (&found.parent_id, found.array_index) {
            entry["parentId"] = json!(parent);
            entry["arrayIndex"] = json!(index);
        }
        Ok(entry)
    }

    /// The task's payload: from its record, from S3 when it was too large
    /// for the record, or `{}`.
    async fn payload(&self, task: &Task, run: &Run) -> Result<Vec<u8>, StartFailure> {
        match &task.payload {
            Some(payload) => Ok(payload.to_string().into_bytes()),
            None if task.payload_in_s3 => {
                let key = payload_key(task.payload_owner());
                let got = retry_transient("payload download", &run.stop, || {
                    self.backend
                        .artifacts
                        .get_from(&key, 0, MAX_PAYLOAD_BYTES as u64)
                })
                .await
                .map_err(StartFailure::PayloadFetch)?
                .ok_or(StartFailure::PayloadMissing)?;
                Ok(got.data)
            }
            None => Ok(b"{}".to_vec()),
        }
    }
}

/// The `as: file` secrets in `secrets/`: the directory 0700, each file
/// 0400, both the worker's until an executor hands them to the task.
fn write_secret_files(run: &Run, secrets: &Resolved) -> Result<(), StartFailure> {
    if secrets.files.is_empty() {
        return Ok(());
    }
    let dir = run.secrets_dir();
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(StartFailure::io("create the secrets directory"))?;
    for (name, value) in &secrets.files {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o400)
            .open(dir.join(name))
            .map_err(StartFailure::io(format!(
                "create the file of secret {name}"
            )))?;
        file.write_all(value)
            .map_err(StartFailure::io(format!("write the file of secret {name}")))?;
    }
    Ok(())
}
