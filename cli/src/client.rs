//! A small client of Wharf's HTTP API: bearer token, JSON, and problem
//! documents turned into readable errors.

use anyhow::{bail, Context};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;

#[derive(Debug, Clone, clap::Args)]
pub struct ApiArgs {
    /// Base URL of the Wharf API.
    #[arg(long, env = "WHARF_API_URL", default_value = "http://127.0.0.1:3000")]
    pub api_url: String,
    /// API token (mint one with `wharf admin token`).
    #[arg(long, env = "WHARF_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    pub fn new(args: &ApiArgs) -> Self {
        Client {
            http: reqwest::Client::new(),
            base: args.api_url.trim_end_matches('/').to_owned(),
            token: args.token.clone(),
        }
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Sends a request and returns its JSON body, or the problem as an error.
    pub async fn json(&self, request: RequestBuilder) -> anyhow::Result<Value> {
        let response = request.send().await.context("cannot reach the Wharf API")?;
        let response = ok_or_problem(response).await?;
        response
            .json()
            .await
            .context("the API answered with invalid JSON")
    }

    pub async fn get_json(&self, path: &str) -> anyhow::Result<Value> {
        self.json(self.request(Method::GET, path)).await
    }

    /// Downloads a URL (a presigned one: no token is sent).
    pub async fn download(&self, url: &str) -> anyhow::Result<Response> {
        let response = self.http.get(url).send().await.context("download failed")?;
        ok_or_problem(response).await
    }
}

async fn ok_or_problem(response: Response) -> anyhow::Result<Response> {
    let status = response.status();
    if status.is_success() || status == StatusCode::NOT_MODIFIED {
        return Ok(response);
    }
    let body = response.text().await.unwrap_or_default();
    let Ok(problem) = serde_json::from_str::<Value>(&body) else {
        bail!("{status}: {body}");
    };
    let mut message = format!(
        "{status}: {}",
        problem["detail"].as_str().unwrap_or("request failed")
    );
    for error in problem["errors"].as_array().into_iter().flatten() {
        message.push_str(&format!(
            "\n  {}: {}",
            error["field"].as_str().unwrap_or("?"),
            error["message"].as_str().unwrap_or("?")
        ));
    }
    bail!(message)
}
