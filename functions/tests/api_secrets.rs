//! Secrets in submissions, against moto: a token names only the secrets
//! under its `secrets=` prefixes (admin any), a refused submission leaves
//! nothing behind, bad secrets are `400` naming the field, and the record
//! keeps references only.

mod support;

use axum::http::StatusCode;
use serde_json::{json, Value};
use support::{api, ADMIN, SUBMITTER, TEAM_A};

fn task(secrets: Value) -> Value {
    json!({"spec": {"process": {"command": ["true"], "env": {"MODE": "x"}}}, "secrets": secrets})
}

#[tokio::test]
async fn a_token_names_only_the_secrets_under_its_prefixes() {
    let api = api().await;
    let own = json!([
        {"name": "DB", "valueFrom": "/wharf/team-a/db"},
        {"name": "KEY", "valueFrom": "wharf/team-a/api:key", "as": "file"},
    ]);
    let created = api.send("POST", "/v1/tasks", TEAM_A, &task(own)).await;
    assert_eq!(created.status, StatusCode::ACCEPTED, "{}", created.body);
    assert_eq!(
        created.body["secrets"],
        json!([
            {"name": "DB", "valueFrom": "/wharf/team-a/db", "as": "env"},
            {"name": "KEY", "valueFrom": "wharf/team-a/api:key", "as": "file"},
        ])
    );
    assert_eq!(api.queued().await, 1);

    let other = json!([
        {"name": "DB", "valueFrom": "/wharf/team-a/db"},
        {"name": "B", "valueFrom": "/wharf/team-b/db"},
    ]);
    let refused = api
        .send("POST", "/v1/tasks", TEAM_A, &task(other.clone()))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert_eq!(refused.fields(), ["secrets[1].valueFrom"]);
    let detail = refused.body["detail"].as_str().unwrap();
    assert!(detail.contains("/wharf/team-b/db"), "{detail}");
    // A Secrets Manager name under the SSM prefix's text is still refused.
    let sideways = json!([{"name": "B", "valueFrom": "team-a/db"}]);
    let refused_too = api.send("POST", "/v1/tasks", TEAM_A, &task(sideways)).await;
    assert_eq!(refused_too.status, StatusCode::FORBIDDEN);

    let plain = api
        .send(
            "POST",
            "/v1/tasks",
            SUBMITTER,
            &task(json!([{"name": "DB", "valueFrom": "/wharf/team-a/db"}])),
        )
        .await;
    assert_eq!(plain.status, StatusCode::FORBIDDEN, "{}", plain.body);
    assert_eq!(plain.fields(), ["secrets[0].valueFrom"]);
    assert_eq!(api.queued().await, 1, "a refused task was enqueued");
    let listed = api.read("GET", "/v1/tasks", ADMIN).await;
    assert_eq!(listed.body["tasks"].as_array().unwrap().len(), 1);

    let admin = api.send("POST", "/v1/tasks", ADMIN, &task(other)).await;
    assert_eq!(admin.status, StatusCode::ACCEPTED, "{}", admin.body);
}

#[tokio::test]
async fn bad_secrets_are_refused_naming_the_field() {
    let api = api().await;
    let bad = json!([
        {"name": "WHARF_X", "valueFrom": "/wharf/a"},
        {"name": "A", "valueFrom": "/wharf/a"},
        {"name": "A", "valueFrom": "/wharf/b"},
        {"name": "B", "valueFrom": ""},
        {"name": "C", "valueFrom": "arn:aws:s3:::bucket"},
        {"name": "1D", "valueFrom": "/wharf/d"},
        {"name": "MODE", "valueFrom": "/wharf/m"},
    ]);
    let answer = api.send("POST", "/v1/tasks", ADMIN, &task(bad)).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
    assert_eq!(
        answer.fields(),
        [
            "secrets[0].name",
            "secrets[2].name",
            "secrets[3].valueFrom",
            "secrets[4].valueFrom",
            "secrets[5].name",
            "secrets[6].name"
        ]
    );
    let many: Vec<Value> = (0..51)
        .map(|i| json!({"name": format!("S{i}"), "valueFrom": format!("/wharf/s{i}")}))
        .collect();
    let answer = api
        .send("POST", "/v1/tasks", ADMIN, &task(json!(many)))
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.fields(), ["secrets"]);
    let unknown = json!([{"name": "A", "valueFrom": "/wharf/a", "as": "stdin"}]);
    let answer = api.send("POST", "/v1/tasks", ADMIN, &task(unknown)).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.fields(), ["secrets[0].as"]);
    assert_eq!(api.queued().await, 0);
}

#[tokio::test]
async fn sets_and_functions_name_secrets_as_their_callers_may() {
    let api = api().await;
    let members = json!([
        {"name": "one", "spec": {"process": {"command": ["true"]}},
         "secrets": [{"name": "S", "valueFrom": "/wharf/team-b/x"}]},
    ]);
    let refused = api
        .send("PUT", "/v1/tasksets/nightly", TEAM_A, &members)
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert_eq!(refused.fields(), ["[0].secrets[0].valueFrom"]);
    assert_eq!(api.queued().await, 0);

    // A function's secrets are granted by the admin who registers it: any
    // caller allowed to invoke it runs it with them.
    let function = json!({
        "spec": {"process": {"command": ["true"]}},
        "secrets": [{"name": "S", "valueFrom": "/wharf/jobs/s", "as": "file"}],
    });
    let put = api.send("PUT", "/v1/functions/job", ADMIN, &function).await;
    assert_eq!(put.status, StatusCode::CREATED, "{}", put.body);
    let invoked = api
        .send("POST", "/v1/functions/job/invoke", SUBMITTER, &json!({}))
        .await;
    assert_eq!(invoked.status, StatusCode::ACCEPTED, "{}", invoked.body);
    assert_eq!(
        invoked.body["secrets"],
        json!([{"name": "S", "valueFrom": "/wharf/jobs/s", "as": "file"}])
    );
    let bad = json!({"spec": {"process": {"command": ["true"]}}, "secrets": [{"name": "WHARF_S", "valueFrom": "/wharf/s"}]});
    let put = api.send("PUT", "/v1/functions/bad", ADMIN, &bad).await;
    assert_eq!(put.status, StatusCode::BAD_REQUEST);
    assert_eq!(put.fields(), ["secrets[0].name"]);
}
