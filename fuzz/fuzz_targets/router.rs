//! The HTTP router over the in-memory backend: request bytes in, never a
//! panic and never a 5xx out (the fakes never fail, so a 5xx would be the
//! API's own fault).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};
use tower::ServiceExt;
use wharf_functions::api::{app, AppState};
use wharf_testkit::fakes::Fakes;
use wharf_testkit::fuzz::request_from_bytes;

/// The token the corpus uses (`Authorization: Bearer fuzz`).
const TOKEN: &str = "fuzz";

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap())
}

fuzz_target!(|data: &[u8]| {
    let Some(request) = request_from_bytes(data) else { return };
    let tokens = format!("{}:read+submit+admin", hex::encode(Sha256::digest(TOKEN)));
    let router = app(AppState {
        backend: Fakes::new().backend,
        tokens: tokens.parse().unwrap(),
    });
    let response = runtime().block_on(router.oneshot(request)).unwrap();
    assert!(!response.status().is_server_error(), "{}", response.status());
});
