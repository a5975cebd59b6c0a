//! Secrets from SSM and Secrets Manager (moto) reach a task as environment
//! variables and files, and no form of their values leaves the host: not in
//! the log, the result (inline or uploaded), the record's message, nor in
//! any table, queue or object.

mod support;

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{json, Value};
use support::Stack;

const WAIT: Duration = Duration::from_secs(60);
const DB: &str = "hunter2-Correct-Horse \"battery\"\nsecond line of it";
const TOKEN: &str = "tok-3f9a1c77e2b04d5a";

/// Prints the DB secret in every form a task might, one form split across
/// writes several lease periods apart, reads the API secret from its file,
/// and leaves both in result.json and in the name of an output.
const TASK: &str = r#"
import base64, json, os, sys, time, urllib.parse
v = os.environ["DB"].encode()
out = sys.stdout.buffer
def say(b):
    out.write(b)
    out.flush()
say(b"raw:" + v + b"\n")
say(b"split:" + v[:7])
time.sleep(9)
say(v[7:] + b"\n")
for pad in (b"", b"x", b"xy"):
    say(b"b64:" + base64.b64encode(pad + v + b"tail") + b"\n")
    say(b"b64url:" + base64.urlsafe_b64encode(pad + v) + b"\n")
say(b"hex:" + v.hex().encode() + b"\n")
say(b"HEX:" + v.hex().upper().encode() + b"\n")
say(b"url:" + urllib.parse.quote(v).encode() + b"\n")
say(b"form:" + urllib.parse.quote_plus(v).encode() + b"\n")
say(b"json:" + json.dumps(v.decode()).encode() + b"\n")
sys.stderr.buffer.write(b"line 2 alone: " + v.split(b"\n")[1] + b"\n")
path = os.environ["WHARF_SECRETS_DIR"] + "/API"
api = open(path).read()
say(b"file:" + api.encode() + b"\n")
st = os.stat(path)
say(f"mode:{oct(st.st_mode & 0o777)} own:{st.st_uid == os.getuid()}\n".encode())
outdir = os.environ["WHARF_OUTPUT_DIR"]
json.dump({"db": v.decode(), "token": api}, open(outdir + "/result.json", "w"))
open(outdir + "/kept.txt", "w").write("no secret here")
os.symlink("/etc/hostname", outdir + "/" + api)
"#;

async fn put_secrets(stack: &Stack, parameters: &[(&str, &str)]) {
    stack.put_parameters(parameters).await;
    aws_sdk_secretsmanager::Client::new(&stack.moto.sdk_config())
        .create_secret()
        .name("wharf/e2e/api")
        .secret_string(json!({ "token": TOKEN, "other": 1 }).to_string())
        .send()
        .await
        .expect("create the secret");
}

/// Every form of `value` the task printed, as the test computes them.
fn forms(value: &str) -> Vec<String> {
    let v = value.as_bytes();
    let mut forms = vec![value.to_owned(), hex::encode(v), hex::encode_upper(v)];
    forms.extend(value.lines().map(str::to_owned));
    for skip in 0..3 {
        let whole = &v[skip..][..(v.len() - skip) / 3 * 3];
        forms.push(STANDARD_NO_PAD.encode(whole));
        forms.push(URL_SAFE_NO_PAD.encode(whole));
    }
    let json = serde_json::to_string(value).unwrap();
    forms.push(json[1..json.len() - 1].to_owned());
    forms.push(form_urlencoded::byte_serialize(v).collect());
    forms
}

/// Everything the stack holds: every item of every table, every object in
/// the bucket, every message in every queue.
async fn everything_stored(stack: &Stack) -> String {
    let aws = stack.moto.sdk_config();
    let mut all = String::new();
    let dynamo = aws_sdk_dynamodb::Client::new(&aws);
    for table in dynamo.list_tables().send().await.unwrap().table_names() {
        let scanned = dynamo.scan().table_name(table).send().await.unwrap();
        for item in scanned.items() {
            item.values().for_each(|value| text_of(value, &mut all));
        }
    }
    let s3 = aws_sdk_s3::Client::new(&aws);
    let bucket = &stack.names.bucket;
    let listed = s3.list_objects_v2().bucket(bucket).send().await.unwrap();
    assert!(!listed.contents().is_empty(), "nothing was uploaded");
    for object in listed.contents() {
        let key = object.key().unwrap();
        let body = s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap();
        let bytes = body.body.collect().await.unwrap().into_bytes();
        all.push_str(&String::from_utf8_lossy(&bytes));
    }
    let sqs = aws_sdk_sqs::Client::new(&aws);
    for url in sqs.list_queues().send().await.unwrap().queue_urls() {
        let received = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        for message in received.messages() {
            all.push_str(message.body().unwrap_or_default());
        }
    }
    all
}

/// The text an item's attribute holds, as stored (not `Debug`-escaped).
fn text_of(value: &AttributeValue, all: &mut String) {
    match value {
        AttributeValue::S(text) | AttributeValue::N(text) => all.push_str(text),
        AttributeValue::B(blob) => all.push_str(&String::from_utf8_lossy(blob.as_ref())),
        AttributeValue::L(list) => list.iter().for_each(|v| text_of(v, all)),
        AttributeValue::M(map) => map.values().for_each(|v| text_of(v, all)),
        AttributeValue::Ss(texts) => texts.iter().for_each(|t| all.push_str(t)),
        _ => {}
    }
    all.push('\n');
}

#[tokio::test]
async fn secrets_reach_the_task_and_no_form_of_them_leaves_the_host() {
    let stack = Stack::start().await;
    put_secrets(&stack, &[("/wharf/e2e/db", DB)]).await;
    let _worker = stack.spawn_worker();
    let task = json!({
        "spec": {"process": {"command": ["python3", "-c", TASK]}},
        "secrets": [
            {"name": "DB", "valueFrom": "/wharf/e2e/db"},
            {"name": "API", "valueFrom": "wharf/e2e/api:token", "as": "file"},
        ],
    });
    let id = stack.submit_id(task).await;
    let done = stack.wait(&id, WAIT).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    // The record keeps the references, never the values.
    assert_eq!(
        done["secrets"],
        json!([
            {"name": "DB", "valueFrom": "/wharf/e2e/db", "as": "env"},
            {"name": "API", "valueFrom": "wharf/e2e/api:token", "as": "file"},
        ])
    );

    let log = stack.logs(&id).await;
    assert!(log.contains("mode:0o400 own:True"), "{log}");
    assert!(log.contains("json:\"[redacted:DB]\""), "{log}");
    for label in ["raw:", "split:", "hex:", "HEX:", "url:", "form:"] {
        assert!(
            log.contains(&format!("{label}[redacted:DB]")),
            "{label} not redacted: {log}"
        );
    }
    assert_eq!(log.matches("b64:").count(), 3, "{log}");
    assert!(log.contains("file:[redacted:API]"), "{log}");
    assert!(log.contains("line 2 alone: [redacted:DB]"), "{log}");

    assert_eq!(
        done["result"],
        json!({"db": "[redacted:DB]", "token": "[redacted:API]"})
    );
    let uploaded = stack.download(&id, "result.json").await;
    let uploaded: Value = serde_json::from_slice(&uploaded).unwrap();
    assert_eq!(uploaded, done["result"]);
    assert_eq!(stack.download(&id, "kept.txt").await, b"no secret here");
    let message = done["message"].as_str().unwrap();
    assert!(message.contains("skipped [redacted:API]"), "{message}");

    let stored = everything_stored(&stack).await;
    assert!(stored.contains(&id), "the scan found the task");
    for form in forms(DB).iter().chain(&forms(TOKEN)) {
        assert!(!log.contains(form.as_str()), "{form:?} in the log: {log}");
        assert!(!stored.contains(form.as_str()), "{form:?} is stored");
    }
}

#[tokio::test]
async fn a_forbidden_missing_or_short_secret_fails_the_attempt_naming_its_reference() {
    let stack = Stack::start().await;
    put_secrets(&stack, &[("/wharf/e2e/pin", "123"), ("/other/db", DB)]).await;
    let _worker = stack.spawn_worker();
    let cases = [
        ("/other/db", "not under this worker's --secret-prefixes"),
        ("/wharf/e2e/nope", "no such parameter, secret or key"),
        ("wharf/e2e/api:nokey", "no such parameter, secret or key"),
        ("/wharf/e2e/pin", "too short to redact"),
    ];
    let mut ids = Vec::new();
    for (reference, _) in cases {
        let task = json!({
            "spec": {"process": {"command": ["sh", "-c", "echo ran > \"$WHARF_OUTPUT_DIR/ran\""]}},
            "secrets": [{"name": "S", "valueFrom": reference}],
        });
        ids.push(stack.submit_id(task).await);
    }
    for (id, (reference, why)) in ids.iter().zip(cases) {
        let done = stack.wait(id, WAIT).await;
        assert_eq!(done["status"], "failed", "{done}");
        assert_eq!(done["reason"], "StartFailed", "{done}");
        let message = done["message"].as_str().unwrap();
        assert!(message.contains(reference), "{message}");
        assert!(message.contains(why), "{message}");
        assert!(
            !message.contains("123") && !message.contains("hunter2"),
            "{message}"
        );
        assert_eq!(done["outputs"], json!([]), "the task ran: {done}");
    }
    stack.queue_drained().await;
}
