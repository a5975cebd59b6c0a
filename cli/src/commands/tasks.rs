//! `wharf submit`, `get`, `wait`.

use std::io::Read;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use reqwest::Method;
use serde_json::Value;
use wharf_core::model::Status;

use crate::client::{ApiArgs, Client};

pub async fn submit(
    api: &ApiArgs,
    file: &str,
    idempotency_key: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let body = if file == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text)?;
        text
    } else {
        std::fs::read_to_string(file).with_context(|| format!("cannot read {file}"))?
    };
    let client = Client::new(api);
    let mut request = client
        .request(Method::POST, "/v1/tasks")
        .header("content-type", "application/json")
        .body(body);
    if let Some(key) = idempotency_key {
        request = request.header("idempotency-key", key);
    }
    print_json(&client.json(request).await?);
    Ok(ExitCode::SUCCESS)
}

pub async fn get(api: &ApiArgs, id: &str) -> anyhow::Result<ExitCode> {
    let task = Client::new(api)
        .get_json(&format!("/v1/tasks/{id}"))
        .await?;
    print_json(&task);
    Ok(ExitCode::SUCCESS)
}

pub async fn wait(api: &ApiArgs, id: &str, timeout: u64) -> anyhow::Result<ExitCode> {
    let client = Client::new(api);
    let deadline = Instant::now() + Duration::from_secs(timeout);
    loop {
        let task = client.get_json(&format!("/v1/tasks/{id}")).await?;
        let status: Status = serde_json::from_value(task["status"].clone())
            .with_context(|| format!("task {id} has no readable status"))?;
        if status.is_terminal() {
            print_json(&task);
            return Ok(if status == Status::Succeeded {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            });
        }
        if Instant::now() >= deadline {
            bail!("task {id} is still {status} after {timeout} s");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn print_json(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}
