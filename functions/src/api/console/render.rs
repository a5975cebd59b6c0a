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

/// How long ago, in the largest unit ("5s", "3m", "2h", "4d").
pub fn age(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let seconds = (now - at).num_seconds().max(0);
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3600 => format!("{}m", seconds / 60),
        3600..86400 => format!("{}h", seconds / 3600),
        _ => format!("{}d", seconds / 86400),
    }
}

/// How long a task ran, or has been running.
pub fn ran(task: &Task, now: DateTime<Utc>) -> Option<String> {
    let started = task.started_at?;
    let millis = (task.finished_at.unwrap_or(now) - started)
        .num_milliseconds()
        .max(0);
    Some(match millis {
        0..10_000 => format!("{:.1}s", millis as f64 / 1000.0),
        _ => age(started, started + chrono::Duration::milliseconds(millis)),
    })
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
    fn sizes_and_ages_read_in_their_largest_unit() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 * 1024 * 1024 * 1024), "3.0 GiB");
        let now = Utc::now();
        assert_eq!(age(now - chrono::Duration::seconds(59), now), "59s");
        assert_eq!(age(now - chrono::Duration::seconds(3 * 3600), now), "3h");
        assert_eq!(age(now + chrono::Duration::seconds(5), now), "0s");
    }
}
