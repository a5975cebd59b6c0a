//! An attempt's log, bounded by `--max-log-bytes`: the first half is kept
//! as written (in `attempt.log`, which the live log shipper follows), the
//! last half in a ring file of constant size; when the attempt ends, the two
//! are joined around a marker line saying how much was left out. A task
//! flooding its output costs neither memory nor more than the limit of
//! disk. Every byte passes the attempt's redactor first, so no form of a
//! secret reaches the file (or, through it, S3).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::secrets::Redactor;

pub struct CappedLog {
    redactor: Redactor,
    /// What the redactor let through, reused between writes.
    through: Vec<u8>,
    head: File,
    tail_path: PathBuf,
    tail: Option<File>,
    /// Bytes the head keeps, and the ring holds.
    half: u64,
    /// Every byte written so far.
    written: u64,
}

impl CappedLog {
    /// A log at `path` of at most about `limit` bytes.
    pub fn create(path: &Path, limit: u64, redactor: Redactor) -> std::io::Result<CappedLog> {
        let head = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(CappedLog {
            redactor,
            through: Vec::new(),
            head,
            tail_path: path.with_extension("log.tail"),
            tail: None,
            half: (limit / 2).max(1),
            written: 0,
        })
    }

    /// Takes what the task wrote: what the redactor lets through is kept.
    pub fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let mut through = std::mem::take(&mut self.through);
        self.redactor.write(bytes, &mut through);
        let written = self.keep(&through);
        through.clear();
        self.through = through;
        written
    }

    fn keep(&mut self, mut bytes: &[u8]) -> std::io::Result<()> {
        if self.written < self.half {
            let room = (self.half - self.written) as usize;
            let (head, rest) = bytes.split_at(room.min(bytes.len()));
            self.head.write_all(head)?;
            self.written += head.len() as u64;
            bytes = rest;
        }
        while !bytes.is_empty() {
            let at = (self.written - self.half) % self.half;
            let room = (self.half - at) as usize;
            let (part, rest) = bytes.split_at(room.min(bytes.len()));
            self.ring()?.write_all_at(part, at)?;
            self.written += part.len() as u64;
            bytes = rest;
        }
        Ok(())
    }

    fn ring(&mut self) -> std::io::Result<&File> {
        if self.tail.is_none() {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(true)
                .read(true)
                .write(true)
                .open(&self.tail_path)?;
            self.tail = Some(file);
        }
        Ok(self.tail.as_ref().expect("just opened"))
    }

    /// Joins head, marker and tail (oldest first) into the log file, and
    /// says whether anything was left out.
    pub fn finish(mut self) -> std::io::Result<bool> {
        let mut rest = Vec::new();
        self.redactor.finish(&mut rest);
        self.keep(&rest)?;
        let Some(mut tail) = self.tail.take() else {
            return Ok(false);
        };
        let beyond = self.written - self.half;
        let dropped = beyond.saturating_sub(self.half);
        if dropped > 0 {
            let marker = format!("\n[wharf: {dropped} bytes of log left out here]\n");
            self.head.write_all(marker.as_bytes())?;
        }
        // The ring's oldest byte is where the next one would go, once full.
        let start = if dropped > 0 { beyond % self.half } else { 0 };
        let kept = beyond.min(self.half);
        tail.seek(SeekFrom::Start(start))?;
        std::io::copy(
            &mut (&mut tail).take(kept - start.min(kept)),
            &mut self.head,
        )?;
        tail.seek(SeekFrom::Start(0))?;
        std::io::copy(&mut (&mut tail).take(start.min(kept)), &mut self.head)?;
        drop(tail);
        std::fs::remove_file(&self.tail_path)?;
        Ok(dropped > 0)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::secrets::Redaction;

    fn log_of(limit: u64, writes: &[&[u8]]) -> (String, bool) {
        let dir =
            std::env::temp_dir().join(format!("wharf-log-{}-{}", std::process::id(), writes.len()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("attempt{limit}.log"));
        let _ = std::fs::remove_file(&path);
        let redactor = Redactor::new(Arc::new(Redaction::none()));
        let mut log = CappedLog::create(&path, limit, redactor).unwrap();
        for bytes in writes {
            log.write(bytes).unwrap();
        }
        let truncated = log.finish().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        (text, truncated)
    }

    #[test]
    fn a_log_within_the_limit_is_kept_whole() {
        assert_eq!(log_of(10, &[b"abc", b"de"]), ("abcde".to_owned(), false));
        assert_eq!(
            log_of(10, &[b"abcdefghij"]),
            ("abcdefghij".to_owned(), false)
        );
    }

    #[test]
    fn a_longer_log_keeps_its_head_and_tail_around_a_marker() {
        let (text, truncated) = log_of(10, &[b"01234", b"56789abcdefghij", b"klmno"]);
        assert!(truncated);
        assert_eq!(text, "01234\n[wharf: 15 bytes of log left out here]\nklmno");
        // However the writes fall, the tail is the last bytes in order.
        let (text, _) = log_of(10, &[b"0123456", b"789abcdefghijklmnopq", b"r"]);
        assert!(text.ends_with("here]\nnopqr"), "{text}");
        assert!(text.starts_with("01234\n"), "{text}");
    }
}
