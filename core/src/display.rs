//! Ages and run times as people read them: the same in the CLI's tables
//! and the web console.

use chrono::{DateTime, Utc};

use crate::model::Task;

/// A duration in its largest whole unit and the next one ("3m04s").
pub fn short_duration(seconds: u64) -> String {
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3600 => format!("{}m{:02}s", seconds / 60, seconds % 60),
        3600..86400 => format!("{}h{:02}m", seconds / 3600, seconds % 3600 / 60),
        _ => format!("{}d{:02}h", seconds / 86400, seconds % 86400 / 3600),
    }
}

/// How long ago `at` was at `now` (a moment in the future reads "0s").
pub fn age(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    short_duration((now - at).num_seconds().max(0) as u64)
}

/// How long a task ran, or has run by `now`; tenths of a second under ten
/// seconds ("1.3s").
pub fn run_time(task: &Task, now: DateTime<Utc>) -> Option<String> {
    let started = task.started_at?;
    let millis = (task.finished_at.unwrap_or(now) - started)
        .num_milliseconds()
        .max(0) as u64;
    Some(match millis {
        0..10_000 => format!("{:.1}s", millis as f64 / 1000.0),
        _ => short_duration(millis / 1000),
    })
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::model::{new_task_id, ProcessSpec, TaskSpec};

    #[test]
    fn durations_read_in_their_two_largest_units() {
        assert_eq!(short_duration(0), "0s");
        assert_eq!(short_duration(59), "59s");
        assert_eq!(short_duration(184), "3m04s");
        assert_eq!(short_duration(3600 + 120), "1h02m");
        assert_eq!(short_duration(90000), "1d01h");
        let now = Utc::now();
        assert_eq!(age(now - Duration::seconds(3 * 3600), now), "3h00m");
        assert_eq!(age(now + Duration::seconds(5), now), "0s");
    }

    #[test]
    fn a_run_time_counts_to_the_end_or_to_now() {
        let now = Utc::now();
        let spec = TaskSpec::Process(ProcessSpec::default());
        let mut task = Task::queued(new_task_id(), spec, now);
        assert_eq!(run_time(&task, now), None);
        task.started_at = Some(now - Duration::milliseconds(1340));
        assert_eq!(run_time(&task, now).as_deref(), Some("1.3s"));
        task.finished_at = Some(now - Duration::seconds(100) + Duration::seconds(100));
        task.started_at = Some(now - Duration::seconds(75));
        assert_eq!(run_time(&task, now).as_deref(), Some("1m15s"));
    }
}
