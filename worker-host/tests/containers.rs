//! Container tasks on the real Docker engine, with the locally built busybox
//! image (`make test-images`). Without an engine `make test` skips this
//! binary and says so, except under CI (`CI` set), where it runs and fails.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};
use support::containers::{container_task, containers_of, docker, run, service, WAIT};
use support::Stack;
use wharf_core::aws::deployment;
use wharf_worker_host::executor::container::{
    LABEL_ATTEMPT, LABEL_DEPLOYMENT, LABEL_HOST, LABEL_TASK, LABEL_WORKER,
};

#[tokio::test]
async fn a_container_task_writes_an_output_downloaded_through_its_presigned_url() {
    let docker = docker().await;
    let stack = Stack::start().await;
    let _worker = stack.spawn_worker();
    let mut task = container_task(
        r#"echo "hello from the container, attempt $WHARF_ATTEMPT"
           cp "$WHARF_PAYLOAD" "$WHARF_OUTPUT_DIR/payload.json"
           echo container-output > /wharf/output/out.txt
           env > /wharf/output/env.txt"#,
    );
    task["payload"] = json!({"n": 7});
    task["spec"]["container"]["env"] = json!({"GREETING": "hi"});
    let done = run(&stack, task).await;
    let id = done["id"].as_str().unwrap();
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(stack.download(id, "out.txt").await, b"container-output\n");
    let payload: Value = serde_json::from_slice(&stack.download(id, "payload.json").await).unwrap();
    assert_eq!(payload, json!({"n": 7}));
    let env = String::from_utf8(stack.download(id, "env.txt").await).unwrap();
    assert!(
        env.contains("GREETING=hi") && env.contains(&format!("WHARF_TASK_ID={id}")),
        "{env}"
    );
    assert!(
        !env.contains("AWS_"),
        "the worker's credentials leaked: {env}"
    );

    let logs = stack.logs(id).await;
    assert!(
        logs.contains("hello from the container, attempt 1"),
        "{logs}"
    );
    assert_eq!(
        containers_of(&docker, id).await,
        0,
        "the container was not removed"
    );
}

#[tokio::test]
async fn a_container_exit_code_is_recorded() {
    let _docker = docker().await;
    let stack = Stack::start().await;
    let _worker = stack.spawn_worker();
    let done = run(&stack, container_task("exit 7")).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(done["reason"], "NonZeroExit");
    assert_eq!(done["exitCode"], 7);
}

#[tokio::test]
async fn exceeding_the_memory_limit_is_oom_killed() {
    let _docker = docker().await;
    let stack = Stack::start().await;
    let _worker = stack.spawn_worker();
    let mut task = container_task("head -c 200000000 /dev/zero | tail > /dev/null");
    task["spec"]["container"]["resources"] = json!({"memoryMb": 16});
    let done = run(&stack, task).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(done["reason"], "OOMKilled", "{done}");
}

#[tokio::test]
async fn network_none_has_no_network_and_the_pids_limit_holds_against_a_fork_loop() {
    let _docker = docker().await;
    let stack = Stack::start().await;
    let _worker = stack.spawn_worker();
    let mut task = container_task(
        r#"ls /sys/class/net > /wharf/output/interfaces
           (for i in $(seq 200); do sleep 30 & done)
           set -- /proc/[0-9]*
           echo $# > /wharf/output/processes"#,
    );
    task["spec"]["container"]["network"] = json!("none");
    task["spec"]["container"]["resources"] = json!({"pids": 20});
    let done = run(&stack, task).await;
    let id = done["id"].as_str().unwrap();
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(stack.download(id, "interfaces").await, b"lo\n");
    let processes: usize = String::from_utf8(stack.download(id, "processes").await)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(processes <= 20, "{processes} processes despite pids=20");
    let logs = stack.logs(id).await;
    assert!(logs.contains("can't fork"), "{logs}");
}

#[tokio::test]
async fn a_timed_out_container_is_stopped_and_removed() {
    let docker = docker().await;
    let stack = Stack::start().await;
    let _worker = stack.spawn_worker();
    let mut task = container_task("sleep 300");
    task["timeoutSeconds"] = json!(2);
    let done = run(&stack, task).await;
    assert_eq!(done["status"], "timed_out", "{done}");
    assert_eq!(done["reason"], "Timeout");
    assert_eq!(
        containers_of(&docker, done["id"].as_str().unwrap()).await,
        0
    );
}

#[tokio::test]
async fn pull_policy_never_with_a_missing_image_fails_to_start() {
    let _docker = docker().await;
    let stack = Stack::start().await;
    let _worker = stack.spawn_worker();
    let mut task = container_task("true");
    task["spec"]["container"]["image"] = json!("wharf-no-such-image:1");
    let done = run(&stack, task).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(done["reason"], "StartFailed");
    assert!(
        done["message"].as_str().unwrap().contains("not present"),
        "{done}"
    );
    assert_eq!(done["attempt"], 1, "a start failure is not retried");
}

#[tokio::test]
async fn the_worker_removes_containers_left_behind_by_a_crashed_run() {
    let docker = docker().await;
    let stack = Stack::start().await;
    let hostname = nix::unistd::gethostname()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    // A crashed run's container, and one of another deployment on the same
    // engine (the same table's name on another endpoint), which is not this
    // worker's to sweep.
    let pid = std::process::id();
    let table = &stack.names.tasks_table;
    let leftovers = [
        (
            "01-no-such-task",
            deployment(&stack.moto.sdk_config(), table),
        ),
        (
            "01-other-stack",
            format!("{table} us-east-1 http://127.0.0.1:1"),
        ),
    ];
    for (task, deployment) in &leftovers {
        let labels = HashMap::from([
            (LABEL_TASK.to_owned(), task.to_string()),
            (LABEL_ATTEMPT.to_owned(), "1".to_owned()),
            (LABEL_WORKER.to_owned(), "crashed-worker".to_owned()),
            (LABEL_HOST.to_owned(), hostname.clone()),
            (LABEL_DEPLOYMENT.to_owned(), deployment.clone()),
        ]);
        service(&docker, &format!("wharf-test-{task}-{pid}"), labels).await;
    }

    let _worker = stack.spawn_worker();
    support::eventually(
        "the leftover container is gone",
        Duration::from_secs(30),
        || async { containers_of(&docker, "01-no-such-task").await == 0 },
    )
    .await;
    assert_eq!(containers_of(&docker, "01-other-stack").await, 1);
    let other = format!("wharf-test-01-other-stack-{pid}");
    let options = bollard::query_parameters::RemoveContainerOptionsBuilder::default()
        .force(true)
        .build();
    docker
        .remove_container(&other, Some(options))
        .await
        .unwrap();
}

/// A worker that runs only processes, and a container task submitted to it.
async fn container_task_on_process_only_worker(stack: &Stack) -> (tokio::process::Child, String) {
    let worker = stack
        .worker_command()
        .arg("--executors=process")
        .spawn()
        .unwrap();
    (worker, stack.submit_id(container_task("echo ran")).await)
}

#[tokio::test]
async fn a_worker_without_the_container_executor_leaves_container_tasks_to_one_with_it() {
    let _docker = docker().await;
    let stack = Stack::start().await;
    let (mut process_only, id) = container_task_on_process_only_worker(&stack).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        stack.task(&id).await["status"],
        "queued",
        "the process-only worker took it"
    );
    // It released the task rather than holding or failing it; stop it so
    // the capable worker below is the only one polling.
    support::signal(&process_only, nix::sys::signal::Signal::SIGTERM);
    process_only.wait().await.unwrap();

    let _capable = stack.spawn_worker();
    let done = stack.wait(&id, WAIT).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["attempt"], 1);
}

#[tokio::test]
async fn a_task_no_worker_can_run_ends_in_the_dead_letter_queue() {
    let _docker = docker().await;
    let stack = Stack::start().await;
    let (_process_only, id) = container_task_on_process_only_worker(&stack).await;
    support::eventually("it is dead-lettered", Duration::from_secs(120), || async {
        stack.dead_letters().await > 0
    })
    .await;
    assert_eq!(stack.messages_left().await, 0);
    assert_eq!(stack.task(&id).await["status"], "queued", "nothing ran it");
}
