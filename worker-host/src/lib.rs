//! Wharf's worker host: long-polls SQS, claims and runs tasks, uploads their
//! outputs and logs, and records the outcome.

pub mod attempt;
pub mod config;
pub mod executor;
pub mod outputs;
pub mod poller;
pub mod signal;

pub use config::WorkerConfig;
pub use poller::run;
