//! What each difference between the two taps is (docs/middleboxes.md):
//! a NAT ALG's legitimate rewrite (`alg-rewrite`) or not
//! (`alg-rewrite-inconsistent`), an in-place mangling (`port-octet-mangled`,
//! `pasv-reply-mangled`, `string-227-mangled`, `verb-rewritten`), a
//! sequence-offset step, lines dropped, swallowed or injected, a passive /
//! active conversion.

use super::align::{Aligned, SeqStep, Status};
use super::ctx::{Ctx, frames_of};
use super::one_tap::{Cause, capture_loss, dropped, injected, seen_once, undetermined};
use super::views::Tap;

use crate::ftp::data::Verdict;
use crate::ftp::message::verb_of;
use crate::reassembly::connection::Side;
use crate::rules::rewrite::{self, AddressChange, Change, What};
use crate::rules::{Actor, Finding, Rule, Severity, q};
use std::net::IpAddr;

/// The findings of one pair, and which lines a finding about several
/// lines (a mode conversion) took up: those are the path's doing whatever
/// one tap's ACKs say of them alone.
pub fn run(ctx: &Ctx<'_>) -> (Vec<Finding>, Vec<bool>) {
    let mut out = Vec::new();
    let mut consumed = vec![false; ctx.lines.len()];
    mode_conversion(ctx, &mut consumed, &mut out);
    let mut stuck_behind: Option<usize> = None;
    for (i, l) in ctx.lines.iter().enumerate() {
        if consumed[i] {
            continue;
        }
        match l.status {
            Status::Identical => untranslated(ctx, l, &mut out),
            Status::Modified => modified(ctx, l, &mut out),
            Status::Dropped | Status::Injected | Status::NotCaptured => {
                // Judged once, for the counts too (`one_tap::causes`).
                let Some(cause) = &ctx.causes[i] else {
                    continue;
                };
                match cause {
                    Cause::CaptureLoss(why, frames) => {
                        out.push(capture_loss(ctx, l, why, frames));
                        continue;
                    }
                    Cause::NotRunning(_) | Cause::Unfollowed(_) => continue,
                    Cause::Path(_) | Cause::Unknown(_) => {}
                }
                if l.status == Status::Injected {
                    match cause {
                        Cause::Path(why) => injected(ctx, l, why, &mut out),
                        Cause::Unknown(why) => out.push(undetermined(ctx, l, why)),
                        Cause::CaptureLoss(..) | Cause::NotRunning(_) | Cause::Unfollowed(_) => {}
                    }
                    continue;
                }
                // Lines queued behind a dropped segment never arrive either.
                if let Some(k) = stuck_behind
                    && ctx.lines[k].dir == l.dir
                    && let Some(f) = out.last_mut()
                    && f.rule == Rule::AlgDropSuspected
                {
                    if let Some(c) = l.sent() {
                        f.frames.extend(&c.frames);
                    }
                    f.message.push_str(&format!(
                        " `{}` (frame {}) was queued behind it and never arrived either.",
                        q(&l.sent().map(|x| x.text.0.clone()).unwrap_or_default()),
                        frames_of(l.sent())
                    ));
                    continue;
                }
                if dropped(ctx, l, cause, &mut out) {
                    stuck_behind = Some(i);
                }
            }
        }
    }
    // A step that only reflects lines swallowed or injected is their
    // consequence, already reported.
    for st in ctx.steps.iter().filter(|s| !s.from_one_tap_lines) {
        out.push(step(ctx, st));
    }
    for f in &mut out {
        f.normalise();
        f.settle();
    }
    same_hole_one_event(&mut out);
    // The ALG's rewrite of a line and the sequence step its new length
    // causes are one event.
    let mut out = crate::rules::one_event_one_finding(out);
    for f in &mut out {
        f.stamp(ctx.cs);
    }
    (out, consumed)
}

/// Lines one tap lost in one hole are one event (one burst of capture
/// loss), not one finding each: the same hole and the same ACK prove each
/// of them, so their proofs read the same. They take the first line's
/// subject, and the event folding makes them one finding with the others
/// as its related facts.
fn same_hole_one_event(out: &mut [Finding]) {
    let mut first: std::collections::HashMap<String, crate::rules::Subject> = Default::default();
    for f in out.iter_mut().filter(|f| f.rule == Rule::CaptureLoss) {
        let Some(subject) = f.subject else { continue };
        let at = *first.entry(f.proof.text.clone()).or_insert(subject);
        f.subject = Some(at);
    }
}

/// How NAT maps the address of a line's sender: as seen at the tap on its
/// side, and at the other tap.
pub(super) fn nat_of(ctx: &Ctx<'_>, dir: Side) -> (IpAddr, IpAddr) {
    match dir {
        Side::Client => (ctx.cs.client.ip(), ctx.ss.client.ip()),
        Side::Server => (ctx.ss.server.ip(), ctx.cs.server.ip()),
    }
}

/// A line identical at both taps that names its sender's address from
/// before the NAT: the ALG did not translate it.
fn untranslated(ctx: &Ctx<'_>, l: &Aligned, out: &mut Vec<Finding>) {
    let (Some(sent), Some(recv)) = (l.sent(), l.received()) else {
        return;
    };
    let dir = l.side();
    let nat = nat_of(ctx, dir);
    let Some(ep) = rewrite::untranslated(dir, &sent.text.0, nat) else {
        return;
    };
    let (v, from, to) = (ctx.views, Tap::sender(dir), Tap::receiver(dir));
    let msg = format!(
        "`{}` crossed the NAT unchanged ({} → {}): it still names {}, although {} sees that host as {}; the ALG did not rewrite it, so the receiver is sent to an address it cannot reach through the NAT",
        q(&sent.text.0),
        v.frame(from, &frames_of(Some(sent))),
        v.frame(to, &frames_of(Some(recv))),
        ep,
        v.name(to),
        nat.1
    );
    out.push(ctx.finding(Rule::AlgNotTranslated, Severity::Warning, msg, l));
}

fn modified(ctx: &Ctx<'_>, l: &Aligned, out: &mut Vec<Finding>) {
    let (Some(sent), Some(recv)) = (l.sent(), l.received()) else {
        return;
    };
    let dir = l.side();
    let (a, b) = (&sent.text.0, &recv.text.0);
    let nat = nat_of(ctx, dir);
    let Some(ch) = rewrite::classify(dir, a, b, nat) else {
        return;
    };
    if let What::Address(ac) = &ch.what {
        return address_change(ctx, l, &ch, ac, nat, out);
    }
    let mut msg = match ch.what {
        What::Verb => format!(
            "the client sent `{}` but the server received `{}`: the verb was rewritten",
            q(a),
            q(b)
        ),
        What::String227 { sites } => format!(
            "`{}` arrived as `{}`: the digit string 227 became 22_ ({sites} sites); the in-path device rewrites 227 anywhere in the control stream, not only in PORT",
            q(a),
            q(b),
        ),
        What::SystMasked => {
            format!("the server sent `{}`, the client received `{}`", q(a), q(b))
        }
        What::Other | What::Address(_) => format!("`{}` arrived as `{}`", q(a), q(b)),
    };
    let (v, from, to) = (ctx.views, Tap::sender(dir), Tap::receiver(dir));
    msg.push_str(&format!(
        " ({}; {} → {}).",
        ch.diff.describe(),
        v.frame(from, &frames_of(Some(sent))),
        v.frame(to, &frames_of(Some(recv)))
    ));
    if let Some(s) = ch.signature {
        msg.push_str(&format!(
            " It matches what {} is known to do ({}).",
            s.device, s.behaviour
        ));
    }
    let mut f = ctx.finding(ch.rule, ch.severity, msg, l);
    f.compared(dir, a, b, ch.diff);
    f.signature = ch.signature;
    out.push(f);
}

fn address_change(
    ctx: &Ctx<'_>,
    l: &Aligned,
    ch: &Change,
    ac: &AddressChange,
    (orig_ip, nat_ip): (IpAddr, IpAddr),
    out: &mut Vec<Finding>,
) {
    let (Some(sent), Some(recv)) = (l.sent(), l.received()) else {
        return;
    };
    let dir = l.side();
    let (a, b) = (&sent.text.0, &recv.text.0);
    let d = &ch.diff;
    let numbers = &ac.fields;
    let (v, from, to) = (ctx.views, Tap::sender(dir), Tap::receiver(dir));
    let taps = format!(
        "{} → {}",
        v.frame(from, &frames_of(Some(sent))),
        v.frame(to, &frames_of(Some(recv)))
    );
    if ch.is_mangling() {
        let mut msg = format!(
            "{} ({taps}); {numbers}; {}",
            v.crossed(dir, &q(a), &q(b)),
            d.describe()
        );
        if let Some(sig) = ch.signature {
            msg.push_str(&format!(
                ". The same length means an in-place substitution by an inspection engine, not a NAT rewrite{}: what {} is known to do (227→22_); {}",
                if ctx.stepped(dir) {
                    String::new()
                } else {
                    format!(
                        " (the TCP sequence offset between {} did not change)",
                        v.both()
                    )
                },
                sig.device,
                if v.by_device() {
                    "this file was written by the device itself (fw monitor), so the change happened inside it, between the line entering and leaving it"
                } else {
                    "the capture does not name the device"
                }
            ));
        } else if orig_ip == nat_ip {
            msg.push_str(&format!(
                ". No NAT lies between {} ({orig_ip} at both), so no address translation explains it",
                v.both()
            ));
        } else {
            msg.push_str(&format!(
                ". Not explained by the NAT mapping ({orig_ip} ↔ {nat_ip})"
            ));
        }
        if let Some(p) = ac.sent.map(|e| e.port) {
            msg.push_str(&format!("; data port {p} became unusable"));
            if let Some(e) = ac.lenient
                && e.port != p
            {
                msg.push_str(&format!(" (a lenient server reads {e})"));
            }
        }
        msg.push('.');
        let mut f = ctx.finding(ch.rule, ch.severity, msg, l);
        f.compared(dir, a, b, d.clone());
        f.signature = ch.signature;
        out.push(f);
        return;
    }
    let style = ac.style;
    let nat_consistent = ac.nat_consistent;
    // Did the data connection at the receiving end use the rewritten endpoint?
    let downstream = ctx.setup(dir == Side::Client, dir, recv.item);
    // `consistent` is whether the rewrite matches the NAT mapping and the
    // data connection (where one was seen) used the rewritten endpoint.
    let (consistent, outcome) = match downstream.map(|s| (s.verdict, s.connection)) {
        Some((Verdict::Connected, Some(k))) => {
            let s = if dir == Side::Client { ctx.ss } else { ctx.cs };
            (
                true,
                format!(
                    "the data connection {} went to the rewritten endpoint (frame {})",
                    v.at(to),
                    s.data_conns[k].first_frame
                ),
            )
        }
        Some((Verdict::WrongEndpoint, Some(k))) => {
            let s = if dir == Side::Client { ctx.ss } else { ctx.cs };
            (
                false,
                format!(
                    "but the data connection {} went to {} instead (frame {})",
                    v.at(to),
                    s.data_conns[k].acceptor,
                    s.data_conns[k].first_frame
                ),
            )
        }
        Some((v, _)) => (
            nat_consistent,
            format!("data connection {}: {}", ctx.views.at(to), v.describe()),
        ),
        None => (
            nat_consistent,
            format!("no data setup {}", ctx.views.at(to)),
        ),
    };
    let (rule, sev) = if consistent {
        (Rule::AlgRewrite, Severity::Info)
    } else {
        (Rule::AlgRewriteInconsistent, Severity::Error)
    };
    let why = if nat_consistent {
        format!(
            "consistently with the NAT mapping of the control connection ({orig_ip} → {nat_ip})"
        )
    } else {
        format!("but not to the NAT address {nat_ip}")
    };
    let msg = format!(
        "`{}` was rewritten to `{}` by an ALG {why} ({taps}): {numbers}; {style}, length {:+}; {outcome}.",
        q(a),
        q(b),
        d.length_delta
    );
    let mut f = ctx.finding(rule, sev, msg, l);
    f.compared(dir, a, b, d.clone());
    out.push(f);
}

/// PASV/EPSV seen at one tap where PORT/EPRT is seen at the other; the
/// replies the conversion swapped (227 injected, 200 swallowed, or the
/// reverse) belong to the same finding.
fn mode_conversion(ctx: &Ctx<'_>, consumed: &mut [bool], out: &mut Vec<Finding>) {
    let verb = |l: &Aligned| {
        l.client_side
            .as_ref()
            .or(l.server_side.as_ref())
            .and_then(|s| verb_of(&s.text.0))
    };
    let one_tap = |l: &Aligned| matches!(l.status, Status::Dropped | Status::Injected);
    let passive = |v: &str| matches!(v, "PASV" | "EPSV" | "LPSV");
    let active = |v: &str| matches!(v, "PORT" | "EPRT" | "LPRT");
    let n = ctx.lines.len();
    for i in 0..n {
        let a = &ctx.lines[i];
        if consumed[i] || a.dir != Side::Client || !one_tap(a) {
            continue;
        }
        let Some(va) = verb(a) else { continue };
        let partner = (i + 1..n.min(i + 4)).find(|&j| {
            let b = &ctx.lines[j];
            !consumed[j]
                && b.dir == Side::Client
                && one_tap(b)
                && b.status != a.status
                && verb(b).is_some_and(|vb| {
                    (passive(&va) && active(&vb)) || (active(&va) && passive(&vb))
                })
        });
        let Some(j) = partner else { continue };
        let b = &ctx.lines[j];
        let (cl, sl) = if a.client_side.is_some() {
            (a, b)
        } else {
            (b, a)
        };
        let (cv, sv) = (verb(cl).unwrap_or_default(), verb(sl).unwrap_or_default());
        consumed[i] = true;
        consumed[j] = true;
        let mut f = ctx.finding(
            Rule::ModeConverted,
            Severity::Warning,
            format!(
                "the client sent {cv} but the server received {sv}: an in-path ALG converted {} mode (D-Link/Clavister \"hybrid mode\", Stormshield proxy transfer-mode settings)",
                if passive(&cv) { "passive to active" } else { "active to passive" }
            ),
            cl,
        );
        if let Some(s) = &sl.server_side {
            f = f.other_evidence(
                &ctx.views.at(Tap::ServerSide),
                s.frames.clone(),
                s.text.clone(),
            );
        }
        // The replies it swapped: the next server lines seen at one tap
        // after the first of the two commands (capture timing may place a
        // reply between them).
        let mut swapped = Vec::new();
        let window = i + 1..n.min(j + 5);
        for (r, used) in ctx.lines[window.clone()].iter().zip(&mut consumed[window]) {
            if r.dir == Side::Server && one_tap(r) && !*used {
                *used = true;
                if let Some(c) = &r.client_side {
                    f = f.evidence(
                        &format!("reply {}", ctx.views.at(Tap::ClientSide)),
                        c.frames.clone(),
                        c.text.clone(),
                    );
                    swapped.push(format!("the client got `{}`", q(&c.text.0)));
                }
                if let Some(s) = &r.server_side {
                    f = f.other_evidence(
                        &format!("reply {}", ctx.views.at(Tap::ServerSide)),
                        s.frames.clone(),
                        s.text.clone(),
                    );
                    swapped.push(format!("the server answered `{}`", q(&s.text.0)));
                }
            }
        }
        if !swapped.is_empty() {
            f.message.push_str(&format!("; {}", swapped.join(", ")));
        }
        f.message.push('.');
        out.push(f);
    }
}

fn step(ctx: &Ctx<'_>, st: &SeqStep) -> Finding {
    let l = &ctx.lines[st.after_line];
    let line = l.sent().map(|s| q(&s.text.0)).unwrap_or_default();
    let by = st.after - st.before;
    let dir = l.side();
    // After the step, did the sender keep retransmitting data the receiver
    // had? Then the ACKs were not translated back consistently.
    let sender = if dir == Side::Client { ctx.cs } else { ctx.ss };
    let after_off = l.sent().map_or(0, |s| s.offset + s.raw_len);
    let received_later: Vec<u64> = ctx
        .lines
        .iter()
        .skip(st.after_line + 1)
        .filter(|x| x.dir == l.dir && x.status != Status::Dropped)
        .filter_map(|x| x.sent().map(|s| s.offset))
        .collect();
    let ack_bad = sender.tcp[dir.index()]
        .retransmissions
        .iter()
        .any(|r| r.offset >= after_off && received_later.contains(&r.offset));
    // Lines only one tap saw between the two lines the offsets come from:
    // a tap missed one of them (capture loss) or the path removed it; its
    // own rewrite, if any, is unknown, so the step cannot be judged.
    let unseen: Vec<&Aligned> = ctx.lines[st.after_line + 1..]
        .iter()
        .filter(|x| x.dir == l.dir)
        .take_while(|x| matches!(x.status, Status::Dropped | Status::Injected))
        .collect();
    let flow = if dir == Side::Client {
        "client→server"
    } else {
        "server→client"
    };
    let (both, one) = (ctx.views.both(), ctx.views.word());
    let (sev, mut msg) = if !st.explained_by_length_change && !ack_bad && st.across_gap {
        (
            Severity::Info,
            format!(
                "the TCP sequence offset between {both} ({}) changed from {:+} to {:+} ({by:+}) across bytes a {one} did not capture after `{line}`; what they held, and how the path rewrote them (an ALG changes lengths), is not in the captures, so the change is not judged",
                flow, st.before, st.after,
            ),
        )
    } else if !st.explained_by_length_change && !ack_bad && !unseen.is_empty() {
        (
            Severity::Info,
            format!(
                "the TCP sequence offset between {both} ({}) changed from {:+} to {:+} ({by:+}) across {} that only one {one} saw; how that line was rewritten on the way (an ALG changes lengths) is not in the captures, so the change is not judged",
                flow,
                st.before,
                st.after,
                unseen
                    .iter()
                    .map(|x| format!("`{}`", q(&seen_once(x).0.text.0)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    } else if st.explained_by_length_change && !ack_bad {
        (
            Severity::Info,
            format!(
                "the TCP sequence offset between {both} ({}) stepped from {:+} to {:+} ({by:+}) at the segment carrying `{line}`: an in-path ALG changed the line's length and adjusts sequence numbers from there on",
                flow, st.before, st.after
            ),
        )
    } else {
        (
            Severity::Error,
            format!(
                "the TCP sequence offset between {both} ({}) stepped from {:+} to {:+} ({by:+}) after `{line}`{}",
                flow,
                st.before,
                st.after,
                if st.explained_by_length_change {
                    ""
                } else {
                    ", which no change of line length explains"
                }
            ),
        )
    };
    if ack_bad {
        msg.push_str(": the sender kept retransmitting data the receiver had already got — the ACK mapping after the step is inconsistent (one correction point per direction in Linux seqadj); expect stalls and resets");
    }
    msg.push('.');
    let mut f = ctx.finding(Rule::SeqOffsetStep, sev, msg, l);
    if sev == Severity::Info && !st.explained_by_length_change {
        f = f.by(
            Actor::Unknown,
            ctx.views.proof(),
            format!(
                "the sequence offset between {both} before and after `{line}`, across bytes or lines one {one} did not see"
            ),
        );
    }
    if let (Some(d), Some(a), Some(b)) = (&l.diff, l.sent(), l.received()) {
        f.compared(dir, &a.text.0, &b.text.0, d.clone());
    }
    f
}
