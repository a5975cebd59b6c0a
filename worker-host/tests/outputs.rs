//! Outputs and logs at scale and beyond the host's limits, with the real
//! worker and moto: thousands of files upload quickly and their manifest
//! pages; a sparse terabyte or too many files fail at once, without being
//! read; a live log ships in appended parts; a log flood is cut.

mod support;

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;
use support::{eventually, shell_task, Stack};
use wharf_core::logs::{log_part_key, log_prefix};

const WAIT: Duration = Duration::from_secs(90);

/// The size of a task's item as DynamoDB holds it (attribute names and
/// string values; the numbers are a few bytes).
async fn item_bytes(stack: &Stack, id: &str) -> usize {
    let item = aws_sdk_dynamodb::Client::new(&stack.moto.sdk_config())
        .get_item()
        .table_name(&stack.names.tasks_table)
        .key("id", AttributeValue::S(id.to_owned()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    item.iter()
        .map(|(name, value)| name.len() + value.as_s().map_or(8, String::len))
        .sum()
}

#[tokio::test]
async fn four_thousand_outputs_upload_and_their_manifest_pages() {
    let stack = Stack::start().await;
    let _worker = stack.spawn_worker();
    let started = Instant::now();
    let id = stack
        .submit_id(shell_task(
            // Names of about 140 characters, without a fork per file.
            r#"pad=$(printf %0136d 0); i=0
               while [ $i -lt 4000 ]; do i=$((i+1)); echo $i > "$WHARF_OUTPUT_DIR/$pad$i"; done"#,
        ))
        .await;
    let done = stack.wait(&id, WAIT).await;
    assert_eq!(done["status"], "succeeded", "{}", done["message"]);
    // A bound against a hang, not a speed claim: moto takes about 90 PUTs
    // a second on two cores (about 45 s for these alone), and CI machines
    // are busy; speed belongs to the benchmarks.
    assert!(
        started.elapsed() < Duration::from_secs(90),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(done["outputCount"], 4000);
    assert_eq!(done["outputsInS3"], true);
    assert!(item_bytes(&stack, &id).await < 350_000);

    let (mut paths, mut cursor, mut pages) = (Vec::new(), None::<String>, 0);
    loop {
        let query = cursor.map(|c| format!("&cursor={c}")).unwrap_or_default();
        let page: Value = stack
            .get(&format!("/v1/tasks/{id}/outputs?limit=1000{query}"))
            .await
            .json()
            .await
            .unwrap();
        let outputs = page["outputs"].as_array().unwrap();
        assert!(outputs.len() <= 1000);
        paths.extend(
            outputs
                .iter()
                .map(|o| o["path"].as_str().unwrap().to_owned()),
        );
        pages += 1;
        cursor = page["nextCursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!((pages, paths.len()), (4, 4000));
    paths.dedup();
    assert_eq!(paths.len(), 4000);
    // Each output is still one redirect away.
    let last = format!("/v1/tasks/{id}/outputs/{:0136}4000", 0);
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = no_redirect
        .get(format!("{}{last}", stack.api_url))
        .bearer_auth(support::TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
}

#[tokio::test]
async fn a_sparse_terabyte_or_too_many_files_fail_at_once() {
    let stack = Stack::start().await;
    let _worker = stack
        .worker_command()
        .arg("--max-output-files=50")
        .spawn()
        .unwrap();
    let started = Instant::now();
    let sparse = stack
        .submit_id(shell_task(r#"truncate -s 1T "$WHARF_OUTPUT_DIR/x""#))
        .await;
    let many = stack
        .submit_id(shell_task(r#"cd "$WHARF_OUTPUT_DIR" && touch $(seq 1 60)"#))
        .await;
    for (id, why) in [
        (sparse, "more than this host's limit"),
        (many, "more than 50 output files"),
    ] {
        let done = stack.wait(&id, WAIT).await;
        assert_eq!(done["reason"], "OutputTooLarge", "{done}");
        assert!(done["message"].as_str().unwrap().contains(why), "{done}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_log_flood_keeps_its_head_and_tail_and_costs_no_lease() {
    let stack = Stack::start().await;
    let _worker = stack
        .worker_command()
        .arg("--max-log-bytes=65536")
        .spawn()
        .unwrap();
    let id = stack
        .submit_id(shell_task(
            r#"echo first-line; yes flood | head -c 150000000; echo; echo last-line >&2"#,
        ))
        .await;
    let done = stack.wait(&id, Duration::from_secs(180)).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["logTruncated"], true);
    // One attempt all along: the lease held.
    assert_eq!(done["attempt"], 1);
    assert_eq!(done["attempts"].as_array().unwrap().len(), 1, "{done}");
    let log = stack.logs(&id).await;
    assert!(log.len() <= 65536 + 100, "{} bytes", log.len());
    assert!(log.starts_with("first-line\n"));
    assert!(log.contains("bytes of log left out here]"));
    assert!(log.ends_with("last-line\n"), "{}", &log[log.len() - 50..]);
}

#[tokio::test]
async fn a_live_log_ships_in_appended_parts_and_reads_back_whole() {
    let stack = Stack::start().await;
    let _worker = stack.spawn_worker();
    let id = stack
        .submit_id(shell_task(
            r#"i=0; while [ $i -lt 6 ]; do i=$((i+1)); echo "line $i"; sleep 1; done"#,
        ))
        .await;
    eventually(
        "part of the log is readable while the task runs",
        WAIT,
        || async {
            let log = stack.logs(&id).await;
            log.starts_with("line 1\n") && !log.contains("line 6")
        },
    )
    .await;
    let done = stack.wait(&id, WAIT).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let expected: String = (1..=6).map(|i| format!("line {i}\n")).collect();
    assert_eq!(stack.logs(&id).await, expected);
    // Each part starts where the one before it ended: no byte was stored
    // twice, and the log was shipped as it grew.
    let parts = stack
        .backend
        .artifacts
        .list(&log_prefix(&id, 1), None, 1000)
        .await
        .unwrap()
        .objects;
    assert!(parts.len() > 1, "one part: {parts:?}");
    let mut at = 0;
    for part in &parts {
        assert_eq!(part.key, log_part_key(&id, 1, at), "{parts:?}");
        at += part.size;
    }
    assert_eq!(at, expected.len() as u64);
}
