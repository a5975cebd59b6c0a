//! The API's caller: the bearer token of each request, checked against the
//! configured tokens ([`wharf_contract::Tokens`]); `401` without a valid one.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use wharf_contract::Problem;
pub use wharf_contract::{Caller, Tokens};

use super::AppState;

impl FromRequestParts<AppState> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        state.tokens.caller(&parts.headers)
    }
}
