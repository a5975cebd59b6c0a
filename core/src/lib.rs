//! Wharf's core: the task model and its validation, the lifecycle rules, the
//! seams to storage (task store, queue, artifacts) with their AWS adapters
//! (DynamoDB, SQS, S3), and what every daemon shares (retries, shutdown).

pub mod array;
pub mod artifacts;
pub mod aws;
pub mod backend;
pub mod concurrency;
pub mod config;
pub mod display;
pub mod error;
pub mod fleet;
pub mod flow;
pub mod lifecycle;
pub mod listing;
pub mod logging;
pub mod logs;
pub mod model;
pub mod pending;
pub mod provision;
pub mod queue;
pub mod registry;
pub mod retry;
pub mod secrets;
pub mod sets;
pub mod shutdown;
pub mod store;
pub mod submit;
pub mod taskset;
pub mod validate;

pub use backend::Backend;
pub use error::{Error, Result};
