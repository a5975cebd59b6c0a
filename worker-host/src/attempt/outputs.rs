//! What a task left in its output directory, found from metadata only:
//! every regular file (recursively; symlinks only when they stay inside the
//! directory) with its size. Nothing is read until the limits of this host
//! (`--max-output-files`, `--max-output-bytes`) are known to hold, so a
//! sparse 1 TiB file or a million empty ones fail at once.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::secrets::{Redaction, Redactor};

/// `result.json` appears inline as the task's `result` up to this size.
pub const MAX_RESULT_BYTES: u64 = 64 * 1024;

/// How much an attempt may leave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputLimits {
    pub max_files: usize,
    pub max_bytes: u64,
}

/// A file to upload: where it is, its path in the manifest, its size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collected {
    pub source: PathBuf,
    pub path: String,
    pub size: u64,
}

/// Everything found in an output directory.
#[derive(Debug, Default)]
pub struct Found {
    pub files: Vec<Collected>,
    /// Things skipped, for the task's `message`.
    pub notes: Vec<String>,
}

/// Why the outputs cannot be taken.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("the task left more than {0} output files, this host's limit")]
    TooManyFiles(usize),
    #[error("outputs total {total} bytes, more than this host's limit of {limit}")]
    TooLarge { total: u64, limit: u64 },
    #[error("cannot read the output directory: {0}")]
    Io(#[from] std::io::Error),
}

/// Walks `dir` within `limits` (blocking I/O: call it from
/// `spawn_blocking`).
pub fn collect(dir: &Path, limits: OutputLimits) -> Result<Found, CollectError> {
    // The directory itself must still be the one made for the task (a
    // container could have replaced it with a link to anywhere).
    if !std::fs::symlink_metadata(dir)?.is_dir() {
        return Err(CollectError::Io(std::io::Error::other(
            "the output directory was replaced by something else",
        )));
    }
    let root = dir.canonicalize()?;
    let mut found = Found::default();
    let mut total = 0u64;
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
                    let note =
                        format!("skipped {relative}: it points outside the output directory");
                    found.notes.push(note);
                    continue;
                }
            };
            let metadata = std::fs::metadata(&target)?;
            if metadata.is_dir() && !path.is_symlink() {
                pending.push(path);
            } else if metadata.is_file() {
                total += metadata.len();
                found.files.push(Collected {
                    source: target,
                    path: relative,
                    size: metadata.len(),
                });
                check(&found, total, limits)?;
            }
        }
    }
    found.files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(found)
}

fn check(found: &Found, total: u64, limits: OutputLimits) -> Result<(), CollectError> {
    if found.files.len() > limits.max_files {
        return Err(CollectError::TooManyFiles(limits.max_files));
    }
    if total > limits.max_bytes {
        let limit = limits.max_bytes;
        return Err(CollectError::TooLarge { total, limit });
    }
    Ok(())
}

/// The SHA-256 of a file, hex (blocking I/O).
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
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

/// Replaces `result.json` (at the top of the output directory) with its
/// redacted copy, so neither the inline `result` nor the uploaded object
/// holds a secret (blocking I/O). Other outputs are the task's own files.
pub fn redact_result(found: &mut Found, redaction: &Arc<Redaction>) -> std::io::Result<()> {
    if redaction.is_empty() {
        return Ok(());
    }
    let Some(result) = found.files.iter_mut().find(|c| c.path == "result.json") else {
        return Ok(());
    };
    let redacted = result.source.with_extension("json.redacted");
    let mut input = std::fs::File::open(&result.source)?;
    let mut output = std::fs::File::create(&redacted)?;
    let mut stream = Redactor::new(redaction.clone());
    let (mut buffer, mut through) = (vec![0u8; 64 * 1024], Vec::new());
    loop {
        let n = input.read(&mut buffer)?;
        match n {
            0 => stream.finish(&mut through),
            n => stream.write(&buffer[..n], &mut through),
        }
        output.write_all(&through)?;
        through.clear();
        if n == 0 {
            break;
        }
    }
    std::fs::rename(&redacted, &result.source)?;
    result.size = std::fs::metadata(&result.source)?.len();
    Ok(())
}

/// The task's inline result from `result.json`, or a note saying why not.
pub fn read_result(found: &Found) -> Result<Option<Value>, String> {
    let Some(result) = found.files.iter().find(|c| c.path == "result.json") else {
        return Ok(None);
    };
    if result.size > MAX_RESULT_BYTES {
        return Err(format!(
            "result.json is {} bytes, more than {MAX_RESULT_BYTES}; it is kept as an output only",
            result.size
        ));
    }
    let text =
        std::fs::read(&result.source).map_err(|e| format!("cannot read result.json: {e}"))?;
    serde_json::from_slice(&text)
        .map(Some)
        .map_err(|e| format!("result.json is not valid JSON ({e}); it is kept as an output only"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOMY: OutputLimits = OutputLimits {
        max_files: 100,
        max_bytes: 1 << 20,
    };

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

        let found = collect(&out, ROOMY).unwrap();
        let paths: Vec<&str> = found.files.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, ["a.txt", "alias", "result.json", "sub/b.txt"]);
        assert_eq!(
            sha256_file(&found.files[0].source).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(found.notes.len(), 1, "{:?}", found.notes);
        assert!(found.notes[0].contains("leak"));
        assert_eq!(
            read_result(&found),
            Ok(Some(serde_json::json!({"ok": true})))
        );

        let few = OutputLimits {
            max_files: 3,
            ..ROOMY
        };
        assert!(matches!(
            collect(&out, few),
            Err(CollectError::TooManyFiles(3))
        ));
        // A sparse terabyte is refused from its size alone.
        let sparse = std::fs::File::create(out.join("huge")).unwrap();
        sparse.set_len(1 << 40).unwrap();
        assert!(matches!(
            collect(&out, ROOMY),
            Err(CollectError::TooLarge { .. })
        ));
        std::fs::remove_dir_all(&base).unwrap();
    }
}
