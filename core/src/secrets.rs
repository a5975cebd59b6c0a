//! Secrets a task names (`secrets: [{name, valueFrom, as}]`): references to
//! SSM parameters and Secrets Manager secrets. Only names and references
//! live here and in the record; the worker resolves the values at attempt
//! start with its own credentials, and only under its prefixes.

use serde::{Deserialize, Serialize};

use crate::validate::FieldError;

/// At most this many secrets per task.
pub const MAX_SECRETS: usize = 50;

/// One secret a task gets, by reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretRef {
    /// The environment variable the task reads it from (or, `as: file`, the
    /// file's name in `$WHARF_SECRETS_DIR`).
    pub name: String,
    /// An SSM parameter name (starting with `/`) or ARN, or a Secrets
    /// Manager secret name or ARN, optionally followed by `:jsonKey` for one
    /// key of a JSON secret.
    pub value_from: String,
    #[serde(default, rename = "as")]
    pub deliver_as: DeliverAs,
}

/// How the task gets a secret's value.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::Display,
    strum::EnumString,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum DeliverAs {
    /// In the task's environment.
    #[default]
    Env,
    /// In the file `$WHARF_SECRETS_DIR/NAME` (mode 0400, the task's own).
    File,
}

/// Where a secret's value lives, parsed from `valueFrom`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    /// An SSM parameter (a SecureString is decrypted).
    Parameter {
        /// The name or ARN, as the request to SSM names it.
        id: String,
        /// The parameter's name (`/…`), which prefixes are matched against.
        name: String,
    },
    /// A Secrets Manager secret, or one key of a JSON one.
    Secret {
        /// The name or ARN, as the request to Secrets Manager names it.
        id: String,
        /// The secret's name, which prefixes are matched against.
        name: String,
        json_key: Option<String>,
    },
}

impl Reference {
    /// Parses a `valueFrom`; the error says what is wrong with it.
    pub fn parse(value_from: &str) -> Result<Reference, String> {
        if value_from.is_empty() {
            return Err("must not be empty".into());
        }
        if value_from.starts_with('/') {
            return parameter(value_from, value_from);
        }
        match value_from.strip_prefix("arn:") {
            Some(arn) => parse_arn(value_from, arn),
            None => {
                let (name, json_key) = match value_from.split_once(':') {
                    Some((name, key)) => (name, Some(key)),
                    None => (value_from, None),
                };
                secret(name, name, json_key)
            }
        }
    }

    /// The name prefixes are matched against.
    pub fn name(&self) -> &str {
        match self {
            Reference::Parameter { name, .. } | Reference::Secret { name, .. } => name,
        }
    }
}

/// `arn:PARTITION:ssm:REGION:ACCOUNT:parameter/NAME` or
/// `arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME[:jsonKey]`.
fn parse_arn(whole: &str, arn: &str) -> Result<Reference, String> {
    let parts: Vec<&str> = arn.split(':').collect();
    match parts.as_slice() {
        [_, "ssm", _, _, resource] => match resource.strip_prefix("parameter") {
            Some(name) if name.starts_with('/') => parameter(whole, name),
            _ => Err("an SSM ARN must end in :parameter/NAME".into()),
        },
        [_, "secretsmanager", _, _, "secret", name, rest @ ..] if rest.len() <= 1 => {
            let id = format!("arn:{}", parts[..6].join(":"));
            secret(&id, name, rest.first().copied())
        }
        _ => Err("expected an SSM parameter name (/…), an SSM or Secrets Manager ARN, or a Secrets Manager name".into()),
    }
}

fn parameter(id: &str, name: &str) -> Result<Reference, String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "/_.-".contains(c);
    if name.len() < 2 || !name.chars().all(allowed) || name.ends_with('/') {
        return Err(
            "an SSM parameter name is /… of letters, digits and / _ . - (not ending in /)".into(),
        );
    }
    Ok(Reference::Parameter {
        id: id.to_owned(),
        name: name.to_owned(),
    })
}

fn secret(id: &str, name: &str, json_key: Option<&str>) -> Result<Reference, String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c);
    if name.is_empty() || !name.chars().all(allowed) {
        return Err(
            "a Secrets Manager name is letters, digits and / _ + = . @ - (then :jsonKey if any)"
                .into(),
        );
    }
    if json_key == Some("") {
        return Err("the JSON key after ':' must not be empty".into());
    }
    Ok(Reference::Secret {
        id: id.to_owned(),
        name: name.to_owned(),
        json_key: json_key.map(str::to_owned),
    })
}

/// Name prefixes under which secrets may be referenced: a worker's
/// `--secret-prefixes`, or what a token's `secrets=` grants. A prefix that
/// starts with `/` covers SSM parameters, any other Secrets Manager
/// secrets, so no prefix of one service ever lets a name of the other pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prefixes(Vec<String>);

impl Prefixes {
    pub fn new(prefixes: impl IntoIterator<Item = String>) -> Prefixes {
        Prefixes(prefixes.into_iter().filter(|p| !p.is_empty()).collect())
    }

    /// The workers' default: `/wharf/` for SSM, `wharf/` for Secrets Manager.
    pub fn workers_default() -> Prefixes {
        Prefixes::new(["/wharf/".to_owned(), "wharf/".to_owned()])
    }

    pub fn allows(&self, reference: &Reference) -> bool {
        let ssm = matches!(reference, Reference::Parameter { .. });
        self.0
            .iter()
            .any(|prefix| prefix.starts_with('/') == ssm && reference.name().starts_with(prefix))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
}

/// Checks a task's secrets: at most [`MAX_SECRETS`], each named as an
/// environment variable (not `WHARF_*`, not twice, not also in the spec's
/// `env`), each reference well formed.
pub fn check(secrets: &[SecretRef], env: &[&String], errors: &mut Vec<FieldError>) {
    if secrets.len() > MAX_SECRETS {
        let message = format!("at most {MAX_SECRETS} secrets, got {}", secrets.len());
        errors.push(FieldError::new("secrets", message));
    }
    for (i, secret) in secrets.iter().enumerate() {
        let field = |part: &str| format!("secrets[{i}].{part}");
        if let Err(message) = check_name(&secret.name) {
            errors.push(FieldError::new(field("name"), message));
        } else if secrets[..i].iter().any(|other| other.name == secret.name) {
            errors.push(FieldError::new(field("name"), "named twice"));
        } else if env.contains(&&secret.name) {
            errors.push(FieldError::new(
                field("name"),
                "also set in the spec's env; a variable comes from one place",
            ));
        }
        if let Err(message) = Reference::parse(&secret.value_from) {
            errors.push(FieldError::new(field("valueFrom"), message));
        }
    }
}

fn check_name(name: &str) -> Result<(), &'static str> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') || name.len() > 128 {
        return Err("a secret's name is an environment variable name: [A-Za-z_][A-Za-z0-9_]*, at most 128 characters");
    }
    if name.starts_with("WHARF_") {
        return Err("WHARF_* names are reserved for the worker");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(value_from: &str) -> Reference {
        Reference::parse(value_from).unwrap()
    }

    #[test]
    fn references_name_their_service_and_the_name_prefixes_match() {
        assert_eq!(
            parsed("/wharf/db"),
            Reference::Parameter {
                id: "/wharf/db".into(),
                name: "/wharf/db".into()
            }
        );
        let arn = "arn:aws:ssm:eu-west-1:123456789012:parameter/wharf/db";
        assert_eq!(parsed(arn).name(), "/wharf/db");
        assert_eq!(
            parsed("wharf/api:token"),
            Reference::Secret {
                id: "wharf/api".into(),
                name: "wharf/api".into(),
                json_key: Some("token".into())
            }
        );
        let arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:wharf/api-AbCdEf";
        assert_eq!(
            parsed(&format!("{arn}:token")),
            Reference::Secret {
                id: arn.into(),
                name: "wharf/api-AbCdEf".into(),
                json_key: Some("token".into())
            }
        );
        assert_eq!(parsed(arn).name(), "wharf/api-AbCdEf");
    }

    #[test]
    fn malformed_references_say_what_is_wrong() {
        for bad in [
            "",
            "/",
            "/wharf/",
            "/wh arf",
            "arn:aws:ssm:r:a:db",
            "arn:aws:s3:::bucket",
            "arn:aws:secretsmanager:r:a:secret:x:k:extra",
            "wharf/api:",
            "wh arf",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn a_prefix_covers_the_names_of_its_own_service_only() {
        let prefixes = Prefixes::workers_default();
        assert!(prefixes.allows(&parsed("/wharf/db")));
        assert!(prefixes.allows(&parsed("wharf/db")));
        assert!(!prefixes.allows(&parsed("/other/db")));
        assert!(!prefixes.allows(&parsed("wharfish/db")));
        let ssm_only = Prefixes::new(["/".to_owned()]);
        assert!(ssm_only.allows(&parsed("/anything")));
        assert!(!ssm_only.allows(&parsed("anything")));
        let arn = "arn:aws:secretsmanager:r:1:secret:/wharf/x-AbCdEf";
        assert!(
            !prefixes.allows(&parsed(arn)),
            "an SSM prefix let a secret pass"
        );
        assert!(!Prefixes::default().allows(&parsed("/wharf/db")));
    }

    #[test]
    fn bad_secrets_are_named_by_field() {
        let secret = |name: &str, value_from: &str| SecretRef {
            name: name.into(),
            value_from: value_from.into(),
            deliver_as: DeliverAs::Env,
        };
        let secrets = vec![
            secret("DB", "/wharf/db"),
            secret("DB", "/wharf/db2"),
            secret("WHARF_X", "/wharf/x"),
            secret("1X", "/wharf/x"),
            secret("OK", ""),
            secret("PATH", "/wharf/p"),
        ];
        let mut errors = Vec::new();
        check(&secrets, &[&"PATH".to_owned()], &mut errors);
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "secrets[1].name",
                "secrets[2].name",
                "secrets[3].name",
                "secrets[4].valueFrom",
                "secrets[5].name"
            ]
        );
        let many = vec![secret("A", "/wharf/a"); MAX_SECRETS + 1];
        let mut errors = Vec::new();
        check(&many, &[], &mut errors);
        assert_eq!(errors[0].field, "secrets");
    }
}
