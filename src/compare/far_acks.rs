//! Two legs that each carry one direction ([`super::legs::Carry::OneWay`]):
//! what the far end's ACKs prove.
//!
//! Neither leg shows a line after the device, so no line can be compared
//! byte for byte. But the far end acknowledges what it received: where
//! its ACKs (on the other leg) point past or short of where the sender's
//! segments (on this leg) end, the device changed the size of the stream
//! there — by exactly that many bytes, in the bytes since the last ACK
//! that still agreed. A NAT ALG rewriting the address of a PORT, EPRT or
//! 227 to one of another length does that; a same-length rewrite (227 →
//! 22_) moves no ACK, and shows only where the far end acts on it (the
//! server's data connection to another port), which the stitched view's
//! own rules read as announced against connected.
//!
//! The same reading gives the stitched view its mapping
//! ([`crate::engine::stitch::Stitch`]): the other leg's endpoints named
//! as the client's leg names them, connection by connection, and each
//! ACK mapped into its sender's sequence numbers as the device maps it.

use super::legs::{Carry, LegPair};
use crate::analysis::MoreFindings;
use crate::capture::input::HashMode;
use crate::capture::legs;
use crate::capture::{CaptureError, CaptureReader, Source};
use crate::engine::stitch::{AckShift, Stitch};
use crate::ftp::address::{AddrKind, Endpoint};
use crate::ftp::line::Line;
use crate::ftp::session::Session;
use crate::reassembly::connection::Side;
use crate::rules::attribution::{Actor, ProofKind};
use crate::rules::{Finding, Rule, Severity};
use std::collections::HashMap;
use std::net::SocketAddr;

/// Directed flows tracked per leg: past it a flow's handshake is not
/// noted, so its connection is read unmapped (and counted).
pub const MAX_FLOWS_PER_LEG: usize = 65_536;

/// Data segments and ACK values kept per control connection direction:
/// the first ones are judged, and a cut is said.
pub const MAX_LOG: usize = 4_096;

type Key = (SocketAddr, SocketAddr);

/// What one leg showed of one direction of one connection.
#[derive(Default)]
struct FlowLog {
    /// A first SYN's initial sequence number.
    syn: Option<u32>,
    /// A SYN-ACK's (own ISN, ACK).
    syn_ack: Option<(u32, u32)>,
    /// Data segments and FINs (sequence number, length, frame) of a
    /// control connection.
    sent: Vec<(u32, u32, u64)>,
    /// ACK values (each new one once, with its first frame) of a control
    /// connection.
    acks: Vec<(u32, u64)>,
    /// Whether `sent` or `acks` reached [`MAX_LOG`].
    cut: bool,
}

/// The options that read a file whose legs `pair` each carry one
/// direction as one view stitched from both, each leg held against the
/// far end's ACKs on the other; None where it cannot be: not for
/// `--anonymize-ips` (the ACKs' findings name addresses before they are
/// mapped), a file that cannot be read again, or legs that carry both
/// directions (those are compared).
pub fn stitched(
    source: &Source,
    pair: &LegPair,
    opts: &crate::analysis::Options,
) -> Option<crate::analysis::Options> {
    if opts.engine.anonymize_key.is_some() || pair.carry != Carry::OneWay {
        return None;
    }
    let mut control = vec![21];
    control.extend(&opts.engine.ports);
    let one_way = std::sync::Arc::new(read(source.again()?, pair, &control).ok()?);
    let mut o = opts.clone();
    o.engine.stitch = Some(std::sync::Arc::new(one_way.stitch.clone()));
    o.more = Some(one_way);
    Some(o)
}

/// A data segment, by stream offsets (0 = the first byte after the SYN).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sent {
    pub start: u64,
    pub end: u64,
    pub frame: u64,
}

/// An ACK as a stream offset of the acknowledged sender, with its frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Acked {
    pub at: u64,
    pub frame: u64,
}

/// Where the far end's ACKs stop agreeing with the near leg's segments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SizeStep {
    /// The segments the change lies in (indices into the contiguous
    /// segments [`contiguous`] keeps): sent after the last ACK that
    /// agreed, up to the one whose end the step's ACK points at.
    pub first: usize,
    pub last: usize,
    /// Bytes the far end acknowledges more (+) or fewer (−) than the near
    /// leg shows sent, this step's own change.
    pub by: i64,
    /// What the far end's ACKs were off by before this step (the sum of
    /// the steps before it).
    pub before: i64,
    /// The far end's ACK that shows it.
    pub ack_frame: u64,
    /// The first ACK value (offset as the far end counts) it applies
    /// from: one past the last ACK that agreed.
    pub from: u64,
    /// A later ACK that agrees exactly with the new size, if any.
    pub confirmed: Option<u64>,
}

/// The sender's segments as offsets, retransmissions and overlaps left
/// out, up to the first hole: past a hole this leg did not see what was
/// sent, so no ACK beyond it can be judged.
pub fn contiguous(mut sent: Vec<Sent>) -> Vec<Sent> {
    sent.sort_by_key(|s| (s.start, s.frame));
    let mut out: Vec<Sent> = Vec::new();
    let mut covered = 0;
    for s in sent {
        if s.start > covered {
            break;
        }
        if s.end > covered {
            out.push(Sent {
                start: covered,
                ..s
            });
            covered = s.end;
        }
    }
    out
}

/// The size steps the far end's ACKs show against the near leg's
/// segments (`sent` from [`contiguous`], `acks` in the order captured).
/// An ACK that agrees (points at a segment's end, after the steps so
/// far) moves nothing; one that does not is a step at the unacknowledged
/// segment whose end it is nearest. Judging stops at an ACK past every
/// byte the near leg shows sent (what it acknowledges, this leg may not
/// have seen: so a change in the last segment the leg shows is not
/// claimed).
pub fn size_steps(sent: &[Sent], acks: &[Acked]) -> Vec<SizeStep> {
    let mut steps: Vec<SizeStep> = Vec::new();
    let mut d: i64 = 0;
    let mut last_end: u64 = 0;
    let mut last_at: u64 = 0;
    for a in acks {
        if a.at <= last_at {
            continue;
        }
        last_at = a.at;
        let near = a.at as i64 - d;
        if let Some(k) = sent.iter().position(|s| s.end as i64 == near) {
            last_end = last_end.max(sent[k].end);
            if let Some(st) = steps.last_mut()
                && st.confirmed.is_none()
            {
                st.confirmed = Some(a.frame);
            }
            continue;
        }
        // Past every byte this leg shows sent, the ACK may cover a
        // segment the tap missed (a hole, or the stream's last segment
        // lost): what it acknowledges cannot be judged.
        if sent.last().is_none_or(|s| near > s.end as i64) {
            break;
        }
        let Some(first) = sent.iter().position(|s| s.end > last_end) else {
            break;
        };
        let Some(k) = (first..sent.len()).min_by_key(|&k| (sent[k].end as i64 - near).abs()) else {
            break;
        };
        let by = near - sent[k].end as i64;
        steps.push(SizeStep {
            first,
            last: k,
            by,
            before: d,
            ack_frame: a.frame,
            from: (last_end as i64 + d + 1).max(0) as u64,
            confirmed: None,
        });
        d += by;
        last_end = sent[k].end;
    }
    steps
}

/// The ACK mapping of the stitched view: each step's amount, cumulated,
/// from the first far-end ACK value it applies to.
pub fn shift(base: u32, steps: &[SizeStep]) -> AckShift {
    let mut total = 0;
    AckShift {
        base,
        steps: steps
            .iter()
            .map(|s| {
                total += s.by;
                (s.from, total)
            })
            .collect(),
    }
}

/// One direction of a control connection judged across the legs.
#[derive(Debug)]
struct Judged {
    /// The control connection as the client's leg names it.
    client: SocketAddr,
    server: SocketAddr,
    /// Whose bytes (sent on the near leg).
    dir: Side,
    /// The frames of the near leg's segments ([`contiguous`]), by index.
    frames: Vec<u64>,
    steps: Vec<SizeStep>,
    /// The sender's address on the far leg (an ALG writes it into the
    /// line).
    far_name: SocketAddr,
    /// The leg names: near, far.
    legs: [String; 2],
    cut: bool,
}

/// Legs of one direction each, read: the stitched view's mapping, what
/// the far end's ACKs show, and the sentence every report gives.
#[derive(Debug)]
pub struct OneWay {
    pub stitch: Stitch,
    judged: Vec<Judged>,
    /// How the file was read.
    pub sentence: String,
}

impl MoreFindings for OneWay {
    fn findings(&self, s: &Session) -> Vec<Finding> {
        self.judged
            .iter()
            .filter(|j| j.client == s.client && j.server == s.server)
            .flat_map(|j| j.steps.iter().filter_map(move |st| finding(s, j, st)))
            .collect()
    }

    fn reading(&self) -> String {
        self.sentence.clone()
    }
}

/// Reads the legs of `pair` (of one direction each) whole and matches
/// their connections: a first SYN on one leg, the SYN-ACK acknowledging
/// it on the other. `control`: the control ports (21 and the configured
/// ones), whose connections are judged.
pub fn read(source: Source, pair: &LegPair, control: &[u16]) -> Result<OneWay, CaptureError> {
    debug_assert_eq!(pair.carry, Carry::OneWay);
    let mut reader = CaptureReader::open_source(source, HashMode::Off)?;
    let mut flows: [HashMap<Key, FlowLog>; 2] = [HashMap::new(), HashMap::new()];
    let mut flows_cut = [false; 2];
    let is_control = |k: &Key| control.contains(&k.0.port()) || control.contains(&k.1.port());
    // A file cut short is judged as far as it was read; the analysis
    // reports the error.
    let _ = reader.for_each(&mut |f| {
        let Some(i) = pair.legs.iter().position(|l| *l == legs::of(f)) else {
            return;
        };
        let missing = f.orig_len.saturating_sub(f.data.len() as u32);
        let Ok(seg) = crate::decode::decode(f.linktype, f.data, missing) else {
            return;
        };
        let key = (
            SocketAddr::new(seg.src, seg.sport),
            SocketAddr::new(seg.dst, seg.dport),
        );
        if flows[i].len() >= MAX_FLOWS_PER_LEG && !flows[i].contains_key(&key) {
            flows_cut[i] = true;
            return;
        }
        let log = flows[i].entry(key).or_default();
        if seg.flags.syn() {
            if seg.flags.ack() {
                log.syn_ack.get_or_insert((seg.seq, seg.ack));
            } else {
                log.syn.get_or_insert(seg.seq);
            }
            return;
        }
        if !is_control(&key) {
            return;
        }
        // A FIN takes a sequence number: the far end acknowledges it.
        let len = seg.payload.len() as u32 + seg.missing + u32::from(seg.flags.fin());
        if len > 0 {
            if log.sent.len() < MAX_LOG {
                log.sent.push((seg.seq, len, f.number));
            } else {
                log.cut = true;
            }
        }
        if seg.flags.ack() && log.acks.last().is_none_or(|(a, _)| *a != seg.ack) {
            if log.acks.len() < MAX_LOG {
                log.acks.push((seg.ack, f.number));
            } else {
                log.cut = true;
            }
        }
    });
    let conns = connections(&flows);
    // The client's leg: where a control connection was opened.
    let client = conns
        .iter()
        .find(|c| control.contains(&c.keys[c.opener].1.port()))
        .map_or(0, |c| c.opener);
    let server = 1 - client;
    let mut stitch = Stitch {
        leg: Some(pair.legs[server]),
        ..Stitch::default()
    };
    let mut judged = Vec::new();
    for c in &conns {
        let (kc, ks) = (c.keys[client], c.keys[server]);
        stitch.endpoints.insert(ks, (kc.1, kc.0));
        for near in [client, server] {
            let far = 1 - near;
            let (Some(nl), Some(fl)) =
                (flows[near].get(&c.keys[near]), flows[far].get(&c.keys[far]))
            else {
                continue;
            };
            let base = c.bases[near];
            let off = |x: u32| u64::from(x.wrapping_sub(base));
            let sent = contiguous(
                nl.sent
                    .iter()
                    .filter(|(seq, _, _)| off(*seq) < 1 << 31)
                    .map(|&(seq, len, frame)| Sent {
                        start: off(seq),
                        end: off(seq) + u64::from(len),
                        frame,
                    })
                    .collect(),
            );
            let acks: Vec<Acked> = fl
                .acks
                .iter()
                .filter(|(a, _)| off(*a) < 1 << 31)
                .map(|&(a, frame)| Acked { at: off(a), frame })
                .collect();
            let steps = size_steps(&sent, &acks);
            if steps.is_empty() {
                continue;
            }
            // The ACKs acknowledging the near side's bytes, as the
            // stitched view names their connection.
            let acks_key = if near == client { (kc.1, kc.0) } else { kc };
            stitch.acks.insert(acks_key, shift(base, &steps));
            // The control connection's client opened it on its leg.
            if c.opener == client && control.contains(&kc.1.port()) {
                let (dir, far_name) = if near == client {
                    (Side::Client, ks.1)
                } else {
                    (Side::Server, kc.1)
                };
                judged.push(Judged {
                    client: kc.0,
                    server: kc.1,
                    dir,
                    frames: sent.iter().map(|s| s.frame).collect(),
                    steps,
                    far_name,
                    legs: [pair.names[near].clone(), pair.names[far].clone()],
                    cut: nl.cut || fl.cut,
                });
            }
        }
    }
    let frames = pair.legs.map(|l| reader.leg(&l).frames);
    let mut sentence = pair.one_way_sentence(frames, client);
    if flows_cut.contains(&true) {
        sentence.push_str(&format!(
            "; past the first {MAX_FLOWS_PER_LEG} TCP flows of a leg, further connections are read as that leg shows them (not mapped)"
        ));
    }
    Ok(OneWay {
        stitch,
        judged,
        sentence,
    })
}

/// One connection seen across the legs: the flow each leg shows (leg 0's
/// and leg 1's, opposite directions), the leg its SYN is on, and the
/// offset base (ISN + 1) of each flow's sender.
struct Conn {
    keys: [Key; 2],
    opener: usize,
    bases: [u32; 2],
}

/// The connections whose first SYN one leg shows and whose SYN-ACK,
/// acknowledging it, the other; in a fixed order.
fn connections(flows: &[HashMap<Key, FlowLog>; 2]) -> Vec<Conn> {
    let mut out = Vec::new();
    for opener in [0, 1] {
        let other = 1 - opener;
        let answers: HashMap<u32, (Key, u32)> = flows[other]
            .iter()
            .filter_map(|(k, l)| l.syn_ack.map(|(isn, ack)| (ack.wrapping_sub(1), (*k, isn))))
            .collect();
        for (k, l) in &flows[opener] {
            let Some(isn) = l.syn else { continue };
            let Some((ka, their)) = answers.get(&isn) else {
                continue;
            };
            let mut keys = [*k, *ka];
            let mut bases = [isn.wrapping_add(1), their.wrapping_add(1)];
            if opener == 1 {
                keys.swap(0, 1);
                bases.swap(0, 1);
            }
            out.push(Conn {
                keys,
                opener,
                bases,
            });
        }
    }
    out.sort_by_key(|c| c.keys);
    out
}

/// The last line of `s` in direction `dir` carried by `frame`.
fn line_in(s: &Session, dir: Side, frame: u64) -> Option<&Line> {
    let has = |l: &&Line| l.frames().contains(&frame);
    match dir {
        Side::Client => s.commands.iter().map(|c| &c.line).rfind(has),
        Side::Server => s.replies.iter().flat_map(|r| &r.lines).rfind(has),
    }
}

/// How many bytes longer an address line of the form `kind` announcing
/// `ep` gets when its address is rewritten to `to`; None when the form
/// cannot carry `to` (or names no address: 229).
pub fn alg_change(kind: AddrKind, ep: Endpoint, to: std::net::IpAddr) -> Option<i64> {
    if matches!(kind, AddrKind::Epsv) {
        return None;
    }
    let before = kind.emit(ep)?.len() as i64;
    let after = kind
        .emit(Endpoint {
            ip: to,
            port: ep.port,
        })?
        .len() as i64;
    Some(after - before)
}

/// Where an ACK stands against a segment's end, `by` bytes past it.
fn reach(by: i64) -> String {
    match by {
        0 => "exactly at".into(),
        b if b < 0 => format!("{} byte(s) short of", b.unsigned_abs()),
        b => format!("{b} byte(s) past"),
    }
}

/// The finding for one size step in session `s`, when the stitched view
/// holds the line it is at.
fn finding(s: &Session, j: &Judged, st: &SizeStep) -> Option<Finding> {
    let last_frame = *j.frames.get(st.last)?;
    let first_frame = *j.frames.get(st.first)?;
    let (near, far) = (
        format!("leg {}", crate::escape::escape_str(&j.legs[0])),
        format!("leg {}", crate::escape::escape_str(&j.legs[1])),
    );
    let (sender, receiver) = match j.dir {
        Side::Client => ("client", "server"),
        Side::Server => ("server", "client"),
    };
    // The lines in the segments the step lies in; an address line among
    // them whose address, rewritten to the sender's address on the far
    // leg, changes length by exactly the step explains it.
    let lines: Vec<(u64, &Line)> = j.frames[st.first..=st.last]
        .iter()
        .filter_map(|&fr| line_in(s, j.dir, fr).map(|l| (fr, l)))
        .collect();
    let alg = lines.iter().find_map(|&(fr, l)| {
        let a = crate::rules::rewrite::parse_address(j.dir, &l.bytes.0)?;
        let ep = a.strict?;
        (ep.ip != j.far_name.ip() && alg_change(a.kind, ep, j.far_name.ip()) == Some(st.by))
            .then_some((fr, l, ep))
    });
    let (line_frame, line) = match alg {
        Some((fr, l, _)) => (fr, l),
        None => *lines.last()?,
    };
    let text = crate::rules::q(&line.bytes.0);
    let span = if st.first == st.last {
        format!("`{text}` (frame {last_frame} on {near})")
    } else {
        format!(
            "the {} segments from frame {first_frame} to frame {last_frame} on {near} (no ACK of the far end between them is in the capture), among them `{text}` (frame {line_frame})",
            st.last - st.first + 1
        )
    };
    let alg = alg.map(|(_, _, ep)| ep);
    let (bigger, n) = (
        if st.by > 0 { "longer" } else { "shorter" },
        st.by.unsigned_abs(),
    );
    let explained = match alg {
        Some(ep) => format!(
            "This is consistent with a NAT ALG rewriting the address {} in it to {}, the {sender}'s address on {far}, which is {n} byte(s) {bigger} — consistent, not proven: neither leg shows the line after the device.",
            ep.ip,
            j.far_name.ip(),
        ),
        None => {
            "Nothing the legs show explains it (neither shows the line after the device).".into()
        }
    };
    let whose = if st.first == st.last {
        "that segment's end"
    } else {
        "the last one's end"
    };
    let before = match st.before {
        0 => String::new(),
        b => format!(", where the ACKs before it were {} theirs", reach(b)),
    };
    let confirmed = match st.confirmed {
        Some(f) => {
            format!(" The {receiver}'s next ACK (frame {f} on {far}) agrees with the new size.")
        }
        None => format!(" No later ACK of the {receiver} on {far} confirms it."),
    };
    let cut = if j.cut {
        format!(" Judged on the first {MAX_LOG} segments and ACKs of the connection.")
    } else {
        String::new()
    };
    let msg = format!(
        "the {receiver}'s ACKs on {far} {} {n} byte(s){} {} the {sender}'s stream as {near} shows it sent, at {span}: the ACK in frame {} on {far} is {} {whose}{before}. The device between the legs made the stream {n} byte(s) {bigger} there (the sequence offset across it stepped by {:+}). {explained}{confirmed}{cut}",
        if st.by > 0 { "run" } else { "fall" },
        if st.before != 0 { " further" } else { "" },
        if st.by > 0 { "ahead of" } else { "behind" },
        st.ack_frame,
        reach(st.before + st.by),
        st.by,
    );
    let severity = if alg.is_some() {
        Severity::Info
    } else {
        Severity::Warning
    };
    let mut frames = vec![line_frame, last_frame, st.ack_frame];
    frames.extend(st.confirmed);
    let mut f = Finding::new(Rule::SeqOffsetStep, severity, s, msg)
        .by(
            Actor::Path,
            ProofKind::TwoLegs,
            format!(
                "the {sender}'s sequence numbers on {near} (frame {line_frame}) against the {receiver}'s ACKs on {far} (frame {})",
                st.ack_frame
            ),
        )
        .evidence(&format!("as sent, on {near}"), vec![line_frame], line.bytes.clone())
        .about(j.dir, line);
    f.frames = frames;
    f.normalise();
    f.settle();
    f.stamp(s);
    Some(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(ranges: &[(u64, u64, u64)]) -> Vec<Sent> {
        ranges
            .iter()
            .map(|&(start, end, frame)| Sent { start, end, frame })
            .collect()
    }

    fn acks(at: &[(u64, u64)]) -> Vec<Acked> {
        at.iter().map(|&(at, frame)| Acked { at, frame }).collect()
    }

    #[test]
    fn retransmissions_are_left_out_and_a_hole_ends_the_stream() {
        let s = contiguous(sent(&[(0, 16, 8), (16, 24, 11), (0, 16, 9), (30, 40, 12)]));
        assert_eq!(s, sent(&[(0, 16, 8), (16, 24, 11)]));
    }

    /// lab-fw1-alg-span1.pcap: PORT (frame 13) and EPRT (frame 27) each
    /// made 2 bytes shorter by the NAT helper.
    #[test]
    fn acks_short_of_a_segment_end_are_a_step_at_it() {
        let s = sent(&[
            (0, 16, 8),
            (16, 24, 11),
            (24, 52, 13),
            (52, 68, 15),
            (68, 98, 27),
            (98, 114, 29),
        ]);
        let a = acks(&[(16, 9), (24, 12), (50, 14), (66, 19), (94, 28), (110, 33)]);
        let steps = size_steps(&s, &a);
        assert_eq!(
            steps,
            vec![
                SizeStep {
                    first: 2,
                    last: 2,
                    by: -2,
                    before: 0,
                    ack_frame: 14,
                    from: 25,
                    confirmed: Some(19)
                },
                SizeStep {
                    first: 4,
                    last: 4,
                    by: -2,
                    before: -2,
                    ack_frame: 28,
                    from: 67,
                    confirmed: Some(33)
                },
            ]
        );
        let sh = shift(1000, &steps);
        assert_eq!(sh.steps, vec![(25, -2), (67, -4)]);
        assert_eq!(sh.map(1000 + 50), 1000 + 52);
        assert_eq!(sh.map(1000 + 110), 1000 + 114);
    }

    #[test]
    fn acks_that_agree_are_no_step() {
        let s = sent(&[(0, 16, 8), (16, 24, 11)]);
        assert!(size_steps(&s, &acks(&[(16, 9), (24, 12)])).is_empty());
    }

    #[test]
    fn an_ack_past_what_the_leg_shows_sent_is_not_judged() {
        let s = sent(&[(0, 16, 8)]);
        assert!(size_steps(&s, &acks(&[(16, 9), (40, 12)])).is_empty());
    }

    /// A segment the near leg missed (the 226 reply, frame 25 of
    /// lab-fw1-alg-span1.pcap): the far end's ACK past it is no step.
    #[test]
    fn an_ack_past_a_segment_the_leg_missed_is_no_step() {
        let s = contiguous(sent(&[
            (0, 27, 6),
            (81, 132, 14),
            (27, 81, 10),
            (132, 199, 19),
            (223, 247, 28),
        ]));
        assert_eq!(s.len(), 4);
        assert!(size_steps(&s, &acks(&[(27, 7), (81, 11), (132, 15), (223, 26)])).is_empty());
    }

    #[test]
    fn a_lost_ack_puts_the_step_somewhere_in_the_segments_since() {
        let s = sent(&[(0, 16, 8), (16, 44, 13), (44, 60, 15)]);
        let steps = size_steps(&s, &acks(&[(16, 9), (59, 19)]));
        assert_eq!(steps.len(), 1);
        assert_eq!((steps[0].first, steps[0].last, steps[0].by), (1, 2, -1));
    }

    #[test]
    fn an_address_rewritten_to_a_shorter_one_shortens_the_line() {
        let ep = Endpoint {
            ip: [198, 51, 100, 60].into(),
            port: 32227,
        };
        let to = [203, 0, 113, 1].into();
        assert_eq!(alg_change(AddrKind::Port, ep, to), Some(-2));
        assert_eq!(alg_change(AddrKind::Eprt, ep, to), Some(-2));
        // The case: EPRT's 10.9.50.1 rewritten to 172.27.0.2, one
        // byte longer.
        let inside = Endpoint {
            ip: [10, 9, 50, 1].into(),
            port: 50000,
        };
        assert_eq!(
            alg_change(AddrKind::Eprt, inside, [172, 27, 0, 2].into()),
            Some(1)
        );
        assert_eq!(
            alg_change(AddrKind::Epsv, inside, [172, 27, 0, 2].into()),
            None
        );
    }
}
