//! A Lambda Runtime API emulator: enough of `/2018-06-01/runtime/...` for a
//! real `bootstrap` binary to fetch events and post responses, so a test can
//! invoke a function binary as Lambda would.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, Mutex};

/// What a function answered to one event.
#[derive(Debug)]
pub enum Answer {
    Response(Value),
    Error(Value),
}

type Pending = (String, Value, oneshot::Sender<Answer>);

struct Shared {
    events: Mutex<mpsc::Receiver<Pending>>,
    waiting: Mutex<Vec<(String, oneshot::Sender<Answer>)>>,
}

pub struct RuntimeApi {
    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub address: String,
    events: mpsc::Sender<Pending>,
}

impl RuntimeApi {
    pub async fn start() -> RuntimeApi {
        let (events, receiver) = mpsc::channel(16);
        let shared = Arc::new(Shared {
            events: Mutex::new(receiver),
            waiting: Mutex::new(Vec::new()),
        });
        let router = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(respond),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(fail))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port");
        let address = listener.local_addr().expect("bound").to_string();
        tokio::spawn(async move { axum::serve(listener, router).await });
        RuntimeApi { address, events }
    }

    /// The environment a function binary needs to run under this emulator.
    pub fn env(&self, function_name: &str) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_LAMBDA_RUNTIME_API", self.address.clone()),
            ("AWS_LAMBDA_FUNCTION_NAME", function_name.to_owned()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256".to_owned()),
            (
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{function_name}"),
            ),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "test".to_owned()),
        ]
    }

    /// Hands `event` to the function and waits for its answer.
    pub async fn invoke(&self, event: Value) -> Answer {
        let (tx, rx) = oneshot::channel();
        let id = ulid::Ulid::new().to_string();
        self.events
            .send((id, event, tx))
            .await
            .expect("the emulator runs");
        rx.await.expect("the function answered")
    }
}

async fn next(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    let Some((id, event, answer)) = shared.events.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    shared.waiting.lock().await.push((id.clone(), answer));
    let deadline = deadline_ms();
    let mut headers = HeaderMap::new();
    let header = |v: String| HeaderValue::from_str(&v).expect("a header value");
    headers.insert("lambda-runtime-aws-request-id", header(id));
    headers.insert("lambda-runtime-deadline-ms", header(deadline.to_string()));
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        header("arn:aws:lambda:us-east-1:123456789012:function:test".to_owned()),
    );
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    (headers, event.to_string()).into_response()
}

/// Thirty seconds from now, in milliseconds since the epoch.
fn deadline_ms() -> u128 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    now.as_millis() + 30_000
}

async fn settle(shared: &Shared, id: &str, answer: Answer) {
    let mut waiting = shared.waiting.lock().await;
    if let Some(i) = waiting.iter().position(|(pending, _)| pending == id) {
        let (_, sender) = waiting.remove(i);
        let _ = sender.send(answer);
    }
}

fn json(body: &Bytes) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

async fn respond(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    settle(&shared, &id, Answer::Response(json(&body))).await;
    StatusCode::ACCEPTED
}

async fn fail(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    settle(&shared, &id, Answer::Error(json(&body))).await;
    StatusCode::ACCEPTED
}

async fn init_error(body: Bytes) -> StatusCode {
    panic!(
        "the function failed to initialise: {}",
        String::from_utf8_lossy(&body)
    );
}
