//! The API router over a real moto server, called in-process with
//! `oneshot`, and what it answers.

#![allow(dead_code)] // each test binary uses its own part of this module

use axum::body::{to_bytes, Body};
use axum::http::{header, Request, StatusCode};
use axum::Router;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tower::ServiceExt;
use wharf_core::config::ResourceNames;
use wharf_core::provision::provision;
use wharf_core::queue::Lane;
use wharf_core::Backend;
use wharf_functions::api::{app, AppState};
use wharf_testkit::{unique_prefix, Moto};

pub const SUBMITTER: &str = "submitter-token";
pub const READER: &str = "reader-token";
pub const ADMIN: &str = "admin-token";
/// May submit tasks naming the secrets under `/wharf/team-a/` (SSM) and
/// `wharf/team-a/` (Secrets Manager).
pub const TEAM_A: &str = "team-a-token";
/// May submit, and read nothing.
pub const WRITE_ONLY: &str = "write-only-token";

pub struct Api {
    pub _moto: Moto,
    pub router: Router,
    pub backend: Backend,
}

pub async fn api() -> Api {
    let moto = Moto::start().await;
    let aws = moto.sdk_config();
    let names = ResourceNames::with_prefix(&unique_prefix());
    provision(&aws, &names).await.unwrap();
    let backend = wharf_core::aws::backend(&aws, names);
    let hash = |t: &str| hex::encode(Sha256::digest(t.as_bytes()));
    let tokens = format!(
        "{}:read+submit,{}:read,{}:admin,{}:read+submit+secrets=/wharf/team-a/+secrets=wharf/team-a/,{}:submit",
        hash(SUBMITTER),
        hash(READER),
        hash(ADMIN),
        hash(TEAM_A),
        hash(WRITE_ONLY)
    );
    let router = app(AppState {
        backend: backend.clone(),
        tokens: tokens.parse().unwrap(),
    });
    Api {
        _moto: moto,
        router,
        backend,
    }
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Value,
    /// The body as text (HTML answers).
    pub text: String,
}

impl Answer {
    /// The fields a problem document names, in order.
    pub fn fields(&self) -> Vec<String> {
        let errors = self.body["errors"].as_array().cloned().unwrap_or_default();
        let field = |e: &Value| e["field"].as_str().unwrap_or_default().to_owned();
        errors.iter().map(field).collect()
    }
}

impl Api {
    pub async fn call(&self, request: Request<Body>) -> Answer {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
            text: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    /// Messages waiting on the task queue.
    pub async fn queued(&self) -> u64 {
        let queues = &self.backend.queues;
        queues.counts("default", Lane::Tasks).await.unwrap().visible
    }

    /// A request with a bearer token and a JSON body.
    pub async fn send(&self, method: &str, uri: &str, token: &str, body: &Value) -> Answer {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json");
        self.call(request.body(Body::from(body.to_string())).unwrap())
            .await
    }

    /// A request with a bearer token and no body.
    pub async fn read(&self, method: &str, uri: &str, token: &str) -> Answer {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {token}"));
        self.call(request.body(Body::empty()).unwrap()).await
    }

    pub async fn submit(&self, token: Option<&str>, body: impl Into<Body>) -> Answer {
        let mut request =
            Request::post("/v1/tasks").header(header::CONTENT_TYPE, "application/json");
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        self.call(request.body(body.into()).unwrap()).await
    }
}
