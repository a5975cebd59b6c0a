//! Registered functions: a task template with a JSON Schema for its
//! parameters, invoked by name (`POST /v1/functions/{name}/invoke`, or
//! `{"function": …}` on `POST /v1/tasks`). The parameters become the task's
//! payload once they pass the schema; queue, timeout, attempts and labels
//! default to the function's.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Result;
use crate::model::{Dependency, TaskRequest, TaskSpec};
use crate::secrets::SecretRef;
use crate::validate::{validate, FieldError, Rejection, ValidTask};

/// At most this many functions are registered, each definition at most
/// [`MAX_DEFINITION_BYTES`]: `GET /v1/functions` answers all of them in
/// one response, well under Lambda's 6 MB.
pub const MAX_FUNCTIONS: usize = 100;
pub const MAX_DEFINITION_BYTES: usize = 32 * 1024;

/// What `PUT /v1/functions/{name}` takes.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FunctionRequest {
    pub description: Option<String>,
    /// What each invocation runs.
    pub spec: TaskSpec,
    /// A JSON Schema (draft 2020-12 unless it says otherwise) the
    /// parameters must pass; without one, any JSON object passes.
    pub params_schema: Option<Value>,
    #[serde(default)]
    pub defaults: FunctionDefaults,
    /// Secrets every invocation's task gets, by reference.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SecretRef>,
}

/// What an invocation gets unless it says otherwise.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FunctionDefaults {
    pub queue: Option<String>,
    pub timeout_seconds: Option<u32>,
    pub max_attempts: Option<u32>,
    #[serde(default)]
    pub retry_on_failure: bool,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// A registered function as stored and shown.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Function {
    pub name: String,
    pub description: Option<String>,
    pub spec: TaskSpec,
    pub params_schema: Option<Value>,
    #[serde(default)]
    pub defaults: FunctionDefaults,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SecretRef>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Function {
    /// The function `definition` registers as `name`.
    pub fn new(name: String, definition: FunctionRequest, created_at: DateTime<Utc>) -> Function {
        Function {
            name,
            description: definition.description,
            spec: definition.spec,
            params_schema: definition.params_schema,
            defaults: definition.defaults,
            secrets: definition.secrets,
            created_at,
            updated_at: Utc::now(),
        }
    }
}

/// A call of a function: the body of `POST /v1/functions/{name}/invoke`,
/// and of `POST /v1/tasks` when it names a `function` instead of a `spec`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Invocation {
    /// The function (on `POST /v1/tasks` only; `invoke` names it in its path).
    pub function: Option<String>,
    /// The parameters, checked against the function's `paramsSchema`: the
    /// task's payload (`payload` is accepted too).
    #[serde(alias = "payload")]
    pub params: Option<Value>,
    pub name: Option<String>,
    pub queue: Option<String>,
    pub timeout_seconds: Option<u32>,
    pub max_attempts: Option<u32>,
    pub retry_on_failure: Option<bool>,
    pub delay_seconds: Option<u32>,
    /// Added to (and over) the function's labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Tasks the call's task waits for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<Dependency>,
}

/// Where functions are kept (DynamoDB's functions table, or a fake).
#[async_trait]
pub trait Registry: Send + Sync {
    /// Stores `function`, replacing one of the same name.
    async fn put(&self, function: &Function) -> Result<()>;
    async fn get(&self, name: &str) -> Result<Option<Function>>;
    /// Removes a function; false when there was none.
    async fn delete(&self, name: &str) -> Result<bool>;
    /// Every function, by name (at most [`MAX_FUNCTIONS`]).
    async fn list(&self) -> Result<Vec<Function>>;
}

/// Checks a definition against the configured queues: its spec and
/// defaults must make a valid task, and its schema must be one.
pub fn check_definition(definition: &FunctionRequest, queues: &[String]) -> Result<(), Rejection> {
    let mut errors = Vec::new();
    if let Some(schema) = &definition.params_schema {
        if let Err(err) = jsonschema::validator_for(schema) {
            errors.push(FieldError::new(
                "paramsSchema",
                format!("is not a JSON Schema: {err}"),
            ));
        }
    }
    if serde_json::to_vec(definition).map_or(usize::MAX, |json| json.len()) > MAX_DEFINITION_BYTES {
        errors.push(too_large());
    }
    let task = template(
        (&definition.spec, &definition.secrets),
        &definition.defaults,
        Invocation::default(),
    );
    if let Err(rejection) = validate(task, queues) {
        errors.extend(in_definition(rejection));
    }
    match errors.is_empty() {
        true => Ok(()),
        false => Err(Rejection::Invalid(errors)),
    }
}

/// The task `call` of `function` makes. Its parameters must pass the
/// function's schema; errors name the failing place as
/// `{field}.path.to.it`.
pub fn resolve(
    function: &Function,
    mut call: Invocation,
    field: &str,
    queues: &[String],
) -> Result<ValidTask, Rejection> {
    let params = call
        .params
        .get_or_insert_with(|| Value::Object(Default::default()));
    check_params(function, params, field)?;
    let request = template(
        (&function.spec, &function.secrets),
        &function.defaults,
        call,
    );
    let mut valid = validate(request, queues)?;
    valid.function = Some(function.name.clone());
    Ok(valid)
}

fn check_params(function: &Function, params: &Value, field: &str) -> Result<(), Rejection> {
    let Some(schema) = &function.params_schema else {
        return Ok(());
    };
    // Checked when the function was registered.
    let validator = jsonschema::validator_for(schema).map_err(|err| {
        Rejection::Invalid(vec![FieldError::new("paramsSchema", err.to_string())])
    })?;
    let errors: Vec<FieldError> = validator
        .iter_errors(params)
        .map(|err| {
            let pointer = err.instance_path().to_string();
            let place = pointer.split('/').filter(|s| !s.is_empty());
            let path: Vec<&str> = std::iter::once(field).chain(place).collect();
            FieldError::new(path.join("."), err.to_string())
        })
        .collect();
    match errors.is_empty() {
        true => Ok(()),
        false => Err(Rejection::Invalid(errors)),
    }
}

/// The task request a definition (its spec and secrets) and a call make.
fn template(
    (spec, secrets): (&TaskSpec, &[SecretRef]),
    defaults: &FunctionDefaults,
    call: Invocation,
) -> TaskRequest {
    let mut labels = defaults.labels.clone();
    labels.extend(call.labels);
    TaskRequest {
        name: call.name,
        queue: call.queue.or_else(|| defaults.queue.clone()),
        spec: spec.clone(),
        payload: call.params,
        timeout_seconds: call.timeout_seconds.or(defaults.timeout_seconds),
        max_attempts: call.max_attempts.or(defaults.max_attempts),
        retry_on_failure: call.retry_on_failure.unwrap_or(defaults.retry_on_failure),
        delay_seconds: call.delay_seconds,
        labels,
        secrets: secrets.to_vec(),
        depends_on: call.depends_on,
        concurrency: None,
        array: None,
    }
}

fn too_large() -> FieldError {
    let message = format!("the function may be at most {MAX_DEFINITION_BYTES} bytes");
    FieldError::new("spec", message)
}

/// A task's rejection as the definition's: its defaults live under
/// `defaults`.
fn in_definition(rejection: Rejection) -> Vec<FieldError> {
    let errors = match rejection {
        Rejection::Invalid(errors) => errors,
        Rejection::TooLarge { .. } | Rejection::TaskTooLarge { .. } => {
            vec![too_large()]
        }
    };
    errors
        .into_iter()
        .map(|error| match error.field.as_str() {
            "queue" | "timeoutSeconds" | "maxAttempts" | "labels" => FieldError {
                field: format!("defaults.{}", error.field),
                ..error
            },
            _ => error,
        })
        .collect()
}

#[cfg(test)]
mod tests;
