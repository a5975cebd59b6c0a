//! Test harness: a real moto server for each test process, reached over HTTP
//! exactly as AWS is (through `AWS_ENDPOINT_URL`-style configuration), and
//! unique resource names so tests never see each other's state; and
//! stateful in-memory fakes of the storage seams for fast in-process tests
//! (in addition to the moto tests, never instead).

pub mod fakes;
pub mod fuzz;
pub mod lambda;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// The credentials and region every test uses; moto accepts anything.
pub const ACCESS_KEY: &str = "testing-access-key";
pub const SECRET_KEY: &str = "testing-secret-key";
pub const REGION: &str = "us-east-1";

/// A moto server on a free port of 127.0.0.1, stopped when dropped.
pub struct Moto {
    _child: Child,
    pub endpoint: String,
}

impl Moto {
    /// Starts moto from the workspace's `.venv` (made by `make .venv`) — with
    /// its DynamoDB calls serialized, see `scripts/moto_server.py` — and waits
    /// until it answers. `WHARF_MOTO_PYTHON` names another Python with moto.
    pub async fn start() -> Moto {
        let python = std::env::var_os("WHARF_MOTO_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace_root().join(".venv/bin/python"));
        assert!(
            python.exists(),
            "{} not found: run `make .venv/bin/moto_server` (or `make test`) first",
            python.display()
        );
        let port = free_port();
        let child = Command::new(&python)
            .arg(workspace_root().join("scripts/moto_server.py"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", python.display()));
        let endpoint = format!("http://127.0.0.1:{port}");
        for _ in 0..300 {
            if answers(port).await {
                return Moto {
                    _child: child,
                    endpoint,
                };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("moto server did not answer on {endpoint} within 15 s");
    }

    /// The SDK configuration pointing at this server.
    pub fn sdk_config(&self) -> SdkConfig {
        aws_config::SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(&self.endpoint)
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(
                    aws_credential_types::Credentials::new(
                        ACCESS_KEY, SECRET_KEY, None, None, "test",
                    ),
                ),
            )
            .build()
    }

    /// The environment a Wharf binary needs to reach this server.
    pub fn aws_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_owned()),
            ("AWS_REGION", REGION.to_owned()),
        ]
    }
}

/// The environment a Wharf binary reads these resource names from (the
/// queues it serves are left to the caller).
pub fn names_env(names: &wharf_core::config::ResourceNames) -> Vec<(&'static str, String)> {
    vec![
        ("WHARF_TASKS_TABLE", names.tasks_table.clone()),
        ("WHARF_WORKERS_TABLE", names.workers_table.clone()),
        ("WHARF_FUNCTIONS_TABLE", names.functions_table.clone()),
        ("WHARF_BUCKET", names.bucket.clone()),
        ("WHARF_QUEUE_PREFIX", names.queue_prefix.clone()),
    ]
}

/// A prefix for resource names unique to this test: `w<ulid>-`.
pub fn unique_prefix() -> String {
    format!("w{}-", ulid::Ulid::new().to_string().to_lowercase())
}

/// The root of the Cargo workspace.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testkit lives inside the workspace")
        .to_path_buf()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port on 127.0.0.1")
}

async fn answers(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    let request = "GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if stream.write_all(request.as_bytes()).await.is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).await.is_ok() && head.ends_with(b"200")
}
