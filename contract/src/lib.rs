//! Wharf's HTTP contract: what both sides of an HTTP exchange with Wharf
//! share. Problem documents (RFC 9457, the one place failures become
//! responses), the bearer-token check, and how request bodies are read and
//! refused. The API (`wharf-functions`) and the worker's push API serve
//! with it; neither depends on the other. Like `lambda_http` beside
//! `lambda_runtime`: the HTTP side apart from what runs it.

pub mod body;
pub mod problem;
mod tokens;
pub mod views;

pub use problem::Problem;
pub use tokens::{Caller, Tokens};
