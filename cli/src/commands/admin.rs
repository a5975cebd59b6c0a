//! `wharf admin provision` and `wharf admin token`.

use std::process::ExitCode;

use rand::RngCore;
use sha2::{Digest, Sha256};
use wharf_core::aws::load_aws;
use wharf_core::config::ResourceNames;
use wharf_core::model::Scope;
use wharf_core::provision::provision;

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
    },
}

pub async fn run(admin: Admin) -> anyhow::Result<ExitCode> {
    match admin {
        Admin::Provision { names } => {
            let aws = load_aws().await;
            for resource in provision(&aws, &names).await? {
                let state = if resource.created {
                    "created"
                } else {
                    "exists"
                };
                println!("{:<7} {:<8} {}", resource.kind, state, resource.name);
            }
        }
        Admin::Token { scopes } => {
            let mut bytes = [0u8; 32];
            rand::rng().fill_bytes(&mut bytes);
            let token = format!("wharf_{}", hex::encode(bytes));
            let hash = hex::encode(Sha256::digest(token.as_bytes()));
            println!("token: {token}");
            let scopes: Vec<String> = scopes.iter().map(Scope::to_string).collect();
            println!("WHARF_API_TOKENS={hash}:{}", scopes.join("+"));
        }
    }
    Ok(ExitCode::SUCCESS)
}
