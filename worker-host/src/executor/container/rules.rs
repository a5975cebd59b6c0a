//! This host's rules for containers: resource ceilings a task cannot
//! exceed, and which containers a task may join with `pidMode`.

use bollard::errors::Error as DockerError;
use bollard::Docker;
use wharf_core::model::Resources;

use super::LABEL_TASK;

/// Marks a container the operator lets tasks join with
/// `pidMode: container:NAME` (a sidecar that inspects a service).
pub const LABEL_PID_JOINABLE: &str = "wharf.pid-joinable";

/// Why a container task breaks this host's rules.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("resources.{name} {asked} is more than this host allows ({most})")]
    AboveCeiling {
        name: &'static str,
        asked: String,
        most: String,
    },
    #[error("pidMode {0:?} is not container:NAME")]
    NotAContainer(String),
    #[error("pidMode container:{name}: no such container on this host ({err})")]
    NoSuchContainer { name: String, err: DockerError },
    #[error("pidMode container:{0} is another task's container; tasks never join each other")]
    AnotherTask(String),
    #[error("pidMode container:{0} is not allowed: the operator must label it {LABEL_PID_JOINABLE}=true")]
    NotJoinable(String),
    #[error("container {0} has no id")]
    NoId(String),
}

/// What a container task may ask for at most. A task asking more fails to
/// start; a task asking nothing gets the ceiling.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Ceilings {
    pub memory_mb: Option<u64>,
    pub cpus: Option<f64>,
    pub pids: Option<i64>,
}

impl Ceilings {
    /// The resources a task gets under these ceilings, or why not.
    pub fn apply(&self, requested: Option<&Resources>) -> Result<Resources, RuleError> {
        let requested = requested.cloned().unwrap_or_default();
        Ok(Resources {
            memory_mb: within("memoryMb", requested.memory_mb, self.memory_mb)?,
            cpus: within("cpus", requested.cpus, self.cpus)?,
            pids: within("pids", requested.pids, self.pids)?,
        })
    }
}

fn within<T>(
    name: &'static str,
    requested: Option<T>,
    ceiling: Option<T>,
) -> Result<Option<T>, RuleError>
where
    T: PartialOrd + std::fmt::Display + Copy,
{
    match (requested, ceiling) {
        (Some(asked), Some(most)) if asked > most => Err(RuleError::AboveCeiling {
            name,
            asked: asked.to_string(),
            most: most.to_string(),
        }),
        (Some(asked), _) => Ok(Some(asked)),
        (None, ceiling) => Ok(ceiling),
    }
}

/// The `pidMode` to give the engine for `container:NAME`: only a container
/// the operator labelled joinable, never another task's; named by its id,
/// so a rename cannot swap it.
pub async fn joinable_pid_mode(docker: &Docker, pid_mode: &str) -> Result<String, RuleError> {
    let Some(name) = pid_mode.strip_prefix("container:") else {
        return Err(RuleError::NotAContainer(pid_mode.to_owned()));
    };
    let info =
        docker
            .inspect_container(name, None)
            .await
            .map_err(|err| RuleError::NoSuchContainer {
                name: name.to_owned(),
                err,
            })?;
    let labels = info.config.and_then(|c| c.labels).unwrap_or_default();
    if labels.contains_key(LABEL_TASK) {
        return Err(RuleError::AnotherTask(name.to_owned()));
    }
    if labels.get(LABEL_PID_JOINABLE).map(String::as_str) != Some("true") {
        return Err(RuleError::NotJoinable(name.to_owned()));
    }
    let id = info.id.ok_or_else(|| RuleError::NoId(name.to_owned()))?;
    Ok(format!("container:{id}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_bound_what_a_task_asks_and_fill_in_what_it_does_not() {
        let ceilings = Ceilings {
            memory_mb: Some(1024),
            cpus: None,
            pids: Some(100),
        };
        let asked = Resources {
            memory_mb: Some(512),
            cpus: Some(2.0),
            pids: None,
        };
        let given = ceilings.apply(Some(&asked)).unwrap();
        assert_eq!(
            (given.memory_mb, given.cpus, given.pids),
            (Some(512), Some(2.0), Some(100))
        );
        let too_much = Resources {
            memory_mb: Some(4096),
            ..Resources::default()
        };
        let err = ceilings.apply(Some(&too_much)).unwrap_err().to_string();
        assert!(
            err.contains("memoryMb 4096") && err.contains("1024"),
            "{err}"
        );
        let nothing = Ceilings::default().apply(None).unwrap();
        assert_eq!(nothing, Resources::default());
    }
}
