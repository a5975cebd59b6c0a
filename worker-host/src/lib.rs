//! Wharf's worker host: long-polls SQS, claims and runs tasks, uploads their
//! outputs and logs, and records the outcome.

pub mod attempt;
pub mod config;
pub mod executor;
pub mod heartbeat;
pub mod outputs;
pub mod poller;
pub mod signal;
pub mod worker;

pub use config::WorkerConfig;
pub use poller::run;
