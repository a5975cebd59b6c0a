//! What `wharf submit` and `invoke` read: a task file, a JSON argument
//! inline or from a file, `KEY=VALUE` pairs.

use std::io::Read;

use serde_json::{Map, Value};

use crate::exit::Failure;

/// A task file as a JSON object: YAML if its name says so or stdin does
/// not start with `{`, JSON otherwise.
pub(super) fn read_task_file(file: &str) -> Result<Map<String, Value>, Failure> {
    let text = read_source(file)?;
    let yaml = file.ends_with(".yaml")
        || file.ends_with(".yml")
        || (file == "-" && !text.trim_start().starts_with('{'));
    let parsed: Result<Value, Unreadable> = match yaml {
        true => serde_yaml::from_str(&text).map_err(Unreadable::from),
        false => serde_json::from_str(&text).map_err(Unreadable::from),
    };
    match parsed {
        Ok(Value::Object(task)) => Ok(task),
        Ok(_) => Err(Failure::usage(format!("{file}: a task is an object"))),
        Err(e) => Err(Failure::usage(format!("{file}: {e}"))),
    }
}

/// Why a task file's text is not YAML or JSON: the parser's own words.
#[derive(Debug, thiserror::Error)]
enum Unreadable {
    #[error(transparent)]
    Yaml(#[from] serde_yaml::Error),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

/// A JSON argument given inline, or as @FILE (`@-`: stdin).
pub(in crate::commands) fn read_json_arg(flag: &str, text: &str) -> Result<Value, Failure> {
    let (text, from) = match text.strip_prefix('@') {
        Some(file) => (read_source(file)?, file),
        None => (text.to_owned(), flag),
    };
    serde_json::from_str(&text).map_err(|e| {
        Failure::usage(format!(
            "{from}: not JSON ({e}); a string is written with its quotes: '\"text\"'"
        ))
    })
}

/// A file's text, or stdin's for `-`.
fn read_source(file: &str) -> Result<String, Failure> {
    let mut text = String::new();
    let read = match file {
        "-" => std::io::stdin().read_to_string(&mut text).map(|_| ()),
        _ => std::fs::read_to_string(file).map(|t| text = t),
    };
    read.map_err(|e| Failure::usage(format!("cannot read {file}: {e}")))?;
    Ok(text)
}

/// `KEY=VALUE`, split at the first `=`.
pub(super) fn key_value(flag: &str, pair: &str) -> Result<(String, String), Failure> {
    match pair.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(Failure::usage(format!(
            "{flag} {pair:?}: expected KEY=VALUE"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_and_json_arguments_that_are_not_are_refused() {
        assert!(key_value("--label", "=x").is_err());
        assert!(key_value("--label", "novalue").is_err());
        let error = read_json_arg("--payload", "text").unwrap_err();
        assert!(
            error.message.contains("--payload: not JSON"),
            "{}",
            error.message
        );
    }
}
