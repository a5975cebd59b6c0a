//! The fuzz corpora (`fuzz/corpus/`), replayed on stable in `make test`:
//! every input the fuzzers kept — seeds, and whatever they found — goes
//! through the task parser and the router over the in-memory backend,
//! never panicking and never answering 5xx. The fuzzers themselves run with
//! `cargo +nightly fuzz run <target>` (fuzz/README.md).

use std::path::PathBuf;

use sha2::{Digest, Sha256};
use tower::ServiceExt;
use wharf_core::validate::parse_task_request;
use wharf_functions::api::{app, AppState};
use wharf_testkit::fakes::Fakes;
use wharf_testkit::fuzz::request_from_bytes;
use wharf_testkit::workspace_root;

/// Every file of one corpus; it must not be empty.
fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = workspace_root().join("fuzz/corpus").join(target);
    let inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect();
    assert!(!inputs.is_empty(), "{} is empty", dir.display());
    inputs
}

#[test]
fn the_task_parser_survives_its_corpus() {
    let queues = ["default".to_owned(), "high".to_owned()];
    let mut accepted = 0;
    for (_, bytes) in corpus("task_request") {
        accepted += usize::from(parse_task_request(&bytes, &queues).is_ok());
    }
    assert!(accepted > 0, "no seed is a valid task");
}

#[tokio::test]
async fn the_router_answers_its_corpus_without_a_5xx() {
    let tokens = format!("{}:read+submit+admin", hex::encode(Sha256::digest("fuzz")));
    let router = app(AppState {
        backend: Fakes::new().backend,
        tokens: tokens.parse().unwrap(),
    });
    let mut succeeded = 0;
    for (path, bytes) in corpus("router") {
        let Some(request) = request_from_bytes(&bytes) else {
            // What the fuzzer kept may be no request at all; a seed must be one.
            assert!(
                found_by_the_fuzzer(&path),
                "{} is no request",
                path.display()
            );
            continue;
        };
        let response = router.clone().oneshot(request).await.unwrap();
        assert!(
            !response.status().is_server_error(),
            "{}: {}",
            path.display(),
            response.status()
        );
        succeeded += usize::from(response.status().is_success());
    }
    assert!(succeeded > 0, "no request of the corpus was served");
}

/// Whether a corpus entry is one the fuzzer kept (named by its SHA-1)
/// rather than a seed written by hand.
fn found_by_the_fuzzer(path: &std::path::Path) -> bool {
    path.file_name()
        .and_then(|name| name.to_str())
        .is_some_and(|name| name.len() == 40 && name.bytes().all(|b| b.is_ascii_hexdigit()))
}
