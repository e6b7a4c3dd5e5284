//! One file (or interface) holding two legs of a device, as a stream: a
//! forwarded connection appears once per leg, with NAT changing its
//! addresses but not its initial sequence numbers. `analyze` compares
//! the legs as two views, which needs the whole file read twice; a stream
//! cannot be, so once `watch` sees a connection's first SYN again on
//! another leg, it reads the leg where it saw it first and sets the other
//! aside from then on, saying so. Each event is then counted once, as a
//! one-view reading of that leg sees it. Folding connection by connection
//! instead would split a session from its data connections: an active
//! data connection's SYN is seen first on the server's leg.

use crate::capture::Frame;
use crate::capture::legs::{self, Leg};
use std::collections::HashMap;

/// Initial sequence numbers remembered (all forgotten in one go past
/// this: before the two legs are known, a capture whose legs share none
/// by then is not of two legs of the same traffic; after, only the count
/// of copies set aside can miss some).
pub const MAX_ISNS: usize = 65_536;

/// What the fold has set aside so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Folded {
    /// Connections both legs carry (the same first SYN's initial
    /// sequence number on each), counted once.
    pub connections: u64,
    /// Frames of the leg set aside, not read.
    pub frames: u64,
}

/// The first copy recognised: which leg is read and which is set aside.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FirstCopy {
    pub kept: String,
    pub folded: String,
    pub frame: u64,
}

/// Finds two legs carrying the same connections, by the initial sequence
/// numbers of their first SYNs, and sets the later one aside.
#[derive(Default)]
pub struct Fold {
    /// The leg where each initial sequence number was first seen.
    isns: HashMap<u32, Leg>,
    /// The leg read and the leg set aside, once known.
    pinned: Option<(Leg, Leg)>,
    pub folded: Folded,
}

impl Fold {
    /// Whether `f` is on the leg set aside (the caller does not read it);
    /// `Some` when this frame made the two legs known.
    pub fn look(&mut self, f: &Frame<'_>) -> (bool, Option<FirstCopy>) {
        let leg = legs::of(f);
        let aside = self.pinned.is_some_and(|(_, a)| a == leg);
        let syn = match crate::decode::decode(f.linktype, f.data, 0) {
            Ok(seg) if seg.flags.syn() && !seg.flags.ack() => Some(seg.seq),
            _ => None,
        };
        let copy_of = syn.and_then(|isn| self.isns.get(&isn).copied().filter(|&l| l != leg));
        // Each connection the two legs share is counted once, whichever
        // leg showed its SYN first.
        self.folded.connections += u64::from(copy_of.is_some());
        if let (Some(isn), None) = (syn, copy_of) {
            if self.isns.len() >= MAX_ISNS {
                self.isns.clear();
            }
            self.isns.entry(isn).or_insert(leg);
        }
        if aside {
            self.folded.frames += 1;
            return (true, None);
        }
        if let (None, Some(kept)) = (self.pinned, copy_of) {
            self.pinned = Some((kept, leg));
            self.folded.frames += 1;
            let first = FirstCopy {
                kept: legs::unnamed(&kept),
                folded: legs::unnamed(&leg),
                frame: f.number,
            };
            return (true, Some(first));
        }
        (false, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An Ethernet + IPv4 + TCP frame with one VLAN tag.
    fn frame(vlan: u16, src: [u8; 4], dst: [u8; 4], sport: u16, seq: u32, flags: u8) -> Vec<u8> {
        let mut v = vec![0u8; 12];
        v.extend_from_slice(&[0x81, 0x00]);
        v.extend_from_slice(&vlan.to_be_bytes());
        v.extend_from_slice(&[0x08, 0x00]);
        let mut ip = vec![0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0];
        ip.extend_from_slice(&src);
        ip.extend_from_slice(&dst);
        v.extend_from_slice(&ip);
        v.extend_from_slice(&sport.to_be_bytes());
        v.extend_from_slice(&21u16.to_be_bytes());
        v.extend_from_slice(&seq.to_be_bytes());
        v.extend_from_slice(&[0, 0, 0, 0, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
        v
    }

    fn look(fold: &mut Fold, number: u64, data: &[u8]) -> (bool, Option<FirstCopy>) {
        let f = Frame {
            number,
            ts: crate::timestamp::Timestamp::default(),
            linktype: 1,
            data,
            orig_len: data.len() as u32,
            interface: 0,
            outside_view: false,
            point: None,
        };
        fold.look(&f)
    }

    #[test]
    fn the_leg_that_shows_a_connection_again_is_set_aside() {
        let mut fold = Fold::default();
        let client = frame(10, [192, 0, 2, 7], [203, 0, 113, 10], 5000, 777, 0x02);
        let nat = frame(20, [198, 51, 100, 1], [203, 0, 113, 10], 6000, 777, 0x02);
        let later = frame(20, [198, 51, 100, 1], [203, 0, 113, 10], 6000, 778, 0x10);
        let kept = frame(10, [192, 0, 2, 7], [203, 0, 113, 10], 5000, 778, 0x10);
        // A data connection the server opens: first on the server's leg.
        let data = frame(20, [203, 0, 113, 10], [198, 51, 100, 1], 20, 900, 0x02);
        assert_eq!(look(&mut fold, 1, &client), (false, None));
        let (aside, first) = look(&mut fold, 2, &nat);
        assert!(aside);
        assert_eq!(
            first,
            Some(FirstCopy {
                kept: "VLAN 10".into(),
                folded: "VLAN 20".into(),
                frame: 2
            })
        );
        assert_eq!(look(&mut fold, 3, &later), (true, None));
        assert_eq!(look(&mut fold, 4, &kept), (false, None));
        assert_eq!(look(&mut fold, 5, &data), (true, None));
        assert_eq!(
            fold.folded,
            Folded {
                connections: 1,
                frames: 3
            }
        );
    }

    #[test]
    fn a_retransmitted_syn_on_its_own_leg_is_no_copy() {
        let mut fold = Fold::default();
        let syn = frame(10, [192, 0, 2, 7], [203, 0, 113, 10], 5000, 777, 0x02);
        assert_eq!(look(&mut fold, 1, &syn), (false, None));
        assert_eq!(look(&mut fold, 2, &syn), (false, None));
        assert_eq!(fold.folded, Folded::default());
    }
}
