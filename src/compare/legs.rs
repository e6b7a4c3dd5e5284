//! Two taps in one file: which legs of a capture taken on a device carry
//! copies of the same TCP connections.
//!
//! A device forwards a packet from one leg to the other; NAT changes its
//! addresses and ports, an ALG its payload and later sequence numbers, but
//! the initial sequence numbers of the connection (and most segments'
//! sequence numbers and payload) cross unchanged. Two legs that share
//! them are two views of the same traffic, and are compared as two
//! captures would be — each view read alone, so the order in which the
//! file stores the legs (dumpcap writes them in runs) changes nothing.
//!
//! A mirror that copies only what each host sends (ingress-only port
//! mirroring) gives legs that each carry one direction: no segment is on
//! both, but one leg's SYN (ISN x) is answered on the other by a SYN-ACK
//! acknowledging x+1, and one leg's data ends where the other leg's ACKs
//! point. Such legs are read as one view stitched from both
//! ([`super::far_acks`]).

use crate::capture::input::HashMode;
use crate::capture::legs::{self, Leg};
use crate::capture::{CaptureError, CaptureReader, Source};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;

/// Frames looked at: a file whose legs share nothing by then is analysed
/// as one capture, so an ordinary capture costs `analyze` this much
/// reading more, not a second pass over the whole file.
pub const PROBE_FRAMES: u64 = 200_000;

/// Frames after which a file of one interface that shows one leg only is
/// taken for a capture of one place.
pub const EARLY_FRAMES: u64 = 1_000;

/// Initial sequence numbers kept per leg (the first ones decide).
pub const MAX_ISNS_PER_LEG: usize = 65_536;

/// Data segments (sequence number and payload) kept per leg, for files
/// whose legs share no handshake: the first ones decide.
pub const MAX_SEGMENTS_PER_LEG: usize = 4_096;

/// What each leg of a pair carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Carry {
    /// Both directions of every connection: two views of the same
    /// packets, compared as two captures.
    Both,
    /// One direction each: what one side sends on one leg, what the other
    /// side sends on the other; read as one stitched view.
    OneWay,
}

/// Two legs of one file that carry the same TCP connections.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LegPair {
    pub carry: Carry,
    /// In the order of the file's legs (the first is read as the first
    /// capture; which one is the client's side is inferred as `compare`
    /// infers it).
    pub legs: [Leg; 2],
    pub names: [String; 2],
    /// Connections whose initial sequence numbers both legs show.
    pub shared_isns: usize,
    /// Data segments (sequence number and payload) both legs show.
    pub shared_segments: usize,
    /// For legs of one direction each: connections whose first SYN one
    /// leg shows and whose SYN-ACK (acknowledging it) the other.
    pub answered: usize,
    /// For legs of one direction each: data segments of one leg whose
    /// end the other leg's ACKs acknowledge exactly.
    pub acked: usize,
    /// For legs of one direction each: the first connection answered
    /// across them, as each leg names its opener and its acceptor.
    pub first: Option<[(SocketAddr, SocketAddr); 2]>,
    /// Legs of the file besides these two.
    pub other_legs: usize,
    /// Whether the look ended before the end of the file (at
    /// [`PROBE_FRAMES`]): the shared counts are of the frames before.
    pub probe_cut: bool,
}

impl LegPair {
    /// The sentence every report gives: how the file was read, with
    /// `frames` (each leg's, from reading it whole) and which leg each
    /// tap is (`client_first`: the first leg is the client side).
    pub fn sentence(&self, frames: [u64; 2], client_first: bool) -> String {
        let name = |i: usize| crate::escape::escape_str(&self.names[i]);
        if self.carry == Carry::OneWay {
            return self.one_way_sentence(frames, if client_first { 0 } else { 1 });
        }
        let within = if self.probe_cut {
            format!(", in the file's first {PROBE_FRAMES} frames")
        } else {
            String::new()
        };
        let by = if self.shared_isns > 0 {
            format!(
                "the same {} TCP connection(s) (the same initial sequence numbers{within})",
                self.shared_isns
            )
        } else {
            format!(
                "copies of the same {} data segment(s) (sequence number and payload{within})",
                self.shared_segments
            )
        };
        let others = match self.other_legs {
            0 => String::new(),
            n => format!(
                "; the file's {n} other leg(s) are read by neither (analyze --one-view reads the whole file as one capture)"
            ),
        };
        let (c, s) = if client_first { (0, 1) } else { (1, 0) };
        format!(
            "one file, two legs: {} ({} frames) and {} ({} frames) carry {by}, so they are the two sides of a device, compared as two captures with frames numbered in the file: leg {} is the client side, leg {} the server side{others}",
            name(0),
            frames[0],
            name(1),
            frames[1],
            name(c),
            name(s),
        )
    }
}

impl LegPair {
    /// The sentence for legs of one direction each ([`Carry::OneWay`]),
    /// `client` the leg whose side opened the control connection.
    pub fn one_way_sentence(&self, frames: [u64; 2], client: usize) -> String {
        let name = |i: usize| crate::escape::escape_str(&self.names[i]);
        let within = if self.probe_cut {
            format!(" (in the file's first {PROBE_FRAMES} frames)")
        } else {
            String::new()
        };
        let mapping = match self.first {
            Some([(o0, a0), (o1, a1)]) => {
                let same = |x: SocketAddr, y: SocketAddr| {
                    format!("{x} on leg {} = {y} on leg {}", name(0), name(1))
                };
                format!(", e.g. {} and {}", same(o0, o1), same(a0, a1))
            }
            None => String::new(),
        };
        let others = match self.other_legs {
            0 => String::new(),
            n => format!("; the file's {n} other leg(s) are read as they are"),
        };
        format!(
            "one file, two legs that each carry one direction: {} ({} frames) and {} ({} frames) — {} TCP connection(s) opened on one leg are answered on the other (a SYN-ACK acknowledging the SYN's initial sequence number), and {} data segment(s) of one leg end exactly where the other leg's ACKs point{within}; so each leg shows what one side sent, and they are read as one view: the client's packets as leg {} shows them, the server's with their addresses mapped to that leg's names connection by connection{mapping}, and each side's segments held against the far end's ACKs on the other leg{others}",
            name(0),
            frames[0],
            name(1),
            frames[1],
            self.answered,
            self.acked,
            name(client),
        )
    }
}

/// What one leg showed.
#[derive(Default)]
struct Prints {
    /// First SYNs' initial sequence numbers, with the connection's
    /// (opener, acceptor) as this leg names them.
    isns: HashMap<u32, (SocketAddr, SocketAddr)>,
    segments: HashSet<(u32, u64)>,
    /// SYN-ACKs: the ISN they acknowledge, with (opener, acceptor) as
    /// this leg names them.
    answers: HashMap<u32, (SocketAddr, SocketAddr)>,
    /// Where data segments end (sequence number + length).
    ends: HashSet<u32>,
    /// ACK numbers.
    acks: HashSet<u32>,
}

/// Reads the capture's first frames and finds the two legs that share
/// the most connections there; None when they tell fewer than two legs
/// apart or no two share any. A file of one interface whose first
/// [`EARLY_FRAMES`] frames are all of one leg is taken for a capture of
/// one place (an ordinary capture costs `analyze` that much reading
/// more); any other is looked at up to [`PROBE_FRAMES`].
pub fn find(source: Source, hash: HashMode) -> Result<Option<LegPair>, CaptureError> {
    let mut reader = CaptureReader::open_source(source, hash)?;
    let mut probe = Probe {
        prints: BTreeMap::new(),
        last: 0,
        hasher: ahash::RandomState::with_seeds(5, 6, 7, 8),
    };
    // A file cut short still names its legs from what was read; the
    // error is the views' to report when they read it again.
    let _ = reader.for_each_while(&mut |f| probe.look(f, EARLY_FRAMES));
    let one_place = probe.prints.len() < 2 && reader.interfaces_described() <= 1;
    if !one_place && probe.last == EARLY_FRAMES {
        let _ = reader.for_each_while(&mut |f| probe.look(f, PROBE_FRAMES));
    }
    let probe_cut = probe.last == PROBE_FRAMES;
    let prints = probe.prints;
    Ok(best(&prints).map(|(legs, shares)| LegPair {
        carry: shares.carry,
        names: legs.map(|l| reader.leg(&l).name),
        legs,
        probe_cut,
        shared_isns: shares.isns,
        shared_segments: shares.segments,
        answered: shares.answered,
        acked: shares.acked,
        first: shares.first,
        other_legs: prints.len() - 2,
    }))
}

/// What the look at a file's first frames found so far.
struct Probe {
    prints: BTreeMap<Leg, Prints>,
    /// The number of the last frame looked at.
    last: u64,
    hasher: ahash::RandomState,
}

impl Probe {
    /// Notes frame `f`; false once it is frame `until`.
    fn look(&mut self, f: &crate::capture::Frame<'_>, until: u64) -> bool {
        self.last = f.number;
        let leg = legs::of(f);
        if self.prints.len() >= legs::MAX_LEGS && !self.prints.contains_key(&leg) {
            return f.number < until;
        }
        let p = self.prints.entry(leg).or_default();
        let missing = f.orig_len.saturating_sub(f.data.len() as u32);
        if let Ok(seg) = crate::decode::decode(f.linktype, f.data, missing) {
            let (src, dst) = (
                SocketAddr::new(seg.src, seg.sport),
                SocketAddr::new(seg.dst, seg.dport),
            );
            // A connection's first SYN: one per connection (its answer's
            // ISN would count each connection twice).
            if seg.flags.syn() && !seg.flags.ack() {
                if p.isns.len() < MAX_ISNS_PER_LEG {
                    p.isns.entry(seg.seq).or_insert((src, dst));
                }
            } else if seg.flags.syn() {
                if p.answers.len() < MAX_ISNS_PER_LEG {
                    p.answers
                        .entry(seg.ack.wrapping_sub(1))
                        .or_insert((dst, src));
                }
            } else {
                if !seg.payload.is_empty() && p.segments.len() < MAX_SEGMENTS_PER_LEG {
                    p.segments
                        .insert((seg.seq, self.hasher.hash_one(seg.payload)));
                    p.ends
                        .insert(seg.seq.wrapping_add(seg.payload.len() as u32));
                }
                if seg.flags.ack() && p.acks.len() < MAX_SEGMENTS_PER_LEG {
                    p.acks.insert(seg.ack);
                }
            }
        }
        f.number < until
    }
}

/// What two legs share.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Shares {
    carry: Carry,
    isns: usize,
    segments: usize,
    answered: usize,
    acked: usize,
    first: Option<[(SocketAddr, SocketAddr); 2]>,
}

impl Shares {
    /// What legs `a` and `b` share; None when nothing ties them.
    fn of(a: &Prints, b: &Prints) -> Option<Shares> {
        let isns = a.isns.keys().filter(|k| b.isns.contains_key(k)).count();
        let segments = a.segments.intersection(&b.segments).count();
        if isns > 0 || segments >= MIN_SHARED_SEGMENTS {
            return Some(Shares {
                carry: Carry::Both,
                isns,
                segments,
                answered: 0,
                acked: 0,
                first: None,
            });
        }
        let answered = |x: &Prints, y: &Prints| {
            x.isns
                .iter()
                .filter_map(|(isn, at_x)| y.answers.get(isn).map(|at_y| (*at_x, *at_y)))
                .collect::<Vec<_>>()
        };
        let (ab, ba) = (answered(a, b), answered(b, a));
        let acked = a.ends.intersection(&b.acks).count() + b.ends.intersection(&a.acks).count();
        // One ISN answered across two busy legs could be chance (each
        // leg keeps up to MAX_ISNS_PER_LEG of 2^32 values): the far end's
        // ACKs must agree with the data too.
        let answered_any = !(ab.is_empty() && ba.is_empty());
        let tied =
            acked >= MIN_SHARED_SEGMENTS && (answered_any || acked >= 2 * MIN_SHARED_SEGMENTS);
        if !tied {
            return None;
        }
        // The first connection each leg names, opener first: the smallest
        // opener address keeps the choice the same every run.
        let first = ab
            .iter()
            .map(|(x, y)| [*x, *y])
            .chain(ba.iter().map(|(x, y)| [*y, *x]))
            .min();
        Some(Shares {
            carry: Carry::OneWay,
            isns: 0,
            segments: 0,
            answered: ab.len() + ba.len(),
            acked,
            first,
        })
    }

    /// Legs of both directions first, then by what they share.
    fn rank(&self) -> (bool, usize, usize, usize, usize) {
        (
            self.carry == Carry::Both,
            self.isns,
            self.segments,
            self.answered,
            self.acked,
        )
    }
}

/// The pair of legs carrying copies of the most connections (shared
/// initial sequence numbers, then data segments), else — legs of one
/// direction each — the pair whose SYNs and data the other answers most;
/// None when no two legs share anything.
fn best(prints: &BTreeMap<Leg, Prints>) -> Option<([Leg; 2], Shares)> {
    let legs: Vec<(&Leg, &Prints)> = prints.iter().collect();
    let mut best: Option<([Leg; 2], Shares)> = None;
    for (i, (la, a)) in legs.iter().enumerate() {
        for (lb, b) in &legs[i + 1..] {
            let Some(sh) = Shares::of(a, b) else {
                continue;
            };
            if best.is_none_or(|(_, b)| sh.rank() > b.rank()) {
                best = Some(([**la, **lb], sh));
            }
        }
    }
    best
}

/// Data segments two legs must share, without a shared handshake, to be
/// taken for two views of the same traffic (one could be chance: the same
/// sequence number and payload twice is not).
const MIN_SHARED_SEGMENTS: usize = 2;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::legs::Mark;

    fn leg(i: u32) -> Leg {
        Leg {
            interface: 0,
            mark: Mark::IfIndex(i),
        }
    }

    fn at(port: u16) -> SocketAddr {
        SocketAddr::from(([192, 0, 2, 1], port))
    }

    fn prints(isns: &[u32], segments: &[(u32, u64)]) -> Prints {
        Prints {
            isns: isns.iter().map(|i| (*i, (at(1), at(21)))).collect(),
            segments: segments.iter().copied().collect(),
            ..Prints::default()
        }
    }

    fn shares(best: Option<([Leg; 2], Shares)>) -> Option<([Leg; 2], usize, usize)> {
        best.map(|(l, s)| (l, s.isns, s.segments))
    }

    #[test]
    fn the_legs_sharing_most_handshakes_are_the_pair() {
        let mut p = BTreeMap::new();
        p.insert(leg(1), prints(&[7], &[]));
        p.insert(leg(2), prints(&[10, 20], &[]));
        p.insert(leg(3), prints(&[10, 20, 7], &[]));
        assert_eq!(shares(best(&p)), Some(([leg(2), leg(3)], 2, 0)));
    }

    #[test]
    fn without_handshakes_two_shared_segments_are_needed() {
        let mut p = BTreeMap::new();
        p.insert(leg(1), prints(&[], &[(100, 1)]));
        p.insert(leg(2), prints(&[], &[(100, 1)]));
        assert_eq!(shares(best(&p)), None);
        p.insert(leg(1), prints(&[], &[(100, 1), (200, 2)]));
        p.insert(leg(2), prints(&[], &[(100, 1), (200, 2)]));
        assert_eq!(shares(best(&p)), Some(([leg(1), leg(2)], 0, 2)));
    }

    #[test]
    fn legs_sharing_nothing_are_no_pair() {
        let mut p = BTreeMap::new();
        p.insert(leg(1), prints(&[1], &[(5, 5)]));
        p.insert(leg(2), prints(&[2], &[(6, 6)]));
        assert_eq!(shares(best(&p)), None);
    }

    #[test]
    fn a_syn_answered_on_the_other_leg_makes_legs_of_one_direction() {
        let mut a = prints(&[1000], &[]);
        a.ends.extend([1029, 1050]);
        let mut b = Prints::default();
        let (opener, acceptor) = (SocketAddr::from(([198, 51, 100, 1], 40000)), at(21));
        b.answers.insert(1000, (opener, acceptor));
        // An answer alone could be chance: ACKs agreeing with the data
        // tie the legs.
        let mut p = BTreeMap::new();
        p.insert(leg(1), a);
        p.insert(leg(2), b);
        assert_eq!(shares(best(&p)), None);
        let (Some(a), Some(mut b)) = (p.remove(&leg(1)), p.remove(&leg(2))) else {
            unreachable!()
        };
        b.acks.extend([1029, 1050]);
        let mut p = BTreeMap::new();
        p.insert(leg(1), a);
        p.insert(leg(2), b);
        let (legs, sh) = best(&p).unwrap();
        assert_eq!(legs, [leg(1), leg(2)]);
        assert_eq!(sh.carry, Carry::OneWay);
        assert_eq!((sh.answered, sh.acked), (1, 2));
        assert_eq!(sh.first, Some([(at(1), at(21)), (opener, acceptor)]));
    }

    #[test]
    fn legs_of_both_directions_win_over_answers() {
        let mut a = prints(&[1000], &[]);
        a.answers.insert(2000, (at(1), at(21)));
        let mut b = prints(&[1000, 2000], &[]);
        b.answers.insert(1000, (at(1), at(21)));
        let mut p = BTreeMap::new();
        p.insert(leg(1), a);
        p.insert(leg(2), b);
        assert_eq!(best(&p).unwrap().1.carry, Carry::Both);
    }

    #[test]
    fn one_ack_agreeing_by_chance_is_no_pair() {
        let mut a = Prints::default();
        a.ends.insert(5);
        let mut b = Prints::default();
        b.acks.insert(5);
        let mut p = BTreeMap::new();
        p.insert(leg(1), a);
        p.insert(leg(2), b);
        assert_eq!(shares(best(&p)), None);
    }
}
