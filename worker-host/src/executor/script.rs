//! The script executor (the RPA-worker standby mode): download the script
//! over https (size limit, timeout, optional SHA-256), then run it as a
//! process with its interpreter, exactly like a process task.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use wharf_core::error::error_chain;
use wharf_core::model::{ProcessSpec, ScriptSpec};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use super::{process, Ended, Run};

mod tls;

/// Downloads scripts: https only, with this host's trusted roots.
#[derive(Clone)]
pub struct ScriptFetcher {
    http: reqwest::Client,
    max_bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum FetcherError {
    #[error("cannot read the CA bundle {path}: {source}")]
    ReadCa {
        path: String,
        source: std::io::Error,
    },
    #[error("the CA bundle {path} holds no usable certificate: {reason}")]
    ParseCa { path: String, reason: String },
    #[error("cannot set up TLS: {0}")]
    Tls(#[from] rustls::Error),
    #[error("cannot build the HTTPS client: {0}")]
    Client(reqwest::Error),
}

/// Why a script could not be downloaded, or was refused.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("script download from {url} failed: {chain}")]
    Failed { url: String, chain: String },
    #[error("script download from {url} refused: larger than {max_bytes} bytes")]
    TooLarge { url: String, max_bytes: u64 },
    #[error("script download from {url} cannot be saved: {err}")]
    Save { url: String, err: std::io::Error },
    #[error("script download from {url} broke off: {chain}")]
    BrokeOff { url: String, chain: String },
    #[error("script download from {url} cannot be made executable: {err}")]
    NotExecutable { url: String, err: std::io::Error },
    #[error("script sha256 mismatch: expected {expected}, downloaded {digest}")]
    Mismatch { expected: String, digest: String },
}

impl ScriptFetcher {
    /// A fetcher trusting the system roots plus, when given, the PEM bundle
    /// at `extra_ca_file` (CA certificates, or a server's own certificate).
    pub fn new(
        extra_ca_file: Option<&Path>,
        timeout: Duration,
        max_bytes: u64,
    ) -> Result<Self, FetcherError> {
        let extra = match extra_ca_file {
            Some(path) => read_pem_bundle(path)?,
            None => Vec::new(),
        };
        let http = reqwest::Client::builder()
            .https_only(true)
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .tls_backend_preconfigured(tls::client_config(extra)?)
            .build()
            .map_err(FetcherError::Client)?;
        Ok(ScriptFetcher { http, max_bytes })
    }

    /// Downloads the script into the task's home and runs it (as `user`,
    /// when given).
    pub async fn run(&self, spec: &ScriptSpec, run: &Run, user: Option<u32>) -> Ended {
        let path = run.home().join(&spec.name);
        if let Err(err) = self.download(spec, &path).await {
            return Ended::start_failed(err);
        }
        let mut command = interpreter(spec).map(|i| vec![i]).unwrap_or_default();
        command.push(path.display().to_string());
        let process = ProcessSpec {
            command,
            args: spec.args.clone(),
            ..ProcessSpec::default()
        };
        process::run_process(&process, run, user).await
    }

    /// Fetches the script to `path`, enforcing the size limit and checking
    /// the SHA-256 when the spec gives one.
    async fn download(&self, spec: &ScriptSpec, path: &Path) -> Result<(), DownloadError> {
        let url = || spec.url.clone();
        let save = |err| DownloadError::Save { url: url(), err };
        let too_large = || DownloadError::TooLarge {
            url: url(),
            max_bytes: self.max_bytes,
        };
        let response = self
            .http
            .get(&spec.url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| DownloadError::Failed {
                url: url(),
                chain: error_chain(&e),
            })?;
        if response
            .content_length()
            .is_some_and(|n| n > self.max_bytes)
        {
            return Err(too_large());
        }
        let mut file = tokio::fs::File::create(path).await.map_err(save)?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| DownloadError::BrokeOff {
                url: url(),
                chain: error_chain(&e),
            })?;
            size += chunk.len() as u64;
            if size > self.max_bytes {
                return Err(too_large());
            }
            hasher.update(&chunk);
            file.write_all(&chunk).await.map_err(save)?;
        }
        file.flush().await.map_err(save)?;
        let digest = hex::encode(hasher.finalize());
        if let Some(expected) = &spec.sha256 {
            if !expected.eq_ignore_ascii_case(&digest) {
                let expected = expected.clone();
                return Err(DownloadError::Mismatch { expected, digest });
            }
        }
        tokio::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
            .await
            .map_err(|err| DownloadError::NotExecutable { url: url(), err })
    }
}

/// Every certificate of a PEM file; at least one.
fn read_pem_bundle(path: &Path) -> Result<Vec<CertificateDer<'static>>, FetcherError> {
    let shown = || path.display().to_string();
    let pem = std::fs::read(path).map_err(|source| FetcherError::ReadCa {
        path: shown(),
        source,
    })?;
    let parse_error = |reason: String| FetcherError::ParseCa {
        path: shown(),
        reason,
    };
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| parse_error(e.to_string()))?;
    if certs.is_empty() {
        return Err(parse_error("no CERTIFICATE block".to_owned()));
    }
    Ok(certs)
}

/// The interpreter: the spec's, else by extension; `None` runs the script
/// itself (its `#!` line decides).
fn interpreter(spec: &ScriptSpec) -> Option<String> {
    if let Some(interpreter) = &spec.interpreter {
        return Some(interpreter.clone());
    }
    let extension = Path::new(&spec.name).extension()?.to_str()?;
    let interpreter = match extension {
        "py" => "python3",
        "sh" => "sh",
        "bash" => "bash",
        "js" | "mjs" => "node",
        "rb" => "ruby",
        "pl" => "perl",
        "ps1" => "pwsh",
        _ => return None,
    };
    Some(interpreter.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, interpreter: Option<&str>) -> ScriptSpec {
        ScriptSpec {
            url: format!("https://example.com/{name}"),
            name: name.to_owned(),
            interpreter: interpreter.map(str::to_owned),
            ..ScriptSpec::default()
        }
    }

    #[test]
    fn the_interpreter_follows_the_extension_unless_given() {
        assert_eq!(
            interpreter(&spec("job.py", None)).as_deref(),
            Some("python3")
        );
        assert_eq!(interpreter(&spec("job.sh", None)).as_deref(), Some("sh"));
        assert_eq!(
            interpreter(&spec("job.py", Some("pypy3"))).as_deref(),
            Some("pypy3")
        );
        assert_eq!(interpreter(&spec("job", None)), None);
    }
}
