//! Rules on how control lines travelled in TCP segments:
//! `ctl-line-split`, `ctl-cmd-not-at-segment-start`, `ctl-bad-terminator`,
//! `alg-drop-suspected`, `tcp-gap`, `tcp-overlap-conflict`,
//! `multiline-reply-reset`.
//!
//! Inline inspection engines read one segment at a time: Linux
//! nf_conntrack_ftp only parses a PORT that starts a segment right after a
//! line end and drops one it can only partly parse; Check Point
//! (FTP_ENFORCE_NL) and ASA strict want the CRLF in the same packet.

use super::Rule;
use super::attribution::{Actor, ProofKind, TapPosition};
use super::signatures::LINUX_CONNTRACK_PARTIAL;
use super::{Config, Finding, Severity, q, ql};
use crate::ftp::address;
use crate::ftp::line::{Line, Terminator, encrypted_not_text};
use crate::ftp::message::reply_head;
use crate::ftp::session::{EndReason, Session};
use crate::reassembly::connection::Side;
use crate::reassembly::{DirStats, Retransmitted};

/// A control line with what the rules need to know about it.
struct Ctl<'a> {
    line: &'a Line,
    side: Side,
    /// "PORT", "227"… for address lines.
    addr: Option<&'static str>,
    corrupt: bool,
}

fn lines(s: &Session) -> Vec<Ctl<'_>> {
    let mut v = Vec::new();
    for c in &s.commands {
        let (addr, corrupt) = match &c.address {
            Some(a) => (Some(a.kind.name()), a.is_corrupt()),
            None => (None, false),
        };
        v.push(Ctl {
            line: &c.line,
            side: Side::Client,
            addr,
            corrupt,
        });
    }
    for r in &s.replies {
        for l in &r.lines {
            let parsed =
                reply_head(&l.bytes.0).and_then(|h| address::parse_reply(h.code, &l.bytes.0));
            v.push(Ctl {
                line: l,
                side: Side::Server,
                addr: parsed.as_ref().map(|a| a.kind.name()),
                corrupt: parsed.is_some_and(|a| a.is_corrupt()),
            });
        }
    }
    v
}

fn dir_name(side: Side) -> &'static str {
    match side {
        Side::Client => "client→server",
        Side::Server => "server→client",
    }
}

pub(super) fn run(s: &Session, cfg: &Config, out: &mut Vec<Finding>) {
    let all = lines(s);
    for c in all.iter().filter(|c| c.addr.is_some()) {
        split(s, c, &all, out);
        not_at_start(s, c, &all, out);
        terminator(s, c, out);
    }
    other_terminators(s, &all, out);
    for side in [Side::Client, Side::Server] {
        let st = &s.tcp[side.index()];
        drops(s, cfg, side, st, &all, out);
        gaps(s, side, st, &all, out);
        conflicts(s, side, st, &all, out);
    }
    multiline_reset(s, out);
}

fn unacked_retrans<'a>(st: &'a DirStats, line: &Line) -> Option<&'a Retransmitted> {
    let (a, b) = (line.offset, line.offset + line.raw_len.max(1));
    st.retransmissions
        .iter()
        .find(|r| !r.acked && r.offset < b && r.offset + r.len > a)
}

fn split(s: &Session, c: &Ctl<'_>, all: &[Ctl<'_>], out: &mut Vec<Finding>) {
    let _ = all;
    let l = c.line;
    let n = l.segment_count();
    if n < 2 {
        return;
    }
    // The first pieces name the segments; the count says the rest.
    const LISTED: usize = 8;
    let mut sizes: Vec<String> = l
        .pieces
        .iter()
        .take(LISTED)
        .map(|p| format!("{} bytes in frame {}", p.len, p.frame))
        .collect();
    if n > LISTED {
        sizes.push(format!("and {} more", n - LISTED));
    }
    let retrans = unacked_retrans(&s.tcp[c.side.index()], l);
    let mut msg = format!(
        "`{}` was split across {n} TCP segments ({}). {} drops such segments as partial matches, and libalias, ASA strict and Check Point (FTP_ENFORCE_NL) reject or ignore them",
        ql(l),
        sizes.join(", "),
        LINUX_CONNTRACK_PARTIAL.device
    );
    let sev = if let Some(r) = retrans {
        msg.push_str(&format!(
            "; the segment at frame {} was retransmitted {}× (frames {}) without being acknowledged — consistent with an in-path ALG dropping it",
            r.first_frame,
            r.retransmission_frames.len(),
            join(&r.retransmission_frames)
        ));
        Severity::Error
    } else {
        Severity::Warning
    };
    msg.push('.');
    let mut f = Finding::new(Rule::CtlLineSplit, sev, s, msg)
        .evidence(
            &format!("{} line", c.addr.unwrap_or("control")),
            l.frames(),
            l.wire(),
        )
        .by_origin(s, c.side)
        .about(c.side, l);
    f.facts = Some(super::Facts {
        segments: l
            .pieces
            .iter()
            .map(|p| super::SegmentPart {
                frame: p.frame,
                bytes: p.len,
            })
            .collect(),
        segment_count: Some(n),
        ..Default::default()
    });
    if let Some(r) = retrans {
        f = f.frames(r.retransmission_frames.iter().copied());
        f.signature = Some(&LINUX_CONNTRACK_PARTIAL);
    }
    out.push(f);
}

fn not_at_start(s: &Session, c: &Ctl<'_>, all: &[Ctl<'_>], out: &mut Vec<Finding>) {
    let l = c.line;
    let Some(first) = l.pieces.first() else {
        return;
    };
    if first.seg_offset == 0 || l.after_gap {
        return;
    }
    let prev = all
        .iter()
        .filter(|o| {
            o.side == c.side && o.line.offset < l.offset && o.line.last_frame() == first.frame
        })
        .max_by_key(|o| o.line.offset);
    let after = prev
        .map(|p| format!(" (after `{}`)", ql(p.line)))
        .unwrap_or_default();
    out.push(
        Finding::new(
            Rule::CtlCmdNotAtSegmentStart,
            Severity::Warning,
            s,
            format!(
                "`{}` starts at byte {} of its TCP segment (frame {}){after}: Linux nf_conntrack_ftp and libalias only parse a line at the start of a segment, so no expectation or NAT rewrite is created for it.",
                ql(l),
                first.seg_offset,
                first.frame
            ),
        )
        .evidence(&format!("{} line", c.addr.unwrap_or("control")), l.frames(), l.wire())
        .by_origin(s, c.side)
        .about(c.side, l),
    );
}

/// What is wrong with a line's end. Trailing blanks matter only after the
/// numbers of an address line (conntrack wants `\r` right after them).
fn term_problem(s: &Session, l: &Line, last_line: bool, addr: bool) -> Option<String> {
    // Telnet commands and no text (IP and the Synch before a close) are no
    // line at all, so they lack no line end.
    if l.telnet_only() {
        return None;
    }
    let trailing = addr && l.bytes.0.last().is_some_and(|b| *b == b' ' || *b == b'\t');
    match l.terminator {
        Terminator::Lf => Some("a bare LF (no CR)".into()),
        Terminator::Cr => Some("a bare CR".into()),
        Terminator::None
            if last_line && !matches!(s.end_reason, EndReason::CaptureEnd | EndReason::Idle) =>
        {
            Some("no line end before the connection closed".into())
        }
        Terminator::CrLf if trailing => Some("trailing white space before the CRLF".into()),
        _ => None,
    }
}

fn is_last(s: &Session, side: Side, l: &Line) -> bool {
    match side {
        Side::Client => s.commands.last().is_some_and(|c| std::ptr::eq(&c.line, l)),
        Side::Server => s
            .replies
            .last()
            .and_then(|r| r.lines.last())
            .is_some_and(|x| std::ptr::eq(x, l)),
    }
}

fn terminator(s: &Session, c: &Ctl<'_>, out: &mut Vec<Finding>) {
    let Some(problem) = term_problem(s, c.line, is_last(s, c.side, c.line), true) else {
        return;
    };
    out.push(
        Finding::new(
            Rule::CtlBadTerminator,
            Severity::Warning,
            s,
            format!(
                "`{}` ends with {problem}: Linux nf_conntrack_ftp requires '\\r' after the PORT numbers (the packet is dropped), IPVS only arms on 'PASV\\r\\n', Check Point (FTP_ENFORCE_NL) and ASA strict drop or close on a missing CRLF.",
                ql(c.line)
            ),
        )
        .evidence(&format!("{} line", c.addr.unwrap_or("control")), c.line.frames(), c.line.wire())
        .by_origin(s, c.side)
        .about(c.side, c.line),
    );
}

/// Non-address lines with terminator problems: one finding per direction
/// and kind, listing the frames.
fn other_terminators(s: &Session, all: &[Ctl<'_>], out: &mut Vec<Finding>) {
    let tls = s.asked_for_tls();
    for side in [Side::Client, Side::Server] {
        let mut groups: std::collections::BTreeMap<String, Vec<&Line>> = Default::default();
        for c in all
            .iter()
            .filter(|c| c.side == side && c.addr.is_none() && !c.line.after_gap)
            .filter(|c| !encrypted_not_text(&c.line.bytes.0, tls))
        {
            if let Some(p) = term_problem(s, c.line, is_last(s, side, c.line), false) {
                groups.entry(p).or_default().push(c.line);
            }
        }
        for (problem, ls) in groups {
            let first = ls[0];
            let frames: Vec<u64> = ls.iter().take(20).map(|l| l.last_frame()).collect();
            out.push(
                Finding::new(
                    Rule::CtlBadTerminator,
                    Severity::Info,
                    s,
                    format!(
                        "{} {} line(s) end with {problem} (first: `{}`, frame {}); strict ALGs and inspection engines may reject them.",
                        ls.len(),
                        dir_name(side),
                        ql(first),
                        first.last_frame()
                    ),
                )
                .evidence("first such line", first.frames(), first.wire())
                .frames(frames)
                .by_origin(s, side),
            );
        }
    }
}

fn drops(
    s: &Session,
    cfg: &Config,
    side: Side,
    st: &DirStats,
    all: &[Ctl<'_>],
    out: &mut Vec<Finding>,
) {
    let Some(acked) = st.peer_acked else { return };
    for r in &st.retransmissions {
        if r.acked || r.retransmission_frames.len() < cfg.drop_retransmissions || acked < r.offset {
            continue;
        }
        // The sender stopped retransmitting and went on with new data: it
        // had its ACK, which the capture missed.
        let last = r
            .retransmission_frames
            .iter()
            .max()
            .copied()
            .unwrap_or(r.first_frame);
        if all.iter().any(|c| {
            c.side == side && c.line.offset >= r.offset + r.len && c.line.first_frame() > last
        }) {
            continue;
        }
        let carried: Vec<&Ctl<'_>> = all
            .iter()
            .filter(|c| {
                c.side == side
                    && c.line.offset < r.offset + r.len
                    && c.line.offset + c.line.raw_len.max(1) > r.offset
            })
            .collect();
        let text = carried
            .iter()
            .map(|c| format!("`{}`", ql(c.line)))
            .collect::<Vec<_>>()
            .join(", ");
        let mut hints = Vec::new();
        for c in &carried {
            if c.addr.is_some() && c.corrupt {
                hints.push(format!(
                    "`{}` has malformed numbers: {} drops such a line as a partial match",
                    ql(c.line),
                    LINUX_CONNTRACK_PARTIAL.device
                ));
            }
            if c.addr.is_some() && c.line.segment_count() > 1 {
                hints.push(format!(
                    "`{}` is split across segments (see ctl-line-split)",
                    ql(c.line)
                ));
            }
            if c.addr.is_some() && c.line.terminator != Terminator::CrLf {
                hints.push(format!(
                    "`{}` lacks a CRLF (see ctl-bad-terminator)",
                    ql(c.line)
                ));
            }
        }
        // The capture ended on the retransmissions (nothing of the
        // connection after the last): whether the next one got through is
        // unseen, so a few retransmissions are no proof of a drop.
        if last >= s.last_frame
            && s.end_reason == EndReason::CaptureEnd
            && r.retransmission_frames.len() < 2 * cfg.drop_retransmissions
        {
            out.push(
                Finding::new(
                    Rule::CaptureLostSight,
                    Severity::Info,
                    s,
                    format!(
                        "the {} segment at stream offset {} (frame {}) was retransmitted {}× (frames {}) without an acknowledgement before the capture ended at frame {last}: whether it got through is unknown",
                        dir_name(side),
                        r.offset,
                        r.first_frame,
                        r.retransmission_frames.len(),
                        join(&r.retransmission_frames)
                    ),
                )
                .frames([r.first_frame])
                .frames(r.retransmission_frames.iter().copied())
                .by(
                    Actor::Capture,
                    ProofKind::Acks,
                    format!("the capture ends at frame {last}, on the retransmissions"),
                ),
            );
            continue;
        }
        let mut msg = format!(
            "the {} segment at stream offset {} ({} bytes{}, frame {}) was retransmitted {}× (frames {}) and never acknowledged, while the peer had acknowledged everything before it: an in-path device is discarding it (an inspection-engine drop rather than loss: other segments pass)",
            dir_name(side),
            r.offset,
            r.len,
            if text.is_empty() {
                String::new()
            } else {
                format!(": {text}")
            },
            r.first_frame,
            r.retransmission_frames.len(),
            join(&r.retransmission_frames)
        );
        if !hints.is_empty() {
            msg.push_str(&format!(". {}", hints.join("; ")));
        }
        msg.push('.');
        let tap = TapPosition::new(s.ttl);
        let (actor, where_) = if tap.on_side_of(side.other()) {
            (
                Actor::Unknown,
                "it reached this tap, next to the receiver (its packets carry an initial TTL), so the receiver's own host or a device that does not route dropped it",
            )
        } else {
            (
                Actor::Path,
                "it was dropped between this tap and the receiver",
            )
        };
        let mut f = Finding::new(Rule::AlgDropSuspected, Severity::Error, s, msg)
            .frames([r.first_frame])
            .frames(r.retransmission_frames.iter().copied())
            .by(
                actor,
                ProofKind::Acks,
                format!(
                    "the sender's {} copies of the segment (frames {}, {}) against the receiver's ACKs, which covered everything before it and never it: {where_}",
                    r.retransmission_frames.len() + 1,
                    r.first_frame,
                    join(&r.retransmission_frames)
                ),
            );
        if let Some(c) = carried.first() {
            f = f
                .evidence("segment carried", c.line.frames(), c.line.wire())
                .about(side, c.line);
        }
        if hints.iter().any(|h| h.contains("partial")) {
            f.signature = Some(&LINUX_CONNTRACK_PARTIAL);
        }
        out.push(f);
    }
}

fn gaps(s: &Session, side: Side, st: &DirStats, all: &[Ctl<'_>], out: &mut Vec<Finding>) {
    for g in &st.gaps {
        let (a, b) = (g.offset, g.offset + g.len);
        let before = all.iter().find(|c| {
            c.side == side
                && c.line.terminator == Terminator::Gap
                && c.line.offset + c.line.raw_len == a
        });
        let after = all
            .iter()
            .find(|c| c.side == side && c.line.after_gap && c.line.offset == b);
        let mut msg = format!(
            "{} bytes of the {} stream at offset {a} were never captured ({}, noticed at frame {})",
            g.len,
            dir_name(side),
            g.reason.describe(),
            g.declared_at_frame
        );
        let mut f = Finding::new(Rule::TcpGap, Severity::Info, s, String::new())
            .frames([g.declared_at_frame])
            .by(
                Actor::Capture,
                ProofKind::Acks,
                format!(
                    "the stream's sequence numbers and ACKs show {} bytes this tap did not record ({})",
                    g.len,
                    g.reason.describe()
                ),
            );
        if g.reason == crate::reassembly::GapReason::Snaplen {
            // One finding for every cut of a small snaplen, not one per segment.
            f = f.group("snaplen");
        }
        if let Some(c) = before {
            msg.push_str(&format!("; the line `{}` is incomplete", ql(c.line)));
            f = f
                .evidence(
                    "line cut by the gap",
                    c.line.frames(),
                    c.line.bytes.as_slice(),
                )
                .about(side, c.line);
        }
        // A whole line right after the gap: where the gap is in the
        // dialogue (the ACK that proved it may come much later).
        let next = all.iter().find(|c| {
            c.side == side && !c.line.after_gap && c.line.follows_gap && c.line.offset == b
        });
        if let Some(c) = next {
            msg.push_str(&format!(
                "; it lies just before `{}` (frame {}), which is not paired with anything sent before the gap",
                ql(c.line),
                c.line.first_frame()
            ));
            f = f.frames([c.line.first_frame()]);
        }
        if let Some(c) = after {
            msg.push_str(&format!(
                "; `{}` after it starts mid-line and is not parsed",
                ql(c.line)
            ));
            f = f.evidence(
                "fragment after the gap",
                c.line.frames(),
                c.line.bytes.as_slice(),
            );
        }
        msg.push('.');
        f.message = msg;
        out.push(f);
    }
}

fn conflicts(s: &Session, side: Side, st: &DirStats, all: &[Ctl<'_>], out: &mut Vec<Finding>) {
    for k in &st.conflicts {
        let line = all.iter().find(|c| {
            c.side == side
                && c.line.offset <= k.offset
                && k.offset < c.line.offset + c.line.raw_len.max(1)
        });
        let in_line = line
            .map(|c| format!(" inside `{}`", ql(c.line)))
            .unwrap_or_default();
        let mut f = Finding::new(
            Rule::TcpOverlapConflict,
            Severity::Warning,
            s,
            format!(
                "two copies of the {} bytes at stream offset {}{in_line} differ: frame {} carried `{}`, frame {} carried `{}`; the first copy is the one analysed. Retransmitted bytes should be identical: something between the sender and this tap changed one copy.",
                dir_name(side),
                k.offset,
                k.kept_frame,
                q(&k.kept.0),
                k.other_frame,
                q(&k.other.0)
            ),
        )
        .evidence("first copy", vec![k.kept_frame], k.kept.0.as_slice())
        .evidence("other copy", vec![k.other_frame], k.other.0.as_slice())
        .by(
            Actor::Unknown,
            ProofKind::OneView,
            format!(
                "two copies of the same sequence numbers at this tap (frames {} and {}); which copy left the sender as it is, one tap cannot show",
                k.kept_frame, k.other_frame
            ),
        );
        let d = crate::diff::diff(&k.kept.0, &k.other.0);
        f.compared(side, &k.kept.0, &k.other.0, d);
        out.push(f);
    }
}

fn multiline_reset(s: &Session, out: &mut Vec<Finding>) {
    let Some(rst) = s.lifecycle.rst_frame else {
        return;
    };
    // A reply whose later bytes the capture missed may have been closed
    // in them: only a reply seen whole up to the reset was cut by it.
    // And the client must be seen to have had what the capture has of
    // it (its ACK), or the capture may simply have missed the rest.
    // Bytes either side sent at the end that this tap never saw (their
    // later sequence numbers, a RST's included, show them) hide the
    // dialogue that went on, and with it the reply's end.
    let missed_after = |r: &crate::ftp::message::Reply| {
        let st = &s.tcp[Side::Server.index()];
        let end = r.last().offset + r.last().raw_len;
        let client = &s.tcp[Side::Client.index()];
        st.gaps.iter().any(|g| g.offset + g.len > r.first().offset)
            || st.peer_acked.is_none_or(|a| a < end)
            || st.sent_unseen > 0
            || client.sent_unseen > 0
            || client
                .gaps
                .iter()
                .any(|g| g.declared_at_frame > r.first().first_frame())
    };
    for r in s
        .replies
        .iter()
        .filter(|r| r.unterminated && !missed_after(r))
    {
        let frames = r.frames();
        out.push(
            Finding::new(
                Rule::MultilineReplyReset,
                Severity::Warning,
                s,
                format!(
                    "the connection was reset (frame {rst}) while the multi-line {} reply begun at frame {} was still open ({} line(s), {} segment(s)). Who sent the reset this capture does not show; resetting a connection on a multi-line reply split across packets is a documented firewall behaviour (Check Point, Novell TID 10076230).",
                    r.code.unwrap_or(0),
                    r.first().first_frame(),
                    r.lines.len(),
                    frames.len()
                ),
            )
            .evidence("reply so far", frames, r.joined())
            .frames([rst])
            .by(
                Actor::Unknown,
                ProofKind::OneView,
                format!("the reset (frame {rst}) inside an open reply, seen at one tap"),
            )
            .about(Side::Server, r.first()),
        );
    }
}

fn join(v: &[u64]) -> String {
    v.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
}
