//! Server replies that quote the command they received.
//!
//! BSD ftpd, wu-ftpd, GNU inetutils and IIS 5/6 answer an unparsable
//! command with `500 'LINE': command not understood.`; the founding case's
//! server wrote `500 Command not understood 'LINE'`. The quoted text is
//! what the server received, so comparing it with what the client sent
//! proves, from a client-side capture alone, that the line changed in
//! transit. No other tool looks at it (docs/middleboxes.md, "What other tools do").

use crate::escape::Bytes;
use serde::Serialize;

/// How the reply quoted the command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EchoStyle {
    /// `'LINE': command not understood` (BSD ftpd lineage).
    LeadingQuote,
    /// `Command not understood 'LINE'` (the founding case).
    TrailingQuote,
    /// Any quoted text that starts with the command's verb.
    Quoted,
    /// Only the verb is echoed (pyftpdlib `Command "X" not understood`,
    /// ProFTPD `X not understood`).
    VerbOnly,
}

/// The echoed text found in a reply line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Echo {
    pub quoted: Bytes,
    /// Offset of the quoted text in the reply line.
    pub at: usize,
    pub style: EchoStyle,
}

/// Where `needle` (lower case) first occurs in `lower` (the reply in
/// lower case): found with memchr's substring search rather than a case-
/// insensitive compare at every offset, which cost 5% of `analyze` on
/// many short sessions (every reply is searched).
fn find_lower(lower: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(lower, needle)
}

fn starts_with_verb(text: &[u8], verb: &str) -> bool {
    let v = verb.as_bytes();
    text.len() >= v.len()
        && text[..v.len()].eq_ignore_ascii_case(v)
        && text.get(v.len()).is_none_or(|&b| b == b' ')
}

/// Looks for the echo of a command in a reply line (`500 …`). `verb` is
/// the verb the client sent, used for the generic form.
pub fn find_echo(reply: &[u8], verb: Option<&str>) -> Option<Echo> {
    if reply.len() < 5 {
        return None;
    }
    let text = &reply[4..];
    // 'LINE': command not understood  — the closing quote is the last `':`.
    if text.first() == Some(&b'\'')
        && let Some(end) = text.windows(2).rposition(|w| w == b"':")
        && end > 1
    {
        return Some(Echo {
            quoted: text[1..end].into(),
            at: 5,
            style: EchoStyle::LeadingQuote,
        });
    }
    let lower = text.to_ascii_lowercase();
    // Command not understood 'LINE'
    for marker in [
        &b"not understood '"[..],
        b"not recognized '",
        b"not recognised '",
    ] {
        if let Some(p) = find_lower(&lower, marker) {
            let start = p + marker.len();
            if let Some(end) = text.iter().rposition(|&b| b == b'\'')
                && end > start
            {
                return Some(Echo {
                    quoted: text[start..end].into(),
                    at: 4 + start,
                    style: EchoStyle::TrailingQuote,
                });
            }
        }
    }
    let verb = verb?;
    // Generic: the longest quoted text that starts with the verb.
    let mut best: Option<Echo> = None;
    for q in [b'\'', b'"'] {
        let quotes: Vec<usize> = text
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == q)
            .map(|(i, _)| i)
            .collect();
        for (k, &open) in quotes.iter().enumerate() {
            for &close in quotes[k + 1..].iter().rev() {
                let inner = &text[open + 1..close];
                if starts_with_verb(inner, verb)
                    && best.as_ref().is_none_or(|b| b.quoted.0.len() < inner.len())
                {
                    best = Some(Echo {
                        quoted: inner.into(),
                        at: 4 + open + 1,
                        style: EchoStyle::Quoted,
                    });
                }
            }
        }
    }
    if best.is_some() {
        return best;
    }
    // Verb only: `Command "X" not understood` / `X not understood`.
    if let Some(rest) = text.strip_prefix(b"Command \"")
        && let Some(end) = rest.iter().position(|&b| b == b'"')
    {
        return Some(Echo {
            quoted: rest[..end].into(),
            at: 4 + 9,
            style: EchoStyle::VerbOnly,
        });
    }
    if let Some(p) = find_lower(&lower, b" not understood")
        && p > 0
        && !text[..p].contains(&b' ')
    {
        return Some(Echo {
            quoted: text[..p].into(),
            at: 4,
            style: EchoStyle::VerbOnly,
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bsd_and_inetutils() {
        let e = find_echo(
            b"500 'PORT 198,51,100,60,125,22_': command not understood.",
            Some("PORT"),
        )
        .unwrap();
        assert_eq!(e.quoted.0, b"PORT 198,51,100,60,125,22_");
        assert_eq!(e.style, EchoStyle::LeadingQuote);
        assert_eq!(e.at, 5);
        let e = find_echo(b"500 'PORT 1,2,3,4,5,22_': command not recognized", None).unwrap();
        assert_eq!(e.quoted.0, b"PORT 1,2,3,4,5,22_");
    }

    #[test]
    fn founding_case_format() {
        let e = find_echo(
            b"500 Command not understood 'PORT 10,225,1,89,124,22_'",
            Some("PORT"),
        )
        .unwrap();
        assert_eq!(e.quoted.0, b"PORT 10,225,1,89,124,22_");
        assert_eq!(e.style, EchoStyle::TrailingQuote);
        assert_eq!(
            &b"500 Command not understood 'PORT 10,225,1,89,124,22_'"[e.at..e.at + 4],
            b"PORT"
        );
    }

    #[test]
    fn generic_and_quotes_inside() {
        let e = find_echo(b"501 'RETR it's.txt': bad", Some("RETR"));
        assert_eq!(e.unwrap().quoted.0, b"RETR it's.txt");
        let e = find_echo(b"504 Syntax error in \"PORT 1,2,3\" here", Some("PORT")).unwrap();
        assert_eq!(e.quoted.0, b"PORT 1,2,3");
        assert_eq!(e.style, EchoStyle::Quoted);
        assert!(
            find_echo(b"550 'file.txt': No such file", Some("RETR"))
                .is_some_and(|e| e.style == EchoStyle::LeadingQuote)
        );
    }

    #[test]
    fn verb_only_forms() {
        let e = find_echo(b"500 Command \"P@SW\" not understood.", Some("PASV")).unwrap();
        assert_eq!(
            (e.quoted.0.as_slice(), e.style),
            (&b"P@SW"[..], EchoStyle::VerbOnly)
        );
        let e = find_echo(b"500 P@SW not understood", Some("PASV")).unwrap();
        assert_eq!(e.quoted.0, b"P@SW");
        assert!(find_echo(b"500 Unknown command.", Some("PORT")).is_none());
    }
}
