//! Commands paired with their replies, FIFO (which survives pipelining;
//! preliminary 1xx replies attach without consuming; unsolicited replies
//! stay unpaired; a reply quoting a command's line goes to it; never
//! across a gap the command's own ACK does not show it had received), and every data setup with the
//! reply that accepted it and the data connections that followed.

use super::address::{self, AddrArg, AddrKind};
use super::data::{DataSetup, TRANSFER_VERBS, Transfer, Verdict};
use super::line::Terminator;
use super::message::{Command, Reply, may_answer, reserved_for};
use crate::timestamp::Timestamp;
use std::collections::VecDeque;
use std::net::SocketAddr;

/// Commands paired with replies.
pub struct Pairing {
    /// The final reply to each command.
    pub reply_of: Vec<Option<usize>>,
    /// The command each reply answers.
    pub command_of: Vec<Option<usize>>,
    /// Commands whose reply may lie in bytes the capture missed: without a
    /// reply, but not known to be unanswered.
    pub reply_unseen: Vec<bool>,
}

/// Pairs commands with replies in capture order (commands by the frame that
/// completed them, replies by the frame that started them). Servers answer
/// in order, so a reply goes to the oldest waiting command that may
/// receive it ([`may_answer`], or a command the reply quotes); the waiting
/// commands it passes over are unanswered. Never across a gap: a reply
/// right after missing server bytes pairs with no command sent before
/// them (their replies may be in the gap) — a command whose ACK covers
/// the missing bytes was sent after them, so they are not its reply —
/// and after missing client bytes (a lost command) only a reply that can
/// belong to nothing else pairs.
pub fn pair(commands: &[Command], replies: &[Reply]) -> Pairing {
    let mut reply_of = vec![None; commands.len()];
    let mut command_of = vec![None; replies.len()];
    let mut reply_unseen = vec![false; commands.len()];
    let mut pending: VecDeque<usize> = VecDeque::new();
    let (mut ci, mut ri) = (0, 0);
    let mut answered_any = false;
    // A command was lost in a client-side gap: its reply may come first.
    let mut lost_command = false;
    let verb = |k: usize| commands[k].verb.as_deref().unwrap_or("");
    while ri < replies.len() {
        let r_key = replies[ri].first().first_frame();
        if ci < commands.len() && commands[ci].line.last_frame() < r_key {
            if commands[ci].line.follows_gap {
                lost_command = true;
            }
            // Every whole line reaches the server and gets a reply, a
            // verb or not; only a fragment after a gap is not a command,
            // and an empty line is none either: servers skip it (vsftpd
            // sends nothing for the `\r\n` after a bare-LF PORT, and the
            // replies after it would otherwise pair one line too early).
            let empty = commands[ci].line.bytes.0.is_empty();
            if !commands[ci].line.after_gap && !empty {
                pending.push_back(ci);
            }
            ci += 1;
            continue;
        }
        let r = &replies[ri];
        if r.first().follows_gap {
            // Whatever was waiting may have been answered in the gap,
            // unless its own ACK shows the client had received the gap's
            // bytes before it sent the command: they were sent before it,
            // so they are not its reply.
            let gap_end = r.first().offset;
            pending.retain(|&k| {
                let before = commands[k].line.peer_acked.is_some_and(|a| a >= gap_end);
                reply_unseen[k] |= !before;
                before
            });
            lost_command = false;
        }
        let quoted = r.code.and_then(|_| {
            let e = super::echo::find_echo(&r.first().bytes.0, None)?;
            super::message::verb_of(&e.quoted.0)
        });
        // A reply that quotes a waiting command's verb goes to it; else
        // (no quote, or a quote of a verb nobody sent: rewritten on the
        // way) to the oldest that may receive it.
        let named = |code: u16| {
            pending
                .iter()
                .position(|&k| quoted.as_deref() == Some(verb(k)) && may_answer(verb(k), code))
        };
        // A reply that quotes a waiting command's whole line, argument
        // and all (`225 Fake response RETR robots.txt`), answers it,
        // whatever its code says: the quote names the command.
        let quoting = pending
            .iter()
            .position(|&k| quotes_line(r, &commands[k].line.bytes.0));
        let fits = |k: usize, code: u16| may_answer(verb(k), code);
        // A reply that quotes its command, or whose code belongs to that
        // kind of command: safe to pair even after a lost command.
        let telling = |k: usize, code: u16| {
            quoted.as_deref() == Some(verb(k))
                || reserved_for(code).is_some_and(|v| v.contains(&verb(k)))
        };
        match r.code {
            None => {}
            // The greeting: unsolicited even when a client sent too early.
            Some(120 | 220) if !answered_any => {}
            Some(c) if (100..200).contains(&c) => {
                let k = quoting
                    .map(|at| pending[at])
                    .or_else(|| pending.iter().copied().find(|&k| fits(k, c)));
                if let Some(k) = k {
                    command_of[ri] = Some(k);
                }
            }
            Some(c) => {
                let at = quoting.or_else(|| named(c)).or_else(|| {
                    pending
                        .iter()
                        .position(|&k| fits(k, c) && (!lost_command || telling(k, c)))
                });
                if let Some(at) = at {
                    // Servers answer in order: the commands passed over
                    // got no reply.
                    pending.drain(..at);
                    let k = pending.pop_front().unwrap_or_default();
                    command_of[ri] = Some(k);
                    reply_of[k] = Some(ri);
                    answered_any = true;
                    lost_command = false;
                }
            }
        }
        ri += 1;
    }
    if lost_command {
        for k in pending {
            reply_unseen[k] = true;
        }
    }
    Pairing {
        reply_of,
        command_of,
        reply_unseen,
    }
}

/// Whether reply `r` quotes command line `line` whole: its verb and a
/// non-empty argument, byte for byte. A verb alone proves nothing (`200
/// PORT command successful` may follow any of several PORTs; `230 User
/// logged in` is not a quote of `USER`).
fn quotes_line(r: &Reply, line: &[u8]) -> bool {
    let Some(arg) = super::message::argument_of(line) else {
        return false;
    };
    if arg.iter().all(u8::is_ascii_whitespace) {
        return false;
    }
    r.lines
        .iter()
        .any(|l| l.bytes.0.len() > 4 && memchr::memmem::find(&l.bytes.0[4..], line).is_some())
}

/// Builds the data setups: PORT/EPRT/LPRT with the reply that accepted or
/// rejected them, and 227/228/229 replies (with the PASV-type command).
pub(super) fn data_setups(
    commands: &[Command],
    replies: &[Reply],
    reply_of: &[Option<usize>],
    command_of: &[Option<usize>],
    reply_unseen: &[bool],
    server: SocketAddr,
) -> Vec<DataSetup> {
    let mut out = Vec::new();
    for (i, c) in commands.iter().enumerate() {
        // A line that never ended was never executed by the server.
        if matches!(c.line.terminator, Terminator::None | Terminator::Gap) {
            continue;
        }
        let Some(arg) = c.address.as_deref().cloned() else {
            continue;
        };
        let reply = reply_of[i];
        let code = reply.and_then(|r| replies[r].code);
        let rejected = code.is_some_and(|c| c >= 400);
        let mut d = setup(
            arg,
            Some(i),
            reply,
            code,
            c.line.last_frame(),
            c.line.last_ts(),
            rejected,
            server,
        );
        // vsftpd reads each PORT octet with atoi (`22_` as 22 in any
        // field): where a sscanf-style reading finds no endpoint, that is
        // the one a server can have used.
        if d.endpoint.is_none() && d.kind == AddrKind::Port {
            d.endpoint = c.arg().and_then(address::per_field_port);
        }
        // No reply, none to any later command either, and none that the
        // capture could have missed.
        d.hung = reply.is_none()
            && !reply_unseen[i]
            && !replies.is_empty()
            && reply_of[i + 1..].iter().all(Option::is_none);
        out.push(d);
    }
    for (ri, r) in replies.iter().enumerate() {
        let Some(code) = r.code else { continue };
        let Some(arg) = address::parse_reply(code, &r.last().bytes.0) else {
            continue;
        };
        let l = r.last();
        out.push(setup(
            arg,
            command_of[ri],
            Some(ri),
            Some(code),
            l.first_frame(),
            l.first_ts(),
            false,
            server,
        ));
    }
    out.sort_by_key(|s| (s.announced_ts, s.announced_frame));
    attach_transfers(&mut out, commands, replies, reply_of);
    out
}

/// Gives each setup the first transfer command after its own command and
/// before the next setup's (the command that used the announced endpoint).
fn attach_transfers(
    setups: &mut [DataSetup],
    commands: &[Command],
    replies: &[Reply],
    reply_of: &[Option<usize>],
) {
    let starts: Vec<usize> = setups.iter().filter_map(|s| s.command).collect();
    for s in setups.iter_mut() {
        let Some(c) = s.command else { continue };
        let end = starts
            .iter()
            .copied()
            .filter(|&n| n > c)
            .min()
            .unwrap_or(commands.len());
        s.transfer = (c + 1..end)
            .find(|&i| {
                commands[i]
                    .verb
                    .as_deref()
                    .is_some_and(|v| TRANSFER_VERBS.contains(&v))
            })
            .map(|i| Transfer {
                verb: commands[i].verb.as_deref().unwrap_or_default().to_string(),
                frame: commands[i].line.last_frame(),
                reply_code: reply_of[i].and_then(|r| replies[r].code),
            });
    }
}

#[allow(clippy::too_many_arguments)]
fn setup(
    arg: AddrArg,
    command: Option<usize>,
    reply: Option<usize>,
    reply_code: Option<u16>,
    frame: u64,
    ts: Timestamp,
    rejected: bool,
    server: SocketAddr,
) -> DataSetup {
    let mut endpoint = arg.lenient;
    if let Some(ep) = endpoint.as_mut()
        && arg.kind == AddrKind::Epsv
        && ep.ip.is_unspecified()
    {
        ep.ip = server.ip();
    }
    DataSetup {
        kind: arg.kind,
        command,
        reply,
        announced_frame: frame,
        announced_ts: ts,
        endpoint,
        arg,
        reply_code,
        verdict: if rejected {
            Verdict::Rejected
        } else {
            Verdict::NoConnection
        },
        connection: None,
        established: false,
        mismatch: None,
        delay_secs: None,
        transfer: None,
        hung: false,
        observed_secs: 0.0,
        client_waited_secs: None,
    }
}
