use super::*;
use crate::model::{new_task_id, DependMode, DependOn, ProcessSpec, TaskSpec};

fn parent(size: u32) -> Task {
    Task {
        array: Some(TaskArray::new(&ArrayRequest {
            size,
            max_parallel: Some(2),
        })),
        unsent: true,
        ..Task::queued(
            new_task_id(),
            TaskSpec::Process(ProcessSpec::default()),
            Utc::now(),
        )
    }
}

fn made(parent: &Task, statuses: &[Status]) -> Task {
    grown(parent, 0, statuses, Utc::now()).expect("the first page")
}

/// The parent once child 0 succeeded and child 1 failed.
fn first_two_ended(p: &Task) -> Task {
    let ended = [(0, Status::Succeeded), (1, Status::Failed)];
    heard(p, &ended, false, Utc::now()).unwrap()
}

#[test]
fn children_ids_sort_by_index_beside_their_parent() {
    let id = new_task_id();
    assert_eq!(child_id(&id, 7), format!("{id}-0007"));
    assert!(child_id(&id, 9) < child_id(&id, 10));
}

#[test]
fn a_child_is_the_parent_task_with_its_index_and_the_arrays_place() {
    let mut upstream_array = parent(3);
    upstream_array.id = new_task_id();
    let mut p = parent(3);
    p.depends_on = vec![Dependency {
        task: upstream_array.id.clone(),
        on: DependOn::Any,
        mode: Some(DependMode::NToN),
    }];
    p.labels.insert("team".into(), "a".into());
    let child = child(&p, 2, Utc::now());
    assert_eq!(child.id, child_id(&p.id, 2));
    assert_eq!((child.array_index, child.array_size), (Some(2), Some(3)));
    assert_eq!(child.parent_id.as_deref(), Some(p.id.as_str()));
    assert_eq!(child.status, Status::Waiting);
    assert_eq!(child.depends_on[0].task, child_id(&upstream_array.id, 2));
    assert_eq!(child.depends_on[0].on, DependOn::Any);
    assert!(child.depends_on[0].is_whole());
    let concurrency = child.concurrency.clone().unwrap();
    assert_eq!(
        (concurrency.key, concurrency.limit),
        (format!("array#{}", p.id), 2)
    );
    assert_eq!(child.labels, p.labels);
    assert!(child.array.is_none() && !child.unsent);
    assert_eq!(child.payload_owner(), p.id);
}

#[test]
fn the_parent_runs_until_every_child_ended_then_fails_if_any_did_not_succeed() {
    let p = parent(3);
    let p = made(&p, &[Status::Queued, Status::Queued]);
    assert_eq!(p.status, Status::Running);
    assert!(p.unsent, "a child is still to be made");
    let p = grown(&p, 2, &[Status::Queued], Utc::now()).unwrap();
    assert!(!p.unsent);
    assert_eq!(
        grown(&p, 2, &[Status::Queued], Utc::now()),
        None,
        "made once"
    );
    let now = Utc::now();
    let p = first_two_ended(&p);
    assert_eq!(p.status, Status::Running);
    let p = heard(&p, &[(2, Status::Succeeded)], false, now).unwrap();
    assert_eq!(p.status, Status::Failed);
    assert_eq!(
        p.message.as_deref(),
        Some("1 of 3 children did not succeed")
    );
    let counts = &p.array.as_ref().unwrap().counts;
    assert_eq!(counts[&Status::Succeeded], 2);
    assert_eq!(counts[&Status::Failed], 1);
    assert_eq!(p.array.as_ref().unwrap().unsuccessful(), vec![1]);
}

#[test]
fn an_ended_child_is_not_made_active_again_by_a_stale_report_only_by_a_retry() {
    let now = Utc::now();
    let p = made(&parent(2), &[Status::Queued, Status::Queued]);
    let p = first_two_ended(&p);
    assert_eq!(heard(&p, &[(1, Status::Running)], false, now), None);
    assert_eq!(
        heard(&p, &[(1, Status::Failed), (5, Status::Queued)], false, now),
        None
    );
    let p = retried(&p, now).unwrap();
    assert_eq!(p.array.as_ref().unwrap().states, "sq");
    assert_eq!(p.status, Status::Running);
    assert_eq!(p.finished_at, None);
    let p = heard(&p, &[(1, Status::Succeeded)], false, now).unwrap();
    assert_eq!(p.status, Status::Succeeded);
}

#[test]
fn a_cancelled_array_makes_no_more_children_and_stays_cancelled() {
    let now = Utc::now();
    let p = made(&parent(300), &[Status::Queued; 100]);
    let mut c = cancelled(crate::lifecycle::cancel(&p, now).unwrap());
    // A page made meanwhile is recorded, to be cancelled with the rest...
    let c2 = grown(&c, 100, &[Status::Queued], now).unwrap();
    assert_eq!(c2.array.as_ref().unwrap().created, 101);
    assert!(!c2.unsent, "...but no more are made");
    assert_eq!(c2.status, Status::Cancelled);
    let all: Vec<(u32, Status)> = (0..100).map(|i| (i, Status::Cancelled)).collect();
    c = heard(&c, &all, false, now).unwrap();
    assert_eq!(c.status, Status::Cancelled);
    let again = retried(&c, now).unwrap();
    assert!(again.unsent, "a retry makes the rest");
}

#[test]
fn sizes_and_parallelism_are_checked_and_n_to_n_needs_an_array() {
    let mut errors = Vec::new();
    let request = |size, max_parallel| ArrayRequest { size, max_parallel };
    check(Some(&request(1, None)), None, &[], &mut errors);
    check(Some(&request(10_001, Some(0))), None, &[], &mut errors);
    let key = Concurrency {
        key: "k".into(),
        limit: 1,
    };
    check(Some(&request(5, Some(2))), Some(&key), &[], &mut errors);
    let n_to_n = Dependency {
        task: new_task_id(),
        on: DependOn::Success,
        mode: Some(DependMode::NToN),
    };
    check(None, None, &[n_to_n], &mut errors);
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "array.size",
            "array.size",
            "array.maxParallel",
            "array.maxParallel",
            "dependsOn[0].mode"
        ]
    );
}

#[test]
fn a_child_that_ends_before_its_page_is_recorded_is_counted_with_the_page() {
    let now = Utc::now();
    let p = made(&parent(3), &[Status::Queued]);
    let p = heard(&p, &[(2, Status::Succeeded)], false, now).unwrap();
    assert_eq!(p.array.as_ref().unwrap().created, 1);
    assert_eq!(heard(&p, &[(2, Status::Running)], false, now), None);
    let p = grown(&p, 1, &[Status::Queued, Status::Queued], now).unwrap();
    let array = p.array.as_ref().unwrap();
    assert_eq!(array.states, "qqs");
    assert!(array.early.is_empty());
}

#[test]
fn an_array_that_made_no_child_waits_again_for_its_dependencies_when_retried() {
    let mut p = parent(3);
    p.depends_on = vec![Dependency {
        task: new_task_id(),
        on: DependOn::Success,
        mode: None,
    }];
    let skipped = crate::lifecycle::skipped(
        &Task {
            status: Status::Waiting,
            ..p
        },
        "up",
        Some(Status::Failed),
        Utc::now(),
    )
    .unwrap();
    let again = retried(&skipped, Utc::now()).unwrap();
    assert_eq!((again.status, again.unsent), (Status::Waiting, false));
}
