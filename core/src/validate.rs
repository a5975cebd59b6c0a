//! Turning a submitted JSON body into a task that can be stored, or a list of
//! errors that each name the field at fault (SPEC §3, Rules).

use serde::Serialize;
use serde_json::Value;

use std::path::{Component, Path};

use crate::model::{
    ContainerSpec, Mount, ProcessSpec, Resources, ScriptSpec, TaskRequest, TaskSpec,
    DEFAULT_MAX_ATTEMPTS, DEFAULT_TIMEOUT_SECONDS,
};
use crate::{array, concurrency, flow, secrets};

pub const MAX_TIMEOUT_SECONDS: u32 = 43_200;
pub const MAX_DELAY_SECONDS: u32 = 43_200;
pub const MAX_ATTEMPTS: u32 = 10;
/// Payloads up to this size are accepted; above [`INLINE_PAYLOAD_BYTES`] they
/// are stored in S3 rather than in the task record.
pub const MAX_PAYLOAD_BYTES: usize = 1024 * 1024;
pub const INLINE_PAYLOAD_BYTES: usize = 64 * 1024;
const MAX_NAME_CHARS: usize = 256;

const MAX_RESOURCE_NAME_CHARS: usize = 128;

/// The name of a function or a task set: 1 to 128 letters, digits, `-`,
/// `_` or `.`.
pub fn is_resource_name(name: &str) -> bool {
    (1..=MAX_RESOURCE_NAME_CHARS).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// One thing wrong with a request, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Why a submission was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// The request is malformed; each error names its field.
    Invalid(Vec<FieldError>),
    /// The payload is larger than [`MAX_PAYLOAD_BYTES`].
    TooLarge { size: usize },
    /// The task without its payload is larger than [`MAX_TASK_BYTES`];
    /// `field` is its largest part.
    TaskTooLarge { field: &'static str, size: usize },
}

/// The task without its payload may be this large, so that its record,
/// with everything an attempt adds, stays well under DynamoDB's 400 KB.
pub const MAX_TASK_BYTES: usize = 64 * 1024;
pub const MAX_LABELS: usize = 64;

/// A submission that passed validation, with every default filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidTask {
    pub request: TaskRequest,
    pub queue: String,
    pub timeout_seconds: u32,
    pub max_attempts: u32,
    pub delay_seconds: u32,
    /// The payload serialized once, to measure and store it.
    pub payload_json: String,
    /// The registered function the task was made from, if any.
    pub function: Option<String>,
    /// The task set it is synced as a member of, if any.
    pub task_set: Option<String>,
}

/// Parses and validates a submission body against the configured queues.
pub fn parse_task_request(body: &[u8], queues: &[String]) -> Result<ValidTask, Rejection> {
    let request = parse_json::<TaskRequest>(body).map_err(|e| Rejection::Invalid(vec![e]))?;
    validate(request, queues)
}

/// Deserializes JSON, reporting the path of the first field that does not fit.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, FieldError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().to_string();
        let field = if path == "." { String::new() } else { path };
        FieldError::new(field, err.into_inner().to_string())
    })
}

/// Checks every rule of SPEC §3 and fills in defaults.
pub fn validate(request: TaskRequest, queues: &[String]) -> Result<ValidTask, Rejection> {
    let mut errors = Vec::new();
    check_name(request.name.as_deref(), &mut errors);
    let queue = request
        .queue
        .clone()
        .unwrap_or_else(|| "default".to_owned());
    if !queues.contains(&queue) {
        errors.push(FieldError::new(
            "queue",
            format!("unknown queue {queue:?}; configured: {}", queues.join(", ")),
        ));
    }
    match &request.spec {
        TaskSpec::Process(process) => check_process(process, &mut errors),
        TaskSpec::Container(container) => check_container(container, &mut errors),
        TaskSpec::Script(script) => check_script(script, &mut errors),
    }
    let timeout_seconds = request.timeout_seconds.unwrap_or(DEFAULT_TIMEOUT_SECONDS);
    check_range(
        "timeoutSeconds",
        timeout_seconds,
        1,
        MAX_TIMEOUT_SECONDS,
        &mut errors,
    );
    let max_attempts = request.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS);
    check_range("maxAttempts", max_attempts, 1, MAX_ATTEMPTS, &mut errors);
    let delay_seconds = request.delay_seconds.unwrap_or(0);
    check_range(
        "delaySeconds",
        delay_seconds,
        0,
        MAX_DELAY_SECONDS,
        &mut errors,
    );
    if request.labels.keys().any(String::is_empty) {
        errors.push(FieldError::new("labels", "label keys must not be empty"));
    }
    if request.labels.len() > MAX_LABELS {
        let message = format!("at most {MAX_LABELS} labels, got {}", request.labels.len());
        errors.push(FieldError::new("labels", message));
    }
    let env: Vec<&String> = request
        .spec
        .env()
        .into_iter()
        .flat_map(|env| env.keys())
        .collect();
    secrets::check(&request.secrets, &env, &mut errors);
    flow::check(&request.depends_on, &mut errors);
    concurrency::check(request.concurrency.as_ref(), &mut errors);
    array::check(
        request.array.as_ref(),
        request.concurrency.as_ref(),
        &request.depends_on,
        &mut errors,
    );
    check_task_size(&request)?;
    let payload_json = check_payload(request.payload.as_ref(), errors)?;
    Ok(ValidTask {
        request,
        queue,
        timeout_seconds,
        max_attempts,
        delay_seconds,
        payload_json,
        function: None,
        task_set: None,
    })
}

/// The task without its payload within [`MAX_TASK_BYTES`], or its largest
/// part named.
fn check_task_size(request: &TaskRequest) -> Result<(), Rejection> {
    let without_payload = TaskRequest {
        payload: None,
        ..request.clone()
    };
    let size = json_len(&without_payload);
    if size <= MAX_TASK_BYTES {
        return Ok(());
    }
    let parts = [
        ("spec", json_len(&request.spec)),
        ("labels", json_len(&request.labels)),
        ("secrets", json_len(&request.secrets)),
        ("name", json_len(&request.name)),
    ];
    let (field, _) = parts
        .into_iter()
        .max_by_key(|(_, size)| *size)
        .unwrap_or(("spec", 0));
    Err(Rejection::TaskTooLarge { field, size })
}

fn json_len(value: &impl Serialize) -> usize {
    serde_json::to_vec(value).map_or(usize::MAX, |json| json.len())
}

fn check_name(name: Option<&str>, errors: &mut Vec<FieldError>) {
    let Some(name) = name else { return };
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        errors.push(FieldError::new(
            "name",
            format!("must be 1 to {MAX_NAME_CHARS} characters"),
        ));
    } else if name.chars().any(char::is_control) {
        errors.push(FieldError::new(
            "name",
            "must not contain control characters",
        ));
    }
}

/// The payload serialized, once every other check has passed: a JSON
/// object of at most [`MAX_PAYLOAD_BYTES`].
fn check_payload(
    payload: Option<&Value>,
    mut errors: Vec<FieldError>,
) -> Result<String, Rejection> {
    let payload = payload
        .cloned()
        .unwrap_or_else(|| Value::Object(Default::default()));
    if !payload.is_object() {
        errors.push(FieldError::new("payload", "must be a JSON object"));
    }
    if !errors.is_empty() {
        return Err(Rejection::Invalid(errors));
    }
    let payload_json = payload.to_string();
    if payload_json.len() > MAX_PAYLOAD_BYTES {
        return Err(Rejection::TooLarge {
            size: payload_json.len(),
        });
    }
    Ok(payload_json)
}

fn check_range(field: &str, value: u32, min: u32, max: u32, errors: &mut Vec<FieldError>) {
    if !(min..=max).contains(&value) {
        errors.push(FieldError::new(
            field,
            format!("must be between {min} and {max}, got {value}"),
        ));
    }
}

fn check_command(field: &str, command: &[String], errors: &mut Vec<FieldError>) {
    if command.is_empty() {
        errors.push(FieldError::new(
            field,
            "must be a non-empty array of strings",
        ));
    } else if command[0].is_empty() {
        errors.push(FieldError::new(
            format!("{field}[0]"),
            "the program must not be empty",
        ));
    }
}

fn check_env<'a>(
    field: &str,
    keys: impl Iterator<Item = &'a String>,
    errors: &mut Vec<FieldError>,
) {
    for key in keys {
        if key.is_empty() || key.contains('=') || key.contains('\0') {
            errors.push(FieldError::new(
                format!("{field}.{key}"),
                "environment variable names must be non-empty and contain no '=' or NUL",
            ));
        } else if key.starts_with("WHARF_") {
            errors.push(FieldError::new(
                format!("{field}.{key}"),
                "WHARF_* variables are reserved for the worker",
            ));
        }
    }
}

fn check_process(process: &ProcessSpec, errors: &mut Vec<FieldError>) {
    check_command("spec.process.command", &process.command, errors);
    check_env("spec.process.env", process.env.keys(), errors);
}

fn check_container(container: &ContainerSpec, errors: &mut Vec<FieldError>) {
    if container.image.trim().is_empty() {
        errors.push(FieldError::new("spec.container.image", "must not be empty"));
    }
    if !container.command.is_empty() {
        check_command("spec.container.command", &container.command, errors);
    }
    check_env("spec.container.env", container.env.keys(), errors);
    if let Some(network) = &container.network {
        if network != "none" && network != "bridge" {
            errors.push(FieldError::new(
                "spec.container.network",
                "must be \"none\" or \"bridge\"",
            ));
        }
    }
    if let Some(pid_mode) = &container.pid_mode {
        let target = pid_mode.strip_prefix("container:").unwrap_or_default();
        if target.is_empty() {
            errors.push(FieldError::new(
                "spec.container.pidMode",
                "must be \"container:NAME\"",
            ));
        }
    }
    check_mounts(&container.mounts, errors);
    if let Some(resources) = &container.resources {
        check_resources(resources, errors);
    }
}

fn check_mounts(mounts: &[Mount], errors: &mut Vec<FieldError>) {
    for (i, mount) in mounts.iter().enumerate() {
        for (name, path) in [("source", &mount.source), ("target", &mount.target)] {
            let field = format!("spec.container.mounts[{i}].{name}");
            let path = Path::new(path);
            if !path.is_absolute() {
                errors.push(FieldError::new(field, "must be an absolute path"));
            } else if path.components().any(|c| c == Component::ParentDir) {
                errors.push(FieldError::new(field, "must not contain \"..\""));
            }
        }
        if Path::new(&mount.target).starts_with("/wharf") {
            errors.push(FieldError::new(
                format!("spec.container.mounts[{i}].target"),
                "/wharf is where the task's payload and outputs are",
            ));
        }
    }
}

/// Upper bounds of container resources: beyond them a value is a mistake
/// (and would overflow what the engine is given).
pub const MAX_MEMORY_MB: u64 = 1024 * 1024;
pub const MAX_CPUS: f64 = 1024.0;
pub const MAX_PIDS: i64 = 1_000_000;

fn check_resources(resources: &Resources, errors: &mut Vec<FieldError>) {
    let field = |name: &str| format!("spec.container.resources.{name}");
    if resources
        .memory_mb
        .is_some_and(|mb| !(1..=MAX_MEMORY_MB).contains(&mb))
    {
        let message = format!("must be between 1 and {MAX_MEMORY_MB} (1 TiB)");
        errors.push(FieldError::new(field("memoryMb"), message));
    }
    if resources
        .cpus
        .is_some_and(|cpus| !(cpus > 0.0 && cpus <= MAX_CPUS))
    {
        let message = format!("must be above 0 and at most {MAX_CPUS}");
        errors.push(FieldError::new(field("cpus"), message));
    }
    if resources
        .pids
        .is_some_and(|pids| !(1..=MAX_PIDS).contains(&pids))
    {
        let message = format!("must be between 1 and {MAX_PIDS}");
        errors.push(FieldError::new(field("pids"), message));
    }
}

fn check_script(script: &ScriptSpec, errors: &mut Vec<FieldError>) {
    match url::Url::parse(&script.url) {
        Ok(url) if url.scheme() == "https" => {
            let last = url
                .path_segments()
                .and_then(|mut segments| segments.next_back())
                .unwrap_or_default();
            if script.name != last {
                errors.push(FieldError::new(
                    "spec.script.name",
                    format!("must equal the URL's last path segment {last:?}"),
                ));
            }
        }
        Ok(_) => errors.push(FieldError::new(
            "spec.script.url",
            "must be an https:// URL",
        )),
        Err(err) => errors.push(FieldError::new(
            "spec.script.url",
            format!("not a valid URL: {err}"),
        )),
    }
    if let Some(sha256) = &script.sha256 {
        if sha256.len() != 64 || !sha256.chars().all(|c| c.is_ascii_hexdigit()) {
            errors.push(FieldError::new(
                "spec.script.sha256",
                "must be 64 hexadecimal characters",
            ));
        }
    }
}

#[cfg(test)]
mod tests;
