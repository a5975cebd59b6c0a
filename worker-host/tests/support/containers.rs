//! Helpers of the container test binaries (`containers*.rs`): the engine,
//! the locally built test image, and container tasks.

use std::collections::HashMap;
use std::time::Duration;

use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{CreateContainerOptionsBuilder, ListContainersOptionsBuilder};
use bollard::Docker;
use serde_json::{json, Value};
use wharf_worker_host::executor::container::LABEL_TASK;

use super::Stack;

pub const IMAGE: &str = "wharf-test-busybox:latest";
pub const WAIT: Duration = Duration::from_secs(90);

/// The engine. Without one this test fails, never passes: `make test`
/// leaves this whole binary out when no engine answers (and says so), except
/// under CI, where it runs and fails.
pub async fn docker() -> Docker {
    let docker = Docker::connect_with_local_defaults()
        .unwrap_or_else(|err| panic!("no Docker engine: {err}"));
    let docker = docker
        .negotiate_version()
        .await
        .unwrap_or_else(|err| panic!("no Docker engine answers: {err}"));
    assert!(
        docker.inspect_image(IMAGE).await.is_ok(),
        "{IMAGE} is missing: run `make test-images`"
    );
    docker
}

pub fn container_task(script: &str) -> Value {
    json!({"spec": {"container": {
        "image": IMAGE,
        "command": ["sh", "-c"],
        "args": [script],
        "pullPolicy": "Never"
    }}})
}

pub async fn run(stack: &Stack, task: Value) -> Value {
    let id = stack.submit(task).await["id"].as_str().unwrap().to_owned();
    stack.wait(&id, WAIT).await
}

/// Containers (running or not) labelled with this task id.
pub async fn containers_of(docker: &Docker, task_id: &str) -> usize {
    let filters = HashMap::from([("label".to_owned(), vec![format!("{LABEL_TASK}={task_id}")])]);
    let options = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    docker.list_containers(Some(options)).await.unwrap().len()
}

/// A long-running busybox container, labelled as given.
pub async fn service(docker: &Docker, name: &str, labels: HashMap<String, String>) {
    let options = CreateContainerOptionsBuilder::default().name(name).build();
    let body = ContainerCreateBody {
        image: Some(IMAGE.to_owned()),
        cmd: Some(vec!["sleep".into(), "300".into()]),
        labels: Some(labels),
        ..Default::default()
    };
    docker.create_container(Some(options), body).await.unwrap();
    docker.start_container(name, None).await.unwrap();
}
