//! Wharf's Lambda handlers: `api` (which also serves plain HTTP locally)
//! and `dlq`, the dead-letter consumer.

pub mod api;
pub mod dlq;
