//! The whole stack for end-to-end tests: a moto server, provisioned
//! resources, the API served in-process on a free port, and real
//! `wharf-worker` processes.

#![allow(dead_code)] // each test binary uses its own part of this module

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::process::{Child, Command};
use wharf_core::config::{Backend, ResourceNames};
use wharf_core::provision::provision;
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
        let moto = Moto::start().await;
        let aws = moto.sdk_config();
        let names = ResourceNames::with_prefix(&unique_prefix());
        provision(&aws, &names).await.expect("provision");
        let backend = Backend::new(&aws, names.clone());
        let hash = hex::encode(Sha256::digest(TOKEN.as_bytes()));
        let state = AppState {
            backend: backend.clone(),
            tokens: format!("{hash}:read+submit").parse().unwrap(),
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
        let mut command = Command::new(env!("CARGO_BIN_EXE_wharf-worker"));
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(self.moto.aws_env())
            .env("WHARF_TASKS_TABLE", &self.names.tasks_table)
            .env("WHARF_WORKERS_TABLE", &self.names.workers_table)
            .env("WHARF_FUNCTIONS_TABLE", &self.names.functions_table)
            .env("WHARF_BUCKET", &self.names.bucket)
            .env("WHARF_QUEUE_PREFIX", &self.names.queue_prefix)
            .env("RUST_LOG", "info")
            .args([
                "--concurrency=2",
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
            if !matches!(task["status"].as_str(), Some("queued" | "running")) {
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

    /// Messages left on the task queue (visible + in flight + delayed).
    pub async fn messages_left(&self) -> u64 {
        let counts = self.backend.queues.counts("default").await.unwrap();
        counts.visible + counts.in_flight + counts.delayed
    }
}

/// A process task running `script` under `sh -c`.
pub fn shell_task(script: &str) -> Value {
    serde_json::json!({"spec": {"process": {"command": ["sh", "-c", script]}}})
}
