//! Small pieces the console's pages and fragments share: the HTML answer,
//! statuses, times, sizes and JSON as people read them. maud escapes every
//! value it is given.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use maud::{html, Markup};
use serde_json::Value;
use wharf_core::model::Task;

pub type HtmlResponse = Response;

pub fn html_response(markup: Markup) -> HtmlResponse {
    let content_type = [(header::CONTENT_TYPE, "text/html; charset=utf-8")];
    (content_type, markup.into_string()).into_response()
}

/// A status as a badge, with the reason when it adds something.
pub fn status(task: &Task) -> Markup {
    html! {
        span class={ "badge s-" (task.status) } { (task.status) }
        @if let Some(reason) = task.telling_reason() {
            " " span .reason { (reason) }
        }
    }
}

/// A moment, readable and machine-readable.
pub fn moment(at: DateTime<Utc>) -> Markup {
    html! {
        time datetime=(at.to_rfc3339()) title=(at.to_rfc3339()) {
            (at.format("%Y-%m-%d %H:%M:%S"))
        }
    }
}

/// A byte count in binary units.
pub fn bytes(count: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = count as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    match unit {
        0 => format!("{count} B"),
        _ => format!("{value:.1} {}", UNITS[unit]),
    }
}

/// JSON indented for reading.
pub fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_in_binary_units() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 * 1024 * 1024 * 1024), "3.0 GiB");
    }
}
