//! A whole local Wharf for driving the `wharf` binary as a user would: a
//! moto server, provisioned resources, the real `wharf-api --listen` and,
//! when asked for, a real `wharf-worker`, all stopped when dropped.

#![allow(dead_code)] // each test binary uses its own part of this module

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::process::{Child, Command};
use wharf_core::config::ResourceNames;
use wharf_core::provision::provision;
use wharf_testkit::{names_env, unique_prefix, Moto};

/// A token with every scope, and one that may only read.
pub const TOKEN: &str = "cli-test-token";
pub const READ_TOKEN: &str = "cli-read-token";

pub struct Local {
    pub moto: Moto,
    pub names: ResourceNames,
    pub api_url: String,
    /// A home of its own, so no config file of the user's is read.
    pub home: PathBuf,
    api: Child,
    worker: Option<Child>,
    control: Option<Child>,
}

impl Local {
    /// moto and the API, no worker: tasks stay queued.
    pub async fn api_only() -> Local {
        Local::start(false, false).await
    }

    /// moto, the API and one worker host.
    pub async fn with_worker() -> Local {
        Local::start(true, false).await
    }

    /// moto, the API and the control plane, no worker: arrays get their
    /// children, which stay queued.
    pub async fn with_control() -> Local {
        Local::start(false, true).await
    }

    /// moto, the API, the control plane and one worker host.
    pub async fn with_worker_and_control() -> Local {
        Local::start(true, true).await
    }

    async fn start(worker: bool, control: bool) -> Local {
        let moto = Moto::start().await;
        let names = ResourceNames::with_prefix(&unique_prefix());
        provision(&moto.sdk_config(), &names)
            .await
            .expect("provision");
        let home = std::env::temp_dir().join(format!("{}home", unique_prefix()));
        std::fs::create_dir_all(&home).unwrap();
        let port = free_port();
        let api_url = format!("http://127.0.0.1:{port}");
        let tokens = format!(
            "{}:read+submit+admin,{}:read",
            sha256_hex(TOKEN.as_bytes()),
            sha256_hex(READ_TOKEN.as_bytes())
        );
        let api = service("wharf-api", &moto, &names)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env("WHARF_API_TOKENS", tokens)
            .spawn()
            .expect("start wharf-api");
        wait_until_healthy(&api_url).await;
        let worker = worker.then(|| {
            let work_dir = home.join("work");
            service("wharf-worker", &moto, &names)
                .args([
                    "--heartbeat-secs=1",
                    "--poll-wait-secs=1",
                    "--concurrency=2",
                ])
                .arg("--http-listen=127.0.0.1:0")
                .arg(format!("--work-dir={}", work_dir.display()))
                .spawn()
                .expect("start wharf-worker")
        });
        let control = control.then(|| {
            service("wharf-control", &moto, &names)
                .arg("--tick-secs=1")
                .spawn()
                .expect("start wharf-control")
        });
        Local {
            moto,
            names,
            api_url,
            home,
            api,
            worker,
            control,
        }
    }

    /// `wharf` with the API's URL and the full token in its environment,
    /// and nothing else of this process's.
    pub fn wharf(&self) -> Command {
        let mut command = self.bare_wharf();
        command
            .env("WHARF_API_URL", &self.api_url)
            .env("WHARF_TOKEN", TOKEN);
        command
    }

    /// `wharf` with no URL or token: only what the test gives it.
    pub fn bare_wharf(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_wharf"));
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command
    }

    /// Runs `wharf ARGS` to its end.
    pub async fn run(&self, args: &[&str]) -> Run {
        Run::of(self.wharf().args(args)).await
    }

    /// Runs `wharf ARGS`, which must succeed.
    pub async fn ok(&self, args: &[&str]) -> Run {
        self.run(args).await.expect(0)
    }

    /// Runs `wharf ARGS`, which must succeed; what it printed, as JSON.
    pub async fn json(&self, args: &[&str]) -> serde_json::Value {
        self.ok(args).await.json()
    }

    /// Runs a `wharf submit` or `invoke` that succeeds; the id it printed.
    pub async fn submitted(&self, args: &[&str]) -> String {
        self.run(args).await.expect(0).stdout.trim().to_owned()
    }

    /// Runs `wharf ARGS`, which must fail with `code` and one line saying
    /// `what`.
    pub async fn fails(&self, args: &[&str], code: i32, what: &str) {
        self.run(args).await.expect(code).one_line_error(what);
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

/// How a `wharf` command ended.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub async fn of(command: &mut Command) -> Run {
        let output: Output = tokio::time::timeout(Duration::from_secs(120), command.output())
            .await
            .expect("wharf ended within 2 minutes")
            .expect("wharf runs");
        Run {
            code: output.status.code().expect("wharf exited, not killed"),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Asserts the exit code, showing what was printed when it differs.
    pub fn expect(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// stdout as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }

    /// A failure is one line on stderr, starting `wharf: `, that says
    /// `what`.
    pub fn one_line_error(&self, what: &str) {
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one line expected: {}", self.stderr);
        assert!(lines[0].starts_with("wharf: "), "{}", self.stderr);
        assert!(
            lines[0].contains(what),
            "{what:?} expected in: {}",
            self.stderr
        );
    }
}

/// A binary built beside `wharf` by the workspace (`make test` builds them
/// all).
fn binary(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_wharf")).with_file_name(name);
    assert!(
        path.exists(),
        "{} is missing: build the workspace first (make test, or cargo build --workspace)",
        path.display()
    );
    path
}

/// A Wharf service of the workspace, configured like an operator would:
/// AWS credentials and resource names in its environment.
fn service(name: &str, moto: &Moto, names: &ResourceNames) -> Command {
    let mut command = Command::new(binary(name));
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(moto.aws_env())
        .envs(names_env(names))
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(true);
    command
}

async fn wait_until_healthy(api_url: &str) {
    let health = format!("{api_url}/health");
    for _ in 0..200 {
        if reqwest::get(&health)
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("wharf-api did not answer on {api_url} within 10 s");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port")
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
