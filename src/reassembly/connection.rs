//! A TCP connection: the two directions' reassemblers plus the handshake
//! and teardown facts the FTP rules need (who sent SYN, SYN-ACK, FIN, RST,
//! and when).

use super::{Chunk, DirStats, Limits, Origin, Reassembler, StreamSink};
use crate::decode::TcpSegment;
use crate::timestamp::Timestamp;
use serde::Serialize;
use std::net::SocketAddr;

/// Serializes a direction as its [`Side::letter`] (`C`/`S`).
pub fn serialize_letter<S: serde::Serializer>(side: &Side, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(side.letter())
}

/// The schema of a side written by [`serialize_letter`].
pub fn letter_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"type": "string", "enum": ["C", "S"]})
}

/// Which end sent a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Client,
    Server,
}

impl Side {
    pub fn index(self) -> usize {
        self as usize
    }
    /// `C` (client→server) or `S` (server→client), as dialogues in the
    /// JSON reports name a line's direction.
    pub fn letter(self) -> &'static str {
        match self {
            Side::Client => "C",
            Side::Server => "S",
        }
    }
    pub fn other(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }
}

/// Receives both directions of a connection.
pub trait ConnSink {
    fn data(&mut self, side: Side, chunk: &Chunk<'_>);
    fn gap(&mut self, side: Side, offset: u64, len: u64, at: Origin);
}

struct SideSink<'a> {
    side: Side,
    sink: &'a mut dyn ConnSink,
}

impl StreamSink for SideSink<'_> {
    fn data(&mut self, chunk: &Chunk<'_>) {
        self.sink.data(self.side, chunk)
    }
    fn gap(&mut self, offset: u64, len: u64, at: Origin) {
        self.sink.gap(self.side, offset, len, at)
    }
}

/// Handshake and teardown as seen in the capture.
#[derive(Clone, Debug, Default, Serialize, schemars::JsonSchema)]
pub struct Lifecycle {
    /// The frame of the client's SYN.
    pub syn_frame: Option<u64>,
    /// The frame of the server's SYN-ACK.
    pub syn_ack_frame: Option<u64>,
    /// The frame of the client's FIN.
    pub client_fin_frame: Option<u64>,
    /// The frame of the server's FIN.
    pub server_fin_frame: Option<u64>,
    /// The frame of the first RST.
    pub rst_frame: Option<u64>,
    /// Who sent it: `C` client or `S` server.
    pub rst_by: Option<Side>,
    /// When the client first sent FIN or RST: from then on it waited for
    /// nothing (a reply owed to it is no longer awaited).
    #[serde(skip)]
    pub client_closed_at: Option<Timestamp>,
}

pub struct Connection {
    pub client: SocketAddr,
    pub server: SocketAddr,
    dirs: [Reassembler; 2],
    client_isn: Option<u32>,
    pub life: Lifecycle,
    pub first: Origin,
    pub last: Origin,
    pub packets: [u64; 2],
    /// TTL / hop limit of the first packet from each side: lower at a tap
    /// farther from the sender, which tells which side a capture was on.
    pub ttl: [Option<u8>; 2],
    /// Segments with payload, and resets, from each side: whether the
    /// connection ever was a dialogue ([`Connection::standing`]).
    data_packets: [u64; 2],
    resets: [u64; 2],
}

/// What a connection to a control port turned out to be, as far as the
/// capture shows.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Standing {
    /// A connection that carried a dialogue, or whose handshake completed.
    Session,
    /// The server answered the SYN with a reset: nothing listened, or a
    /// device refused it.
    Refused,
    /// SYNs that the capture shows no answer to.
    Unanswered,
    /// Segments of a connection whose start the capture did not hold,
    /// answered by nothing but resets: the peer had no such connection
    /// (a late retransmission after it closed, a stray packet).
    Stray,
}

impl Standing {
    /// How a report says it.
    pub fn describe(self) -> &'static str {
        match self {
            Standing::Session => "session",
            Standing::Refused => "SYN refused (RST)",
            Standing::Unanswered => "SYN, no answer captured",
            Standing::Stray => "stray segment answered by RST",
        }
    }
}

impl Connection {
    pub fn new(client: SocketAddr, server: SocketAddr, first: Origin, limits: Limits) -> Self {
        Connection {
            client,
            server,
            dirs: [Reassembler::new(limits), Reassembler::new(limits)],
            client_isn: None,
            life: Lifecycle::default(),
            first,
            last: first,
            packets: [0, 0],
            ttl: [None, None],
            data_packets: [0, 0],
            resets: [0, 0],
        }
    }

    /// What the connection is, as far as the capture shows, when it has
    /// ended (`ended`) or so far (None while it cannot tell yet). A
    /// completed handshake, or payload that the peer answered with
    /// anything but a reset, is a session; at its end, payload seen in
    /// one direction only is one too (a one-way capture, a tap that lost
    /// the rest), unless the peer answered it with resets alone and the
    /// capture holds no SYN of it (a stray). Without payload: a SYN the
    /// server reset was refused; any other SYN went unanswered.
    pub fn standing(&self, ended: bool) -> Option<Standing> {
        if self.life.syn_ack_frame.is_some() {
            return Some(Standing::Session);
        }
        let (c, s) = (Side::Client.index(), Side::Server.index());
        let data = |i: usize| self.data_packets[i] > 0;
        let answered = |i: usize| self.packets[i] > self.resets[i];
        let only_resets = |i: usize| self.resets[i] > 0 && self.packets[i] == self.resets[i];
        if (data(c) && answered(s)) || (data(s) && answered(c)) {
            return Some(Standing::Session);
        }
        if !ended {
            return None;
        }
        let syn = self.life.syn_frame.is_some();
        Some(if data(c) || data(s) {
            let reset = (data(c) && only_resets(s)) || (data(s) && only_resets(c));
            match (reset, syn) {
                (false, _) => Standing::Session,
                (true, true) => Standing::Refused,
                (true, false) => Standing::Stray,
            }
        } else if syn && self.resets[s] > 0 {
            Standing::Refused
        } else if syn {
            Standing::Unanswered
        } else {
            Standing::Stray
        })
    }

    /// Which end `src` is (for a segment of this connection).
    pub fn side_of(&self, src: SocketAddr) -> Side {
        if src == self.client {
            Side::Client
        } else {
            Side::Server
        }
    }

    pub fn dir(&self, side: Side) -> &Reassembler {
        &self.dirs[side.index()]
    }

    /// A client SYN that cannot belong to this connection: the 4-tuple is
    /// being reused with a new initial sequence number (a SYN with the same
    /// one is a retransmission, as Wireshark judges it too).
    pub fn is_reuse(&self, side: Side, seg: &TcpSegment<'_>) -> bool {
        if side != Side::Client || !seg.flags.syn() || seg.flags.ack() {
            return false;
        }
        match self.client_isn {
            Some(isn) => isn != seg.seq,
            None => self.packets[0] + self.packets[1] > 0,
        }
    }

    /// The client's initial sequence number, if its SYN was seen.
    /// Bytes both directions hold (see [`Reassembler::mem_size`]).
    pub fn mem_size(&self) -> usize {
        self.dirs[0].mem_size() + self.dirs[1].mem_size()
    }

    pub fn client_isn(&self) -> Option<u32> {
        self.client_isn
    }

    /// Processes one segment of this connection.
    pub fn packet(
        &mut self,
        side: Side,
        seg: &TcpSegment<'_>,
        at: Origin,
        sink: &mut dyn ConnSink,
    ) {
        self.last = at;
        self.packets[side.index()] += 1;
        let i = side.index();
        self.data_packets[i] += u64::from(!seg.payload.is_empty() || seg.missing > 0);
        self.resets[i] += u64::from(seg.flags.rst());
        self.ttl[i].get_or_insert(seg.ttl);
        if seg.flags.syn() {
            self.dirs[i].syn(seg.seq);
            if seg.flags.ack() {
                self.life.syn_ack_frame.get_or_insert(at.frame);
            } else {
                self.life.syn_frame.get_or_insert(at.frame);
                self.client_isn.get_or_insert(seg.seq);
            }
        }
        if seg.flags.rst() && self.life.rst_frame.is_none() {
            self.life.rst_frame = Some(at.frame);
            self.life.rst_by = Some(side);
        }
        if side == Side::Client && (seg.flags.fin() || seg.flags.rst()) {
            self.life.client_closed_at.get_or_insert(at.ts);
        }
        if seg.flags.fin() {
            let f = match side {
                Side::Client => &mut self.life.client_fin_frame,
                Side::Server => &mut self.life.server_fin_frame,
            };
            f.get_or_insert(at.frame);
        }
        if seg.flags.ack() {
            let mut s = SideSink {
                side: side.other(),
                sink,
            };
            self.dirs[1 - i].peer_ack(seg.ack, seg.sack, at, &mut s);
        }
        if seg.flags.rst() {
            self.dirs[i].sent_before(seg.seq);
        } else {
            let seq = if seg.flags.syn() {
                seg.seq.wrapping_add(1)
            } else {
                seg.seq
            };
            let mut s = SideSink { side, sink };
            self.dirs[i].segment(seq, seg.payload, seg.missing, seg.flags.fin(), at, &mut s);
        }
    }

    /// True once the connection is over: reset, or both FINs seen, each
    /// with every byte before it delivered or acknowledged by the peer (a
    /// hole the peer acknowledged will never be filled by this capture).
    pub fn is_closed(&self) -> bool {
        if self.life.rst_frame.is_some() {
            return true;
        }
        self.dirs.iter().all(|d| {
            d.fin_offset().is_some_and(|f| {
                (d.is_settled() && d.delivered() >= f) || d.peer_acked().is_some_and(|a| a > f)
            })
        })
    }

    /// Ends both streams (holes become gaps) and returns their statistics.
    pub fn finish(&mut self, sink: &mut dyn ConnSink) -> [DirStats; 2] {
        let at = self.last;
        for side in [Side::Client, Side::Server] {
            let mut s = SideSink { side, sink };
            self.dirs[side.index()].flush(at, &mut s);
        }
        [self.dirs[0].take_stats(), self.dirs[1].take_stats()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::tests::eth_v4_tcp;
    use crate::decode::{TcpFlags, decode};
    use crate::timestamp::Timestamp;

    #[derive(Default)]
    struct Both {
        data: [Vec<u8>; 2],
    }
    impl ConnSink for Both {
        fn data(&mut self, side: Side, c: &Chunk<'_>) {
            self.data[side.index()].extend_from_slice(c.data);
        }
        fn gap(&mut self, _: Side, _: u64, _: u64, _: Origin) {}
    }

    /// A segment to feed: sent by the client?, its flags, its payload.
    type Seg<'a> = (bool, u8, &'a [u8]);

    /// Feeds `segs` to a new connection from 10.0.0.1:4000 to
    /// 10.0.0.2:21.
    fn fed(segs: &[Seg<'_>]) -> Connection {
        let (c, s) = ([10, 0, 0, 1], [10, 0, 0, 2]);
        let at = |i: usize| Origin {
            frame: i as u64 + 1,
            ts: Timestamp(i as i64),
            ip: Default::default(),
        };
        let mut conn = Connection::new(
            "10.0.0.1:4000".parse().unwrap(),
            "10.0.0.2:21".parse().unwrap(),
            at(0),
            Limits::default(),
        );
        let mut sink = Both::default();
        for (i, (from_client, flags, data)) in segs.iter().enumerate() {
            // The builder sets ACK with an acknowledgement number.
            let ack = |n| (flags & TcpFlags::ACK != 0).then_some(n);
            let f = if *from_client {
                eth_v4_tcp((c, 4000), (s, 21), 100, ack(500), *flags, data)
            } else {
                eth_v4_tcp((s, 21), (c, 4000), 500, ack(100), *flags, data)
            };
            let seg = decode(1, &f, 0).unwrap();
            let side = conn.side_of(SocketAddr::new(seg.src, seg.sport));
            conn.packet(side, &seg, at(i), &mut sink);
        }
        conn
    }

    #[test]
    fn what_a_connection_turned_out_to_be() {
        use Standing::*;
        let (syn, rst, ack) = (TcpFlags::SYN, TcpFlags::RST, TcpFlags::ACK);
        let rst_ack = TcpFlags::RST | TcpFlags::ACK;
        let cases: &[(&[Seg<'_>], Option<Standing>, Standing)] = &[
            (&[(true, syn, b""), (false, rst_ack, b"")], None, Refused),
            (&[(true, syn, b""), (true, syn, b"")], None, Unanswered),
            (
                &[(true, syn, b""), (false, syn | ack, b"")],
                Some(Session),
                Session,
            ),
            // A lone segment picked up mid-stream, answered by a reset.
            (&[(true, ack, b"PORT 192,"), (false, rst, b"")], None, Stray),
            // Picked up mid-stream, answered: a dialogue.
            (
                &[(true, ack, b"NOOP\r\n"), (false, ack, b"200 ok\r\n")],
                Some(Session),
                Session,
            ),
            // One direction only (a one-way capture): a session at its end.
            (
                &[(true, syn, b""), (true, ack, b"USER a\r\n")],
                None,
                Session,
            ),
            (&[(true, ack, b"PASV\r\n")], None, Session),
        ];
        for (segs, so_far, at_end) in cases {
            let conn = fed(segs);
            assert_eq!(conn.standing(false), *so_far, "{segs:?}");
            assert_eq!(conn.standing(true), Some(*at_end), "{segs:?}");
        }
    }

    #[test]
    fn handshake_data_and_close() {
        let c = [10, 0, 0, 1];
        let s = [10, 0, 0, 2];
        let frames = [
            eth_v4_tcp((c, 4000), (s, 21), 100, None, TcpFlags::SYN, b""),
            eth_v4_tcp(
                (s, 21),
                (c, 4000),
                500,
                Some(101),
                TcpFlags::SYN | TcpFlags::ACK,
                b"",
            ),
            eth_v4_tcp(
                (s, 21),
                (c, 4000),
                501,
                Some(101),
                TcpFlags::ACK,
                b"220 hi\r\n",
            ),
            eth_v4_tcp(
                (c, 4000),
                (s, 21),
                101,
                Some(509),
                TcpFlags::ACK,
                b"QUIT\r\n",
            ),
            eth_v4_tcp(
                (s, 21),
                (c, 4000),
                509,
                Some(107),
                TcpFlags::ACK | TcpFlags::FIN,
                b"221 bye\r\n",
            ),
            eth_v4_tcp(
                (c, 4000),
                (s, 21),
                107,
                Some(519),
                TcpFlags::ACK | TcpFlags::FIN,
                b"",
            ),
        ];
        let first = decode(1, &frames[0], 0).unwrap();
        let mut conn = Connection::new(
            SocketAddr::new(first.src, first.sport),
            SocketAddr::new(first.dst, first.dport),
            Origin {
                frame: 1,
                ts: Timestamp(0),
                ..Default::default()
            },
            Limits::default(),
        );
        let mut sink = Both::default();
        for (i, f) in frames.iter().enumerate() {
            let seg = decode(1, f, 0).unwrap();
            let side = conn.side_of(SocketAddr::new(seg.src, seg.sport));
            assert!(!conn.is_reuse(side, &seg) || i == 0);
            conn.packet(
                side,
                &seg,
                Origin {
                    frame: i as u64 + 1,
                    ts: Timestamp(i as i64),
                    ..Default::default()
                },
                &mut sink,
            );
        }
        assert_eq!(sink.data[0], b"QUIT\r\n");
        assert_eq!(sink.data[1], b"220 hi\r\n221 bye\r\n");
        assert!(conn.is_closed());
        assert_eq!(conn.life.syn_frame, Some(1));
        assert_eq!(conn.life.syn_ack_frame, Some(2));
        let syn2 = eth_v4_tcp((c, 4000), (s, 21), 9999, None, TcpFlags::SYN, b"");
        let again = decode(1, &syn2, 0).unwrap();
        assert!(conn.is_reuse(Side::Client, &again));
    }
}
