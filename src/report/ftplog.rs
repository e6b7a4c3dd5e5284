//! `--format ftplog`: one row per command, tab-separated with a `#fields`
//! header, in the shape of Zeek's `ftp.log`, so that a Zeek user can put
//! portmortem's reading of a capture beside Zeek's line by line.
//!
//! Unlike Zeek, every command gets a row (Zeek logs a chosen few), the
//! session is portmortem's id, and the last column says what became of the
//! data channel a command announced. Fields follow Zeek's conventions:
//! `-` for unset, `(empty)` for empty; bytes from the capture are escaped
//! (`\t`, `\xNN`), so a row never breaks.

use super::model::{Entry, SessionView};
use crate::escape::escape;
use crate::reassembly::connection::Side;
use std::io::{self, Write};

/// The header fields, in order.
const FIELDS: &[&str] = &[
    "ts",
    "session",
    "id.orig_h",
    "id.orig_p",
    "id.resp_h",
    "id.resp_p",
    "user",
    "command",
    "arg",
    "reply_code",
    "reply_msg",
    "data_channel.passive",
    "data_channel.orig_h",
    "data_channel.resp_h",
    "data_channel.resp_p",
    "data_channel.outcome",
];

/// A field's text: `-` when unset, `(empty)` when empty.
fn field(v: Option<String>) -> String {
    match v {
        None => "-".into(),
        Some(s) if s.is_empty() => "(empty)".into(),
        Some(s) => s,
    }
}

/// Address and port of `a.b.c.d:p` or `[v6]:p`, as two fields.
fn split_endpoint(e: &str) -> (String, String) {
    match e.rsplit_once(':') {
        Some((h, p)) => (h.trim_matches(['[', ']']).to_string(), p.to_string()),
        None => (e.to_string(), "-".into()),
    }
}

/// Writes the log of `sessions`; with `several` captures, the session
/// column names the capture too (`c2.s1`).
pub fn render(sessions: &[SessionView<'_>], several: bool, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "#separator \\x09")?;
    writeln!(out, "#set_separator\t,")?;
    writeln!(out, "#empty_field\t(empty)")?;
    writeln!(out, "#unset_field\t-")?;
    writeln!(out, "#path\tftp")?;
    writeln!(out, "#fields\t{}", FIELDS.join("\t"))?;
    for s in sessions {
        let id = if several {
            format!("c{}.{}", s.capture + 1, s.id)
        } else {
            s.id.clone()
        };
        let (ch, cp) = split_endpoint(&s.client);
        let (sh, sp) = split_endpoint(&s.server);
        // `n` is an entry's position in the dialogue.
        let by_n = |n: usize| s.dialogue.get(n);
        let mut user: Option<String> = None;
        for e in s.dialogue.iter().filter(|e| e.dir == Side::Client) {
            let text = &e.text.0;
            let verb = e.verb.map(str::to_string);
            let arg = crate::ftp::message::argument_of(text).map(escape);
            if e.verb == Some("USER") {
                user = arg.clone();
            }
            let reply: Option<&Entry<'_>> = e.pairs_with.and_then(by_n);
            let code = reply.and_then(|r| r.code).map(|c| c.to_string());
            // The final line's text after its code, as Zeek's reply_msg
            // (a multi-line reply's lines are joined with CRLF).
            let msg = reply.map(|r| {
                let t = &r.text.0;
                let last = t
                    .windows(2)
                    .rposition(|w| w == b"\r\n")
                    .map_or(&t[..], |k| &t[k + 2..]);
                escape(last.get(4..).unwrap_or_default())
            });
            // The data channel this command set up: its own (PORT…) or
            // that of the reply it got (227…).
            let setup = s.data_setups.iter().find(|d| {
                d.command_entry == Some(e.n)
                    && (d.setup.kind.is_active() || d.reply_entry == e.pairs_with)
            });
            let (passive, oh, rh, rp, outcome) = match setup {
                Some(d) => {
                    let ep = d.setup.endpoint.map(|p| p.to_string());
                    let (h, p) = ep.as_deref().map_or((None, None), |x| {
                        let (h, p) = split_endpoint(x);
                        (Some(h), Some(p))
                    });
                    // The side that connects: the server for PORT, the
                    // client for PASV.
                    let passive = !d.setup.kind.is_active();
                    let orig = if passive { ch.clone() } else { sh.clone() };
                    (
                        Some(if passive { "T" } else { "F" }.to_string()),
                        Some(orig),
                        h,
                        p,
                        Some(d.status.name().to_string()),
                    )
                }
                None => (None, None, None, None, None),
            };
            let row = [
                e.ts.unix_secs_text(),
                id.clone(),
                ch.clone(),
                cp.clone(),
                sh.clone(),
                sp.clone(),
                field(user.clone()),
                field(verb.or_else(|| Some(escape(text)))),
                field(arg),
                field(code),
                field(msg),
                field(passive),
                field(oh),
                field(rh),
                field(rp),
                field(outcome),
            ];
            writeln!(out, "{}", row.join("\t"))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_and_endpoints() {
        assert_eq!(field(None), "-");
        assert_eq!(field(Some(String::new())), "(empty)");
        assert_eq!(
            split_endpoint("[2001:db8::1]:21"),
            ("2001:db8::1".into(), "21".into())
        );
        assert_eq!(
            split_endpoint("198.51.100.60:40000"),
            ("198.51.100.60".into(), "40000".into())
        );
    }
}
