//! `PUT /v1/tasksets/{set}` against moto: missing tasks created, unlisted
//! active ones cancelled, the rest left alone; names outside the set
//! refused; a sync cut off before its record adopts what it created.

mod support;

use serde_json::{json, Value};
use support::{api, Answer, Api, READER, SUBMITTER};
use wharf_core::model::Status;

fn task(name: &str) -> Value {
    json!({"name": name, "spec": {"process": {"command": ["true"]}}})
}

async fn sync(api: &Api, set: &str, tasks: &[Value]) -> Answer {
    let uri = format!("/v1/tasksets/{set}");
    api.send("PUT", &uri, SUBMITTER, &Value::from(tasks.to_vec()))
        .await
}

fn names(tasks: &Value) -> Vec<&str> {
    let tasks = tasks.as_array().unwrap();
    tasks.iter().map(|t| t["name"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn a_sync_creates_the_missing_cancels_the_unlisted_and_leaves_the_rest() {
    let api = api().await;
    let first = sync(&api, "nightly", &[task("a"), task("b"), task("c")]).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(names(&first.body["tasks"]), ["a", "b", "c"]);
    assert_eq!(first.body["tasks"][0]["taskSet"], "nightly");
    let ids: Vec<String> = first.body["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(api.queued().await, 3);

    // Again, without c and with d: a and b are left, c is cancelled, d is new.
    let second = sync(&api, "nightly", &[task("a"), task("b"), task("d")]).await;
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(names(&second.body["tasks"]), ["a", "b", "d"]);
    assert_eq!(second.body["tasks"][0]["id"], ids[0].as_str());
    assert_eq!(second.body["tasks"][1]["id"], ids[1].as_str());
    assert_eq!(names(&second.body["removed"]), ["c"]);
    let c = api.backend.store.get(&ids[2]).await.unwrap().unwrap().task;
    assert_eq!(c.status, Status::Cancelled);
    assert_eq!(api.queued().await, 4);

    // The same list again changes nothing.
    let third = sync(&api, "nightly", &[task("a"), task("b"), task("d")]).await;
    assert_eq!(names(&third.body["tasks"]), ["a", "b", "d"]);
    assert!(third.body.get("removed").is_none());
    assert_eq!(api.queued().await, 4);

    let read = api.read("GET", "/v1/tasksets/nightly", READER).await;
    assert_eq!(read.status, 200);
    assert_eq!(names(&read.body["tasks"]), ["a", "b", "d"]);
    // c was cancelled when it left the set: listing it again does not
    // bring the cancelled task back, its name is still taken.
    let again = sync(&api, "nightly", &[task("a"), task("c")]).await;
    assert_eq!(again.status, 409, "{}", again.body);
    assert_eq!(again.body["existingId"], ids[2].as_str());
    let missing = api.read("GET", "/v1/tasksets/never", READER).await;
    assert_eq!(missing.status, 404);
}

#[tokio::test]
async fn names_outside_the_set_and_bad_lists_are_refused() {
    let api = api().await;
    let outside = api.submit(Some(SUBMITTER), task("taken").to_string()).await;
    assert_eq!(outside.status, 202);
    let answer = sync(&api, "s", &[task("taken")]).await;
    assert_eq!(answer.status, 409, "{}", answer.body);
    assert_eq!(answer.body["existingId"], outside.body["id"]);
    assert_eq!(answer.body["errors"][0]["field"], "[0].name");

    let unnamed = json!({"spec": {"process": {"command": ["true"]}}});
    let invalid = json!({"name": "x", "spec": {"process": {"command": []}}});
    let answer = sync(&api, "s", &[task("dup"), task("dup"), unnamed, invalid]).await;
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.fields(),
        ["[1].name", "[2].name", "[3].spec.process.command"]
    );
    let too_many: Vec<Value> = (0..101).map(|i| task(&format!("t{i}"))).collect();
    assert_eq!(sync(&api, "s", &too_many).await.status, 400);
    assert_eq!(api.queued().await, 1, "refused syncs enqueue nothing");
}

#[tokio::test]
async fn a_sync_cut_off_before_its_record_is_adopted_the_next_time() {
    let api = api().await;
    // What a sync leaves when it dies after creating a task: the task,
    // marked as the set's, and no record.
    let mut orphan = task("a");
    orphan["labels"] = json!({"k": "v"});
    let valid = wharf_core::validate::parse_task_request(
        orphan.to_string().as_bytes(),
        &api.backend.names.queues,
    )
    .unwrap();
    let valid = wharf_core::validate::ValidTask {
        task_set: Some("s".to_owned()),
        ..valid
    };
    let created = wharf_core::submit::submit(
        api.backend.submission(),
        valid,
        None,
        wharf_core::submit::Enqueue::AsRequested,
    )
    .await
    .unwrap();
    let wharf_core::submit::Submitted::Created(created) = created else {
        panic!("not created");
    };
    let answer = sync(&api, "s", &[task("a"), task("b")]).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["tasks"][0]["id"], created.id.as_str());
    assert_eq!(api.queued().await, 2);
}
