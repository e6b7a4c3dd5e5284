//! Rules on connections between a session's hosts that no line of the
//! session announced: `vsftpd-backdoor`.

use super::{Actor, Finding, ProofKind, Rule, Severity, q, ql};
use crate::ftp::data::{ConnResult, DataConn};
use crate::ftp::session::Session;

pub(super) fn run(s: &Session, out: &mut Vec<Finding>) {
    vsftpd_backdoor(s, out);
}

/// The port the backdoored vsftpd 2.3.4 release (June–July 2011,
/// CVE-2011-2523) opens a shell on once a USER ending in `:)` arrives
/// (Chris Evans, "Alert: vsftpd download backdoored", 2011-07-03;
/// Metasploit `exploit/unix/ftp/vsftpd_234_backdoor`).
const VSFTPD_BACKDOOR_PORT: u16 = 6200;

/// How one connection went, in words with its frames.
fn went(c: &DataConn) -> String {
    match c.result() {
        ConnResult::Established => format!(
            "accepted (SYN-ACK frame {}); {} bytes from {}, {} from the server",
            c.syn_ack_frame.unwrap_or(c.first_frame),
            c.bytes_from_initiator,
            c.initiator.ip(),
            c.bytes_from_acceptor
        ),
        ConnResult::Refused => format!(
            "refused: the server answered with RST (frame {})",
            c.rst_frame.unwrap_or(c.first_frame)
        ),
        ConnResult::NoAnswer => format!("unanswered ({} SYN)", c.syn_count),
        ConnResult::MidStream => format!(
            "seen after its handshake; {} bytes from {}, {} from the server",
            c.bytes_from_initiator,
            c.initiator.ip(),
            c.bytes_from_acceptor
        ),
    }
}

/// A connection to the server's port 6200 that no PORT/EPRT/227/229
/// announced, on a server whose banner says vsFTPd 2.3.4: the known
/// backdoor's port. Info: it says what the capture shows and what the
/// port is known for, not that the server is compromised.
fn vsftpd_backdoor(s: &Session, out: &mut Vec<Finding>) {
    let Some((banner, banner_frames)) = s
        .replies
        .iter()
        .zip(&s.command_of)
        .find(|(r, c)| c.is_none() && r.code == Some(220))
        .map(|(r, _)| (r, r.frames()))
    else {
        return;
    };
    let text = banner.joined();
    if memchr::memmem::find(&text.0.to_ascii_lowercase(), b"vsftpd 2.3.4").is_none() {
        return;
    }
    // The trigger: a USER whose name ends in `:)`.
    let trigger = s
        .commands
        .iter()
        .find(|c| c.is("USER") && c.arg().is_some_and(|a| a.trim_ascii_end().ends_with(b":)")));
    for c in s.data_conns.iter().filter(|c| {
        c.announced_frame.is_none()
            && c.acceptor.ip() == s.server.ip()
            && c.acceptor.port() == VSFTPD_BACKDOOR_PORT
    }) {
        let user = trigger
            .map(|u| {
                format!(
                    "; this session sent `{}` (frame {}){}",
                    ql(&u.line),
                    u.line.last_frame(),
                    if u.line.last_frame() < c.first_frame {
                        " before it"
                    } else {
                        ""
                    }
                )
            })
            .unwrap_or_default();
        let mut f = Finding::new(
            Rule::VsftpdBackdoor,
            Severity::Info,
            s,
            format!(
                "{} connected to {} (SYN frame {}), {}, and no PORT, EPRT, 227 or 229 of this session announced that endpoint. The server's banner is `{}` (frame {}): port {VSFTPD_BACKDOOR_PORT} is where the backdoored vsftpd 2.3.4 release opens a shell after a USER ending in `:)` (CVE-2011-2523){user}.",
                c.initiator,
                c.acceptor,
                c.syn_frame.unwrap_or(c.first_frame),
                went(c),
                q(&text.0),
                banner_frames.first().copied().unwrap_or(0),
            ),
        )
        .by(
            Actor::Server,
            ProofKind::OneView,
            format!(
                "one view: the banner (frame {}) names vsFTPd 2.3.4, and the connection to port {VSFTPD_BACKDOOR_PORT} (frames {}–{}) follows no announcement in the session's dialogue",
                banner_frames.first().copied().unwrap_or(0),
                c.first_frame,
                c.last_frame
            ),
        )
        .evidence("banner", banner_frames.clone(), text.0.clone());
        if let Some(u) = trigger {
            f = f.evidence("USER", u.line.frames(), u.line.bytes.as_slice());
        }
        out.push(
            f.frames(
                [
                    Some(c.first_frame),
                    c.syn_ack_frame,
                    c.rst_frame,
                    Some(c.last_frame),
                ]
                .into_iter()
                .flatten(),
            ),
        );
    }
}
