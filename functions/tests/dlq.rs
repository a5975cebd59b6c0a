//! `wharf-dlq --once` against moto: dead-lettered messages mark their tasks
//! `failed` / `DeadLettered`, leave finished tasks alone, and empty the DLQ.

use std::time::Duration;

use chrono::Utc;
use wharf_core::aws::SqsQueues;
use wharf_core::config::ResourceNames;
use wharf_core::lifecycle;
use wharf_core::model::{Status, TaskMessage};
use wharf_core::provision::provision;
use wharf_core::queue::{Lane, ReceiveOptions};
use wharf_core::submit::new_task;
use wharf_core::validate::parse_task_request;
use wharf_testkit::{unique_prefix, Moto};

#[tokio::test]
async fn wharf_dlq_marks_dead_lettered_tasks_and_drains_the_dlq() {
    let moto = Moto::start().await;
    let aws = moto.sdk_config();
    let prefix = unique_prefix();
    let names = ResourceNames::with_prefix(&prefix);
    provision(&aws, &names).await.unwrap();
    let backend = wharf_core::aws::backend(&aws, names.clone());

    let body = br#"{"spec": {"process": {"command": ["true"]}}}"#;
    let valid = parse_task_request(body, &names.queues).unwrap();
    let queued = new_task(&valid, "t-queued".into(), Utc::now());
    let finished =
        lifecycle::cancel(&new_task(&valid, "t-done".into(), Utc::now()), Utc::now()).unwrap();
    for task in [&queued, &finished] {
        backend.store.create(task).await.unwrap();
    }
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let dlq_url = SqsQueues::new(aws_sdk_sqs::Client::new(&aws), &names.queue_prefix)
        .url("default", Lane::DeadLetters)
        .await
        .unwrap();
    let bodies = [
        serde_json::to_string(&TaskMessage::bare(&queued.id)).unwrap(),
        serde_json::to_string(&TaskMessage::bare(&finished.id)).unwrap(),
        serde_json::to_string(&TaskMessage::bare("t-gone")).unwrap(),
        "not json at all".to_owned(),
    ];
    for body in bodies {
        sqs.send_message()
            .queue_url(&dlq_url)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }

    let status = tokio::process::Command::new(env!("CARGO_BIN_EXE_wharf-dlq"))
        .arg("--once")
        .env_clear()
        .envs(moto.aws_env())
        .env("WHARF_TASKS_TABLE", &names.tasks_table)
        .env("WHARF_QUEUE_PREFIX", &names.queue_prefix)
        .status()
        .await
        .unwrap();
    assert!(status.success());

    let marked = backend.store.get(&queued.id).await.unwrap().unwrap().task;
    assert_eq!(marked.status, Status::Failed);
    assert_eq!(marked.reason.unwrap().to_string(), "DeadLettered");
    let untouched = backend.store.get(&finished.id).await.unwrap().unwrap().task;
    assert_eq!(untouched.status, Status::Cancelled);
    let left = backend
        .queues
        .receive(
            "default",
            Lane::DeadLetters,
            ReceiveOptions {
                max: 10,
                wait: Duration::from_secs(1),
                visibility: Duration::ZERO,
            },
        )
        .await
        .unwrap();
    assert!(left.is_empty(), "the DLQ still holds {left:?}");
}
