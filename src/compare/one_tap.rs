//! Lines seen at one tap only: capture loss (the tap that lacks a line
//! shows its sequence space, or the receiver acknowledged it), the path's
//! doing (at the tap that lacks it the lines around are contiguous:
//! swallowed or injected), or undetermined; never the firewall's doing
//! on a tap's loss.

use super::align::Aligned;

use super::ctx::{Ctx, frames_of};
use super::views::Tap;
use crate::reassembly::connection::Side;
use crate::rules::rewrite::{self};
use crate::rules::signatures;
use crate::rules::{Actor, Finding, ProofKind, Rule, Severity, q, ql};

/// Why a line was seen at one tap only.
pub(super) enum Cause {
    /// The tap that lacks it missed it: the receiver acknowledged the
    /// bytes at that tap. The frames at that tap that show it.
    CaptureLoss(String, Vec<u64>),
    /// The capture that lacks it was not running when it crossed that
    /// tap.
    NotRunning(String),
    /// portmortem stopped following the session at the tap that lacks it
    /// before the line (evicted for memory, a read error): the tap may
    /// well have captured it.
    Unfollowed(String),
    /// The path removed it (or added it): at the tap that lacks it the
    /// lines around it are contiguous in the sequence space, or the
    /// receiver answered the bytes after it with an ACK that stops before
    /// it.
    Path(String),
    /// The captures cannot tell, and why.
    Unknown(String),
}

impl Cause {
    /// The note of a line a tap's capture missed (the capture's loss, not
    /// a line the path dropped or added); None for any other.
    /// `at`: where the line is lacking ("at the server-side tap").
    pub(super) fn not_captured(&self, at: &str) -> Option<String> {
        match self {
            Cause::CaptureLoss(..) => Some(format!(
                "not captured {at} (capture loss: the receiver acknowledged it there)"
            )),
            Cause::NotRunning(_) => Some(format!(
                "not captured {at} (that capture was not running then)"
            )),
            Cause::Unfollowed(why) => Some(format!("not analysed {at} ({why})")),
            Cause::Path(_) | Cause::Unknown(_) => None,
        }
    }
}

/// Why each line seen at one tap only was (None for the others): judged
/// from that connection's own sequence numbers and ACKs at the tap that
/// lacks it, and only then from when that capture ran.
pub(super) fn causes(ctx: &Ctx<'_>) -> Vec<Option<Cause>> {
    (0..ctx.lines.len())
        .map(|i| {
            let l = &ctx.lines[i];
            (l.client_side.is_none() || l.server_side.is_none()).then(|| {
                if let Some(why) = unfollowed(ctx, l) {
                    return Cause::Unfollowed(why);
                }
                match one_tap_cause(ctx, i) {
                    Cause::Unknown(why) if outside_other_capture(ctx, l) => {
                        Cause::NotRunning(format!("the other capture was not running then ({why})"))
                    }
                    c => c,
                }
            })
        })
        .collect()
}

/// `` `line` (frame N)``.
fn named(s: &super::align::Seen) -> String {
    format!("`{}` (frame {})", q(&s.text.0), frames_of(Some(s)))
}

/// Tells capture loss from device action for line `i` (seen at one tap),
/// from the sequence space of the tap that lacks it: a busy tap drops
/// packets, and a line it missed must never be reported as swallowed or
/// injected by the firewall. Positions are that connection's own: the
/// line's sequence number carried over to the other tap by the lines both
/// taps saw (or their SYNs), never the first byte a tap happened to see.
fn one_tap_cause(ctx: &Ctx<'_>, i: usize) -> Cause {
    let l = &ctx.lines[i];
    let Some(here) = l.client_side.as_ref().or(l.server_side.as_ref()) else {
        return Cause::Unknown("the line has no bytes at either tap".into());
    };
    // The tap that lacks the line, and its view of the line's direction.
    let at_server_tap = l.client_side.is_some();
    let (lacking, t) = if at_server_tap {
        (ctx.ss, Tap::ServerSide)
    } else {
        (ctx.cs, Tap::ClientSide)
    };
    // "at the server-side tap" and "the server-side tap", or a leg's.
    let (there, tap) = (ctx.views.at(t), ctx.views.name(t));
    let capturer = ctx.views.capturer();
    let dir = l.side();
    let receiver = match dir {
        Side::Client => "the server",
        Side::Server => "the client",
    };
    let seen = |x: &Aligned| {
        if at_server_tap {
            x.server_side.clone()
        } else {
            x.client_side.clone()
        }
    };
    let same_dir = |x: &&Aligned| x.dir == l.dir;
    let prev = ctx.lines[..i].iter().rev().filter(same_dir).find_map(seen);
    let next = ctx.lines[i + 1..].iter().filter(same_dir).find_map(seen);
    let st = &lacking.tcp[dir.index()];
    let from_syn = st.isn.is_some();
    let at = |off: i64| ctx.position(at_server_tap, dir, off);
    // The lines around it are contiguous at that tap (or the first line
    // there follows the SYN right away): the line's bytes were never in
    // that sequence space (a tap that missed them would show the sequence
    // numbers jump by their length).
    match (&prev, &next) {
        (Some(p), Some(n)) if n.offset == p.offset + p.raw_len => {
            return Cause::Path(format!(
                "{there} {} and {} follow each other with no byte between them in the sequence space",
                named(p),
                named(n)
            ));
        }
        (None, Some(n)) if from_syn && n.offset == 0 => {
            return Cause::Path(format!(
                "{there} {} is the first byte after the SYN, with no room before it",
                named(n)
            ));
        }
        _ => {}
    }
    // Where the line belongs in that tap's stream: its sequence number
    // carried over, else right after the line before it there.
    let (start, sure) = match (here.seq, st.seq_base, ctx.delta_to(at_server_tap, i)) {
        (Some(seq), Some(base), Some((d, sure))) => (
            Some(seq.wrapping_add(d).wrapping_sub(base) as i32 as i64),
            sure,
        ),
        _ => match &prev {
            Some(p) => (Some((p.offset + p.raw_len) as i64), false),
            None => (from_syn.then_some(0), false),
        },
    };
    let Some(start) = start else {
        return Cause::Unknown(format!(
            "{tap} holds no line of this direction before it and did not capture the connection's start, so where it belongs there is not known"
        ));
    };
    let end = start + here.raw_len.max(1) as i64;
    // Other bytes take the line's place there: the path replaced it (a
    // proxy's reply of its own, a converted command), the tap lost nothing.
    // Only where the place is sure (no line between it and the lines that
    // place it was seen at one tap only), and for its first byte: a device
    // may have changed its length.
    let instead = ctx
        .lines
        .iter()
        .filter(|x| sure && x.dir == dir)
        .filter_map(seen)
        .find(|x| (x.offset as i64) <= start && ((x.offset + x.raw_len) as i64) > start);
    if let Some(x) = instead {
        return Cause::Path(format!(
            "{there} {} takes its place in the sequence space",
            named(&x)
        ));
    }
    // Where that tap's view of this direction lacks the line's bytes.
    let hole = match (&prev, &next) {
        (Some(p), Some(n)) => format!(
            "{tap}'s sequence numbers skip {} byte(s) there, between {} and {}",
            n.offset.saturating_sub(p.offset + p.raw_len),
            named(p),
            named(n)
        ),
        (None, Some(n)) if start < 0 || !from_syn => format!(
            "{tap} captured this direction only from {} on, from {}, after the line",
            at(n.offset as i64),
            named(n)
        ),
        (None, Some(n)) => format!(
            "{tap}'s sequence numbers skip {} byte(s) before {}",
            n.offset,
            named(n)
        ),
        (Some(p), None) => format!(
            "{tap} captured nothing of this direction after {}",
            named(p)
        ),
        (None, None) => format!("{tap} captured no line of this direction"),
    };
    // The receiver's cumulative ACK at that tap covers where the line
    // belongs: it got the bytes, so only the tap can have missed them.
    // Between two lines that tap saw, the bytes it lacks end where the
    // next begins (a device may have changed the line's length there).
    let (end, ends) = match (&prev, &next) {
        (Some(p), Some(n)) if n.offset > p.offset + p.raw_len => {
            (n.offset as i64, "where the bytes it lacks end")
        }
        _ => (end, "where the line ends"),
    };
    if let Some(a) = st.peer_acked
        && a as i64 >= end
    {
        let frame = st.peer_acked_frame;
        return Cause::CaptureLoss(
            format!(
                "{hole}, and {receiver} acknowledged the stream there up to {}{}, past {} {ends}: the bytes arrived, {capturer} missed them",
                at(a as i64),
                frame.map(|f| format!(" (frame {f})")).unwrap_or_default(),
                at(end)
            ),
            frame.into_iter().collect(),
        );
    }
    // The receiver answered the bytes after the line with an ACK that
    // stops at it: it never got them.
    if let Some(why) = not_received(st, start, end, receiver) {
        return Cause::Path(format!("{hole}, and {why}"));
    }
    let acks = match st.peer_acked {
        Some(a) => format!(
            "{receiver}'s ACKs there never went past {}, before {} where the line ends",
            at(a as i64),
            at(end)
        ),
        None => format!("no ACK of {receiver} was captured there"),
    };
    Cause::Unknown(format!(
        "{hole}, and {acks}: {capturer} may have missed the line or the path dropped it"
    ))
}

/// The receiver at a tap lacked the bytes `[start, end)` of that tap's
/// stream: a gap there that its ACK, captured after bytes past it had
/// arrived, stopped at.
fn not_received(
    st: &crate::reassembly::DirStats,
    start: i64,
    end: i64,
    receiver: &str,
) -> Option<String> {
    use crate::reassembly::Receipt;
    st.gaps.iter().find_map(|g| {
        let (a, b) = (g.offset as i64, (g.offset + g.len) as i64);
        match g.receipt {
            Receipt::NotReceived {
                ack_frame,
                after_frame,
                ..
            } if a < end && start < b => Some(format!(
                "{receiver}'s ACK there (frame {ack_frame}) stopped before the line although the bytes after it had reached {receiver} (frame {after_frame}): {receiver} never got it"
            )),
            _ => None,
        }
    })
}

/// A line one capture missed (info: not the path's doing).
pub(super) fn capture_loss(ctx: &Ctx<'_>, l: &Aligned, why: &str, there: &[u64]) -> Finding {
    let (line, t) = seen_once(l);
    let (at, other) = (ctx.views.at(t), ctx.views.other(t));
    let mut f = ctx.finding(
        Rule::CaptureLoss,
        Severity::Info,
        format!(
            "`{}` (frame {} {at}) is missing from {other}, which lost it: {why}. Capture loss, not the path's doing.",
            q(&line.text.0),
            frames_of(Some(line))
        ),
        l,
    )
    .by(Actor::Capture, ProofKind::Acks, why.to_string());
    if let Some(o) = f.other.as_mut() {
        o.frames.extend(there);
    }
    f
}

/// A line at one tap whose cause the captures cannot tell (info).
pub(super) fn undetermined(ctx: &Ctx<'_>, l: &Aligned, why: &str) -> Finding {
    let (line, t) = seen_once(l);
    let (at, other) = (ctx.views.at(t), ctx.views.other(t));
    ctx.finding(
        Rule::SeenAtOneTap,
        Severity::Info,
        format!(
            "`{}` (frame {} {at}) is missing from {other}; neither capture shows whether that {} missed it or the path removed or added it ({why}).",
            q(&line.text.0),
            frames_of(Some(line)),
            ctx.views.word()
        ),
        l,
    )
    .by(
        Actor::Unknown,
        ctx.views.proof(),
        format!(
            "the line {at} (frame {}) and its absence {}, which neither {}'s sequence numbers explain: {why}",
            frames_of(Some(line)),
            ctx.views.elsewhere(t),
            ctx.views.word()
        ),
    )
}

/// The version of a one-tap line and the tap it was seen at.
pub(super) fn seen_once(l: &Aligned) -> (&super::align::Seen, Tap) {
    match (&l.client_side, &l.server_side) {
        (Some(c), _) => (c, Tap::ClientSide),
        (None, Some(s)) => (s, Tap::ServerSide),
        (None, None) => unreachable!("an aligned line is seen at one tap at least"),
    }
}

/// A line outside the time span of the capture that would have shown its
/// counterpart was simply not captured there.
/// Why the session at the tap that lacks line `l` says nothing of it:
/// portmortem stopped following that session before the line's time (its
/// flow evicted to stay within the memory budget, or the capture file
/// stopped with an error), so the tap may well have captured it. None
/// when that session was followed to its end.
fn unfollowed(ctx: &Ctx<'_>, l: &Aligned) -> Option<String> {
    use crate::ftp::session::EndReason;
    let off = (ctx.offset_secs * 1e9) as i64;
    let (lacking, t) = match (&l.client_side, &l.server_side) {
        (Some(c), None) => (ctx.ss, c.ts + off),
        (None, Some(s)) => (ctx.cs, s.ts - off),
        _ => return None,
    };
    let why = match lacking.end_reason {
        EndReason::Evicted => "its flow was evicted to stay within the memory budget",
        EndReason::ReadError => "the capture file stopped with an error",
        _ => return None,
    };
    (t >= lacking.end)
        .then(|| format!("portmortem stopped following that session before it: {why}"))
}

pub(super) fn outside_other_capture(ctx: &Ctx<'_>, l: &Aligned) -> bool {
    let off = (ctx.offset_secs * 1e9) as i64;
    match (&l.client_side, &l.server_side) {
        (Some(c), None) => {
            let t = c.ts + off;
            t < ctx.server_capture_span.0 || t > ctx.server_capture_span.1
        }
        (None, Some(s)) => {
            let t = s.ts - off;
            t < ctx.client_capture_span.0 || t > ctx.client_capture_span.1
        }
        _ => false,
    }
}

/// What of a line reached the tap that lacks it whole: the fragment its
/// stream holds where the line belongs (after bytes it never captured),
/// and the receiver's ACK there that stopped before the missing bytes.
struct Arrived {
    bytes: Vec<u8>,
    frames: Vec<u64>,
    /// The ACK frame that stopped at the hole, and the frame of the bytes
    /// past it that it answered.
    stopped: Option<(u64, u64)>,
}

fn arrived_of(ctx: &Ctx<'_>, l: &Aligned, sent: &super::align::Seen) -> Option<Arrived> {
    let dir = l.side();
    let to_server = dir == Side::Client;
    let i = ctx.lines.iter().position(|x| std::ptr::eq(x, l))?;
    let recv = ctx.tap(to_server);
    let st = &recv.tcp[dir.index()];
    let start = sent
        .seq?
        .wrapping_add(ctx.delta_to(to_server, i)?.0)
        .wrapping_sub(st.seq_base?) as i32 as i64;
    let end = start + sent.raw_len as i64;
    let lines: Vec<&crate::ftp::line::Line> = match dir {
        Side::Client => recv.commands.iter().map(|c| &c.line).collect(),
        Side::Server => recv.replies.iter().flat_map(|r| &r.lines).collect(),
    };
    let part = lines.into_iter().find(|x| {
        x.after_gap && (x.offset as i64) < end && (x.offset + x.raw_len) as i64 > start
    })?;
    let stopped = st.gaps.iter().find_map(|g| match g.receipt {
        crate::reassembly::Receipt::NotReceived {
            ack_frame,
            after_frame,
            ..
        } if g.offset + g.len == part.offset => Some((ack_frame, after_frame)),
        _ => None,
    });
    Some(Arrived {
        bytes: part.wire(),
        frames: part.frames(),
        stopped,
    })
}

/// How many of a segment's later copies (captured at `ts`, on the
/// sender's side's clock) came after the capture on the receiver's side
/// had stopped.
fn unwatched(ctx: &Ctx<'_>, dir: Side, ts: &[crate::timestamp::Timestamp]) -> usize {
    // The server-side clock minus the client-side one, in ns; none for
    // the legs of one file, timed by one clock (the estimate from the
    // lines is the device's latency, not an offset).
    let offset = if ctx.views.are_legs() {
        0
    } else {
        (ctx.offset_secs * 1e9) as i64
    };
    let (end, shift) = match dir {
        Side::Client => (ctx.server_capture_span.1, offset),
        Side::Server => (ctx.client_capture_span.1, -offset),
    };
    ts.iter().filter(|&&t| t + shift > end).count()
}

fn join(v: &[u64]) -> String {
    v.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
}

/// Returns true when the line is reported as dropped by an in-path device
/// (later lines of the direction are then stuck behind it).
pub(super) fn dropped(ctx: &Ctx<'_>, l: &Aligned, cause: &Cause, out: &mut Vec<Finding>) -> bool {
    let Some(sent) = l.sent() else { return false };
    let dir = l.side();
    let sender = if dir == Side::Client { ctx.cs } else { ctx.ss };
    let st = &sender.tcp[dir.index()];
    let retrans = st.retransmissions.iter().find(|r| {
        !r.acked && r.offset < sent.offset + sent.raw_len.max(1) && r.offset + r.len > sent.offset
    });
    if let Some(r) = retrans {
        // The segment by its own bytes, where the line holds them all.
        let wire: Vec<u8> = [&sent.text.0[..], sent.terminator.bytes()].concat();
        let own = (wire.len() as u64 == sent.raw_len
            && r.offset >= sent.offset
            && r.offset + r.len <= sent.offset + sent.raw_len)
            .then(|| {
                let a = (r.offset - sent.offset) as usize;
                wire.get(a..(a + r.len as usize).min(wire.len()))
            })
            .flatten()
            .filter(|b| b.len() < wire.len());
        let (v, from, to) = (ctx.views, Tap::sender(dir), Tap::receiver(dir));
        let carrying = match own {
            Some(b) => format!(
                "`{}` ({} bytes of `{}`, frame {} {})",
                q(b),
                b.len(),
                q(&sent.text.0),
                r.first_frame,
                v.at(from)
            ),
            None => format!(
                "`{}` (frame {} {})",
                q(&sent.text.0),
                r.first_frame,
                v.at(from)
            ),
        };
        // Only copies sent while the receiver's capture ran count against
        // it: one it was not watching for proves nothing.
        let late = unwatched(ctx, dir, &r.retransmission_ts);
        let mut msg = format!(
            "the segment carrying {carrying} was retransmitted {}× and never reached {}: an in-path device is discarding it",
            r.retransmission_frames.len(),
            v.name(to)
        );
        if late > 0 {
            msg.push_str(&format!(
                " (the last {} came after {} stopped capturing, so only the first {} count against it)",
                if late == 1 {
                    "copy".to_string()
                } else {
                    format!("{late} copies")
                },
                v.name(to),
                r.retransmission_frames.len() + 1 - late
            ));
        }
        if sent.segments > 1 {
            msg.push_str(&format!(
                " (the line was split across {} segments; {} drops a partial PORT)",
                sent.segments,
                crate::rules::signatures::LINUX_CONNTRACK_PARTIAL.device
            ));
        }
        if rewrite::parse_address(dir, &sent.text.0).is_some()
            && signatures::apply_227_rewrite(&sent.text.0).is_some()
        {
            msg.push_str(
                "; it carries `227`: consistent with a 227→22_ rewriter in front of a conntrack helper, which would make it an unparsable line the helper drops (no capture here shows such a rewrite)",
            );
        }
        let arrived = arrived_of(ctx, l, sent);
        if let Some(a) = &arrived {
            msg.push_str(&format!(
                "; of the line only `{}` reached {} (frame {})",
                q(&a.bytes),
                v.name(to),
                join(&a.frames)
            ));
            if let Some((ack, _)) = a.stopped {
                msg.push_str(&format!(
                    ", where {}'s ACK in frame {ack}, sent after it, stopped before the missing bytes",
                    match dir {
                        Side::Client => "the server",
                        Side::Server => "the client",
                    }
                ));
            }
        }
        msg.push('.');
        let mut proof = format!(
            "the segment's {} copies {} (frames {}, {}{}) against {}",
            r.retransmission_frames.len() + 1,
            v.at(from),
            r.first_frame,
            join(&r.retransmission_frames),
            match late {
                0 => String::new(),
                n => format!(
                    "; {} while {} ran",
                    r.retransmission_frames.len() + 1 - n,
                    v.name(to)
                ),
            },
            v.name(to)
        );
        match &arrived {
            Some(a) => proof.push_str(&format!(
                ", which holds only the line's last {} bytes (frame {}){}",
                a.bytes.len(),
                join(&a.frames),
                a.stopped
                    .map(|(ack, _)| format!(" and an ACK stopping before the rest (frame {ack})"))
                    .unwrap_or_default()
            )),
            None => proof.push_str(", which holds none of it"),
        }
        let mut f = ctx
            .finding(Rule::AlgDropSuspected, Severity::Error, msg, l)
            .frames(r.retransmission_frames.iter().copied())
            .by(Actor::Path, ctx.views.proof(), proof);
        if let Some(a) = arrived {
            f = f.other_evidence(&format!("what arrived {}", v.at(to)), a.frames, a.bytes);
            if let (Some(o), Some((ack, _))) = (f.other.as_mut(), a.stopped) {
                o.frames.push(ack);
            }
        }
        out.push(f);
        return true;
    }
    // Swallowed only on positive evidence that the bytes were never there.
    let why = match cause {
        Cause::Path(why) => why,
        Cause::Unknown(why)
        | Cause::CaptureLoss(why, _)
        | Cause::NotRunning(why)
        | Cause::Unfollowed(why) => {
            out.push(undetermined(ctx, l, why));
            return false;
        }
    };
    let (rule, msg) = match dir {
        Side::Client => (
            Rule::CommandSwallowed,
            format!(
                "the client sent `{}` (frame {}) but it never reached {} ({why}): an in-path proxy or firewall swallowed it (WatchGuard, SmartDefense \"Blocked FTP Commands\")",
                q(&sent.text.0),
                frames_of(Some(sent)),
                ctx.views.name(Tap::ServerSide)
            ),
        ),
        Side::Server => (
            Rule::ReplySwallowed,
            format!(
                "the server sent `{}` (frame {}) but it never reached {} ({why})",
                q(&sent.text.0),
                frames_of(Some(sent)),
                ctx.views.name(Tap::ClientSide)
            ),
        ),
    };
    out.push(ctx.finding(rule, Severity::Error, format!("{msg}."), l));
    false
}

pub(super) fn injected(ctx: &Ctx<'_>, l: &Aligned, why: &str, out: &mut Vec<Finding>) {
    let Some(recv) = l.received() else { return };
    let dir = l.side();
    let (rule, sev, mut msg) = match dir {
        Side::Server => (
            Rule::ReplyInjected,
            Severity::Error,
            format!(
                "`{}` was delivered to the client (frame {}) but never sent by the server ({why}): generated by an in-path proxy or firewall",
                q(&recv.text.0),
                frames_of(Some(recv))
            ),
        ),
        Side::Client => (
            Rule::CommandInjected,
            Severity::Warning,
            format!(
                "the server received `{}` (frame {}) that the client never sent ({why}): generated by an in-path proxy or ALG",
                q(&recv.text.0),
                frames_of(Some(recv))
            ),
        ),
    };
    if dir == Side::Server {
        let prev_cmd = ctx
            .cs
            .commands
            .iter()
            .rev()
            .find(|c| c.line.last_ts() <= recv.ts);
        if let Some(c) = prev_cmd {
            if c.is("AUTH") && recv.text.0.first() == Some(&b'5') {
                msg.push_str(" (AUTH refused by the firewall itself: Microsoft ISA/TMG does this)");
            } else {
                msg.push_str(&format!(" (after `{}`)", ql(&c.line)));
            }
        }
    }
    msg.push('.');
    out.push(ctx.finding(rule, sev, msg, l));
}
