//! `wharf admin provision` and `wharf admin token`.

use std::process::ExitCode;

use rand::RngCore;
use sha2::{Digest, Sha256};
use wharf_core::aws::load_aws;
use wharf_core::config::ResourceNames;
use wharf_core::model::Scope;
use wharf_core::provision::provision;

use crate::exit::Failure;
use crate::output::print_json;

#[derive(Debug, clap::Subcommand)]
pub enum Admin {
    /// Create every table, queue (with its DLQ) and the bucket, against
    /// whatever AWS_ENDPOINT_URL names. Safe to run again.
    Provision {
        #[command(flatten)]
        names: ResourceNames,
    },
    /// Mint an API token; prints it and the WHARF_API_TOKENS entry (its
    /// hash) for the API's configuration.
    Token {
        /// Scopes the token grants.
        #[arg(long, value_enum, default_value = "read,submit", value_delimiter = ',')]
        scopes: Vec<Scope>,
        /// A prefix of the secret references the token may name in tasks
        /// (`/wharf/team-a/` for SSM, `wharf/team-a/` for Secrets
        /// Manager); repeatable. Without one it may name none (unless admin).
        #[arg(long = "secrets", value_name = "PREFIX")]
        secrets: Vec<String>,
    },
}

/// Runs an admin command; `json` prints what it made as JSON.
pub async fn run(admin: Admin, json: bool) -> anyhow::Result<ExitCode> {
    match admin {
        Admin::Provision { names } => {
            let aws = load_aws().await;
            for resource in provision(&aws, &names).await? {
                let state = if resource.created {
                    "created"
                } else {
                    "exists"
                };
                match json {
                    true => println!(
                        "{}",
                        serde_json::json!({"kind": resource.kind.to_string(), "name": resource.name, "created": resource.created})
                    ),
                    false => println!("{:<7} {:<8} {}", resource.kind, state, resource.name),
                }
            }
        }
        Admin::Token { scopes, secrets } => {
            let mut bytes = [0u8; 32];
            rand::rng().fill_bytes(&mut bytes);
            let token = format!("wharf_{}", hex::encode(bytes));
            let hash = hex::encode(Sha256::digest(token.as_bytes()));
            if let Some(bad) = secrets
                .iter()
                .find(|p| p.is_empty() || p.contains([',', '+']))
            {
                return Err(Failure::usage(format!(
                    "--secrets {bad:?}: a prefix is non-empty, without ',' or '+'"
                ))
                .into());
            }
            let granted = secrets.iter().map(|prefix| format!("secrets={prefix}"));
            let scopes: Vec<String> = scopes.iter().map(Scope::to_string).chain(granted).collect();
            let entry = format!("{hash}:{}", scopes.join("+"));
            match json {
                true => print_json(&serde_json::json!({"token": token, "apiTokensEntry": entry})),
                false => {
                    println!("token: {token}");
                    println!("WHARF_API_TOKENS={entry}");
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
