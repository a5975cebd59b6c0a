//! What a container task may reach of its host, on the real Docker engine:
//! only mounts under the roots the operator allows (resolved on the host,
//! read-only roots staying read-only), `pidMode` only into containers the
//! operator marked, Docker's default capabilities less raw sockets and the
//! like, `:latest` for a reference without a tag. Skipped (and said so) by
//! `make test` without an engine, like `containers.rs`.

mod support;

use std::collections::HashMap;
use std::path::Path;

use bollard::query_parameters::RemoveContainerOptionsBuilder;
use serde_json::{json, Value};
use support::containers::{container_task, docker, run, service, IMAGE};
use support::{eventually, Stack, TOKEN};
use wharf_worker_host::executor::container::LABEL_PID_JOINABLE;

/// A task that runs `script` with `source` mounted at `/data`.
fn mounting(source: &Path, read_only: bool, script: &str) -> Value {
    let mut task = container_task(script);
    task["spec"]["container"]["mounts"] =
        json!([{"source": source, "target": "/data", "readOnly": read_only}]);
    task
}

fn start_failure(done: &Value) -> String {
    assert_eq!(
        (done["status"].as_str(), done["reason"].as_str()),
        (Some("failed"), Some("StartFailed")),
        "{done}"
    );
    done["message"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn mounts_are_resolved_on_the_host_and_read_only_roots_stay_read_only() {
    let _docker = docker().await;
    let stack = Stack::start().await;
    let base = std::env::temp_dir().join(wharf_testkit::unique_prefix());
    let (rw, ro) = (base.join("rw"), base.join("ro"));
    std::fs::create_dir_all(&rw).unwrap();
    std::fs::create_dir_all(&ro).unwrap();
    // What a hostile task would plant for the next one to mount.
    std::os::unix::fs::symlink("/", rw.join("r")).unwrap();
    let allowed = format!("--allowed-mounts={},{}:ro", rw.display(), ro.display());
    let _worker = stack.worker_command().arg(allowed).spawn().unwrap();

    let outside = run(&stack, mounting(Path::new("/etc"), true, "true")).await;
    assert!(start_failure(&outside).contains("not allowed"), "{outside}");
    let planted = run(&stack, mounting(&rw.join("r"), true, "ls /data")).await;
    assert!(start_failure(&planted).contains("symlink"), "{planted}");

    let write_ro = run(&stack, mounting(&ro, false, "touch /data/x")).await;
    assert_eq!(write_ro["reason"], "NonZeroExit", "{write_ro}");
    assert!(!ro.join("x").exists(), "a read-only root was written");
    let write_rw = run(&stack, mounting(&rw, false, "echo hi > /data/y")).await;
    assert_eq!(write_rw["status"], "succeeded", "{write_rw}");
    assert_eq!(std::fs::read_to_string(rw.join("y")).unwrap(), "hi\n");

    // `..` never gets as far as a worker.
    let climbing = mounting(&rw.join("../../etc"), true, "true");
    let response = stack
        .http
        .post(format!("{}/v1/tasks", stack.api_url))
        .bearer_auth(TOKEN)
        .json(&climbing)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(
        problem["errors"][0]["field"],
        "spec.container.mounts[0].source"
    );
    std::fs::remove_dir_all(&base).unwrap();
}

fn joining(container: &str) -> Value {
    let mut task = container_task("cat /proc/1/cmdline | tr '\\0' ' ' > /wharf/output/pid1");
    task["spec"]["container"]["pidMode"] = json!(format!("container:{container}"));
    task
}

#[tokio::test]
async fn pid_mode_joins_only_containers_the_operator_marked() {
    let docker = docker().await;
    let stack = Stack::start().await;
    let _worker = stack.spawn_worker();
    let prefix = wharf_testkit::unique_prefix();
    let (marked, unmarked) = (format!("{prefix}marked"), format!("{prefix}unmarked"));
    let joinable = HashMap::from([(LABEL_PID_JOINABLE.to_owned(), "true".to_owned())]);
    service(&docker, &marked, joinable).await;
    service(&docker, &unmarked, HashMap::new()).await;
    // Another task's container, running.
    let mut long = container_task("sleep 300");
    long["timeoutSeconds"] = json!(60);
    let other = stack.submit_id(long).await;
    let other_container = format!("wharf-{other}-1");
    eventually(
        "the other task's container runs",
        support::containers::WAIT,
        || async {
            docker
                .inspect_container(&other_container, None)
                .await
                .is_ok()
        },
    )
    .await;

    let sidecar = run(&stack, joining(&marked)).await;
    let into_unmarked = run(&stack, joining(&unmarked)).await;
    let into_task = run(&stack, joining(&other_container)).await;
    for name in [&marked, &unmarked] {
        let remove = RemoveContainerOptionsBuilder::default().force(true).build();
        docker.remove_container(name, Some(remove)).await.unwrap();
    }
    assert_eq!(sidecar["status"], "succeeded", "{sidecar}");
    let pid1 = stack
        .download(sidecar["id"].as_str().unwrap(), "pid1")
        .await;
    assert_eq!(String::from_utf8(pid1).unwrap().trim(), "sleep 300");
    assert!(
        start_failure(&into_unmarked).contains(LABEL_PID_JOINABLE),
        "{into_unmarked}"
    );
    assert!(
        start_failure(&into_task).contains("another task"),
        "{into_task}"
    );
}

#[tokio::test]
async fn containers_lose_raw_sockets_and_an_untagged_image_means_latest() {
    let _docker = docker().await;
    let stack = Stack::start().await;
    let _worker = stack.spawn_worker();
    let mut task = container_task("grep CapBnd /proc/self/status > /wharf/output/caps");
    // No tag: wharf-test-busybox:latest, which is here.
    task["spec"]["container"]["image"] = json!(IMAGE.trim_end_matches(":latest"));
    task["spec"]["container"]["pullPolicy"] = json!("IfNotPresent");
    let done = run(&stack, task).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let caps = stack.download(done["id"].as_str().unwrap(), "caps").await;
    let caps = String::from_utf8(caps).unwrap();
    let hex = caps.trim().trim_start_matches("CapBnd:").trim();
    let bounding = u64::from_str_radix(hex, 16).unwrap();
    let has = |bit: u32| bounding & (1 << bit) != 0;
    // CAP_CHOWN (0) and CAP_KILL (5) stay: Docker's defaults, less these.
    assert!(has(0) && has(5), "{caps}");
    for (name, bit) in [
        ("NET_RAW", 13),
        ("MKNOD", 27),
        ("AUDIT_WRITE", 29),
        ("SETFCAP", 31),
    ] {
        assert!(!has(bit), "CAP_{name} is still in the bounding set: {caps}");
    }
}
