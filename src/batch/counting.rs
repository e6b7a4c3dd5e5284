//! What a data setup counts as in an archive: a transfer (with its
//! outcome), a command the server refused, a setup nobody used, or no
//! setup at all. The archive's statistics count transfers, not
//! announcements: a scanner's refused PORTs are not failed transfers, and
//! a stray `227` that answers no PASV announces nothing.

use crate::escape::escape;
use crate::ftp::address::AddrKind;
use crate::ftp::data::{DataSetup, Outcome};
use crate::ftp::session::Session;

/// One data setup, as the archive counts it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Counted {
    /// A 227/228/229 that answers no PASV/LPSV/EPSV command of the
    /// capture and led to no data connection: no setup.
    NotASetup,
    /// The server refused the PORT/EPRT/LPRT (a 4xx/5xx reply): a
    /// refused command, never a transfer. `code` and `reply` (escaped,
    /// cut to [`REASON_CHARS`]) are the server's reason.
    Refused { code: u16, reply: String },
    /// Accepted (or unanswered) but never used: no transfer command
    /// followed it before the next setup, no data connection was opened
    /// for it, and the session did not hang on it.
    Unused,
    /// A transfer: a transfer command (RETR, STOR, LIST…) followed the
    /// setup, or a data connection was opened for it, or the session hung
    /// on it: no reply came and the client sent nothing more, waiting
    /// for the answer (it could not go on).
    Transfer(Outcome),
}

/// What a counted setup was, where it counts for patterns and dates:
/// a transfer that worked or failed, or a refused command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Worked,
    Failed,
    Refused,
}

impl Kind {
    /// A failed transfer or a refused command: what patterns explain.
    pub fn is_failure(self) -> bool {
        self != Kind::Worked
    }
}

/// What one session had, for one value or one mode: a failure, a
/// working transfer, or both. A session is one observation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Marks {
    pub failing: bool,
    pub working: bool,
    pub refused: bool,
}

impl Marks {
    pub fn note(&mut self, kind: Kind) {
        match kind {
            Kind::Worked => self.working = true,
            Kind::Failed => self.failing = true,
            Kind::Refused => {
                self.failing = true;
                self.refused = true;
            }
        }
    }
}

/// A refusal's reason is shown up to this many characters.
pub const REASON_CHARS: usize = 100;

/// What `d`, a setup of session `s`, counts as.
pub fn count(s: &Session, d: &DataSetup) -> Counted {
    if !d.kind.is_active() && d.connection.is_none() {
        let asked = d
            .command
            .and_then(|k| s.commands.get(k))
            .and_then(|c| c.verb.as_deref())
            .and_then(AddrKind::of_verb)
            .is_some_and(|k| !k.is_active());
        if !asked {
            return Counted::NotASetup;
        }
    }
    if let Outcome::Failed(crate::ftp::data::Failure::Rejected) = d.outcome() {
        let line = d
            .reply
            .and_then(|r| s.replies.get(r))
            .map(|r| escape(&r.last().bytes.0))
            .unwrap_or_default();
        return Counted::Refused {
            code: d.reply_code.unwrap_or(0),
            reply: cut(&line, REASON_CHARS),
        };
    }
    // Hung on it: the client sent nothing after it, waiting for the
    // answer (a client that went on to other commands was not).
    let waited = d.hung && d.command.is_some_and(|k| k + 1 >= s.commands.len());
    if d.transfer.is_some() || d.connection.is_some() || waited {
        Counted::Transfer(d.outcome())
    } else {
        Counted::Unused
    }
}

/// `s` cut to `n` characters, with `…` where it was cut.
fn cut(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_cut_by_characters() {
        assert_eq!(cut("500 Illegal", 3), "500…");
        assert_eq!(cut("é€x", 2), "é€…");
        assert_eq!(cut("ok", 5), "ok");
    }
}
