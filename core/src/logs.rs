//! An attempt's log in the artifact store: a run of parts, each named by
//! the offset of its first byte (`tasks/{id}/logs/{attempt}/{offset}`, the
//! offset zero-padded so keys sort as numbers). The worker appends a part
//! whenever the log has grown and never uploads a byte twice; a reader
//! stitches the parts from any offset, fetching only the range it returns.

use crate::artifacts::Artifacts;
use crate::error::Result;

/// No part is larger than this: a writer splits what it ships into parts
/// of at most this size, so the part holding an offset starts less than
/// this before it.
pub const MAX_LOG_PART_BYTES: u64 = 8 * 1024 * 1024;

/// Parts looked at per read.
const PARTS_PER_READ: usize = 100;

/// Every part of one attempt's log lives under this prefix.
pub fn log_prefix(task_id: &str, attempt: u32) -> String {
    format!("tasks/{task_id}/logs/{attempt}/")
}

/// The key of the part that starts at byte `offset`.
pub fn log_part_key(task_id: &str, attempt: u32, offset: u64) -> String {
    format!("{}{offset:020}", log_prefix(task_id, attempt))
}

/// What a read of a log found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRead {
    pub data: Vec<u8>,
    /// True when the stored log ends where `data` does (it may still grow
    /// while its attempt runs).
    pub at_end: bool,
}

/// Reads at most `limit` bytes of an attempt's log from byte `offset`.
pub async fn read_log(
    artifacts: &dyn Artifacts,
    (task_id, attempt): (&str, u32),
    offset: u64,
    limit: u64,
) -> Result<LogRead> {
    let prefix = log_prefix(task_id, attempt);
    // The part holding `offset` starts after this one's key.
    let start_after = offset
        .checked_sub(MAX_LOG_PART_BYTES)
        .map(|before| log_part_key(task_id, attempt, before));
    let listing = artifacts
        .list(&prefix, start_after.as_deref(), PARTS_PER_READ)
        .await?;
    let mut data = Vec::new();
    let mut at = offset;
    for part in &listing.objects {
        let Some(start) = part
            .key
            .strip_prefix(&prefix)
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        let end = start + part.size;
        if end <= at {
            continue;
        }
        let wanted = limit - data.len() as u64;
        if start > at || wanted == 0 {
            // A gap (a part not shipped yet) or the limit: stop here.
            return Ok(LogRead {
                data,
                at_end: false,
            });
        }
        let chunk = artifacts
            .get_from(&part.key, at - start, wanted.min(end - at))
            .await?;
        let read = chunk.map(|c| c.data).unwrap_or_default();
        if read.is_empty() {
            return Ok(LogRead {
                data,
                at_end: false,
            });
        }
        at += read.len() as u64;
        data.extend(read);
        if at < end {
            return Ok(LogRead {
                data,
                at_end: false,
            });
        }
    }
    let at_end = !listing.more;
    Ok(LogRead { data, at_end })
}
