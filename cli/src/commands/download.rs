//! `wharf download`: fetch a task's outputs through their presigned URLs
//! and check each against its recorded SHA-256.

use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use sha2::{Digest, Sha256};

use crate::client::{ApiArgs, Client};

#[derive(Debug, clap::Args)]
pub struct DownloadArgs {
    id: String,
    /// Only this output (default: all of them).
    #[arg(long)]
    path: Option<String>,
    /// Directory to write into.
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// Print the presigned URLs instead of downloading.
    #[arg(long)]
    urls: bool,
    #[command(flatten)]
    api: ApiArgs,
}

pub async fn run(args: DownloadArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.api);
    let manifest = client
        .get_json(&format!("/v1/tasks/{}/outputs", args.id))
        .await?;
    let outputs = manifest["outputs"].as_array().cloned().unwrap_or_default();
    let selected: Vec<_> = outputs
        .iter()
        .filter(|o| args.path.as_deref().is_none_or(|p| o["path"] == p))
        .collect();
    if selected.is_empty() {
        bail!("task {} has no matching outputs", args.id);
    }
    for output in selected {
        let path = output["path"]
            .as_str()
            .context("an output without a path")?;
        let url = output["url"].as_str().context("an output without a URL")?;
        if args.urls {
            println!("{path}\t{url}");
            continue;
        }
        let target = args.dir.join(safe_relative(path)?);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let bytes = client.download(url).await?.bytes().await?;
        let digest = hex::encode(Sha256::digest(&bytes));
        if Some(digest.as_str()) != output["sha256"].as_str() {
            bail!("{path}: SHA-256 mismatch (got {digest})");
        }
        std::fs::write(&target, &bytes)
            .with_context(|| format!("cannot write {}", target.display()))?;
        println!("{}\t{} bytes", target.display(), bytes.len());
    }
    Ok(ExitCode::SUCCESS)
}

/// An output path as a relative path that cannot climb out of the target.
fn safe_relative(path: &str) -> anyhow::Result<&Path> {
    let relative = Path::new(path);
    if relative
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
    {
        Ok(relative)
    } else {
        bail!("refusing the output path {path:?}")
    }
}
