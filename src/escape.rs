//! Exact bytes, shown safely.
//!
//! Everything portmortem prints comes from hostile captures, so nothing is
//! ever written raw to a terminal or a report. The escape form is lossless
//! (it can be turned back into the exact bytes) so a report is evidence, not
//! a paraphrase: printable ASCII stands for itself, a backslash is doubled,
//! CR/LF/TAB use `\r` `\n` `\t`, and every other byte is `\xNN`.

use serde::{Serialize, Serializer};
use std::fmt;

/// Appends the escaped form of `bytes` to `out`.
pub fn escape_into(bytes: &[u8], out: &mut String) {
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'\r' => out.push_str("\\r"),
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            0x20..=0x7e => out.push(b as char),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("\\x");
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 0xf) as usize] as char);
            }
        }
    }
}

/// The escaped form of `bytes` (see the module documentation).
pub fn escape(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() + 8);
    escape_into(bytes, &mut s);
    s
}

/// Text with its control characters escaped as in [`escape`] and every
/// other character kept: for messages of our own that quote something
/// from outside (a file name), so it cannot move the cursor or clear a
/// terminal while "—" and "µs" stay readable.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut buf = [0u8; 4];
    for c in text.chars() {
        if c.is_control() || c == '\\' {
            escape_into(c.encode_utf8(&mut buf).as_bytes(), &mut out);
        } else {
            out.push(c);
        }
    }
    out
}

/// Reverses [`escape`]. Returns `None` for text that `escape` cannot produce.
pub fn unescape(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    let mut it = text.bytes();
    while let Some(b) = it.next() {
        if b != b'\\' {
            if !(0x20..=0x7e).contains(&b) {
                return None;
            }
            out.push(b);
            continue;
        }
        match it.next()? {
            b'\\' => out.push(b'\\'),
            b'r' => out.push(b'\r'),
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'x' => {
                let hi = (it.next()? as char).to_digit(16)?;
                let lo = (it.next()? as char).to_digit(16)?;
                out.push((hi * 16 + lo) as u8);
            }
            _ => return None,
        }
    }
    Some(out)
}

/// How one byte is named in a message: `'7' (0x37)`, or `0x0d` when it has
/// no printable form.
pub fn describe_byte(b: u8) -> String {
    if b == b'`' {
        // Messages delimit quotes with backticks: never one loose.
        "\\x60 (0x60)".into()
    } else if (0x21..=0x7e).contains(&b) {
        format!("'{}' (0x{:02X})", b as char, b)
    } else {
        format!("{} (0x{:02X})", escape(&[b]), b)
    }
}

/// Owned bytes that serialize (JSON) and display (text) in escaped form.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Bytes(pub Vec<u8>);

impl Bytes {
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }
}

impl From<&[u8]> for Bytes {
    fn from(b: &[u8]) -> Self {
        Bytes(b.to_vec())
    }
}

impl From<Vec<u8>> for Bytes {
    fn from(b: Vec<u8>) -> Self {
        Bytes(b)
    }
}

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&escape(&self.0))
    }
}

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "b\"{}\"", escape(&self.0))
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_escaped(&self.0, s)
    }
}

/// Serializes `bytes` in their escaped form. Most lines are plain
/// printable ASCII, whose escaped form is the bytes themselves: those are
/// handed over as they are, without building a copy (a report writes
/// every line of every session).
fn serialize_escaped<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    let plain = bytes
        .iter()
        .all(|&b| (0x20..=0x7e).contains(&b) && b != b'\\');
    match std::str::from_utf8(bytes) {
        Ok(text) if plain => s.serialize_str(text),
        _ => s.serialize_str(&escape(bytes)),
    }
}

impl schemars::JsonSchema for Bytes {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Bytes".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": r"Bytes from outside, escaped losslessly: printable ASCII as is, a backslash doubled, CR/LF/TAB as \r \n \t, any other byte as \xNN.",
            "pattern": r"^([\x20-\x5b\x5d-\x7e]|\\[\\rnt]|\\x[0-9a-f]{2})*$"
        })
    }
}

/// Like [`escape`], but at most `max` bytes, then `…(+N bytes)`: for
/// quoting a line inside a sentence (the evidence keeps all of it).
pub fn escape_short(bytes: &[u8], max: usize) -> String {
    if bytes.len() <= max {
        return escape(bytes);
    }
    let mut s = escape(&bytes[..max]);
    s.push_str(&format!("…(+{} bytes)", bytes.len() - max));
    s
}

/// Escapes text that came from outside (file names, user input) the same way.
pub fn escape_str(s: &str) -> String {
    escape(s.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn escapes_controls_and_high_bytes() {
        assert_eq!(escape(b"PORT 1,2\r\n"), "PORT 1,2\\r\\n");
        assert_eq!(escape(b"a\\b"), "a\\\\b");
        assert_eq!(escape(&[0x00, 0xff, 0x1b]), "\\x00\\xff\\x1b");
        assert_eq!(escape("é".as_bytes()), "\\xc3\\xa9");
    }

    #[test]
    fn printable_keeps_text_and_escapes_controls() {
        assert_eq!(printable("a — 5 µs"), "a — 5 µs");
        assert_eq!(printable("x\u{1b}[2Jy\n\u{9b}"), "x\\x1b[2Jy\\n\\xc2\\x9b");
        assert_eq!(printable("c:\\dir"), "c:\\\\dir");
    }

    #[test]
    fn describes_bytes() {
        assert_eq!(describe_byte(b'7'), "'7' (0x37)");
        assert_eq!(describe_byte(b'_'), "'_' (0x5F)");
        assert_eq!(describe_byte(b'\r'), "\\r (0x0D)");
        assert_eq!(describe_byte(b' '), "  (0x20)");
    }

    #[test]
    fn short_form() {
        assert_eq!(escape_short(b"abcdef", 4), "abcd…(+2 bytes)");
        assert_eq!(escape_short(b"ab", 4), "ab");
    }

    #[test]
    fn rejects_what_escape_cannot_produce() {
        assert_eq!(unescape("\\q"), None);
        assert_eq!(unescape("\\x4"), None);
        assert_eq!(unescape("tab\there"), None);
    }

    proptest! {
        #[test]
        fn escape_roundtrips(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let e = escape(&data);
            prop_assert!(e.bytes().all(|b| (0x20..=0x7e).contains(&b)));
            prop_assert_eq!(unescape(&e), Some(data));
        }

        /// The shortcut for plain lines writes what the escape form would.
        #[test]
        fn serialized_bytes_are_the_escape_form(
            data in proptest::collection::vec(prop_oneof![0x20u8..0x7f, any::<u8>()], 0..80)
        ) {
            let json = serde_json::to_string(&Bytes(data.clone())).unwrap();
            prop_assert_eq!(json, serde_json::to_string(&escape(&data)).unwrap());
        }
    }
}
