//! Bearer tokens. Tokens are configured only as SHA-256 hashes with
//! their scopes; a presented token is hashed and compared in constant time
//! against every configured hash. Tokens are never stored or logged.

use std::str::FromStr;

use axum::http::{header, HeaderMap, StatusCode};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use wharf_core::model::Scope;
use wharf_core::secrets::{Prefixes, Reference, SecretRef};
use wharf_core::validate::FieldError;

use crate::problem::Problem;

#[derive(Debug, Clone)]
struct TokenEntry {
    hash: [u8; 32],
    scopes: Vec<Scope>,
    /// The secrets it may reference (`secrets=PREFIX`, any number of them).
    secrets: Prefixes,
}

/// The configured tokens: `WHARF_API_TOKENS=<sha256 hex>:<scope>+<scope>,…`,
/// where a scope may also be `secrets=PREFIX` (the secret references the
/// token may name; several allowed).
#[derive(Debug, Clone, Default)]
pub struct Tokens(Vec<TokenEntry>);

/// Why `WHARF_API_TOKENS` cannot be read: the entry (counted from 1) and
/// what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("token {entry}: {problem}")]
pub struct TokensError {
    pub entry: usize,
    pub problem: TokenProblem,
}

/// What is wrong with one entry of `WHARF_API_TOKENS`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenProblem {
    #[error("expected <sha256 hex>:<scopes>")]
    NoScopes,
    #[error("the hash must be 64 hex digits")]
    Hash,
    #[error("unknown scope {0:?} (expected read, submit, admin or secrets=PREFIX)")]
    UnknownScope(String),
    #[error("secrets= needs a prefix (e.g. secrets=/wharf/team-a/)")]
    NoSecretPrefix,
}

impl FromStr for Tokens {
    type Err = TokensError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let entries = s
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .enumerate()
            .map(|(i, entry)| {
                parse_entry(entry).map_err(|problem| TokensError {
                    entry: i + 1,
                    problem,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Tokens(entries))
    }
}

/// One `<sha256 hex>:<scope>+<scope>` entry; a scope may be
/// `secrets=PREFIX`.
fn parse_entry(entry: &str) -> Result<TokenEntry, TokenProblem> {
    let (hash_hex, scopes) = entry.split_once(':').ok_or(TokenProblem::NoScopes)?;
    let mut hash = [0u8; 32];
    hex::decode_to_slice(hash_hex, &mut hash).map_err(|_| TokenProblem::Hash)?;
    let mut granted = Vec::new();
    let mut prefixes = Vec::new();
    for part in scopes.split('+') {
        match part.strip_prefix("secrets=") {
            Some("") => return Err(TokenProblem::NoSecretPrefix),
            Some(prefix) => prefixes.push(prefix.to_owned()),
            None => granted.push(
                Scope::from_str(part).map_err(|_| TokenProblem::UnknownScope(part.to_owned()))?,
            ),
        }
    }
    Ok(TokenEntry {
        hash,
        scopes: granted,
        secrets: Prefixes::new(prefixes),
    })
}

impl Tokens {
    /// One token, given in the clear (a worker host's `WHARF_WORKER_TOKEN`),
    /// with its scopes; only its hash is kept.
    pub fn single(token: &str, scopes: Vec<Scope>) -> Tokens {
        let hash = Sha256::digest(token.as_bytes()).into();
        let secrets = Prefixes::default();
        Tokens(vec![TokenEntry {
            hash,
            scopes,
            secrets,
        }])
    }

    /// The caller a request's `Authorization: Bearer` token makes, or `401`.
    pub fn caller(&self, headers: &HeaderMap) -> Result<Caller, Problem> {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token)
            .ok_or_else(Problem::unauthorized)?;
        let entry = self
            .entry_of(token.trim())
            .ok_or_else(Problem::unauthorized)?;
        Ok(Caller {
            scopes: entry.scopes.clone(),
            secrets: entry.secrets.clone(),
            client: hex::encode(&entry.hash[..8]),
        })
    }

    /// The entry of a presented token, if it is one of ours.
    fn entry_of(&self, token: &str) -> Option<&TokenEntry> {
        let presented: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        // Look at every entry, whatever matches, so timing tells nothing.
        let mut found = None;
        for entry in &self.0 {
            if bool::from(entry.hash.ct_eq(&presented)) {
                found = Some(entry);
            }
        }
        found
    }
}

/// The authenticated caller of a request; extracting it answers `401` when
/// the request carries no valid token.
#[derive(Debug, Clone)]
pub struct Caller {
    scopes: Vec<Scope>,
    secrets: Prefixes,
    /// Who the caller is, for what belongs to a client (idempotency keys):
    /// the first 16 hex digits of its token's configured hash.
    pub client: String,
}

impl Caller {
    /// Whether the caller has `scope` (`admin` has every scope).
    pub fn may(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope) || self.scopes.contains(&Scope::Admin)
    }

    /// `403` unless the caller has `scope` (`admin` has every scope).
    pub fn require(&self, scope: Scope) -> Result<(), Problem> {
        if self.may(scope) {
            Ok(())
        } else {
            Err(Problem::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("this token lacks the {scope} scope"),
            ))
        }
    }

    /// `403` naming `secrets[i].valueFrom` unless the caller may reference
    /// every one of `secrets`: those under its `secrets=` prefixes, or any
    /// for `admin` (the workers still resolve only under their own).
    pub fn may_reference(&self, secrets: &[SecretRef]) -> Result<(), Problem> {
        if self.scopes.contains(&Scope::Admin) {
            return Ok(());
        }
        let forbidden = secrets.iter().enumerate().find(|(_, secret)| {
            Reference::parse(&secret.value_from).map_or(true, |r| !self.secrets.allows(&r))
        });
        let Some((i, secret)) = forbidden else {
            return Ok(());
        };
        let field = format!("secrets[{i}].valueFrom");
        let detail = match self.secrets.as_slice() {
            [] => {
                format!("{field}: this token may reference no secrets (it has no secrets= scope)")
            }
            granted => format!(
                "{field}: this token may not reference {:?} (it may reference names under {})",
                secret.value_from,
                granted.join(", ")
            ),
        };
        let message = "not under this token's secrets= prefixes";
        Err(Problem {
            errors: vec![FieldError::new(field, message)],
            ..Problem::new(StatusCode::FORBIDDEN, "forbidden-secret", detail)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(token: &str) -> String {
        hex::encode(Sha256::digest(token.as_bytes()))
    }

    fn scopes_of<'a>(tokens: &'a Tokens, token: &str) -> Option<&'a [Scope]> {
        tokens.entry_of(token).map(|entry| entry.scopes.as_slice())
    }

    #[test]
    fn tokens_are_matched_by_hash_with_their_scopes() {
        let tokens: Tokens = format!("{}:read+submit, {}:admin", hash("alpha"), hash("beta"))
            .parse()
            .unwrap();
        assert_eq!(
            scopes_of(&tokens, "alpha"),
            Some(&[Scope::Read, Scope::Submit][..])
        );
        assert_eq!(scopes_of(&tokens, "beta"), Some(&[Scope::Admin][..]));
        assert_eq!(scopes_of(&tokens, "gamma"), None);
    }

    #[test]
    fn malformed_configuration_is_refused_clearly() {
        let err = Tokens::from_str("abc:read").unwrap_err().to_string();
        assert!(err.contains("64 hex"), "{err}");
        let err = Tokens::from_str(&format!("{}:write", hash("a")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown scope \"write\""), "{err}");
        let err = Tokens::from_str(&format!("{}:submit+secrets=", hash("a")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("secrets= needs a prefix"), "{err}");
        assert!(Tokens::from_str("nocolon").is_err());
        assert!(Tokens::from_str("").unwrap().0.is_empty());
    }

    #[test]
    fn admin_has_every_scope() {
        let caller = Caller {
            scopes: vec![Scope::Admin],
            secrets: Prefixes::default(),
            client: "a".into(),
        };
        assert!(caller.require(Scope::Submit).is_ok());
        let reader = Caller {
            scopes: vec![Scope::Read],
            secrets: Prefixes::default(),
            client: "r".into(),
        };
        assert_eq!(
            reader.require(Scope::Submit).unwrap_err().status,
            StatusCode::FORBIDDEN
        );
    }

    #[test]
    fn a_token_references_only_the_secrets_under_its_prefixes() {
        let config = format!(
            "{}:submit+secrets=/wharf/team-a/+secrets=wharf/team-a/,{}:submit,{}:admin",
            hash("a"),
            hash("plain"),
            hash("root")
        );
        let tokens: Tokens = config.parse().unwrap();
        let caller = |token: &str| {
            let mut headers = HeaderMap::new();
            let value = format!("Bearer {token}").parse().unwrap();
            headers.insert(header::AUTHORIZATION, value);
            tokens.caller(&headers).unwrap()
        };
        let secret = |value_from: &str| SecretRef {
            name: "S".into(),
            value_from: value_from.into(),
            deliver_as: Default::default(),
        };
        let team_a = [secret("/wharf/team-a/db"), secret("wharf/team-a/api:key")];
        assert!(caller("a").may_reference(&team_a).is_ok());
        let other = [secret("/wharf/team-a/db"), secret("/wharf/team-b/db")];
        let refused = caller("a").may_reference(&other).unwrap_err();
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        assert_eq!(refused.errors[0].field, "secrets[1].valueFrom");
        assert!(
            refused.detail.contains("/wharf/team-b/db"),
            "{}",
            refused.detail
        );
        let refused = caller("plain").may_reference(&team_a).unwrap_err();
        assert_eq!(refused.errors[0].field, "secrets[0].valueFrom");
        assert!(caller("plain").may_reference(&[]).is_ok());
        assert!(caller("root").may_reference(&other).is_ok());
    }
}
