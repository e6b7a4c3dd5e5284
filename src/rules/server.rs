//! Rules on the server's reply wording: `syst-masked`, `reply-desync`.

use super::Rule;
use super::attribution::{Actor, line_origin};
use super::signatures::ASA_SYST_MASK;
use super::{Finding, Severity, ql};
use crate::ftp::session::Session;
use crate::reassembly::connection::Side;

pub(super) fn run(s: &Session, out: &mut Vec<Finding>) {
    for r in &s.replies {
        if r.code == Some(215) {
            let t = r.text();
            if !t.is_empty() && t.iter().all(|&b| b == b'X' || b == b'x') {
                let (actor, kind, proof) = line_origin(s, Side::Server);
                let why = if actor == Actor::Server {
                    "the server sent it so (no router lies between it and this tap): it is configured to hide its system type".to_string()
                } else {
                    format!(
                        "{} answers so ({}), and so does a server configured to hide its system type; a capture next to the server tells which",
                        ASA_SYST_MASK.device, ASA_SYST_MASK.behaviour
                    )
                };
                let f = Finding::new(
                    Rule::SystMasked,
                    Severity::Info,
                    s,
                    format!(
                        "the SYST reply is `{}` (frame {}): {why}.",
                        ql(r.last()),
                        r.first().first_frame(),
                    ),
                )
                .evidence("SYST reply", r.frames(), r.last().bytes.as_slice())
                .by(actor, kind, proof)
                .about(Side::Server, r.last());
                out.push(f);
            }
        }
    }
    // A capture that began after the server's first bytes (no SYN-ACK)
    // may start inside a multi-line reply: the lines before its first
    // reply line are a tail it could not see the start of, not strays.
    let picked_up = s.lifecycle.syn_ack_frame.is_none();
    let first_reply = s.replies.iter().position(|r| r.code.is_some());
    let tls = s.asked_for_tls();
    let stray: Vec<(usize, &crate::ftp::message::Reply)> = s
        .replies
        .iter()
        .enumerate()
        .filter(|(_, r)| r.code.is_none() && !r.first().after_gap && !r.first().follows_gap)
        // TLS records read as text because the capture missed the AUTH/234
        // that started them are not lines the server sent.
        .filter(|(_, r)| !crate::ftp::line::encrypted_not_text(&r.first().bytes.0, tls))
        // Where the capture missed bytes before the line (the server's
        // earlier ones, or any of the client's: an AUTH TLS among them
        // makes TLS records of what follows), or never saw the client's
        // side at all, what the line is cannot be judged.
        .filter(|(_, r)| {
            let at = r.first().offset;
            !(s.tcp[1].gaps.iter().any(|g| g.offset < at)
                || !s.tcp[0].gaps.is_empty()
                || s.packets[0] == 0)
        })
        .filter(|(i, _)| !(picked_up && first_reply.is_none_or(|k| *i < k)))
        .collect();
    if let Some(&(i, first)) = stray.first() {
        // Where it came: after the last reply, or — when a command was
        // still waiting for its reply — in that command's place.
        let at = first.first().first_frame();
        let waiting = s
            .commands
            .iter()
            .enumerate()
            .rev()
            .find(|(_, c)| c.line.last_frame() < at)
            .filter(|(k, _)| s.reply_to(*k).is_none());
        let prev = match waiting {
            Some((_, c)) => format!(
                " where `{}` (frame {}) waited for its reply",
                ql(&c.line),
                c.line.last_frame()
            ),
            None => s.replies[..i]
                .iter()
                .rev()
                .find(|r| r.code.is_some())
                .map(|r| format!(" after `{}`", ql(r.last())))
                .unwrap_or_default(),
        };
        // What a client makes of it: the prediction, and what the capture
        // shows of the command after it.
        // A reply with a code that came after it, before the client's next
        // command: the answer the waiting command did get.
        let next_cmd = s
            .commands
            .iter()
            .find(|c| c.line.first_frame() > at)
            .map_or(u64::MAX, |c| c.line.first_frame());
        let coded = s.replies.iter().find(|r| {
            r.code.is_some() && r.first().first_frame() > at && r.first().first_frame() < next_cmd
        });
        let client = match (waiting, coded) {
            (Some(_), None) => "It came in the place of that reply, without a valid three-digit code: a client that reads replies by their code rejects it (Python's ftplib raises error_proto) or takes it for the answer to its next command".to_string(),
            (Some(_), Some(r)) => format!(
                "A reply with a code came after it (`{}`, frame {}): a client that takes the first line for the answer rejects it (Python's ftplib raises error_proto) or falls one reply behind",
                ql(r.last()),
                r.first().first_frame()
            ),
            (None, _) => "A client reads such a line as the answer to its next command and falls out of step".to_string(),
        };
        let (next, next_frames) = s
            .commands
            .iter()
            .enumerate()
            .find(|(_, c)| c.line.first_frame() > at)
            .and_then(|(k, c)| Some((c, s.reply_to(k)?)))
            .map(|(c, r)| {
                (
                    format!(
                        "; here the next command, `{}` (frame {}), got its own reply `{}` (frame {})",
                        ql(&c.line),
                        c.line.last_frame(),
                        ql(r.last()),
                        r.first().first_frame()
                    ),
                    vec![c.line.last_frame(), r.first().first_frame()],
                )
            })
            .unwrap_or_default();
        let what = if first.first().bytes.0.is_empty() {
            "an empty line".to_string()
        } else {
            format!("`{}`", ql(first.first()))
        };
        out.push(
            Finding::new(
                Rule::ReplyDesync,
                Severity::Warning,
                s,
                format!(
                    "the server sent {} line(s) that are not replies; the first is {what} (frame {}){prev}. {client}{next}.",
                    stray.len(),
                    first.first().first_frame()
                ),
            )
            .evidence("first non-reply line", first.frames(), first.first().wire())
            .frames(stray.iter().take(20).map(|(_, r)| r.first().first_frame()))
            .frames(next_frames)
            .by_origin(s, Side::Server),
        );
    }
}
