//! Rules on what became of data connections as a whole: transfers that
//! failed, and what the capture shows about why (`transfer-failed`);
//! connections no line of the session announced (`vsftpd-backdoor`).

use super::attribution::TapPosition;
use super::{Actor, Finding, ProofKind, Rule, Severity, q, ql};
use crate::ftp::address::is_private;
use crate::ftp::data::{ConnResult, DataConn, DataSetup, Status};
use crate::ftp::message::Reply;
use crate::ftp::session::Session;
use crate::reassembly::connection::Side;
use crate::timestamp::fmt_secs;

pub(super) fn run(s: &Session, out: &mut Vec<Finding>) {
    for d in &s.data_setups {
        if let Some(f) = transfer_failed(s, d) {
            out.push(f);
        }
    }
    vsftpd_backdoor(s, out);
}

/// The transfer command that used a setup, and its final reply.
fn transfer_of<'a>(
    s: &'a Session,
    d: &DataSetup,
) -> Option<(&'a crate::ftp::message::Command, Option<&'a Reply>)> {
    let t = d.transfer.as_ref()?;
    let i = s
        .commands
        .iter()
        .position(|c| c.line.last_frame() == t.frame && c.is(&t.verb))?;
    Some((&s.commands[i], s.reply_to(i)))
}

/// What a failing server says of its connect in its 425/426: the words
/// that name a cause.
fn server_says(text: &[u8]) -> Option<&'static str> {
    let t = text.to_ascii_lowercase();
    let has = |w: &[u8]| memchr::memmem::find(&t, w).is_some();
    if has(b"timed out") || has(b"timeout") {
        Some("its connect timed out")
    } else if has(b"refused") {
        Some("its connect was refused")
    } else if has(b"no route") || has(b"unreachable") {
        Some("it had no route to the address")
    } else {
        None
    }
}

/// A transfer whose data connection failed — a 425/426 to its transfer
/// command, or the connection refused or unanswered — says what the
/// capture shows about why: an address a NAT did not translate, the
/// server's own words, the connection attempts it holds, or that it
/// holds nothing that could tell. A failure another rule explains (the
/// connection went to a different endpoint) is that rule's.
fn transfer_failed(s: &Session, d: &DataSetup) -> Option<Finding> {
    let transfer = transfer_of(s, d);
    let reply = transfer.and_then(|(_, r)| r);
    let code = reply.and_then(|r| r.code);
    // What proves the failure: the server's 425/426, a reset, or SYNs the
    // capture watched go unanswered (a connection elsewhere than
    // announced that the capture ended on proves nothing).
    let conn = d.connection.and_then(|k| s.data_conns.get(k));
    let seen_failing = conn.is_some_and(|c| match c.result() {
        ConnResult::Refused => true,
        ConnResult::NoAnswer => c.seen_unanswered(s.end),
        _ => false,
    });
    let failed = matches!(
        d.status(),
        Status::CannotOpen | Status::Refused | Status::NoAnswer
    ) || (d.status() == Status::WrongEndpoint && seen_failing)
        || matches!(code, Some(425 | 426));
    // A transfer the server reports done (226, 250) did not fail: what the
    // capture lacks of its connection, the capture missed.
    let done = code.is_some_and(|c| c < 400);
    if !failed || done {
        return None;
    }
    let (dir, line) = s.announcing(d)?;
    let ep = d.endpoint?;
    let active = d.kind.is_active();
    let kind = d.kind.name();
    let mut said = format!(
        "{} after `{}` (frame {}) failed",
        transfer.map_or("the transfer", |(c, _)| c.verb.as_deref().unwrap_or("")),
        ql(line),
        line.first_frame()
    );
    if d.arg.strict.is_none() {
        // A damaged line a lenient server still read: say where it went.
        said.push_str(&format!(
            " (the {} cannot be read strictly; a lenient server reads it as {ep})",
            d.kind.name()
        ));
    }
    let mut frames: Vec<u64> = line.frames();
    if let Some((c, _)) = transfer {
        frames.push(c.line.last_frame());
    }
    // The connection attempts the capture holds for this setup.
    let attempt = conn.map(|c| {
        frames.extend(
            [Some(c.first_frame), c.syn_ack_frame, c.rst_frame]
                .into_iter()
                .flatten(),
        );
        let elsewhere = d
            .mismatch
            .as_ref()
            .map(|m| {
                format!(
                    "the data connection went to {} instead of the announced {ep} ({}): ",
                    c.acceptor,
                    elsewhere(m)
                )
            })
            .unwrap_or_default();
        format!("{elsewhere}{}", attempt(c, s))
    });
    let mut parts: Vec<String> = Vec::new();
    if let Some(a) = &attempt {
        parts.push(a.clone());
    }
    if let Some(r) = reply {
        frames.extend(r.frames());
        let after = transfer
            .map(|(c, _)| {
                format!(
                    ", {} after the {}",
                    fmt_secs(r.first().first_ts().secs_since(c.line.last_ts())),
                    c.verb.as_deref().unwrap_or("command")
                )
            })
            .unwrap_or_default();
        let why = server_says(r.text())
            .map(|w| format!(": {w}"))
            .unwrap_or_default();
        parts.push(format!(
            "the server answered `{}` (frame {}{after}){why}",
            ql(r.last()),
            r.first().first_frame()
        ));
    }
    if !parts.is_empty() {
        said.push_str(": ");
        said.push_str(&parts.join("; "));
    }
    said.push('.');
    // Who could not reach whom: the address a NAT should have translated.
    let (announcer, peer) = if active {
        (s.client.ip(), s.server.ip())
    } else {
        (s.server.ip(), s.client.ip())
    };
    let who = if active { "client" } else { "server" };
    // The end that connects to the announced endpoint.
    let reacher = if active { "server" } else { "client" };
    let tap = TapPosition::new(s.ttl);
    let (actor, proof, proof_text, severity, why) = if is_private(ep.ip) && !is_private(peer) {
        if announcer != ep.ip && !is_private(announcer) {
            // The packets' address and the line's differ, but they are not
            // two views of the same bytes: a NAT that left the line alone
            // and an announcer naming another host both fit. Who did it
            // takes a capture on the announcer's side (compare says it).
            (
                Actor::Unknown,
                ProofKind::Endpoint,
                format!(
                    "the control connection's {announcer} (frame {}) against the {kind}'s {} (frame {}); a NAT that did not translate the line and {} both fit, and one tap cannot tell them apart",
                    s.first_frame,
                    ep.ip,
                    line.first_frame(),
                    if active {
                        "a client announcing another host"
                    } else {
                        "a server announcing another host"
                    }
                ),
                Severity::Warning,
                format!(
                    " The control connection comes from {announcer} while the {kind} names {}, a private address, so the {reacher} was sent to an address it cannot reach from {peer}: {}.",
                    ep.ip,
                    if active {
                        format!(
                            "either a NAT translated the client's address in the packets but not in the {kind} (no FTP helper for {kind}), or the client named another host (an FTP bounce)"
                        )
                    } else {
                        format!(
                            "either a NAT in front of the server translated its address in the packets but not in the {kind} (no FTP helper for {kind}), or the server was not told its public passive address"
                        )
                    },
                ),
            )
        } else {
            let side = if active { Side::Client } else { Side::Server };
            let position = tap.how(side).map(|h| format!("; {h}")).unwrap_or_default();
            (
                Actor::Unknown,
                if reply.is_some() {
                    ProofKind::Reply
                } else {
                    ProofKind::OneView
                },
                format!(
                    "one view, on the {who}'s side of a NAT: the {kind} as sent (frame {}) names the private {}{}; the NAT's translation is not visible from this tap",
                    line.first_frame(),
                    ep.ip,
                    reply
                        .map(|r| format!(
                            ", and the server's own reply (frame {}) says the transfer failed",
                            r.first().first_frame()
                        ))
                        .unwrap_or_default(),
                ),
                Severity::Warning,
                format!(
                    " The {kind} names {}, a private address, and {peer} is public: a NAT between them must translate it for the {reacher} to reach the {who}; left untranslated, it sends the {reacher} to an address it cannot reach. This tap is on the {who}'s side of that NAT (the control connection carries {} too{position}), so whether the NAT translated the {kind} is not visible here; a capture on the far side shows it.",
                    ep.ip, announcer,
                ),
            )
        }
    } else if let (Some(_), Some(c)) = (&d.mismatch, conn) {
        (
            Actor::Unknown,
            ProofKind::Endpoint,
            format!(
                "two views of the data endpoint: the one the {kind} announced, {ep} (frame {}), and the one connected to, {} (frame {})",
                line.first_frame(),
                c.acceptor,
                c.first_frame
            ),
            Severity::Warning,
            String::new(),
        )
    } else {
        let text = match (attempt.is_some(), s.beyond_control) {
            (true, _) => String::new(),
            (false, Some(f)) => format!(
                " This capture holds no connection attempt to {ep}, though it could have seen one (it holds traffic between these hosts beyond the control connection, from frame {f})."
            ),
            (false, None) => format!(
                " This capture holds no traffic between these hosts beyond the control connection (filtered to port {}, say), so it could not see an attempt to {ep}; nothing here shows why the connection failed.",
                s.server.port()
            ),
        };
        (
            Actor::Unknown,
            if reply.is_some() {
                ProofKind::Reply
            } else {
                ProofKind::OneView
            },
            format!(
                "one view: the {kind} (frame {}){}{}",
                line.first_frame(),
                conn.map(|c| format!(
                    ", the connection attempt (frames {}–{})",
                    c.first_frame, c.last_frame
                ))
                .unwrap_or_default(),
                reply
                    .map(|r| format!(
                        ", the server's own reply (frame {})",
                        r.first().first_frame()
                    ))
                    .unwrap_or_default()
            ),
            Severity::Warning,
            text,
        )
    };
    let mut f = Finding::new(Rule::TransferFailed, severity, s, format!("{said}{why}"))
        .by(actor, proof, proof_text)
        .about(dir, line)
        .evidence(
            &format!("{kind} as seen here"),
            line.frames(),
            line.bytes.as_slice(),
        );
    if let Some(r) = reply {
        f = f.evidence("server reply", r.frames(), r.last().bytes.as_slice());
    }
    Some(f.frames(frames))
}

/// Why a connection went elsewhere than announced, in a few words.
fn elsewhere(m: &crate::ftp::data::Mismatch) -> String {
    use crate::ftp::data::Mismatch::*;
    match m {
        Truncated {
            announced_text,
            read_as,
            ..
        } => format!(
            "the announced `{}` read as {read_as}",
            q(announced_text.as_bytes())
        ),
        ServerUsedControlAddress => "the server used the control connection's address".into(),
        ClientUsedControlAddress => "the client used the control connection's address".into(),
        Unexplained => "nothing in the line explains the difference".into(),
    }
}

/// A connection attempt in words, with its frames.
fn attempt(c: &DataConn, s: &Session) -> String {
    match c.result() {
        ConnResult::Refused => format!(
            "{} answered the SYN from {} with RST (frame {}): nothing listened there, or a device refused it",
            c.acceptor,
            c.initiator,
            c.rst_frame.unwrap_or(c.first_frame)
        ),
        ConnResult::NoAnswer => format!(
            "{} SYN(s) from {} to {} (from frame {}) got no answer in the {} the capture watched on",
            c.syn_count,
            c.initiator,
            c.acceptor,
            c.first_frame,
            fmt_secs(s.end.secs_since(c.first_ts)),
        ),
        ConnResult::Established | ConnResult::MidStream => format!(
            "its data connection {} → {} (from frame {}) was established, then {}",
            c.initiator,
            c.acceptor,
            c.first_frame,
            match (c.rst_frame, c.rst_by_acceptor) {
                (Some(r), true) => format!("reset by {} (frame {r})", c.acceptor),
                (Some(r), false) => format!("reset by {} (frame {r})", c.initiator),
                (None, _) => "closed".to_string(),
            }
        ),
    }
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
