//! Wharf's Lambda handlers. `api` also serves plain HTTP for local use.

pub mod api;
