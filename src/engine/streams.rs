//! Wireshark's `tcp.stream` numbers, so that a report can hand over a
//! display filter that opens exactly the right conversation.
//!
//! Wireshark (epan/dissectors/packet-tcp.c) numbers TCP conversations from
//! 0 in the order their first packet appears. A conversation's base
//! sequence number per direction is set by its first packet that way (the
//! SYN's own number, else one less than the first segment's); a later SYN
//! without ACK whose number differs from its direction's base starts a new
//! conversation on the same addresses and ports ("TCP port numbers
//! reused"); a SYN with the base number is a retransmission. Every TCP
//! segment goes through here, FTP or not, because every one can take a
//! number.

use crate::decode::TcpSegment;
use ahash::AHashMap;
use std::net::IpAddr;

/// Conversations remembered at most (up to 96 bytes each with the hash
/// table's own overhead). Wireshark never forgets one; past this many,
/// numbering stops and the count says so.
pub const MAX_CONVERSATIONS: usize = 1 << 20;

/// Heap a conversation takes in the table, its share of the table's slack
/// included (an entry of 40 bytes and a control byte, at a load between
/// 44% and 87%).
const CONVERSATION_BYTES: usize = 96;

/// Shards of the conversation table.
const SHARDS: usize = 64;

/// The conversations `bytes` of table allow (the budget's share,
/// [`crate::budget::Budget::stream_table`]), between 65,536 and
/// [`MAX_CONVERSATIONS`].
pub fn conversations_for(bytes: usize) -> usize {
    (bytes / CONVERSATION_BYTES).clamp(1 << 16, MAX_CONVERSATIONS)
}

#[derive(Clone, Copy)]
struct Conv {
    id: u32,
    /// Base sequence number per direction (0: from the lower endpoint).
    base: [Option<u32>; 2],
    /// The clock ([`StreamIds::set_clock`]) when it was last seen; it
    /// fits in the entry's padding.
    seen: u32,
}

pub struct StreamIds {
    /// IPv4: the address/port pair itself (96 bits); IPv6: a 64-bit hash
    /// of it with the top bit set (collisions among a million
    /// conversations: about one chance in 10^7).
    /// Sharded so that no single table doubles at once: a million
    /// conversations in one hash table would allocate its next 86 MB
    /// while the old 43 MB are still held, a spike no budget foresees.
    convs: Vec<AHashMap<u128, Conv>>,
    len: usize,
    hasher: ahash::RandomState,
    next: u32,
    /// Set when the table filled up: no numbers from then on.
    pub stopped_at_frame: Option<u64>,
    /// Conversations remembered at most.
    pub cap: usize,
    /// Seconds of capture time, as last set.
    clock: u32,
    /// The conversation of the last segment, while it stands: most
    /// segments follow one of the same conversation (a bulk transfer).
    last: Option<Last>,
}

/// The last conversation looked up, as the table has it.
#[derive(Clone, Copy)]
struct Last {
    key: u128,
    id: u32,
    /// Directions whose base sequence number is set.
    based: [bool; 2],
    /// The clock when it was stamped `seen`.
    clock: u32,
}

impl Default for StreamIds {
    fn default() -> Self {
        StreamIds::new(MAX_CONVERSATIONS)
    }
}

impl StreamIds {
    /// A table of at most `cap` conversations.
    pub fn new(cap: usize) -> Self {
        StreamIds {
            convs: (0..SHARDS).map(|_| AHashMap::new()).collect(),
            len: 0,
            // Fixed seeds: the same file always gives the same numbers.
            hasher: ahash::RandomState::with_seeds(0x7063_6170, 0x6d6f_7274, 0x656d_2121, 21),
            next: 0,
            stopped_at_frame: None,
            cap,
            clock: 0,
            last: None,
        }
    }

    /// The time (seconds of capture time) stamped on conversations seen
    /// from now on.
    pub fn set_clock(&mut self, secs: u32) {
        self.clock = secs;
    }

    /// Forgets the conversations not seen since `secs`, for a stream that
    /// does not end (`watch`): Wireshark remembers every conversation, so
    /// a file's numbering needs them all, but over days that table would
    /// grow without end. The numbers stay unique; only a conversation
    /// that comes back after so long a silence gets a new one (Wireshark
    /// would give it its old number). Returns how many were forgotten.
    pub fn forget_unseen_since(&mut self, secs: u32) -> usize {
        let before = self.len;
        for convs in &mut self.convs {
            convs.retain(|_, c| c.seen >= secs);
            if convs.capacity() > 4 * convs.len().max(64) {
                convs.shrink_to_fit();
            }
        }
        self.len = self.convs.iter().map(|c| c.len()).sum();
        self.last = None;
        before - self.len
    }
}

impl StreamIds {
    /// The conversation key and the direction (0: from the lower
    /// endpoint) of a segment.
    fn key(&self, seg: &TcpSegment<'_>) -> (u128, usize) {
        if let (IpAddr::V4(s), IpAddr::V4(d)) = (seg.src, seg.dst) {
            let a = (u64::from(s.to_bits()) << 16) | u64::from(seg.sport);
            let b = (u64::from(d.to_bits()) << 16) | u64::from(seg.dport);
            let (lo, hi, dir) = if a <= b { (a, b, 0) } else { (b, a, 1) };
            return ((u128::from(lo) << 48) | u128::from(hi), dir);
        }
        let a = (seg.src, seg.sport);
        let b = (seg.dst, seg.dport);
        let (lo, hi, dir) = if a <= b { (a, b, 0) } else { (b, a, 1) };
        (u128::from(self.hasher.hash_one((lo, hi))) | (1 << 127), dir)
    }

    /// The `tcp.stream` of this segment (frame `frame`), or `None` once
    /// the table is full.
    pub fn id(&mut self, seg: &TcpSegment<'_>, frame: u64) -> Option<u32> {
        if self.stopped_at_frame.is_some() {
            return None;
        }
        let (key, dir) = self.key(seg);
        // The same conversation as the last segment, its base set, and no
        // SYN that could start a new one: the same number.
        if let Some(l) = self.last
            && l.key == key
            && l.based[dir]
            && l.clock == self.clock
            && !seg.flags.syn()
        {
            return Some(l.id);
        }
        let found = self.lookup(seg, key, dir, frame);
        self.last = found.map(|c| Last {
            key,
            id: c.id,
            based: [c.base[0].is_some(), c.base[1].is_some()],
            clock: self.clock,
        });
        found.map(|c| c.id)
    }

    fn shard(key: u128) -> usize {
        // The key's low bits are an address's and a port's: mix them.
        let h = (key as u64 ^ (key >> 64) as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 58;
        h as usize % SHARDS
    }

    /// [`StreamIds::id`] from the table: the conversation as it now is.
    fn lookup(&mut self, seg: &TcpSegment<'_>, key: u128, dir: usize, frame: u64) -> Option<Conv> {
        let syn_only = seg.flags.syn() && !seg.flags.ack();
        let base = if seg.flags.syn() {
            seg.seq
        } else {
            seg.seq.wrapping_sub(1)
        };
        let convs = &mut self.convs[Self::shard(key)];
        if let Some(c) = convs.get_mut(&key) {
            c.seen = self.clock;
            match c.base[dir] {
                Some(b) if syn_only && b != seg.seq => {}
                Some(_) => return Some(*c),
                None => {
                    c.base[dir] = Some(base);
                    return Some(*c);
                }
            }
        } else if self.len >= self.cap {
            self.stopped_at_frame = Some(frame);
            return None;
        }
        // A new conversation (or the same ports reused).
        let id = self.next;
        self.next += 1;
        let mut conv = Conv {
            id,
            base: [None, None],
            seen: self.clock,
        };
        conv.base[dir] = Some(base);
        convs.insert(key, conv);
        self.len += 1;
        Some(conv)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::tests::eth_v4_tcp;
    use crate::decode::{TcpFlags, decode};

    fn id(s: &mut StreamIds, from: (u8, u16), to: (u8, u16), seq: u32, flags: u8) -> Option<u32> {
        let ack = (flags & TcpFlags::ACK != 0).then_some(1);
        let f = eth_v4_tcp(
            ([10, 0, 0, from.0], from.1),
            ([10, 0, 0, to.0], to.1),
            seq,
            ack,
            flags,
            b"",
        );
        s.id(&decode(1, &f, 0).unwrap(), 1)
    }

    #[test]
    fn numbers_like_wireshark() {
        let mut s = StreamIds::default();
        let (syn, synack, ack) = (TcpFlags::SYN, TcpFlags::SYN | TcpFlags::ACK, TcpFlags::ACK);
        assert_eq!(id(&mut s, (1, 5000), (2, 21), 100, syn), Some(0));
        assert_eq!(id(&mut s, (2, 21), (1, 5000), 900, synack), Some(0));
        // Another conversation, then the first one's SYN retransmitted.
        assert_eq!(id(&mut s, (3, 80), (2, 4000), 7, ack), Some(1));
        assert_eq!(id(&mut s, (1, 5000), (2, 21), 100, syn), Some(0));
        // The same ports reused with a new initial sequence number.
        assert_eq!(id(&mut s, (1, 5000), (2, 21), 5555, syn), Some(2));
        assert_eq!(id(&mut s, (2, 21), (1, 5000), 1, ack), Some(2));
        // Picked up mid-stream: base is seq-1, so the SYN of seq-1 that
        // arrives late is the same conversation.
        assert_eq!(id(&mut s, (4, 1), (5, 2), 1000, ack), Some(3));
        assert_eq!(id(&mut s, (4, 1), (5, 2), 999, syn), Some(3));
    }

    #[test]
    fn silent_conversations_are_forgotten_and_numbers_stay_unique() {
        let mut s = StreamIds::default();
        let syn = TcpFlags::SYN;
        s.set_clock(10);
        assert_eq!(id(&mut s, (1, 5000), (2, 21), 100, syn), Some(0));
        assert_eq!(id(&mut s, (1, 5001), (2, 21), 100, syn), Some(1));
        s.set_clock(500);
        assert_eq!(id(&mut s, (1, 5001), (2, 21), 101, TcpFlags::ACK), Some(1));
        assert_eq!(s.forget_unseen_since(400), 1);
        assert_eq!(s.len, 1);
        // The one still seen keeps its number; the forgotten one, back
        // after its silence, gets a new one.
        assert_eq!(id(&mut s, (1, 5001), (2, 21), 101, TcpFlags::ACK), Some(1));
        assert_eq!(id(&mut s, (1, 5000), (2, 21), 101, TcpFlags::ACK), Some(2));
    }

    #[test]
    fn the_table_is_a_quarter_of_the_budget_and_stops_at_its_cap() {
        assert_eq!(conversations_for(64 << 20), 699_050);
        assert_eq!(conversations_for(1 << 20), 1 << 16);
        assert_eq!(conversations_for(usize::MAX / 2), MAX_CONVERSATIONS);
        let mut s = StreamIds::new(3);
        for k in 0..3u16 {
            assert_eq!(
                id(&mut s, (1, 5000 + k), (2, 21), 1, TcpFlags::SYN),
                Some(u32::from(k))
            );
        }
        assert_eq!(id(&mut s, (1, 5003), (2, 21), 1, TcpFlags::SYN), None);
        assert_eq!(s.stopped_at_frame, Some(1));
    }
}
