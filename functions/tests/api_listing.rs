//! `GET /v1/tasks` against moto: newest first, each filter, pages that
//! follow on through the cursor, reservations never listed.

mod support;

use serde_json::{json, Value};
use support::{api, Api, READER, SUBMITTER};

async fn submit(api: &Api, task: Value) -> String {
    let answer = api.submit(Some(SUBMITTER), task.to_string()).await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    answer.body["id"].as_str().unwrap().to_owned()
}

/// Every task `uri` lists, following the cursor; the ids, page by page.
async fn pages(api: &Api, uri: &str) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let separator = if uri.contains('?') { '&' } else { '?' };
        let page_uri = match &cursor {
            Some(cursor) => format!("{uri}{separator}cursor={cursor}"),
            None => uri.to_owned(),
        };
        let answer = api.read("GET", &page_uri, READER).await;
        assert_eq!(answer.status, 200, "{page_uri}: {}", answer.body);
        let ids = answer.body["tasks"].as_array().unwrap().iter();
        pages.push(ids.map(|t| t["id"].as_str().unwrap().to_owned()).collect());
        match answer.body["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return pages,
        }
        assert!(pages.len() < 50, "{uri} does not end");
    }
}

async fn listed(api: &Api, uri: &str) -> Vec<String> {
    pages(api, uri).await.concat()
}

#[tokio::test]
async fn tasks_list_newest_first_by_each_filter_a_page_at_a_time() {
    let api = api().await;
    let mut ids = Vec::new();
    for i in 0..7 {
        let team = if i % 2 == 0 { "data" } else { "web" };
        let env = if i < 4 { "prod" } else { "dev" };
        let task = json!({
            "name": format!("job-{i}"),
            "spec": {"process": {"command": ["true"]}},
            "labels": {"team": team, "env": env},
        });
        ids.push(submit(&api, task).await);
    }
    for cancelled in [&ids[1], &ids[4]] {
        let answer = api
            .read("POST", &format!("/v1/tasks/{cancelled}/cancel"), SUBMITTER)
            .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    let only = |keep: &[usize]| -> Vec<String> {
        let kept = newest_first.iter().filter(|id| {
            let i = ids.iter().position(|x| x == *id).unwrap();
            keep.contains(&i)
        });
        kept.cloned().collect()
    };

    // Names reserve items of their own in the table; they are never listed.
    let pages_of_three = pages(&api, "/v1/tasks?limit=3").await;
    assert!(pages_of_three.iter().all(|page| page.len() <= 3));
    assert_eq!(pages_of_three.concat(), newest_first);
    assert_eq!(listed(&api, "/v1/tasks").await, newest_first);

    assert_eq!(
        listed(&api, "/v1/tasks?status=cancelled").await,
        only(&[1, 4])
    );
    assert_eq!(
        listed(&api, "/v1/tasks?status=queued&queue=default&limit=2").await,
        only(&[0, 2, 3, 5, 6])
    );
    assert_eq!(listed(&api, "/v1/tasks?queue=default").await, newest_first);
    assert_eq!(
        listed(&api, "/v1/tasks?label=team=data").await,
        only(&[0, 2, 4, 6])
    );
    assert_eq!(
        listed(
            &api,
            "/v1/tasks?label=team%3Ddata&label=env=prod&status=queued"
        )
        .await,
        only(&[0, 2])
    );
    assert_eq!(listed(&api, "/v1/tasks?name=job-3").await, only(&[3]));
    assert_eq!(
        listed(&api, "/v1/tasks?name=job-3&status=cancelled").await,
        only(&[])
    );
    assert_eq!(listed(&api, "/v1/tasks?name=nobody").await, only(&[]));

    // Listed tasks are whole records.
    let answer = api.read("GET", "/v1/tasks?limit=1", READER).await;
    assert_eq!(answer.body["tasks"][0]["name"], "job-6");
    assert_eq!(answer.body["tasks"][0]["labels"]["team"], "data");
}

#[tokio::test]
async fn a_filter_matching_little_gives_short_pages_that_still_lead_on() {
    let api = api().await;
    let rare = submit(
        &api,
        json!({"spec": {"process": {"command": ["true"]}}, "labels": {"rare": "yes"}}),
    )
    .await;
    for _ in 0..12 {
        submit(&api, json!({"spec": {"process": {"command": ["true"]}}})).await;
    }
    // One index entry per read and a bounded number of reads per page:
    // the first page comes back empty, with a cursor that reaches the task.
    let pages = pages(&api, "/v1/tasks?label=rare=yes&limit=1").await;
    assert!(pages.len() > 1, "{pages:?}");
    assert!(pages[0].is_empty());
    assert_eq!(pages.concat(), [rare]);
}

#[tokio::test]
async fn listing_needs_a_token_and_names_wrong_parameters() {
    let api = api().await;
    let anonymous = api
        .call(
            axum::http::Request::get("/v1/tasks")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(anonymous.status, 401);
    let answer = api
        .read("GET", "/v1/tasks?status=done&limit=5000&cursor=abc", READER)
        .await;
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.headers[axum::http::header::CONTENT_TYPE],
        "application/problem+json"
    );
    assert_eq!(answer.fields(), ["status", "limit", "cursor"]);
}
