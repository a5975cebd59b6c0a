//! Wharf's worker host: long-polls the queues, claims and runs tasks,
//! uploads their outputs and logs, and records the outcome.
//!
//! Following one task: [`poller`] receives its message, [`claim`] decides
//! and claims, [`attempt`] supervises the run (the executor from
//! [`executor`], the lease keeper, the log shipper), uploads and records.

pub mod attempt;
pub mod background;
pub mod batching;
pub mod claim;
pub mod config;
pub mod executor;
pub mod fleet;
pub mod http;
pub mod isolation;
pub mod poller;
pub mod push;
pub mod secrets;
pub mod slots;
pub mod worker;

pub use config::WorkerConfig;
pub use poller::run;
pub use slots::Slots;
pub use worker::Worker;
