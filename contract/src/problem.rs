//! Errors as `application/problem+json` (RFC 9457). The one place that turns
//! failures into HTTP responses.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use wharf_core::validate::FieldError;

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// The problem type, served as `https://wharf.dev/problems/<slug>`.
    #[serde(rename = "type", serialize_with = "serialize_type")]
    #[schema(value_type = String)]
    pub slug: &'static str,
    #[schema(value_type = String)]
    pub title: &'static str,
    #[serde(serialize_with = "serialize_status")]
    #[schema(value_type = u16)]
    pub status: StatusCode,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// For `409` on a duplicate name: the task that holds it.
    #[serde(rename = "existingId")]
    pub existing_id: Option<String>,
}

fn serialize_type<S: serde::Serializer>(slug: &&str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("https://wharf.dev/problems/{slug}"))
}

fn serialize_status<S: serde::Serializer>(status: &StatusCode, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u16(status.as_u16())
}

impl Problem {
    pub fn new(status: StatusCode, slug: &'static str, detail: impl Into<String>) -> Self {
        Problem {
            slug,
            title: status.canonical_reason().unwrap_or("Error"),
            status,
            detail: detail.into(),
            errors: Vec::new(),
            existing_id: None,
        }
    }

    pub fn invalid(errors: Vec<FieldError>) -> Self {
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        Problem {
            errors: errors.clone(),
            ..Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid-request",
                format!("invalid fields: {}", fields.join(", ")),
            )
        }
    }

    pub fn unauthorized() -> Self {
        Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid bearer token is required",
        )
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Problem::new(StatusCode::NOT_FOUND, "not-found", what)
    }
}

impl From<wharf_core::Error> for Problem {
    fn from(err: wharf_core::Error) -> Self {
        use wharf_core::Error::*;
        match &err {
            NotFound(what) => Problem::not_found(what.clone()),
            Conflict(what) => Problem::new(StatusCode::CONFLICT, "conflict", what.clone()),
            Aws { operation, .. } => {
                tracing::error!(error = %err, "AWS call failed");
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "backend-unavailable",
                    format!("{operation} failed; try again"),
                )
            }
            Stopped(what) => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting-down",
                format!("{what} was interrupted by shutdown; try again"),
            ),
            Corrupt(_) | Io(_) | Request { .. } => {
                tracing::error!(error = %err, "internal error");
                Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error",
                )
            }
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self).unwrap_or_default();
        (
            self.status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body,
        )
            .into_response()
    }
}
