//! Script tasks' server: HTTPS on 127.0.0.1, its certificate from a private
//! CA made in the test (or self-signed); a worker trusts it through
//! `--extra-ca-file`.

use std::collections::HashMap;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

use super::Stack;

/// An HTTPS server on 127.0.0.1 serving `files` by path, and the PEM file
/// that makes a client trust it.
pub struct ScriptServer {
    pub base_url: String,
    pub ca_file: std::path::PathBuf,
}

/// How the server's certificate is made.
#[derive(Clone, Copy)]
pub enum Issued {
    /// By a private CA; the PEM file holds the CA.
    ByPrivateCa,
    /// Self-signed, as `openssl req -x509` makes it; the PEM file holds it.
    SelfSigned,
}

pub async fn serve(files: HashMap<&'static str, &'static str>) -> ScriptServer {
    serve_issued(files, Issued::ByPrivateCa).await
}

pub async fn serve_issued(
    files: HashMap<&'static str, &'static str>,
    issued: Issued,
) -> ScriptServer {
    let names = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
    let leaf_key = KeyPair::generate().unwrap();
    let (leaf, trusted_pem) = match issued {
        Issued::ByPrivateCa => {
            let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
            ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
            let leaf = CertificateParams::new(names)
                .unwrap()
                .signed_by(&leaf_key, &ca)
                .unwrap();
            (leaf, ca.pem())
        }
        Issued::SelfSigned => {
            // As `openssl req -x509` makes it: CA:TRUE, which webpki
            // refuses as a server's own certificate unless it is pinned.
            let mut params = CertificateParams::new(names).unwrap();
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            let leaf = params.self_signed(&leaf_key).unwrap();
            let pem = leaf.pem();
            (leaf, pem)
        }
    };
    let ca_file = std::env::temp_dir().join(format!("{}ca.pem", wharf_testkit::unique_prefix()));
    std::fs::write(&ca_file, trusted_pem).unwrap();

    let config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(leaf.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        )
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!(
        "https://127.0.0.1:{}",
        listener.local_addr().unwrap().port()
    );
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let files = files.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                let mut request = vec![0u8; 4096];
                let n = tls.read(&mut request).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&request[..n]);
                let path = request.split_whitespace().nth(1).unwrap_or("/");
                let response = match files.get(path) {
                    Some(body) => format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    ),
                    None => {
                        "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                            .to_owned()
                    }
                };
                let _ = tls.write_all(response.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    ScriptServer { base_url, ca_file }
}

impl ScriptServer {
    /// A worker that trusts this server's CA.
    pub fn trusting_worker(&self, stack: &Stack) -> tokio::process::Child {
        stack
            .worker_command()
            .arg(format!("--extra-ca-file={}", self.ca_file.display()))
            .spawn()
            .unwrap()
    }
}
