//! The whole stack for end-to-end tests: a moto server, provisioned
//! resources, the API served in-process on a free port, and real
//! `wharf-worker` processes.

#![allow(dead_code)] // each test binary uses its own part of this module

pub mod containers;
pub mod proxy;
pub mod scripts;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::process::{Child, Command};
use wharf_core::config::ResourceNames;
use wharf_core::provision::provision;
use wharf_core::queue::{Lane, QueueCounts};
use wharf_core::Backend;
use wharf_functions::api::{app, AppState};
use wharf_testkit::{unique_prefix, Moto};

pub const TOKEN: &str = "e2e-token";

pub struct Stack {
    pub moto: Moto,
    pub names: ResourceNames,
    pub backend: Backend,
    pub api_url: String,
    pub http: reqwest::Client,
}

impl Stack {
    pub async fn start() -> Stack {
        Stack::with_queues(&["default"]).await
    }

    /// A stack whose API accepts tasks for these queues (all provisioned).
    pub async fn with_queues(queues: &[&str]) -> Stack {
        let mut names = ResourceNames::with_prefix(&unique_prefix());
        names.queues = queues.iter().map(|q| q.to_string()).collect();
        Stack::named(names).await
    }

    /// Another stack (its own moto server) whose resources have the same
    /// names as this one's, as two local stacks on one machine have.
    pub async fn namesake(&self) -> Stack {
        Stack::named(self.names.clone()).await
    }

    async fn named(names: ResourceNames) -> Stack {
        let moto = Moto::start().await;
        let aws = moto.sdk_config();
        provision(&aws, &names).await.expect("provision");
        let backend = wharf_core::aws::backend(&aws, names.clone());
        let hash = hex::encode(Sha256::digest(TOKEN.as_bytes()));
        let state = AppState {
            backend: backend.clone(),
            tokens: format!("{hash}:read+submit+admin").parse().unwrap(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api_url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app(state)).await });
        Stack {
            moto,
            names,
            backend,
            api_url,
            http: reqwest::Client::new(),
        }
    }

    /// A `wharf-worker` process with short timings, configured like an
    /// operator would: AWS credentials and resource names in its environment.
    pub fn worker_command(&self) -> Command {
        self.worker_command_of(Path::new(env!("CARGO_BIN_EXE_wharf-worker")))
    }

    /// [`Stack::worker_command`] of the worker binary at `binary`.
    pub fn worker_command_of(&self, binary: &Path) -> Command {
        let mut command = Command::new(binary);
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(self.moto.aws_env())
            .envs(wharf_testkit::names_env(&self.names))
            .env("RUST_LOG", "info")
            .env("WHARF_CONCURRENCY", "2")
            .env("WHARF_HTTP_LISTEN", "127.0.0.1:0")
            .args([
                "--heartbeat-secs=1",
                "--lease-secs=4",
                "--poll-wait-secs=1",
                "--kill-grace-secs=2",
            ])
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command
    }

    pub fn spawn_worker(&self) -> Child {
        self.worker_command().spawn().expect("start wharf-worker")
    }

    /// A worker running up to `slots` tasks at once.
    pub fn spawn_worker_of(&self, slots: u32) -> Child {
        let mut command = self.worker_command();
        command.env("WHARF_CONCURRENCY", slots.to_string());
        command.spawn().expect("start wharf-worker")
    }

    /// Submits a task and returns its id.
    pub async fn submit_id(&self, task: Value) -> String {
        self.submit(task).await["id"].as_str().unwrap().to_owned()
    }

    pub async fn submit(&self, task: Value) -> Value {
        let response = self
            .http
            .post(format!("{}/v1/tasks", self.api_url))
            .bearer_auth(TOKEN)
            .json(&task)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202, "submit refused");
        response.json().await.unwrap()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.api_url))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
    }

    /// A `POST` without a body; the status and the JSON answer.
    pub async fn post(&self, path: &str) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.api_url))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or_default())
    }

    /// A `GET` of a JSON answer.
    pub async fn json(&self, path: &str) -> Value {
        self.get(path).await.json().await.unwrap()
    }

    pub async fn task(&self, id: &str) -> Value {
        self.get(&format!("/v1/tasks/{id}"))
            .await
            .json()
            .await
            .unwrap()
    }

    /// Polls a task until it has finished.
    pub async fn wait(&self, id: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let task = self.task(id).await;
            if !matches!(
                task["status"].as_str(),
                Some("waiting" | "queued" | "running")
            ) {
                return task;
            }
            assert!(Instant::now() < deadline, "task still unfinished: {task}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Downloads an output through the presigned URL the API hands out.
    pub async fn download(&self, id: &str, path: &str) -> Vec<u8> {
        let manifest: Value = self
            .get(&format!("/v1/tasks/{id}/outputs"))
            .await
            .json()
            .await
            .unwrap();
        let output = manifest["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["path"] == path)
            .unwrap_or_else(|| panic!("no output {path} in {manifest}"));
        let url = output["url"].as_str().unwrap();
        // A plain GET with no credentials: the URL alone grants access.
        let response = reqwest::get(url).await.unwrap();
        assert_eq!(response.status(), 200);
        response.bytes().await.unwrap().to_vec()
    }

    /// Delivers a task's message once more, as a duplicate (or an early
    /// delivery of a delayed task) would arrive.
    pub async fn deliver_again(&self, task_id: &str) {
        let message = wharf_core::model::TaskMessage::bare(task_id);
        self.backend
            .queues
            .send("default", &message, Duration::ZERO)
            .await
            .unwrap();
    }

    /// Messages in the default queue's DLQ.
    pub async fn dead_letters(&self) -> u64 {
        self.backend
            .queues
            .counts("default", Lane::DeadLetters)
            .await
            .unwrap()
            .visible
    }

    /// The complete log of a task's latest attempt.
    pub async fn logs(&self, id: &str) -> String {
        let logs: Value = self
            .get(&format!("/v1/tasks/{id}/logs"))
            .await
            .json()
            .await
            .unwrap();
        logs["data"].as_str().unwrap_or_default().to_owned()
    }

    /// Waits until no message is left on the task queue.
    pub async fn queue_drained(&self) {
        eventually("the queue is empty", Duration::from_secs(90), || async {
            self.messages_left().await == 0
        })
        .await;
    }

    /// Approximate counts of the task queue.
    pub async fn counts(&self) -> QueueCounts {
        let queues = &self.backend.queues;
        queues.counts("default", Lane::Tasks).await.unwrap()
    }

    /// SSM SecureString parameters, for tasks' secrets.
    pub async fn put_parameters(&self, parameters: &[(&str, &str)]) {
        let ssm = aws_sdk_ssm::Client::new(&self.moto.sdk_config());
        for (name, value) in parameters {
            ssm.put_parameter()
                .name(*name)
                .value(*value)
                .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
                .send()
                .await
                .expect("put the parameter");
        }
    }

    /// `wharf-control` in this process, ticking every `tick`, until the
    /// guard is dropped.
    pub fn control(&self, tick: Duration) -> tokio_util::sync::DropGuard {
        let stop = tokio_util::sync::CancellationToken::new();
        let (backend, until) = (self.backend.clone(), stop.clone());
        tokio::spawn(
            async move { wharf_functions::control::run(&backend, tick, false, &until).await },
        );
        stop.drop_guard()
    }

    /// A `wharf-control` process ticking every 2 s, configured as the
    /// workers are. Its binary is the workspace's, built beside the worker's
    /// (`make test` builds every binary first).
    pub fn spawn_control(&self) -> Child {
        let binary = Path::new(env!("CARGO_BIN_EXE_wharf-worker")).with_file_name("wharf-control");
        assert!(
            binary.exists(),
            "{} is missing: build the workspace's binaries (make build)",
            binary.display()
        );
        Command::new(binary)
            .env_clear()
            .envs(self.moto.aws_env())
            .envs(wharf_testkit::names_env(&self.names))
            .env("RUST_LOG", "info")
            .arg("--tick-secs=2")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start wharf-control")
    }

    /// A `POST` of a JSON body; the status and the JSON answer.
    pub async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.api_url))
            .bearer_auth(TOKEN)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or_default())
    }

    /// Submits a task that must be refused: the fields its `400` names.
    pub async fn refused_fields(&self, task: &Value) -> Vec<String> {
        let (code, problem) = self.post_json("/v1/tasks", task).await;
        assert_eq!(code, 400, "{task}: {problem}");
        problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Messages left on the task queue (visible + in flight + delayed).
    pub async fn messages_left(&self) -> u64 {
        let counts = self.counts().await;
        counts.visible + counts.in_flight + counts.delayed
    }
}

/// Polls `check` every 100 ms until it holds, failing after `timeout`.
pub async fn eventually<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sends SIGKILL or SIGTERM to a child process.
pub fn signal(child: &Child, signal: nix::sys::signal::Signal) {
    let pid = nix::unistd::Pid::from_raw(child.id().expect("the child runs") as i32);
    nix::sys::signal::kill(pid, signal).unwrap();
}

/// Alive and not a zombie waiting to be reaped.
pub fn process_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// A file tasks append lines to, to count what really ran.
pub struct Ledger(pub std::path::PathBuf);

impl Ledger {
    pub fn new() -> Ledger {
        let path = std::env::temp_dir().join(format!("{}ledger", wharf_testkit::unique_prefix()));
        std::fs::write(&path, "").unwrap();
        // Tasks run under uids of their own: let them append.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        Ledger(path)
    }

    pub fn lines(&self) -> Vec<String> {
        std::fs::read_to_string(&self.0)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// A task that sleeps, then appends "<task id> <attempt>" to the ledger.
    pub fn task(&self, sleep_secs: u32) -> Value {
        let mut task = shell_task(&format!(
            r#"sleep {sleep_secs}; echo "$WHARF_TASK_ID $WHARF_ATTEMPT" >> "$LEDGER""#
        ));
        task["spec"]["process"]["env"] = serde_json::json!({"LEDGER": self.0});
        task
    }
}

impl Drop for Ledger {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A process task running `script` under `sh -c`.
pub fn shell_task(script: &str) -> Value {
    serde_json::json!({"spec": {"process": {"command": ["sh", "-c", script]}}})
}

/// A copy of a file any user may read and run, in the temporary directory
/// (the clone may sit where other users cannot enter, as root's home does);
/// removed when dropped.
pub struct ReachableCopy(pub PathBuf);

impl ReachableCopy {
    pub fn of(file: &str) -> ReachableCopy {
        let copy = std::env::temp_dir().join(wharf_testkit::unique_prefix());
        std::fs::copy(file, &copy).expect("copy the file");
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
        ReachableCopy(copy)
    }
}

impl Drop for ReachableCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
