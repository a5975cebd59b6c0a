//! A small client of Wharf's HTTP API: the bearer token, JSON, and every
//! answer that is not a success turned into a one-line [`Failure`] with
//! its exit code.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, RANGE, USER_AGENT};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::config::Endpoint;
use crate::exit::{Exit, Failure};

/// How long an API call may take; a download may take as long as it
/// needs, but not stall.
const API_TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const STALL_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Client {
    http: reqwest::Client,
    endpoint: Endpoint,
}

impl Client {
    pub fn new(endpoint: Endpoint) -> anyhow::Result<Client> {
        let mut headers = HeaderMap::new();
        let agent = concat!("wharf-cli/", env!("CARGO_PKG_VERSION"));
        headers.insert(USER_AGENT, HeaderValue::from_static(agent));
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(STALL_TIMEOUT)
            .build()?;
        Ok(Client { http, endpoint })
    }

    /// A request to the API, with the token.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let url = format!("{}{path}", self.endpoint.api_url);
        let request = self.http.request(method, url).timeout(API_TIMEOUT);
        match &self.endpoint.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Sends a request; any answer but a success (or `304`) is a failure.
    pub async fn send(&self, request: RequestBuilder) -> Result<Response, Failure> {
        let response = request.send().await.map_err(|e| self.unreachable(&e))?;
        let status = response.status();
        if status.is_success() || status == StatusCode::NOT_MODIFIED {
            return Ok(response);
        }
        let body = response.text().await.unwrap_or_default();
        Err(self.problem(status, &body))
    }

    /// Sends a request and returns its JSON answer.
    pub async fn json(&self, request: RequestBuilder) -> Result<Value, Failure> {
        let response = self.send(request).await?;
        response.json().await.map_err(|e| {
            let api = &self.endpoint.api_url;
            Failure::new(
                Exit::Unavailable,
                format!("{api} answered invalid JSON: {e}"),
            )
        })
    }

    pub async fn get(&self, path: &str) -> Result<Value, Failure> {
        self.json(self.request(Method::GET, path)).await
    }

    /// A GET of a presigned URL: no token is sent, the URL is the grant.
    pub async fn download(&self, url: &str, from: u64) -> Result<Response, Failure> {
        let mut request = self.http.get(url);
        if from > 0 {
            request = request.header(RANGE, format!("bytes={from}-"));
        }
        let response = request.send().await.map_err(|e| {
            Failure::new(Exit::Unavailable, format!("download failed: {}", cause(&e)))
        })?;
        let status = response.status();
        if status.is_success() || status == StatusCode::RANGE_NOT_SATISFIABLE {
            return Ok(response);
        }
        // The storage's refusal of a presigned URL (an expired or altered
        // link) is not about the API token.
        let exit = match status {
            StatusCode::NOT_FOUND => Exit::NotFound,
            s if s.is_server_error() => Exit::Unavailable,
            _ => Exit::Error,
        };
        Err(Failure::new(
            exit,
            format!("download answered {status} (an expired link? run the command again for fresh ones)"),
        ))
    }

    fn unreachable(&self, error: &reqwest::Error) -> Failure {
        let api = &self.endpoint.api_url;
        if error.is_builder() {
            return Failure::usage(format!(
                "cannot make the request to {api}: {}",
                cause(error)
            ));
        }
        let what = if error.is_timeout() {
            "did not answer in time".to_owned()
        } else {
            format!("cannot be reached ({})", cause(error))
        };
        Failure::new(
            Exit::Unavailable,
            format!("the Wharf API at {api} {what}; is it running? (set --api-url, WHARF_API_URL or a profile)"),
        )
    }

    /// One line saying what the API refused, from its problem document.
    fn problem(&self, status: StatusCode, body: &str) -> Failure {
        let problem: Value = serde_json::from_str(body).unwrap_or_default();
        let detail = problem["detail"]
            .as_str()
            .or(problem["title"].as_str())
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("request failed"));
        let mut message = format!("{detail} ({})", status.as_u16());
        let fields: Vec<String> = problem["errors"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                let field = e["field"].as_str().unwrap_or("?");
                format!("{field}: {}", e["message"].as_str().unwrap_or("?"))
            })
            .collect();
        if !fields.is_empty() {
            message = format!("{message}: {}", fields.join("; "));
        }
        let exit = match status {
            StatusCode::UNAUTHORIZED => {
                let hint = match (&self.endpoint.token, &self.endpoint.withheld_by) {
                    (Some(_), _) => "the API does not accept this token".to_owned(),
                    (None, Some(profile)) => format!(
                        "profile {profile}'s token is sent only to its own api_url, not to a URL from --api-url or WHARF_API_URL"
                    ),
                    (None, None) => {
                        "no token given: set --token, WHARF_TOKEN or a profile's token".to_owned()
                    }
                };
                message = format!("{message}; {hint}");
                Exit::Unauthorized
            }
            StatusCode::FORBIDDEN => Exit::Unauthorized,
            StatusCode::NOT_FOUND => Exit::NotFound,
            s if s.is_client_error() => Exit::Refused,
            _ => Exit::Unavailable,
        };
        Failure::new(exit, message)
    }
}

/// Reads a JSON answer as the type the CLI shows it with.
pub fn read_as<T: DeserializeOwned>(value: &Value) -> Result<T, Failure> {
    serde_json::from_value(value.clone()).map_err(|e| {
        Failure::new(
            Exit::Unavailable,
            format!(
                "the API answered something this wharf cannot read ({e}); is it a newer version?"
            ),
        )
    })
}

/// The innermost cause of an HTTP error ("Connection refused (os error 111)").
fn cause(error: &reqwest::Error) -> String {
    let mut source: &dyn std::error::Error = error;
    while let Some(next) = source.source() {
        source = next;
    }
    source.to_string()
}
