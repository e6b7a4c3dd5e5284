//! Rules on the address arguments themselves: `port-mangled-received`,
//! `private-addr-in-port`, `private-addr-in-pasv`, `eprt-family-mismatch`,
//! `pasv-reply-unparseable-for-alg`.

use super::Rule;
use super::signatures::CHECKPOINT_227;
use super::{Finding, Severity, field_name, q, q_more, ql};
use crate::ftp::address::{AddrArg, AddrKind, Defect, DefectKind};
use crate::ftp::data::{Mismatch, Verdict};
use crate::ftp::session::Session;

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
                let reply_txt = reply
                    .map(|r| format!("; the server answered `{}`", ql(r.last())))
                    .unwrap_or_default();
                let outcome = match (&setup.mismatch, setup.verdict) {
                    (Some(Mismatch::ServerUsedControlAddress), _) => {
                        "; the server connected to the control address instead (ProFTPD/FileZilla Server substitute it), which hides the missing rewrite".to_string()
                    }
                    (_, Verdict::Connected) => "; a data connection to it was established".to_string(),
                    (_, v) => format!("; data connection: {}", v.describe()),
                };
                out.push(
                    Finding::new(
                        Rule::PrivateAddrInPort,
                        Severity::Warning,
                        s,
                        format!(
                            "the client announced {} in `{}` but its control connection comes from {}: no NAT ALG rewrote the {} (typical: NAT without an FTP helper, the Linux helper not attached, a non-21 control port; or an FTP bounce){reply_txt}{outcome}.",
                            ep.ip,
                            q(line),
                            s.client.ip(),
                            arg.kind.name()
                        ),
                    )
                    .evidence(&format!("{} command", arg.kind.name()), frames.clone(), line.as_slice())
                    .frames(reply.map(|r| r.frames()).unwrap_or_default())
                    .group(ep.ip.to_string()),
                );
            }
            if arg.kind == AddrKind::Eprt {
                eprt_family(s, line, frames.clone(), out);
            }
        } else {
            if matches!(arg.kind, AddrKind::Pasv | AddrKind::Lpsv)
                && let Some(ep) = arg.strict.or(arg.lenient)
                && ep.ip != s.server.ip()
            {
                let client = match (&setup.mismatch, setup.verdict) {
                    (Some(Mismatch::ClientUsedControlAddress), _) => format!(
                        "the client ignored it and connected to {} (FileZilla client, or Python ftplib since bpo-43285)",
                        s.server.ip()
                    ),
                    (_, Verdict::Connected) => format!("the client connected to {ep}"),
                    (_, v) => format!("data connection: {}", v.describe()),
                };
                out.push(
                    Finding::new(
                        Rule::PrivateAddrInPasv,
                        Severity::Warning,
                        s,
                        format!(
                            "the server advertised {ep} in `{}` but the control connection is to {}: the server's passive address is not configured (vsftpd pasv_address, ProFTPD MasqueradeAddress, FileZilla Server external IP, IIS firewall IP) and no ALG rewrote it; {client}.",
                            q(line),
                            s.server.ip()
                        ),
                    )
                    .evidence(&format!("{} reply", arg.kind.name()), frames.clone(), line.as_slice())
                    .group(ep.ip.to_string()),
                );
            }
            unparseable_for_alg(s, setup.kind, arg, line, frames, out);
        }
    }
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
    match arg.lenient {
        Some(ep) => msg.push_str(&format!(
            ". A lenient (sscanf/atoi) server such as vsftpd, ProFTPD or Pure-FTPd reads it as {ep}"
        )),
        None => msg.push_str(". No server can read an endpoint from it"),
    }
    if let Some(code) = setup.reply_code {
        msg.push_str(&format!("; the server answered {code}"));
    }
    let mut f = Finding::new(
        Rule::PortMangledReceived,
        if underscore {
            Severity::Error
        } else {
            Severity::Warning
        },
        s,
        String::new(),
    );
    if underscore {
        msg.push_str(&format!(
            ". If the client's original field was `227`, this is the {} 227→22_ substitution; capture on the client side to confirm",
            CHECKPOINT_227.device
        ));
        f.signature = Some(&CHECKPOINT_227);
    }
    if clean_before {
        msg.push_str(". The same client sent well-formed address commands earlier in this session, which points to damage in transit rather than a client bug (a capture on the client side tells which)");
    }
    msg.push('.');
    f.message = msg;
    f.facts = Some(super::Facts {
        received: Some(crate::escape::Bytes(line.to_vec())),
        received_reads_as: arg.lenient,
        ..Default::default()
    });
    let key = arg
        .defects
        .iter()
        .map(|d| format!("{:?}", d.kind))
        .collect::<Vec<_>>()
        .join(",");
    f.evidence(&format!("{} as seen here", arg.kind.name()), frames, line)
        .group(key)
}

fn eprt_family(s: &Session, line: &[u8], frames: Vec<u64>, out: &mut Vec<Finding>) {
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
        format!(
            "uses network protocol {} on an IPv{} control connection; Linux conntrack drops it as partial, vsftpd answers '500 Bad EPRT protocol.', pyftpdlib '522 Network protocol not supported'",
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
            format!("`{}` {what}.", q(line)),
        )
        .evidence("EPRT command", frames, line),
    );
}

fn unparseable_for_alg(
    s: &Session,
    kind: AddrKind,
    arg: &AddrArg,
    line: &[u8],
    frames: Vec<u64>,
    out: &mut Vec<Finding>,
) {
    let mut reasons = Vec::new();
    for d in &arg.defects {
        match (kind, &d.kind) {
            (AddrKind::Pasv, DefectKind::NoNumbers) => reasons.push(
                "it carries no address numbers: Linux conntrack drops it as a partial match (the Pure-FTPd `227 Logout.` case)".to_string(),
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
                q(line),
                reasons.join("; ")
            ),
        )
        .evidence(&format!("{} reply", kind.name()), frames, line)
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
