//! Fuzz inputs for the HTTP router, shared by the `cargo fuzz` target
//! (`fuzz/fuzz_targets/router.rs`) and the corpus replay that runs on
//! stable in `make test` (`functions/tests/fuzz_corpus.rs`).

use axum::body::Body;
use axum::http::Request;

/// A request from raw bytes, read like a tiny HTTP/1 message: the first
/// line is `METHOD PATH`, then `name: value` header lines, then an empty
/// line and the body. `None` when the bytes do not make a request at all.
pub fn request_from_bytes(data: &[u8]) -> Option<Request<Body>> {
    let split = data.windows(2).position(|w| w == b"\n\n");
    let (head, body) = match split {
        Some(at) => (&data[..at], &data[at + 2..]),
        None => (data, &[][..]),
    };
    let head = std::str::from_utf8(head).ok()?;
    let mut lines = head.lines();
    let (method, path) = lines.next()?.split_once(' ')?;
    let mut request = Request::builder().method(method).uri(path);
    for line in lines {
        let (name, value) = line.split_once(':')?;
        request = request.header(name.trim(), value.trim());
    }
    request.body(Body::from(body.to_vec())).ok()
}
