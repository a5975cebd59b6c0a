//! What an attempt leaves: its log, and every regular file in its output
//! directory (recursively, with size and SHA-256; symlinks only when they
//! stay inside the directory), uploaded to the artifact store, with
//! `result.json` as the inline result.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};
use wharf_core::artifacts::{log_key, output_key};
use wharf_core::model::{OutputFile, Reason};
use wharf_core::retry::retry_transient;

use crate::executor::Run;
use crate::worker::Worker;

/// `result.json` appears inline as the task's `result` up to this size.
pub const MAX_RESULT_BYTES: u64 = 64 * 1024;

/// A file to upload: where it is, and what the manifest says of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collected {
    pub source: PathBuf,
    pub file: OutputFile,
}

/// Everything found in an output directory.
#[derive(Debug, Default)]
pub struct Found {
    pub files: Vec<Collected>,
    /// Things skipped, for the task's `message`.
    pub notes: Vec<String>,
}

impl Found {
    pub fn total_size(&self) -> u64 {
        self.files.iter().map(|c| c.file.size).sum()
    }
}

/// Walks `dir` (blocking I/O: call it from `spawn_blocking`).
pub fn collect(dir: &Path) -> std::io::Result<Found> {
    let root = dir.canonicalize()?;
    let mut found = Found::default();
    let mut pending = vec![root.clone()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current)? {
            let path = entry?.path();
            let relative = path
                .strip_prefix(&root)
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            let target = match path.canonicalize() {
                Ok(target) if target.starts_with(&root) => target,
                _ => {
                    found.notes.push(format!(
                        "skipped {relative}: it points outside the output directory"
                    ));
                    continue;
                }
            };
            let metadata = std::fs::metadata(&target)?;
            if metadata.is_dir() {
                if !path.is_symlink() {
                    pending.push(path);
                }
            } else if metadata.is_file() {
                let sha256 = sha256_file(&target)?;
                found.files.push(Collected {
                    source: target,
                    file: OutputFile {
                        path: relative,
                        size: metadata.len(),
                        sha256,
                    },
                });
            }
        }
    }
    found.files.sort_by(|a, b| a.file.path.cmp(&b.file.path));
    Ok(found)
}

fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            return Ok(hex::encode(hasher.finalize()));
        }
        hasher.update(&buffer[..n]);
    }
}

/// The task's inline result from `result.json`, or a note saying why not.
pub fn read_result(found: &Found) -> Result<Option<Value>, String> {
    let Some(result) = found.files.iter().find(|c| c.file.path == "result.json") else {
        return Ok(None);
    };
    if result.file.size > MAX_RESULT_BYTES {
        return Err(format!(
            "result.json is {} bytes, more than {MAX_RESULT_BYTES}; it is kept as an output only",
            result.file.size
        ));
    }
    let text =
        std::fs::read(&result.source).map_err(|e| format!("cannot read result.json: {e}"))?;
    serde_json::from_slice(&text)
        .map(Some)
        .map_err(|e| format!("result.json is not valid JSON ({e}); it is kept as an output only"))
}

/// Why an attempt's uploads failed: the reason to record, and a note.
pub type UploadFailure = (Reason, String);

impl Worker {
    /// Uploads the attempt's log, retrying through outages until the
    /// attempt is stopped (then it is one try).
    pub(crate) async fn upload_log(&self, run: &Run) -> wharf_core::Result<()> {
        let log = run.log_file();
        if !log.exists() {
            return Ok(());
        }
        let key = log_key(&run.task_id, run.attempt);
        retry_transient("log upload", &run.stop, || {
            self.backend.artifacts.put_file(&key, &log)
        })
        .await
    }

    /// Uploads the log, then every output file, or says why it could not.
    pub(crate) async fn upload(&self, run: &Run) -> Result<Found, UploadFailure> {
        let failed = |what: &str, err: &dyn std::fmt::Display| {
            (Reason::UploadFailed, format!("{what} failed: {err}"))
        };
        self.upload_log(run)
            .await
            .map_err(|e| failed("log upload", &e))?;
        let dir = run.output_dir();
        let found = tokio::task::spawn_blocking(move || collect(&dir))
            .await
            .map_err(|e| failed("collecting outputs", &e))?
            .map_err(|e| failed("collecting outputs", &e))?;
        let limit = self.config.max_output_bytes;
        if found.total_size() > limit {
            let note = format!(
                "outputs total {} bytes, more than this host's limit of {limit}",
                found.total_size()
            );
            return Err((Reason::OutputTooLarge, note));
        }
        for collected in &found.files {
            let key = output_key(&run.task_id, &collected.file.path);
            retry_transient("output upload", &run.stop, || {
                self.backend.artifacts.put_file(&key, &collected.source)
            })
            .await
            .map_err(|e| failed(&format!("upload of {}", collected.file.path), &e))?;
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_nested_files_and_skips_links_that_leave() {
        let base = std::env::temp_dir().join(format!("wharf-outputs-{}", std::process::id()));
        let out = base.join("out");
        std::fs::create_dir_all(out.join("sub")).unwrap();
        std::fs::write(out.join("a.txt"), b"abc").unwrap();
        std::fs::write(out.join("sub/b.txt"), b"").unwrap();
        std::fs::write(base.join("secret"), b"do not upload").unwrap();
        std::os::unix::fs::symlink(base.join("secret"), out.join("leak")).unwrap();
        std::os::unix::fs::symlink(out.join("a.txt"), out.join("alias")).unwrap();
        std::fs::write(out.join("result.json"), br#"{"ok": true}"#).unwrap();

        let found = collect(&out).unwrap();
        let paths: Vec<&str> = found.files.iter().map(|c| c.file.path.as_str()).collect();
        assert_eq!(paths, ["a.txt", "alias", "result.json", "sub/b.txt"]);
        assert_eq!(
            found.files[0].file.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(found.notes.len(), 1, "{:?}", found.notes);
        assert!(found.notes[0].contains("leak"));
        assert_eq!(
            read_result(&found),
            Ok(Some(serde_json::json!({"ok": true})))
        );
        std::fs::remove_dir_all(&base).unwrap();
    }
}
