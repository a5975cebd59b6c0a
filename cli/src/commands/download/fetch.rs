//! The download of one output: written beside its target as
//! `NAME.<digest>.wharf-part`, resumed with a range request when a part is
//! there, and renamed into place once its SHA-256 matches the manifest's.

use std::path::{Path, PathBuf};

use indicatif::ProgressBar;
use reqwest::{Response, StatusCode};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::super::Session;
use crate::exit::{Exit, Failure};
use wharf_contract::views::OutputLink;

/// What a partial file is called while it downloads: `NAME.<first 12
/// digits of its SHA-256>.wharf-part`, so only a part of the same output
/// is ever resumed.
const PART_SUFFIX: &str = ".wharf-part";

/// What became of one output.
pub(super) struct Fetched {
    pub(super) file: PathBuf,
    /// Bytes a partial file already held.
    pub(super) resumed_from: u64,
    /// The target already held exactly this output.
    pub(super) up_to_date: bool,
}

/// Downloads one output into `target`, resuming a partial file, and
/// renames it into place once its SHA-256 matches. A file already there
/// with other content is replaced only with `overwrite`.
pub(super) async fn fetch(
    session: &Session,
    output: &OutputLink,
    target: &Path,
    overwrite: bool,
    bar: &ProgressBar,
) -> anyhow::Result<Fetched> {
    if let Some(parent) = target.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|e| cannot_write(parent, &e))?;
    }
    if up_to_date(output, target, overwrite).await? {
        return Ok(Fetched {
            file: target.to_owned(),
            resumed_from: 0,
            up_to_date: true,
        });
    }
    let path = part_path(target, &output.sha256);
    let (have, response) = request(session, output, &path).await?;
    let mut part = Part::open(path, have).await?;
    bar.set_position(have);
    if let Some(response) = response {
        part.receive(response, output, bar).await?;
    }
    let path = part.verify(output).await?;
    tokio::fs::rename(&path, target)
        .await
        .map_err(|e| cannot_write(target, &e))?;
    Ok(Fetched {
        file: target.to_owned(),
        resumed_from: have,
        up_to_date: false,
    })
}

/// Whether `target` already holds exactly this output; a file there with
/// other content is an error without `overwrite`.
async fn up_to_date(output: &OutputLink, target: &Path, overwrite: bool) -> Result<bool, Failure> {
    let Ok(existing) = tokio::fs::symlink_metadata(target).await else {
        return Ok(false);
    };
    let same = existing.is_file()
        && existing.len() == output.size
        && sha256_of(target).await.ok().as_ref() == Some(&output.sha256);
    if same {
        return Ok(true);
    }
    if !overwrite {
        let message = format!(
            "{} exists with other content; pass --overwrite to replace it",
            target.display()
        );
        return Err(Failure::new(Exit::Error, message));
    }
    Ok(false)
}

/// How many bytes of the part at `part` are kept, and the answer that
/// brings the rest (none when the part is complete). A range that is not
/// served starts the part over.
async fn request(
    session: &Session,
    output: &OutputLink,
    part: &Path,
) -> Result<(u64, Option<Response>), Failure> {
    let mut have = tokio::fs::metadata(part).await.map_or(0, |m| m.len());
    if have > output.size {
        have = 0;
    }
    if have >= output.size {
        return Ok((have, None));
    }
    let answer = session.client.download(&output.url, have).await?;
    if answer.status() != StatusCode::PARTIAL_CONTENT {
        // The range was not served: start over.
        have = 0;
    }
    let response = match answer.status() {
        StatusCode::RANGE_NOT_SATISFIABLE => session.client.download(&output.url, 0).await?,
        _ => answer,
    };
    Ok((have, Some(response)))
}

/// A partial file being written, with the hash of what it holds.
struct Part {
    path: PathBuf,
    file: tokio::fs::File,
    hasher: Sha256,
    /// Bytes received, those it held before included.
    written: u64,
}

impl Part {
    /// Opens the part keeping its first `have` bytes (none: truncated),
    /// hashed, and positioned after them.
    async fn open(path: PathBuf, have: u64) -> anyhow::Result<Part> {
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .read(true)
            .truncate(have == 0)
            .open(&path)
            .await
            .map_err(|e| cannot_write(&path, &e))?;
        let mut hasher = Sha256::new();
        hash_prefix(&mut file, have, &mut hasher).await?;
        Ok(Part {
            path,
            file,
            hasher,
            written: have,
        })
    }

    /// Appends the answer's body, stopping once it is longer than the
    /// output.
    async fn receive(
        &mut self,
        mut response: Response,
        output: &OutputLink,
        bar: &ProgressBar,
    ) -> Result<(), Failure> {
        while let Some(bytes) = response.chunk().await.map_err(|e| {
            Failure::new(
                Exit::Unavailable,
                format!(
                    "{}: download broke off ({e}); run again to resume",
                    output.path
                ),
            )
        })? {
            self.written += bytes.len() as u64;
            if self.written > output.size {
                break;
            }
            self.hasher.update(&bytes);
            self.file
                .write_all(&bytes)
                .await
                .map_err(|e| cannot_write(&self.path, &e))?;
            bar.inc(bytes.len() as u64);
        }
        Ok(())
    }

    /// Closes the part and answers its path if its size and SHA-256 are
    /// the manifest's; removes it otherwise.
    async fn verify(self, output: &OutputLink) -> Result<PathBuf, Failure> {
        let Part {
            path,
            mut file,
            hasher,
            written,
        } = self;
        file.flush().await.map_err(|e| cannot_write(&path, &e))?;
        drop(file);
        let digest = hex::encode(hasher.finalize());
        if written != output.size || digest != output.sha256 {
            let _ = tokio::fs::remove_file(&path).await;
            return Err(Failure::new(
                Exit::Error,
                format!(
                    "{}: SHA-256 or size does not match the manifest ({written} of {} bytes, {digest}); the download was removed, run again",
                    output.path, output.size
                ),
            ));
        }
        Ok(path)
    }
}

/// Feeds the first `len` bytes of a partial file to the hasher and leaves
/// the file positioned after them.
async fn hash_prefix(
    file: &mut tokio::fs::File,
    len: u64,
    hasher: &mut Sha256,
) -> anyhow::Result<()> {
    let mut prefix = (&mut *file).take(len);
    let mut buffer = vec![0; 256 * 1024];
    loop {
        let read = prefix.read(&mut buffer).await?;
        if read == 0 {
            return Ok(());
        }
        hasher.update(&buffer[..read]);
    }
}

async fn sha256_of(path: &Path) -> anyhow::Result<String> {
    let mut file = tokio::fs::File::open(path).await?;
    let mut hasher = Sha256::new();
    hash_prefix(&mut file, u64::MAX, &mut hasher).await?;
    Ok(hex::encode(hasher.finalize()))
}

fn part_path(target: &Path, sha256: &str) -> PathBuf {
    let mut name = target.file_name().unwrap_or_default().to_owned();
    name.push(format!(
        ".{}{PART_SUFFIX}",
        sha256.get(..12).unwrap_or(sha256)
    ));
    target.with_file_name(name)
}

fn cannot_write(path: &Path, error: &std::io::Error) -> Failure {
    Failure::new(
        Exit::Error,
        format!("cannot write {}: {error}", path.display()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_part_is_named_by_its_target_and_digest() {
        assert_eq!(
            part_path(Path::new("out/a.txt"), "9f86d081884c7d659a2feaa0c55ad015"),
            Path::new("out/a.txt.9f86d081884c.wharf-part")
        );
    }
}
