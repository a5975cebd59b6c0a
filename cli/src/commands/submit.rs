//! `wharf submit` (a task from a file or from flags) and `wharf invoke` (a
//! registered function with parameters); both can then `--wait` or
//! `--follow` the task. The spec flags describe: `spec`; reading files,
//! JSON arguments and `KEY=VALUE`: `input`.

mod input;
mod spec;

use std::process::ExitCode;

use reqwest::Method;
use serde_json::{json, Map, Value};
use wharf_core::array;
use wharf_core::model::{DependMode, DependOn};

pub(super) use self::input::read_json_arg;
use self::input::{key_value, read_task_file};
use self::spec::{spec_flags_given, spec_from_flags};
use super::{segment, watch, Session};
use crate::exit::Failure;
use crate::output::print_json;

/// What to do once the task is accepted.
#[derive(Debug, clap::Args)]
pub struct Then {
    /// Wait until the task ends, show it, and exit as it did (0 only if it
    /// succeeded).
    #[arg(long)]
    wait: bool,
    /// Print the task's log as it runs, until it ends; exit as it did.
    #[arg(long, short = 'f', conflicts_with = "wait")]
    follow: bool,
    /// Makes a retried submission answer the original task instead of a
    /// second one.
    #[arg(long)]
    idempotency_key: Option<String>,
}

/// Fields of a task either command may set.
#[derive(Debug, clap::Args)]
pub struct Common {
    /// A unique name for the task.
    #[arg(long)]
    name: Option<String>,
    /// The queue to run it on.
    #[arg(long)]
    queue: Option<String>,
    /// Seconds the task may run before it is killed.
    #[arg(long, value_name = "SECS")]
    timeout: Option<u32>,
    /// `KEY=VALUE`, repeatable.
    #[arg(long = "label", value_name = "KEY=VALUE")]
    labels: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct SubmitArgs {
    /// The task as JSON or YAML (`-` reads stdin). Flags below override its
    /// fields; without it, the flags describe the task.
    file: Option<String>,
    /// Run this command line with `sh -c` (in the image, with --image).
    #[arg(long, value_name = "COMMAND LINE")]
    cmd: Option<String>,
    /// Run in a container of this image.
    #[arg(long)]
    image: Option<String>,
    /// Download this script and run it.
    #[arg(long, conflicts_with_all = ["image", "cmd"])]
    script_url: Option<String>,
    /// The script's SHA-256: the worker refuses a script that differs.
    #[arg(long, requires = "script_url")]
    script_sha256: Option<String>,
    /// The script's interpreter (default: its shebang line).
    #[arg(long, requires = "script_url")]
    interpreter: Option<String>,
    /// `KEY=VALUE` in the task's environment, repeatable.
    #[arg(long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// The payload: JSON, or @FILE (`@-` reads stdin).
    #[arg(long)]
    payload: Option<String>,
    /// `NAME=REF`: the task gets the secret REF (an SSM parameter `/…` or
    /// ARN, or a Secrets Manager name or ARN, `…:jsonKey` for one key) as
    /// `$NAME`; `NAME=REF:file` as the file `$WHARF_SECRETS_DIR/NAME`.
    /// Repeatable; added to the file's `secrets`.
    #[arg(long = "secret", value_name = "NAME=REF[:file]")]
    secrets: Vec<String>,
    /// How many times the task may be tried.
    #[arg(long)]
    max_attempts: Option<u32>,
    /// Try again after a failure (not only after a lost worker).
    #[arg(long)]
    retry_on_failure: bool,
    /// Seconds to wait before the task may start.
    #[arg(long, value_name = "SECS")]
    delay: Option<u32>,
    /// Wait for task ID to end first; `:on` says how it must end for this
    /// one to run: success (the default), failure or any. Repeatable;
    /// replaces the file's `dependsOn`.
    #[arg(long = "depends-on", value_name = "ID[:on]")]
    depends_on: Vec<String>,
    /// For an array depending on an array of the same size: child i waits
    /// for child i of ARRAY_ID alone (`"mode": "nToN"`); `:on` as with
    /// --depends-on. Repeatable; with --depends-on, replaces the file's
    /// `dependsOn`.
    #[arg(long = "depends-on-each", value_name = "ARRAY_ID[:on]")]
    depends_on_each: Vec<String>,
    /// At most LIMIT tasks with concurrency key KEY run at once, fleet-wide.
    #[arg(long, value_name = "KEY:LIMIT")]
    concurrency: Option<String>,
    /// Run N children of the task instead of the task itself, each with
    /// `WHARF_ARRAY_INDEX` 0 to N-1 (N from 2 to 10,000); overrides the
    /// file's `array.size`.
    #[arg(long, value_name = "N",
        value_parser = clap::value_parser!(u32).range(i64::from(array::MIN_SIZE)..=i64::from(array::MAX_SIZE)))]
    array: Option<u32>,
    /// At most K of the array's children run at once (with --array, or an
    /// `array` in the file).
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u32).range(1..))]
    max_parallel: Option<u32>,
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    then: Then,
    /// The program and its arguments (after `--`): run as a process, or in
    /// the image with --image, or passed to the script.
    #[arg(last = true, value_name = "COMMAND")]
    command: Vec<String>,
}

pub async fn submit(session: &Session, args: SubmitArgs) -> anyhow::Result<ExitCode> {
    let mut task = match &args.file {
        Some(file) => {
            if spec_flags_given(&args) {
                return Err(Failure::usage(
                    "give what to run in the file or by flags (--cmd, --image, --script-url, --env, a command after --), not both",
                )
                .into());
            }
            read_task_file(file)?
        }
        None => {
            let mut task = Map::new();
            task.insert("spec".into(), spec_from_flags(&args)?);
            task
        }
    };
    if let Some(payload) = &args.payload {
        task.insert("payload".into(), read_json_arg("--payload", payload)?);
    }
    if let Some(attempts) = args.max_attempts {
        task.insert("maxAttempts".into(), attempts.into());
    }
    if args.retry_on_failure {
        task.insert("retryOnFailure".into(), true.into());
    }
    if let Some(delay) = args.delay {
        task.insert("delaySeconds".into(), delay.into());
    }
    add_secrets(&mut task, &args.secrets)?;
    apply_array(&mut task, args.array, args.max_parallel)?;
    if !args.depends_on_each.is_empty() && !task.contains_key("array") {
        return Err(Failure::usage(
            "--depends-on-each is for an array: give --array N (or an array in the file)",
        )
        .into());
    }
    if !args.depends_on.is_empty() || !args.depends_on_each.is_empty() {
        let whole = args
            .depends_on
            .iter()
            .map(|f| depends_on_flag(f, DependencyFlag::Whole));
        let each = args
            .depends_on_each
            .iter()
            .map(|f| depends_on_flag(f, DependencyFlag::Each));
        task.insert(
            "dependsOn".into(),
            whole.chain(each).collect::<Result<_, _>>()?,
        );
    }
    if let Some(flag) = &args.concurrency {
        task.insert("concurrency".into(), concurrency_flag(flag)?);
    }
    args.common.apply(&mut task)?;
    send(session, "/v1/tasks", Value::Object(task), &args.then).await
}

#[derive(Debug, clap::Args)]
pub struct InvokeArgs {
    /// The registered function.
    function: String,
    /// A parameter, `KEY=VALUE`, repeatable: the value is read as JSON when
    /// it is JSON (`3`, `true`, `[1,2]`), as a string otherwise.
    #[arg(long = "param", short = 'p', value_name = "KEY=VALUE")]
    params: Vec<String>,
    /// Every parameter as one JSON object, or @FILE (`@-` reads stdin);
    /// --param adds to it.
    #[arg(long = "params", value_name = "JSON")]
    params_json: Option<String>,
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    then: Then,
}

pub async fn invoke(session: &Session, args: InvokeArgs) -> anyhow::Result<ExitCode> {
    let function = segment(&args.function, "function name")?;
    let mut params = match &args.params_json {
        Some(text) => match read_json_arg("--params", text)? {
            Value::Object(params) => params,
            _ => return Err(Failure::usage("--params must be a JSON object").into()),
        },
        None => Map::new(),
    };
    for param in &args.params {
        let (key, value) = key_value("--param", param)?;
        let value = serde_json::from_str(&value).unwrap_or(Value::String(value));
        params.insert(key, value);
    }
    let mut call = Map::new();
    call.insert("params".into(), Value::Object(params));
    args.common.apply(&mut call)?;
    let path = format!("/v1/functions/{function}/invoke");
    send(session, &path, Value::Object(call), &args.then).await
}

/// Appends each `--secret NAME=REF[:file]` to the task's `secrets`.
fn add_secrets(task: &mut Map<String, Value>, flags: &[String]) -> Result<(), Failure> {
    if flags.is_empty() {
        return Ok(());
    }
    let secrets = task
        .entry("secrets")
        .or_insert_with(|| Value::Array(Vec::new()));
    let Value::Array(secrets) = secrets else {
        return Err(Failure::usage("the task's secrets are not a list"));
    };
    for flag in flags {
        secrets.push(secret_flag(flag)?);
    }
    Ok(())
}

/// `NAME=REF`, `NAME=REF:env` or `NAME=REF:file` as a task's secret.
fn secret_flag(flag: &str) -> Result<Value, Failure> {
    let (name, reference) = key_value("--secret", flag)?;
    let (reference, deliver_as) = match reference.rsplit_once(':') {
        Some((reference, mode @ ("env" | "file"))) => (reference.to_owned(), mode),
        _ => (reference, "env"),
    };
    if reference.is_empty() {
        return Err(Failure::usage(format!(
            "--secret {flag:?}: expected NAME=REF[:file], REF an SSM parameter or a Secrets Manager secret"
        )));
    }
    Ok(json!({"name": name, "valueFrom": reference, "as": deliver_as}))
}

/// `KEY:LIMIT` as a task's `concurrency` (the key may hold `:`).
fn concurrency_flag(flag: &str) -> Result<Value, Failure> {
    let usage = || {
        Failure::usage(format!(
            "--concurrency {flag:?}: expected KEY:LIMIT, LIMIT a number of at least 1"
        ))
    };
    let (key, limit) = flag.rsplit_once(':').ok_or_else(usage)?;
    let limit: u32 = limit.parse().map_err(|_| usage())?;
    Ok(json!({"key": key, "limit": limit}))
}

/// `--array N` and `--max-parallel K` into the task's `array` (the file's,
/// if it has one): N replaces its size, K its maxParallel.
fn apply_array(
    task: &mut Map<String, Value>,
    size: Option<u32>,
    max_parallel: Option<u32>,
) -> Result<(), Failure> {
    if size.is_none() && max_parallel.is_none() {
        return Ok(());
    }
    if size.is_none() && !task.contains_key("array") {
        return Err(Failure::usage(
            "--max-parallel is for an array: give --array N (or an array in the file)",
        ));
    }
    let array = task
        .entry("array")
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(array) = array else {
        return Err(Failure::usage("the task's array is not an object"));
    };
    if let Some(size) = size {
        array.insert("size".into(), size.into());
    }
    if let Some(max_parallel) = max_parallel {
        array.insert("maxParallel".into(), max_parallel.into());
    }
    Ok(())
}

/// Which of the two dependency flags an `ID[:on]` came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DependencyFlag {
    /// `--depends-on`: the task waits for the whole upstream task.
    Whole,
    /// `--depends-on-each`: each child waits for its upstream child.
    Each,
}

impl DependencyFlag {
    /// The flag and what it takes.
    fn usage(self) -> (&'static str, &'static str) {
        match self {
            DependencyFlag::Whole => ("--depends-on", "ID[:on]"),
            DependencyFlag::Each => ("--depends-on-each", "ARRAY_ID[:on]"),
        }
    }
}

/// `ID` or `ID:on` as one entry of a task's `dependsOn`; from
/// `--depends-on-each`, with `"mode": "nToN"`.
fn depends_on_flag(flag: &str, kind: DependencyFlag) -> Result<Value, Failure> {
    let (name, takes) = kind.usage();
    let (task, on) = match flag.rsplit_once(':') {
        Some((task, on)) => (task, on),
        None => (flag, "success"),
    };
    let on: DependOn = on.parse().map_err(|_| {
        Failure::usage(format!(
            "{name} {flag:?}: expected {takes}, on one of success, failure or any"
        ))
    })?;
    if task.is_empty() {
        return Err(Failure::usage(format!(
            "{name} {flag:?}: expected {takes}, {} a task's id",
            takes.trim_end_matches("[:on]")
        )));
    }
    let mut dependency = json!({"task": task, "on": on.to_string()});
    if kind == DependencyFlag::Each {
        dependency["mode"] = json!(DependMode::NToN);
    }
    Ok(dependency)
}

impl Common {
    fn apply(&self, task: &mut Map<String, Value>) -> Result<(), Failure> {
        if let Some(name) = &self.name {
            task.insert("name".into(), name.as_str().into());
        }
        if let Some(queue) = &self.queue {
            task.insert("queue".into(), queue.as_str().into());
        }
        if let Some(timeout) = self.timeout {
            task.insert("timeoutSeconds".into(), timeout.into());
        }
        if !self.labels.is_empty() {
            let labels = task
                .entry("labels")
                .or_insert_with(|| Value::Object(Map::new()));
            let Value::Object(labels) = labels else {
                return Err(Failure::usage("the task's labels are not an object"));
            };
            for label in &self.labels {
                let (key, value) = key_value("--label", label)?;
                labels.insert(key, value.into());
            }
        }
        Ok(())
    }
}

/// Posts the task, then prints its id, or waits or follows as asked.
async fn send(session: &Session, path: &str, body: Value, then: &Then) -> anyhow::Result<ExitCode> {
    let mut request = session.client.request(Method::POST, path).json(&body);
    if let Some(key) = &then.idempotency_key {
        request = request.header("idempotency-key", key);
    }
    let task = session.client.json(request).await?;
    let id = task["id"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("the API answered a task without an id"))?;
    if then.follow {
        eprintln!("wharf: submitted {id}");
        return watch::follow_then_exit(session, id).await;
    }
    if then.wait {
        eprintln!("wharf: submitted {id}");
        let task = watch::until_done(session, id, None).await?;
        return watch::show_end(session, &task);
    }
    match session.json {
        true => print_json(&task),
        false => println!("{id}"),
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_flag_names_its_reference_and_how_it_is_delivered() {
        assert_eq!(
            secret_flag("DB=/wharf/db").unwrap(),
            json!({"name": "DB", "valueFrom": "/wharf/db", "as": "env"})
        );
        assert_eq!(
            secret_flag("KEY=wharf/api:token:file").unwrap(),
            json!({"name": "KEY", "valueFrom": "wharf/api:token", "as": "file"})
        );
        assert!(secret_flag("DB").is_err());
        assert!(secret_flag("DB=:file").is_err());
        let mut task = Map::new();
        add_secrets(&mut task, &["A=/wharf/a".into(), "B=wharf/b:env".into()]).unwrap();
        assert_eq!(task["secrets"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn a_concurrency_flag_is_a_key_and_a_limit() {
        assert_eq!(
            concurrency_flag("customer:42:2").unwrap(),
            json!({"key": "customer:42", "limit": 2})
        );
        for bad in ["k", "k:", "k:two", "k:-1"] {
            let error = concurrency_flag(bad).unwrap_err();
            assert!(error.to_string().contains("KEY:LIMIT"), "{bad}: {error}");
        }
    }

    #[test]
    fn a_depends_on_flag_names_its_task_and_how_it_must_end() {
        use DependencyFlag::{Each, Whole};
        assert_eq!(
            depends_on_flag("01kbqa", Whole).unwrap(),
            json!({"task": "01kbqa", "on": "success"})
        );
        assert_eq!(
            depends_on_flag("01kbqa:any", Whole).unwrap(),
            json!({"task": "01kbqa", "on": "any"})
        );
        assert_eq!(
            depends_on_flag("01kbqa:failure", Each).unwrap(),
            json!({"task": "01kbqa", "on": "failure", "mode": "nToN"})
        );
        for (kind, name) in [(Whole, "--depends-on "), (Each, "--depends-on-each ")] {
            for bad in ["01kbqa:sometimes", "01kbqa:", ":failure", ""] {
                let error = depends_on_flag(bad, kind).unwrap_err();
                assert!(
                    error.message.starts_with(name),
                    "{bad:?}: {}",
                    error.message
                );
            }
        }
    }

    #[test]
    fn array_flags_set_the_size_and_max_parallel_over_the_file() {
        let mut task = Map::new();
        apply_array(&mut task, Some(3), Some(2)).unwrap();
        assert_eq!(task["array"], json!({"size": 3, "maxParallel": 2}));
        let mut from_file = json!({"array": {"size": 5, "maxParallel": 4}});
        let from_file = from_file.as_object_mut().unwrap();
        apply_array(from_file, Some(3), None).unwrap();
        assert_eq!(from_file["array"], json!({"size": 3, "maxParallel": 4}));
        apply_array(from_file, None, Some(1)).unwrap();
        assert_eq!(from_file["array"], json!({"size": 3, "maxParallel": 1}));
        let error = apply_array(&mut Map::new(), None, Some(2)).unwrap_err();
        assert!(
            error.message.contains("--max-parallel"),
            "{}",
            error.message
        );
        let mut untouched = Map::new();
        apply_array(&mut untouched, None, None).unwrap();
        assert!(untouched.is_empty());
    }
}
