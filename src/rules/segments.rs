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
use super::attribution::{Actor, ProofKind, TapPosition, is_initial_ttl};
use super::signatures::LINUX_CONNTRACK_PARTIAL;
use super::{Config, Finding, Severity, q, ql};
use crate::ftp::address;
use crate::ftp::line::{Line, Terminator, encrypted_not_text};
use crate::ftp::message::reply_head;
use crate::ftp::session::{EndReason, Session};
use crate::reassembly::connection::Side;
use crate::reassembly::{DirStats, Gap, GapReason, OverlapConflict, Receipt, Retransmitted};

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

/// The host at the receiving end of `side`'s stream.
fn receiver(side: Side) -> &'static str {
    match side {
        Side::Client => "the server",
        Side::Server => "the client",
    }
}

/// The bytes of `side`'s stream at `[from, to)` as the captured lines hold
/// them, when they hold every one of them exactly (no Telnet command
/// removed, nothing past the line cap): a segment told by its own bytes,
/// not by the line it belonged to.
fn stream_bytes(all: &[Ctl<'_>], side: Side, from: u64, to: u64) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut at = from;
    let mut ls: Vec<&Line> = all
        .iter()
        .filter(|c| c.side == side)
        .map(|c| c.line)
        .filter(|l| l.offset < to && l.offset + l.raw_len > from)
        .collect();
    ls.sort_by_key(|l| l.offset);
    for l in ls {
        let wire = l.wire();
        if l.offset > at || wire.len() as u64 != l.raw_len {
            return None;
        }
        let a = (at - l.offset) as usize;
        let b = (to.min(l.offset + l.raw_len) - l.offset) as usize;
        out.extend_from_slice(&wire[a..b]);
        at = l.offset + b as u64;
    }
    (at == to).then_some(out)
}

/// "15 bytes: `PORT 198,51,100`", or "15 bytes" when the lines do not
/// hold them exactly.
fn told(all: &[Ctl<'_>], side: Side, from: u64, to: u64) -> String {
    let n = to - from;
    match stream_bytes(all, side, from, to) {
        Some(b) => format!("{n} byte{}: `{}`", if n == 1 { "" } else { "s" }, q(&b)),
        None => format!("{n} byte{}", if n == 1 { "" } else { "s" }),
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
        let end = r.offset + r.len;
        let bytes = stream_bytes(all, side, r.offset, end);
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
            "the {} segment at stream offset {} ({}, frame {}) was retransmitted {}× (frames {}) and never acknowledged, while the peer had acknowledged everything before it",
            dir_name(side),
            r.offset,
            told(all, side, r.offset, end),
            r.first_frame,
            r.retransmission_frames.len(),
            join(&r.retransmission_frames)
        );
        // What did arrive: the bytes after it that the receiver's SACK
        // block says it held.
        let arrived = st.peer_sacked.filter(|([from, _], _)| *from >= end);
        if let Some(([from, to], frame)) = arrived {
            msg.push_str(&format!(
                "; {} held the bytes after it ({} at offset {from}), as its SACK block in frame {frame} says",
                receiver(side),
                told(all, side, from, to)
            ));
        }
        msg.push_str(
            ": an in-path device is discarding it (an inspection-engine drop rather than loss: other segments pass)",
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
        let held = arrived
            .map(|([from, to], frame)| {
                format!(", while its SACK block (frame {frame}) held offsets {from}–{to}")
            })
            .unwrap_or_default();
        let mut f = Finding::new(Rule::AlgDropSuspected, Severity::Error, s, msg)
            .frames([r.first_frame])
            .frames(r.retransmission_frames.iter().copied())
            .by(
                actor,
                ProofKind::Acks,
                format!(
                    "the sender's {} copies of the segment (frames {}, {}) against the receiver's ACKs, which covered everything before it and never it{held}: {where_}",
                    r.retransmission_frames.len() + 1,
                    r.first_frame,
                    join(&r.retransmission_frames)
                ),
            );
        if let Some((_, frame)) = arrived {
            f = f.frames([frame]);
        }
        match bytes {
            Some(b) => f = f.evidence("segment", vec![r.first_frame], b),
            None => {
                if let Some(c) = carried.first() {
                    f = f.evidence("line it carried part of", c.line.frames(), c.line.wire());
                }
            }
        }
        if let Some(c) = carried.first() {
            f = f.about(side, c.line);
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
        let (sev, actor, kind, proof, mut msg) = gap_verdict(s, side, g, all);
        // Where the receiver's ACK proves the bytes arrived, that ACK is
        // the frame to cite, not the one the gap was declared at.
        let declared = (!matches!(g.receipt, Receipt::Acked { .. })).then_some(g.declared_at_frame);
        let mut f = Finding::new(Rule::TcpGap, sev, s, String::new())
            .frames(declared)
            .by(actor, kind, proof);
        if g.reason != GapReason::Snaplen {
            f = f.frames(receipt_frames(g.receipt));
        }
        if g.reason == GapReason::Snaplen {
            // One finding for every cut of a small snaplen, not one per segment.
            f = f.group("snaplen");
        }
        // The event is the line the gap cut, else whatever began where
        // the bytes went missing (a line one tap lacks: compare folds the
        // two taps' findings about it into one).
        f.subject = Some(super::Subject {
            dir: side,
            offset: a,
        });
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

/// The frames a receipt names: the receiver's ACK, and the bytes past
/// the hole it answered.
fn receipt_frames(r: Receipt) -> Vec<u64> {
    match r {
        Receipt::Acked { frame, .. } => vec![frame],
        Receipt::NotReceived {
            ack_frame,
            after_frame,
            ..
        } => vec![after_frame, ack_frame],
        Receipt::Unknown => Vec::new(),
    }
}

/// RFC 6298's lowest retransmission timeout (1 s): a receiver still
/// lacking a hole's bytes this long after bytes past it arrived was sent
/// no copy that got through.
const MIN_RTO_NS: i64 = 1_000_000_000;

/// Who a gap is the doing of, what shows it, and the sentence's start:
/// bytes the receiver acknowledged reached it (the tap missed them);
/// bytes it answered with an ACK stopping at them, after bytes past them
/// had reached it, never reached it (the path dropped them); a snaplen
/// cut is the capture's; else the capture cannot tell.
fn gap_verdict(
    s: &Session,
    side: Side,
    g: &Gap,
    all: &[Ctl<'_>],
) -> (Severity, Actor, ProofKind, String, String) {
    let head = format!(
        "{} bytes of the {} stream at offset {}",
        g.len,
        dir_name(side),
        g.offset
    );
    let who = receiver(side);
    if g.reason == GapReason::Snaplen {
        return (
            Severity::Info,
            Actor::Capture,
            ProofKind::OneView,
            format!(
                "frame {} was captured shorter than it was on the wire (the snaplen)",
                g.declared_at_frame
            ),
            format!(
                "{head} were never captured (cut by the snaplen, frame {})",
                g.declared_at_frame
            ),
        );
    }
    match g.receipt {
        Receipt::Acked {
            frame,
            to: acked_to,
        } => (
            Severity::Info,
            Actor::Capture,
            ProofKind::Acks,
            format!(
                "{who}'s ACK in frame {frame} covers them (up to offset {acked_to}) while this tap holds none of their bytes"
            ),
            format!(
                "{head} were never captured, though {who} acknowledged them (its ACK in frame {frame} reaches offset {acked_to}): they arrived, and this tap missed them (capture loss, not the path's doing)"
            ),
        ),
        Receipt::NotReceived {
            ack_frame,
            after_frame,
            after_offset,
            sacked,
        } => {
            // What did arrive, unless it is the fragment the caller quotes.
            let arrived = all
                .iter()
                .filter(|c| c.side == side && c.line.offset >= after_offset)
                .min_by_key(|c| c.line.offset)
                .filter(|c| !c.line.after_gap)
                .map(|c| format!(": `{}`", q(&c.line.wire())))
                .unwrap_or_default();
            let sack = sacked
                .map(|[from, to]| {
                    format!(
                        ", its SACK block saying it held the {} bytes from offset {from}",
                        to - from
                    )
                })
                .unwrap_or_default();
            // Whether the capture watched the connection long enough after
            // for a retransmission to have got through.
            // A session still open when the capture ended was watched to
            // the capture's last frame, packets of its own or not (its
            // record ends there).
            let since = s.time_of(after_frame);
            let later_frames = s.last_frame > ack_frame;
            let until = s.end.max(s.last_seen);
            let watched = since.is_some_and(|t| until.0 - t.0 >= MIN_RTO_NS)
                && (later_frames || until > s.last_seen);
            let sight = if watched && until > s.last_seen {
                format!(
                    "; the capture ran {:.1} s more with the connection still open, and no copy of them reached {who}",
                    since.map_or(0.0, |t| until.secs_since(t)),
                )
            } else if watched {
                format!(
                    "; the capture watched the connection {:.1} s more (to frame {}) and no copy of them reached {who}",
                    since.map_or(0.0, |t| s.last_seen.secs_since(t)),
                    s.last_frame
                )
            } else {
                format!(
                    "; the capture holds {} of the connection after frame {ack_frame}, so whether a later retransmission got through is not seen",
                    if s.last_frame > ack_frame {
                        "too little"
                    } else {
                        "nothing"
                    }
                )
            };
            (
                if watched {
                    Severity::Warning
                } else {
                    Severity::Info
                },
                Actor::Path,
                ProofKind::Acks,
                format!(
                    "{who}'s ACK in frame {ack_frame}, sent after the bytes past them reached it (frame {after_frame}), stops at offset {}{sack}",
                    g.offset
                ),
                format!(
                    "{head} never reached {who}: the bytes after them did (frame {after_frame}, from offset {after_offset}{arrived}), and {who}'s ACK in frame {ack_frame} still stopped at offset {}{sack}. Not this tap's loss: the path dropped them before {who}{sight}",
                    g.offset
                ),
            )
        }
        Receipt::Unknown => (
            Severity::Info,
            Actor::Unknown,
            ProofKind::OneView,
            format!(
                "this tap's sequence numbers skip offsets {}–{}, and no ACK of {who} captured after them tells whether it got them",
                g.offset,
                g.offset + g.len
            ),
            format!(
                "{head} were never captured ({}, noticed at frame {}); no ACK of {who} captured after them says whether it got them, so the tap missed them or the path dropped them",
                g.reason.describe(),
                g.declared_at_frame
            ),
        ),
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
        let (actor, proof, why) = conflict_verdict(side, k);
        let mut f = Finding::new(
            Rule::TcpOverlapConflict,
            Severity::Warning,
            s,
            format!(
                "two copies of the {} bytes at stream offset {}{in_line} differ: frame {} carried `{}`, frame {} carried `{}`; the first copy is the one analysed. {why}.",
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
        .by(actor, ProofKind::OneView, proof);
        if let Some(c) = line {
            f = f.about(side, c.line);
        }
        let d = crate::diff::diff(&k.kept.0, &k.other.0);
        f.compared(side, &k.kept.0, &k.other.0, d);
        out.push(f);
    }
}

/// Longest a TCP sender keeps retransmitting before it gives up: RFC 9293
/// §3.8.3 wants at least 100 s (R2); Linux gives up after about 15 min.
/// Two copies further apart in time are not one sender's retransmission.
const RETRANSMITTING_NS: i64 = 3600 * 1_000_000_000;

/// Who made two copies of the same stream bytes differ, as far as one tap
/// shows, and what shows it (never the path: one tap's two copies are not
/// two views of the bytes on either side of a device). Copies stamped
/// further apart than any sender retransmits, or in reverse, are an edited
/// or merged capture's; the same IP packet twice (same identification and
/// TTL) is no retransmission; otherwise the TTL says whether anything
/// routed lies between the sender and the tap.
fn conflict_verdict(side: Side, k: &OverlapConflict) -> (Actor, String, String) {
    let apart = k.other_ts.0.saturating_sub(k.kept_ts.0);
    let marks = |m: crate::reassembly::IpMark| match m.id {
        Some(id) => format!("IP ID {id:#06x}, TTL {}", m.ttl),
        None => format!("hop limit {}", m.ttl),
    };
    let copies = format!(
        "frame {} ({}; {}) and frame {} ({}; {})",
        k.kept_frame,
        k.kept_ts,
        marks(k.kept_ip),
        k.other_frame,
        k.other_ts,
        marks(k.other_ip)
    );
    if apart.abs() > RETRANSMITTING_NS || apart < -MIN_RTO_NS {
        return (
            Actor::Capture,
            format!("the copies' timestamps: {copies}"),
            format!(
                "Frame {} is stamped {} {} frame {}: no TCP sender retransmits across that time (a connection gives up within minutes), so the capture was edited or merged from other captures, and which copy was on the wire is not known",
                k.other_frame,
                span_words(apart.unsigned_abs()),
                if apart < 0 { "before" } else { "after" },
                k.kept_frame
            ),
        );
    }
    if k.kept_ip.id.is_some() && k.kept_ip == k.other_ip {
        return (
            Actor::Unknown,
            format!("the copies' IP headers: {copies}"),
            format!(
                "Both copies carry {}: one IP packet recorded twice with different bytes, not a retransmission (which is a new packet). The capture was edited, or holds the packet on both sides of a device that changed it without routing it; this capture alone cannot tell",
                marks(k.kept_ip)
            ),
        );
    }
    let sender = match side {
        Side::Client => "client",
        Side::Server => "server",
    };
    let ttl = k.kept_ip.ttl;
    if is_initial_ttl(ttl) && k.other_ip.ttl == ttl {
        (
            Actor::Unknown,
            format!("the copies' IP headers: {copies}"),
            format!(
                "Both copies carry TTL {ttl}, an initial value: no router lies between the {sender} and this tap, so the {sender} sent two different copies, or the capture was edited; this capture alone cannot tell"
            ),
        )
    } else {
        (
            Actor::Unknown,
            format!("the copies' IP headers: {copies}"),
            format!(
                "The copies crossed at least one router before this tap (TTL {} and {}): a device between the {sender} and this tap may have changed one, or the {sender} sent them so; this capture alone cannot tell (a capture on the {sender}'s side would)",
                ttl, k.other_ip.ttl
            ),
        )
    }
}

/// A span of time in words, to the unit a reader checks it in.
fn span_words(ns: u64) -> String {
    const S: u64 = 1_000_000_000;
    let secs = ns / S;
    let (per, unit) = match secs {
        0..120 => return format!("{:.1} s", ns as f64 / S as f64),
        120..7_200 => (60, "minutes"),
        7_200..172_800 => (3_600, "hours"),
        172_800..63_072_000 => (86_400, "days"),
        _ => (31_557_600, "years"),
    };
    format!("{} {unit}", (secs + per / 2) / per)
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
