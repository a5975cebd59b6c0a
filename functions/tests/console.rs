//! The web console's routes through the router, against moto: page shells
//! without a token under a strict policy, fragments under the API's scopes,
//! everything escaped. The same console runs in headless Chromium in
//! `scripts/console_check.py` (make console-check).

mod support;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use chrono::Utc;
use serde_json::{json, Value};
use support::{api, Answer, Api, ADMIN, READER, SUBMITTER, TEAM_A};
use wharf_core::array;
use wharf_core::fleet::{Resources, WorkerReport};
use wharf_core::model::{new_task_id, ExecutorKind, Status, Task};

async fn page(api: &Api, uri: &str) -> Answer {
    api.call(Request::get(uri).body(Body::empty()).unwrap())
        .await
}

#[tokio::test]
async fn pages_are_shells_served_without_a_token_under_a_strict_policy() {
    let api = api().await;
    for (uri, current) in [
        ("/console", "/console"),
        ("/console?status=failed", "/console"),
        ("/console/tasks/01kbqa0000000000000000000z", "/console"),
        ("/console/workers", "/console/workers"),
        ("/console/queues", "/console/queues"),
    ] {
        let answer = page(&api, uri).await;
        assert_eq!(answer.status, StatusCode::OK, "{uri}");
        assert_eq!(
            answer.headers[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        let policy = answer.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        assert!(
            policy.starts_with("default-src 'none'; script-src 'self';"),
            "{policy}"
        );
        assert!(!policy.contains("unsafe"), "{policy}");
        assert_eq!(answer.headers[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(answer.headers[header::REFERRER_POLICY], "no-referrer");
        assert_eq!(answer.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        let html = &answer.text;
        assert!(html.starts_with("<!DOCTYPE html>"), "{uri}");
        assert!(
            html.contains(&format!("<a href=\"{current}\" aria-current=\"page\">")),
            "{uri}: {html}"
        );
        // Script only from the file; no inline script or style.
        assert_eq!(html.matches("<script").count(), 1);
        assert!(html.contains("<script src=\"/console/assets/console.js\" defer></script>"));
        assert!(
            !html.contains("style=") && !html.contains("<style"),
            "{uri}"
        );
        assert!(html.contains("id=\"sign-in\" hidden"), "{uri}");
    }
    let task_page = page(&api, "/console/tasks/01kbqa0000000000000000000z").await;
    assert!(task_page
        .text
        .contains("data-task=\"01kbqa0000000000000000000z\""));

    let script = page(&api, "/console/assets/console.js").await;
    assert_eq!(
        script.headers[header::CONTENT_TYPE],
        "text/javascript; charset=utf-8"
    );
    assert!(script.text.contains("sessionStorage"));
    let style = page(&api, "/console/assets/console.css").await;
    assert_eq!(
        style.headers[header::CONTENT_TYPE],
        "text/css; charset=utf-8"
    );
    assert!(style.text.contains("prefers-color-scheme: dark"));
}

#[tokio::test]
async fn fragments_answer_only_a_token_with_the_read_scope() {
    let api = api().await;
    for uri in [
        "/console/fragments/tasks",
        "/console/fragments/tasks/01kbqa0000000000000000000z",
        "/console/fragments/workers",
        "/console/fragments/queues",
    ] {
        let answer = page(&api, uri).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{uri}");
        assert_eq!(
            answer.headers[header::CONTENT_TYPE],
            "application/problem+json"
        );
        assert_eq!(
            api.read("GET", uri, "wrong").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let missing = api
        .read(
            "GET",
            "/console/fragments/tasks/01kbqa0000000000000000000z",
            READER,
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let bad = api
        .read("GET", "/console/fragments/tasks?status=done", READER)
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.fields(), ["status"]);
}

#[tokio::test]
async fn the_task_list_filters_pages_and_says_why_a_task_waits() {
    let api = api().await;
    let mut ids = Vec::new();
    for (name, team) in [("first", "data"), ("second", "web"), ("third", "data")] {
        let task = json!({"name": name, "labels": {"team": team}, "spec": {"process": {"command": ["true"]}}});
        let answer = api.send("POST", "/v1/tasks", SUBMITTER, &task).await;
        ids.push(answer.body["id"].as_str().unwrap().to_owned());
    }
    let first_page = api
        .read("GET", "/console/fragments/tasks?limit=2", READER)
        .await;
    assert_eq!(first_page.status, StatusCode::OK);
    let rows = first_page.text.matches("<tr data-id=").count();
    assert_eq!(rows, 2, "{}", first_page.text);
    // Newest first, each linking to its page, saying why it waits.
    assert!(first_page.text.find(&ids[2]) < first_page.text.find(&ids[1]));
    assert!(first_page
        .text
        .contains(&format!("href=\"/console/tasks/{}\"", ids[2])));
    assert!(
        first_page.text.contains("NoWorkerForQueue"),
        "{}",
        first_page.text
    );
    let cursor = first_page
        .text
        .split("data-cursor=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let next = api
        .read(
            "GET",
            &format!("/console/fragments/tasks?limit=2&cursor={cursor}"),
            READER,
        )
        .await;
    assert_eq!(next.text.matches("<tr data-id=").count(), 1);
    assert!(next.text.contains(&ids[0]) && !next.text.contains("data-cursor"));

    let data = api
        .read("GET", "/console/fragments/tasks?label=team%3Ddata", READER)
        .await;
    assert!(
        data.text.contains(&ids[0]) && data.text.contains(&ids[2]) && !data.text.contains(&ids[1])
    );
    let none = api
        .read("GET", "/console/fragments/tasks?status=failed", READER)
        .await;
    assert!(none.text.contains("No tasks match."));
}

#[tokio::test]
async fn a_task_page_escapes_what_it_shows_and_offers_what_the_scopes_allow() {
    let api = api().await;
    let hostile = "<script>alert(1)</script><img src=x onerror=alert(2)>";
    let task =
        json!({"spec": {"process": {"command": ["echo", hostile]}}, "payload": {"note": hostile}});
    let id = api.send("POST", "/v1/tasks", SUBMITTER, &task).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let uri = format!("/console/fragments/tasks/{id}");

    let submitter = api.read("GET", &uri, SUBMITTER).await;
    assert_eq!(submitter.status, StatusCode::OK);
    assert!(
        !submitter.text.contains("<script") && !submitter.text.contains("<img"),
        "{}",
        submitter.text
    );
    assert!(submitter
        .text
        .contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(submitter.text.contains("data-status=\"queued\""));
    assert!(submitter.text.contains("data-action=\"cancel\""));
    assert!(submitter
        .text
        .contains("data-action=\"delete\" data-force=\"true\""));

    let reader = api.read("GET", &uri, READER).await;
    assert!(!reader.text.contains("data-action"), "{}", reader.text);

    // Cancelled, it offers only delete.
    api.read("POST", &format!("/v1/tasks/{id}/cancel"), SUBMITTER)
        .await;
    let cancelled = api.read("GET", &uri, SUBMITTER).await;
    assert!(cancelled.text.contains("data-status=\"cancelled\""));
    assert!(!cancelled.text.contains("data-action=\"cancel\""));
    assert!(cancelled
        .text
        .contains("data-action=\"delete\" data-force=\"false\""));
}

/// Submits `task` as [`SUBMITTER`]; its id.
async fn submitted(api: &Api, task: Value) -> String {
    let answer = api.send("POST", "/v1/tasks", SUBMITTER, &task).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.text);
    answer.body["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_task_page_links_its_dependencies_and_offers_retry_once_it_ended_unsuccessfully() {
    let api = &api().await;
    let spec = json!({"process": {"command": ["true"]}});
    let upstream = submitted(api, json!({"spec": spec})).await;
    let other = submitted(api, json!({"spec": spec})).await;
    api.read("POST", &format!("/v1/tasks/{other}/cancel"), SUBMITTER)
        .await;
    let depends_on = json!([{"task": upstream}, {"task": other, "on": "any"}]);
    let waiting = submitted(api, json!({"spec": spec, "dependsOn": depends_on})).await;
    // On the success of a cancelled task: skipped at once.
    let skipped = submitted(api, json!({"spec": spec, "dependsOn": [{"task": other}]})).await;
    let mut succeeded = Task::queued(
        new_task_id(),
        serde_json::from_value(spec).unwrap(),
        Utc::now(),
    );
    succeeded.status = Status::Succeeded;
    api.backend.store.create(&succeeded).await.unwrap();
    let fragment = |id: &str| {
        let uri = format!("/console/fragments/tasks/{id}");
        async move { api.read("GET", &uri, SUBMITTER).await.text }
    };
    let link = |id: &str| format!("href=\"/console/tasks/{id}\">{id}</a>");

    // Each upstream task links to its page, with its condition; each
    // dependent links back.
    let html = fragment(&waiting).await;
    assert!(html.contains("<dt>Depends on</dt>"), "{html}");
    assert!(
        html.contains(&format!("{} (success), ", link(&upstream))),
        "{html}"
    );
    assert!(html.contains(&format!("{} (any)", link(&other))), "{html}");
    assert!(
        html.contains("class=\"badge s-waiting\">waiting</span>"),
        "{html}"
    );
    assert!(html.contains("WaitingOnDependencies"), "{html}");
    assert!(!html.contains("<dt>Dependents</dt>"), "{html}");
    let html = fragment(&upstream).await;
    assert!(html.contains("<dt>Dependents</dt>"), "{html}");
    assert!(
        html.contains(&link(&waiting)) && !html.contains("<dt>Depends on</dt>"),
        "{html}"
    );
    let html = fragment(&other).await;
    let (first, second) = (html.find(&link(&waiting)), html.find(&link(&skipped)));
    assert!(
        first.is_some() && first < second,
        "in the order submitted: {html}"
    );

    // Retry is offered once a task has ended without succeeding.
    for (id, status, retry) in [
        (&waiting, "waiting", false),
        (&upstream, "queued", false),
        (&other, "cancelled", true),
        (&skipped, "skipped", true),
        (&succeeded.id, "succeeded", false),
    ] {
        let html = fragment(id).await;
        assert!(
            html.contains(&format!("data-status=\"{status}\"")),
            "{status}: {html}"
        );
        assert_eq!(
            html.contains("data-action=\"retry\""),
            retry,
            "{status}: {html}"
        );
        assert_eq!(
            html.contains("data-action=\"cancel\""),
            !retry && status != "succeeded",
            "{status}: {html}"
        );
    }
    assert!(fragment(&skipped).await.contains(
        "class=\"badge s-skipped\">skipped</span> <span class=\"reason\">DependencyFailed"
    ));
    let reader = api
        .read("GET", &format!("/console/fragments/tasks/{other}"), READER)
        .await;
    assert!(!reader.text.contains("data-action"), "{}", reader.text);

    // Retried, it is queued again and offers cancel instead.
    let retried = api
        .read("POST", &format!("/v1/tasks/{other}/retry"), SUBMITTER)
        .await;
    assert_eq!(retried.status, StatusCode::OK);
    let html = fragment(&other).await;
    assert!(html.contains("data-status=\"queued\"") && html.contains("data-action=\"cancel\""));
    assert!(!html.contains("data-action=\"retry\""), "{html}");

    // The task list filters by the new statuses too; both are styled.
    let tasks = page(api, "/console").await.text;
    for status in ["waiting", "skipped"] {
        assert!(
            tasks.contains(&format!("<option value=\"{status}\">")),
            "{tasks}"
        );
    }
    let style = page(api, "/console/assets/console.css").await.text;
    assert!(style.contains(".s-waiting") && style.contains(".s-skipped"));
}

#[tokio::test]
async fn workers_and_queues_show_the_fleet_and_the_counts() {
    let api = api().await;
    let now = Utc::now();
    let report = WorkerReport {
        id: "host-1".into(),
        hostname: "<b>box</b>".into(),
        version: "1.0.0".into(),
        labels: [("zone".to_owned(), "a".to_owned())].into(),
        queues: vec!["default".into()],
        executors: vec![ExecutorKind::Process],
        mode: "poll".into(),
        slots: 4,
        busy_slots: 1,
        running_tasks: vec![],
        resources: Resources {
            cpu_cores: 2,
            load_average: 0.5,
            memory_total_bytes: 4 << 30,
            memory_available_bytes: 1 << 30,
            disk_total_bytes: 100 << 30,
            disk_available_bytes: 60 << 30,
            ..Resources::default()
        },
        heartbeat_secs: 5,
        started_at: now,
        heartbeat_at: now,
        taking_tasks: true,
    };
    api.backend.fleet.heartbeat(&report).await.unwrap();

    let admin = api.read("GET", "/console/fragments/workers", ADMIN).await;
    assert_eq!(admin.status, StatusCode::OK);
    let html = &admin.text;
    assert!(
        html.contains("data-worker=\"host-1\"") && html.contains("zone=a"),
        "{html}"
    );
    assert!(html.contains("&lt;b&gt;box&lt;/b&gt;") && !html.contains("<b>box"));
    assert!(html.contains("1 busy of 4"));
    assert!(
        html.contains("3.0 GiB free of 4.0 GiB") || html.contains("1.0 GiB free of 4.0 GiB"),
        "{html}"
    );
    assert_eq!(html.matches("<meter").count(), 3);
    assert!(html.contains("data-action=\"drain\"") && html.contains("data-action=\"revoke\""));
    let reader = api.read("GET", "/console/fragments/workers", READER).await;
    assert!(!reader.text.contains("data-action"));

    let task = json!({"spec": {"process": {"command": ["true"]}}});
    api.send("POST", "/v1/tasks", SUBMITTER, &task).await;
    let queues = api.read("GET", "/console/fragments/queues", READER).await;
    assert_eq!(queues.status, StatusCode::OK);
    assert!(
        queues
            .text
            .contains("data-queue=\"default\" data-visible=\"1\""),
        "{}",
        queues.text
    );
    assert!(queues.text.contains("1 online"), "{}", queues.text);
}

#[tokio::test]
async fn a_task_page_shows_its_secrets_by_name_and_reference() {
    let api = api().await;
    let task = json!({
        "spec": {"process": {"command": ["true"]}},
        "secrets": [
            {"name": "DB", "valueFrom": "/wharf/team-a/db"},
            {"name": "KEY", "valueFrom": "wharf/team-a/api:key", "as": "file"},
        ],
    });
    let created = api.send("POST", "/v1/tasks", TEAM_A, &task).await;
    let id = created.body["id"].as_str().unwrap();
    let page = api
        .read("GET", &format!("/console/fragments/tasks/{id}"), READER)
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("<dt>Secrets</dt>"), "{}", page.text);
    assert!(
        page.text.contains("DB ← /wharf/team-a/db (env)"),
        "{}",
        page.text
    );
    assert!(
        page.text.contains("KEY ← wharf/team-a/api:key (file)"),
        "{}",
        page.text
    );
}

#[tokio::test]
async fn a_task_page_shows_its_concurrency_key_and_limit() {
    let api = &api().await;
    let concurrency = json!({"key": "customer-<42>", "limit": 2});
    let task = json!({"spec": {"process": {"command": ["true"]}}, "concurrency": concurrency});
    let id = submitted(api, task).await;
    let html = api
        .read("GET", &format!("/console/fragments/tasks/{id}"), SUBMITTER)
        .await
        .text;
    assert!(html.contains("<dt>Concurrency</dt>"), "{html}");
    assert!(
        html.contains("customer-&lt;42&gt;</span> at most 2 at once"),
        "{html}"
    );
}

#[tokio::test]
async fn an_array_parent_counts_its_children_and_each_child_links_back() {
    let api = &api().await;
    let spec = json!({"process": {"command": ["true"]}});
    let array = json!({"size": 3, "maxParallel": 2});
    let parent_id = submitted(
        api,
        json!({"name": "frames-<b>", "spec": spec, "array": array}),
    )
    .await;
    let other = submitted(api, json!({"spec": spec})).await;
    // No control plane runs here: the children are made as it makes them,
    // and the parent hears of their statuses.
    let store = &api.backend.store;
    let now = Utc::now();
    let parent = store.get(&parent_id).await.unwrap().unwrap().task;
    let statuses = [Status::Succeeded, Status::Failed, Status::Succeeded];
    let mut children = Vec::new();
    for (index, status) in (0..).zip(statuses) {
        let mut child = array::child(&parent, index, now);
        child.status = status;
        store.create(&child).await.unwrap();
        children.push(child.id);
    }
    store
        .transition(&parent_id, &|task: &Task| {
            array::grown(task, 0, &statuses, now)
        })
        .await
        .unwrap();
    let fragment = |uri: String| async move { api.read("GET", &uri, READER).await };
    let link = |id: &str| format!("href=\"/console/tasks/{id}\">{id}</a>");
    let children_link = format!("/console?parent={parent_id}");

    // The parent: its array, its counts (each linking to those children),
    // and its children.
    let html = fragment(format!("/console/fragments/tasks/{parent_id}"))
        .await
        .text;
    assert!(html.contains("data-status=\"failed\""), "{html}");
    assert!(html.contains("<dt>Array</dt>"), "{html}");
    assert!(
        html.contains("3 children · at most 2 at once · 3 of 3 created"),
        "{html}"
    );
    assert!(
        html.contains(&format!("<a href=\"{children_link}\">children</a>")),
        "{html}"
    );
    for (count_status, count) in [("failed", 1), ("succeeded", 2)] {
        let count_link = format!(
            "<a href=\"{children_link}&amp;status={count_status}\"><span class=\"badge s-{count_status}\">{count_status}</span> {count}</a>"
        );
        assert!(html.contains(&count_link), "{count_link}: {html}");
    }
    assert!(!html.contains("<dt>Parent</dt>"), "{html}");
    assert!(!html.contains("frames-<b>"), "{html}");

    // Each child links its parent, saying which child it is.
    for (index, child) in children.iter().enumerate() {
        let html = fragment(format!("/console/fragments/tasks/{child}"))
            .await
            .text;
        assert!(html.contains("<dt>Parent</dt>"), "{html}");
        assert!(
            html.contains(&format!("{}, <span", link(&parent_id))),
            "{html}"
        );
        assert!(
            html.contains(&format!(">child {index} of 3</span>")),
            "{html}"
        );
        assert!(!html.contains("<dt>Array</dt>"), "{html}");
    }

    // The list of the children: exactly them, saying whose they are.
    let rows = |html: &str| {
        html.split("<tr data-id=\"")
            .skip(1)
            .map(|row| row.split('"').next().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let listed = fragment(format!("/console/fragments/tasks?parent={parent_id}")).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    let mut ids = rows(&listed.text);
    ids.sort();
    assert_eq!(ids, children, "{}", listed.text);
    assert!(
        listed.text.contains(&format!(
            "Children of <a class=\"mono\" {} (frames-&lt;b&gt;), an array of 3",
            link(&parent_id)
        )),
        "{}",
        listed.text
    );
    let everything = fragment("/console/fragments/tasks".to_owned()).await.text;
    assert!(!everything.contains("Children of"), "{everything}");
    assert!(rows(&everything).contains(&other));
    // By parent and status, as the counts link.
    let succeeded = fragment(format!(
        "/console/fragments/tasks?parent={parent_id}&status=succeeded"
    ))
    .await
    .text;
    assert_eq!(
        rows(&succeeded),
        [children[2].clone(), children[0].clone()],
        "{succeeded}"
    );
    // The list page's filters carry the parent (deep links fill them in).
    let shell = page(api, &children_link).await.text;
    assert!(shell.contains("name=\"parent\""), "{shell}");
}
