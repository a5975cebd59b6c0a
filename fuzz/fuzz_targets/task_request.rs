//! The task-spec parser and validator: any bytes in, a task or a list of
//! field errors out, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wharf_core::validate::{parse_task_request, Rejection};

fuzz_target!(|data: &[u8]| {
    let queues = ["default".to_owned(), "high".to_owned()];
    match parse_task_request(data, &queues) {
        Ok(valid) => assert!(valid.payload_json.len() <= wharf_core::validate::MAX_PAYLOAD_BYTES),
        Err(Rejection::Invalid(errors)) => assert!(!errors.is_empty()),
        Err(Rejection::TooLarge { .. } | Rejection::TaskTooLarge { .. }) => {}
    }
});
