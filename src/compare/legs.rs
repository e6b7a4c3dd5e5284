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

use crate::capture::input::HashMode;
use crate::capture::legs::{self, Leg};
use crate::capture::{CaptureError, CaptureReader, Source};
use std::collections::{BTreeMap, HashSet};

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

/// Two legs of one file that carry the same TCP connections.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LegPair {
    /// In the order of the file's legs (the first is read as the first
    /// capture; which one is the client's side is inferred as `compare`
    /// infers it).
    pub legs: [Leg; 2],
    pub names: [String; 2],
    /// Connections whose initial sequence numbers both legs show.
    pub shared_isns: usize,
    /// Data segments (sequence number and payload) both legs show.
    pub shared_segments: usize,
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

/// What one leg showed.
#[derive(Default)]
struct Prints {
    isns: HashSet<u32>,
    segments: HashSet<(u32, u64)>,
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
    Ok(
        best(&prints).map(|(legs, shared_isns, shared_segments)| LegPair {
            names: legs.map(|l| reader.leg(&l).name),
            legs,
            probe_cut,
            shared_isns,
            shared_segments,
            other_legs: prints.len() - 2,
        }),
    )
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
            // A connection's first SYN: one per connection (its answer's
            // ISN would count each connection twice).
            if seg.flags.syn() && !seg.flags.ack() {
                if p.isns.len() < MAX_ISNS_PER_LEG {
                    p.isns.insert(seg.seq);
                }
            } else if !seg.flags.syn()
                && !seg.payload.is_empty()
                && p.segments.len() < MAX_SEGMENTS_PER_LEG
            {
                p.segments
                    .insert((seg.seq, self.hasher.hash_one(seg.payload)));
            }
        }
        f.number < until
    }
}

/// The pair of legs sharing the most initial sequence numbers, then the
/// most data segments; None when no two legs share anything.
fn best(prints: &BTreeMap<Leg, Prints>) -> Option<([Leg; 2], usize, usize)> {
    let legs: Vec<(&Leg, &Prints)> = prints.iter().collect();
    let mut best: Option<([Leg; 2], usize, usize)> = None;
    for (i, (la, a)) in legs.iter().enumerate() {
        for (lb, b) in &legs[i + 1..] {
            let isns = a.isns.intersection(&b.isns).count();
            let segments = a.segments.intersection(&b.segments).count();
            if isns == 0 && segments < MIN_SHARED_SEGMENTS {
                continue;
            }
            if best.is_none_or(|(_, bi, bs)| (isns, segments) > (bi, bs)) {
                best = Some(([**la, **lb], isns, segments));
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

    fn prints(isns: &[u32], segments: &[(u32, u64)]) -> Prints {
        Prints {
            isns: isns.iter().copied().collect(),
            segments: segments.iter().copied().collect(),
        }
    }

    #[test]
    fn the_legs_sharing_most_handshakes_are_the_pair() {
        let mut p = BTreeMap::new();
        p.insert(leg(1), prints(&[7], &[]));
        p.insert(leg(2), prints(&[10, 20], &[]));
        p.insert(leg(3), prints(&[10, 20, 7], &[]));
        assert_eq!(best(&p), Some(([leg(2), leg(3)], 2, 0)));
    }

    #[test]
    fn without_handshakes_two_shared_segments_are_needed() {
        let mut p = BTreeMap::new();
        p.insert(leg(1), prints(&[], &[(100, 1)]));
        p.insert(leg(2), prints(&[], &[(100, 1)]));
        assert_eq!(best(&p), None);
        p.insert(leg(1), prints(&[], &[(100, 1), (200, 2)]));
        p.insert(leg(2), prints(&[], &[(100, 1), (200, 2)]));
        assert_eq!(best(&p), Some(([leg(1), leg(2)], 0, 2)));
    }

    #[test]
    fn legs_sharing_nothing_are_no_pair() {
        let mut p = BTreeMap::new();
        p.insert(leg(1), prints(&[1], &[(5, 5)]));
        p.insert(leg(2), prints(&[2], &[(6, 6)]));
        assert_eq!(best(&p), None);
    }
}
