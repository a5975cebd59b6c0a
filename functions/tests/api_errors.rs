//! Every error the API gives is a problem document, whatever the input:
//! odd ids, bad query strings, unknown routes, wrong methods, wrong content
//! types, malformed JSON, odd authorization schemes. None is a 5xx.

mod support;

use axum::body::Body;
use axum::http::{header, Method, Request};
use serde_json::json;
use support::{api, Answer, SUBMITTER};

fn request(method: Method, uri: &str) -> axum::http::request::Builder {
    Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {SUBMITTER}"))
}

fn assert_problem(answer: &Answer, status: u16, what: &str) {
    assert_eq!(answer.status, status, "{what}: {}", answer.body);
    assert_eq!(
        answer.headers[header::CONTENT_TYPE],
        "application/problem+json",
        "{what}"
    );
    assert_eq!(answer.body["status"], status, "{what}");
}

#[tokio::test]
async fn ids_that_are_no_task_ids_are_404_problems() {
    let api = api().await;
    // Reservations share the tasks table; their keys must never be read as
    // tasks.
    let created = api
        .submit(
            Some(SUBMITTER),
            json!({"name": "foo", "spec": {"process": {"command": ["true"]}}}).to_string(),
        )
        .await;
    assert_eq!(created.status, 202);
    for id in [
        "name%23foo",
        "idem%23x",
        "..",
        "01M8400XHDATHHZYZEZW9D3HHV",
        "x".repeat(300).as_str(),
    ] {
        for (method, path) in [
            (Method::GET, format!("/v1/tasks/{id}")),
            (Method::POST, format!("/v1/tasks/{id}/cancel")),
            (Method::DELETE, format!("/v1/tasks/{id}?force=true")),
            (Method::GET, format!("/v1/tasks/{id}/logs")),
            (Method::GET, format!("/v1/tasks/{id}/outputs")),
            (Method::GET, format!("/v1/tasks/{id}/outputs/a.txt")),
        ] {
            let answer = api
                .call(request(method.clone(), &path).body(Body::empty()).unwrap())
                .await;
            assert_problem(&answer, 404, &format!("{method} {path}"));
        }
    }
}

#[tokio::test]
async fn bad_queries_routes_methods_and_bodies_are_problems() {
    let api = api().await;
    let created = api
        .submit(
            Some(SUBMITTER),
            json!({"spec": {"process": {"command": ["true"]}}}).to_string(),
        )
        .await;
    let id = created.body["id"].as_str().unwrap();

    let bad_query = api
        .call(
            request(Method::GET, &format!("/v1/tasks/{id}/outputs?expires=abc"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_problem(&bad_query, 400, "expires=abc");
    assert_eq!(bad_query.body["errors"][0]["field"], "expires");
    let bad_offset = api
        .call(
            request(Method::GET, &format!("/v1/tasks/{id}/logs?offset=-1"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_problem(&bad_offset, 400, "offset=-1");
    assert_eq!(bad_offset.body["errors"][0]["field"], "offset");

    let unknown = api
        .call(
            request(Method::GET, "/v2/everything")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_problem(&unknown, 404, "unknown route");
    let wrong_method = api
        .call(
            request(Method::PATCH, "/v1/tasks")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_problem(&wrong_method, 405, "PATCH /v1/tasks");

    let as_text = request(Method::POST, "/v1/tasks")
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from(
            json!({"spec": {"process": {"command": ["true"]}}}).to_string(),
        ))
        .unwrap();
    assert_problem(&api.call(as_text).await, 415, "text/plain body");
    let no_type = request(Method::POST, "/v1/tasks")
        .body(Body::from("{}"))
        .unwrap();
    assert_problem(&api.call(no_type).await, 415, "no content type");
    let broken = api.submit(Some(SUBMITTER), "{\"spec\": ").await;
    assert_problem(&broken, 400, "truncated JSON");
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive_and_other_schemes_are_401() {
    let api = api().await;
    let with_auth = |value: String| {
        Request::get("/v1/tasks/01m8400xhdathhzyzezw9d3hhv")
            .header(header::AUTHORIZATION, value)
            .body(Body::empty())
            .unwrap()
    };
    // A well-formed id that names no task: the token was accepted.
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let answer = api.call(with_auth(format!("{scheme} {SUBMITTER}"))).await;
        assert_problem(&answer, 404, scheme);
    }
    for value in [
        format!("Basic {SUBMITTER}"),
        SUBMITTER.to_owned(),
        "Bearer".to_owned(),
    ] {
        let answer = api.call(with_auth(value.clone())).await;
        assert_problem(&answer, 401, &value);
    }
}

#[tokio::test]
async fn odd_worker_ids_are_404_and_commands_need_the_admin_scope() {
    let api = api().await;
    for uri in [
        "/v1/workers/nobody",
        "/v1/workers/a%00b",
        "/v1/workers/%2F%2F",
    ] {
        let answer = api
            .call(request(Method::GET, uri).body(Body::empty()).unwrap())
            .await;
        assert_problem(&answer, 404, uri);
    }
    let long = format!("/v1/workers/{}", "w".repeat(300));
    let answer = api
        .call(request(Method::GET, &long).body(Body::empty()).unwrap())
        .await;
    assert_problem(&answer, 404, "a 300-character id");
    for command in ["drain", "revoke"] {
        let uri = format!("/v1/workers/nobody/{command}");
        let answer = api
            .call(request(Method::POST, &uri).body(Body::empty()).unwrap())
            .await;
        assert_problem(&answer, 403, &uri);
    }
}
