//! Hostile process tasks against the real worker binary: a task cannot
//! read the worker's credentials, touch another task, or act as root. The
//! tests run as root, as the worker image and many hosts do, so each task
//! runs under a uid of its own; one test runs the worker as `nobody` to show
//! that even a task under the worker's own uid cannot read its environment.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use serde_json::{json, Value};
use support::{shell_task, ReachableCopy, Stack};
use wharf_testkit::SECRET_KEY;

const WAIT: Duration = Duration::from_secs(90);

async fn succeeded_with_result(stack: &Stack, task: Value) -> Value {
    let id = stack.submit_id(task).await;
    let done = stack.wait(&id, WAIT).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    done["result"].clone()
}

#[tokio::test]
async fn a_task_runs_under_its_own_uid_and_finds_nothing_of_the_workers() {
    assert!(nix::unistd::geteuid().is_root(), "these tests run as root");
    let stack = Stack::start().await;
    let _worker = stack.spawn_worker();
    // Every environ it can read, the worker's credentials, root's files and
    // the Docker socket.
    let task = shell_task(
        r#"found=$(cat /proc/[0-9]*/environ 2>/dev/null | tr '\0' '\n' | grep -c "$HALF1$HALF2")
           ls /root >/dev/null 2>&1 && root_home=true || root_home=false
           [ -w /var/run/docker.sock ] && docker=true || docker=false
           printf '{"uid": %s, "groups": "%s", "found": %s, "rootHome": %s, "docker": %s}' \
             "$(id -u)" "$(id -G)" "$found" "$root_home" "$docker" > "$WHARF_OUTPUT_DIR/result.json""#,
    );
    let mut task = task;
    // The secret in two halves: no environ of the task's own holds it whole.
    let (half1, half2) = SECRET_KEY.split_at(SECRET_KEY.len() / 2);
    task["spec"]["process"]["env"] = json!({"HALF1": half1, "HALF2": half2});
    let result = succeeded_with_result(&stack, task).await;
    let uid = result["uid"].as_u64().unwrap();
    assert!((61000..=61999).contains(&uid), "{result}");
    assert_eq!(result["groups"], uid.to_string(), "no supplementary groups");
    assert_eq!(
        result["found"], 0,
        "the worker's credentials were readable: {result}"
    );
    assert_eq!(result["rootHome"], false);
    assert_eq!(result["docker"], false);
}

#[tokio::test]
async fn concurrent_tasks_cannot_read_or_signal_each_other() {
    let stack = Stack::start().await;
    let _worker = stack.spawn_worker();
    // Where the victim says where it lives; everyone may write here.
    let meeting = std::env::temp_dir().join(wharf_testkit::unique_prefix());
    std::fs::create_dir(&meeting).unwrap();
    std::fs::set_permissions(&meeting, std::fs::Permissions::from_mode(0o777)).unwrap();
    let mut victim = shell_task(
        r#"echo secret > "$HOME/secret"
           (umask 022; echo "$HOME $$" > "$MEETING/victim.tmp")
           mv "$MEETING/victim.tmp" "$MEETING/victim"
           sleep 6
           echo '{"survived": true}' > "$WHARF_OUTPUT_DIR/result.json""#,
    );
    victim["spec"]["process"]["env"] = json!({"MEETING": meeting});
    let mut attacker = shell_task(
        r#"while [ ! -s "$MEETING/victim" ]; do sleep 0.1; done
           read home pid < "$MEETING/victim"
           [ -n "$home" ] && [ -n "$pid" ] || exit 9
           cat "$home/secret" >/dev/null 2>&1 && read=true || read=false
           ls "$home/.." >/dev/null 2>&1 && listed=true || listed=false
           kill "$pid" 2>/dev/null && killed=true || killed=false
           printf '{"read": %s, "listed": %s, "killed": %s}' "$read" "$listed" "$killed" \
             > "$WHARF_OUTPUT_DIR/result.json""#,
    );
    attacker["spec"]["process"]["env"] = json!({"MEETING": meeting});
    let victim = stack.submit_id(victim).await;
    let attacker = succeeded_with_result(&stack, attacker).await;
    assert_eq!(
        attacker,
        json!({"read": false, "listed": false, "killed": false})
    );
    let victim = stack.wait(&victim, WAIT).await;
    assert_eq!(victim["result"], json!({"survived": true}), "{victim}");
    std::fs::remove_dir_all(&meeting).unwrap();
}

#[tokio::test]
async fn a_task_under_the_workers_own_uid_cannot_read_the_worker() {
    let stack = Stack::start().await;
    // A worker that is not root runs tasks as itself.
    let work_dir = std::env::temp_dir().join(wharf_testkit::unique_prefix());
    std::fs::create_dir(&work_dir).unwrap();
    std::os::unix::fs::chown(&work_dir, Some(65534), Some(65534)).unwrap();
    // Its binary where nobody can reach it, wherever the clone is.
    let binary = ReachableCopy::of(env!("CARGO_BIN_EXE_wharf-worker"));
    let _worker = stack
        .worker_command_of(&binary.0)
        .current_dir(std::env::temp_dir())
        .arg(format!("--work-dir={}", work_dir.display()))
        .uid(65534)
        .gid(65534)
        .spawn()
        .unwrap();
    let task = shell_task(
        r#"cat /proc/self/environ >/dev/null && own=true || own=false
           cat "/proc/$PPID/environ" >/dev/null 2>&1 && worker=true || worker=false
           printf '{"uid": %s, "own": %s, "worker": %s}' "$(id -u)" "$own" "$worker" \
             > "$WHARF_OUTPUT_DIR/result.json""#,
    );
    let result = succeeded_with_result(&stack, task).await;
    assert_eq!(result, json!({"uid": 65534, "own": true, "worker": false}));
    std::fs::remove_dir_all(&work_dir).unwrap();
}

#[tokio::test]
async fn a_task_cannot_replace_what_the_worker_opens_even_under_a_strict_umask() {
    let stack = Stack::start().await;
    let mut worker = stack.worker_command();
    // As the systemd unit runs it: UMask=0077.
    // SAFETY: umask(2) is async-signal-safe.
    unsafe {
        worker.pre_exec(|| {
            nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
            Ok(())
        });
    }
    let _worker = worker.spawn().unwrap();
    let mut task = shell_task(
        r#"ln -sf /etc/shadow "$HOME/../attempt.log" 2>/dev/null && echo LINKED
           mv "$HOME/../io" "$HOME/../moved" 2>/dev/null && echo MOVED
           ln -s / "$HOME/../io/elsewhere" 2>/dev/null && echo PLANTED
           cp "$WHARF_PAYLOAD" "$WHARF_OUTPUT_DIR/result.json"
           echo done"#,
    );
    task["payload"] = json!({"day": 22});
    let id = stack.submit_id(task).await;
    let done = stack.wait(&id, WAIT).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(
        done["result"],
        json!({"day": 22}),
        "payload readable, output writable"
    );
    let log = stack.logs(&id).await;
    assert_eq!(
        log.trim(),
        "done",
        "the task changed the worker's files: {log}"
    );
}

/// A directory under one that only its owner may enter, as a clone under
/// root's home is; removed when dropped.
struct ClosedParent(std::path::PathBuf);

impl ClosedParent {
    fn new() -> ClosedParent {
        let parent = std::env::temp_dir().join(wharf_testkit::unique_prefix());
        std::fs::create_dir_all(parent.join("inside")).unwrap();
        std::fs::set_permissions(
            parent.join("inside"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        std::fs::set_permissions(&parent, std::fs::Permissions::from_mode(0o700)).unwrap();
        ClosedParent(parent)
    }

    fn inside(&self) -> std::path::PathBuf {
        self.0.join("inside")
    }
}

impl Drop for ClosedParent {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn a_root_worker_refuses_a_work_directory_its_task_uids_cannot_reach() {
    assert!(nix::unistd::geteuid().is_root(), "these tests run as root");
    let stack = Stack::start().await;
    let closed = ClosedParent::new();
    let worker = stack
        .worker_command()
        .arg(format!("--work-dir={}", closed.inside().display()))
        .output();
    let output = tokio::time::timeout(Duration::from_secs(30), worker)
        .await
        .expect("the worker kept running instead of refusing the work directory")
        .unwrap();
    assert!(!output.status.success(), "it started");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let named = format!("{} is mode 0700", closed.0.display());
    assert!(stderr.contains(&named), "{stderr}");
    assert!(stderr.contains("--work-dir"), "{stderr}");
    let mode = std::fs::metadata(closed.inside())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755, "a refused directory is left as it was");
}

#[tokio::test]
async fn a_task_that_cannot_reach_its_working_directory_is_told_what_it_cannot_reach() {
    assert!(nix::unistd::geteuid().is_root(), "these tests run as root");
    let stack = Stack::start().await;
    let _worker = stack.spawn_worker();
    let closed = ClosedParent::new();
    let mut task = shell_task("pwd");
    task["spec"]["process"]["workingDir"] = json!(closed.inside());
    let id = stack.submit_id(task).await;
    let done = stack.wait(&id, WAIT).await;
    assert_eq!(done["reason"], "StartFailed", "{done}");
    let message = done["message"].as_str().unwrap();
    let named = format!("{} is mode 0700", closed.0.display());
    assert!(message.contains(&named), "{message}");
    assert!(message.contains("as uid 61"), "{message}");
}
