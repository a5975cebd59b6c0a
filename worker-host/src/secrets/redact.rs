//! The redactor every byte a task says passes through: its log, its
//! `result` and the record's `message`. It works on bytes, not lines, and
//! replaces each *form* of each secret value with `[redacted:NAME]`:
//!
//! - the value itself, and each line of a multi-line value;
//! - its base64 (standard and URL-safe alphabets) in each of the three
//!   alignments it may have in a longer encoded text: all but the at most
//!   2 bytes at each end that share a base64 group with their neighbours;
//! - its hex (lower and upper case);
//! - its URL escaping (`%XX`, and `+` for spaces as forms do);
//! - its JSON escaping (as serde_json and JavaScript write it, and with
//!   non-ASCII escaped as `\uXXXX`, as Python's `json.dumps` does).
//!
//! A stream keeps the last `longest form - 1` bytes until the next write,
//! so a form split across writes is still found. Forms that overlap are
//! replaced together: no run of bytes the redactor lets through holds a
//! whole form.

use std::sync::Arc;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use base64::Engine;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};

/// Values shorter than this cannot be redacted without redacting
/// everything: an attempt given one fails instead of leaking it.
pub const MIN_SECRET_BYTES: usize = 4;

/// What a URL leaves unescaped (RFC 3986's unreserved characters).
const URL_ESCAPED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A secret too short to redact: `name` is its name, never its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("secret {name} is too short to redact (fewer than {MIN_SECRET_BYTES} bytes)")]
pub struct TooShort {
    pub name: String,
}

/// The forms of a set of secrets, compiled once per attempt and shared by
/// every stream of it.
#[derive(Debug)]
pub struct Redaction {
    /// `None` when there are no secrets: everything passes as it is.
    forms: Option<AhoCorasick>,
    /// The replacement of each form, by pattern index.
    replacements: Vec<Arc<[u8]>>,
    longest: usize,
}

impl Redaction {
    /// The redaction of `secrets` (name, value).
    pub fn new<'a>(
        secrets: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    ) -> Result<Redaction, TooShort> {
        let mut patterns: Vec<Vec<u8>> = Vec::new();
        let mut replacements = Vec::new();
        for (name, value) in secrets {
            if value.len() < MIN_SECRET_BYTES {
                return Err(TooShort { name: name.into() });
            }
            let replacement: Arc<[u8]> = format!("[redacted:{name}]").into_bytes().into();
            for form in forms(value) {
                if !patterns.contains(&form) {
                    patterns.push(form);
                    replacements.push(replacement.clone());
                }
            }
        }
        let longest = patterns.iter().map(Vec::len).max().unwrap_or(0);
        let forms = (!patterns.is_empty()).then(|| {
            AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                .kind(Some(AhoCorasickKind::DFA))
                .build(&patterns)
                .expect("a few hundred short patterns build")
        });
        Ok(Redaction {
            forms,
            replacements,
            longest,
        })
    }

    /// No secrets: nothing to redact.
    pub fn none() -> Redaction {
        Redaction {
            forms: None,
            replacements: Vec::new(),
            longest: 0,
        }
    }

    /// Whether there is nothing to redact.
    pub fn is_empty(&self) -> bool {
        self.forms.is_none()
    }

    /// `bytes`, redacted, in one go.
    pub fn redact(self: &Arc<Self>, bytes: &[u8]) -> Vec<u8> {
        let mut stream = Redactor::new(self.clone());
        let mut out = Vec::with_capacity(bytes.len());
        stream.write(bytes, &mut out);
        stream.finish(&mut out);
        out
    }

    /// `text`, redacted (a replacement never splits a character the value
    /// did not split).
    pub fn redact_str(self: &Arc<Self>, text: &str) -> String {
        String::from_utf8_lossy(&self.redact(text.as_bytes())).into_owned()
    }
}

/// Every form of `value` the redactor looks for.
fn forms(value: &[u8]) -> Vec<Vec<u8>> {
    let mut forms = vec![value.to_vec()];
    let lines = value
        .split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line));
    forms.extend(
        lines
            .filter(|line| line.len() >= MIN_SECRET_BYTES)
            .map(<[u8]>::to_vec),
    );
    for skip in 0..3.min(value.len()) {
        let aligned = &value[skip..];
        let whole_groups = &aligned[..aligned.len() / 3 * 3];
        if !whole_groups.is_empty() {
            forms.push(STANDARD_NO_PAD.encode(whole_groups).into_bytes());
            forms.push(URL_SAFE_NO_PAD.encode(whole_groups).into_bytes());
        }
    }
    forms.push(hex::encode(value).into_bytes());
    forms.push(hex::encode_upper(value).into_bytes());
    let escaped = percent_encoding::percent_encode(value, URL_ESCAPED).to_string();
    forms.push(escaped.replace("%20", "+").into_bytes());
    forms.push(escaped.into_bytes());
    if let Ok(text) = std::str::from_utf8(value) {
        let json = serde_json::to_string(text).expect("a string serializes");
        let json = &json[1..json.len() - 1];
        forms.push(ascii_json(json).into_bytes());
        forms.push(json.as_bytes().to_vec());
    }
    forms.retain(|form| !form.is_empty());
    forms
}

/// serde_json's escaping with every non-ASCII character as `\uXXXX`
/// (lower-case hex, surrogate pairs beyond the BMP), as Python writes it.
fn ascii_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            for unit in c.encode_utf16(&mut [0; 2]) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// One stream (a log) through a [`Redaction`].
#[derive(Debug)]
pub struct Redactor {
    redaction: Arc<Redaction>,
    /// Bytes not let through yet: a form may begin in them.
    pending: Vec<u8>,
}

impl Redactor {
    pub fn new(redaction: Arc<Redaction>) -> Redactor {
        Redactor {
            redaction,
            pending: Vec::new(),
        }
    }

    /// Takes `bytes`, and appends to `out` what may be let through now.
    pub fn write(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        if self.redaction.forms.is_none() {
            out.extend_from_slice(bytes);
            return;
        }
        self.pending.extend_from_slice(bytes);
        // A form that begins before `safe` lies wholly in what is here.
        let keep = self.redaction.longest - 1;
        if self.pending.len() > keep {
            self.let_through(self.pending.len() - keep, out);
        }
    }

    /// Lets the rest through: the stream has ended.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        self.let_through(self.pending.len(), out);
    }

    /// Appends the pending bytes up to at least `safe` to `out`, each form
    /// that begins before `safe` (and all that overlap it) replaced.
    fn let_through(&mut self, safe: usize, out: &mut Vec<u8>) {
        let Some(forms) = &self.redaction.forms else {
            out.append(&mut self.pending);
            return;
        };
        let mut found: Vec<(usize, usize, usize)> = forms
            .find_overlapping_iter(&self.pending)
            .map(|m| (m.start(), m.end(), m.pattern().as_usize()))
            .collect();
        found.sort_unstable();
        let mut cursor = 0;
        for (start, end, pattern) in found {
            if start < cursor {
                // Overlaps what was just replaced: replaced with it.
                cursor = cursor.max(end);
                continue;
            }
            if start >= safe {
                break;
            }
            out.extend_from_slice(&self.pending[cursor..start]);
            out.extend_from_slice(&self.redaction.replacements[pattern]);
            cursor = end;
        }
        let through = cursor.max(safe);
        out.extend_from_slice(&self.pending[cursor.min(through)..through]);
        self.pending.drain(..through);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redaction(secrets: &[(&str, &str)]) -> Arc<Redaction> {
        let secrets = secrets.iter().map(|(n, v)| (*n, v.as_bytes()));
        Arc::new(Redaction::new(secrets).unwrap())
    }

    /// What the stream lets through when `text` comes in writes of `size`.
    fn streamed(redaction: &Arc<Redaction>, text: &[u8], size: usize) -> String {
        let mut stream = Redactor::new(redaction.clone());
        let mut out = Vec::new();
        for chunk in text.chunks(size.max(1)) {
            stream.write(chunk, &mut out);
        }
        stream.finish(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn every_form_is_replaced_however_the_writes_fall() {
        let value = "s3cr3t-p@ss word/ü\"\n2nd line of it";
        let r = redaction(&[("DB", value)]);
        let raw = value.as_bytes();
        let mut texts: Vec<Vec<u8>> = vec![raw.to_vec(), b"2nd line of it".to_vec()];
        for skip in 0..3 {
            let mut padded = b"xyz"[..skip].to_vec();
            padded.extend_from_slice(raw);
            padded.extend_from_slice(b"tail");
            texts.push(STANDARD_NO_PAD.encode(&padded).into_bytes());
            texts.push(URL_SAFE_NO_PAD.encode(&padded).into_bytes());
        }
        texts.push(hex::encode(raw).into_bytes());
        texts.push(hex::encode_upper(raw).into_bytes());
        texts.push(
            percent_encoding::percent_encode(raw, URL_ESCAPED)
                .to_string()
                .into_bytes(),
        );
        texts.push(serde_json::to_vec(&serde_json::json!({ "v": value })).unwrap());
        texts.push(br#"{"v": "s3cr3t-p@ss word/\u00fc\"\n2nd line of it"}"#.to_vec());
        for text in texts {
            let mut log = b"before ".to_vec();
            log.extend_from_slice(&text);
            log.extend_from_slice(b" after");
            for size in [1, 2, 3, 7, 64, log.len()] {
                let out = streamed(&r, &log, size);
                assert!(out.contains("[redacted:DB]"), "{out:?}");
                assert!(
                    out.starts_with("before ") && out.ends_with(" after"),
                    "{out:?}"
                );
                for form in forms(raw) {
                    let form = String::from_utf8_lossy(&form).into_owned();
                    assert!(!out.contains(&form), "{form:?} survived in {out:?}");
                }
            }
        }
    }

    #[test]
    fn text_without_secrets_passes_unchanged_and_whole() {
        let r = redaction(&[("A", "alpha-secret"), ("B", "beta-secret")]);
        let text = b"nothing to see here, alpha-secre and beta-secre\n".repeat(50);
        assert_eq!(streamed(&r, &text, 13).as_bytes(), &text[..]);
        let none = Arc::new(Redaction::none());
        assert_eq!(none.redact(b"alpha-secret"), b"alpha-secret");
    }

    #[test]
    fn overlapping_forms_are_replaced_together() {
        let r = redaction(&[("A", "abcdef"), ("B", "defghi")]);
        assert_eq!(r.redact_str("xxabcdefghiyy"), "xx[redacted:A]yy");
        let r = redaction(&[("A", "aaaa")]);
        let out = streamed(&r, b"aaaaaaaaaa", 1);
        assert!(!out.contains("aaaa"), "{out}");
    }

    #[test]
    fn a_value_shorter_than_four_bytes_is_refused_by_name() {
        let err = Redaction::new([("PIN", &b"123"[..])]).unwrap_err();
        assert_eq!(err.name, "PIN");
        assert!(!err.to_string().contains("123"));
    }
}
