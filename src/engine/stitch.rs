//! One view stitched from two legs that each carry one direction.
//!
//! A mirror that copies only what each host sends (ingress-only port
//! mirroring) gives one leg with the client's packets and another with
//! the server's, each with the addresses as that side of the device saw
//! them. Read as one capture the two halves are two half-sessions; with
//! the other leg's endpoints mapped to this leg's (connection by
//! connection, as matched by their sequence numbers) they are one
//! session: commands as the client sent them, replies as the server sent
//! them. An ACK crossing the device is mapped into its sender's own
//! sequence space as the device itself maps it when it forwards it (an
//! ALG that changed a line's length adjusts the sequence numbers after
//! it), so reassembly sees the ACKs agree with the bytes it has.

use crate::capture::legs::Leg;
use crate::decode::TcpSegment;
use std::collections::HashMap;
use std::net::SocketAddr;

/// The mapping for the frames of one leg (the one whose endpoints are
/// rewritten), by connection; built by `compare` from the two legs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stitch {
    /// The leg whose segments are mapped (the other leg's are read as
    /// they are).
    pub leg: Option<Leg>,
    /// (source, destination) on the mapped leg → as the other leg names
    /// the same endpoints.
    pub endpoints: HashMap<(SocketAddr, SocketAddr), (SocketAddr, SocketAddr)>,
    /// (source, destination) as read (after the endpoint mapping) → what
    /// to subtract from its ACK numbers, from which acknowledged byte on.
    pub acks: HashMap<(SocketAddr, SocketAddr), AckShift>,
}

/// How a direction's ACKs map into the acknowledged sender's sequence
/// space: `steps` are (the first ACK value, as an offset from `base`, at
/// or past which it applies: one past the last ACK that still agreed;
/// the amount the far end acknowledges more than the sender sent), in
/// increasing order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AckShift {
    /// The acknowledged sender's initial sequence number plus one.
    pub base: u32,
    pub steps: Vec<(u64, i64)>,
}

impl AckShift {
    /// The ACK number `ack` mapped: less the amount of the last step at or
    /// before it (ACKs before the first step are left alone).
    pub fn map(&self, ack: u32) -> u32 {
        let at = u64::from(ack.wrapping_sub(self.base));
        match self.steps.iter().rev().find(|(from, _)| *from <= at) {
            Some((_, by)) => ack.wrapping_sub(*by as u32),
            None => ack,
        }
    }
}

impl Stitch {
    /// Maps a segment seen on `leg`: its endpoints when it is the mapped
    /// leg's and its connection is known, then its ACK number.
    pub fn apply(&self, leg: Leg, seg: &mut TcpSegment<'_>) {
        if self.leg == Some(leg) {
            let key = (
                SocketAddr::new(seg.src, seg.sport),
                SocketAddr::new(seg.dst, seg.dport),
            );
            if let Some((s, d)) = self.endpoints.get(&key) {
                (seg.src, seg.sport, seg.dst, seg.dport) = (s.ip(), s.port(), d.ip(), d.port());
            }
        }
        if seg.flags.ack() {
            let key = (
                SocketAddr::new(seg.src, seg.sport),
                SocketAddr::new(seg.dst, seg.dport),
            );
            if let Some(shift) = self.acks.get(&key) {
                seg.ack = shift.map(seg.ack);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_past_a_step_are_shifted_back_by_its_amount() {
        let s = AckShift {
            base: u32::MAX - 1,
            steps: vec![(17, -2), (43, -4)],
        };
        // Offsets from the base, across the wrap of the sequence space.
        let at = |o: u32| (u32::MAX - 1).wrapping_add(o);
        assert_eq!(s.map(at(16)), at(16));
        assert_eq!(s.map(at(26)), at(28));
        assert_eq!(s.map(at(42)), at(44));
        assert_eq!(s.map(at(70)), at(74));
    }
}
