//! Wharf's core: the task model and its validation, the lifecycle rules, and
//! the adapters to AWS (DynamoDB task store, SQS queues, S3 artifacts).

pub mod artifacts;
pub mod config;
pub mod error;
pub mod lifecycle;
pub mod model;
pub mod provision;
pub mod queue;
pub mod store;
pub mod submit;
pub mod validate;

pub use error::{Error, Result};
