//! Which outputs a `wharf download` fetches, and where each may be written.

use std::path::{Component, Path};

use crate::exit::{Exit, Failure};
use wharf_contract::views::OutputLink;

/// The outputs the paths name (all without paths); a path naming none is
/// an error, before anything is downloaded.
pub(super) fn select(
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

/// An output path as a relative path that cannot climb out of the target
/// directory.
pub(super) fn safe_relative(path: &str) -> Result<&Path, Failure> {
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
    }
}
