//! Preparing an attempt's directory before its executor starts: `home/`,
//! `io/output/` and the payload file `io/payload.json`. What an attempt
//! needs on disk is written here; it is all removed with the attempt
//! directory after the record.

use std::os::unix::fs::PermissionsExt;

use wharf_core::artifacts::payload_key;
use wharf_core::model::Task;
use wharf_core::retry::retry_transient;
use wharf_core::validate::MAX_PAYLOAD_BYTES;

use crate::executor::{Run, StartFailure};
use crate::worker::Worker;

impl Worker {
    /// Makes the attempt's directories and writes the payload file.
    pub(super) async fn prepare(&self, task: &Task, run: &Run) -> Result<(), StartFailure> {
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
        tokio::fs::set_permissions(run.payload_file(), readable)
            .await
            .map_err(StartFailure::io("set the mode of the payload file"))
    }

    /// The task's payload: from its record, from S3 when it was too large
    /// for the record, or `{}`.
    async fn payload(&self, task: &Task, run: &Run) -> Result<Vec<u8>, StartFailure> {
        match &task.payload {
            Some(payload) => Ok(payload.to_string().into_bytes()),
            None if task.payload_in_s3 => {
                let key = payload_key(&task.id);
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
