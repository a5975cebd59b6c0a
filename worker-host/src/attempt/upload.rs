//! Uploading what an attempt left: its log, then its outputs — several at a
//! time, each retried through outages — all within the host's deadline
//! (`--upload-timeout-secs`), after which the attempt fails `UploadFailed`.

use futures_util::{stream, StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};
use wharf_core::artifacts::{manifest_key, output_key};
use wharf_core::lifecycle::manifest_in_s3;
use wharf_core::model::{OutputFile, Reason};
use wharf_core::retry::retry_transient;

use super::logs::LogStream;
use super::outputs::{
    collect, redact_result, sha256_file, CollectError, Collected, Found, OutputLimits,
};
use crate::executor::Run;
use crate::worker::Worker;

/// Outputs uploaded at once.
const UPLOAD_CONCURRENCY: usize = 8;

/// Outputs up to this size are read into memory once, for their hash and
/// their upload (at most `UPLOAD_CONCURRENCY` of them at a time).
const SMALL_OUTPUT_BYTES: u64 = 1024 * 1024;

/// Why an attempt's uploads failed: the reason to record, and a note.
pub type UploadFailure = (Reason, String);

/// What was found, and the manifest of what was uploaded.
pub struct Uploaded {
    pub found: Found,
    pub outputs: Vec<OutputFile>,
}

fn failed(what: &str, err: &dyn std::fmt::Display) -> UploadFailure {
    (Reason::UploadFailed, format!("{what} failed: {err}"))
}

impl Worker {
    /// Uploads the rest of the attempt's log, retrying through outages
    /// until the attempt is stopped (then it is one try).
    pub(crate) async fn upload_log(&self, run: &Run, log: &LogStream) -> wharf_core::Result<()> {
        retry_transient("log upload", &run.stop, || log.ship()).await
    }

    /// Uploads the log and the outputs within the deadline, or says why not.
    pub(crate) async fn upload(
        &self,
        run: &Run,
        log: &LogStream,
    ) -> Result<Uploaded, UploadFailure> {
        let deadline = self.config.upload_timeout;
        match tokio::time::timeout(deadline, self.upload_all(run, log)).await {
            Ok(uploaded) => uploaded,
            Err(_) => Err((
                Reason::UploadFailed,
                format!(
                    "the uploads did not finish within {} s (the host's --upload-timeout-secs)",
                    deadline.as_secs()
                ),
            )),
        }
    }

    async fn upload_all(&self, run: &Run, log: &LogStream) -> Result<Uploaded, UploadFailure> {
        self.upload_log(run, log)
            .await
            .map_err(|e| failed("log upload", &e))?;
        let dir = run.output_dir();
        let limits = OutputLimits {
            max_files: self.config.max_output_files,
            max_bytes: self.config.max_output_bytes,
        };
        let redaction = run.secrets.redaction.clone();
        let found = tokio::task::spawn_blocking(move || {
            let mut found = collect(&dir, limits)?;
            redact_result(&mut found, &redaction)?;
            Ok::<_, CollectError>(found)
        })
        .await
        .map_err(|e| failed("collecting outputs", &e))?
        .map_err(|err| match err {
            CollectError::Io(_) => failed("collecting outputs", &err),
            _ => (Reason::OutputTooLarge, err.to_string()),
        })?;
        // The futures are made first: a closure making them inside the
        // stream would not be `Send` for every lifetime.
        let uploads: Vec<_> = found
            .files
            .iter()
            .map(|collected| self.upload_output(run, collected))
            .collect();
        let mut outputs: Vec<OutputFile> = stream::iter(uploads)
            .buffer_unordered(UPLOAD_CONCURRENCY)
            .try_collect()
            .await?;
        outputs.sort_by(|a, b| a.path.cmp(&b.path));
        if manifest_in_s3(&outputs) {
            self.upload_manifest(run, &outputs).await?;
        }
        Ok(Uploaded { found, outputs })
    }

    /// A manifest too long for the record goes beside the outputs.
    async fn upload_manifest(
        &self,
        run: &Run,
        outputs: &[OutputFile],
    ) -> Result<(), UploadFailure> {
        let body = serde_json::to_vec(outputs).map_err(|e| failed("writing the manifest", &e))?;
        let key = manifest_key(&run.task_id);
        retry_transient("manifest upload", &run.stop, || {
            let body = body.clone();
            self.backend
                .artifacts
                .put_bytes(&key, body, "application/json")
        })
        .await
        .map_err(|e| failed("manifest upload", &e))
    }

    /// Hashes and uploads one output: a small one from memory, read once;
    /// a larger one streamed from its file (in parts when large).
    async fn upload_output(
        &self,
        run: &Run,
        collected: &Collected,
    ) -> Result<OutputFile, UploadFailure> {
        let path = &collected.path;
        let source = collected.source.clone();
        let small = collected.size <= SMALL_OUTPUT_BYTES;
        let read = tokio::task::spawn_blocking(move || -> std::io::Result<_> {
            if small {
                let bytes = std::fs::read(&source)?;
                Ok((hex::encode(Sha256::digest(&bytes)), Some(bytes)))
            } else {
                Ok((sha256_file(&source)?, None))
            }
        });
        let (sha256, bytes) = read
            .await
            .map_err(|e| failed(&format!("reading {path}"), &e))?
            .map_err(|e| failed(&format!("reading {path}"), &e))?;
        let key = output_key(&run.task_id, path);
        let artifacts = &self.backend.artifacts;
        retry_transient("output upload", &run.stop, || async {
            match &bytes {
                Some(bytes) => {
                    let body = bytes.clone();
                    artifacts
                        .put_bytes(&key, body, "application/octet-stream")
                        .await
                }
                None => artifacts.put_file(&key, &collected.source).await,
            }
        })
        .await
        .map_err(|e| failed(&format!("upload of {path}"), &e))?;
        Ok(OutputFile {
            path: path.clone(),
            size: collected.size,
            sha256,
        })
    }
}
