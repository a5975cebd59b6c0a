//! The worker's streaming secrets redactor
//! (`wharf_worker_host::secrets::redact`): a secret value of at least 4
//! bytes, named `S`, embedded in any form between any prefix and suffix and
//! written in writes split anywhere, never comes out whole. The output is
//! cut at each `[redacted:S]`; no piece between them (what the redactor let
//! through) may hold any form of the value.
//!
//! The forms are derived here from what the redactor promises (its module
//! doc), not taken from its private `forms`:
//!
//! - the value, and each line of it (split at `\n`, a trailing `\r`
//!   dropped) of at least 4 bytes;
//! - base64, standard and URL-safe alphabets without padding, of the whole
//!   3-byte groups of the value in each of the 3 alignments
//!   (`value[skip..][..(len - skip) / 3 * 3]`, skip 0..3);
//! - lower- and upper-case hex;
//! - percent-encoding (RFC 3986 unreserved as is, `%XX` upper-case), and
//!   the same with a space as `+`;
//! - when the value is UTF-8, its JSON string escaping (serde_json's,
//!   without the quotes) and the same with every non-ASCII character as
//!   `\uXXXX` (lower-case hex, UTF-16 units).
#![no_main]

use std::sync::Arc;

use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use base64::Engine;
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use wharf_worker_host::secrets::redact::{Redaction, Redactor};

const TOKEN: &[u8] = b"[redacted:S]";

/// Values are cut to this: longer ones only make the automaton slower to
/// build, not the streaming different.
const MAX_VALUE: usize = 256;

#[derive(Debug, Arbitrary)]
struct Input {
    value: Vec<u8>,
    prefix: Vec<u8>,
    suffix: Vec<u8>,
    /// The form to embed (modulo their number), or `None` for each in turn.
    form: Option<u8>,
    /// Where the writes split the text, each modulo its length + 1.
    splits: Vec<u16>,
}

fuzz_target!(|input: Input| {
    let mut value = input.value;
    value.truncate(MAX_VALUE);
    if value.len() < 4 {
        return;
    }
    let redaction = Arc::new(
        Redaction::new([("S", &value[..])]).expect("a value of 4 bytes or more is accepted"),
    );
    let forms = forms(&value);
    let chosen: Vec<usize> = match input.form {
        Some(i) => vec![usize::from(i) % forms.len()],
        None => (0..forms.len()).collect(),
    };
    for i in chosen {
        let (kind, form) = &forms[i];
        let mut text = input.prefix.clone();
        text.extend_from_slice(form);
        text.extend_from_slice(&input.suffix);

        let mut cuts: Vec<usize> = input
            .splits
            .iter()
            .map(|&s| usize::from(s) % (text.len() + 1))
            .collect();
        cuts.push(0);
        cuts.push(text.len());
        cuts.sort_unstable();
        let mut stream = Redactor::new(redaction.clone());
        let mut out = Vec::new();
        for pair in cuts.windows(2) {
            stream.write(&text[pair[0]..pair[1]], &mut out);
        }
        stream.finish(&mut out);
        check(&value, &forms, kind, &text, &cuts, &out);

        let whole = redaction.redact(&text);
        check(&value, &forms, kind, &text, &[0, text.len()], &whole);
    }
});

/// Panics if a piece of `out` between replacements holds a form.
fn check(
    value: &[u8],
    forms: &[(String, Vec<u8>)],
    embedded: &str,
    text: &[u8],
    cuts: &[usize],
    out: &[u8],
) {
    for segment in split_on(out, TOKEN) {
        for (kind, form) in forms {
            if contains(segment, form) {
                panic!(
                    "the {kind} form survived\n value: {value:?}\n embedded form: {embedded}\n \
                     form: {:?}\n text: {:?}\n writes cut at: {cuts:?}\n out: {:?}\n segment: {:?}",
                    String::from_utf8_lossy(form),
                    String::from_utf8_lossy(text),
                    String::from_utf8_lossy(out),
                    String::from_utf8_lossy(segment),
                );
            }
        }
    }
}

/// Every form of `value`, each with what it is.
fn forms(value: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut forms = vec![("value".to_owned(), value.to_vec())];
    for (n, line) in value.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.len() >= 4 {
            forms.push((format!("line {n}"), line.to_vec()));
        }
    }
    for skip in 0..3 {
        let rest = &value[skip..];
        let groups = &rest[..rest.len() / 3 * 3];
        if !groups.is_empty() {
            forms.push((format!("base64 skip {skip}"), STANDARD_NO_PAD.encode(groups).into_bytes()));
            forms.push((format!("base64url skip {skip}"), URL_SAFE_NO_PAD.encode(groups).into_bytes()));
        }
    }
    forms.push(("hex".to_owned(), hex::encode(value).into_bytes()));
    forms.push(("HEX".to_owned(), hex::encode_upper(value).into_bytes()));
    forms.push(("percent".to_owned(), percent(value, false)));
    forms.push(("percent+".to_owned(), percent(value, true)));
    if let Ok(text) = std::str::from_utf8(value) {
        let quoted = serde_json::to_string(text).expect("a str serializes");
        let json = &quoted[1..quoted.len() - 1];
        let mut ascii = String::new();
        for c in json.chars() {
            if c.is_ascii() {
                ascii.push(c);
            } else {
                for unit in c.encode_utf16(&mut [0; 2]) {
                    ascii.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
        forms.push(("json".to_owned(), json.as_bytes().to_vec()));
        forms.push(("json ascii".to_owned(), ascii.into_bytes()));
    }
    forms
}

/// RFC 3986 percent-encoding: unreserved bytes as they are, every other one
/// as `%XX` (upper-case); with `plus`, a space as `+`.
fn percent(value: &[u8], plus: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() * 3);
    for &b in value {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b);
        } else if plus && b == b' ' {
            out.push(b'+');
        } else {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        }
    }
    out
}

/// The pieces of `bytes` between occurrences of `token` (leftmost first).
fn split_on<'a>(mut bytes: &'a [u8], token: &[u8]) -> Vec<&'a [u8]> {
    let mut pieces = Vec::new();
    while let Some(at) = find(bytes, token) {
        pieces.push(&bytes[..at]);
        bytes = &bytes[at + token.len()..];
    }
    pieces.push(bytes);
    pieces
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    find(haystack, needle).is_some()
}
