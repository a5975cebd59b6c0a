//! Script tasks: scripts served over HTTPS by a local server whose
//! certificate comes from a private CA made in the test; the worker trusts
//! that CA through `--extra-ca-file`.

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use support::Stack;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

const WAIT: Duration = Duration::from_secs(60);

const GOOD_SCRIPT: &str = r#"#!/bin/sh
echo "script args: $*"
cp "$WHARF_PAYLOAD" "$WHARF_OUTPUT_DIR/received.json"
"#;

/// An HTTPS server on 127.0.0.1 serving `files` by path, and the PEM file
/// that makes a client trust it.
struct ScriptServer {
    base_url: String,
    ca_file: std::path::PathBuf,
}

/// How the server's certificate is made.
#[derive(Clone, Copy)]
enum Issued {
    /// By a private CA; the PEM file holds the CA.
    ByPrivateCa,
    /// Self-signed, as `openssl req -x509` makes it; the PEM file holds it.
    SelfSigned,
}

async fn serve(files: HashMap<&'static str, &'static str>) -> ScriptServer {
    serve_issued(files, Issued::ByPrivateCa).await
}

async fn serve_issued(files: HashMap<&'static str, &'static str>, issued: Issued) -> ScriptServer {
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
    fn trusting_worker(&self, stack: &Stack) -> tokio::process::Child {
        stack
            .worker_command()
            .arg(format!("--extra-ca-file={}", self.ca_file.display()))
            .spawn()
            .unwrap()
    }
}

fn script_task(url: &str, name: &str, sha256: Option<String>) -> Value {
    let mut script = json!({"url": url, "name": name, "args": ["first", "second"]});
    if let Some(sha256) = sha256 {
        script["sha256"] = json!(sha256);
    }
    json!({"spec": {"script": script}, "payload": {"invoice": 17}})
}

#[tokio::test]
async fn a_downloaded_script_runs_with_its_args_and_payload() {
    let server = serve(HashMap::from([("/jobs/job.sh", GOOD_SCRIPT)])).await;
    let stack = Stack::start().await;
    let _worker = server.trusting_worker(&stack);
    let sha = hex::encode(Sha256::digest(GOOD_SCRIPT.as_bytes()));
    let url = format!("{}/jobs/job.sh", server.base_url);
    let id = stack
        .submit_id(script_task(&url, "job.sh", Some(sha)))
        .await;
    let done = stack.wait(&id, WAIT).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let received: Value =
        serde_json::from_slice(&stack.download(&id, "received.json").await).unwrap();
    assert_eq!(received, json!({"invoice": 17}));
    let logs = stack.logs(&id).await;
    assert!(logs.contains("script args: first second"), "{logs}");
}

#[tokio::test]
async fn a_sha256_mismatch_fails_the_task_without_running_the_script() {
    let server = serve(HashMap::from([("/job.sh", GOOD_SCRIPT)])).await;
    let stack = Stack::start().await;
    let _worker = server.trusting_worker(&stack);
    let url = format!("{}/job.sh", server.base_url);
    let wrong = hex::encode(Sha256::digest(b"something else"));
    let id = stack
        .submit_id(script_task(&url, "job.sh", Some(wrong)))
        .await;
    let done = stack.wait(&id, WAIT).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(done["reason"], "StartFailed");
    assert!(
        done["message"]
            .as_str()
            .unwrap()
            .contains("sha256 mismatch"),
        "{done}"
    );
    assert!(
        done["outputs"].as_array().unwrap().is_empty(),
        "the script ran: {done}"
    );
}

#[tokio::test]
async fn a_server_outside_the_trusted_roots_is_refused() {
    let server = serve(HashMap::from([("/job.sh", GOOD_SCRIPT)])).await;
    let stack = Stack::start().await;
    let _worker = stack.spawn_worker(); // no --extra-ca-file
    let url = format!("{}/job.sh", server.base_url);
    let id = stack.submit_id(script_task(&url, "job.sh", None)).await;
    let done = stack.wait(&id, WAIT).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(done["reason"], "StartFailed");
    assert!(
        done["message"].as_str().unwrap().contains("certificate"),
        "{done}"
    );
}

#[tokio::test]
async fn a_self_signed_server_certificate_in_the_extra_ca_file_is_pinned() {
    let server = serve_issued(
        HashMap::from([("/job.sh", GOOD_SCRIPT)]),
        Issued::SelfSigned,
    )
    .await;
    let stack = Stack::start().await;
    let _worker = server.trusting_worker(&stack);
    let url = format!("{}/job.sh", server.base_url);
    let pinned = stack.submit_id(script_task(&url, "job.sh", None)).await;
    let done = stack.wait(&pinned, WAIT).await;
    assert_eq!(done["status"], "succeeded", "{done}");

    // Another self-signed server, not pinned: refused, and the message
    // says why.
    let other = serve_issued(
        HashMap::from([("/job.sh", GOOD_SCRIPT)]),
        Issued::SelfSigned,
    )
    .await;
    let url = format!("{}/job.sh", other.base_url);
    let refused = stack.submit_id(script_task(&url, "job.sh", None)).await;
    let done = stack.wait(&refused, WAIT).await;
    assert_eq!(done["reason"], "StartFailed", "{done}");
    let message = done["message"].as_str().unwrap();
    assert!(message.contains("invalid peer certificate"), "{message}");
}

#[tokio::test]
async fn insecure_or_misnamed_scripts_are_refused_at_submission() {
    let stack = Stack::start().await;
    let submit = |task: Value| {
        stack
            .http
            .post(format!("{}/v1/tasks", stack.api_url))
            .bearer_auth(support::TOKEN)
            .json(&task)
            .send()
    };
    let http = submit(script_task("http://127.0.0.1/job.sh", "job.sh", None))
        .await
        .unwrap();
    assert_eq!(http.status(), 400);
    let problem: Value = http.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "spec.script.url");

    let misnamed = submit(script_task("https://127.0.0.1/job.sh", "other.sh", None))
        .await
        .unwrap();
    assert_eq!(misnamed.status(), 400);
    let problem: Value = misnamed.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "spec.script.name");
    assert_eq!(stack.messages_left().await, 0);
}
