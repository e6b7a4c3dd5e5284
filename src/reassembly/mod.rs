//! Stage 3: TCP reassembly, one byte stream per direction.
//!
//! Delivery does not wait for ACKs, so a capture holding one direction only
//! still yields its data (pcap-analyzer and Zeek both depend on ACKs). The
//! reassembler unwraps 32-bit sequence numbers into 64-bit stream offsets,
//! buffers out-of-order segments, drops duplicate retransmissions after
//! comparing them with what was delivered (first copy wins, a differing copy
//! is kept as evidence, with each copy's time and IP marks), and declares a
//! gap — with its size — when data is known lost: the peer acknowledged
//! past it, the buffer cap was hit, or the flow ended with a hole. Each gap
//! carries what the receiver's ACKs say of it ([`Receipt`]): acknowledged
//! (the receiver got the bytes: the tap missed them) or answered, after
//! later bytes arrived, by an ACK that stops at the hole (the receiver
//! never got them: the path dropped them). Every delivered byte knows the
//! frame that carried it. Memory per direction is bounded by the buffer and
//! history caps.

pub mod connection;
mod history;

use crate::escape::Bytes;
use crate::timestamp::Timestamp;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};

/// Where a segment came from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Origin {
    pub frame: u64,
    pub ts: Timestamp,
    /// What the IP header of the packet that carried it says.
    pub ip: IpMark,
}

/// The marks an IP packet carries that tell two copies of the same bytes
/// apart: a retransmission is a new packet (most stacks give it a new IPv4
/// identification), and the TTL says how many routers it crossed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct IpMark {
    /// IPv4 TTL or IPv6 hop limit at the tap.
    pub ttl: u8,
    /// IPv4 identification (none for IPv6).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u16>,
}

/// A run of bytes delivered in stream order.
#[derive(Clone, Copy, Debug)]
pub struct Chunk<'a> {
    /// Stream offset of `data[0]` (0 = first byte after the SYN, or the
    /// first byte seen when the connection was picked up mid-stream).
    pub offset: u64,
    pub data: &'a [u8],
    pub origin: Origin,
    /// Where `data` starts inside the payload of the segment that carried
    /// it, and that payload's length.
    pub seg_offset: u32,
    pub seg_len: u32,
}

/// Receives one direction's reassembled stream.
pub trait StreamSink {
    fn data(&mut self, chunk: &Chunk<'_>);
    /// `len` bytes starting at `offset` were never captured.
    fn gap(&mut self, offset: u64, len: u64, at: Origin);
}

/// Limits that bound memory per direction.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Out-of-order bytes buffered before a gap is forced.
    pub max_buffered: usize,
    /// Delivered bytes kept to compare retransmissions against.
    pub history: usize,
    /// Segment records kept for retransmission evidence.
    pub max_seg_records: usize,
    /// Evidence items (conflicts, gaps, retransmitted segments) kept.
    pub max_evidence: usize,
    /// How long an acknowledged hole may wait for its bytes to show up
    /// (captures from several interfaces can show the ACK first).
    pub gap_grace_ns: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_buffered: 256 << 10,
            history: 64 << 10,
            max_seg_records: 4096,
            max_evidence: 256,
            gap_grace_ns: 1_000_000_000,
        }
    }
}

/// Bytes that were never captured.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema, PartialEq, Eq)]
pub struct Gap {
    /// Where in the stream the missing bytes start (0: the first byte after the
    /// SYN).
    pub offset: u64,
    /// How many bytes are missing.
    pub len: u64,
    /// The frame whose arrival (or the end of the flow) made the gap
    /// certain.
    pub declared_at_frame: u64,
    /// How the gap was known (the peer acknowledged bytes never seen, a buffer
    /// cap, the flow ended with a hole).
    pub reason: GapReason,
    /// What the receiver's ACKs at this tap say of them: whether it got
    /// them (the capture's loss) or not (the path's).
    pub receipt: Receipt,
}

/// The most ACKs past what the capture delivered that a stream keeps.
const UNSEEN_ACKS: usize = 64;

/// What the receiver's ACKs, as the tap saw them, say of bytes the
/// capture lacks. A receiver acknowledges only bytes it holds, and answers
/// bytes that arrive past a hole with an ACK that stops at the hole (RFC
/// 5681 §4.2, with a SACK block naming what it holds past it, RFC 2018).
#[derive(Clone, Copy, Debug, Serialize, schemars::JsonSchema, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Receipt {
    /// The receiver acknowledged bytes inside or past them (`frame`: its
    /// ACK that went furthest, up to stream offset `to`): it got them, and
    /// the capture missed them.
    Acked {
        /// The receiver's ACK that went furthest.
        frame: u64,
        /// The stream offset it acknowledged up to.
        to: u64,
    },
    /// Bytes past them reached the receiver (from stream offset
    /// `after_offset`, frame `after_frame`), its ACK captured after that
    /// (`ack_frame`) stopped at their first byte, and no later ACK went
    /// past it: the receiver did not get them.
    NotReceived {
        /// The receiver's ACK that stopped at the missing bytes.
        ack_frame: u64,
        /// The first frame of the bytes past them that reached the
        /// receiver.
        after_frame: u64,
        /// The stream offset those bytes start at.
        after_offset: u64,
        /// The stream offsets `[from, to)` that ACK's SACK block says the
        /// receiver held past them.
        #[serde(skip_serializing_if = "Option::is_none")]
        sacked: Option<[u64; 2]>,
    },
    /// No captured ACK of the receiver tells.
    Unknown,
}

#[derive(Clone, Copy, Debug, Serialize, schemars::JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum GapReason {
    /// The peer acknowledged bytes the capture never saw.
    AckedUnseen,
    /// The out-of-order buffer reached its cap.
    BufferCap,
    /// The flow ended with the hole still open.
    FlowEnd,
    /// The snaplen cut the segment's payload.
    Snaplen,
}

impl GapReason {
    pub fn describe(self) -> &'static str {
        match self {
            GapReason::AckedUnseen => "the peer acknowledged them",
            GapReason::BufferCap => "the reassembly buffer cap was reached",
            GapReason::FlowEnd => "the flow ended with the hole open",
            GapReason::Snaplen => "cut by the snaplen",
        }
    }
}

/// Two copies of the same stream bytes that differ.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema, PartialEq, Eq)]
pub struct OverlapConflict {
    /// Where in the stream the two copies start.
    pub offset: u64,
    /// The copy that was delivered (first seen).
    pub kept: Bytes,
    /// The frame that carried the kept copy.
    pub kept_frame: u64,
    pub kept_ts: Timestamp,
    pub kept_ip: IpMark,
    /// The later copy, which was not delivered.
    pub other: Bytes,
    /// The frame that carried the other copy.
    pub other_frame: u64,
    pub other_ts: Timestamp,
    pub other_ip: IpMark,
}

/// A data segment and every frame that carried it again.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema, PartialEq, Eq)]
pub struct Retransmitted {
    /// Where in the stream the segment starts.
    pub offset: u64,
    /// Its payload bytes.
    pub len: u64,
    /// The frame of its first copy.
    pub first_frame: u64,
    /// The frames of its later copies.
    pub retransmission_frames: Vec<u64>,
    /// When each later copy was captured (for holding them against the
    /// time another capture was running).
    #[serde(skip)]
    pub retransmission_ts: Vec<Timestamp>,
    /// Whether the peer's ACKs ever covered the segment.
    pub acked: bool,
}

/// What one direction's reassembly saw, for the report.
#[derive(Clone, Debug, Default, Serialize, schemars::JsonSchema)]
pub struct DirStats {
    /// TCP segments with payload in this direction.
    pub segments: u64,
    /// Payload bytes delivered in order.
    pub bytes: u64,
    /// Segments seen again (byte for byte, or overlapping).
    pub retransmitted_segments: u64,
    /// Segments that arrived before bytes preceding them.
    pub out_of_order_segments: u64,
    /// Bytes that arrived before the first byte the stream starts at.
    pub bytes_before_start: u64,
    /// Stretches of the stream the capture never saw.
    pub gaps: Vec<Gap>,
    /// Bytes in those gaps.
    pub gap_bytes: u64,
    /// Stretches sent twice with different bytes (both copies kept).
    pub conflicts: Vec<OverlapConflict>,
    /// Segments retransmitted, with their frames.
    pub retransmissions: Vec<Retransmitted>,
    /// Evidence items not kept because a cap was reached.
    pub evidence_dropped: u64,
    /// The highest stream offset the peer acknowledged (None: no ACK from
    /// the peer was captured, e.g. a one-direction capture).
    pub peer_acked: Option<u64>,
    /// The frame of the peer's ACK that first reached `peer_acked` (for
    /// the sentences that cite it).
    #[serde(skip)]
    pub peer_acked_frame: Option<u64>,
    /// The last SACK block the peer sent past its cumulative ACK: stream
    /// offsets `[from, to)` it held, and the frame that said so.
    #[serde(skip)]
    pub peer_sacked: Option<([u64; 2], u64)>,
    /// The initial sequence number: the sequence number of the SYN, when
    /// the capture holds it (None: the connection was picked up later).
    pub isn: Option<u32>,
    /// The sequence number of stream offset 0 (the ISN + 1, or the first
    /// captured sequence number when the SYN was not captured), to map
    /// both captures' lines into one sequence space.
    #[serde(skip)]
    pub seq_base: Option<u32>,
    /// Bytes past the end of the captured stream that the sender's own
    /// later sequence numbers (a pure ACK's, a RST's) show it had sent:
    /// lost before this tap, by the capture or by the path.
    #[serde(skip)]
    pub sent_unseen: u64,
}

struct Pending {
    data: Vec<u8>,
    /// Bytes right after `data` known to be lost (snaplen).
    hole: u64,
    origin: Origin,
    seg_offset: u32,
    seg_len: u32,
}

/// A peer's ACK that stopped at a hole although bytes past it had
/// arrived (see [`Receipt::NotReceived`]).
#[derive(Clone, Copy)]
struct Stuck {
    /// The hole's first byte.
    hole: u64,
    ack_frame: u64,
    after_frame: u64,
    after_offset: u64,
    sacked: Option<[u64; 2]>,
}

struct SegRecord {
    end: u64,
    first_frame: u64,
    retrans: Vec<u64>,
    /// When each of `retrans` was captured.
    retrans_ts: Vec<Timestamp>,
    acked: bool,
}

/// Delivered bytes kept behind the highest offset the peer acknowledged,
/// to compare retransmissions against: a retransmission of bytes
/// acknowledged more than this before is not compared byte for byte.
const ACKED_HISTORY: u64 = 16 << 10;
/// Bytes of each version kept as evidence of a conflicting overlap.
const MAX_CONFLICT_BYTES: usize = 256;
/// Retransmission frames listed per segment.
const MAX_RETRANS_FRAMES: usize = 64;

/// Reassembles one direction of a TCP connection.
pub struct Reassembler {
    limits: Limits,
    /// Sequence number of stream offset 0.
    isn: Option<u32>,
    /// The SYN's own sequence number, when the SYN was captured.
    syn_seq: Option<u32>,
    next: u64,
    pending: BTreeMap<u64, Pending>,
    pending_bytes: usize,
    /// When the oldest still-pending segment arrived.
    pending_since: Option<Timestamp>,
    history: VecDeque<u8>,
    history_start: u64,
    history_frames: VecDeque<(u64, Origin)>,
    /// By stream offset (a sorted vector: most connections have a few
    /// records, and a B-tree node alone costs 600 bytes).
    records: Vec<(u64, SegRecord)>,
    fin: Option<u64>,
    peer_ack: Option<u64>,
    peer_ack_frame: Option<u64>,
    /// The peer's ACKs that went past what the capture had delivered
    /// (offset reached, frame), in order, at most [`UNSEEN_ACKS`]: the
    /// first that covers a hole is what proves the peer got its bytes
    /// (tshark's "ACKed unseen segment").
    unseen_acks: Vec<(u64, u64)>,
    peer_sack: Option<([u64; 2], u64)>,
    /// The latest captured ACK of the peer that stopped at the first hole
    /// after bytes past it had been captured: the peer lacked them.
    stuck: Option<Stuck>,
    /// The highest stream offset a captured packet without payload (a pure
    /// ACK) carried: the sender had sent every byte before it.
    sent_to: Option<u64>,
    stats: DirStats,
}

impl Reassembler {
    pub fn new(limits: Limits) -> Self {
        Reassembler {
            limits,
            isn: None,
            syn_seq: None,
            next: 0,
            pending: BTreeMap::new(),
            pending_bytes: 0,
            pending_since: None,
            history: VecDeque::new(),
            history_start: 0,
            history_frames: VecDeque::new(),
            records: Vec::new(),
            fin: None,
            peer_ack: None,
            peer_ack_frame: None,
            unseen_acks: Vec::new(),
            peer_sack: None,
            stuck: None,
            sent_to: None,
            stats: DirStats::default(),
        }
    }

    /// The next stream offset to be delivered.
    pub fn delivered(&self) -> u64 {
        self.next
    }

    pub fn stats(&self) -> &DirStats {
        &self.stats
    }

    /// Bytes held in memory: history, out-of-order data, segment records
    /// and evidence, for the engine's budget over all flows. O(1): called
    /// after every control segment, so evidence counts at its cap size.
    pub fn mem_size(&self) -> usize {
        use std::mem::size_of;
        let st = &self.stats;
        self.history.len()
            + self.history_frames.len() * size_of::<(u64, Origin)>()
            + self.pending_bytes
            + self.pending.len() * (size_of::<Pending>() + 32)
            + self.records.len() * size_of::<(u64, SegRecord)>()
            + st.gaps.len() * size_of::<Gap>()
            + st.conflicts.len() * (size_of::<OverlapConflict>() + 2 * MAX_CONFLICT_BYTES)
            + st.retransmissions.len() * (size_of::<Retransmitted>() + 8 * MAX_RETRANS_FRAMES)
    }

    /// Stream offset of the FIN, if one was seen.
    pub fn fin_offset(&self) -> Option<u64> {
        self.fin
    }

    /// The highest offset the peer acknowledged.
    pub fn peer_acked(&self) -> Option<u64> {
        self.peer_ack
    }

    /// True when there is no buffered data waiting for a hole to fill.
    pub fn is_settled(&self) -> bool {
        self.pending.is_empty()
    }

    /// Notes a SYN: the first data byte is `seq + 1`.
    pub fn syn(&mut self, seq: u32) {
        if self.isn.is_none() {
            self.isn = Some(seq.wrapping_add(1));
            self.syn_seq = Some(seq);
        }
    }

    /// Maps a sequence number to a stream offset (negative: before start).
    pub fn offset_of(&self, seq: u32) -> Option<i64> {
        let isn = self.isn?;
        let expect = isn.wrapping_add(self.next as u32);
        let d = seq.wrapping_sub(expect) as i32 as i64;
        Some(self.next as i64 + d)
    }

    /// Notes a packet without payload (a pure ACK, a RST) whose sequence
    /// number `seq` says the sender had sent every byte before it. A
    /// number more than a window (1 MiB) past the stream is no evidence
    /// (a RST answering a stray segment may carry anything).
    pub fn sent_before(&mut self, seq: u32) {
        if let Some(off) = self.offset_of(seq).and_then(|o| u64::try_from(o).ok())
            && off <= self.next + (1 << 20)
        {
            self.sent_to = self.sent_to.max(Some(off));
        }
    }

    /// Processes one segment's payload (and FIN).
    pub fn segment(
        &mut self,
        seq: u32,
        payload: &[u8],
        missing: u32,
        fin: bool,
        origin: Origin,
        sink: &mut dyn StreamSink,
    ) {
        if payload.is_empty() && missing == 0 && !fin {
            self.sent_before(seq);
            return;
        }
        if self.isn.is_none() {
            self.isn = Some(seq);
        }
        let Some(off) = self.offset_of(seq) else {
            return;
        };
        let total = payload.len() as u64 + missing as u64;
        if fin {
            let f = off + total as i64;
            if f >= 0 && self.fin.is_none() {
                self.fin = Some(f as u64);
            }
        }
        if total == 0 {
            return;
        }
        // Trim bytes that precede the stream start (picked up mid-stream).
        let (off, payload, seg_start) = if off < 0 {
            let skip = (-off) as u64;
            if skip >= total {
                self.stats.bytes_before_start += total;
                return;
            }
            self.stats.bytes_before_start += skip;
            let s = (skip as usize).min(payload.len());
            (0u64, &payload[s..], s as u32)
        } else {
            (off as u64, payload, 0u32)
        };
        let missing = total - seg_start as u64 - payload.len() as u64;
        let seg_len = seg_start + payload.len() as u32;
        self.stats.segments += 1;
        self.stats.bytes += payload.len() as u64;
        let end = off + payload.len() as u64 + missing;
        self.note_record(off, end, origin.frame, origin.ts);

        if off > self.next {
            self.stats.out_of_order_segments += 1;
            self.buffer(off, payload, missing, origin, seg_start, seg_len);
            if self.pending_since.is_none() {
                self.pending_since = Some(origin.ts);
            }
            self.enforce_cap(origin, sink);
        } else {
            self.deliver_from(off, payload, missing, origin, seg_start, seg_len, sink);
            self.drain(sink);
        }
        self.check_acked_hole(origin, sink);
    }

    /// Notes an acknowledgement from the peer for this direction's bytes,
    /// with the first SACK block it carried.
    pub fn peer_ack(
        &mut self,
        ack: u32,
        sack: Option<(u32, u32)>,
        origin: Origin,
        sink: &mut dyn StreamSink,
    ) {
        let Some(off) = self.offset_of(ack) else {
            return;
        };
        self.note_stuck(off, sack, origin);
        if let Some((l, r)) = sack
            && let (Some(l), Some(r)) = (self.offset_of(l), self.offset_of(r))
            && l > off.max(0)
            && r > l
        {
            self.peer_sack = Some(([l as u64, r as u64], origin.frame));
        }
        if off <= 0 {
            return;
        }
        let off = off as u64;
        if self.peer_ack.is_none_or(|a| off > a) {
            self.peer_ack = Some(off);
            self.peer_ack_frame = Some(origin.frame);
            if off > self.next {
                let next = self.next;
                self.unseen_acks.retain(|&(a, _)| a > next);
                if self.unseen_acks.len() < UNSEEN_ACKS {
                    self.unseen_acks.push((off, origin.frame));
                }
            }
            for (_, r) in self.records.iter_mut().take_while(|(k, _)| *k < off) {
                if r.end <= off {
                    r.acked = true;
                }
            }
            self.prune_records();
        }
        self.check_acked_hole(origin, sink);
    }

    /// An ACK that stops at the first hole, captured after bytes past the
    /// hole: the peer holds bytes after it and lacks the hole's.
    fn note_stuck(&mut self, off: i64, sack: Option<(u32, u32)>, origin: Origin) {
        let Some((&s, p)) = self.pending.first_key_value() else {
            return;
        };
        if off != self.next as i64 || s <= self.next || p.origin.frame >= origin.frame {
            return;
        }
        let sacked = sack.and_then(|(l, r)| {
            let (l, r) = (self.offset_of(l)?, self.offset_of(r)?);
            (l > self.next as i64 && r > l).then_some([l as u64, r as u64])
        });
        self.stuck = Some(Stuck {
            hole: self.next,
            ack_frame: origin.frame,
            after_frame: p.origin.frame,
            after_offset: s,
            sacked,
        });
    }

    /// What the peer's ACKs say of the bytes `[offset, offset + len)`:
    /// acknowledged, by the first ACK that covered them all where one
    /// did (else the one that went furthest).
    fn receipt(&self, offset: u64, len: u64) -> Receipt {
        if let Some(&(to, frame)) = self.unseen_acks.iter().find(|(a, _)| *a >= offset + len) {
            return Receipt::Acked { frame, to };
        }
        if let Some(to) = self.peer_ack.filter(|a| *a > offset) {
            return Receipt::Acked {
                frame: self.peer_ack_frame.unwrap_or(0),
                to,
            };
        }
        match self.stuck {
            Some(st) if st.hole == offset => Receipt::NotReceived {
                ack_frame: st.ack_frame,
                after_frame: st.after_frame,
                after_offset: st.after_offset,
                sacked: st.sacked,
            },
            _ => Receipt::Unknown,
        }
    }

    /// Ends the stream: every hole becomes a gap and all data is delivered.
    pub fn flush(&mut self, at: Origin, sink: &mut dyn StreamSink) {
        while let Some((&s, _)) = self.pending.first_key_value() {
            if s > self.next {
                let reason = if self.peer_ack.is_some_and(|a| a >= s) {
                    GapReason::AckedUnseen
                } else {
                    GapReason::FlowEnd
                };
                self.declare_gap(s, reason, at, sink);
            }
            self.drain(sink);
        }

        // Bytes the peer acknowledged (or the FIN claims) but the capture
        // never showed.
        let mut end = self.fin.unwrap_or(self.next);
        if let Some(a) = self.peer_ack {
            let a = match self.fin {
                Some(f) if a > f => f,
                _ => a,
            };
            end = end.max(a);
        }
        if end > self.next && self.isn.is_some() {
            self.declare_gap(end, GapReason::FlowEnd, at, sink);
        }
        // Not a gap: a device may have dropped them before this tap (the
        // peer never acknowledged them), so they say nothing of the tap.
        self.stats.sent_unseen = self.sent_to.map_or(0, |t| t.saturating_sub(self.next));
        // A hole the peer acknowledged only after it was declared (a
        // retransmission the capture missed reached it).
        if let Some(a) = self.peer_ack {
            let frame = self.peer_ack_frame.unwrap_or(0);
            for g in self
                .stats
                .gaps
                .iter_mut()
                .filter(|g| a > g.offset && !matches!(g.receipt, Receipt::Acked { .. }))
            {
                g.receipt = Receipt::Acked { frame, to: a };
            }
        }
        self.finish_records();
        self.stats.peer_acked = self.peer_ack;
        self.stats.peer_acked_frame = self.peer_ack_frame;
        self.stats.peer_sacked = self.peer_sack;
        self.stats.isn = self.syn_seq;
        self.stats.seq_base = self.isn;
    }

    fn buffer(
        &mut self,
        off: u64,
        data: &[u8],
        hole: u64,
        origin: Origin,
        seg_offset: u32,
        seg_len: u32,
    ) {
        // Split the new bytes around what is already buffered: the first
        // copy wins, and a differing later copy is evidence.
        let end = off + data.len() as u64;
        let mut cursor = off;
        let mut pieces: Vec<(u64, u64)> = Vec::new();
        let mut compares: Vec<(u64, u64, u64)> = Vec::new();
        let start_key = self
            .pending
            .range(..=off)
            .next_back()
            .map(|(&k, _)| k)
            .unwrap_or(off);
        for (&s, p) in self.pending.range(start_key..end.max(start_key + 1)) {
            let e = s + p.data.len() as u64;
            if e <= cursor {
                continue;
            }
            if s >= end {
                break;
            }
            if s > cursor {
                pieces.push((cursor, s.min(end)));
            }
            let (a, b) = (s.max(cursor), e.min(end));
            if a < b {
                compares.push((a, b, s));
            }
            cursor = cursor.max(e);
            if cursor >= end {
                break;
            }
        }
        if cursor < end {
            pieces.push((cursor, end));
        }
        for (a, b, s) in compares {
            let (kept, kept_at) = {
                let p = &self.pending[&s];
                (
                    p.data[(a - s) as usize..(b - s) as usize].to_vec(),
                    p.origin,
                )
            };
            let other = &data[(a - off) as usize..(b - off) as usize];
            if kept != other {
                self.conflict(a, &kept, kept_at, other, origin);
            }
        }
        let n_pieces = pieces.len();
        for (i, (a, b)) in pieces.into_iter().enumerate() {
            let slice = &data[(a - off) as usize..(b - off) as usize];
            self.pending_bytes += slice.len();
            let piece_hole = if i + 1 == n_pieces && b == end {
                hole
            } else {
                0
            };
            self.pending.insert(
                a,
                Pending {
                    data: slice.to_vec(),
                    hole: piece_hole,
                    origin,
                    seg_offset: seg_offset + (a - off) as u32,
                    seg_len,
                },
            );
        }
        if data.is_empty() && hole > 0 && !self.pending.contains_key(&off) {
            self.pending.insert(
                off,
                Pending {
                    data: Vec::new(),
                    hole,
                    origin,
                    seg_offset,
                    seg_len,
                },
            );
        }
    }

    /// Delivers the part of a segment at or after `next`, comparing the
    /// part before it with history.
    #[allow(clippy::too_many_arguments)]
    fn deliver_from(
        &mut self,
        off: u64,
        data: &[u8],
        hole: u64,
        origin: Origin,
        seg_offset: u32,
        seg_len: u32,
        sink: &mut dyn StreamSink,
    ) {
        let end = off + data.len() as u64;
        if off < self.next {
            let old_end = end.min(self.next);
            self.compare_history(off, &data[..(old_end - off) as usize], origin);
        }
        if end > self.next {
            let skip = (self.next - off) as usize;
            let fresh = &data[skip..];
            sink.data(&Chunk {
                offset: self.next,
                data: fresh,
                origin,
                seg_offset: seg_offset + skip as u32,
                seg_len,
            });
            self.remember(self.next, fresh, origin);
            self.next = end;
        }
        let hole_end = end + hole;
        if hole > 0 && hole_end > self.next {
            self.emit_gap(
                self.next,
                hole_end - self.next,
                GapReason::Snaplen,
                origin,
                sink,
            );
            self.next = hole_end;
        }
    }

    fn drain(&mut self, sink: &mut dyn StreamSink) {
        while let Some(entry) = self.pending.first_entry() {
            if *entry.key() > self.next {
                break;
            }
            let off = *entry.key();
            let p = entry.remove();
            self.pending_bytes -= p.data.len();
            self.deliver_from(
                off,
                &p.data,
                p.hole,
                p.origin,
                p.seg_offset,
                p.seg_len,
                sink,
            );
        }
        if self.pending.is_empty() {
            self.pending_since = None;
        }
    }

    fn enforce_cap(&mut self, at: Origin, sink: &mut dyn StreamSink) {
        while self.pending_bytes > self.limits.max_buffered {
            let Some((&s, _)) = self.pending.first_key_value() else {
                break;
            };
            if s > self.next {
                self.declare_gap(s, GapReason::BufferCap, at, sink);
            }
            self.drain(sink);
        }
    }

    /// A hole the peer has acknowledged will never be filled by this
    /// capture; after a grace period, give up on it.
    fn check_acked_hole(&mut self, at: Origin, sink: &mut dyn StreamSink) {
        let (Some(ack), Some(since)) = (self.peer_ack, self.pending_since) else {
            return;
        };
        let Some((&s, _)) = self.pending.first_key_value() else {
            return;
        };
        if s > self.next && ack >= s && at.ts - since >= self.limits.gap_grace_ns {
            self.declare_gap(s, GapReason::AckedUnseen, at, sink);
            self.drain(sink);
            self.pending_since = self.pending.first_key_value().map(|(_, p)| p.origin.ts);
        }
    }

    fn declare_gap(&mut self, to: u64, reason: GapReason, at: Origin, sink: &mut dyn StreamSink) {
        if to <= self.next {
            return;
        }
        self.emit_gap(self.next, to - self.next, reason, at, sink);
        self.next = to;
    }

    fn emit_gap(
        &mut self,
        offset: u64,
        len: u64,
        reason: GapReason,
        at: Origin,
        sink: &mut dyn StreamSink,
    ) {
        sink.gap(offset, len, at);
        self.stats.gap_bytes += len;
        let receipt = self.receipt(offset, len);
        // Forget history: bytes after a gap are not contiguous with it.
        self.history.clear();
        self.history_frames.clear();
        self.history_start = offset + len;
        if self.stats.gaps.len() < self.limits.max_evidence {
            self.stats.gaps.push(Gap {
                offset,
                len,
                declared_at_frame: at.frame,
                reason,
                receipt,
            });
        } else {
            self.stats.evidence_dropped += 1;
        }
    }

    /// Takes the statistics (call after `flush`).
    pub fn take_stats(&mut self) -> DirStats {
        std::mem::take(&mut self.stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Collect {
        bytes: Vec<u8>,
        chunks: Vec<(u64, Vec<u8>, u64, u32)>,
        gaps: Vec<(u64, u64)>,
    }

    impl StreamSink for Collect {
        fn data(&mut self, c: &Chunk<'_>) {
            self.bytes.extend_from_slice(c.data);
            self.chunks
                .push((c.offset, c.data.to_vec(), c.origin.frame, c.seg_offset));
        }
        fn gap(&mut self, offset: u64, len: u64, _at: Origin) {
            self.gaps.push((offset, len));
            self.bytes.extend(std::iter::repeat_n(b'?', len as usize));
        }
    }

    fn fresh() -> (Reassembler, Collect) {
        (Reassembler::new(Limits::default()), Collect::default())
    }

    fn o(frame: u64) -> Origin {
        Origin {
            frame,
            ts: Timestamp(frame as i64 * 1_000_000),
            ..Default::default()
        }
    }

    fn o_at(frame: u64, secs: i64) -> Origin {
        Origin {
            frame,
            ts: Timestamp(secs * 1_000_000_000),
            ..Default::default()
        }
    }

    #[test]
    fn sequence_numbers_past_the_captured_stream_are_counted_not_gaps() {
        let (mut r, mut c) = fresh();
        r.syn(1000);
        r.segment(1001, b"USER a\r\n", 0, false, o(3), &mut c);
        // A pure ACK from the sender at 1037: 28 bytes sent, not seen.
        r.segment(1037, b"", 0, false, o(5), &mut c);
        // A RST answering a stray segment far away is no evidence.
        r.sent_before(1001 + (1 << 21));
        r.flush(o(6), &mut c);
        let st = r.take_stats();
        assert_eq!(st.sent_unseen, 28);
        assert!(st.gaps.is_empty() && c.gaps.is_empty());
    }

    #[test]
    fn in_order_after_syn() {
        let (mut r, mut c) = fresh();
        r.syn(1000);
        r.segment(1001, b"USER a\r\n", 0, false, o(3), &mut c);
        r.segment(1009, b"PASS b\r\n", 0, false, o(5), &mut c);
        assert_eq!(c.bytes, b"USER a\r\nPASS b\r\n");
        assert_eq!(c.chunks[1].0, 8);
        assert_eq!(c.chunks[1].2, 5);
    }

    #[test]
    fn sequence_wraparound() {
        let (mut r, mut c) = fresh();
        r.syn(u32::MAX - 3);
        r.segment(u32::MAX - 2, b"PORT ", 0, false, o(1), &mut c);
        r.segment(2, b"1,2,3,4,5,6\r\n", 0, false, o(2), &mut c);
        assert_eq!(c.bytes, b"PORT 1,2,3,4,5,6\r\n");
        assert!(c.gaps.is_empty());
    }

    #[test]
    fn out_of_order_is_buffered() {
        let (mut r, mut c) = fresh();
        r.syn(0);
        r.segment(5, b"world", 0, false, o(2), &mut c);
        assert!(c.bytes.is_empty());
        r.segment(1, b"hell", 0, false, o(3), &mut c);
        assert_eq!(c.bytes, b"hellworld");
        assert_eq!(r.stats().out_of_order_segments, 1);
    }

    #[test]
    fn identical_retransmission_is_dropped_and_recorded() {
        let (mut r, mut c) = fresh();
        r.syn(0);
        r.segment(1, b"PORT 1\r\n", 0, false, o(1), &mut c);
        r.segment(1, b"PORT 1\r\n", 0, false, o(2), &mut c);
        r.segment(1, b"PORT 1\r\n", 0, false, o(3), &mut c);
        assert_eq!(c.bytes, b"PORT 1\r\n");
        r.flush(o(4), &mut c);
        let st = r.take_stats();
        assert!(st.conflicts.is_empty());
        assert_eq!(st.retransmissions.len(), 1);
        assert_eq!(st.retransmissions[0].retransmission_frames, vec![2, 3]);
        assert!(!st.retransmissions[0].acked);
    }

    #[test]
    fn acked_retransmission_is_marked() {
        let (mut r, mut c) = fresh();
        r.syn(0);
        r.segment(1, b"abc", 0, false, o(1), &mut c);
        r.segment(1, b"abc", 0, false, o(2), &mut c);
        r.peer_ack(4, None, o(3), &mut c);
        r.flush(o(4), &mut c);
        let st = r.take_stats();
        assert!(st.retransmissions[0].acked);
    }

    #[test]
    fn conflicting_overlap_keeps_first_and_records_both() {
        let (mut r, mut c) = fresh();
        r.syn(0);
        r.segment(1, b"PORT 1,2,3,4,125,227\r\n", 0, false, o(10), &mut c);
        r.segment(1, b"PORT 1,2,3,4,125,22_\r\n", 0, false, o(11), &mut c);
        assert_eq!(c.bytes, b"PORT 1,2,3,4,125,227\r\n");
        let st = r.stats();
        assert_eq!(st.conflicts.len(), 1);
        let k = &st.conflicts[0];
        assert_eq!(k.offset, 19);
        assert_eq!(k.kept.0, b"7");
        assert_eq!(k.other.0, b"_");
        assert_eq!((k.kept_frame, k.other_frame), (10, 11));
    }

    #[test]
    fn history_behind_the_peers_ack_is_trimmed() {
        let (mut r, mut c) = fresh();
        r.syn(0);
        let line = [b'A'; 1000];
        for i in 0..100u32 {
            r.segment(1 + i * 1000, &line, 0, false, o(u64::from(i) + 1), &mut c);
            // The peer acknowledges everything up to the previous segment.
            r.peer_ack(1 + i * 1000, None, o(u64::from(i) + 1), &mut c);
        }
        assert!(
            r.history.len() as u64 <= ACKED_HISTORY + 2000,
            "{}",
            r.history.len()
        );
        // A retransmission within the kept history is still compared…
        r.segment(1 + 95_000, &[b'B'; 1000], 0, false, o(200), &mut c);
        assert_eq!(r.stats().conflicts.len(), 1);
        // …one of bytes acknowledged long ago is not (nothing to compare).
        r.segment(1 + 10_000, &[b'B'; 1000], 0, false, o(201), &mut c);
        assert_eq!(r.stats().conflicts.len(), 1);
        assert_eq!(c.bytes.len(), 100_000);
    }

    #[test]
    fn conflict_inside_out_of_order_buffer() {
        let (mut r, mut c) = fresh();
        r.syn(0);
        r.segment(4, b"defg", 0, false, o(1), &mut c);
        r.segment(6, b"Xghi", 0, false, o(2), &mut c);
        r.segment(1, b"abc", 0, false, o(3), &mut c);
        assert_eq!(c.bytes, b"abcdefghi");
        assert_eq!(r.stats().conflicts.len(), 1);
        assert_eq!(r.stats().conflicts[0].offset, 5);
    }

    #[test]
    fn partial_overlap_delivers_only_new_bytes() {
        let (mut r, mut c) = fresh();
        r.syn(0);
        r.segment(1, b"abcd", 0, false, o(1), &mut c);
        r.segment(3, b"cdef", 0, false, o(2), &mut c);
        assert_eq!(c.bytes, b"abcdef");
        assert_eq!(c.chunks[1], (4, b"ef".to_vec(), 2, 2));
    }

    #[test]
    fn acked_hole_becomes_a_gap_after_grace() {
        let (mut r, mut c) = fresh();
        r.syn(0);
        r.segment(1, b"abc", 0, false, o_at(1, 0), &mut c);
        r.segment(10, b"jkl", 0, false, o_at(2, 0), &mut c);
        r.peer_ack(13, None, o_at(3, 0), &mut c);
        assert!(c.gaps.is_empty(), "grace period not over");
        r.peer_ack(13, None, o_at(4, 2), &mut c);
        assert_eq!(c.gaps, vec![(3, 6)]);
        assert_eq!(c.bytes, b"abc??????jkl");
        assert_eq!(r.stats().gaps[0].reason, GapReason::AckedUnseen);
    }

    #[test]
    fn a_hole_the_receiver_never_acknowledged_is_not_received() {
        // "PORT 198,51,100" lost, ",60,156,64\r\n" arrived; the receiver's
        // duplicate ACK stops at the hole and SACKs what it holds.
        let (mut r, mut c) = fresh();
        r.syn(0);
        r.segment(1, b"TYPE I\r\n", 0, false, o(1), &mut c);
        r.peer_ack(9, None, o(2), &mut c);
        r.segment(24, b",60,156,64\r\n", 0, false, o(3), &mut c);
        r.peer_ack(9, Some((24, 36)), o(4), &mut c);
        r.flush(o(5), &mut c);
        let g = &r.stats().gaps[0];
        assert_eq!((g.offset, g.len), (8, 15));
        assert_eq!(
            g.receipt,
            Receipt::NotReceived {
                ack_frame: 4,
                after_frame: 3,
                after_offset: 23,
                sacked: Some([23, 35]),
            }
        );
    }

    #[test]
    fn a_hole_the_receiver_acknowledged_later_was_received() {
        let (mut r, mut c) = fresh();
        r.syn(0);
        r.segment(1, b"abc", 0, false, o(1), &mut c);
        // An ACK sent before the bytes past the hole arrived is no evidence.
        r.peer_ack(4, None, o(2), &mut c);
        r.segment(10, b"jkl", 0, false, o(3), &mut c);
        r.flush(o(4), &mut c);
        assert_eq!(r.stats().gaps[0].receipt, Receipt::Unknown);
        // A duplicate ACK, then one past the hole: a retransmission the
        // tap missed reached the receiver.
        let (mut r, mut c) = fresh();
        r.syn(0);
        r.segment(1, b"abc", 0, false, o(1), &mut c);
        r.segment(10, b"jkl", 0, false, o(2), &mut c);
        r.peer_ack(4, None, o(3), &mut c);
        r.peer_ack(13, None, o(9), &mut c);
        r.flush(o(10), &mut c);
        assert_eq!(
            r.stats().gaps[0].receipt,
            Receipt::Acked { frame: 9, to: 12 }
        );
    }

    #[test]
    fn a_hole_is_proven_received_by_the_first_ack_that_covers_it() {
        // hand-lost-lines: the client's ACK in frame 16 covers the 19
        // bytes the tap missed, before the bytes after them are captured;
        // later ACKs go further (the last in frame 32).
        let (mut r, mut c) = fresh();
        r.syn(0);
        r.segment(1, b"abc", 0, false, o(1), &mut c);
        r.peer_ack(6, None, o(2), &mut c); // inside the hole
        r.peer_ack(10, None, o(3), &mut c); // covers it
        r.segment(10, b"jkl", 0, false, o(4), &mut c);
        r.peer_ack(13, None, o(9), &mut c);
        r.flush(o(10), &mut c);
        assert_eq!(
            r.stats().gaps[0].receipt,
            Receipt::Acked { frame: 3, to: 9 }
        );
    }

    #[test]
    fn flush_declares_holes_and_unseen_tail() {
        let (mut r, mut c) = fresh();
        r.syn(0);
        r.segment(1, b"ab", 0, false, o(1), &mut c);
        r.segment(5, b"ef", 0, false, o(2), &mut c);
        r.peer_ack(10, None, o(3), &mut c);
        r.flush(o(4), &mut c);
        assert_eq!(c.gaps, vec![(2, 2), (6, 3)]);
    }

    #[test]
    fn buffer_cap_forces_gap() {
        let limits = Limits {
            max_buffered: 8,
            ..Limits::default()
        };
        let mut r = Reassembler::new(limits);
        let mut c = Collect::default();
        r.syn(0);
        r.segment(11, b"0123456789", 0, false, o(1), &mut c);
        assert_eq!(c.gaps, vec![(0, 10)]);
        assert_eq!(c.bytes.len(), 20);
        assert_eq!(r.stats().gaps[0].reason, GapReason::BufferCap);
    }

    #[test]
    fn snaplen_missing_tail_is_a_gap() {
        let (mut r, mut c) = fresh();
        r.syn(0);
        r.segment(1, b"PORT 1,", 5, false, o(1), &mut c);
        r.segment(13, b"\r\n", 0, false, o(2), &mut c);
        assert_eq!(c.gaps, vec![(7, 5)]);
        assert_eq!(c.bytes, b"PORT 1,?????\r\n");
    }

    #[test]
    fn midstream_pickup_ignores_earlier_bytes() {
        let (mut r, mut c) = fresh();
        r.segment(500, b"220 ok\r\n", 0, false, o(1), &mut c);
        r.segment(490, b"0123456789", 0, false, o(2), &mut c);
        r.segment(495, b"56789220 ok", 0, false, o(3), &mut c);
        assert_eq!(c.bytes, b"220 ok\r\n");
        assert_eq!(r.stats().bytes_before_start, 15);
    }

    #[test]
    fn fin_offset_counts_payload() {
        let (mut r, mut c) = fresh();
        r.syn(0);
        r.segment(1, b"QUIT\r\n", 0, true, o(1), &mut c);
        assert_eq!(r.fin_offset(), Some(6));
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        /// Cuts `data` into segments, shuffles and duplicates some, drops
        /// the ones whose index is in `drop`.
        /// (stream, ISN, segment ranges, permutation/drop indices).
        type Scenario = (Vec<u8>, u32, Vec<(usize, usize)>, Vec<usize>);

        fn scenario() -> impl Strategy<Value = Scenario> {
            (proptest::collection::vec(any::<u8>(), 1..400), any::<u32>()).prop_flat_map(
                |(data, isn)| {
                    let n = data.len();
                    let cuts = proptest::collection::vec(0..n, 0..12);
                    (
                        Just(data),
                        Just(isn),
                        cuts,
                        proptest::collection::vec(any::<usize>(), 0..20),
                    )
                        .prop_map(move |(data, isn, mut cuts, order)| {
                            cuts.push(0);
                            cuts.push(n);
                            cuts.sort_unstable();
                            cuts.dedup();
                            let segs: Vec<(usize, usize)> =
                                cuts.windows(2).map(|w| (w[0], w[1])).collect();
                            (data, isn, segs, order)
                        })
                },
            )
        }

        proptest! {
            #[test]
            fn any_order_and_duplicates_reassemble_exactly((data, isn, segs, order) in scenario()) {
                let mut seq_order: Vec<(usize, usize)> = segs.clone();
                // Permute and duplicate according to `order`.
                for (i, k) in order.iter().enumerate() {
                    let len = seq_order.len();
                    seq_order.swap(i % len, k % len);
                    if k % 3 == 0 {
                        let dup = seq_order[k % len];
                        seq_order.push(dup);
                    }
                }
                let mut r = Reassembler::new(Limits::default());
                let mut c = Collect::default();
                r.syn(isn);
                for (i, (a, b)) in seq_order.iter().enumerate() {
                    let seq = isn.wrapping_add(1).wrapping_add(*a as u32);
                    r.segment(seq, &data[*a..*b], 0, false, o(i as u64 + 1), &mut c);
                }
                r.flush(o(999), &mut c);
                prop_assert_eq!(&c.bytes, &data);
                prop_assert!(c.gaps.is_empty());
                prop_assert!(r.stats().conflicts.is_empty());
            }

            #[test]
            fn drops_become_gaps_of_the_right_size((data, isn, segs, drop) in scenario()) {
                let mut r = Reassembler::new(Limits { max_buffered: 64, ..Limits::default() });
                let mut c = Collect::default();
                r.syn(isn);
                let dropped: std::collections::HashSet<usize> = drop.iter().map(|d| d % segs.len()).collect();
                for (i, (a, b)) in segs.iter().enumerate() {
                    if dropped.contains(&i) && i + 1 != segs.len() {
                        continue;
                    }
                    let seq = isn.wrapping_add(1).wrapping_add(*a as u32);
                    r.segment(seq, &data[*a..*b], 0, false, o(i as u64 + 1), &mut c);
                }
                r.flush(o(999), &mut c);
                prop_assert_eq!(c.bytes.len(), data.len());
                let mut at = 0u64;
                for (off, bytes, _, _) in &c.chunks {
                    prop_assert!(*off >= at);
                    prop_assert_eq!(&data[*off as usize..*off as usize + bytes.len()], &bytes[..]);
                    at = off + bytes.len() as u64;
                }
            }
        }
    }
}
