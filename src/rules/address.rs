//! Rules on the address arguments themselves: `port-mangled-received`,
//! `private-addr-in-port`, `private-addr-in-pasv`, `eprt-family-mismatch`,
//! `pasv-reply-unparseable-for-alg`.

use super::Rule;
use super::attribution::{Actor, line_origin};
use super::{Finding, Severity, field_name, q, q_more, ql};
use crate::ftp::address::{AddrArg, AddrKind, Defect, DefectKind};
use crate::ftp::data::{Mismatch, Status, Verdict};
use crate::ftp::fingerprint::PortHandling;
use crate::ftp::session::Session;
use crate::reassembly::connection::Side;

pub(super) fn run(s: &Session, out: &mut Vec<Finding>) {
    let mut clean_before = false;
    for setup in &s.data_setups {
        let arg = &setup.arg;
        let cmd = setup.command.map(|i| &s.commands[i]);
        let reply = setup.reply.map(|i| &s.replies[i]);
        let (the_line, frames) = match (arg.kind.is_active(), cmd, reply) {
            (true, Some(c), _) => (&c.line, c.line.frames()),
            (false, _, Some(r)) => (r.last(), r.frames()),
            _ => continue,
        };
        let line = &the_line.bytes.0;
        if arg.kind.is_active() {
            if mangling(arg, line).next().is_some() {
                out.push(mangled_received(
                    s,
                    setup,
                    the_line,
                    frames.clone(),
                    clean_before,
                ));
            } else if !arg.is_corrupt() {
                clean_before = true;
            }

            if let Some(ep) = arg.strict
                && ep.ip != s.client.ip()
            {
                out.push(port_addr_differs(s, setup, the_line, ep));
            }
            if arg.kind == AddrKind::Eprt {
                eprt_family(s, the_line, reply, out);
            }
        } else {
            if matches!(arg.kind, AddrKind::Pasv | AddrKind::Lpsv)
                && let Some(ep) = arg.strict.or(arg.lenient)
                && ep.ip != s.server.ip()
            {
                out.push(pasv_addr_differs(s, setup, the_line, ep));
            }
            unparseable_for_alg(s, setup.kind, arg, the_line, out);
        }
    }
}

/// A PORT/EPRT/LPRT naming another address than the client's control
/// connection comes from, and the causes that fit what the capture shows.
fn port_addr_differs(
    s: &Session,
    setup: &crate::ftp::data::DataSetup,
    the_line: &crate::ftp::line::Line,
    ep: crate::ftp::address::Endpoint,
) -> Finding {
    let kind = setup.arg.kind.name();
    let reply = setup.reply.map(|i| &s.replies[i]);
    let reply_txt = reply
        .map(|r| format!("; the server answered `{}`", ql(r.last())))
        .unwrap_or_default();
    let outcome = match (&setup.mismatch, setup.verdict) {
        (Some(Mismatch::ServerUsedControlAddress), _) => format!(
            "; the server{} connected to the control address instead, which hides the missing rewrite",
            match &s.server_software {
                Some(sv) => format!(" ({})", sv.name),
                None => " (as ProFTPD and FileZilla Server may do)".to_string(),
            }
        ),
        (_, Verdict::Connected) => "; a data connection to it was established".to_string(),
        _ if setup.status() == Status::Unused => {
            "; nothing used it (no transfer command or data connection followed)".to_string()
        }
        (_, v) => format!("; data connection: {}", v.describe()),
    };
    let (actor, proof_kind, proof) = line_origin(s, Side::Client);
    let causes = if actor == Actor::Client {
        "no router lies between the client and this tap, so no NAT translated the control connection either: the client itself announced an address other than the one it connects from (another interface's, a configured external address, or an FTP bounce to a third host)".to_string()
    } else {
        format!(
            "causes that fit: a NAT between the client and this tap whose FTP helper did not rewrite the {kind} (no helper, or not attached to this control port), or a client announcing another host (an FTP bounce)"
        )
    };
    Finding::new(
        Rule::PortAddrDiffers,
        Severity::Warning,
        s,
        format!(
            "the client announced {} in `{}` (frame {}) but its control connection comes from {} at this tap{reply_txt}{outcome}; {causes}.",
            ep.ip,
            ql(the_line),
            the_line.last_frame(),
            s.client.ip(),
        ),
    )
    .evidence(&format!("{kind} command"), the_line.frames(), the_line.bytes.as_slice())
    .frames(reply.map(|r| r.frames()).unwrap_or_default())
    .by(actor, proof_kind, proof)
    .about(Side::Client, the_line)
    .group(ep.ip.to_string())
}

/// A 227/228 advertising another address than the one the client reached
/// the server at: what is seen, and the causes that fit.
fn pasv_addr_differs(
    s: &Session,
    setup: &crate::ftp::data::DataSetup,
    the_line: &crate::ftp::line::Line,
    ep: crate::ftp::address::Endpoint,
) -> Finding {
    use crate::ftp::address::is_private;
    let client = match (&setup.mismatch, setup.verdict) {
        (Some(Mismatch::ClientUsedControlAddress), _) => format!(
            "the client ignored it and connected to {} instead (as FileZilla and Python's ftplib since bpo-43285 do)",
            s.server.ip()
        ),
        (_, Verdict::Connected) => format!("the client connected to {ep}"),
        _ if setup.status() == Status::Unused => {
            "nothing used it (no transfer command or data connection followed)".to_string()
        }
        (_, v) => format!("data connection: {}", v.describe()),
    };
    let what = match (is_private(ep.ip), is_private(s.server.ip())) {
        (true, false) => format!(
            "{} is a private address, which a client on the public side cannot reach",
            ep.ip
        ),
        (false, _) => format!("{} is a public address", ep.ip),
        (true, true) => "both are private addresses".to_string(),
    };
    let (actor, proof_kind, proof) = line_origin(s, Side::Server);
    let setting = announce_setting(s);
    let sender = if actor == Actor::Server {
        format!(
            "the server sent it so (no router lies between it and this tap); causes that fit: the server is configured to announce another address ({setting}), as a server behind a NAT announcing its public address does, or it announces its own address from behind a NAT in front of it that did not rewrite the reply"
        )
    } else {
        format!(
            "causes that fit: the server is configured to announce another address ({setting}), as a server behind a NAT announcing its public address does; a NAT in front of the server whose FTP helper did not rewrite the reply; or a device between the server and this tap rewrote it"
        )
    };
    Finding::new(
        Rule::PasvAddrDiffers,
        Severity::Warning,
        s,
        format!(
            "the server advertised {ep} in `{}` (frame {}) but the client reached it at {} (the control connection); {what}; {client}. {}.",
            ql(the_line),
            the_line.first_frame(),
            s.server.ip(),
            capitalize(&sender)
        ),
    )
    .evidence(&format!("{} reply", setup.arg.kind.name()), the_line.frames(), the_line.bytes.as_slice())
    .by(actor, proof_kind, proof)
    .about(Side::Server, the_line)
    .group(ep.ip.to_string())
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// Defects that garble the numbers themselves. Blanks before or after the
/// argument (ctl-bad-terminator) and an EPRT family mismatch
/// (eprt-family-mismatch) are reported by their own rules.
fn mangling<'a>(arg: &'a AddrArg, line: &'a [u8]) -> impl Iterator<Item = &'a Defect> + 'a {
    arg.defects.iter().filter(move |d| match d.kind {
        DefectKind::Space => {
            let trailing = line[d.offset..].iter().all(|&b| b == b' ' || b == b'\t');
            let leading = arg.fields.first().is_none_or(|f| d.offset < f.offset);
            !trailing && !leading
        }
        DefectKind::FamilyMismatch
        | DefectKind::MissingParentheses
        | DefectKind::TextAfterNumbers { .. }
        | DefectKind::NonEmptyAddressField => false,
        _ => true,
    })
}

fn mangled_received(
    s: &Session,
    setup: &crate::ftp::data::DataSetup,
    the_line: &crate::ftp::line::Line,
    frames: Vec<u64>,
    clean_before: bool,
) -> Finding {
    let arg = &setup.arg;
    let line = &the_line.bytes.0[..];
    let defects: Vec<String> = mangling(arg, line)
        .map(|d| {
            let field = d
                .field
                .and_then(|n| arg.fields.get(n - 1).map(|f| (n, f)))
                .map(|(n, f)| {
                    // A field that runs to the line cap runs on past it.
                    let cut = f.offset + f.text.0.len() >= line.len();
                    let more = if cut { the_line.overlong_bytes } else { 0 };
                    format!("{} `{}` ", field_name(arg.kind, n), q_more(&f.text.0, more))
                })
                .unwrap_or_default();
            format!("{field}{d}")
        })
        .collect();
    let underscore = arg
        .defects
        .iter()
        .any(|d| matches!(d.kind, DefectKind::NonDigit { byte: b'_' }))
        && arg.fields.iter().any(|f| f.text.0.ends_with(b"22_"));
    let mut msg = format!(
        "this tap saw `{}` (frame {}): {}",
        ql(the_line),
        frames.first().copied().unwrap_or(0),
        defects.join("; ")
    );
    msg.push_str(&server_reading(s, setup));
    let (actor, kind, proof) = line_origin(s, Side::Client);
    if actor == Actor::Client {
        msg.push_str(". The client sent it so: no router lies between it and this tap");
    } else {
        msg.push_str(". This tap's view alone cannot tell whether the client sent it so or a device between the client and this tap changed it");
        if underscore {
            msg.push_str(
                " (`22_` where digits belong is what an in-place rewrite of the digit string `227` leaves)",
            );
        }
        if clean_before {
            msg.push_str(
                "; the same client's earlier address commands in this session reached this tap well-formed",
            );
        }
    }
    msg.push('.');
    let mut f = Finding::new(Rule::PortMangledReceived, Severity::Warning, s, msg);
    f.facts = Some(super::Facts {
        received: Some(crate::escape::Bytes(line.to_vec())),
        received_reads_as: setup.endpoint.filter(|_| arg.strict.is_none()),
        ..Default::default()
    });
    let key = arg
        .defects
        .iter()
        .map(|d| format!("{:?}", d.kind))
        .collect::<Vec<_>>()
        .join(",");
    // The reply `server_reading` cites is part of the case too.
    let reply = setup.reply.map(|r| s.replies[r].frames());
    f.evidence(&format!("{} as seen here", arg.kind.name()), frames, line)
        .frames(reply.unwrap_or_default())
        .by(actor, kind, proof)
        .about(Side::Client, the_line)
        .group(key)
}

/// The setting that makes a server announce another passive address: the
/// identified server's own, else the usual ones (no server's setting is
/// named for a server the capture shows to be another).
fn announce_setting(s: &Session) -> &'static str {
    match s.server_software.as_ref().map(|sv| sv.name) {
        Some("vsftpd") => "vsftpd's pasv_address",
        Some("ProFTPD") => "ProFTPD's MasqueradeAddress",
        Some("Pure-FTPd") => "Pure-FTPd's ForcePassiveIP (-P)",
        Some("FileZilla Server") => "FileZilla Server's external IP for passive mode",
        Some("pyftpdlib") => "pyftpdlib's masquerade_address",
        Some("Microsoft IIS FTP") => "IIS's external IP address of the firewall",
        Some(_) => "a setting for its public passive address",
        None => {
            "vsftpd pasv_address, ProFTPD MasqueradeAddress, FileZilla Server's external IP, IIS's firewall IP"
        }
    }
}

/// What the server made of a malformed address command, as far as the
/// capture shows it (its reply, where it connected), and otherwise what
/// the identified server — or, when none is identified, a lenient one —
/// reads in it. Never a claim the capture contradicts.
fn server_reading(s: &Session, setup: &crate::ftp::data::DataSetup) -> String {
    let name = s
        .server_software
        .as_ref()
        .map(|sv| format!(" ({})", sv.name))
        .unwrap_or_default();
    let reply = setup.reply.map(|r| &s.replies[r]);
    let conn = setup.connection.map(|k| &s.data_conns[k]);
    let ep = setup.endpoint;
    match (reply, setup.reply_code) {
        (Some(r), Some(code)) if code >= 400 => format!(
            "; the server{name} refused it (`{}`, frame {})",
            ql(r.last()),
            r.first().first_frame()
        ),
        (Some(r), Some(_)) => {
            let mut t = format!(
                "; the server{name} accepted it (`{}`, frame {})",
                ql(r.last()),
                r.first().first_frame()
            );
            match (conn, ep) {
                (Some(c), Some(ep)) if c.acceptor.ip() == ep.ip && c.acceptor.port() == ep.port => {
                    t.push_str(&format!(
                        " and connected to {} (frame {}): it read the line as {ep}",
                        c.acceptor, c.first_frame
                    ));
                }
                (Some(c), _) => t.push_str(&format!(
                    " and connected to {} (frame {})",
                    c.acceptor, c.first_frame
                )),
                (None, Some(ep)) => t.push_str(&format!("; a lenient reading gives {ep}")),
                (None, None) => {}
            }
            t
        }
        // No reply: what the server usually answers is not said (GNU
        // inetutils ftpd, which quotes a line it refuses, sent nothing
        // to `PORT …,125,22_` in the lab), only what a reading gives.
        _ => {
            let reading = match (&s.server_software, ep) {
                (Some(sv), Some(ep)) if sv.port_handling == PortHandling::ReadsLeadingDigits => {
                    format!("; {} reads such a line as {ep}", sv.name)
                }
                (Some(sv), _)
                    if matches!(
                        sv.port_handling,
                        PortHandling::EchoesLine | PortHandling::Rejects
                    ) =>
                {
                    String::new()
                }
                (_, Some(ep)) => {
                    format!("; a lenient (sscanf/atoi) server would read it as {ep}")
                }
                (_, None) => {
                    "; neither a sscanf- nor an atoi-style reading gives an endpoint".to_string()
                }
            };
            format!("; no reply to it was captured{reading}")
        }
    }
}

fn eprt_family(
    s: &Session,
    the_line: &crate::ftp::line::Line,
    reply: Option<&crate::ftp::message::Reply>,
    out: &mut Vec<Finding>,
) {
    let line = &the_line.bytes.0[..];
    let arg = crate::ftp::address::parse_eprt(line);
    let Some(proto) = arg.fields.first() else {
        return;
    };
    let v6 = s.client.is_ipv6();
    let delim = arg
        .fields
        .first()
        .and_then(|f| line.get(f.offset.wrapping_sub(1)))
        .copied();
    let (want, got) = (if v6 { b"2" } else { b"1" }, proto.text.0.as_slice());
    let family_bad = (got == b"1" || got == b"2") && got != want;
    let delim_odd = delim.is_some_and(|d| d != b'|');
    if !family_bad && !delim_odd {
        return;
    }
    let what = if family_bad {
        // What the server did with it, as far as the capture shows; what
        // the identified server does; or, unidentified, what servers do.
        let server = match (reply, s.server_software.as_ref().map(|sv| sv.name)) {
            (Some(r), _) => format!(
                "the server answered `{}` (frame {})",
                ql(r.last()),
                r.first().first_frame()
            ),
            (None, Some("vsftpd")) => "vsftpd answers '500 Bad EPRT protocol.'".to_string(),
            (None, Some("pyftpdlib")) => {
                "pyftpdlib answers '522 Network protocol not supported'".to_string()
            }
            (None, Some(_)) => "no reply to it was captured".to_string(),
            (None, None) => "if the server is vsftpd it answers '500 Bad EPRT protocol.', if pyftpdlib '522 Network protocol not supported'".to_string(),
        };
        format!(
            "uses network protocol {} on an IPv{} control connection; Linux conntrack drops it as partial; {server}",
            q(got),
            if v6 { 6 } else { 4 }
        )
    } else {
        format!(
            "uses the delimiter {} instead of `|`; some ALGs and proxies only accept `|`",
            crate::escape::describe_byte(delim.unwrap_or(0))
        )
    };
    out.push(
        Finding::new(
            Rule::EprtFamilyMismatch,
            Severity::Warning,
            s,
            format!("`{}` {what}.", ql(the_line)),
        )
        .evidence("EPRT command", the_line.frames(), line)
        .by_origin(s, Side::Client)
        .about(Side::Client, the_line),
    );
}

fn unparseable_for_alg(
    s: &Session,
    kind: AddrKind,
    arg: &AddrArg,
    the_line: &crate::ftp::line::Line,
    out: &mut Vec<Finding>,
) {
    let line = &the_line.bytes.0[..];
    let mut reasons = Vec::new();
    for d in &arg.defects {
        match (kind, &d.kind) {
            (AddrKind::Pasv, DefectKind::NoNumbers) => reasons.push(
                "it carries no address numbers: Linux conntrack drops it as a partial match".to_string(),
            ),
            (AddrKind::Pasv, DefectKind::MissingParentheses) => reasons.push(
                "the numbers are not in parentheses: older Linux conntrack, libalias and OpenBSD ftp-proxy require `(`".to_string(),
            ),
            (AddrKind::Pasv, DefectKind::DotsForCommas) => {
                reasons.push("the numbers are separated by dots: ALGs expect commas".to_string())
            }
            (AddrKind::Pasv, DefectKind::TextAfterNumbers { len }) if *len > 8 => reasons.push(format!(
                "{len} characters follow the numbers: Cisco ASA `inspect ftp strict` closes the connection when more than 8 do"
            )),
            (AddrKind::Epsv, DefectKind::NonEmptyAddressField) => reasons.push(
                "the fields before the port are not empty: RFC 2428 requires `(|||port|)`".to_string(),
            ),
            _ => {}
        }
    }
    if kind == AddrKind::Epsv {
        let d = line
            .iter()
            .position(|&b| b == b'(')
            .and_then(|o| line.get(o + 1))
            .copied();
        if let Some(d) = d
            && d != b'|'
        {
            reasons.push(format!(
                "the delimiter is {}: OpenBSD ftp-proxy only accepts `|`",
                crate::escape::describe_byte(d)
            ));
        }
    }
    if reasons.is_empty() {
        return;
    }
    out.push(
        Finding::new(
            Rule::PasvReplyUnparseableForAlg,
            Severity::Info,
            s,
            format!(
                "`{}`: {}. This is a server quirk, not corruption, but some in-path ALGs cannot open the data connection for it.",
                ql(the_line),
                reasons.join("; ")
            ),
        )
        .evidence(&format!("{} reply", kind.name()), the_line.frames(), line)
        .by_origin(s, Side::Server)
        .about(Side::Server, the_line)
        .group(reasons.join(";")),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ftp::address::{parse_eprt, parse_port};

    #[test]
    fn cosmetic_defects_are_not_mangling() {
        let l = b"PORT 198,51,100,60,156,64 ";
        let a = parse_port(l);
        assert_eq!(mangling(&a, l).count(), 0, "{:?}", a.defects);
        let l = b"EPRT |2|198.51.100.60|40000|";
        let a = parse_eprt(l);
        assert_eq!(mangling(&a, l).count(), 0, "{:?}", a.defects);
        let l = b"PORT 198,51,100,60,125,22_";
        assert_eq!(mangling(&parse_port(l), l).count(), 1);
    }
}
