//! The AWS adapters against a real moto server over HTTP.

use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use chrono::Utc;
use sha2::{Digest, Sha256};
use wharf_core::aws::TASK_INDEXES;
use wharf_core::config::ResourceNames;
use wharf_core::fleet::{Command, Resources, WorkerReport, WorkerState};
use wharf_core::logs::{log_part_key, log_prefix, read_log, LogRead};
use wharf_core::model::{
    new_task_id, ExecutorKind, Fence, Idempotency, ProcessSpec, Status, Task, TaskMessage, TaskSpec,
};
use wharf_core::provision::provision;
use wharf_core::queue::{Lane, ReceiveOptions};
use wharf_core::store::{CreateError, Replaced, TaskStore, Versioned};
use wharf_core::Backend;
use wharf_core::Error;
use wharf_testkit::{unique_prefix, Moto};

async fn backend(moto: &Moto) -> Backend {
    let aws = moto.sdk_config();
    let names = ResourceNames::with_prefix(&unique_prefix());
    provision(&aws, &names).await.expect("provision");
    wharf_core::aws::backend(&aws, names)
}

fn new_task(name: Option<&str>) -> Task {
    let spec = TaskSpec::Process(ProcessSpec {
        command: vec!["true".into()],
        ..ProcessSpec::default()
    });
    Task {
        name: name.map(str::to_owned),
        payload: Some(serde_json::json!({"n": 1})),
        ..Task::queued(new_task_id(), spec, Utc::now())
    }
}

#[tokio::test]
async fn provision_is_idempotent_and_wires_the_dead_letter_queue() {
    let moto = Moto::start().await;
    let aws = moto.sdk_config();
    let names = ResourceNames::with_prefix(&unique_prefix());
    let first = provision(&aws, &names).await.unwrap();
    assert!(first.iter().all(|p| p.created), "{first:?}");
    let second = provision(&aws, &names).await.unwrap();
    assert!(second.iter().all(|p| !p.created), "{second:?}");

    // A message received more than the redrive count moves to the DLQ.
    let backend = wharf_core::aws::backend(&aws, names);
    let queues = &backend.queues;
    queues
        .send_raw("default", "not a task", Duration::ZERO)
        .await
        .unwrap();
    let one = ReceiveOptions {
        max: 1,
        wait: Duration::from_secs(1),
        visibility: Duration::ZERO,
    };
    for _ in 0..wharf_core::provision::MAX_RECEIVE_COUNT {
        let got = queues.receive("default", Lane::Tasks, one).await.unwrap();
        assert_eq!(got.len(), 1);
    }
    let got = queues.receive("default", Lane::Tasks, one).await.unwrap();
    assert!(got.is_empty(), "the message should have been dead-lettered");
    assert_eq!(
        queues
            .counts("default", Lane::DeadLetters)
            .await
            .unwrap()
            .visible,
        1
    );
}

#[tokio::test]
async fn provision_adds_the_listing_indexes_a_tasks_table_lacks() {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    let moto = Moto::start().await;
    let aws = moto.sdk_config();
    let names = ResourceNames::with_prefix(&unique_prefix());
    // A tasks table as Wharf made it before tasks could be listed.
    let dynamo = aws_sdk_dynamodb::Client::new(&aws);
    dynamo
        .create_table()
        .table_name(&names.tasks_table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let report = provision(&aws, &names).await.unwrap();
    let tasks = report.iter().find(|p| p.name == names.tasks_table).unwrap();
    assert!(!tasks.created);
    let table = dynamo
        .describe_table()
        .table_name(&names.tasks_table)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    let mut indexes: Vec<&str> = table
        .global_secondary_indexes()
        .iter()
        .filter_map(|index| index.index_name())
        .collect();
    indexes.sort();
    let mut expected: Vec<&str> = TASK_INDEXES.iter().map(|index| index.name).collect();
    expected.sort();
    assert_eq!(indexes, expected);
}

#[tokio::test]
async fn the_store_creates_reads_and_replaces_conditionally() {
    let moto = Moto::start().await;
    let store = backend(&moto).await.store;
    let keyed = |name: Option<&str>, client: &str| Task {
        idempotency: Some(Idempotency {
            client: client.into(),
            key: "key-1".into(),
            digest: "d".into(),
        }),
        ..new_task(name)
    };
    let task = keyed(Some("nightly"), "client-a");
    store.create(&task).await.unwrap();
    let read = store.get(&task.id).await.unwrap().unwrap();
    assert_eq!(read.task, task);
    assert_eq!(read.version, 1);
    assert!(store.get("missing").await.unwrap().is_none());

    // A task that reserves nothing (an array's child) is one conditional
    // put: its id is taken once.
    let plain = new_task(None);
    store.create(&plain).await.unwrap();
    match store
        .create(&Task {
            payload: None,
            ..plain.clone()
        })
        .await
    {
        Err(CreateError::Store(Error::Conflict(_))) => {}
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(store.get(&plain.id).await.unwrap().unwrap().task, plain);

    // A second task with the same name is refused, naming the first.
    match store.create(&new_task(Some("nightly"))).await {
        Err(CreateError::NameTaken { existing_id, .. }) => assert_eq!(existing_id, task.id),
        other => panic!("expected NameTaken, got {other:?}"),
    }
    // A reused idempotency key points at the original task; another
    // client's same key is another key.
    match store.create(&keyed(None, "client-a")).await {
        Err(CreateError::IdempotencyKeyUsed { existing_id }) => assert_eq!(existing_id, task.id),
        other => panic!("expected IdempotencyKeyUsed, got {other:?}"),
    }
    store.create(&keyed(None, "client-b")).await.unwrap();

    // Once its task is gone, a name and a key can be taken again, even
    // where a reservation was left behind (as an expired task leaves it).
    let gone = keyed(Some("once"), "client-c");
    store.create(&gone).await.unwrap();
    store
        .delete(&Task {
            name: None,
            idempotency: None,
            ..gone.clone()
        })
        .await
        .unwrap();
    store
        .create(&keyed(Some("once"), "client-c"))
        .await
        .unwrap();

    // Two writers from the same version: the second one loses, and is
    // answered the record the first one wrote.
    let mut running = read.task.clone();
    running.status = Status::Running;
    let Replaced::Written(won) = store.replace(&read, running.clone()).await.unwrap() else {
        panic!("the first writer wins");
    };
    assert_eq!(won.version, 2);
    let lost = store.replace(&read, running).await.unwrap();
    assert_eq!(lost, Replaced::Stale(Some(won.clone())));
    assert_eq!(store.get(&task.id).await.unwrap().unwrap(), won);

    // A record that claims the stored version but differs from what is
    // stored (a forged message snapshot) is never written over.
    let mut forged = won.clone();
    forged.task.queue = "elsewhere".into();
    let mut next = forged.task.clone();
    next.status = Status::Succeeded;
    let refused = store.replace(&forged, next).await.unwrap();
    assert_eq!(refused, Replaced::Stale(Some(won.clone())));
    assert_eq!(store.get(&task.id).await.unwrap().unwrap(), won);

    // A record that is gone is answered as none.
    let missing = Versioned {
        task: Task {
            id: new_task_id(),
            ..won.task.clone()
        },
        version: 2,
    };
    let next = missing.task.clone();
    assert_eq!(
        store.replace(&missing, next).await.unwrap(),
        Replaced::Stale(None)
    );
}

#[tokio::test]
async fn fenced_updates_stop_once_the_fence_is_lost() {
    let moto = Moto::start().await;
    let store = backend(&moto).await.store;
    let mut task = new_task(None);
    task.status = Status::Running;
    task.attempt = 1;
    task.worker_id = Some("worker-a".into());
    store.create(&task).await.unwrap();

    let fence_a = Fence {
        worker_id: "worker-a".into(),
        attempt: 1,
    };
    let created = store.get(&task.id).await.unwrap().unwrap();
    let renew = |t: &Task| Task {
        message: Some("renewed".into()),
        ..t.clone()
    };
    let updated = store
        .update_fenced(created.clone(), &fence_a, &renew)
        .await
        .unwrap();
    assert_eq!(updated.task.message.as_deref(), Some("renewed"));
    assert_eq!(updated.version, 2);
    // From a record known to be older, the update applies to the stored one.
    let again = store
        .update_fenced(created, &fence_a, &renew)
        .await
        .unwrap();
    assert_eq!(again.version, 3);

    // Worker b takes over as attempt 2; a's late write is rejected.
    let current = store.get(&task.id).await.unwrap().unwrap();
    let mut taken = current.task.clone();
    taken.worker_id = Some("worker-b".into());
    taken.attempt = 2;
    store.replace(&current, taken).await.unwrap();
    let late = store
        .update_fenced(again, &fence_a, &|t: &Task| Task {
            status: Status::Succeeded,
            ..t.clone()
        })
        .await;
    assert!(matches!(late, Err(Error::Conflict(_))), "{late:?}");
    let stored = store.get(&task.id).await.unwrap().unwrap().task;
    assert_eq!(stored.status, Status::Running);
    assert_eq!(stored.worker_id.as_deref(), Some("worker-b"));
}

#[tokio::test]
async fn the_queue_sends_receives_hides_and_deletes() {
    // Up to ten messages, waiting for them up to `wait`.
    let ten = |wait| ReceiveOptions {
        max: 10,
        wait,
        visibility: Duration::from_secs(30),
    };
    let moto = Moto::start().await;
    let queues = backend(&moto).await.queues;
    let message = TaskMessage::bare("t1");
    queues
        .send("default", &message, Duration::ZERO)
        .await
        .unwrap();
    let got = queues
        .receive("default", Lane::Tasks, ten(Duration::from_secs(2)))
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].task_message().unwrap(), message);
    assert_eq!(got[0].receive_count, 1);

    // Hidden while in flight; visible again at once when released.
    assert_eq!(
        queues
            .counts("default", Lane::Tasks)
            .await
            .unwrap()
            .in_flight,
        1
    );
    queues
        .set_visibility(&got[0], Duration::ZERO)
        .await
        .unwrap();
    let again = queues
        .receive("default", Lane::Tasks, ten(Duration::from_secs(2)))
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].receive_count, 2);
    queues.delete(&again[0]).await.unwrap();
    let counts = queues.counts("default", Lane::Tasks).await.unwrap();
    assert_eq!((counts.visible, counts.in_flight), (0, 0));

    // Many at once go in batches, each message with its own delay and whole.
    let many: Vec<(TaskMessage, Duration)> = (0..23)
        .map(|i| {
            let task = Task {
                payload: Some(serde_json::json!({"pad": "p".repeat(20_000), "i": i})),
                ..new_task(None)
            };
            let delay = Duration::from_secs(if i == 0 { 60 } else { 0 });
            (TaskMessage::with_snapshot(&task, 1), delay)
        })
        .collect();
    queues.send_all("default", &many).await.unwrap();
    let mut received = Vec::new();
    while received.len() < many.len() - 1 {
        let got = queues
            .receive("default", Lane::Tasks, ten(Duration::from_secs(1)))
            .await
            .unwrap();
        assert!(!got.is_empty(), "{} of 22 received", received.len());
        received.extend(got.iter().map(|m| m.task_message().unwrap()));
    }
    let delayed = queues.counts("default", Lane::Tasks).await.unwrap().delayed;
    assert_eq!(delayed, 1, "the delayed message waits");
    let mut expected: Vec<TaskMessage> = many[1..].iter().map(|(m, _)| m.clone()).collect();
    let by_id = |m: &TaskMessage| m.task_id.clone();
    expected.sort_by_key(by_id);
    received.sort_by_key(by_id);
    assert_eq!(received, expected);
}

#[tokio::test]
async fn artifacts_upload_in_parts_and_download_through_presigned_urls() {
    let moto = Moto::start().await;
    let artifacts = backend(&moto).await.artifacts;
    let dir = std::env::temp_dir().join(unique_prefix());
    std::fs::create_dir_all(&dir).unwrap();
    // 20 MiB + a bit: three parts.
    let big: Vec<u8> = (0..20 * 1024 * 1024 + 123)
        .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let path = dir.join("big.bin");
    std::fs::write(&path, &big).unwrap();
    artifacts
        .put_file("tasks/t/outputs/big.bin", &path)
        .await
        .unwrap();

    let url = artifacts
        .presign_get("tasks/t/outputs/big.bin", Duration::from_secs(300))
        .await
        .unwrap();
    let downloaded = reqwest::get(&url).await.unwrap().bytes().await.unwrap();
    assert_eq!(Sha256::digest(&downloaded), Sha256::digest(&big));

    // Ranged reads.
    artifacts
        .put_bytes(
            "tasks/t/objects/hello.txt",
            b"hello world".to_vec(),
            "text/plain",
        )
        .await
        .unwrap();
    let chunk = artifacts
        .get_from("tasks/t/objects/hello.txt", 6, 1024)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(chunk.data, b"world");
    assert_eq!(chunk.total_size, 11);
    let end = artifacts
        .get_from("tasks/t/objects/hello.txt", 11, 1024)
        .await
        .unwrap()
        .unwrap();
    assert!(end.data.is_empty());
    assert!(artifacts
        .get_from("tasks/t/none", 0, 1024)
        .await
        .unwrap()
        .is_none());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_log_in_parts_lists_in_order_and_reads_from_any_offset() {
    let moto = Moto::start().await;
    let artifacts = backend(&moto).await.artifacts;
    for (offset, part) in [(0, "hello "), (6, "wor"), (9, "ld")] {
        let key = log_part_key("t", 1, offset);
        let body = part.as_bytes().to_vec();
        artifacts.put_bytes(&key, body, "text/plain").await.unwrap();
    }
    let prefix = log_prefix("t", 1);
    let first = artifacts.list(&prefix, None, 2).await.unwrap();
    let keys: Vec<_> = first.objects.iter().map(|o| o.key.clone()).collect();
    assert_eq!(keys, [log_part_key("t", 1, 0), log_part_key("t", 1, 6)]);
    assert_eq!(first.objects[1].size, 3);
    assert!(first.more);
    let rest = artifacts.list(&prefix, Some(&keys[1]), 2).await.unwrap();
    assert_eq!(rest.objects.len(), 1);
    assert!(!rest.more);

    let read = |offset, limit| read_log(artifacts.as_ref(), ("t", 1), offset, limit);
    let whole = |data: &str, at_end| LogRead {
        data: data.as_bytes().to_vec(),
        at_end,
    };
    assert_eq!(read(0, 100).await.unwrap(), whole("hello world", true));
    assert_eq!(read(4, 4).await.unwrap(), whole("o wo", false));
    assert_eq!(read(8, 4).await.unwrap(), whole("rld", true));
    assert_eq!(read(11, 4).await.unwrap(), whole("", true));
    assert_eq!(read(50, 4).await.unwrap(), whole("", true));
    let none = read_log(artifacts.as_ref(), ("t", 2), 0, 10).await.unwrap();
    assert_eq!(none, whole("", true));
}

/// A provisioned deployment, its task store and a task created in it.
async fn one_task(moto: &Moto) -> (SdkConfig, ResourceNames, Arc<dyn TaskStore>, Task) {
    let aws = moto.sdk_config();
    let names = ResourceNames::with_prefix(&unique_prefix());
    provision(&aws, &names).await.unwrap();
    let store = wharf_core::aws::backend(&aws, names.clone()).store;
    let task = new_task(None);
    store.create(&task).await.unwrap();
    (aws, names, store, task)
}

#[tokio::test]
async fn a_record_written_out_differently_is_still_replaced() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let moto = Moto::start().await;
    let (aws, names, store, task) = one_task(&moto).await;
    // As an older (or newer) Wharf may have written it: a field this one
    // does not know, so its text is not what this one would write.
    let dynamo = aws_sdk_dynamodb::Client::new(&aws);
    let key = AttributeValue::S(task.id.clone());
    let get = dynamo
        .get_item()
        .table_name(&names.tasks_table)
        .key("id", key);
    let mut item = get.send().await.unwrap().item.unwrap();
    let text = item["task"]
        .as_s()
        .unwrap()
        .replacen('{', r#"{"fromElsewhere":true,"#, 1);
    item.insert("task".into(), AttributeValue::S(text));
    let put = dynamo.put_item().table_name(&names.tasks_table);
    put.set_item(Some(item)).send().await.unwrap();

    let read = store.get(&task.id).await.unwrap().unwrap();
    assert_eq!(read.task, task);
    let mut next = read.task.clone();
    next.status = Status::Running;
    let written = store.replace(&read, next.clone()).await.unwrap();
    let expected = Versioned {
        task: next,
        version: read.version + 1,
    };
    assert_eq!(written, Replaced::Written(expected.clone()));
    assert_eq!(store.get(&task.id).await.unwrap().unwrap(), expected);
}

#[tokio::test]
async fn finished_tasks_carry_their_expiry_for_dynamodb_ttl() {
    let moto = Moto::start().await;
    let (aws, names, store, task) = one_task(&moto).await;
    let raw = |id: String| {
        let dynamo = aws_sdk_dynamodb::Client::new(&aws);
        let table = names.tasks_table.clone();
        async move {
            dynamo
                .get_item()
                .table_name(table)
                .key("id", aws_sdk_dynamodb::types::AttributeValue::S(id))
                .send()
                .await
                .unwrap()
                .item
                .unwrap()
        }
    };
    assert!(!raw(task.id.clone()).await.contains_key("expiresAt"));

    let current = store.get(&task.id).await.unwrap().unwrap();
    let finished_at = Utc::now();
    let cancelled = wharf_core::lifecycle::cancel(&current.task, finished_at).unwrap();
    store.replace(&current, cancelled).await.unwrap();
    let expires_at: i64 = raw(task.id.clone()).await["expiresAt"]
        .as_n()
        .unwrap()
        .parse()
        .unwrap();
    let retention = i64::from(names.retention_days) * 24 * 3600;
    assert_eq!(expires_at, finished_at.timestamp() + retention);
}

#[tokio::test]
async fn the_worker_registry_keeps_reports_and_hands_back_commands() {
    let moto = Moto::start().await;
    let fleet = backend(&moto).await.fleet;
    let now = Utc::now();
    let mut report = WorkerReport {
        id: "host-1".into(),
        hostname: "host".into(),
        version: "1.0.0".into(),
        labels: [("zone".to_owned(), "a".to_owned())].into(),
        queues: vec!["high".into(), "default".into()],
        executors: vec![ExecutorKind::Process],
        mode: "poll".into(),
        slots: 4,
        busy_slots: 1,
        running_tasks: vec!["t1".into()],
        resources: Resources {
            cpu_cores: 2,
            memory_total_bytes: 1 << 30,
            ..Resources::default()
        },
        heartbeat_secs: 5,
        started_at: now,
        heartbeat_at: now,
        taking_tasks: true,
    };
    assert_eq!(fleet.heartbeat(&report).await.unwrap(), None);
    let registered = fleet.get("host-1").await.unwrap().unwrap();
    assert_eq!(registered.report, report);
    assert_eq!(registered.state(now), WorkerState::Online);

    assert!(fleet.command("host-1", Command::Drain).await.unwrap());
    assert!(!fleet.command("nobody", Command::Drain).await.unwrap());
    assert!(fleet.get("nobody").await.unwrap().is_none());
    // The next heartbeat reads the command and keeps it.
    report.busy_slots = 0;
    let command = fleet.heartbeat(&report).await.unwrap();
    assert_eq!(command, Some(Command::Drain));
    let listed = fleet.list().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].report.busy_slots, 0);
    assert_eq!(listed[0].state(now), WorkerState::Draining);
    let later = now + chrono::Duration::seconds(16);
    assert_eq!(listed[0].state(later), WorkerState::Offline);

    fleet.deregister("host-1").await.unwrap();
    assert!(fleet.list().await.unwrap().is_empty());
}

#[tokio::test]
async fn task_set_records_are_written_only_over_the_version_read() {
    use wharf_core::sets::Members;
    let moto = Moto::start().await;
    let backend = backend(&moto).await;
    let sets = &backend.sets;
    assert_eq!(sets.members("s").await.unwrap(), None);
    let one = Members([("a".to_owned(), "id-a".to_owned())].into());
    sets.put_members("s", &one, None).await.unwrap();
    let again = sets.put_members("s", &one, None).await;
    assert!(matches!(again, Err(Error::Conflict(_))), "{again:?}");
    let (read, version) = sets.members("s").await.unwrap().unwrap();
    assert_eq!((read, version), (one.clone(), 1));
    let two = Members([("b".to_owned(), "id-b".to_owned())].into());
    sets.put_members("s", &two, Some(1)).await.unwrap();
    let stale = sets.put_members("s", &one, Some(1)).await;
    assert!(matches!(stale, Err(Error::Conflict(_))), "{stale:?}");
    assert_eq!(sets.members("s").await.unwrap(), Some((two, 2)));
    // The record is no task: listing never shows it.
    let page = backend
        .store
        .list(&wharf_core::listing::TaskQuery {
            filter: Default::default(),
            limit: 10,
            before: None,
        })
        .await
        .unwrap();
    assert!(page.tasks.is_empty());
}
