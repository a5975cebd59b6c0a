//! The dead-letter consumer: a message SQS gave up on marks its task
//! `failed` with reason `DeadLettered`. Nothing is dropped silently: a
//! message that names no task is logged with its body, and one that cannot
//! be handled now (an outage) is reported back so it is delivered again.

use chrono::Utc;
use wharf_core::lifecycle;
use wharf_core::model::TaskMessage;
use wharf_core::store::{TaskStore, Transition};
use wharf_core::Error;

/// What became of one dead-lettered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeadLetter {
    /// Its task is now `failed` / `DeadLettered`.
    Marked { task_id: String },
    /// Its task had finished already and stays as it is.
    AlreadyFinished { task_id: String },
    /// Its task no longer exists.
    UnknownTask { task_id: String },
    /// The body is not a task message; it is logged and let go.
    Malformed,
}

/// Handles one dead-lettered message body. `Err` means "try again later".
pub async fn handle_dead_letter(
    store: &TaskStore,
    message_id: &str,
    body: &str,
) -> Result<DeadLetter, Error> {
    let Ok(TaskMessage { task_id }) = serde_json::from_str::<TaskMessage>(body) else {
        tracing::error!(
            message_id,
            body,
            "dead-lettered message is not a task message; dropping it"
        );
        return Ok(DeadLetter::Malformed);
    };
    let outcome = match store
        .transition(&task_id, |task| lifecycle::dead_lettered(task, Utc::now()))
        .await?
    {
        Transition::Applied(_) => DeadLetter::Marked { task_id },
        Transition::Refused(_) => DeadLetter::AlreadyFinished { task_id },
        Transition::Missing => DeadLetter::UnknownTask { task_id },
    };
    tracing::info!(message_id, outcome = ?outcome, "dead-lettered message handled");
    Ok(outcome)
}
