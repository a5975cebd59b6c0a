//! Where the API is and which token to send: flags, then the environment
//! (`WHARF_API_URL`, `WHARF_TOKEN`), then a profile of the config file
//! (`~/.config/wharf/config.toml`), then the local default.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::exit::Failure;

/// The API a local `wharf-api --listen` serves by default.
pub const DEFAULT_API_URL: &str = "http://127.0.0.1:3000";

/// The options every subcommand takes.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ApiArgs {
    /// Base URL of the Wharf API [default: the profile's, else
    /// http://127.0.0.1:3000].
    #[arg(long, env = "WHARF_API_URL", global = true)]
    pub api_url: Option<String>,
    /// API token (mint one with `wharf admin token`) [default: the
    /// profile's].
    #[arg(long, env = "WHARF_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// Profile of the config file to read the URL and token from [default:
    /// the file's `default`].
    #[arg(long, env = "WHARF_PROFILE", global = true)]
    pub profile: Option<String>,
    /// The config file [default: $XDG_CONFIG_HOME/wharf/config.toml, else
    /// ~/.config/wharf/config.toml].
    #[arg(long, env = "WHARF_CONFIG", global = true)]
    pub config: Option<PathBuf>,
}

/// `config.toml`: named profiles and which one is used by default.
///
/// ```toml
/// default = "local"
///
/// [profiles.local]
/// api_url = "http://127.0.0.1:3000"
/// token = "wharf_…"
/// ```
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    default: Option<String>,
    #[serde(default)]
    profiles: BTreeMap<String, Profile>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Profile {
    api_url: Option<String>,
    token: Option<String>,
}

/// The API to talk to, resolved.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub api_url: String,
    pub token: Option<String>,
    /// The profile whose token was not sent because the URL is not the
    /// profile's own (it came from `--api-url` or `WHARF_API_URL`).
    pub withheld_by: Option<String>,
}

impl ApiArgs {
    /// Fills what flags and environment left unset from the profile, then
    /// from the defaults. A profile's token goes only to that profile's own
    /// URL: a URL given another way never gets it.
    pub fn resolve(&self) -> Result<Endpoint, Failure> {
        let path = self.config.clone().or_else(default_config_path);
        let file = match &path {
            Some(path) => read_config(path, self.config.is_some())?,
            None => ConfigFile::default(),
        };
        let (name, profile) = self
            .pick_profile(&file, path.as_deref())?
            .unwrap_or_default();
        let profile_url = normalized(profile.api_url.as_deref().unwrap_or(DEFAULT_API_URL));
        let api_url = match &self.api_url {
            Some(url) => normalized(url),
            None => profile_url.clone(),
        };
        let host = checked_host(&api_url)?;
        let mut withheld_by = None;
        let token = match (&self.token, profile.token) {
            (Some(token), _) => Some(token.clone()),
            (None, Some(token)) if api_url == profile_url => Some(token),
            (None, Some(_)) => {
                withheld_by = Some(name);
                None
            }
            (None, None) => None,
        };
        if token.is_some() && api_url.starts_with("http://") && !is_loopback(&host) {
            eprintln!("wharf: warning: the token goes to {host} over plain http; use https");
        }
        Ok(Endpoint {
            api_url,
            token,
            withheld_by,
        })
    }

    /// The profile asked for (`--profile`, else the file's `default`), by
    /// name.
    fn pick_profile(
        &self,
        file: &ConfigFile,
        path: Option<&Path>,
    ) -> Result<Option<(String, Profile)>, Failure> {
        let Some(name) = self.profile.as_ref().or(file.default.as_ref()) else {
            return Ok(None);
        };
        match file.profiles.get(name) {
            Some(profile) => Ok(Some((name.clone(), profile.clone()))),
            None => {
                let known: Vec<&str> = file.profiles.keys().map(String::as_str).collect();
                let place = path.map_or("no config file".to_owned(), |p| p.display().to_string());
                Err(Failure::usage(format!(
                    "no profile {name:?} in {place} (profiles there: {})",
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                )))
            }
        }
    }
}

fn normalized(url: &str) -> String {
    url.trim_end_matches('/').to_owned()
}

/// The host of an API URL, which must be http or https.
fn checked_host(api_url: &str) -> Result<String, Failure> {
    let bad = |why: &str| Failure::usage(format!("the API URL {api_url:?} {why}"));
    let url = url::Url::parse(api_url).map_err(|e| bad(&format!("does not parse ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("must start with http:// or https://"));
    }
    url.host_str()
        .map(str::to_owned)
        .ok_or_else(|| bad("names no host"))
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn default_config_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))?;
    Some(base.join("wharf").join("config.toml"))
}

/// The config file, or an empty one if it does not exist and was not asked
/// for by name.
fn read_config(path: &Path, named: bool) -> Result<ConfigFile, Failure> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !named => {
            return Ok(ConfigFile::default())
        }
        Err(e) => {
            return Err(Failure::usage(format!(
                "cannot read {}: {e}",
                path.display()
            )))
        }
    };
    let file: ConfigFile = toml::from_str(&text).map_err(|e| {
        let message = e.message().to_owned();
        Failure::usage(format!("{} does not parse: {message}", path.display()))
    })?;
    warn_if_readable_by_others(path, &file);
    Ok(file)
}

/// Tokens are secrets: a config file holding one should be the user's
/// alone (`chmod 600`), as ssh insists for its keys.
fn warn_if_readable_by_others(path: &Path, file: &ConfigFile) {
    use std::os::unix::fs::PermissionsExt;
    let holds_token = file.profiles.values().any(|p| p.token.is_some());
    let mode = std::fs::metadata(path).map_or(0, |m| m.permissions().mode());
    if holds_token && mode & 0o077 != 0 {
        eprintln!(
            "wharf: warning: {} holds tokens and is readable by others (mode {:o}); run chmod 600 on it",
            path.display(),
            mode & 0o777
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(args: ApiArgs, config: &str) -> Result<Endpoint, Failure> {
        let path = std::env::temp_dir().join(format!("wharf-config-{}.toml", ulid_like()));
        std::fs::write(&path, config).unwrap();
        let args = ApiArgs {
            config: Some(path.clone()),
            ..args
        };
        let endpoint = args.resolve();
        std::fs::remove_file(path).unwrap();
        endpoint
    }

    fn ulid_like() -> String {
        format!("{:?}-{:?}", std::process::id(), std::thread::current().id())
    }

    const CONFIG: &str = r#"
        default = "local"
        [profiles.local]
        api_url = "http://127.0.0.1:3000/"
        token = "local-token"
        [profiles.prod]
        api_url = "https://prod.example"
        token = "prod-token"
        "#;

    #[test]
    fn a_profile_gives_its_url_and_token_and_flags_win_over_it() {
        let local = resolved(ApiArgs::default(), CONFIG).unwrap();
        assert_eq!(local.api_url, "http://127.0.0.1:3000");
        assert_eq!(local.token.as_deref(), Some("local-token"));
        let prod = ApiArgs {
            profile: Some("prod".into()),
            token: Some("flag-token".into()),
            ..ApiArgs::default()
        };
        let prod = resolved(prod, CONFIG).unwrap();
        assert_eq!(prod.api_url, "https://prod.example");
        assert_eq!(prod.token.as_deref(), Some("flag-token"));

        let missing = ApiArgs {
            profile: Some("staging".into()),
            ..ApiArgs::default()
        };
        let error = resolved(missing, CONFIG).unwrap_err();
        assert!(error.message.contains("local, prod"), "{}", error.message);
    }

    #[test]
    fn a_profile_token_never_goes_to_another_url() {
        for (url, profile) in [
            ("https://elsewhere.example", None),
            ("https://elsewhere.example", Some("prod")),
        ] {
            let args = ApiArgs {
                api_url: Some(url.into()),
                profile: profile.map(str::to_owned),
                ..ApiArgs::default()
            };
            let endpoint = resolved(args, CONFIG).unwrap();
            assert_eq!(endpoint.token, None, "{profile:?}");
            let expected = profile.unwrap_or("local");
            assert_eq!(endpoint.withheld_by.as_deref(), Some(expected));
        }
        // The profile's own URL, given again (with a trailing slash): sent.
        let args = ApiArgs {
            api_url: Some("https://prod.example/".into()),
            profile: Some("prod".into()),
            ..ApiArgs::default()
        };
        assert_eq!(
            resolved(args, CONFIG).unwrap().token.as_deref(),
            Some("prod-token")
        );
    }

    #[test]
    fn an_api_url_must_be_http_or_https_with_a_host() {
        for url in ["localhost:3000", "ftp://h", "http://"] {
            let args = ApiArgs {
                api_url: Some(url.into()),
                ..ApiArgs::default()
            };
            assert!(resolved(args, "").is_err(), "{url}");
        }
        assert!(is_loopback("127.0.0.1") && is_loopback("[::1]") && is_loopback("localhost"));
        assert!(!is_loopback("10.0.0.1") && !is_loopback("example.com"));
    }

    #[test]
    fn a_misspelt_key_is_refused_rather_than_ignored() {
        let error = toml::from_str::<ConfigFile>("[profiles.x]\napi-url = \"http://x\"\n");
        assert!(error.unwrap_err().message().contains("api-url"));
    }
}
