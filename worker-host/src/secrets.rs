//! A task's secrets, resolved at attempt start with the worker's own
//! credentials and only under its `--secret-prefixes`: the values go into
//! the task's environment or its secrets directory, and into the
//! [`Redaction`] its log, result and message pass through. A value is never
//! logged, stored or put in an error: errors name the reference.

pub mod aws;
pub mod redact;

use std::sync::Arc;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;
use wharf_core::retry::retry_transient;
use wharf_core::secrets::{DeliverAs, Prefixes, Reference, SecretRef};
use zeroize::Zeroizing;

pub use redact::{Redaction, Redactor, MIN_SECRET_BYTES};

/// A value as the service answered it.
pub struct Fetched {
    /// The name the service gives it (checked against the prefixes again:
    /// an ARN may name something else than it seems to).
    pub name: String,
    pub value: Zeroizing<Vec<u8>>,
}

/// Where values are read from: SSM and Secrets Manager ([`aws::AwsSecrets`]).
#[async_trait]
pub trait SecretSource: Send + Sync {
    /// The value `reference` names; `None` when there is no such parameter
    /// or secret (or no such key in it).
    async fn fetch(&self, reference: &Reference) -> wharf_core::Result<Option<Fetched>>;
}

/// The secrets of one attempt, resolved.
pub struct Resolved {
    /// `NAME=value` for the task's environment.
    pub env: Vec<(String, Zeroizing<String>)>,
    /// `$WHARF_SECRETS_DIR/NAME` files.
    pub files: Vec<(String, Zeroizing<Vec<u8>>)>,
    pub redaction: Arc<Redaction>,
}

/// Names only: a value is never printed.
impl std::fmt::Debug for Resolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let env: Vec<&str> = self.env.iter().map(|(n, _)| n.as_str()).collect();
        let files: Vec<&str> = self.files.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("Resolved")
            .field("env", &env)
            .field("files", &files)
            .finish_non_exhaustive()
    }
}

impl Resolved {
    /// No secrets.
    pub fn none() -> Resolved {
        Resolved {
            env: Vec::new(),
            files: Vec::new(),
            redaction: Arc::new(Redaction::none()),
        }
    }
}

/// Why an attempt's secrets could not be resolved; it names the secret and
/// its reference, never a value.
#[derive(Debug, thiserror::Error)]
#[error("secret {name} ({value_from}): {problem}")]
pub struct SecretFailure {
    name: String,
    value_from: String,
    problem: String,
}

/// Resolves `secrets` through `source`, each only if `prefixes` allow its
/// reference and the name the service answers; outages are waited out
/// until `stop`.
pub async fn resolve(
    source: &dyn SecretSource,
    prefixes: &Prefixes,
    secrets: &[SecretRef],
    stop: &CancellationToken,
) -> Result<Resolved, SecretFailure> {
    if secrets.is_empty() {
        return Ok(Resolved::none());
    }
    let mut resolved = Resolved::none();
    for secret in secrets {
        let fail = |problem: String| SecretFailure {
            name: secret.name.clone(),
            value_from: secret.value_from.clone(),
            problem,
        };
        let value = resolve_one(source, prefixes, &secret.value_from, stop)
            .await
            .map_err(fail)?;
        match secret.deliver_as {
            DeliverAs::Env => {
                let text = env_value(value).map_err(fail)?;
                resolved.env.push((secret.name.clone(), text));
            }
            DeliverAs::File => resolved.files.push((secret.name.clone(), value)),
        }
    }
    let env = resolved.env.iter().map(|(n, v)| (n.as_str(), v.as_bytes()));
    let files = resolved
        .files
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_slice()));
    let redaction = Redaction::new(env.chain(files)).map_err(|too_short| SecretFailure {
        value_from: secrets
            .iter()
            .find(|s| s.name == too_short.name)
            .map(|s| s.value_from.clone())
            .unwrap_or_default(),
        name: too_short.name,
        problem: format!("too short to redact (fewer than {MIN_SECRET_BYTES} bytes)"),
    })?;
    resolved.redaction = Arc::new(redaction);
    Ok(resolved)
}

/// A value as an environment variable: text without NUL.
fn env_value(value: Zeroizing<Vec<u8>>) -> Result<Zeroizing<String>, String> {
    let unfit =
        || "an environment variable must be text without NUL bytes; use as: file".to_owned();
    if value.contains(&0) {
        return Err(unfit());
    }
    let text = std::str::from_utf8(&value).map_err(|_| unfit())?;
    Ok(Zeroizing::new(text.to_owned()))
}

async fn resolve_one(
    source: &dyn SecretSource,
    prefixes: &Prefixes,
    value_from: &str,
    stop: &CancellationToken,
) -> Result<Zeroizing<Vec<u8>>, String> {
    let reference = Reference::parse(value_from)?;
    let outside = || {
        format!(
            "not under this worker's --secret-prefixes ({})",
            prefixes.as_slice().join(", ")
        )
    };
    if !prefixes.allows(&reference) {
        return Err(outside());
    }
    let fetched = retry_transient("reading a secret", stop, || source.fetch(&reference))
        .await
        .map_err(|err| format!("cannot be read: {err}"))?
        .ok_or_else(|| "no such parameter, secret or key".to_owned())?;
    let answered = match &reference {
        Reference::Parameter { .. } => Reference::Parameter {
            id: fetched.name.clone(),
            name: fetched.name.clone(),
        },
        Reference::Secret { json_key, .. } => Reference::Secret {
            id: fetched.name.clone(),
            name: fetched.name.clone(),
            json_key: json_key.clone(),
        },
    };
    if !prefixes.allows(&answered) {
        return Err(outside());
    }
    Ok(fetched.value)
}
