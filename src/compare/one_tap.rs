//! Lines seen at one tap only: capture loss (the tap that lacks a line
//! shows its sequence space, or the receiver acknowledged it), the path's
//! doing (at the tap that lacks it the lines around are contiguous:
//! swallowed or injected), or undetermined; never the firewall's doing
//! on a tap's loss.

use super::align::Aligned;

use super::ctx::{Ctx, frames_of, recv_tap, sent_tap};
use crate::reassembly::connection::Side;
use crate::rules::rewrite::{self};
use crate::rules::signatures;
use crate::rules::{Actor, Finding, ProofKind, Rule, Severity, q, ql};

/// Why a line was seen at one tap only.
pub(super) enum Cause {
    /// The tap that lacks it missed it: its capture shows the sequence
    /// space the line took, or the receiver acknowledged the bytes.
    CaptureLoss(String),
    /// The path removed it (or added it): at the tap that lacks it the
    /// lines around it are contiguous in the sequence space.
    Path(String),
    /// The captures cannot tell, and why.
    Unknown(String),
}

/// Tells capture loss from device action for line `i` (seen at one tap),
/// from the sequence space of the tap that lacks it: a busy tap drops
/// packets, and a line it missed must never be reported as swallowed or
/// injected by the firewall.
pub(super) fn one_tap_cause(ctx: &Ctx<'_>, i: usize) -> Cause {
    let l = &ctx.lines[i];
    let Some(here) = l.client_side.as_ref().or(l.server_side.as_ref()) else {
        return Cause::Unknown("the line has no bytes at either tap".into());
    };
    // The tap that lacks the line, and its view of the line's direction.
    let at_server_tap = l.client_side.is_some();
    let (lacking, tap) = if at_server_tap {
        (ctx.ss, "server-side")
    } else {
        (ctx.cs, "client-side")
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
    let start = prev.as_ref().map_or(0, |p| p.offset + p.raw_len);
    let st = &lacking.tcp[l.side().index()];
    // The lines around it are contiguous at that tap: the line's bytes
    // were never in that sequence space (a tap that missed them would
    // show the sequence numbers jump by their length).
    if let (Some(p), Some(n)) = (&prev, &next)
        && n.offset == start
    {
        return Cause::Path(format!(
            "at the {tap} tap `{}` (frame {}) and `{}` (frame {}) follow each other with no byte between them in the sequence space",
            q(&p.text.0),
            frames_of(Some(p)),
            q(&n.text.0),
            frames_of(Some(n))
        ));
    }
    // Otherwise, if the receiver's cumulative ACK at that tap covers where
    // the line belongs, it got the bytes: only the tap can have missed
    // them. (A hole the receiver never acknowledged is what an in-path
    // drop leaves too: no proof either way.)
    let end = start + here.raw_len.max(1);
    if let Some(a) = st.peer_acked
        && a >= end
    {
        let hole = match &next {
            Some(n) if n.offset > start => format!(
                "its sequence numbers skip {} byte(s) there, between `{}` (frame {}) and `{}` (frame {}), ",
                n.offset - start,
                q(&prev.as_ref().map(|p| p.text.0.clone()).unwrap_or_default()),
                frames_of(prev.as_ref()),
                q(&n.text.0),
                frames_of(Some(n))
            ),
            _ => String::new(),
        };
        return Cause::CaptureLoss(format!(
            "at the {tap} tap {hole}and the receiver acknowledged the stream up to offset {a}, past offset {end} where the line ends: the bytes arrived, the tap missed them"
        ));
    }
    Cause::Unknown(match &next {
        Some(n) if n.offset > start => format!(
            "at the {tap} tap the sequence numbers skip {} byte(s) there, but the receiver never acknowledged them: the tap may have missed them or the path dropped them",
            n.offset - start
        ),
        _ => format!(
            "no later line of this direction and no acknowledgement past it at the {tap} tap"
        ),
    })
}

/// A line one capture missed (info: not the path's doing).
pub(super) fn capture_loss(ctx: &Ctx<'_>, l: &Aligned, why: &str) -> Finding {
    let (line, at) = seen_once(l);
    ctx.finding(
        Rule::CaptureLoss,
        Severity::Info,
        format!(
            "`{}` (frame {} at the {at}) is missing from the other capture, which lost it: {why}. Capture loss, not the path's doing.",
            q(&line.text.0),
            frames_of(Some(line))
        ),
        l,
    )
    .by(Actor::Capture, ProofKind::Acks, why.to_string())
}

/// A line at one tap whose cause the captures cannot tell (info).
pub(super) fn undetermined(ctx: &Ctx<'_>, l: &Aligned, why: &str) -> Finding {
    let (line, at) = seen_once(l);
    ctx.finding(
        Rule::SeenAtOneTap,
        Severity::Info,
        format!(
            "`{}` (frame {} at the {at}) is missing from the other capture; neither capture shows whether that tap missed it or the path removed or added it ({why}).",
            q(&line.text.0),
            frames_of(Some(line))
        ),
        l,
    )
    .by(
        Actor::Unknown,
        ProofKind::TwoTaps,
        format!(
            "the line at the {at} (frame {}) and its absence at the other tap, which neither tap's sequence numbers explain: {why}",
            frames_of(Some(line))
        ),
    )
}

/// The version of a one-tap line and the tap it was seen at.
pub(super) fn seen_once(l: &Aligned) -> (&super::align::Seen, &'static str) {
    match (&l.client_side, &l.server_side) {
        (Some(c), _) => (c, "client-side tap"),
        (None, Some(s)) => (s, "server-side tap"),
        (None, None) => unreachable!("an aligned line is seen at one tap at least"),
    }
}

/// A line outside the time span of the capture that would have shown its
/// counterpart was simply not captured there.
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
        let mut msg = format!(
            "the segment carrying `{}` (frame {} at the {}) was retransmitted {}× and never reached the {}: an in-path device is discarding it",
            q(&sent.text.0),
            r.first_frame,
            sent_tap(dir),
            r.retransmission_frames.len(),
            recv_tap(dir)
        );
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
                "; it carries `227`, which a 227→22_ rewriter in front of a conntrack helper turns into an unparsable line that the helper drops",
            );
        }
        msg.push('.');
        let f = ctx
            .finding(Rule::AlgDropSuspected, Severity::Error, msg, l)
            .frames(r.retransmission_frames.iter().copied());
        out.push(f);
        return true;
    }
    // Swallowed only on positive evidence that the bytes were never there.
    let why = match cause {
        Cause::Path(why) => why,
        Cause::Unknown(why) | Cause::CaptureLoss(why) => {
            out.push(undetermined(ctx, l, why));
            return false;
        }
    };
    let (rule, msg) = match dir {
        Side::Client => (
            Rule::CommandSwallowed,
            format!(
                "the client sent `{}` (frame {}) but it never reached the server-side tap ({why}): an in-path proxy or firewall swallowed it (WatchGuard, SmartDefense \"Blocked FTP Commands\")",
                q(&sent.text.0),
                frames_of(Some(sent))
            ),
        ),
        Side::Server => (
            Rule::ReplySwallowed,
            format!(
                "the server sent `{}` (frame {}) but it never reached the client-side tap ({why})",
                q(&sent.text.0),
                frames_of(Some(sent))
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
