//! The container executor, on the Docker Engine API through `bollard`.
//!
//! Each attempt runs in a fresh container named `wharf-<task>-<attempt>`,
//! labelled with its task, attempt, worker and host, never privileged, with
//! no host mounts but the attempt's `io/` directory at `/wharf` and those the
//! host allows. Logs stream into the attempt log as the container runs. Timeout
//! and stop go through Docker's stop (SIGTERM, then SIGKILL after the grace
//! period); the container is removed afterwards in every case.

use std::collections::HashMap;
use std::time::Duration;

use bollard::container::LogOutput;
use bollard::errors::Error as DockerError;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder,
    StopContainerOptionsBuilder,
};
use bollard::Docker;
use futures_util::StreamExt;
use wharf_core::lifecycle::Exit;
use wharf_core::model::{ContainerSpec, Resources};

use super::log::CappedLog;
use super::{Ended, Run, StartFailure};

mod image;
mod mounts;
mod rules;
pub mod sweep;

pub use image::ImageError;
pub use mounts::{AllowedMount, MountError};
pub use rules::{Ceilings, RuleError, LABEL_PID_JOINABLE};

pub const LABEL_TASK: &str = "wharf.task-id";
pub const LABEL_ATTEMPT: &str = "wharf.attempt";
pub const LABEL_WORKER: &str = "wharf.worker-id";
pub const LABEL_HOST: &str = "wharf.host";
/// The deployment a container belongs to (see
/// [`wharf_core::aws::deployment`]): stacks sharing a Docker engine never
/// sweep each other's containers, even when their tables have the same names.
pub const LABEL_DEPLOYMENT: &str = "wharf.deployment";

/// Credentials for pulling from one registry.
#[derive(Clone, serde::Deserialize)]
pub struct RegistryAuth {
    pub server: String,
    pub username: String,
    pub password: String,
}

/// Capabilities dropped from Docker's default set: raw sockets (spoofing,
/// sniffing on the bridge), device nodes, audit records, file capabilities.
/// Where a container finds its `as: file` secrets (`$WHARF_SECRETS_DIR`),
/// mounted read-only.
pub const SECRETS_DIR: &str = "/run/secrets";

/// A root worker gives a container's secret files to the user it runs as:
/// its numeric `user`, or root when it names none. A user by name cannot
/// be known before the container runs, so it is refused.
fn hand_secrets_to_container(spec: &ContainerSpec, run: &Run) -> Result<(), StartFailure> {
    if run.secrets.files.is_empty() || !nix::unistd::geteuid().is_root() {
        return Ok(());
    }
    let uid = match spec.user.as_deref() {
        None => 0,
        Some(user) => user
            .split(':')
            .next()
            .and_then(|uid| uid.parse().ok())
            .ok_or_else(|| StartFailure::SecretFilesUser(user.to_owned()))?,
    };
    super::ownership::hand_secrets_over(run, uid, 0o500).map_err(StartFailure::io(
        "hand the secret files to the container's user",
    ))
}

const DROPPED_CAPABILITIES: [&str; 4] = ["NET_RAW", "MKNOD", "AUDIT_WRITE", "SETFCAP"];

/// What the operator allows container tasks on this host.
#[derive(Debug, Clone, Default)]
pub struct HostRules {
    /// Host paths (and what lies below them) that tasks may mount, as
    /// resolved at start-up.
    pub allowed_mounts: Vec<AllowedMount>,
    pub registry_auth: Vec<RegistryAuth>,
    pub ceilings: Ceilings,
}

/// A Docker engine and this host's rules for containers.
#[derive(Clone)]
pub struct ContainerHost {
    pub docker: Docker,
    /// Containers of this host carry `wharf.host=<host>` and
    /// `wharf.deployment=<deployment>`.
    pub host: String,
    pub deployment: String,
    pub rules: HostRules,
}

/// A container task checked against the rules, ready to create.
struct Prepared {
    /// The image reference, with `:latest` when it named no tag.
    image: String,
    binds: Vec<String>,
    resources: Resources,
    pid_mode: Option<String>,
}

impl std::fmt::Debug for RegistryAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the password.
        f.debug_struct("RegistryAuth")
            .field("server", &self.server)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl ContainerHost {
    /// Connects to the local engine (`DOCKER_HOST` or the default socket)
    /// and agrees on an API version. An engine that does not answer yet is
    /// not an error: container tasks are released until it does.
    pub async fn connect(
        host: &str,
        deployment: &str,
        rules: HostRules,
    ) -> Result<Self, DockerError> {
        let docker = Docker::connect_with_local_defaults()?;
        let docker = match docker.clone().negotiate_version().await {
            Ok(negotiated) => negotiated,
            Err(err) => {
                tracing::warn!(error = %err, "the Docker engine does not answer; container tasks wait for it");
                docker
            }
        };
        Ok(ContainerHost {
            docker,
            host: host.to_owned(),
            deployment: deployment.to_owned(),
            rules,
        })
    }

    /// Whether the engine answers now.
    pub async fn available(&self) -> bool {
        self.docker.ping().await.is_ok()
    }

    pub async fn run(&self, spec: &ContainerSpec, run: &Run) -> Ended {
        let prepared = match self.prepare(spec, run).await {
            Ok(prepared) => prepared,
            Err(failure) => return Ended::start_failed(failure),
        };
        let limited_memory = prepared.resources.memory_mb.is_some();
        let name = format!("wharf-{}-{}", run.task_id, run.attempt);
        let create = self
            .docker
            .create_container(
                Some(CreateContainerOptionsBuilder::default().name(&name).build()),
                self.container_body(spec, run, prepared),
            )
            .await;
        if let Err(err) = create {
            return Ended::start_failed(format!("cannot create the container: {err}"));
        }
        let ended = self.start_and_supervise(&name, run, limited_memory).await;
        let removed = self
            .docker
            .remove_container(
                &name,
                Some(RemoveContainerOptionsBuilder::default().force(true).build()),
            )
            .await;
        if let Err(err) = removed {
            tracing::warn!(container = %name, error = %err, "cannot remove the container; the sweep will");
        }
        ended
    }

    /// Checks the task against this host's rules and pulls its image.
    async fn prepare(&self, spec: &ContainerSpec, run: &Run) -> Result<Prepared, StartFailure> {
        let image = image::with_tag(&spec.image);
        self.ensure_image(&image, spec.pull_policy).await?;
        let pid_mode = match &spec.pid_mode {
            Some(pid_mode) => Some(rules::joinable_pid_mode(&self.docker, pid_mode).await?),
            None => None,
        };
        hand_secrets_to_container(spec, run)?;
        Ok(Prepared {
            binds: self.binds(spec, run)?,
            resources: self.rules.ceilings.apply(spec.resources.as_ref())?,
            image,
            pid_mode,
        })
    }

    async fn start_and_supervise(&self, name: &str, run: &Run, limited_memory: bool) -> Ended {
        // Attach before start, as `docker run` does, so no output is missed
        // however quickly the container exits. The stream alone: with
        // `logs` too, the engine replays its log file after subscribing the
        // stream, and what the container writes meanwhile came twice.
        let options = AttachContainerOptionsBuilder::default()
            .stream(true)
            .stdout(true)
            .stderr(true)
            .build();
        let attached = match self.docker.attach_container(name, Some(options)).await {
            Ok(attached) => attached,
            Err(err) => {
                return Ended::start_failed(format!("cannot attach to the container: {err}"))
            }
        };
        let log = match run.open_log() {
            Ok(log) => log,
            Err(err) => return Ended::start_failed(format!("cannot open the log file: {err}")),
        };
        let logs = tokio::spawn(copy_logs(attached.output, log));
        if let Err(err) = self.docker.start_container(name, None).await {
            return Ended::start_failed(format!("cannot start the container: {err}"));
        }
        let (exit, message) = self.wait_or_stop(name, run).await;
        // The log stream ends with the container; do not wait forever for it.
        let log_truncated = match tokio::time::timeout(Duration::from_secs(5), logs).await {
            Ok(Ok(Some(log))) => log.finish().unwrap_or_else(|err| {
                tracing::warn!(error = %err, "cannot finish the log");
                false
            }),
            _ => false,
        };
        let ended = if exit == Exit::Code(137) && limited_memory {
            self.oom_ended(name).await
        } else {
            Ended::new(exit, message)
        };
        Ended {
            log_truncated,
            ..ended
        }
    }

    /// Waits for the container's exit, or stops it on timeout or when the
    /// attempt must stop.
    async fn wait_or_stop(&self, name: &str, run: &Run) -> (Exit, Option<String>) {
        let mut wait = self.docker.wait_container(name, None);
        tokio::select! {
            waited = wait.next() => match waited {
                Some(Ok(response)) => (Exit::Code(response.status_code), None),
                Some(Err(DockerError::DockerContainerWaitError { code, .. })) => (Exit::Code(code), None),
                Some(Err(err)) => (Exit::StartFailed, Some(format!("waiting for the container failed: {err}"))),
                None => (Exit::StartFailed, Some("the engine ended the wait without a status".to_owned())),
            },
            _ = tokio::time::sleep(run.timeout) => {
                self.stop(name, run.kill_grace).await;
                (Exit::TimedOut, Some(format!("timed out after {} s", run.timeout.as_secs())))
            }
            _ = run.stop.cancelled() => {
                self.stop(name, run.kill_grace).await;
                (Exit::Signal(15), Some("stopped by the worker".to_owned()))
            }
        }
    }

    /// A SIGKILL under a memory limit: the OOM killer.
    async fn oom_ended(&self, name: &str) -> Ended {
        let message = if self.oom_killed(name).await {
            "the kernel killed the container for exceeding its memory limit"
        } else {
            // cgroup v1 engines can lose the OOM event of a short-lived
            // container; an unexplained SIGKILL under a memory limit is all
            // but always the OOM killer.
            "killed (SIGKILL) under a memory limit; the engine did not confirm an OOM event"
        };
        Ended::new(Exit::OomKilled, Some(message.to_owned()))
    }

    /// Whether the engine saw an OOM kill. It may record the event a moment
    /// after the exit, so it is asked a few times.
    async fn oom_killed(&self, name: &str) -> bool {
        for _ in 0..10 {
            let state = self
                .docker
                .inspect_container(name, None)
                .await
                .ok()
                .and_then(|info| info.state);
            if state.and_then(|state| state.oom_killed).unwrap_or(false) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    /// Docker's stop: SIGTERM, then SIGKILL after `grace`.
    async fn stop(&self, name: &str, grace: Duration) {
        let options = StopContainerOptionsBuilder::default()
            .t(grace.as_secs() as i32)
            .build();
        if let Err(err) = self.docker.stop_container(name, Some(options)).await {
            tracing::warn!(container = %name, error = %err, "cannot stop the container");
        }
    }

    fn container_body(
        &self,
        spec: &ContainerSpec,
        run: &Run,
        prepared: Prepared,
    ) -> ContainerCreateBody {
        let mut env: Vec<String> = spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        env.extend(
            (run.secret_env(SECRETS_DIR).into_iter())
                .chain(run.wharf_env("/wharf"))
                .map(|(k, v)| format!("{k}={v}")),
        );
        let labels = HashMap::from([
            (LABEL_TASK.to_owned(), run.task_id.clone()),
            (LABEL_ATTEMPT.to_owned(), run.attempt.to_string()),
            (LABEL_WORKER.to_owned(), run.worker_id.clone()),
            (LABEL_HOST.to_owned(), self.host.clone()),
            (LABEL_DEPLOYMENT.to_owned(), self.deployment.clone()),
        ]);
        let resources = prepared.resources;
        let memory = resources.memory_mb.map(|mb| (mb * 1024 * 1024) as i64);
        ContainerCreateBody {
            image: Some(prepared.image),
            entrypoint: (!spec.command.is_empty()).then(|| spec.command.clone()),
            cmd: (!spec.args.is_empty()).then(|| spec.args.clone()),
            env: Some(env),
            working_dir: spec.working_dir.clone(),
            user: spec.user.clone(),
            labels: Some(labels),
            host_config: Some(HostConfig {
                binds: Some(prepared.binds),
                memory,
                // No swap beyond the memory limit, so the limit holds.
                memory_swap: memory,
                nano_cpus: resources.cpus.map(|cpus| (cpus * 1e9) as i64),
                pids_limit: resources.pids,
                network_mode: Some(spec.network.clone().unwrap_or_else(|| "bridge".to_owned())),
                pid_mode: prepared.pid_mode,
                privileged: Some(false),
                cap_drop: Some(DROPPED_CAPABILITIES.map(str::to_owned).to_vec()),
                security_opt: Some(vec!["no-new-privileges".to_owned()]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}

/// Appends the container's stdout and stderr to the log as they come, and
/// hands the log back once the stream ends (`None` if it could not be
/// written).
async fn copy_logs(
    mut output: std::pin::Pin<
        Box<dyn futures_util::Stream<Item = Result<LogOutput, DockerError>> + Send>,
    >,
    mut log: CappedLog,
) -> Option<CappedLog> {
    while let Some(chunk) = output.next().await {
        match chunk {
            Ok(output) => {
                if let Err(err) = log.write(&output.into_bytes()) {
                    tracing::warn!(error = %err, "cannot write the log file");
                    return None;
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "the container's output stream broke off");
                break;
            }
        }
    }
    Some(log)
}
