//! `wharf download`: a task's outputs through their presigned URLs, a few
//! at a time with progress bars. Each file is written beside its target as
//! `NAME.wharf-part` and renamed once its SHA-256 matches the manifest's;
//! a part left by an interrupted run is resumed with a range request.

use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

use futures_util::{StreamExt, TryStreamExt};
use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use reqwest::StatusCode;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{segment, Session};
use crate::client::read_as;
use crate::exit::{Exit, Failure};
use wharf_contract::views::{OutputLink, OutputsPage};

/// Files downloaded at once.
const IN_FLIGHT: usize = 4;
/// What a partial file is called while it downloads: `NAME.<first 12
/// digits of its SHA-256>.wharf-part`, so only a part of the same output
/// is ever resumed.
const PART_SUFFIX: &str = ".wharf-part";

#[derive(Debug, clap::Args)]
pub struct DownloadArgs {
    id: String,
    /// Only these outputs: a path, or a directory for everything under it
    /// (default: every output).
    paths: Vec<String>,
    /// Directory to write into.
    #[arg(short = 'o', long = "output-dir", default_value = ".")]
    dir: PathBuf,
    /// Print each output's presigned URL instead of downloading it.
    #[arg(long)]
    urls: bool,
    /// Seconds the presigned URLs stay valid.
    #[arg(long, value_name = "SECS", default_value_t = 3600)]
    expires: u64,
    /// Replace files that exist with other content (they are refused
    /// otherwise).
    #[arg(long)]
    overwrite: bool,
}

/// What became of one output.
struct Fetched {
    file: PathBuf,
    /// Bytes a partial file already held.
    resumed_from: u64,
    /// The target already held exactly this output.
    up_to_date: bool,
}

pub async fn run(session: &Session, args: DownloadArgs) -> anyhow::Result<ExitCode> {
    let id = &segment(&args.id, "task id")?;
    let outputs = select(manifest(session, id, args.expires).await?, &args.paths, id)?;
    if outputs.is_empty() {
        eprintln!("wharf: task {id} has no outputs");
        return Ok(ExitCode::SUCCESS);
    }
    if args.urls {
        for output in &outputs {
            match session.json {
                true => println!("{}", json!({ "path": output.path, "url": output.url })),
                false => println!("{}\t{}", output.path, output.url),
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let bars = MultiProgress::with_draw_target(match session.json {
        true => ProgressDrawTarget::hidden(),
        false => ProgressDrawTarget::stderr(),
    });
    let jobs = outputs.into_iter().map(|output| {
        let bars = bars.clone();
        let dir = args.dir.clone();
        let overwrite = args.overwrite;
        async move {
            let target = dir.join(safe_relative(&output.path)?);
            let bar = bars.add(progress_bar(&output));
            let fetched = fetch(session, &output, &target, overwrite, &bar).await;
            bar.finish_and_clear();
            let fetched = fetched?;
            bars.suspend(|| report(session, &output, &fetched));
            anyhow::Ok(())
        }
    });
    futures_util::stream::iter(jobs)
        .buffer_unordered(IN_FLIGHT)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(ExitCode::SUCCESS)
}

/// Every page of the task's outputs manifest.
async fn manifest(session: &Session, id: &str, expires: u64) -> Result<Vec<OutputLink>, Failure> {
    let mut outputs = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair("expires", &expires.to_string());
        if let Some(cursor) = &cursor {
            query.append_pair("cursor", cursor);
        }
        let path = format!("/v1/tasks/{id}/outputs?{}", query.finish());
        let page: OutputsPage = read_as(&session.client.get(&path).await?)?;
        outputs.extend(page.outputs);
        cursor = page.next_cursor;
        if cursor.is_none() {
            return Ok(outputs);
        }
    }
}

/// The outputs the paths name (all without paths); a path naming none is
/// an error, before anything is downloaded.
fn select(
    outputs: Vec<OutputLink>,
    paths: &[String],
    id: &str,
) -> Result<Vec<OutputLink>, Failure> {
    let names = |output: &OutputLink, path: &str| {
        let dir = path.trim_end_matches('/');
        output.path == path
            || output
                .path
                .strip_prefix(dir)
                .is_some_and(|rest| rest.starts_with('/'))
    };
    let unknown: Vec<&str> = paths
        .iter()
        .filter(|path| !outputs.iter().any(|o| names(o, path)))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        return Err(Failure::new(
            Exit::NotFound,
            format!("task {id} has no output {}", unknown.join(", ")),
        ));
    }
    Ok(outputs
        .into_iter()
        .filter(|o| paths.is_empty() || paths.iter().any(|p| names(o, p)))
        .collect())
}

/// Downloads one output into `target`, resuming a partial file, and
/// renames it into place once its SHA-256 matches. A file already there
/// with other content is replaced only with `overwrite`.
async fn fetch(
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
    if let Ok(existing) = tokio::fs::symlink_metadata(target).await {
        let same = existing.is_file()
            && existing.len() == output.size
            && sha256_of(target).await.ok().as_ref() == Some(&output.sha256);
        if same {
            return Ok(Fetched {
                file: target.to_owned(),
                resumed_from: 0,
                up_to_date: true,
            });
        }
        if !overwrite {
            let message = format!(
                "{} exists with other content; pass --overwrite to replace it",
                target.display()
            );
            return Err(Failure::new(Exit::Error, message).into());
        }
    }
    let part = part_path(target, &output.sha256);
    let mut have = tokio::fs::metadata(&part).await.map_or(0, |m| m.len());
    if have > output.size {
        have = 0;
    }
    let mut response = None;
    if have < output.size {
        let answer = session.client.download(&output.url, have).await?;
        if answer.status() != StatusCode::PARTIAL_CONTENT {
            // The range was not served: start over.
            have = 0;
        }
        response = Some(match answer.status() {
            StatusCode::RANGE_NOT_SATISFIABLE => session.client.download(&output.url, 0).await?,
            _ => answer,
        });
    }
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .read(true)
        .truncate(have == 0)
        .open(&part)
        .await
        .map_err(|e| cannot_write(&part, &e))?;
    let mut hasher = Sha256::new();
    hash_prefix(&mut file, have, &mut hasher).await?;
    bar.set_position(have);
    let mut written = have;
    if let Some(mut response) = response {
        while let Some(bytes) = response.chunk().await.map_err(|e| {
            Failure::new(
                Exit::Unavailable,
                format!(
                    "{}: download broke off ({e}); run again to resume",
                    output.path
                ),
            )
        })? {
            written += bytes.len() as u64;
            if written > output.size {
                break;
            }
            hasher.update(&bytes);
            file.write_all(&bytes)
                .await
                .map_err(|e| cannot_write(&part, &e))?;
            bar.inc(bytes.len() as u64);
        }
    }
    file.flush().await.map_err(|e| cannot_write(&part, &e))?;
    drop(file);
    let digest = hex::encode(hasher.finalize());
    if written != output.size || digest != output.sha256 {
        let _ = tokio::fs::remove_file(&part).await;
        return Err(Failure::new(
            Exit::Error,
            format!(
                "{}: SHA-256 or size does not match the manifest ({written} of {} bytes, {digest}); the download was removed, run again",
                output.path, output.size
            ),
        )
        .into());
    }
    tokio::fs::rename(&part, target)
        .await
        .map_err(|e| cannot_write(target, &e))?;
    Ok(Fetched {
        file: target.to_owned(),
        resumed_from: have,
        up_to_date: false,
    })
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

fn progress_bar(output: &OutputLink) -> ProgressBar {
    let style = ProgressStyle::with_template(
        "{msg:30!} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
    )
    .expect("the progress template is valid")
    .progress_chars("=> ");
    ProgressBar::new(output.size)
        .with_style(style)
        .with_message(output.path.clone())
}

fn report(session: &Session, output: &OutputLink, fetched: &Fetched) {
    if session.json {
        let line = json!({
            "path": output.path,
            "file": fetched.file,
            "size": output.size,
            "sha256": output.sha256,
            "resumedFrom": fetched.resumed_from,
            "upToDate": fetched.up_to_date,
        });
        println!("{line}");
        return;
    }
    let note = match (fetched.up_to_date, fetched.resumed_from) {
        (true, _) => " (up to date)".to_owned(),
        (false, 0) => String::new(),
        (false, from) => format!(" (resumed at {})", HumanBytes(from)),
    };
    println!(
        "{}  {}{note}",
        fetched.file.display(),
        HumanBytes(output.size)
    );
}

fn cannot_write(path: &Path, error: &std::io::Error) -> Failure {
    Failure::new(
        Exit::Error,
        format!("cannot write {}: {error}", path.display()),
    )
}

/// An output path as a relative path that cannot climb out of the target
/// directory.
fn safe_relative(path: &str) -> Result<&Path, Failure> {
    let relative = Path::new(path);
    if !path.is_empty()
        && relative
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
    {
        Ok(relative)
    } else {
        Err(Failure::new(
            Exit::Error,
            format!("refusing the output path {path:?}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(path: &str) -> OutputLink {
        OutputLink {
            path: path.into(),
            size: 1,
            sha256: String::new(),
            url: String::new(),
            expires_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn paths_select_files_and_directories_and_name_what_is_missing() {
        let outputs = || {
            vec![
                link("a.txt"),
                link("reports/x.csv"),
                link("reports/y.csv"),
                link("reportsold"),
            ]
        };
        let all = select(outputs(), &[], "t").unwrap();
        assert_eq!(all.len(), 4);
        let picked = select(outputs(), &["reports/".into(), "a.txt".into()], "t").unwrap();
        let paths: Vec<&str> = picked.iter().map(|o| o.path.as_str()).collect();
        assert_eq!(paths, ["a.txt", "reports/x.csv", "reports/y.csv"]);
        let error = select(outputs(), &["b.txt".into(), "report".into()], "t").unwrap_err();
        assert_eq!(error.exit, Exit::NotFound);
        assert!(
            error.message.ends_with("no output b.txt, report"),
            "{}",
            error.message
        );
    }

    #[test]
    fn output_paths_cannot_climb_out() {
        assert!(safe_relative("a/b.txt").is_ok());
        for bad in ["../x", "/etc/passwd", "a/../../x", "./a", ""] {
            assert!(safe_relative(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            part_path(Path::new("out/a.txt"), "9f86d081884c7d659a2feaa0c55ad015"),
            Path::new("out/a.txt.9f86d081884c.wharf-part")
        );
    }
}
