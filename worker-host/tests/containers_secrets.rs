//! A container task's secrets on the real Docker engine: `as: env` in its
//! environment, `as: file` under `/run/secrets` (read-only, its user's),
//! and every form of the values redacted from its log and result.

mod support;

use serde_json::json;
use support::containers::{container_task, docker, run};
use support::Stack;

const PASSWORD: &str = "container-s3cret-value";
const KEY: &str = "signing-key-0123456789abcdef";

#[tokio::test]
async fn a_container_gets_its_secrets_and_its_log_keeps_none_of_them() {
    let _docker = docker().await;
    let stack = Stack::start().await;
    stack
        .put_parameters(&[("/wharf/c/password", PASSWORD), ("/wharf/c/key", KEY)])
        .await;
    let _worker = stack.spawn_worker();
    let mut task = container_task(
        r#"echo "env: $PASSWORD"
           echo "dir: $WHARF_SECRETS_DIR"
           echo "file: $(cat "$WHARF_SECRETS_DIR/KEY")"
           echo "b64: $(printf '%s' "$PASSWORD" | base64)"
           ls -ln "$WHARF_SECRETS_DIR" | tail -n +2 | cut -c1-10
           touch "$WHARF_SECRETS_DIR/new" 2>/dev/null || echo "read-only"
           printf '{"password": "%s"}' "$PASSWORD" > "$WHARF_OUTPUT_DIR/result.json""#,
    );
    task["secrets"] = json!([
        {"name": "PASSWORD", "valueFrom": "/wharf/c/password"},
        {"name": "KEY", "valueFrom": "/wharf/c/key", "as": "file"},
    ]);
    let done = run(&stack, task).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let id = done["id"].as_str().unwrap();
    let log = stack.logs(id).await;
    assert!(log.contains("env: [redacted:PASSWORD]"), "{log}");
    assert!(log.contains("dir: /run/secrets"), "{log}");
    assert!(log.contains("file: [redacted:KEY]"), "{log}");
    assert!(log.contains("b64: [redacted:PASSWORD]"), "{log}");
    assert!(log.contains("-r--------"), "{log}");
    assert!(log.contains("read-only"), "{log}");
    assert!(!log.contains(PASSWORD) && !log.contains(KEY), "{log}");
    assert_eq!(done["result"], json!({"password": "[redacted:PASSWORD]"}));
    let uploaded = stack.download(id, "result.json").await;
    assert!(!String::from_utf8_lossy(&uploaded).contains(PASSWORD));
}
