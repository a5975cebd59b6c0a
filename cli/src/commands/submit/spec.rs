//! The `spec` of a task that `wharf submit`'s flags describe, without a
//! task file.

use serde_json::{json, Map, Value};

use super::input::key_value;
use super::SubmitArgs;
use crate::exit::Failure;

/// Whether a flag that describes what to run was given.
pub(super) fn spec_flags_given(args: &SubmitArgs) -> bool {
    args.cmd.is_some()
        || args.image.is_some()
        || args.script_url.is_some()
        || !args.env.is_empty()
        || !args.command.is_empty()
}

/// The `spec` the flags describe.
pub(super) fn spec_from_flags(args: &SubmitArgs) -> Result<Value, Failure> {
    let mut env = Map::new();
    for pair in &args.env {
        let (key, value) = key_value("--env", pair)?;
        env.insert(key, value.into());
    }
    let command = match (&args.cmd, args.command.is_empty()) {
        (Some(_), false) => {
            return Err(Failure::usage("give --cmd or a command after --, not both"))
        }
        (Some(line), true) => vec!["sh".to_owned(), "-c".to_owned(), line.clone()],
        (None, _) => args.command.clone(),
    };
    if let Some(url) = &args.script_url {
        let name = script_name(url)?;
        let mut script = json!({ "url": url, "name": name, "args": command });
        if let Some(sha256) = &args.script_sha256 {
            script["sha256"] = sha256.as_str().into();
        }
        if let Some(interpreter) = &args.interpreter {
            script["interpreter"] = interpreter.as_str().into();
        }
        if !env.is_empty() {
            return Err(Failure::usage("--env does not apply to a script"));
        }
        return Ok(json!({ "script": script }));
    }
    if let Some(image) = &args.image {
        return Ok(json!({ "container": { "image": image, "command": command, "env": env } }));
    }
    if command.is_empty() {
        return Err(Failure::usage(
            "nothing to run: give a task FILE, --cmd, --image, --script-url, or a command after --",
        ));
    }
    Ok(json!({ "process": { "command": command, "env": env } }))
}

/// A script's file name: the last segment of its URL's path.
fn script_name(url: &str) -> Result<String, Failure> {
    let parsed =
        url::Url::parse(url).map_err(|e| Failure::usage(format!("--script-url {url:?}: {e}")))?;
    parsed
        .path_segments()
        .and_then(|mut segments| segments.next_back())
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| Failure::usage(format!("--script-url {url:?} names no file")))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    /// The submit arguments of a command line.
    fn submit_args(line: &[&str]) -> SubmitArgs {
        #[derive(Parser)]
        struct Line {
            #[command(flatten)]
            args: SubmitArgs,
        }
        Line::parse_from(std::iter::once("submit").chain(line.iter().copied())).args
    }

    #[test]
    fn flags_describe_each_kind_of_spec() {
        let spec = spec_from_flags(&submit_args(&["--cmd", "echo hi | wc -c"])).unwrap();
        assert_eq!(
            spec,
            json!({"process": {"command": ["sh", "-c", "echo hi | wc -c"], "env": {}}})
        );

        let spec = spec_from_flags(&submit_args(&["--env", "A=b=c", "--", "ls", "-l"])).unwrap();
        assert_eq!(
            spec,
            json!({"process": {"command": ["ls", "-l"], "env": {"A": "b=c"}}})
        );

        let spec =
            spec_from_flags(&submit_args(&["--image", "alpine:3", "--", "echo", "hi"])).unwrap();
        assert_eq!(spec["container"]["image"], "alpine:3");
        assert_eq!(spec["container"]["command"], json!(["echo", "hi"]));

        let line = [
            "--script-url",
            "https://example.com/x/build.sh?v=2",
            "--script-sha256",
            "ab",
            "--",
            "fast",
        ];
        let spec = spec_from_flags(&submit_args(&line)).unwrap();
        assert_eq!(
            spec,
            json!({"script": {"url": "https://example.com/x/build.sh?v=2", "name": "build.sh", "args": ["fast"], "sha256": "ab"}})
        );
    }

    #[test]
    fn flags_that_describe_nothing_or_two_things_are_refused() {
        let error = spec_from_flags(&submit_args(&[])).unwrap_err();
        assert!(
            error.message.contains("nothing to run"),
            "{}",
            error.message
        );
        let error = spec_from_flags(&submit_args(&["--cmd", "ls", "--", "ls"])).unwrap_err();
        assert!(error.message.contains("not both"), "{}", error.message);
        let error =
            spec_from_flags(&submit_args(&["--script-url", "https://h/", "--"])).unwrap_err();
        assert!(error.message.contains("names no file"), "{}", error.message);
    }
}
