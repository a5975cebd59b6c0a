//! Tasks that run across many lease periods, of every kind, on a worker
//! whose container sweep runs every lease period, beside a second stack on
//! the same Docker engine whose resources have the same names (as `make
//! demo` left running and a stack of one's own have) and whose worker sweeps
//! too. The sweep once removed the containers of live attempts: of another
//! stack's, whose records its own store did not have. Needs the engine, like
//! `containers.rs`.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use support::containers::{container_task, containers_of, docker};
use support::scripts::serve;
use support::{shell_task, Stack};

const WAIT: Duration = Duration::from_secs(90);

/// The script task; the others run its body under `sh -c`. 17 s are four
/// lease periods of the test workers (`--lease-secs=4`), and a bit.
const SCRIPT: &str = "#!/bin/sh\necho start; sleep 17; echo end\n";

#[tokio::test]
async fn long_tasks_of_every_kind_outlive_the_sweeps_of_their_worker_and_a_namesake_stack() {
    let docker = docker().await;
    let server = serve(HashMap::from([("/long.sh", SCRIPT)])).await;
    let stack = Stack::start().await;
    let namesake = stack.namesake().await;
    let _worker = stack
        .worker_command()
        .env("WHARF_CONCURRENCY", "3")
        .arg(format!("--extra-ca-file={}", server.ca_file.display()))
        .spawn()
        .unwrap();
    let _neighbour = namesake.spawn_worker();

    let script = SCRIPT.trim_start_matches("#!/bin/sh\n");
    let url = format!("{}/long.sh", server.base_url);
    let tasks = [
        ("container", &stack, container_task(script)),
        ("process", &stack, shell_task(script)),
        (
            "script",
            &stack,
            serde_json::json!({"spec": {"script": {"url": url, "name": "long.sh"}}}),
        ),
        ("neighbour's container", &namesake, container_task(script)),
    ];
    let mut ids = Vec::new();
    for (kind, on, task) in tasks {
        ids.push((kind, on, on.submit_id(task).await));
    }
    for (kind, on, id) in &ids {
        let done = on.wait(id, WAIT).await;
        assert_eq!(
            (done["status"].as_str(), done["attempt"].as_u64()),
            (Some("succeeded"), Some(1)),
            "{kind}: {done}"
        );
        let logs = on.logs(id).await;
        assert_eq!(logs, "start\nend\n", "{kind}");
        assert_eq!(containers_of(&docker, id).await, 0, "{kind}: left behind");
    }
    assert_eq!(stack.messages_left().await, 0);
    assert_eq!(namesake.messages_left().await, 0);
}
