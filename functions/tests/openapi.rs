//! `GET /openapi.json`: generated from the router, complete for every
//! route, with authentication and problem documents where they apply.
//! (CI also runs schemathesis against a live API with this document:
//! scripts/schemathesis.sh.)

mod support;

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::Request;
use support::api;

#[tokio::test]
async fn the_document_describes_every_route_with_its_problems() {
    let api = api().await;
    let answer = api
        .call(Request::get("/openapi.json").body(Body::empty()).unwrap())
        .await;
    assert_eq!(answer.status, 200);
    let doc = answer.body;
    assert_eq!(doc["openapi"], "3.1.0");

    let mut routes = BTreeSet::new();
    let mut operation_ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if !["get", "put", "post", "delete", "patch"].contains(&method.as_str()) {
                continue;
            }
            routes.insert(format!("{} {path}", method.to_uppercase()));
            let id = operation["operationId"].as_str().unwrap();
            assert!(
                operation_ids.insert(id.to_owned()),
                "operationId {id} twice"
            );
            let responses = operation["responses"].as_object().unwrap();
            assert!(responses.contains_key("404"), "{method} {path}");
            if path.starts_with("/v1/") {
                assert_eq!(operation["security"][0]["bearer"], serde_json::json!([]));
                for status in ["400", "401", "403", "503"] {
                    let problem = &responses[status]["content"]["application/problem+json"];
                    assert_eq!(problem["schema"]["$ref"], "#/components/schemas/Problem");
                }
            }
        }
    }
    let expected = [
        "GET /health",
        "GET /openapi.json",
        "POST /v1/tasks",
        "GET /v1/tasks",
        "GET /v1/tasks/{id}",
        "DELETE /v1/tasks/{id}",
        "POST /v1/tasks/{id}/cancel",
        "POST /v1/tasks/{id}/retry",
        "GET /v1/tasks/{id}/outputs",
        "GET /v1/tasks/{id}/outputs/{path}",
        "GET /v1/tasks/{id}/logs",
        "GET /v1/workers",
        "GET /v1/workers/{id}",
        "POST /v1/workers/{id}/drain",
        "POST /v1/workers/{id}/revoke",
        "GET /v1/status",
        "GET /v1/functions",
        "PUT /v1/functions/{name}",
        "GET /v1/functions/{name}",
        "DELETE /v1/functions/{name}",
        "POST /v1/functions/{name}/invoke",
        "PUT /v1/tasksets/{name}",
        "GET /v1/tasksets/{name}",
    ];
    let expected: BTreeSet<String> = expected.iter().map(|r| r.to_string()).collect();
    assert_eq!(routes, expected);

    // Every schema a route refers to is in the document.
    let text = doc.to_string();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for reference in text.split("\"#/components/schemas/").skip(1) {
        let name = reference.split('"').next().unwrap();
        assert!(
            schemas.contains_key(name),
            "{name} is referred to but missing"
        );
    }
    for kind in [
        "ProcessSpec",
        "ContainerSpec",
        "ScriptSpec",
        "Task",
        "TaskRequest",
    ] {
        assert!(schemas.contains_key(kind), "{kind}");
    }

    // A submitted task leads on to the routes of that task.
    let links = &doc["paths"]["/v1/tasks"]["post"]["responses"]["202"]["links"];
    assert_eq!(links["getTask"]["parameters"]["id"], "$response.body#/id");
    for link in links.as_object().unwrap().values() {
        let target = link["operationId"].as_str().unwrap();
        assert!(operation_ids.contains(target), "link to unknown {target}");
    }
}
