use super::*;
use crate::model::{new_task_id, DependOn, ProcessSpec, TaskSpec};

fn waiting_on(deps: &[(&str, DependOn)]) -> Task {
    Task {
        status: Status::Waiting,
        depends_on: deps
            .iter()
            .map(|(task, on)| Dependency {
                mode: None,
                task: (*task).to_owned(),
                on: *on,
            })
            .collect(),
        ..Task::queued(
            new_task_id(),
            TaskSpec::Process(ProcessSpec::default()),
            Utc::now(),
        )
    }
}

fn statuses(of: &[(&str, Status)]) -> HashMap<TaskId, Status> {
    of.iter().map(|(id, s)| ((*id).to_owned(), *s)).collect()
}

#[test]
fn each_condition_holds_only_on_its_final_statuses() {
    use Status::*;
    let finals = [Succeeded, Failed, TimedOut, Cancelled, Skipped];
    for status in [Waiting, Queued, Running] {
        for on in [DependOn::Success, DependOn::Failure, DependOn::Any] {
            assert_eq!(on.holds(status), None, "{on} on {status}");
        }
    }
    for status in finals {
        let succeeded = status == Succeeded;
        assert_eq!(DependOn::Success.holds(status), Some(succeeded));
        assert_eq!(DependOn::Failure.holds(status), Some(!succeeded));
        assert_eq!(DependOn::Any.holds(status), Some(true));
    }
}

#[test]
fn a_task_waits_for_the_unfinished_and_is_blocked_by_the_first_that_cannot_hold() {
    let task = waiting_on(&[
        ("a", DependOn::Success),
        ("b", DependOn::Failure),
        ("c", DependOn::Any),
    ]);
    let all = |a, b, c| statuses(&[("a", a), ("b", b), ("c", c)]);
    use Status::*;
    assert_eq!(
        readiness(&task, &all(Running, Queued, Succeeded)),
        Readiness::Waiting(vec!["a".into(), "b".into()])
    );
    assert_eq!(
        readiness(&task, &all(Succeeded, Failed, Cancelled)),
        Readiness::Ready
    );
    assert_eq!(
        readiness(&task, &all(Running, Succeeded, Failed)),
        Readiness::Blocked {
            upstream: "b".into(),
            status: Some(Succeeded)
        }
    );
    let gone = statuses(&[("b", Failed), ("c", Failed)]);
    assert_eq!(
        readiness(&task, &gone),
        Readiness::Blocked {
            upstream: "a".into(),
            status: None
        }
    );
}

#[test]
fn too_many_or_repeated_dependencies_are_named() {
    let deps: Vec<Dependency> = (0..=MAX_DEPENDENCIES)
        .map(|i| Dependency {
            mode: None,
            task: format!("t{}", i.min(1)),
            on: DependOn::Success,
        })
        .collect();
    let mut errors = Vec::new();
    check(&deps, &mut errors);
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields[0], "dependsOn");
    assert_eq!(fields[1], "dependsOn[2].task");
    assert_eq!(fields.len(), MAX_DEPENDENCIES);
}

#[test]
fn a_released_task_is_unsent_and_a_skipped_one_names_its_upstream() {
    let now = Utc::now();
    let task = waiting_on(&[("a", DependOn::Success)]);
    let released = lifecycle::released(&task, now).unwrap();
    assert_eq!((released.status, released.unsent), (Status::Queued, true));
    assert_eq!(lifecycle::released(&released, now), None);
    let skipped = lifecycle::skipped(&task, "a", Some(Status::Failed), now).unwrap();
    assert_eq!(skipped.status, Status::Skipped);
    assert_eq!(
        skipped.message.as_deref(),
        Some("dependency a ended failed")
    );
    assert_eq!(skipped.finished_at, Some(now));
    let retried = lifecycle::retried(&skipped, now).unwrap();
    assert_eq!(
        (retried.status, retried.finished_at),
        (Status::Waiting, None)
    );
    assert_eq!(lifecycle::retried(&retried, now), None);
}
