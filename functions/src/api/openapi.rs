//! `GET /openapi.json`: the OpenAPI 3.1 document of the API, generated from
//! the handlers' annotations as the router is built (utoipa), so a route
//! cannot exist without its description. What every route shares — bearer
//! authentication and the problem documents any route may answer — is
//! added here once.

use axum::http::StatusCode;
use serde_json::json;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref};

/// The document's frame; paths and schemas come from the router.
#[derive(utoipa::OpenApi)]
#[openapi(
    components(schemas(super::problem::Problem)),
    info(
        title = "Wharf",
        description = "Submit tasks, follow them and fetch their outputs; see the fleet of worker hosts. Every error is an RFC 9457 problem document (`application/problem+json`).",
        license(name = "Apache-2.0")
    ),
    tags(
        (name = "tasks", description = "Submit, list, read, cancel, retry and delete tasks; their logs and outputs"),
        (name = "workers", description = "The registered worker hosts, and commands to them"),
        (name = "status", description = "Queues and capacity"),
        (name = "functions", description = "Registered functions: task templates with a JSON Schema for their parameters"),
        (name = "meta", description = "Health and this document"),
    )
)]
pub struct Frame;

const BEARER: &str = "bearer";
const PROBLEM_JSON: &str = "application/problem+json";

/// Completes the document the router produced: `{*path}` wildcards as
/// plain parameters, bearer authentication on every route but the public
/// ones, and the problems every route may answer.
pub fn complete(mut doc: OpenApi) -> serde_json::Value {
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        BEARER,
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    );
    let paths = std::mem::take(&mut doc.paths.paths);
    for (path, mut item) in paths {
        let public = !path.starts_with("/v1/");
        for operation in operations(&mut item) {
            add_problems(operation, public);
            if !public {
                operation.security =
                    Some(vec![SecurityRequirement::new(BEARER, Vec::<String>::new())]);
            }
        }
        doc.paths.paths.insert(path.replace("{*", "{"), item);
    }
    let mut doc = serde_json::to_value(doc).expect("an OpenAPI document serializes");
    for submitting in ["/v1/tasks", "/v1/functions/{name}/invoke"] {
        link_to_task_routes(&mut doc["paths"][submitting]["post"]["responses"]);
    }
    doc
}

/// The task a submission answers with leads to the routes of that task
/// (what a client, or schemathesis's stateful phase, does next). Written as
/// JSON: utoipa's `Link` serializes `operationId` in snake case.
fn link_to_task_routes(responses: &mut serde_json::Value) {
    let links: serde_json::Map<String, serde_json::Value> = [
        "getTask",
        "cancelTask",
        "retryTask",
        "deleteTask",
        "getLogs",
        "listOutputs",
    ]
    .into_iter()
    .map(|operation| {
        let link = json!({"operationId": operation, "parameters": {"id": "$response.body#/id"}});
        (operation.to_owned(), link)
    })
    .collect();
    for status in ["200", "202"] {
        if let Some(response) = responses.get_mut(status).and_then(|r| r.as_object_mut()) {
            response.insert("links".to_owned(), links.clone().into());
        }
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

/// The problems a route may answer beside its own: any route `404`
/// (unknown path) and `405`; an authenticated one `400`, `401`, `403` and
/// `503` (the backend is unavailable); one that takes a body `413` and
/// `415`.
fn add_problems(operation: &mut Operation, public: bool) {
    let mut statuses = vec![StatusCode::NOT_FOUND, StatusCode::METHOD_NOT_ALLOWED];
    if !public {
        statuses.extend([
            StatusCode::BAD_REQUEST,
            StatusCode::UNAUTHORIZED,
            StatusCode::FORBIDDEN,
            StatusCode::SERVICE_UNAVAILABLE,
        ]);
    }
    if operation.request_body.is_some() {
        statuses.extend([
            StatusCode::PAYLOAD_TOO_LARGE,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ]);
    }
    for status in statuses {
        let description = status.canonical_reason().unwrap_or("Error");
        let response = ResponseBuilder::new()
            .description(format!("{description} (a problem document)"))
            .content(
                PROBLEM_JSON,
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build(),
            )
            .build();
        operation
            .responses
            .responses
            .entry(status.as_str().to_owned())
            .or_insert(response.into());
    }
}
