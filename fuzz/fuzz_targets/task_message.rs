//! The SQS message decoder: any body is a task message or an error, never a
//! panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wharf_core::queue::Received;

fuzz_target!(|data: &[u8]| {
    let received = Received {
        queue: "default".into(),
        queue_url: "memory://default".into(),
        message_id: "m".into(),
        body: String::from_utf8_lossy(data).into_owned(),
        receipt_handle: "r".into(),
        receive_count: 1,
    };
    let _ = received.task_message();
});
