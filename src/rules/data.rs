//! Rules on what happened to data connections: `port-silently-truncated`,
//! `data-endpoint-mismatch`, `data-source-ip-mismatch`,
//! `session-stall-after-ctl`, `tls-alg-blind`.

use super::Rule;
use super::attribution::{Actor, ProofKind, TapPosition};
use super::sight::{self, Sight};
use super::signatures::{CHECKPOINT_227, ports_hit_by_227};
use super::{Config, Finding, Severity, field_name, q, ql};
use crate::ftp::data::{ConnResult, DataConn, DataSetup, Mismatch, Verdict};
use crate::ftp::session::{EndReason, Session};
use crate::reassembly::connection::Side;
use crate::timestamp::fmt_secs;
use std::net::SocketAddr;

pub(super) fn run(s: &Session, cfg: &Config, out: &mut Vec<Finding>) {
    for setup in &s.data_setups {
        let conn = setup.connection.map(|k| &s.data_conns[k]);
        match (&setup.mismatch, conn) {
            (
                Some(Mismatch::Truncated {
                    field,
                    announced_text,
                    read_as,
                }),
                Some(c),
            ) => {
                let seen = Observed {
                    port: c.acceptor.port(),
                    what: format!(
                        "connected to {} instead (frame {}, from {}; {})",
                        c.acceptor,
                        c.first_frame,
                        c.initiator,
                        conn_outcome(s, c)
                    ),
                    frames: vec![
                        c.first_frame,
                        c.syn_ack_frame.unwrap_or(0),
                        c.rst_frame.unwrap_or(0),
                    ],
                    view: format!(
                        "the server connected to {} (frame {})",
                        c.acceptor, c.first_frame
                    ),
                };
                out.push(
                    truncated(s, setup, &seen, *field, announced_text, *read_as).went_to(
                        setup_line(s, setup).0,
                        setup.endpoint,
                        c.acceptor,
                    ),
                );
            }
            (Some(m), Some(c)) => out.push(mismatch(s, setup, c, m)),
            _ => {}
        }
        if let Some(c) = conn
            && !setup.kind.is_active()
            && setup.verdict == Verdict::Connected
            && c.initiator.ip() != s.client.ip()
        {
            out.push(
                Finding::new(
                    Rule::DataSourceIpMismatch,
                    Severity::Warning,
                    s,
                    format!(
                        "the control connection comes from {} but the passive data connection to {} came from {} (frame {}){} — typical of a NAT gateway with several public addresses.",
                        s.client.ip(),
                        c.acceptor,
                        c.initiator.ip(),
                        c.first_frame,
                        source_check(s, c),
                    ),
                )
                .frames([setup.announced_frame, c.first_frame])
                .by(
                    Actor::Unknown,
                    ProofKind::Endpoint,
                    format!(
                        "the control connection's client address {} against the data connection's source {} (frame {}); a NAT with several public addresses or a client with several interfaces, this capture cannot tell which",
                        s.client.ip(),
                        c.initiator.ip(),
                        c.first_frame
                    ),
                ),
            );
        }
    }
    pure_ftpd_425(s, out);
    stall(s, cfg, out);
    tls_blind(s, out);
}

/// What the server made of a passive data connection from another address
/// than the control connection: its refusal where the capture shows one;
/// what the identified server does; or, unidentified, what servers that
/// check do.
fn source_check(s: &Session, c: &DataConn) -> String {
    let refusal = s.replies.iter().find(|r| {
        r.code == Some(425)
            && r.first().first_frame() > c.first_frame
            && r.text()
                .windows(6)
                .any(|w| w.eq_ignore_ascii_case(b"bad ip"))
    });
    match (refusal, s.server_software.as_ref().map(|sv| sv.name)) {
        (Some(r), _) => format!(
            "; the server refused it (`{}`, frame {})",
            ql(r.last()),
            r.first().first_frame()
        ),
        (None, Some("vsftpd")) => {
            "; vsftpd refuses such a connection unless pasv_promiscuous is set".to_string()
        }
        (None, Some(_)) => String::new(),
        (None, None) => "; a server that checks the address (vsftpd by default: '425 Security: Bad IP connecting.') refuses it".to_string(),
    }
}

fn conn_outcome(s: &Session, c: &DataConn) -> String {
    match c.result() {
        ConnResult::Established => format!(
            "established (SYN-ACK frame {})",
            c.syn_ack_frame.unwrap_or(0)
        ),
        ConnResult::Refused => format!(
            "refused: the client side answered with RST (frame {})",
            c.rst_frame.unwrap_or(0)
        ),
        // A live session's connection may still be answered.
        ConnResult::NoAnswer if s.end_reason == EndReason::Ongoing => {
            format!("no answer yet ({} SYN so far)", c.syn_count)
        }
        ConnResult::NoAnswer => format!("unanswered ({} SYN)", c.syn_count),
        ConnResult::MidStream => "seen after its handshake".to_string(),
    }
}

fn setup_line<'a>(s: &'a Session, setup: &DataSetup) -> (&'a [u8], Vec<u64>) {
    s.announcing(setup)
        .map(|(_, l)| (l.bytes.as_slice(), l.frames()))
        .unwrap_or_default()
}

/// Marks a finding as about the line that announced `setup`.
fn about_setup(f: Finding, s: &Session, setup: &DataSetup) -> Finding {
    match s.announcing(setup) {
        Some((dir, l)) => f.about(dir, l),
        None => f,
    }
}

/// Where the server went instead of the announced endpoint, and the
/// frames that show it.
struct Observed {
    port: u16,
    what: String,
    frames: Vec<u64>,
    /// The second view, for the proof: where the connection went, or
    /// the reply naming the port the server tried.
    view: String,
}

fn truncated(
    s: &Session,
    setup: &DataSetup,
    seen: &Observed,
    field: usize,
    text: &str,
    read_as: u16,
) -> Finding {
    let (line, frames) = setup_line(s, setup);
    let ep = setup.endpoint.map(|e| e.to_string()).unwrap_or_default();
    let reply = setup
        .reply
        .map(|r| {
            let r = &s.replies[r];
            format!(
                ", the server accepted it (`{}`, frame {})",
                ql(r.last()),
                r.first().first_frame()
            )
        })
        .unwrap_or_default();
    let fld = |n: usize| {
        setup
            .arg
            .fields
            .get(n)
            .map(|f| String::from_utf8_lossy(&f.text.0).into_owned())
    };
    let arith = match (
        setup.arg.kind.is_active() && setup.arg.fields.len() == 6,
        field,
    ) {
        (true, 6) => format!(
            "{} = {}·256+{read_as}: ",
            seen.port,
            fld(4).unwrap_or_default()
        ),
        (true, 5) => format!(
            "{} = {read_as}·256+{}: ",
            seen.port,
            fld(5).unwrap_or_default()
        ),
        // The field is the port itself (EPRT): no arithmetic to show.
        _ => String::new(),
    };
    let is_227 = text == "227" && read_as == 22;
    let tap = TapPosition::new(s.ttl);
    let at_server = tap.on_side_of(Side::Server);
    let server = s
        .server_software
        .as_ref()
        .map(|sv| format!(" ({})", sv.name))
        .unwrap_or_default();
    let mut msg = format!(
        "the client announced {ep} in `{}` (frame {}){reply}, but the server{server} {}. {arith}{} {} `{text}` as {read_as} — what a lenient (sscanf/atoi) parser makes of a field whose last digit was replaced by a non-digit. So the server most likely received a different line than this tap shows",
        q(line),
        frames.first().copied().unwrap_or(0),
        seen.what,
        if arith.is_empty() {
            "The server read"
        } else {
            "the server read"
        },
        field_name(setup.arg.kind, field),
    );
    msg.push_str(if at_server {
        ", although no router lies between this tap and the server: the server itself read it so, or a device that does not route (a bridge) changed it"
    } else {
        ": altered between this tap and the server (a capture beside the server would show it)"
    });
    let mut f = Finding::new(
        Rule::PortSilentlyTruncated,
        Severity::Error,
        s,
        String::new(),
    );
    if is_227 && !at_server {
        let hit = ports_hit_by_227(setup.arg.kind);
        msg.push_str(&format!(
            ". `227`→`22_` is what {} is known to do; a server misreading a well-formed `227` would leave the same trace, but none is known to. {hit} of the 65536 data ports carry `227` in a {} line ({:.2}%), so with uniformly chosen data ports that share of transfers is hit",
            CHECKPOINT_227.device,
            setup.arg.kind.name(),
            f64::from(hit) * 100.0 / 65536.0,
        ));
        f.facts.get_or_insert_default().ports_hit = Some(hit);
        f.signature = Some(&CHECKPOINT_227);
    }
    msg.push('.');
    f.message = msg;
    let proof = format!(
        "the {} as this tap saw it (frame {}) announced {ep}; {}",
        setup.arg.kind.name(),
        frames.first().copied().unwrap_or(0),
        seen.view
    );
    let actor = if at_server {
        Actor::Server
    } else {
        Actor::Path
    };
    let f = f
        .evidence(&format!("{} as sent", setup.arg.kind.name()), frames, line)
        .frames(seen.frames.iter().copied())
        .frames(
            setup
                .reply
                .map(|r| s.replies[r].frames())
                .unwrap_or_default(),
        )
        .by(actor, ProofKind::Endpoint, proof);
    about_setup(f, s, setup)
}

fn mismatch(s: &Session, setup: &DataSetup, c: &DataConn, m: &Mismatch) -> Finding {
    let (line, frames) = setup_line(s, setup);
    let ep = setup.endpoint.map(|e| e.to_string()).unwrap_or_default();
    let server = s.server_software.as_ref().map(|sv| sv.name);
    let (who, actor, why, sev) = match m {
        Mismatch::ServerUsedControlAddress => (
            "the server",
            Actor::Server,
            format!(
                "it used the control connection's client address instead of the announced one{}, which hides a NAT that did not rewrite the {}",
                match server {
                    Some(name) => format!(" ({name}, per its banner)"),
                    None => " (ProFTPD does this for an RFC 1918 PORT address, FileZilla Server with 'ignore local'; if the server is another, it made the same choice)".to_string(),
                },
                setup.arg.kind.name()
            ),
            Severity::Warning,
        ),
        Mismatch::ClientUsedControlAddress => (
            "the client",
            Actor::Client,
            "it ignored the address in the reply and used the control connection's server address (as FileZilla, Python's ftplib since bpo-43285 and lftp's fix-ups do)".to_string(),
            Severity::Info,
        ),
        _ => (
            if setup.kind.is_active() { "the server" } else { "the client" },
            Actor::Unknown,
            "neither a truncated field nor an address substitution explains it: a NAT in between, or a connection unrelated to this command".to_string(),
            Severity::Warning,
        ),
    };
    let f = Finding::new(
        Rule::DataEndpointMismatch,
        sev,
        s,
        format!(
            "{who} connected to {} (frame {}, from {}; {}) although `{}` (frame {}) said {ep}: {why}.",
            c.acceptor,
            c.first_frame,
            c.initiator,
            conn_outcome(s, c),
            q(line),
            frames.first().copied().unwrap_or(0),
        ),
    )
    .evidence(&format!("{} as seen here", setup.arg.kind.name()), frames.clone(), line)
    .frames([c.first_frame])
    .went_to(line, setup.endpoint, c.acceptor)
    .by(
        actor,
        ProofKind::Endpoint,
        format!(
            "the {} as this tap saw it (frame {}) announced {ep}; {who} connected to {} (frame {})",
            setup.arg.kind.name(),
            frames.first().copied().unwrap_or(0),
            c.acceptor,
            c.first_frame
        ),
    )
    .group(format!("{m:?}"));
    about_setup(f, s, setup)
}

/// Pure-FTPd names the port in its 425: `425 Could not open data connection
/// to port 32022`, which exposes a truncation without any data SYN.
fn pure_ftpd_425(s: &Session, out: &mut Vec<Finding>) {
    for setup in &s.data_setups {
        if !setup.kind.is_active()
            || setup.mismatch.is_some()
            || setup.verdict == Verdict::Connected
        {
            continue;
        }
        let Some(ep) = setup.endpoint else { continue };
        let Some(cmd_idx) = setup.command else {
            continue;
        };
        for (ri, r) in s.replies.iter().enumerate() {
            if r.code != Some(425) || r.first().first_frame() <= setup.announced_frame {
                continue;
            }
            // Only the next few replies after the PORT.
            if s.command_of[ri].is_some_and(|c| c > cmd_idx + 3) {
                break;
            }
            let text = String::from_utf8_lossy(r.text()).to_ascii_lowercase();
            let Some(p) = text.split("port ").nth(1) else {
                continue;
            };
            let num: String = p.chars().take_while(char::is_ascii_digit).collect();
            let Ok(port) = num.parse::<u16>() else {
                continue;
            };
            if port == ep.port {
                continue;
            }
            let actual = SocketAddr::new(ep.ip, port);
            if let Mismatch::Truncated {
                field,
                announced_text,
                read_as,
            } = crate::ftp::data::explain(
                &setup.arg,
                ep,
                actual,
                true,
                s.client.ip(),
                s.server.ip(),
            ) {
                let seen = Observed {
                    port,
                    what: format!(
                        "reports trying {actual} in `{}` (frame {})",
                        ql(r.last()),
                        r.first().first_frame()
                    ),
                    frames: r.frames(),
                    view: format!(
                        "the server's {} reply names port {port} (frame {})",
                        r.code.unwrap_or(0),
                        r.first().first_frame()
                    ),
                };
                let f = truncated(s, setup, &seen, field, &announced_text, read_as);
                out.push(f.evidence("server reply", r.frames(), r.last().bytes.as_slice()));
                break;
            }
        }
    }
}

/// After a PORT/PASV-type command, no working data connection and no
/// further command for `stall_secs`.
fn stall(s: &Session, cfg: &Config, out: &mut Vec<Finding>) {
    for (i, cmd) in s.commands.iter().enumerate() {
        let Some(verb) = cmd.verb.as_deref() else {
            continue;
        };
        if !matches!(verb, "PORT" | "EPRT" | "LPRT" | "PASV" | "EPSV" | "LPSV") {
            continue;
        }
        let setup = s.data_setups.iter().find(|d| {
            d.command == Some(i)
                || (!d.kind.is_active()
                    && d.reply.is_some()
                    && s.command_of[d.reply.unwrap_or(0)] == Some(i))
        });
        if setup.is_some_and(|d| d.verdict == Verdict::Connected) {
            continue;
        }
        let reply = s.reply_to(i);
        let t0 = reply.map_or(cmd.line.last_ts(), |r| r.last().last_ts());
        let next = s.commands[i + 1..].iter().find(|c| c.verb.is_some());
        let until = next.map_or(s.end, |n| n.line.first_ts());
        let idle = until.secs_since(t0);
        if idle < cfg.stall_secs {
            continue;
        }
        // Data connections after the command that worked mean a transfer
        // was in progress, not a stall.
        let transfer = s.data_conns.iter().any(|c| {
            c.first_ts >= t0 && c.first_ts <= until && c.result() == ConnResult::Established
        });
        if transfer {
            continue;
        }
        // Silence proves something only where the capture was watching:
        // after the reply (the client's reaction to it), or after the
        // command when no reply was captured.
        let sight = if s.reply_unseen.get(i).copied().unwrap_or(false) {
            Sight::Lost {
                frame: cmd.line.last_frame(),
                why: "bytes of the server's stream around its reply were never captured".into(),
            }
        } else {
            match reply {
                Some(r) => sight::after(s, Side::Server, r.last()),
                None => sight::after(s, Side::Client, &cmd.line),
            }
        };
        let unanswered = reply.is_none().then(|| never_answered(s, i)).flatten();
        let reply_txt = match (reply, &unanswered) {
            (Some(r), _) => format!("`{}`", ql(r.last())),
            (None, Some((_, why))) => format!("no reply: the server sent none ({why})"),
            (None, None) => "no reply captured".to_string(),
        };
        // The event is the data setup the command made (its announcing
        // line), else the command.
        let about = |f: Finding| match setup.and_then(|d| s.announcing(d)) {
            Some((dir, l)) => f.about(dir, l),
            None => f.about(Side::Client, &cmd.line),
        };
        let how = match sight {
            Sight::Watching { how } => how,
            Sight::Lost { frame, why } => {
                out.push(about(
                Finding::new(
                    Rule::CaptureLostSight,
                    Severity::Info,
                    s,
                    format!(
                        "after `{}` (frame {}) → {reply_txt}, the capture lost sight of this connection at frame {frame}: {why}. The {} of silence that follows is the capture's; whether the client stalled, and whether a data connection followed, is unknown.",
                        ql(&cmd.line),
                        cmd.line.last_frame(),
                        fmt_secs(idle),
                    ),
                )
                .evidence("command", cmd.line.frames(), cmd.line.bytes.as_slice())
                .frames(reply.map(|r| r.frames()).unwrap_or_default())
                .frames([frame])
                .by(
                    Actor::Capture,
                    ProofKind::Acks,
                    format!("the capture lost sight of the connection at frame {frame}: {why}"),
                ),
                ));
                continue;
            }
        };
        let ending = match (next, s.end_reason) {
            (Some(n), _) => format!("then sent `{}`", ql(&n.line)),
            (None, EndReason::CaptureEnd) => {
                "and the capture ended with the session still open".to_string()
            }
            (None, EndReason::Reset) => "and the connection was reset".to_string(),
            (None, EndReason::Idle) => {
                "and the session was still silent when it was no longer followed".to_string()
            }
            (None, _) => "and the session ended".to_string(),
        };
        // A client that resent bytes the server never acknowledged was
        // not idle: it sent nothing new.
        let in_window =
            |f: u64| f > cmd.line.last_frame() && next.is_none_or(|n| f < n.line.first_frame());
        let resent: Vec<(u64, bool)> = s.tcp[Side::Client.index()]
            .retransmissions
            .iter()
            .flat_map(|r| r.retransmission_frames.iter().map(move |&f| (f, r.acked)))
            .filter(|&(f, _)| in_window(f))
            .collect();
        let quiet = if resent.is_empty() {
            format!("it stayed idle {}", fmt_secs(idle))
        } else {
            let mut frames: Vec<String> =
                resent.iter().take(10).map(|(f, _)| f.to_string()).collect();
            if resent.len() > 10 {
                frames.push(format!("… (+{})", resent.len() - 10));
            }
            format!(
                "it sent nothing new for {}, only retransmitted bytes {} {}× (frames {})",
                fmt_secs(idle),
                if resent.iter().all(|(_, acked)| !acked) {
                    "the server never acknowledged"
                } else {
                    "it had sent before"
                },
                resent.len(),
                frames.join(", ")
            )
        };
        let data = match setup.map(|d| d.verdict) {
            Some(Verdict::Rejected) => "the server rejected it".to_string(),
            Some(Verdict::WrongEndpoint) => {
                "the data connection went to the wrong endpoint".to_string()
            }
            Some(Verdict::Refused) => "the data connection was refused".to_string(),
            Some(Verdict::NoAnswer) => "the data connection was never answered".to_string(),
            _ => "no data connection followed".to_string(),
        };
        out.push(about(stall_by(
            Finding::new(
                Rule::SessionStallAfterCtl,
                Severity::Warning,
                s,
                format!(
                    "the client stopped after `{}` (frame {}) → {reply_txt}: {data}; {quiet} {ending}. The capture was watching the connection then ({}).",
                    ql(&cmd.line),
                    cmd.line.last_frame(),
                    how,
                ),
            )
            .evidence("command", cmd.line.frames(), cmd.line.bytes.as_slice())
            .frames(reply.map(|r| r.frames()).unwrap_or_default())
            .frames(unanswered.as_ref().map(|(f, _)| f.clone()).unwrap_or_default()),
            &unanswered,
            cmd.line.last_frame(),
            how,
        )));
    }
}

/// Proof from the sequence numbers that the server never answered
/// command `i`: the server's next line starts exactly where the client's
/// ACK on the command said the server's stream stood, so no byte came in
/// between — whatever the tap dropped. The frames and the words.
fn never_answered(s: &Session, i: usize) -> Option<(Vec<u64>, String)> {
    let cmd = &s.commands[i];
    let acked = cmd.line.peer_acked?;
    let (k, next) = s
        .replies
        .iter()
        .enumerate()
        .find(|(_, r)| r.first().first_frame() > cmd.line.last_frame())?;
    let first = next.first();
    if first.follows_gap || first.offset != acked || s.command_of[k] == Some(i) {
        return None;
    }
    Some((
        vec![first.first_frame()],
        format!(
            "its next bytes, `{}` (frame {}), start at offset {acked} of its stream, where the client's ACK on the command already stood: no byte came in between",
            ql(first),
            first.first_frame()
        ),
    ))
}

/// Who a stall is: the server where the sequence numbers prove it never
/// answered ([`never_answered`]), else nobody the capture can name.
fn stall_by(f: Finding, unanswered: &Option<(Vec<u64>, String)>, frame: u64, how: &str) -> Finding {
    match unanswered {
        Some((_, why)) => f.by(
            Actor::Server,
            ProofKind::Acks,
            format!("the server's sequence numbers: {why}"),
        ),
        None => f.by(
            Actor::Unknown,
            ProofKind::OneView,
            format!(
                "the client's silence after frame {frame}, while the capture was watching ({how}); the stall is a consequence, its cause is another finding's or not in this capture"
            ),
        ),
    }
}

fn tls_blind(s: &Session, out: &mut Vec<Finding>) {
    let Some(tls) = &s.tls else { return };
    let Some(start) = tls.started_frame else {
        return;
    };
    let failed: Vec<&DataConn> = s
        .data_conns
        .iter()
        .filter(|c| {
            c.first_frame > start
                && match c.result() {
                    ConnResult::Refused => true,
                    ConnResult::NoAnswer => c.seen_unanswered(s.end),
                    _ => false,
                }
        })
        .collect();
    if failed.is_empty() {
        return;
    }
    out.push(
        Finding::new(
            Rule::TlsAlgBlind,
            Severity::Warning,
            s,
            format!(
                "the control channel is encrypted from frame {start} (AUTH accepted with 234), and {} data connection attempt(s) failed ({}): if an in-path ALG handles FTP here, it can no longer read PASV/PORT and opens no pinholes (so the FortiGate session helper, Juniper without ftps-extensions, ISA/TMG and Check Point behave). Use a fixed passive port range or the firewall's FTPS support.",
                failed.len(),
                failed
                    .iter()
                    .map(|c| format!("{} → {}, {}", c.initiator, c.acceptor, conn_outcome(s, c)))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        )
        .frames(std::iter::once(start).chain(failed.iter().map(|c| c.first_frame)))
        .by(
            Actor::Unknown,
            ProofKind::OneView,
            format!(
                "encryption from frame {start} and the failed data connections after it; that an ALG is what failed them is an explanation that fits, not a difference this capture shows"
            ),
        ),
    );
}
