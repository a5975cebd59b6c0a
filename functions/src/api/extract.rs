//! Extractors whose rejections are problem documents naming what is wrong,
//! like every other error of the API.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use wharf_core::validate::{is_resource_name, FieldError};

use super::problem::Problem;

/// The query string, deserialized; a field that does not fit is a `400`
/// naming it.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Problem> {
        let query = parts.uri.query().unwrap_or_default();
        let pairs = form_urlencoded::parse(query.as_bytes());
        let de = serde_urlencoded::Deserializer::new(pairs);
        serde_path_to_error::deserialize(de)
            .map(Query)
            .map_err(|err| {
                let field = err.path().to_string();
                let field = if field == "." {
                    "query".to_owned()
                } else {
                    field
                };
                Problem::invalid(vec![FieldError::new(field, err.into_inner().to_string())])
            })
    }
}

/// The `{id}` of a task's routes, as the OpenAPI document shows it.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // only its parameter description is used
pub struct TaskPath {
    /// The task's id (a lowercase ULID, with `-NNNN` after it for an
    /// array's child); anything else is `404`.
    id: String,
}

/// A task id from the path. Anything that is not one (a ULID) names no
/// task: `404`, before any lookup.
pub struct TaskId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for TaskId {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let id = path_param(parts, state, "id").await?;
        if is_task_id(&id) {
            Ok(TaskId(id))
        } else {
            Err(Problem::not_found(format!("no task {id:?}")))
        }
    }
}

/// The `{id}` of a worker's routes, as the OpenAPI document shows it.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // only its parameter description is used
pub struct WorkerPath {
    /// The worker host's id.
    id: String,
}

/// A worker id from the path: 1 to 256 characters, none of them control
/// characters; anything else names no worker (`404`).
pub struct WorkerId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for WorkerId {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let id = path_param(parts, state, "id").await?;
        if (1..=256).contains(&id.chars().count()) && !id.chars().any(char::is_control) {
            Ok(WorkerId(id))
        } else {
            Err(Problem::not_found(format!("no worker {id:?}")))
        }
    }
}

/// A function's or task set's `{name}` from the path: 1 to 128 letters,
/// digits, `-`, `_` or `.`; anything else names nothing (`404`).
pub struct Name(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Name {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let name = path_param(parts, state, "name").await?;
        match is_resource_name(&name) {
            true => Ok(Name(name)),
            false => Err(Problem::not_found(format!("nothing is named {name:?}"))),
        }
    }
}

/// The `{name}` of the function and task-set routes, as the OpenAPI
/// document shows it.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // only its parameter description is used
pub struct NamePath {
    /// 1 to 128 letters, digits, `-`, `_` or `.`.
    name: String,
}

/// The route's `{name}`, percent-decoded.
pub async fn path_param<S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
    name: &str,
) -> Result<String, Problem> {
    let segments = axum::extract::RawPathParams::from_request_parts(parts, state)
        .await
        .map_err(|e| Problem::new(StatusCode::BAD_REQUEST, "invalid-path", e.body_text()))?;
    let id = segments
        .iter()
        .find(|(param, _)| *param == name)
        .map(|(_, value)| value.to_owned())
        .unwrap_or_default();
    Ok(id)
}

/// Whether `id` is a task id as Wharf makes them: a ULID in lowercase
/// Crockford base32 (26 digits, the first at most 7), followed for an
/// array's child by `-` and its index in four digits.
pub fn is_task_id(id: &str) -> bool {
    const DIGITS: &[u8] = b"0123456789abcdefghjkmnpqrstvwxyz";
    let (ulid, index) = match id.split_once('-') {
        Some((ulid, index)) => (ulid, Some(index)),
        None => (id, None),
    };
    let bytes = ulid.as_bytes();
    bytes.len() == 26
        && bytes[0] <= b'7'
        && bytes.iter().all(|b| DIGITS.contains(b))
        && index.is_none_or(|i| i.len() == 4 && i.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_lowercase_ulids_are_task_ids() {
        let id = wharf_core::model::new_task_id();
        assert!(is_task_id(&id));
        assert!(is_task_id(&wharf_core::array::child_id(&id, 9999)));
        for not in [
            "",
            "name#foo",
            "idem#x",
            "01M8400XHDATHHZYZEZW9D3HHV",
            "../etc",
            "a".repeat(26).as_str(),
            "01kba1j8ebm3tyd43p3jy7w0cz-12",
            "01kba1j8ebm3tyd43p3jy7w0cz-",
            "01kba1j8ebm3tyd43p3jy7w0cz-00a1",
        ] {
            assert!(!is_task_id(not), "{not}");
        }
    }
}
