//! The poller, the claim, the lease keeper and shutdown, in-process against
//! the testkit's stateful fakes, with tokio's clock paused: minutes of
//! leases and grace periods take milliseconds. The same behaviour runs
//! against moto with real worker processes in `end_to_end.rs` and
//! `faults.rs`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use wharf_core::lifecycle::{self, Exit};
use wharf_core::model::{
    new_task_id, ExecutorKind, ProcessSpec, Reason, Status, Task, TaskMessage, TaskSpec,
};
use wharf_core::queue::{Lane, Queue, QueueCounts};
use wharf_core::store::TaskStore;
use wharf_testkit::fakes::Fakes;
use wharf_worker_host::config::Mode;
use wharf_worker_host::executor::{Ended, Execute, Run};
use wharf_worker_host::fleet::HostState;
use wharf_worker_host::{Slots, Worker, WorkerConfig};

const HEARTBEAT: Duration = Duration::from_secs(1);
const GRACE: Duration = Duration::from_secs(10);

/// Runs process specs without processes: `["sleep", "N"]` sleeps N seconds
/// of tokio time (or until stopped), `["exit", "N"]` exits with N. Every
/// start and stop is noted.
#[derive(Default)]
struct Scripted {
    started: Mutex<Vec<(String, u32)>>,
    stopped: Mutex<Vec<String>>,
}

#[async_trait]
impl Execute for Scripted {
    async fn can_run(&self, kind: ExecutorKind) -> bool {
        kind == ExecutorKind::Process
    }

    async fn execute(&self, spec: &TaskSpec, run: &Run) -> Ended {
        let TaskSpec::Process(process) = spec else {
            return Ended::start_failed("only process specs");
        };
        let started = (run.task_id.clone(), run.attempt);
        self.started.lock().unwrap().push(started);
        std::fs::write(run.log_file(), format!("attempt {}\n", run.attempt)).unwrap();
        let number: u64 = process.command[1].parse().unwrap();
        let exit = match process.command[0].as_str() {
            "exit" => Exit::Code(number as i64),
            _ => tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(number)) => Exit::Code(0),
                _ = run.stop.cancelled() => {
                    self.stopped.lock().unwrap().push(run.task_id.clone());
                    Exit::Signal(15)
                }
            },
        };
        Ended::new(exit, None)
    }
}

/// A worker on fakes, running until its shutdown token is cancelled.
struct Harness {
    fakes: Fakes,
    executor: Arc<Scripted>,
    shutdown: CancellationToken,
    worker: JoinHandle<()>,
    _work_dir: WorkDir,
}

struct WorkDir(std::path::PathBuf);

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Harness {
    fn start() -> Harness {
        let fakes = Fakes::new();
        let executor = Arc::new(Scripted::default());
        let work_dir = WorkDir(std::env::temp_dir().join(wharf_testkit::unique_prefix()));
        std::fs::create_dir_all(&work_dir.0).unwrap();
        let shutdown = CancellationToken::new();
        let config = WorkerConfig {
            mode: Mode::Poll,
            worker_id: "w-here".into(),
            hostname: "here".into(),
            labels: [("zone".to_owned(), "a".to_owned())].into(),
            queues: vec!["default".into()],
            concurrency: 2,
            heartbeat: HEARTBEAT,
            lease: Duration::from_secs(4),
            grace: GRACE,
            kill_grace: Duration::from_secs(1),
            work_dir: work_dir.0.clone(),
            poll_wait: Duration::from_secs(20),
            max_tasks: None,
            exit_when_idle: None,
            max_output_bytes: 1024,
            max_output_files: 10,
            max_log_bytes: 1 << 20,
            upload_timeout: Duration::from_secs(60),
            secret_prefixes: Default::default(),
        };
        let host = HostState::new(&shutdown);
        let worker = Worker::new(fakes.backend.clone(), config, executor.clone(), host);
        let worker = tokio::spawn(wharf_worker_host::run(Slots::new(worker), shutdown.clone()));
        Harness {
            fakes,
            executor,
            shutdown,
            worker,
            _work_dir: work_dir,
        }
    }

    /// Records a task running `command` and enqueues it.
    async fn submit(&self, command: [&str; 2]) -> String {
        let spec = TaskSpec::Process(ProcessSpec {
            command: command.map(str::to_owned).to_vec(),
            ..ProcessSpec::default()
        });
        let task = Task::queued(new_task_id(), spec, Utc::now());
        self.fakes.store.create(&task).await.unwrap();
        self.deliver(&task.id).await;
        task.id
    }

    /// Sends a (further) message for a task.
    async fn deliver(&self, task_id: &str) {
        let message = TaskMessage::bare(task_id);
        let queues = &self.fakes.queues;
        queues
            .send("default", &message, Duration::ZERO)
            .await
            .unwrap();
    }

    async fn task(&self, id: &str) -> Option<Task> {
        let current = self.fakes.store.get(id).await.unwrap();
        current.map(|current| current.task)
    }

    /// Waits (in tokio time) until the task's record satisfies `check`.
    async fn until(&self, id: &str, what: &str, check: impl Fn(Option<&Task>) -> bool) -> Task {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let task = self.task(id).await;
            if check(task.as_ref()) {
                return task.unwrap_or_else(|| panic!("task {id} is gone"));
            }
            assert!(
                Instant::now() < deadline,
                "task {id} never {what}: {task:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn until_running(&self, id: &str) -> Task {
        let running = |task: Option<&Task>| task.is_some_and(|t| t.status == Status::Running);
        self.until(id, "ran", running).await
    }

    async fn until_status(&self, id: &str, status: Status) -> Task {
        let reached = |task: Option<&Task>| task.is_some_and(|t| t.status == status);
        self.until(id, &status.to_string(), reached).await
    }

    /// Waits until the executor has seen the attempt stopped.
    async fn until_stopped(&self, id: &str) {
        while !self
            .executor
            .stopped
            .lock()
            .unwrap()
            .iter()
            .any(|t| t == id)
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn counts(&self) -> QueueCounts {
        self.fakes
            .queues
            .counts("default", Lane::Tasks)
            .await
            .unwrap()
    }

    fn runs_of(&self, id: &str) -> usize {
        let started = self.executor.started.lock().unwrap();
        started.iter().filter(|(task, _)| task == id).count()
    }

    /// Shuts the worker down and waits until it has stopped.
    async fn stop(self) -> Fakes {
        self.shutdown.cancel();
        self.worker.await.unwrap();
        self.fakes
    }
}

#[tokio::test(start_paused = true)]
async fn a_task_delivered_twice_is_claimed_and_run_once() {
    let harness = Harness::start();
    let id = harness.submit(["sleep", "3"]).await;
    harness.deliver(&id).await;
    let done = harness.until_status(&id, Status::Succeeded).await;
    assert_eq!(done.reason, Some(Reason::Succeeded));
    assert_eq!(done.attempt, 1);
    assert_eq!(done.worker_id.as_deref(), Some("w-here"));
    assert_eq!(harness.runs_of(&id), 1);
    // The duplicate is recognised as done once it comes back.
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(harness.runs_of(&id), 1);
    assert_eq!(harness.counts().await, QueueCounts::default());
    let (log, _) = harness.fakes.artifacts.log(&id, 1);
    assert_eq!(log, b"attempt 1\n");
    harness.stop().await;
}

#[tokio::test(start_paused = true)]
async fn the_lease_is_renewed_while_the_attempt_runs() {
    let harness = Harness::start();
    let id = harness.submit(["sleep", "30"]).await;
    let first = harness.until_running(&id).await.lease_expires_at.unwrap();
    tokio::time::sleep(Duration::from_secs(20)).await;
    let later = harness.task(&id).await.unwrap();
    assert_eq!(later.status, Status::Running);
    assert!(
        later.lease_expires_at.unwrap() > first,
        "the lease was not renewed"
    );
    // The message stays hidden for as long as the attempt runs.
    assert_eq!(harness.counts().await.visible, 0);
    harness.until_status(&id, Status::Succeeded).await;
    harness.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_attempt_is_stopped_within_a_heartbeat_and_keeps_its_log() {
    let harness = Harness::start();
    let id = harness.submit(["sleep", "600"]).await;
    harness.until_running(&id).await;
    let cancelled_at = Instant::now();
    let cancel = |task: &Task| lifecycle::cancel(task, Utc::now());
    harness.fakes.store.transition(&id, &cancel).await.unwrap();
    harness.until_stopped(&id).await;
    assert!(
        cancelled_at.elapsed() <= HEARTBEAT * 2,
        "stopped after {:?}",
        cancelled_at.elapsed()
    );
    tokio::time::sleep(HEARTBEAT).await;
    // Its message is done with, and the log of what it did is kept.
    assert_eq!(harness.counts().await, QueueCounts::default());
    let (log, _) = harness.fakes.artifacts.log(&id, 1);
    assert_eq!(log, b"attempt 1\n");
    let task = harness.stop().await.store.tasks().pop().unwrap();
    assert_eq!(
        (task.status, task.reason),
        (Status::Cancelled, Some(Reason::Cancelled))
    );
}

#[tokio::test(start_paused = true)]
async fn a_deleted_task_stops_its_attempt_and_its_message_is_deleted() {
    let harness = Harness::start();
    let id = harness.submit(["sleep", "600"]).await;
    let running = harness.until_running(&id).await;
    harness.fakes.store.delete(&running).await.unwrap();
    harness.until_stopped(&id).await;
    tokio::time::sleep(HEARTBEAT).await;
    assert_eq!(harness.counts().await, QueueCounts::default());
    let fakes = harness.stop().await;
    assert!(fakes.store.tasks().is_empty(), "the record came back");
}

#[tokio::test(start_paused = true)]
async fn an_attempt_whose_task_was_taken_over_writes_nothing_more() {
    let harness = Harness::start();
    let id = harness.submit(["sleep", "600"]).await;
    harness.until_running(&id).await;
    let takeover = |task: &Task| {
        let lease_until = Utc::now() + chrono::Duration::seconds(600);
        Some(lifecycle::claimed(
            task,
            "w-elsewhere",
            2,
            Utc::now(),
            lease_until,
        ))
    };
    harness
        .fakes
        .store
        .transition(&id, &takeover)
        .await
        .unwrap();
    harness.until_stopped(&id).await;
    tokio::time::sleep(HEARTBEAT * 3).await;
    let task = harness.task(&id).await.unwrap();
    assert_eq!(task.status, Status::Running);
    assert_eq!(
        (task.worker_id.as_deref(), task.attempt),
        (Some("w-elsewhere"), 2)
    );
    assert_eq!(task.attempts.len(), 1, "only the takeover noted attempt 1");
    // The message is left for the worker that holds the task now.
    assert_eq!(harness.counts().await.in_flight, 1);
    harness.stop().await;
}

#[tokio::test(start_paused = true)]
async fn shutdown_lets_an_attempt_finish_within_the_grace_period() {
    let harness = Harness::start();
    let id = harness.submit(["sleep", "5"]).await;
    harness.until_running(&id).await;
    let fakes = harness.stop().await;
    let task = fakes.store.tasks().pop().unwrap();
    assert_eq!(task.status, Status::Succeeded);
    let counts = fakes.queues.counts("default", Lane::Tasks).await.unwrap();
    assert_eq!(counts, QueueCounts::default());
}

#[tokio::test(start_paused = true)]
async fn shutdown_releases_what_outlives_the_grace_period() {
    let harness = Harness::start();
    let id = harness.submit(["sleep", "600"]).await;
    harness.until_running(&id).await;
    let stopping = Instant::now();
    let fakes = harness.stop().await;
    let waited = stopping.elapsed();
    assert!(
        waited >= GRACE && waited < GRACE + Duration::from_secs(3),
        "{waited:?}"
    );
    let task = fakes.store.tasks().pop().unwrap();
    assert_eq!(task.status, Status::Queued);
    assert_eq!(task.worker_id, None);
    assert_eq!(task.attempts.len(), 1);
    assert_eq!(task.attempts[0].reason, None, "a release is no failure");
    // Visible again at once, for another worker.
    let counts = fakes.queues.counts("default", Lane::Tasks).await.unwrap();
    assert_eq!(counts.visible, 1);
}

#[tokio::test(start_paused = true)]
async fn a_kind_this_host_cannot_run_is_released_not_claimed() {
    let harness = Harness::start();
    let spec = TaskSpec::Container(Default::default());
    let task = Task::queued(new_task_id(), spec, Utc::now());
    harness.fakes.store.create(&task).await.unwrap();
    harness.deliver(&task.id).await;
    tokio::time::sleep(Duration::from_secs(60)).await;
    let stored = harness.task(&task.id).await.unwrap();
    assert_eq!((stored.status, stored.attempt), (Status::Queued, 0));
    assert_eq!(harness.runs_of(&task.id), 0);
    // Released with a growing backoff until SQS dead-letters it.
    let dead = harness.fakes.queues.counts("default", Lane::DeadLetters);
    assert_eq!(dead.await.unwrap().visible, 1);
    harness.stop().await;
}
