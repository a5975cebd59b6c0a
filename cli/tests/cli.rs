//! The `wharf` binary driven as a user drives it, against moto, the real
//! `wharf-api` and a real `wharf-worker`: what it prints, the exit codes
//! scripts rely on, and what ends up on disk, checked against the API's
//! own record and manifest.

mod support;

use std::os::unix::fs::PermissionsExt;

use serde_json::{json, Value};
use support::{sha256_hex, Local, Run, READ_TOKEN, TOKEN};

/// A task that logs two lines a second apart and leaves outputs: a 3 MB
/// blob, a report in a directory, and a result.
const PRODUCER: &str = r#"echo "first line, payload $(cat "$WHARF_PAYLOAD")"; sleep 1; echo "second line"; head -c 3000000 /dev/urandom > "$WHARF_OUTPUT_DIR/blob.bin"; mkdir "$WHARF_OUTPUT_DIR/reports"; echo monthly > "$WHARF_OUTPUT_DIR/reports/month.txt"; echo '{"ok": true}' > "$WHARF_OUTPUT_DIR/result.json""#;

#[tokio::test]
async fn submit_follow_then_download_gives_every_output_byte_for_byte() {
    let local = Local::with_worker().await;
    let out = local.home.join("out");

    let submitted = local
        .ok(&[
            "submit",
            "--follow",
            "--name",
            "nightly",
            "--label",
            "team=data",
            "--payload",
            r#"{"day": 3}"#,
            "--cmd",
            PRODUCER,
        ])
        .await;
    let first = submitted.stdout.find(r#"first line, payload {"day":3}"#);
    let second = submitted.stdout.find("second line");
    assert!(
        first.is_some() && first < second,
        "the log, in order: {}",
        submitted.stdout
    );
    let id = submitted_id(&submitted);
    assert!(
        submitted.stderr.contains(&format!("{id} succeeded")),
        "{}",
        submitted.stderr
    );

    // The record as the API keeps it.
    let task = local.json(&["get", &id, "--json"]).await;
    assert_eq!(task["status"], "succeeded");
    assert_eq!(task["name"], "nightly");
    assert_eq!(task["labels"]["team"], "data");
    assert_eq!(task["result"]["ok"], true);
    let shown = local.ok(&["get", &id]).await.stdout;
    assert!(
        shown.contains("succeeded") && shown.contains("team=data"),
        "{shown}"
    );

    // Listing finds it by label, as a table and as JSON.
    let listed = local
        .json(&["list", "--label", "team=data", "--json"])
        .await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["id"], id.as_str());
    let table = local.ok(&["list", "--status", "succeeded"]).await.stdout;
    assert!(
        table.starts_with("ID") && table.contains(&id) && table.contains("nightly"),
        "{table}"
    );

    // Every output, checked against the manifest and against S3 itself.
    let download = local
        .ok(&["download", &id, "-o", out.to_str().unwrap(), "--json"])
        .await;
    assert_eq!(download.stdout.lines().count(), 3, "{}", download.stdout);
    let manifest = manifest(&local, &id).await;
    for output in manifest.as_array().unwrap() {
        let path = output["path"].as_str().unwrap();
        let written = std::fs::read(out.join(path)).unwrap();
        assert_eq!(
            written.len() as u64,
            output["size"].as_u64().unwrap(),
            "{path}"
        );
        assert_eq!(
            sha256_hex(&written),
            output["sha256"].as_str().unwrap(),
            "{path}"
        );
        let stored = reqwest::get(output["url"].as_str().unwrap())
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(written, stored.to_vec(), "{path}: the bytes in S3");
    }
    assert_eq!(
        std::fs::read_to_string(out.join("reports/month.txt")).unwrap(),
        "monthly\n"
    );
    assert!(std::fs::read_dir(&out).unwrap().all(|e| !e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .ends_with(".wharf-part")));

    // Only a directory of them; and its presigned URLs, which need no token.
    let some = local.home.join("some");
    local
        .ok(&["download", &id, "reports/", "-o", some.to_str().unwrap()])
        .await;
    assert!(some.join("reports/month.txt").exists() && !some.join("blob.bin").exists());
    let urls = local
        .ok(&["download", &id, "result.json", "--urls"])
        .await
        .stdout;
    let (path, url) = urls.trim_end().split_once('\t').unwrap();
    assert_eq!(path, "result.json");
    assert_eq!(
        reqwest::get(url).await.unwrap().text().await.unwrap(),
        "{\"ok\": true}\n"
    );
}

#[tokio::test]
async fn an_interrupted_download_resumes_and_a_corrupt_one_is_caught() {
    let local = Local::with_worker().await;
    let out = local.home.join("out");
    let dir = out.to_str().unwrap();
    let id = local.submitted(&["submit", "--cmd", PRODUCER]).await;
    local.ok(&["wait", &id]).await;
    let blob = manifest(&local, &id)
        .await
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["path"] == "blob.bin")
        .cloned()
        .unwrap();
    let url = blob["url"].as_str().unwrap();
    let whole = reqwest::get(url)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec();
    let sha256 = blob["sha256"].as_str().unwrap();
    let part = out.join(format!("blob.bin.{}.wharf-part", &sha256[..12]));
    std::fs::create_dir_all(&out).unwrap();

    // A first megabyte left by an interrupted run: only the rest is fetched.
    std::fs::write(&part, &whole[..1_000_000]).unwrap();
    let resumed = local
        .json(&["download", &id, "blob.bin", "-o", dir, "--json"])
        .await;
    assert_eq!(resumed["resumedFrom"], 1_000_000);
    assert_eq!(std::fs::read(out.join("blob.bin")).unwrap(), whole);
    assert!(!part.exists());

    // Run again: the file is already whole.
    let again = local
        .json(&["download", &id, "blob.bin", "-o", dir, "--json"])
        .await;
    assert_eq!(again["upToDate"], true);

    // A partial file that is not the output's start: resumed from, the
    // whole does not match the manifest's SHA-256, and nothing is kept.
    std::fs::remove_file(out.join("blob.bin")).unwrap();
    std::fs::write(&part, vec![0u8; 1_000_000]).unwrap();
    local
        .fails(&["download", &id, "blob.bin", "-o", dir], 1, "SHA-256")
        .await;
    assert!(!part.exists() && !out.join("blob.bin").exists());
    local.ok(&["download", &id, "blob.bin", "-o", dir]).await;
    assert_eq!(std::fs::read(out.join("blob.bin")).unwrap(), whole);

    // A file of the user's with other content is not replaced unless asked.
    std::fs::write(out.join("blob.bin"), "mine").unwrap();
    let args = ["download", &id, "blob.bin", "-o", dir];
    local.fails(&args, 1, "--overwrite").await;
    assert_eq!(std::fs::read(out.join("blob.bin")).unwrap(), b"mine");
    local.ok(&[&args[..], &["--overwrite"]].concat()).await;
    assert_eq!(std::fs::read(out.join("blob.bin")).unwrap(), whole);

    // An output the task did not leave: nothing is downloaded, exit 6.
    local
        .fails(
            &["download", &id, "nope.txt", "-o", dir],
            6,
            "no output nope.txt",
        )
        .await;
}

#[tokio::test]
async fn exit_codes_mirror_the_task_and_logs_show_what_it_wrote() {
    let local = Local::with_worker().await;

    let failed = local
        .run(&["submit", "--wait", "--cmd", "echo to stderr >&2; exit 3"])
        .await
        .expect(3);
    assert!(
        failed.stdout.contains("failed (NonZeroExit)"),
        "{}",
        failed.stdout
    );
    let id = failed
        .stderr
        .trim()
        .trim_start_matches("wharf: submitted ")
        .to_owned();
    let record = local.run(&["wait", &id, "--json"]).await.expect(3).json();
    assert_eq!(
        (record["status"].as_str(), record["exitCode"].as_i64()),
        (Some("failed"), Some(3))
    );
    let log = local.ok(&["logs", &id]).await;
    assert_eq!(log.stdout, "to stderr\n");

    let timed_out = local
        .run(&["submit", "--wait", "--timeout", "1", "--", "sleep", "30"])
        .await
        .expect(3);
    assert!(
        timed_out.stdout.contains("timed_out"),
        "{}",
        timed_out.stdout
    );

    // A task given as a YAML file, from stdin.
    let yaml = "spec:\n  process:\n    command: [sh, -c, 'echo from yaml']\nlabels:\n  via: yaml\n";
    let mut command = local.wharf();
    command
        .args(["submit", "-", "--wait", "--json"])
        .stdin(std::process::Stdio::piped());
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use tokio::io::AsyncWriteExt;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(yaml.as_bytes())
        .await
        .unwrap();
    let output = child.wait_with_output().await.unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let task: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        (task["status"].as_str(), task["labels"]["via"].as_str()),
        (Some("succeeded"), Some("yaml"))
    );
}

#[tokio::test]
async fn functions_are_registered_invoked_and_listed_with_the_fleet() {
    let local = Local::with_worker().await;
    let definition = local.home.join("echo.json");
    std::fs::write(
        &definition,
        r#"{"description": "prints its parameters",
            "spec": {"process": {"command": ["sh", "-c", "cat \"$WHARF_PAYLOAD\""]}},
            "paramsSchema": {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}}"#,
    )
    .unwrap();
    local
        .ok(&["functions", "put", "echo", definition.to_str().unwrap()])
        .await;
    let listed = local.ok(&["functions"]).await.stdout;
    assert!(
        listed.contains("echo") && listed.contains("prints its parameters"),
        "{listed}"
    );

    let task = local
        .json(&[
            "invoke", "echo", "-p", "n=3", "-p", "tag=x", "--wait", "--json",
        ])
        .await;
    assert_eq!(task["payload"], serde_json::json!({"n": 3, "tag": "x"}));
    let id = task["id"].as_str().unwrap();
    let log = local.ok(&["logs", id]).await.stdout;
    assert_eq!(serde_json::from_str::<Value>(&log).unwrap()["n"], 3);
    local
        .fails(&["invoke", "echo", "-p", "n=three"], 4, "params")
        .await;

    // The worker as the fleet view shows it; drained on request.
    let workers = local.json(&["workers", "--json"]).await;
    assert_eq!(workers.as_array().unwrap().len(), 1, "{workers}");
    let worker_id = workers[0]["id"].as_str().unwrap().to_owned();
    let table = local.ok(&["workers"]).await.stdout;
    assert!(
        table.contains(&worker_id) && table.contains("online"),
        "{table}"
    );
    let status = local.json(&["status", "--json"]).await;
    assert_eq!(status["queues"][0]["name"], "default");
    assert_eq!(status["workers"]["online"], 1);
    assert!(local.ok(&["status"]).await.stdout.contains("1 online"));
    local.ok(&["workers", "drain", &worker_id]).await;
    let drained = local.json(&["workers", "--json"]).await;
    assert_eq!(drained[0]["state"], "draining");
    local.ok(&["functions", "delete", "echo"]).await;
    local.fails(&["functions", "show", "echo"], 6, "echo").await;
}

#[tokio::test]
async fn every_error_is_one_line_and_an_exit_code_scripts_can_rely_on() {
    let local = Local::api_only().await;
    let unknown = "01kbqa0000000000000000000z";

    // Unreachable, no token: only what the command line says.
    let unreachable = ["--api-url", "http://127.0.0.1:9", "get", unknown];
    let run = Run::of(local.bare_wharf().args(unreachable)).await;
    run.expect(7).one_line_error("cannot be reached");
    let no_token = ["--api-url", &local.api_url, "list"];
    let run = Run::of(local.bare_wharf().args(no_token)).await;
    run.expect(5).one_line_error("WHARF_TOKEN");

    let id = local.submitted(&["submit", "--", "true"]).await;
    let failures: [(&[&str], i32, &str); 10] = [
        // A wrong token, a token without the scope.
        (&["--token", "wrong", "list"], 5, "401"),
        (&["--token", READ_TOKEN, "cancel", &id], 5, "403"),
        // Not found, refused, and wrong on the command line.
        (&["get", unknown], 6, "no task"),
        (&["submit", "--queue", "nope", "--", "true"], 4, "queue"),
        (&["submit"], 2, "nothing to run"),
        (
            &["submit", "--payload", "{oops", "--", "true"],
            2,
            "--payload",
        ),
        (&["get", ".."], 2, "not a task id"),
        // An id is one path segment: this asks for a task, not for workers.
        (&["get", "../workers"], 6, "no task \"../workers\""),
        (&["submit", "/no/such/file.json"], 2, "cannot read"),
        // No worker: waiting gives up, with its own code.
        (&["wait", &id, "--timeout", "1"], 8, "still queued"),
    ];
    for (args, code, what) in failures {
        local.fails(args, code, what).await;
    }
    let shown = local.ok(&["get", &id]).await.stdout;
    assert!(
        shown.contains("pending") && shown.contains("NoWorkerForQueue"),
        "{shown}"
    );

    // Cancel, cancel again (409), delete; then it is gone.
    let cancelled = local.ok(&["cancel", &id]).await.stdout;
    assert_eq!(cancelled.trim(), format!("{id} cancelled"));
    local.fails(&["cancel", &id], 4, "409").await;
    local.ok(&["delete", &id]).await;
    local.run(&["get", &id]).await.expect(6);
    let queued = local.submitted(&["submit", "--", "true"]).await;
    local.fails(&["delete", &queued], 4, "409").await;
    local.ok(&["delete", "--force", &queued]).await;
    local.run(&["get", &queued]).await.expect(6);
}

#[tokio::test]
async fn depends_on_is_submitted_shown_and_retry_runs_an_ended_task_again() {
    let local = Local::api_only().await;
    let upstream = local.submitted(&["submit", "--", "true"]).await;
    let other = local.submitted(&["submit", "--", "true"]).await;
    local.ok(&["cancel", &other]).await;
    let any = format!("{other}:any");
    let waiting = local
        .submitted(&[
            "submit",
            "--depends-on",
            &upstream,
            "--depends-on",
            &any,
            "--",
            "true",
        ])
        .await;

    // The record as submitted, with `on` filled in, waiting for what has
    // not ended; both ends of each link are shown.
    let task = local.json(&["get", &waiting, "--json"]).await;
    assert_eq!(
        task["dependsOn"],
        json!([{"task": upstream, "on": "success"}, {"task": other, "on": "any"}])
    );
    assert_eq!(task["status"], "waiting");
    assert_eq!(task["pending"]["detail"], format!("waiting for {upstream}"));
    let shown = local.ok(&["get", &waiting]).await.stdout;
    assert!(
        shown.contains(&format!("depends on  {upstream} (success), {other} (any)")),
        "{shown}"
    );
    assert!(shown.contains("WaitingOnDependencies"), "{shown}");
    let shown = local.ok(&["get", &upstream]).await.stdout;
    assert!(shown.contains(&format!("dependents  {waiting}")), "{shown}");

    // On a cancelled task's success: skipped at once; waiting on it ends
    // like a failure does.
    let skipped = local
        .submitted(&["submit", "--depends-on", &other, "--", "true"])
        .await;
    let ended = local.run(&["wait", &skipped]).await.expect(3).stdout;
    assert!(ended.contains("skipped (DependencyFailed)"), "{ended}");
    for (status, id) in [("waiting", &waiting), ("skipped", &skipped)] {
        let listed = local.json(&["list", "--status", status, "--json"]).await;
        assert_eq!(listed.as_array().unwrap().len(), 1, "{status}: {listed}");
        assert_eq!(listed[0]["id"], id.as_str());
    }

    // Flags replace a file's dependsOn; an `on` that is none of the three
    // is refused before anything is sent.
    let file = local.home.join("task.json");
    let body = json!({"spec": {"process": {"command": ["true"]}}, "dependsOn": [{"task": other}]});
    std::fs::write(&file, body.to_string()).unwrap();
    let failure = format!("{upstream}:failure");
    let from_file = local
        .submitted(&["submit", file.to_str().unwrap(), "--depends-on", &failure])
        .await;
    let task = local.json(&["get", &from_file, "--json"]).await;
    assert_eq!(
        task["dependsOn"],
        json!([{"task": upstream, "on": "failure"}])
    );
    let sometimes = format!("{upstream}:sometimes");
    let bad = ["submit", "--depends-on", &sometimes, "--", "true"];
    local.fails(&bad, 2, "--depends-on").await;
    local.fails(&bad, 2, "success, failure or any").await;

    // Retry: a queued task is refused; a cancelled one is queued again,
    // and the task it had skipped waits again.
    local.fails(&["retry", &upstream], 4, "409").await;
    local
        .fails(
            &["retry", &upstream],
            4,
            &format!("task {upstream} is queued"),
        )
        .await;
    let retried = local.ok(&["retry", &other]).await.stdout;
    assert_eq!(retried.trim(), format!("{other} queued"));
    let task = local.json(&["get", &other, "--json"]).await;
    assert_eq!(task["status"], "queued");
    let task = local.json(&["get", &skipped, "--json"]).await;
    assert_eq!(task["status"], "waiting");
    assert_eq!(task["pending"]["detail"], format!("waiting for {other}"));
    local.ok(&["cancel", &upstream]).await;
    let task = local.json(&["retry", &upstream, "--json"]).await;
    assert_eq!(
        (task["id"].as_str(), task["status"].as_str()),
        (Some(upstream.as_str()), Some("queued"))
    );
    local
        .fails(&["retry", "01kbqa0000000000000000000z"], 6, "no task")
        .await;
}

/// The value of `key`'s row in what `wharf get` printed.
fn row<'a>(shown: &'a str, key: &str) -> Option<&'a str> {
    shown.lines().find_map(|line| {
        let value = line.strip_prefix(key)?;
        value.starts_with("  ").then(|| value.trim())
    })
}

/// Lists `wharf list --parent PARENT --json` until it has `size`
/// children (the control plane makes them within moments).
async fn children(local: &Local, parent: &str, size: usize) -> Vec<Value> {
    for _ in 0..120 {
        let listed = local.json(&["list", "--parent", parent, "--json"]).await;
        let listed = listed.as_array().unwrap().clone();
        if listed.len() >= size {
            return listed;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    panic!("array {parent} did not get its {size} children within 30 s");
}

#[tokio::test]
async fn an_array_is_submitted_by_flags_and_its_children_listed_and_shown() {
    let local = Local::with_control().await;
    let single = local.submitted(&["submit", "--", "true"]).await;
    let submitted = local
        .json(&[
            "submit",
            "--array",
            "3",
            "--max-parallel",
            "2",
            "--json",
            "--cmd",
            "echo $WHARF_ARRAY_INDEX",
        ])
        .await;
    assert_eq!(submitted["array"]["size"], 3, "{submitted}");
    assert_eq!(submitted["array"]["maxParallel"], 2, "{submitted}");
    let parent = submitted["id"].as_str().unwrap().to_owned();

    // Exactly its children, each naming it and its index; not the other
    // task, nor the parent.
    let listed = children(&local, &parent, 3).await;
    let mut ids: Vec<&str> = listed.iter().map(|t| t["id"].as_str().unwrap()).collect();
    ids.sort();
    let expected: Vec<String> = (0..3).map(|i| format!("{parent}-{i:04}")).collect();
    assert_eq!(ids, expected, "{listed:?}");
    assert!(!ids.contains(&single.as_str()));
    for child in &listed {
        let index = child["arrayIndex"].as_u64().unwrap();
        assert_eq!(child["id"], format!("{parent}-{index:04}"));
        assert_eq!(
            (child["parentId"].as_str(), child["arraySize"].as_u64()),
            (Some(parent.as_str()), Some(3))
        );
    }
    let table = local.ok(&["list", "--parent", &parent]).await.stdout;
    assert_eq!(table.lines().count(), 4, "a header and 3 children: {table}");
    assert!(
        table.contains(&expected[2]) && !table.contains(&single),
        "{table}"
    );

    // The parent as the API keeps it and as `get` shows it; a child's
    // parent row.
    let task = local.json(&["get", &parent, "--json"]).await;
    assert_eq!(task["array"]["size"], 3);
    assert_eq!(task["array"]["maxParallel"], 2);
    let shown = local.ok(&["get", &parent]).await.stdout;
    assert_eq!(
        row(&shown, "array"),
        Some("3 children (maxParallel 2): 3 queued"),
        "{shown}"
    );
    assert_eq!(row(&shown, "attempt"), None, "a parent never runs: {shown}");
    let shown = local.ok(&["get", &expected[1]]).await.stdout;
    let child_of = format!("{parent} (child 1 of 3)");
    assert_eq!(row(&shown, "parent"), Some(child_of.as_str()), "{shown}");

    // An array on an array, child by child: nToN, shown as such; each
    // child waits for its upstream child.
    let each = local
        .json(&[
            "submit",
            "--array",
            "3",
            "--depends-on-each",
            &parent,
            "--json",
            "--",
            "true",
        ])
        .await;
    assert_eq!(
        each["dependsOn"],
        json!([{"task": parent, "on": "success", "mode": "nToN"}])
    );
    let each = each["id"].as_str().unwrap().to_owned();
    let shown = local.ok(&["get", &each]).await.stdout;
    let upstream = format!("{parent} (success, nToN)");
    assert_eq!(
        row(&shown, "depends on"),
        Some(upstream.as_str()),
        "{shown}"
    );
    let downstream = children(&local, &each, 3).await;
    let second = downstream.iter().find(|t| t["arrayIndex"] == 1).unwrap();
    assert_eq!(
        second["dependsOn"],
        json!([{"task": expected[1], "on": "success"}])
    );

    // --array overrides a file's size, --max-parallel needs an array, and
    // so does --depends-on-each; an array of one is refused by the flag.
    let file = local.home.join("array.json");
    let body =
        json!({"spec": {"process": {"command": ["true"]}}, "array": {"size": 5, "maxParallel": 4}});
    std::fs::write(&file, body.to_string()).unwrap();
    let file = file.to_str().unwrap();
    let from_file = local
        .json(&["submit", file, "--array", "3", "--json"])
        .await;
    assert_eq!(
        (
            &from_file["array"]["size"],
            &from_file["array"]["maxParallel"]
        ),
        (&json!(3), &json!(4))
    );
    local
        .fails(
            &["submit", "--max-parallel", "2", "--", "true"],
            2,
            "--max-parallel",
        )
        .await;
    local
        .fails(
            &["submit", "--max-parallel", "2", "--", "true"],
            2,
            "--array N",
        )
        .await;
    let bad = ["submit", "--depends-on-each", &parent, "--", "true"];
    local.fails(&bad, 2, "--depends-on-each").await;
    let sometimes = format!("{parent}:sometimes");
    let bad = [
        "submit",
        "--array",
        "3",
        "--depends-on-each",
        &sometimes,
        "--",
        "true",
    ];
    local.fails(&bad, 2, "--depends-on-each").await;
    let one = local
        .run(&["submit", "--array", "1", "--", "true"])
        .await
        .expect(2);
    assert!(one.stderr.contains("--array"), "{}", one.stderr);
    let listed = local.json(&["list", "--json", "--all"]).await;
    let arrays = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["array"].is_object());
    assert_eq!(arrays.count(), 3, "nothing refused was submitted: {listed}");
}

#[tokio::test]
async fn waiting_on_an_array_waits_for_its_children_and_retry_reruns_the_failed_one() {
    let local = Local::with_worker_and_control().await;
    let marker = local.home.join("second-time");
    let command = format!(
        "test \"$WHARF_ARRAY_INDEX\" != 1 || test -e '{}'",
        marker.display()
    );
    let args = [
        "submit",
        "--array",
        "3",
        "--max-parallel",
        "2",
        "--wait",
        "--cmd",
        &command,
    ];
    let ended = local.run(&args).await.expect(3);
    assert!(
        ended
            .stdout
            .contains("3 children (maxParallel 2): 2 succeeded, 1 failed"),
        "{}",
        ended.stdout
    );
    let parent = submitted_id(&ended);
    let task = local.json(&["get", &parent, "--json"]).await;
    assert_eq!(task["status"], "failed");

    // Retried, only the child that failed runs again.
    std::fs::write(&marker, "").unwrap();
    local.ok(&["retry", &parent]).await;
    let ended = local.ok(&["wait", &parent]).await.stdout;
    assert_eq!(
        row(&ended, "array"),
        Some("3 children (maxParallel 2): 3 succeeded"),
        "{ended}"
    );
    for (index, attempts) in [(0, 1), (1, 2), (2, 1)] {
        let child = local
            .json(&["get", &format!("{parent}-{index:04}"), "--json"])
            .await;
        assert_eq!(child["status"], "succeeded", "{child}");
        assert_eq!(child["attempt"], attempts, "child {index}: {child}");
    }
}

#[tokio::test]
async fn profiles_of_the_config_file_name_the_api_and_token() {
    let local = Local::api_only().await;
    let config = local.home.join(".config/wharf/config.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(
        &config,
        format!(
            "default = \"local\"\n[profiles.local]\napi_url = \"{}\"\ntoken = \"{TOKEN}\"\n[profiles.elsewhere]\napi_url = \"http://127.0.0.1:9\"\n",
            local.api_url
        ),
    )
    .unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();

    // The default profile, found in ~/.config: no warning.
    let status = Run::of(local.bare_wharf().args(["status", "--json"]))
        .await
        .expect(0);
    assert_eq!(status.json()["queues"][0]["name"], "default");
    assert_eq!(status.stderr, "");
    // Another profile by name; flags win over it.
    Run::of(
        local
            .bare_wharf()
            .args(["--profile", "elsewhere", "status"]),
    )
    .await
    .expect(7);
    let args = [
        "--profile",
        "elsewhere",
        "--api-url",
        &local.api_url,
        "--token",
        TOKEN,
        "status",
    ];
    Run::of(local.bare_wharf().args(args)).await.expect(0);
    // The same API under another URL does not get the profile's token.
    let other_url = local.api_url.replace("127.0.0.1", "localhost");
    Run::of(local.bare_wharf().args(["--api-url", &other_url, "status"]))
        .await
        .expect(5)
        .one_line_error("profile local's token is sent only to its own api_url");
    Run::of(local.bare_wharf().args(["--profile", "prod", "status"]))
        .await
        .expect(2)
        .one_line_error("elsewhere, local");

    // A file others can read is used, with a warning; one that does not
    // parse is an error naming it.
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    let warned = Run::of(local.bare_wharf().arg("status")).await.expect(0);
    warned.one_line_error("chmod 600");
    std::fs::write(&config, "[profiles.local]\napi-url = 1\n").unwrap();
    Run::of(local.bare_wharf().arg("status"))
        .await
        .expect(2)
        .one_line_error("config.toml");
}

#[tokio::test]
async fn completions_are_printed_for_each_shell() {
    for (shell, marker) in [
        ("bash", "_wharf()"),
        ("zsh", "#compdef wharf"),
        ("fish", "complete -c wharf"),
    ] {
        let mut wharf = tokio::process::Command::new(env!("CARGO_BIN_EXE_wharf"));
        let script = Run::of(wharf.args(["completions", shell]))
            .await
            .expect(0)
            .stdout;
        assert!(
            script.contains(marker) && script.contains("download"),
            "{shell}: {script}"
        );
    }
}

/// The task's outputs manifest as the API answers it.
async fn manifest(local: &Local, id: &str) -> Value {
    let answer: Value = reqwest::Client::new()
        .get(format!("{}/v1/tasks/{id}/outputs", local.api_url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["outputs"].clone()
}

#[tokio::test]
async fn a_minted_token_comes_with_the_hash_the_api_is_configured_with() {
    let mut wharf = tokio::process::Command::new(env!("CARGO_BIN_EXE_wharf"));
    let minted = Run::of(wharf.args(["admin", "token", "--scopes", "read,submit", "--json"]))
        .await
        .expect(0)
        .json();
    let token = minted["token"].as_str().unwrap();
    assert!(token.starts_with("wharf_") && token.len() == 70, "{token}");
    let entry = format!("{}:read+submit", sha256_hex(token.as_bytes()));
    assert_eq!(minted["apiTokensEntry"], entry.as_str());
}

#[tokio::test]
async fn secrets_are_named_by_flag_shown_by_reference_and_granted_by_token() {
    let local = Local::api_only().await;
    let id = local
        .submitted(&[
            "submit",
            "--secret",
            "DB=/wharf/team-a/db",
            "--secret",
            "KEY=wharf/team-a/api:key:file",
            "--cmd",
            "true",
        ])
        .await;
    let task = local.json(&["get", &id, "--json"]).await;
    assert_eq!(
        task["secrets"],
        serde_json::json!([
            {"name": "DB", "valueFrom": "/wharf/team-a/db", "as": "env"},
            {"name": "KEY", "valueFrom": "wharf/team-a/api:key", "as": "file"},
        ])
    );
    let shown = local.ok(&["get", &id]).await.stdout;
    assert!(
        shown.contains("DB=/wharf/team-a/db (env), KEY=wharf/team-a/api:key (file)"),
        "{shown}"
    );
    local
        .fails(
            &["submit", "--secret", "WHARF_X=/wharf/x", "--cmd", "true"],
            4,
            "secrets[0].name",
        )
        .await;
    let minted = local
        .json(&["admin", "token", "--secrets", "/wharf/team-a/", "--json"])
        .await;
    let entry = minted["apiTokensEntry"].as_str().unwrap();
    assert!(
        entry.ends_with(":read+submit+secrets=/wharf/team-a/"),
        "{entry}"
    );
}

/// The id `wharf submit --wait`/`--follow` names first on stderr.
fn submitted_id(output: &support::Run) -> String {
    output
        .stderr
        .lines()
        .next()
        .unwrap()
        .trim_start_matches("wharf: submitted ")
        .to_owned()
}
