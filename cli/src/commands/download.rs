//! `wharf download`: a task's outputs through their presigned URLs, a few
//! at a time with progress bars. Each file is written beside its target as
//! `NAME.wharf-part` and renamed once its SHA-256 matches the manifest's;
//! a part left by an interrupted run is resumed with a range request
//! (`fetch`). Which outputs, and where they go: `select`.

mod fetch;
mod select;

use std::path::PathBuf;
use std::process::ExitCode;

use futures_util::{StreamExt, TryStreamExt};
use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use self::fetch::{fetch, Fetched};
use self::select::{safe_relative, select};
use super::{segment, Session};
use crate::client::read_as;
use crate::exit::Failure;
use wharf_contract::views::{OutputLink, OutputsPage};

/// Files downloaded at once.
const IN_FLIGHT: usize = 4;

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
