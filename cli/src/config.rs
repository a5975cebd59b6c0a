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
}

impl ApiArgs {
    /// Fills what flags and environment left unset from the profile, then
    /// from the defaults.
    pub fn resolve(&self) -> Result<Endpoint, Failure> {
        let path = self.config.clone().or_else(default_config_path);
        let file = match &path {
            Some(path) => read_config(path, self.config.is_some())?,
            None => ConfigFile::default(),
        };
        let profile = self.pick_profile(&file, path.as_deref())?;
        let api_url = self
            .api_url
            .clone()
            .or(profile.api_url)
            .unwrap_or_else(|| DEFAULT_API_URL.to_owned());
        Ok(Endpoint {
            api_url: api_url.trim_end_matches('/').to_owned(),
            token: self.token.clone().or(profile.token),
        })
    }

    fn pick_profile(&self, file: &ConfigFile, path: Option<&Path>) -> Result<Profile, Failure> {
        let Some(name) = self.profile.as_ref().or(file.default.as_ref()) else {
            return Ok(Profile::default());
        };
        file.profiles.get(name).cloned().ok_or_else(|| {
            let known: Vec<&str> = file.profiles.keys().map(String::as_str).collect();
            let place = path.map_or("no config file".to_owned(), |p| p.display().to_string());
            Failure::usage(format!(
                "no profile {name:?} in {place} (profiles there: {})",
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            ))
        })
    }
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

    fn file(text: &str) -> ConfigFile {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn flags_and_environment_win_over_the_profile_which_wins_over_the_default() {
        let config = file(
            r#"
            default = "local"
            [profiles.local]
            api_url = "http://local:3000/"
            token = "local-token"
            [profiles.prod]
            api_url = "https://prod.example"
            "#,
        );
        let args = ApiArgs::default();
        let profile = args.pick_profile(&config, None).unwrap();
        assert_eq!(profile.api_url.as_deref(), Some("http://local:3000/"));

        let prod = ApiArgs {
            profile: Some("prod".into()),
            token: Some("flag-token".into()),
            ..ApiArgs::default()
        };
        let profile = prod.pick_profile(&config, None).unwrap();
        assert_eq!(profile.api_url.as_deref(), Some("https://prod.example"));
        assert_eq!(profile.token, None);

        let missing = ApiArgs {
            profile: Some("staging".into()),
            ..ApiArgs::default()
        };
        let error = missing.pick_profile(&config, None).unwrap_err();
        assert!(error.message.contains("local, prod"), "{}", error.message);
    }

    #[test]
    fn a_misspelt_key_is_refused_rather_than_ignored() {
        let error = toml::from_str::<ConfigFile>("[profiles.x]\napi-url = \"http://x\"\n");
        assert!(error.unwrap_err().message().contains("api-url"));
    }
}
