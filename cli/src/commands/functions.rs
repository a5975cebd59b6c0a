//! `wharf functions`: the registered functions; show, register or delete
//! one.

use std::process::ExitCode;

use reqwest::Method;
use wharf_core::registry::Function;

use super::{segment, Session};
use crate::output::{print_json, print_table, table};

#[derive(Debug, clap::Subcommand)]
pub enum FunctionAction {
    /// Show one function: its spec, parameter schema and defaults.
    Show { name: String },
    /// Register a function from a JSON file (`description`, `spec`,
    /// `paramsSchema`, `defaults`), replacing one of the same name.
    Put {
        name: String,
        /// The definition (`-` reads stdin).
        file: String,
    },
    /// Remove a function (tasks made from it are kept).
    Delete { name: String },
}

pub async fn run(session: &Session, action: Option<FunctionAction>) -> anyhow::Result<ExitCode> {
    let client = &session.client;
    let answer = match &action {
        None => return list_functions(session).await,
        Some(FunctionAction::Show { name }) => {
            let name = segment(name, "function name")?;
            client.get(&format!("/v1/functions/{name}")).await?
        }
        Some(FunctionAction::Put { name, file }) => {
            let name = segment(name, "function name")?;
            let definition = super::submit::read_json_arg("the definition", &format!("@{file}"))?;
            let request = client.request(Method::PUT, &format!("/v1/functions/{name}"));
            client.json(request.json(&definition)).await?
        }
        Some(FunctionAction::Delete { name }) => {
            let name = segment(name, "function name")?;
            let request = client.request(Method::DELETE, &format!("/v1/functions/{name}"));
            client.send(request).await?;
            serde_json::json!({ "name": name, "deleted": true })
        }
    };
    match (session.json, &action) {
        (false, Some(FunctionAction::Put { name, .. })) => println!("{name} registered"),
        (false, Some(FunctionAction::Delete { name })) => println!("{name} deleted"),
        _ => print_json(&answer),
    }
    Ok(ExitCode::SUCCESS)
}

/// `GET /v1/functions`.
#[derive(serde::Deserialize)]
struct FunctionList {
    functions: Vec<Function>,
}

async fn list_functions(session: &Session) -> anyhow::Result<ExitCode> {
    session.show("/v1/functions", print_functions).await
}

fn print_functions(FunctionList { functions }: FunctionList) {
    let mut rows = table(["NAME", "KIND", "QUEUE", "DESCRIPTION"]);
    for function in &functions {
        rows.add_row(vec![
            function.name.clone(),
            function.spec.kind().to_string(),
            function
                .defaults
                .queue
                .clone()
                .unwrap_or_else(|| "default".into()),
            function.description.clone().unwrap_or_default(),
        ]);
    }
    print_table(&rows);
}
