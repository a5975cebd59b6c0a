//! The function binaries run as Lambda runs them: under a Runtime API
//! emulator, fed real API Gateway (HTTP API v2 and REST) and SQS events from
//! `tests/events/`, against moto.

use std::process::Stdio;

use chrono::Utc;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::process::{Child, Command};
use wharf_core::config::ResourceNames;
use wharf_core::model::{new_task_id, Status, Task};
use wharf_core::provision::provision;
use wharf_core::queue::Lane;
use wharf_core::submit::new_task;
use wharf_core::validate::parse_task_request;
use wharf_core::Backend;
use wharf_testkit::lambda::{Answer, RuntimeApi};
use wharf_testkit::{unique_prefix, Moto};

const TOKEN: &str = "lambda-test-token";

fn event(name: &str) -> Value {
    let path = format!("{}/tests/events/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A function binary: the `bootstrap` cargo-lambda built when
/// `WHARF_LAMBDA_DIR` names its output (`make lambda` does), else the one
/// `cargo build` made.
fn bootstrap(name: &str, built: &str) -> String {
    match std::env::var("WHARF_LAMBDA_DIR") {
        Ok(dir) => format!("{dir}/{name}/bootstrap"),
        Err(_) => built.to_owned(),
    }
}

struct Function {
    runtime: RuntimeApi,
    _process: Child,
}

async fn start(binary: &str, moto: &Moto, names: &ResourceNames) -> Function {
    let runtime = RuntimeApi::start().await;
    let hash = hex::encode(Sha256::digest(TOKEN.as_bytes()));
    let process = Command::new(binary)
        .env_clear()
        .envs(moto.aws_env())
        .envs(runtime.env("wharf"))
        .envs(wharf_testkit::names_env(names))
        .env("WHARF_API_TOKENS", format!("{hash}:read+submit"))
        // As infra/template.yaml configures the functions: routes are served
        // without the REST API's stage prefix (`/prod/v1/tasks`).
        .env("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH", "true")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    Function {
        runtime,
        _process: process,
    }
}

async fn stack() -> (Moto, ResourceNames, Backend) {
    let moto = Moto::start().await;
    let aws = moto.sdk_config();
    let names = ResourceNames::with_prefix(&unique_prefix());
    provision(&aws, &names).await.unwrap();
    let backend = wharf_core::aws::backend(&aws, names.clone());
    (moto, names, backend)
}

fn response(answer: Answer) -> Value {
    match answer {
        Answer::Response(value) => value,
        Answer::Error(error) => panic!("the function failed: {error}"),
    }
}

#[tokio::test]
async fn wharf_api_answers_http_api_v2_and_rest_events() {
    let (moto, names, backend) = stack().await;
    let api = start(
        &bootstrap("wharf-api", env!("CARGO_BIN_EXE_wharf-api")),
        &moto,
        &names,
    )
    .await;

    let health = response(api.runtime.invoke(event("apigw-v2-get-health.json")).await);
    assert_eq!(health["statusCode"], 200, "{health}");
    let body: Value = serde_json::from_str(health["body"].as_str().unwrap()).unwrap();
    assert_eq!(body, serde_json::json!({"status": "healthy"}));

    // The web console is served by the same function: text, with its policy.
    for (path, content_type, marker) in [
        ("/console", "text/html; charset=utf-8", "<!DOCTYPE html>"),
        (
            "/console/assets/console.js",
            "text/javascript; charset=utf-8",
            "sessionStorage",
        ),
    ] {
        let mut get = event("apigw-v2-get-health.json");
        get["rawPath"] = path.into();
        get["requestContext"]["http"]["path"] = path.into();
        let answer = response(api.runtime.invoke(get).await);
        assert_eq!(answer["statusCode"], 200, "{path}: {answer}");
        assert_eq!(answer["headers"]["content-type"], content_type, "{path}");
        let policy = answer["headers"]["content-security-policy"]
            .as_str()
            .unwrap();
        assert!(policy.starts_with("default-src 'none'"), "{path}: {policy}");
        assert_eq!(answer["isBase64Encoded"], false, "{path}");
        assert!(answer["body"].as_str().unwrap().contains(marker), "{path}");
    }

    for (file, name) in [
        ("apigw-v2-post-task.json", "from-http-api"),
        ("apigw-rest-post-task.json", "from-rest-api"),
    ] {
        let answer = response(api.runtime.invoke(event(file)).await);
        assert_eq!(answer["statusCode"], 202, "{file}: {answer}");
        let task: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
        assert_eq!(task["name"], name);
        let stored = backend
            .store
            .get(task["id"].as_str().unwrap())
            .await
            .unwrap();
        assert_eq!(stored.unwrap().task.status, Status::Queued, "{file}");
    }
    assert_eq!(
        backend
            .queues
            .counts("default", Lane::Tasks)
            .await
            .unwrap()
            .visible,
        2
    );

    // Without the token: 401 as a problem document.
    let mut anonymous = event("apigw-v2-post-task.json");
    anonymous["headers"]
        .as_object_mut()
        .unwrap()
        .remove("authorization");
    let answer = response(api.runtime.invoke(anonymous).await);
    assert_eq!(answer["statusCode"], 401);
    assert_eq!(
        answer["headers"]["content-type"],
        "application/problem+json"
    );
}

#[tokio::test]
async fn wharf_dlq_marks_the_tasks_of_an_sqs_batch() {
    let (moto, names, backend) = stack().await;
    let valid = parse_task_request(
        br#"{"spec": {"process": {"command": ["true"]}}}"#,
        &names.queues,
    )
    .unwrap();
    let task = new_task(&valid, "t-dead".into(), chrono::Utc::now());
    backend.store.create(&task).await.unwrap();
    let dlq = start(
        &bootstrap("wharf-dlq", env!("CARGO_BIN_EXE_wharf-dlq")),
        &moto,
        &names,
    )
    .await;

    let batch = event("sqs-dead-letters.json")
        .to_string()
        .replace("TASK_ID", &task.id);
    let answer = response(
        dlq.runtime
            .invoke(serde_json::from_str(&batch).unwrap())
            .await,
    );
    // Both records are handled: the task is marked, the malformed one logged.
    assert_eq!(
        answer["batchItemFailures"],
        serde_json::json!([]),
        "{answer}"
    );
    let marked = backend.store.get(&task.id).await.unwrap().unwrap().task;
    assert_eq!(marked.status, Status::Failed);
    assert_eq!(marked.reason.unwrap().to_string(), "DeadLettered");
}

/// An upstream task that has ended, and a task waiting for it.
async fn ended_and_waiting(backend: &Backend, names: &ResourceNames) -> (Task, Task) {
    let valid = |body: String| parse_task_request(body.as_bytes(), &names.queues).unwrap();
    let spec = r#""spec": {"process": {"command": ["true"]}}"#;
    let upstream = Task {
        status: Status::Succeeded,
        ..new_task(&valid(format!("{{{spec}}}")), new_task_id(), Utc::now())
    };
    backend.store.create(&upstream).await.unwrap();
    let waiting = new_task(
        &valid(format!(
            r#"{{{spec}, "dependsOn": [{{"task": "{}"}}]}}"#,
            upstream.id
        )),
        new_task_id(),
        Utc::now(),
    );
    assert_eq!(waiting.status, Status::Waiting);
    backend.store.create(&waiting).await.unwrap();
    (upstream, waiting)
}

#[tokio::test]
async fn wharf_control_releases_on_an_sqs_batch_and_on_a_scheduled_tick() {
    let (moto, names, backend) = stack().await;
    let control = start(
        &bootstrap("wharf-control", env!("CARGO_BIN_EXE_wharf-control")),
        &moto,
        &names,
    )
    .await;
    let status = |id: String| {
        let store = backend.store.clone();
        async move { store.get(&id).await.unwrap().unwrap().task.status }
    };

    let (upstream, announced) = ended_and_waiting(&backend, &names).await;
    let batch = event("sqs-control.json")
        .to_string()
        .replace("UPSTREAM_ID", &upstream.id)
        .replace("DEPENDENT_ID", &announced.id);
    let answer = response(
        control
            .runtime
            .invoke(serde_json::from_str(&batch).unwrap())
            .await,
    );
    // Both records are handled: the waiting task is released, the
    // malformed one logged.
    assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");
    assert_eq!(status(announced.id.clone()).await, Status::Queued);

    // Not announced: the tick finds it.
    let (_, unannounced) = ended_and_waiting(&backend, &names).await;
    response(control.runtime.invoke(event("eventbridge-tick.json")).await);
    assert_eq!(status(unannounced.id.clone()).await, Status::Queued);
    let counts = backend.queues.counts("default", Lane::Tasks).await.unwrap();
    assert_eq!(counts.visible, 2, "one message per released task");
}
