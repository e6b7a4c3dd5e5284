//! Rules that compare what the client sent with what the server says it
//! received: `port-echo-mismatch`, `verb-rewritten`, `string-227-mangled`.

use super::Rule;
use super::attribution::{Actor, ProofKind, TapPosition};
use super::signatures::{self, CHECKPOINT_227, SMC_P_AT_SW};
use super::{Finding, Severity, field_name, q, ql};
use crate::diff::diff;
use crate::escape::describe_byte;
use crate::ftp::address;
use crate::ftp::echo::{EchoStyle, find_echo};
use crate::ftp::message::{Command, Reply, verb_of};
use crate::ftp::session::Session;
use crate::reassembly::connection::Side;

/// An echo this long that is a prefix of the sent line is the server's
/// own truncation (BSD ftpd's buffer), not damage in transit.
const TRUNCATION_MIN: usize = 100;

pub(super) fn run(s: &Session, out: &mut Vec<Finding>) {
    for (i, cmd) in s.commands.iter().enumerate() {
        let Some(verb) = cmd.verb.as_deref() else {
            continue;
        };
        let Some(reply) = s.reply_to(i) else { continue };
        let Some(code) = reply.code else { continue };
        if !(400..600).contains(&code) {
            mangled_name_in_reply(s, cmd, reply, out);
            continue;
        }
        let line = reply.last();
        let Some(echo) = find_echo(&line.bytes.0, Some(verb)) else {
            mangled_name_in_reply(s, cmd, reply, out);
            continue;
        };
        let sent = &cmd.line.bytes.0;
        let got = &echo.quoted.0;
        if echo.style == EchoStyle::VerbOnly {
            if !got.eq_ignore_ascii_case(verb.as_bytes()) && verb_of(got).is_some() {
                out.push(verb_finding(s, cmd, reply, got));
            }
            continue;
        }
        // A leading-quote reply about a file name ('x': No such file) is
        // not an echo of the command unless it is a syntax-error reply or
        // starts like the command.
        let looks_like_command = verb_of(got).is_some_and(|v| v.eq_ignore_ascii_case(verb));
        if !looks_like_command && !(500..=504).contains(&code) {
            continue;
        }
        if got == sent || got.eq_ignore_ascii_case(sent) {
            continue;
        }
        if got.len() >= TRUNCATION_MIN && sent.starts_with(got) {
            continue;
        }
        let echoed_verb = verb_of(got);
        if echoed_verb.as_deref().is_some_and(|v| v != verb) && !looks_like_command {
            out.push(verb_finding(s, cmd, reply, got));
            continue;
        }
        out.push(echo_finding(s, cmd, reply, got));
    }
}

fn echo_finding(s: &Session, cmd: &Command, reply: &Reply, got: &[u8]) -> Finding {
    let sent = &cmd.line.bytes.0;
    let verb = cmd.verb.as_deref().unwrap_or("?");
    let d = diff(sent, got);
    let sites = signatures::checkpoint_227_sites(sent, got);
    let arg = address::parse_command(verb, sent);
    let is_addr = arg.is_some();
    let rule = if !is_addr && !sites.is_empty() {
        Rule::String227Mangled
    } else {
        Rule::PortEchoMismatch
    };
    let mut msg = format!(
        "the server received a different {verb} than the client sent: the client sent `{}` (frame {}), the server's {} reply (frame {}) quotes `{}`; {}",
        q(sent),
        cmd.line.last_frame(),
        reply.code.unwrap_or(0),
        reply.last().first_frame(),
        q(got),
        d.describe(),
    );
    if let Some(arg) = &arg {
        let fields: Vec<String> = d
            .edits
            .iter()
            .filter_map(|e| arg.field_at(e.offset))
            .map(|(n, f)| {
                let got_text = got
                    .get(f.offset..(f.offset + f.text.0.len()).min(got.len()))
                    .unwrap_or_default();
                format!(
                    "{} `{}` became `{}`",
                    field_name(arg.kind, n),
                    q(&f.text.0),
                    q(got_text)
                )
            })
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        if !fields.is_empty() {
            msg.push_str(&format!("; {}", fields.join(", ")));
        }
    }
    let mut f = Finding::new(rule, Severity::Error, s, String::new());
    let (actor, proof) = echoed(s, cmd, reply, "the line");
    if actor != Actor::Path {
        msg.push_str(". No router lies between this tap and the server, so the server itself quotes it otherwise");
    } else if !sites.is_empty() {
        msg.push_str(&format!(
            ". This in-place substitution (same length, so no TCP sequence change) is the known signature of {} (227→22_)",
            CHECKPOINT_227.device
        ));
        f.signature = Some(&CHECKPOINT_227);
    } else if d.same_length {
        msg.push_str(
            ". Same length: an in-place rewrite by an inspection engine rather than a NAT ALG",
        );
    } else {
        msg.push_str(". The length changed: a device rebuilt the line");
    }
    if let Some(port) = arg.as_ref().and_then(|a| a.strict).map(|e| e.port) {
        msg.push_str(&format!(". Data port {port} became unusable"));
    } else if rule == Rule::String227Mangled {
        msg.push_str(". The device replaces the digit string 227 anywhere in the control stream, not only in PORT");
    }
    if let Some(srv) = &s.server_software {
        msg.push_str(&format!(" (server: {})", srv.name));
    }
    msg.push('.');
    f.message = msg;
    f.compared(Side::Client, sent, got, d);
    f.evidence("client sent", cmd.line.frames(), sent.as_slice())
        .evidence(
            "server reply quotes",
            reply.frames(),
            reply.last().bytes.as_slice(),
        )
        .by(actor, ProofKind::Echo, proof)
        .about(Side::Client, &cmd.line)
}

/// Who changed a line the server quotes back differently, and the two
/// views that prove it: the path between this tap and the server — or,
/// where no router lies between them (the server's packets carry an
/// initial TTL and the client's do not), the server itself.
fn echoed(s: &Session, cmd: &Command, reply: &Reply, what: &str) -> (Actor, String) {
    let views = format!(
        "{what} as this tap saw it (frame {}) against the server's {} reply quoting it (frame {})",
        cmd.line.last_frame(),
        reply.code.unwrap_or(0),
        reply.last().first_frame()
    );
    let tap = TapPosition::new(s.ttl);
    if tap.on_side_of(Side::Server) {
        let how = tap.how(Side::Server).unwrap_or_default();
        (
            Actor::Server,
            format!("{views}; {how}, so the server itself quotes it otherwise"),
        )
    } else {
        (
            Actor::Path,
            format!("{views}: it changed between this tap and the server"),
        )
    }
}

fn verb_finding(s: &Session, cmd: &Command, reply: &Reply, got: &[u8]) -> Finding {
    let verb = cmd.verb.as_deref().unwrap_or("?");
    let smc = verb == "PASV" && got.eq_ignore_ascii_case(b"P@SW");
    let mut msg = format!(
        "the client sent `{}` (frame {}) but the server's reply (frame {}) names the command `{}`: the verb was rewritten between this tap and the server",
        ql(&cmd.line),
        cmd.line.last_frame(),
        reply.last().first_frame(),
        q(got)
    );
    let mut f = Finding::new(Rule::VerbRewritten, Severity::Error, s, String::new());
    if smc {
        msg.push_str(&format!(
            " — {} ({})",
            SMC_P_AT_SW.device, SMC_P_AT_SW.behaviour
        ));
        f.signature = Some(&SMC_P_AT_SW);
    }
    msg.push('.');
    f.message = msg;
    f.compared(
        Side::Client,
        verb.as_bytes(),
        got,
        diff(verb.as_bytes(), got),
    );
    let (actor, proof) = echoed(s, cmd, reply, "the verb");
    f.evidence("client sent", cmd.line.frames(), cmd.line.bytes.as_slice())
        .evidence(
            "server reply",
            reply.frames(),
            reply.last().bytes.as_slice(),
        )
        .by(actor, ProofKind::Echo, proof)
        .about(Side::Client, &cmd.line)
}

/// A reply that repeats the command's argument with 227 turned into 22_
/// (`550 TEST22_.DAT: No such file` for `RETR TEST227.DAT`).
fn mangled_name_in_reply(s: &Session, cmd: &Command, reply: &Reply, out: &mut Vec<Finding>) {
    let Some(arg) = cmd.arg() else { return };
    let Some(mangled) = signatures::apply_227_rewrite(arg) else {
        return;
    };
    let text = reply.joined();
    let has = |needle: &[u8]| text.0.windows(needle.len()).any(|w| w == needle);
    if !has(&mangled) || has(arg) {
        return;
    }
    let pos = arg.windows(3).position(|w| w == b"227").unwrap_or(0);
    let (actor, proof) = echoed(s, cmd, reply, "the argument");
    if actor != Actor::Path {
        return;
    }
    let mut f = Finding::new(
        Rule::String227Mangled,
        Severity::Error,
        s,
        format!(
            "the client sent `{}` (frame {}) but the server's {} reply (frame {}) names `{}`: `227` became `22_` (byte {} of the argument changed from {} to {}); the in-path device replaces the digit string 227 anywhere in the control stream — {} ({}).",
            ql(&cmd.line),
            cmd.line.last_frame(),
            reply.code.unwrap_or(0),
            reply.first().first_frame(),
            q(&mangled),
            pos + 2,
            describe_byte(b'7'),
            describe_byte(b'_'),
            CHECKPOINT_227.device,
            CHECKPOINT_227.behaviour
        ),
    );
    f.signature = Some(&CHECKPOINT_227);
    f.compared(Side::Client, arg, &mangled, diff(arg, &mangled));
    out.push(
        f.evidence("client sent", cmd.line.frames(), cmd.line.bytes.as_slice())
            .evidence("server reply", reply.frames(), text)
            .by(actor, ProofKind::Echo, proof)
            .about(Side::Client, &cmd.line),
    );
}
