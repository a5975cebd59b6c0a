//! What a task runs: its spec, one of three kinds of executor.

use std::collections::BTreeMap;

use clap::ValueEnum;
use serde::{Deserialize, Serialize};
use strum::{Display, EnumString};
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, OneOfBuilder, Schema};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

/// What to run: exactly one kind of executor, written in JSON as an object
/// with exactly one key (`{"process": {…}}`). A spec with none or two kinds
/// is refused by the parser, so it cannot exist past it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "SpecFields", into = "SpecFields")]
pub enum TaskSpec {
    Process(ProcessSpec),
    Container(ContainerSpec),
    Script(ScriptSpec),
}

/// The JSON shape of a [`TaskSpec`]: three optional keys, of which exactly
/// one must be set.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SpecFields {
    process: Option<ProcessSpec>,
    container: Option<ContainerSpec>,
    script: Option<ScriptSpec>,
}

impl TryFrom<SpecFields> for TaskSpec {
    type Error = &'static str;
    fn try_from(fields: SpecFields) -> Result<Self, Self::Error> {
        match (fields.process, fields.container, fields.script) {
            (Some(process), None, None) => Ok(TaskSpec::Process(process)),
            (None, Some(container), None) => Ok(TaskSpec::Container(container)),
            (None, None, Some(script)) => Ok(TaskSpec::Script(script)),
            _ => Err("exactly one of process, container or script must be set"),
        }
    }
}

impl From<TaskSpec> for SpecFields {
    fn from(spec: TaskSpec) -> Self {
        match spec {
            TaskSpec::Process(process) => SpecFields {
                process: Some(process),
                ..Default::default()
            },
            TaskSpec::Container(container) => SpecFields {
                container: Some(container),
                ..Default::default()
            },
            TaskSpec::Script(script) => SpecFields {
                script: Some(script),
                ..Default::default()
            },
        }
    }
}

/// In the API's schema a spec is one of three objects, each with exactly
/// one key.
impl utoipa::PartialSchema for TaskSpec {
    fn schema() -> RefOr<Schema> {
        fn kind<T: ToSchema>(key: &str) -> ObjectBuilder {
            ObjectBuilder::new()
                .property(key, Ref::from_schema_name(T::name()))
                .required(key)
                .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        }
        OneOfBuilder::new()
            .item(kind::<ProcessSpec>("process"))
            .item(kind::<ContainerSpec>("container"))
            .item(kind::<ScriptSpec>("script"))
            .description(Some(
                "What to run: exactly one of process, container, script",
            ))
            .into()
    }
}

impl ToSchema for TaskSpec {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((ProcessSpec::name().into(), ProcessSpec::schema()));
        schemas.push((ContainerSpec::name().into(), ContainerSpec::schema()));
        schemas.push((ScriptSpec::name().into(), ScriptSpec::schema()));
        ProcessSpec::schemas(schemas);
        ContainerSpec::schemas(schemas);
        ScriptSpec::schemas(schemas);
    }
}

impl TaskSpec {
    /// The kind of executor this spec needs.
    pub fn kind(&self) -> ExecutorKind {
        match self {
            TaskSpec::Process(_) => ExecutorKind::Process,
            TaskSpec::Container(_) => ExecutorKind::Container,
            TaskSpec::Script(_) => ExecutorKind::Script,
        }
    }

    /// The environment variables the spec sets itself.
    pub fn env(&self) -> Option<&BTreeMap<String, String>> {
        match self {
            TaskSpec::Process(process) => Some(&process.env),
            TaskSpec::Container(container) => Some(&container.env),
            TaskSpec::Script(_) => None,
        }
    }
}

/// The kinds of executor a worker host may offer (`--executors`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    Display,
    EnumString,
    ValueEnum,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum ExecutorKind {
    Process,
    Script,
    Container,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProcessSpec {
    pub command: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    pub working_dir: Option<String>,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContainerSpec {
    pub image: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    pub working_dir: Option<String>,
    pub pull_policy: Option<PullPolicy>,
    pub resources: Option<Resources>,
    pub network: Option<String>,
    pub user: Option<String>,
    pub pid_mode: Option<String>,
    /// Host paths to mount; the worker host runs the task only if each lies
    /// under one of its `--allowed-mounts`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<Mount>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Mount {
    pub source: String,
    pub target: String,
    #[serde(default)]
    pub read_only: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum PullPolicy {
    Always,
    IfNotPresent,
    Never,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = ContainerResources)]
pub struct Resources {
    pub memory_mb: Option<u64>,
    pub cpus: Option<f64>,
    pub pids: Option<i64>,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScriptSpec {
    pub url: String,
    pub name: String,
    pub sha256: Option<String>,
    pub interpreter: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
}
