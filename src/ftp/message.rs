//! FTP commands and replies, parsed from lines.
//!
//! Verbs are matched case-insensitively (clients send `port`, `xpwd`…);
//! replies follow RFC 959 §4.2: `xyz text` is a one-line reply, `xyz-text`
//! opens a multi-line reply that ends at the first line starting with the
//! same code and a space.

use super::address::{self, AddrArg};
use super::line::Line;
use crate::escape::Bytes;
use compact_str::CompactString;
use serde::Serialize;

/// Whether a byte separates a verb from its argument. Servers split on any
/// blank, not only a space (vsftpd, ProFTPD and BSD ftpd accept
/// `PASS<TAB>secret`), so a tool that splits on spaces alone would miss
/// what the server really received.
pub fn is_separator(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\x0b' | b'\x0c')
}

/// Where the first word ends.
fn word_end(line: &[u8]) -> usize {
    line.iter()
        .position(|&b| is_separator(b))
        .unwrap_or(line.len())
}

/// The longest word taken as a verb (a line cap's worth would be junk).
const MAX_VERB: usize = 512;

/// The verb of a command line: up to the first blank, upper-cased. `None`
/// when the first word is not a plausible verb (binary junk, a line after
/// a gap).
pub fn verb_of(line: &[u8]) -> Option<CompactString> {
    let end = word_end(line);
    let w = &line[..end];
    // Long words are kept: a server answers a 131-letter verb too, and the
    // reply must pair with it. Binary junk fails the character test.
    if w.is_empty() || w.len() > MAX_VERB {
        return None;
    }
    if !w
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || b"@-_".contains(b))
    {
        return None;
    }
    if !w[0].is_ascii_alphabetic() {
        return None;
    }
    // Verbs are short: held inline, not on the heap (one per command).
    let mut verb = CompactString::with_capacity(w.len());
    verb.extend(w.iter().map(|b| char::from(b.to_ascii_uppercase())));
    Some(verb)
}

/// FTP commands (RFC 959, 1639, 2228, 2389, 2428, 2640, 3659, 7151 and
/// common X-variants).
pub const VERBS: &[&str] = &[
    "ABOR", "ACCT", "ADAT", "ALLO", "APPE", "AUTH", "CCC", "CDUP", "CLNT", "CONF", "CSID", "CWD",
    "DELE", "ENC", "EPRT", "EPSV", "FEAT", "HELP", "HOST", "LANG", "LIST", "LPRT", "LPSV", "MDTM",
    "MFCT", "MFF", "MFMT", "MIC", "MKD", "MLSD", "MLST", "MODE", "NLST", "NOOP", "OPTS", "PASS",
    "PASV", "PBSZ", "PORT", "PROT", "PWD", "QUIT", "REIN", "REST", "RETR", "RMD", "RNFR", "RNTO",
    "SITE", "SIZE", "SMNT", "STAT", "STOR", "STOU", "STRU", "SYST", "TYPE", "USER", "XCRC", "XCUP",
    "XCWD", "XMKD", "XPWD", "XRMD",
];

/// Whether a line starts with a known FTP verb (followed by a space or the
/// line's end).
pub fn starts_with_known_verb(line: &[u8]) -> bool {
    let end = line
        .iter()
        .position(|&b| is_separator(b) || b == b'\r' || b == b'\n')
        .unwrap_or(line.len());
    let w = &line[..end];
    VERBS.iter().any(|v| v.as_bytes().eq_ignore_ascii_case(w))
}

/// Whether a line starts like a reply (`xyz ` or `xyz-`).
pub fn starts_like_reply(line: &[u8]) -> bool {
    line.len() >= 4 && line[..3].iter().all(u8::is_ascii_digit) && matches!(line[3], b' ' | b'-')
}

/// The argument: the bytes after the first blank (exactly as sent).
pub fn argument_of(line: &[u8]) -> Option<&[u8]> {
    let sp = line.iter().position(|&b| is_separator(b))?;
    Some(&line[sp + 1..])
}

/// `SITE` subcommands that carry a password (wu-ftpd/ProFTPD `SITE
/// PASSWD`/`CHPASS`, Serv-U/Gene6 `SITE PSWD`, glFTPd `SITE CHPW`…).
const SITE_SECRETS: &[&[u8]] = &[b"PASSWD", b"CPASS", b"CHPASS", b"CHPW", b"PSWD", b"SETPASS"];

/// Where a command line carries a credential, as a byte range of the line:
/// everything after the verb's blanks in `PASS` and `ACCT`, everything
/// after the subcommand in `SITE PASSWD`-like commands (an empty range
/// for `PASS ` with nothing after the blank). `None` when the line carries
/// none.
pub fn secret_of(line: &[u8]) -> Option<std::ops::Range<usize>> {
    let skip_blanks = |from: usize| {
        from + line[from..]
            .iter()
            .take_while(|&&b| is_separator(b))
            .count()
    };
    let verb = verb_of(line)?;
    // The secret starts after the blanks that follow this word.
    let word = match verb.as_str() {
        "PASS" | "ACCT" => word_end(line),
        "SITE" => {
            let sub = skip_blanks(word_end(line));
            let sub_end = sub + word_end(&line[sub..]);
            if !SITE_SECRETS
                .iter()
                .any(|w| w.eq_ignore_ascii_case(&line[sub..sub_end]))
            {
                return None;
            }
            sub_end
        }
        _ => return None,
    };
    let start = skip_blanks(word);
    (start > word).then_some(start..line.len())
}

/// Where `secret` occurs in `hay` right after `before` (the command's verb
/// and blanks, matched case-insensitively: servers quote a command back in
/// their own case): the start of each occurrence, non-overlapping.
pub fn quoted_secret(hay: &[u8], before: &[u8], secret: &[u8]) -> Vec<usize> {
    let mut found = Vec::new();
    if secret.is_empty() {
        return found;
    }
    let mut at = before.len();
    while at + secret.len() <= hay.len() {
        if hay[at..].starts_with(secret) && hay[at - before.len()..at].eq_ignore_ascii_case(before)
        {
            found.push(at);
            at += secret.len();
        } else {
            at += 1;
        }
    }
    found
}

/// Verbs that move data (and so may get a 1xx preliminary reply and the
/// 226/250 that ends a transfer).
const TRANSFER: &[&str] = &[
    "RETR", "STOR", "STOU", "APPE", "LIST", "NLST", "MLSD", "ABOR", "REIN",
];

/// The commands a reply code belongs to, for codes that belong to one kind
/// of command (RFC 959 §5.4, RFC 2228, 2389, 2428, 3659, 1639): 221 to
/// QUIT, 227 to PASV, 257 to PWD/MKD, 215 to SYST, 331 to USER, 350 to
/// REST/RNFR… `None` for errors (4xx, 5xx) and the generic 200/202/250,
/// which can answer anything.
pub fn reserved_for(code: u16) -> Option<&'static [&'static str]> {
    Some(match code {
        110..=199 => TRANSFER,
        211 => &["FEAT", "STAT", "HELP", "SITE", "OPTS"],
        212 | 213 => &["STAT", "SIZE", "MDTM", "XCRC", "MFMT"],
        214 => &["HELP", "SITE"],
        215 => &["SYST"],
        220 => &["REIN"],
        221 => &["QUIT", "REIN"],
        225 => &["ABOR"],
        226 => TRANSFER,
        227 => &["PASV"],
        228 => &["LPSV"],
        229 => &["EPSV"],
        230 | 232 => &["USER", "PASS", "ACCT", "ADAT", "AUTH"],
        234 | 235 | 334 | 335 | 336 => &["AUTH", "ADAT"],
        257 => &["PWD", "XPWD", "MKD", "XMKD", "CWD", "XCWD"],
        331 | 332 => &["USER", "PASS"],
        350 => &["REST", "RNFR"],
        _ => return None,
    })
}

/// Whether reply `code` can answer a command with `verb`: any reply, unless
/// the code belongs to other commands ([`reserved_for`]). A verb outside
/// [`VERBS`] takes any reply (who knows what a server does with it).
pub fn may_answer(verb: &str, code: u16) -> bool {
    reserved_for(code).is_none_or(|v| v.contains(&verb) || !VERBS.contains(&verb))
}

/// A reply line's code and separator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyHead {
    pub code: u16,
    /// `-` opens a multi-line reply, ` ` (or end of line) ends one.
    pub continues: bool,
}

/// Parses `xyz ` / `xyz-` / `xyz` at the start of a line.
pub fn reply_head(line: &[u8]) -> Option<ReplyHead> {
    if line.len() < 3 || !line[..3].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let code =
        (line[0] - b'0') as u16 * 100 + (line[1] - b'0') as u16 * 10 + (line[2] - b'0') as u16;
    match line.get(3) {
        None | Some(b' ') => Some(ReplyHead {
            code,
            continues: false,
        }),
        Some(b'-') => Some(ReplyHead {
            code,
            continues: true,
        }),
        _ => None,
    }
}

/// A command sent by the client.
#[derive(Clone, Debug, Serialize)]
pub struct Command {
    /// Upper-cased verb, or `None` for a line that is not a command.
    pub verb: Option<CompactString>,
    pub line: Line,
    /// The address a PORT, EPRT or LPRT carries, read once here: the live
    /// session, its data setups and the rules all need it.
    #[serde(skip)]
    pub address: Option<Box<AddrArg>>,
}

impl Command {
    pub fn new(line: Line) -> Self {
        let verb = if line.after_gap {
            None
        } else {
            verb_of(&line.bytes.0)
        };
        let address = verb
            .as_deref()
            .and_then(|v| address::parse_command(v, &line.bytes.0))
            .map(Box::new);
        Command {
            verb,
            line,
            address,
        }
    }

    pub fn is(&self, verb: &str) -> bool {
        self.verb.as_deref() == Some(verb)
    }

    pub fn arg(&self) -> Option<&[u8]> {
        argument_of(&self.line.bytes.0)
    }
}

/// A reply sent by the server (one line, or all lines of a multi-line one).
#[derive(Clone, Debug, Serialize)]
pub struct Reply {
    /// `None` for a server line that is not a valid reply.
    pub code: Option<u16>,
    pub lines: Vec<Line>,
    /// A multi-line reply that never got its closing line.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub unterminated: bool,
    /// A multi-line reply ended by a gap: bytes of it were never captured
    /// and a line shaped like a new reply came after them, so its closing
    /// line was in what the capture missed (not a server fault).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub cut_by_gap: bool,
}

impl Reply {
    pub fn first(&self) -> &Line {
        &self.lines[0]
    }
    pub fn last(&self) -> &Line {
        &self.lines[self.lines.len() - 1]
    }
    /// The text after the code of the last line (the meaningful one for a
    /// single-line reply; the closing line of a multi-line one).
    pub fn text(&self) -> &[u8] {
        let l = &self.last().bytes.0;
        if self.code.is_some() && l.len() >= 4 {
            &l[4..]
        } else if self.code.is_some() {
            &[]
        } else {
            l
        }
    }
    pub fn is_preliminary(&self) -> bool {
        self.code.is_some_and(|c| (100..200).contains(&c))
    }
    pub fn frames(&self) -> Vec<u64> {
        let mut v: Vec<u64> = self.lines.iter().flat_map(|l| l.frames()).collect();
        v.dedup();
        v
    }
    /// The reply's lines as the wire had them: each but the last followed
    /// by its own line end (a server may end some lines of one reply with
    /// a bare LF and others with CRLF), the last without. A line a gap
    /// cut short has no line end to show.
    pub fn joined(&self) -> Bytes {
        let mut v = Vec::new();
        for (i, l) in self.lines.iter().enumerate() {
            if i > 0 {
                v.extend_from_slice(self.lines[i - 1].terminator.bytes());
            }
            v.extend_from_slice(&l.bytes.0);
        }
        Bytes(v)
    }
}

/// The most lines kept in one multi-line reply; the rest are counted.
pub const MAX_REPLY_LINES: usize = 1000;

/// Groups server lines into replies.
#[derive(Default)]
pub struct ReplyAssembler {
    open: Option<Reply>,
    /// Memory of the open reply's lines.
    open_size: usize,
    /// Bytes of the open reply were never captured: whether it is still
    /// open is unknown, so the next line shaped like a reply start begins
    /// a reply of its own.
    gap_in_open: bool,
    /// A complete reply that follows the one [`push`](Self::push) returned
    /// (a reply start after a gap closes the open reply and may be whole).
    held: Option<Reply>,
    pub lines_dropped: u64,
}

impl ReplyAssembler {
    /// Adds a line; returns a reply when one is complete. After a gap
    /// inside an open multi-line reply, a line shaped like a reply start
    /// (other than the open reply's closing line) ends the open reply as
    /// cut by the gap, which is returned; the new line's reply, when it is
    /// already whole, waits in [`take_held`](Self::take_held).
    pub fn push(&mut self, line: Line) -> Option<Reply> {
        let head = if line.after_gap {
            None
        } else {
            reply_head(&line.bytes.0)
        };
        if let Some(open) = self.open.as_mut() {
            let closes = head.is_some_and(|h| Some(h.code) == open.code && !h.continues);
            let gap = self.gap_in_open || line.follows_gap;
            if gap && head.is_some() && !closes {
                let mut cut = self.open.take()?;
                cut.cut_by_gap = true;
                self.gap_in_open = false;
                self.open_size = 0;
                self.held = self.start(line, head);
                return Some(cut);
            }
            self.gap_in_open |= line.after_gap || line.follows_gap;
            if open.lines.len() < MAX_REPLY_LINES || closes {
                self.open_size += line.mem_size();
                open.lines.push(line);
            } else {
                self.lines_dropped += 1;
            }
            if closes {
                self.open_size = 0;
                self.gap_in_open = false;
                return self.open.take();
            }
            return None;
        }
        self.start(line, head)
    }

    /// The reply [`push`](Self::push) completed after the one it returned.
    pub fn take_held(&mut self) -> Option<Reply> {
        self.held.take()
    }

    /// A line with no reply open: a reply of its own, or the first line of
    /// a multi-line one.
    fn start(&mut self, line: Line, head: Option<ReplyHead>) -> Option<Reply> {
        let reply = Reply {
            code: head.map(|h| h.code),
            lines: vec![line],
            unterminated: false,
            cut_by_gap: false,
        };
        if head.is_some_and(|h| h.continues) {
            self.open_size = reply.lines[0].mem_size();
            self.open = Some(reply);
            return None;
        }
        Some(reply)
    }

    /// Bytes held by the multi-line reply still open.
    pub fn mem_size(&self) -> usize {
        self.open_size
    }

    /// The stream ended: an open multi-line reply is returned unterminated.
    pub fn finish(&mut self) -> Option<Reply> {
        self.open_size = 0;
        self.open.take().map(|mut r| {
            r.unterminated = true;
            r
        })
    }

    pub fn is_open(&self) -> bool {
        self.open.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ftp::line::{Line, Terminator};

    fn line(s: &[u8]) -> Line {
        Line {
            bytes: Bytes(s.to_vec()),
            terminator: Terminator::CrLf,
            offset: 0,
            raw_len: s.len() as u64 + 2,
            pieces: vec![],
            pieces_dropped: 0,
            telnet: vec![],
            telnet_dropped: 0,
            overlong_bytes: 0,
            after_gap: false,
            follows_gap: false,
            bare_cr: false,
            peer_acked: None,
        }
    }

    #[test]
    fn a_joined_reply_keeps_each_lines_own_end() {
        // Suricata's ftp-mode-02, frames 14–15: three lines end with a
        // bare LF, the last two with CRLF.
        let mut lines: Vec<Line> = [&b"211-Features:"[..], b" MDTM", b" REST STREAM"]
            .iter()
            .map(|t| Line {
                terminator: Terminator::Lf,
                ..line(t)
            })
            .collect();
        lines.push(line(b" SIZE"));
        lines.push(line(b"211 End"));
        let r = Reply {
            code: Some(211),
            lines,
            unterminated: false,
            cut_by_gap: false,
        };
        assert_eq!(
            r.joined().0,
            b"211-Features:\n MDTM\n REST STREAM\n SIZE\r\n211 End".to_vec()
        );
    }

    #[test]
    fn verbs_are_case_insensitive() {
        assert_eq!(verb_of(b"port 1,2").as_deref(), Some("PORT"));
        assert_eq!(verb_of(b"xpwd").as_deref(), Some("XPWD"));
        assert_eq!(verb_of(b"P@SW").as_deref(), Some("P@SW"));
        assert_eq!(verb_of(b"\x16\x03\x01"), None);
        assert_eq!(verb_of(b"220 hi"), None);
        assert_eq!(argument_of(b"PORT  1,2"), Some(&b" 1,2"[..]));
    }

    #[test]
    fn reply_heads() {
        assert_eq!(
            reply_head(b"220 hi"),
            Some(ReplyHead {
                code: 220,
                continues: false
            })
        );
        assert!(reply_head(b"230-welcome").unwrap().continues);
        assert_eq!(reply_head(b"226").unwrap().code, 226);
        assert_eq!(reply_head(b"99 PASV invalid"), None);
        assert_eq!(reply_head(b"SYST not supported"), None);
        assert_eq!(reply_head(b"2200 x"), None);
    }

    #[test]
    fn multiline_reply_ends_on_same_code() {
        let mut a = ReplyAssembler::default();
        assert!(a.push(line(b"211-Features:")).is_none());
        assert!(a.push(line(b" MDTM")).is_none());
        assert!(a.push(line(b"226-not the end")).is_none());
        assert!(a.push(line(b"211-still not")).is_none());
        let r = a.push(line(b"211 End")).unwrap();
        assert_eq!(r.code, Some(211));
        assert_eq!(r.lines.len(), 5);
        assert_eq!(r.text(), b"End");
        let r = a.push(line(b"200 ok")).unwrap();
        assert_eq!(r.lines.len(), 1);
    }

    #[test]
    fn invalid_reply_line_is_its_own_reply() {
        let mut a = ReplyAssembler::default();
        let r = a.push(line(b"SYST not supported")).unwrap();
        assert_eq!(r.code, None);
        assert_eq!(r.text(), b"SYST not supported");
    }

    #[test]
    fn unterminated_multiline() {
        let mut a = ReplyAssembler::default();
        a.push(line(b"230-hello"));
        let r = a.finish().unwrap();
        assert!(r.unterminated);
    }

    #[test]
    fn a_reply_start_after_a_gap_ends_the_open_reply() {
        let mut a = ReplyAssembler::default();
        assert!(a.push(line(b"230-Welcome")).is_none());
        // The rest of the 230 reply was never captured; the line after the
        // gap is the tail of some line, then a reply of its own.
        let mut tail = line(b"ome more text");
        tail.after_gap = true;
        assert!(a.push(tail).is_none());
        let cut = a.push(line(b"200 PORT command successful.")).unwrap();
        assert!(cut.cut_by_gap && !cut.unterminated);
        assert_eq!(cut.code, Some(230));
        let held = a.take_held().unwrap();
        assert_eq!(held.code, Some(200));
        let next = a.push(line(b"200 PORT command successful.")).unwrap();
        assert_eq!(next.code, Some(200));
        assert!(a.take_held().is_none());
    }

    #[test]
    fn without_a_gap_a_reply_shaped_line_stays_inside_the_reply() {
        let mut a = ReplyAssembler::default();
        a.push(line(b"230-Welcome"));
        assert!(a.push(line(b"200 is just text here")).is_none());
        let r = a.push(line(b"230 done")).unwrap();
        assert_eq!(r.lines.len(), 3);
        assert!(!r.cut_by_gap);
    }

    #[test]
    fn secrets_follow_any_blank() {
        let at = |l: &[u8]| secret_of(l).map(|r| String::from_utf8_lossy(&l[r]).into_owned());
        assert_eq!(at(b"PASS\tsecret"), Some("secret".into()));
        assert_eq!(at(b"pass  two words"), Some("two words".into()));
        assert_eq!(at(b"PASS "), Some(String::new()));
        assert_eq!(at(b"PASS"), None);
        assert_eq!(at(b"ACCT\x0bbilling"), Some("billing".into()));
        assert_eq!(at(b"SITE PASSWD old new"), Some("old new".into()));
        assert_eq!(at(b"site\tcpass  x"), Some("x".into()));
        assert_eq!(at(b"SITE PASSWD"), None);
        assert_eq!(at(b"SITE CHMOD 644 f"), None);
        assert_eq!(at(b"PASSWORD x"), None);
        assert_eq!(verb_of(b"PASS\tx").as_deref(), Some("PASS"));
        assert_eq!(argument_of(b"CWD\tdir"), Some(&b"dir"[..]));
    }

    #[test]
    fn replies_go_to_the_commands_that_can_get_them() {
        assert!(may_answer("QUIT", 221));
        assert!(!may_answer("PORT", 221));
        assert!(!may_answer("PASV", 221));
        assert!(!may_answer("PORT", 257));
        assert!(may_answer("PWD", 257));
        assert!(!may_answer("TYPE", 227));
        assert!(may_answer("PASV", 227));
        assert!(may_answer("PORT", 200));
        assert!(may_answer("PORT", 500));
        assert!(!may_answer("PORT", 150));
        assert!(may_answer("RETR", 150));
        assert!(may_answer("XYZZY", 221), "unknown verbs take anything");
    }
}
