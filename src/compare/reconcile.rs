//! What each tap said alone, held against what the two taps prove
//! together: one event, one finding.
//!
//! Each capture's own rules ran on that capture alone, so a damaged line
//! is reported at the client-side tap (the server connected elsewhere),
//! at the server-side tap (the line arrived malformed) and by the
//! comparison (it changed between the taps) — three findings of one
//! event. And a tap's reading of one view ("this tap cannot tell whether
//! the client sent it so") is settled by the other tap. Here, per matched
//! pair and per line:
//!
//! * a line that **changed** (or one tap lacks): the comparison's finding
//!   stands for the event, and every per-tap finding about that line
//!   becomes one of its related facts;
//! * a line the two taps show **the same**: it crossed the path between
//!   the taps unchanged. A tap's blame of the path is narrowed to what
//!   lies beyond the other tap (and, where no router lies between that
//!   tap and the receiver, restated as the receiver's own doing); a
//!   one-view reading becomes the sender's where the sender-side tap is
//!   next to the sender. The two taps' findings about the line are then
//!   one finding.
//!
//! Findings about no line (a session-wide rule) fold with the same rule
//! at the other tap of the pair.

use super::PairReport;
use super::align::{Aligned, Seen, Status};
use super::views::{Tap, Views};
use crate::analysis::CaptureResult;
use crate::reassembly::connection::Side;
use crate::rules::attribution::TapPosition;
use crate::rules::{Actor, Finding, ProofKind, Subject, absorb_from, outranks};

/// Reconciles the per-tap findings of `cr` (client side, capture 0) and
/// `sr` (server side, capture 1) with the comparison's `findings`.
pub(super) fn reconcile(
    cr: &mut CaptureResult,
    sr: &mut CaptureResult,
    pairs: &[PairReport],
    findings: &mut [Finding],
) {
    // Each capture's findings, with their place, so that what stays keeps
    // its order.
    let mut taps: [Vec<Option<Finding>>; 2] = [
        std::mem::take(&mut cr.findings)
            .into_iter()
            .map(Some)
            .collect(),
        std::mem::take(&mut sr.findings)
            .into_iter()
            .map(Some)
            .collect(),
    ];
    let views = Views::of(cr.info.view.as_deref(), sr.info.view.as_deref());
    for p in pairs {
        pair(p, &mut taps, findings, &views);
    }
    cr.findings = taps[0].drain(..).flatten().collect();
    sr.findings = taps[1].drain(..).flatten().collect();
}

/// Which tap: 0 the client side, 1 the server side.
type TapIx = usize;

fn seen(l: &Aligned, tap: TapIx) -> Option<&Seen> {
    if tap == 0 {
        l.client_side.as_ref()
    } else {
        l.server_side.as_ref()
    }
}

/// The subject a comparison finding about `l` carries
/// ([`super::ctx::Ctx::finding`]): the line at the client-side tap, else
/// at the server-side tap.
pub(super) fn subject_of(l: &Aligned) -> Option<Subject> {
    l.client_side
        .as_ref()
        .or(l.server_side.as_ref())
        .map(|s| Subject {
            dir: l.dir,
            offset: s.offset,
        })
}

/// The line tap `t` lacks that began where `sub` is in its stream (bytes
/// it never captured or never got there): the lines it saw in that
/// direction give its sequence numbers, and the other tap saw the line at
/// the same one (one TCP connection, nothing before it changed length).
fn missing_at(p: &PairReport, t: TapIx, sub: Subject) -> Option<usize> {
    let base = p
        .lines
        .iter()
        .filter(|l| l.dir == sub.dir)
        .find_map(|l| seen(l, t).and_then(|s| Some(s.seq?.wrapping_sub(s.offset as u32))))?;
    let at = base.wrapping_add(sub.offset as u32);
    p.lines.iter().position(|l| {
        l.dir == sub.dir
            && seen(l, t).is_none()
            && seen(l, 1 - t).is_some_and(|s| s.seq == Some(at))
    })
}

fn pair(
    p: &PairReport,
    taps: &mut [Vec<Option<Finding>>; 2],
    comparison: &mut [Finding],
    views: &Views,
) {
    let names = [&p.client_side_session, &p.server_side_session];
    // Per aligned line (None: about no line, or a line not listed), the
    // per-tap findings about it.
    let mut by_line: std::collections::BTreeMap<Option<usize>, Vec<(TapIx, usize)>> =
        Default::default();
    for (t, list) in taps.iter().enumerate() {
        for (k, f) in list.iter().enumerate() {
            let Some(f) = f else { continue };
            if &f.session != names[t] {
                continue;
            }
            let line = f.subject.and_then(|sub| {
                p.lines
                    .iter()
                    .position(|l| {
                        l.dir == sub.dir && seen(l, t).is_some_and(|s| s.offset == sub.offset)
                    })
                    .or_else(|| missing_at(p, t, sub))
            });
            by_line.entry(line).or_default().push((t, k));
        }
    }
    for (line, members) in by_line {
        let Some(i) = line else {
            same_rule(p, members, taps, views);
            continue;
        };
        let l = &p.lines[i];
        if l.status == Status::Identical {
            for &(t, k) in &members {
                if let Some(f) = taps[t][k].as_mut() {
                    across_unchanged(f, t, p, Some(l), views);
                }
            }
        }
        // The comparison's finding about this line, if it has one, stands
        // for the event; else the per-tap finding that says most.
        let subject = subject_of(l);
        let target = comparison.iter_mut().find(|f| {
            f.session == p.client_side_session
                && f.other
                    .as_ref()
                    .is_some_and(|o| o.session == p.server_side_session)
                && f.subject == subject
        });
        let Some(target) = target else {
            one_of(members, taps);
            continue;
        };
        for (t, k) in members {
            if let Some(f) = taps[t][k].take() {
                absorb_from(target, f, t);
            }
        }
    }
    // A pair kept as its counts alone: every line was the same at both
    // taps, but which finding is about which line is no longer known;
    // findings of one rule at both taps are still one event.
}

/// Findings about no aligned line: one rule's finding at both taps of the
/// pair is one event, kept at the client-side tap.
fn same_rule(
    p: &PairReport,
    members: Vec<(TapIx, usize)>,
    taps: &mut [Vec<Option<Finding>>; 2],
    views: &Views,
) {
    let plain = p.lines.is_empty() && p.lines_not_listed > 0;
    for &(t, k) in members.iter().filter(|(t, _)| *t == 1) {
        let Some(rule) = taps[t][k].as_ref().map(|f| f.rule) else {
            continue;
        };
        let partner = members
            .iter()
            .find(|&&(u, j)| u == 0 && taps[u][j].as_ref().is_some_and(|f| f.rule == rule))
            .copied();
        if let Some((_, j)) = partner {
            let (left, right) = taps.split_at_mut(1);
            if let (Some(keep), Some(fold)) = (left[0][j].as_mut(), right[0][k].take()) {
                absorb_from(keep, fold, 1);
            }
        }
    }
    if plain {
        for &(t, k) in &members {
            if let Some(f) = taps[t][k].as_mut() {
                across_unchanged(f, t, p, None, views);
            }
        }
    }
}

/// Per-tap findings of one event: the one that says most stands for it.
fn one_of(members: Vec<(TapIx, usize)>, taps: &mut [Vec<Option<Finding>>; 2]) {
    let mut best: Option<(TapIx, usize)> = None;
    for &(t, k) in &members {
        let Some(f) = taps[t][k].as_ref() else {
            continue;
        };
        let better = match best {
            None => true,
            Some((u, j)) => taps[u][j].as_ref().is_none_or(|b| outranks(f, b)),
        };
        if better {
            best = Some((t, k));
        }
    }
    let Some((bt, bk)) = best else { return };
    let Some(mut keep) = taps[bt][bk].take() else {
        return;
    };
    for &(t, k) in &members {
        if let Some(f) = taps[t][k].take() {
            absorb_from(&mut keep, f, t);
        }
    }
    taps[bt][bk] = Some(keep);
}

/// Restates a finding of tap `t` about a line that crossed the path
/// between the taps unchanged (`l`; `None` for a pair whose lines were
/// all the same but are no longer listed).
fn across_unchanged(f: &mut Finding, t: TapIx, p: &PairReport, l: Option<&Aligned>, v: &Views) {
    let Some(sub) = f.subject else { return };
    let dir = sub.dir;
    let (sender_tap, receiver_tap) = if dir == Side::Client { (0, 1) } else { (1, 0) };
    let sender = side_name(dir);
    let receiver = side_name(dir.other());
    let (sent_at, received_at) = (Tap::sender(dir), Tap::receiver(dir));
    let views = match l {
        Some(l) => format!(
            "the line is the same {} (frame {}) and {} (frame {})",
            v.at(Tap::ClientSide),
            first_frame(l.client_side.as_ref()),
            v.at(Tap::ServerSide),
            first_frame(l.server_side.as_ref())
        ),
        None => format!("every line of this session is the same {}", v.at_both()),
    };
    let two = format!("The two {}s", v.word());
    let tap_pos: [TapPosition; 2] = p.taps;
    match f.actor {
        Actor::Path if t == sender_tap => {
            // Proven from the sender's side to change between that tap
            // and the receiver: not between the taps, so beyond the
            // receiver-side tap.
            let beyond = if tap_pos[receiver_tap].next_to(dir.other()) == Some(true) {
                f.actor = Actor::sender(dir.other());
                format!(
                    "no router lies between {} and the {receiver}, so the {receiver} itself read it so, or a device there that does not route changed it",
                    v.name(received_at)
                )
            } else {
                format!("it changed beyond {}", v.name(received_at))
            };
            f.proof.text = format!("{}; {views}: {beyond}", f.proof.text);
            f.message.push_str(&format!(
                " {two} show the line the same (compare), so the path between them did not change it; {beyond}."
            ));
        }
        Actor::Unknown if f.proof.kind == ProofKind::OneView => {
            match (
                tap_pos[sender_tap].next_to(dir),
                tap_pos[sender_tap].how(dir),
            ) {
                (Some(true), Some(how)) => {
                    f.actor = Actor::sender(dir);
                    f.proof.kind = ProofKind::AtSender;
                    f.proof.text = format!(
                        "{views}, and {} it is as it left the {sender} ({how})",
                        v.at(sent_at)
                    );
                    f.message.push_str(&format!(
                        " {two} show the line the same (compare), and {} is next to the {sender}: the {sender} sent it so.",
                        v.name(sent_at)
                    ));
                }
                _ => {
                    f.proof.kind = v.proof();
                    f.proof.text = format!(
                        "{views}: it crossed the path between {} unchanged; what happened before {}, the comparison does not show",
                        v.both(),
                        v.name(sent_at)
                    );
                    f.message.push_str(&format!(
                        " {two} show the line the same (compare): it crossed the path between them unchanged."
                    ));
                }
            }
        }
        _ => {}
    }
    f.settle();
}

fn side_name(dir: Side) -> &'static str {
    match dir {
        Side::Client => "client",
        Side::Server => "server",
    }
}

fn first_frame(s: Option<&Seen>) -> String {
    s.and_then(|s| s.frames.first())
        .map_or_else(|| "not captured".into(), u64::to_string)
}
