//! FTP on a port that is not a control port: a connection whose server
//! speaks first with a `220` banner is held as a candidate, its segments
//! buffered, until the client's first line shows whether it is FTP (a
//! known command verb) or not. Bounded: a candidate that has not decided
//! within a few segments or kilobytes is not FTP.

use crate::decode::{TcpFlags, TcpSegment};
use crate::ftp::message::starts_with_known_verb;
use crate::reassembly::Origin;
use crate::timestamp::Timestamp;
use std::net::SocketAddr;

/// Segments a candidate may hold before it is judged not FTP.
pub const MAX_SEGS: usize = 32;
/// Payload bytes a candidate may hold before it is judged not FTP.
pub const MAX_BYTES: usize = 16 << 10;

/// A segment held while its connection is a candidate.
pub struct Buffered {
    pub origin: Origin,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub window: u16,
    pub payload: Vec<u8>,
    pub missing: u32,
    pub ttl: u8,
    pub ip_id: Option<u16>,
    pub sack: Option<(u32, u32)>,
}

impl Buffered {
    pub fn of(seg: &TcpSegment<'_>, src: SocketAddr, dst: SocketAddr, at: Origin) -> Buffered {
        Buffered {
            origin: at,
            src,
            dst,
            seq: seg.seq,
            ack: seg.ack,
            flags: seg.flags,
            window: seg.window,
            payload: seg.payload.to_vec(),
            missing: seg.missing,
            ttl: seg.ttl,
            ip_id: seg.ip_id,
            sack: seg.sack,
        }
    }

    /// The segment again, for the session it turned out to belong to.
    pub fn segment(&self) -> TcpSegment<'_> {
        TcpSegment {
            src: self.src.ip(),
            dst: self.dst.ip(),
            sport: self.src.port(),
            dport: self.dst.port(),
            seq: self.seq,
            ack: self.ack,
            flags: self.flags,
            window: self.window,
            payload: &self.payload,
            missing: self.missing,
            ttl: self.ttl,
            ip_id: self.ip_id,
            sack: self.sack,
        }
    }
}

/// Handshakes kept at most: the oldest is forgotten past it (its session,
/// if a banner follows, then starts at the banner, as without this).
pub const MAX_HANDSHAKES: usize = 1024;
/// Payload-free segments kept per handshake (SYN, SYN-ACK, ACK, a
/// retransmitted SYN); a connection that sends more without payload is
/// not at its start any more.
pub const MAX_HANDSHAKE_SEGS: usize = 4;

/// The handshakes of connections on other ports than the control ports,
/// kept until their first payload: when it is a `220` banner, the
/// session starts at its SYN, and the handshake's frames are its control
/// frames, not other TCP. Bounded: [`MAX_HANDSHAKES`] connections, the
/// oldest forgotten first.
#[derive(Default)]
pub struct Handshakes {
    map: ahash::AHashMap<super::flows::FlowKey, Vec<Buffered>>,
    order: std::collections::VecDeque<super::flows::FlowKey>,
}

impl Handshakes {
    /// A SYN: the connection's handshake starts (again).
    pub fn start(&mut self, key: super::flows::FlowKey, b: Buffered) {
        if self.map.insert(key, vec![b]).is_none() {
            self.order.push_back(key);
        }
        while self.map.len() > MAX_HANDSHAKES {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            self.map.remove(&old);
        }
        // Forgotten keys stay in `order` until they come out of it; keep
        // it within twice the map.
        if self.order.len() > 2 * MAX_HANDSHAKES {
            let map = &self.map;
            self.order.retain(|k| map.contains_key(k));
        }
    }

    /// Whether the connection's handshake is being kept.
    pub fn contains(&self, key: &super::flows::FlowKey) -> bool {
        self.map.contains_key(key)
    }

    /// Another payload-free segment of a kept handshake; false (and the
    /// handshake is forgotten) when it has had its share.
    pub fn push(&mut self, key: &super::flows::FlowKey, b: Buffered) -> bool {
        match self.map.get_mut(key) {
            Some(v) if v.len() < MAX_HANDSHAKE_SEGS => {
                v.push(b);
                true
            }
            Some(_) => {
                self.map.remove(key);
                false
            }
            None => false,
        }
    }

    /// The handshake of a connection whose first payload arrived.
    pub fn take(&mut self, key: &super::flows::FlowKey) -> Vec<Buffered> {
        self.map.remove(key).unwrap_or_default()
    }
}

/// A connection that opened with a banner, not yet judged.
pub struct Candidate {
    pub server: SocketAddr,
    pub client: SocketAddr,
    pub segs: Vec<Buffered>,
    pub bytes: usize,
    pub first: Origin,
}

/// What a candidate is, so far.
#[derive(Debug, PartialEq, Eq)]
pub enum Judgement {
    Wait,
    Ftp,
    NotFtp,
}

/// Whether a server's first segment is an FTP banner (`220 ` or `220-`).
pub fn is_banner(seg: &TcpSegment<'_>) -> bool {
    !seg.flags.syn()
        && seg.payload.len() >= 4
        && seg.payload.starts_with(b"220")
        && matches!(seg.payload[3], b' ' | b'-')
}

impl Candidate {
    /// A candidate opened by the banner `seg` from `server`.
    pub fn new(seg: &TcpSegment<'_>, server: SocketAddr, client: SocketAddr, at: Origin) -> Self {
        Candidate {
            server,
            client,
            segs: vec![Buffered::of(seg, server, client, at)],
            bytes: seg.payload.len(),
            first: at,
        }
    }

    /// The candidate with the handshake that came before its banner: it
    /// starts at the SYN.
    pub fn after(mut self, handshake: Vec<Buffered>) -> Self {
        if let Some(b) = handshake.first() {
            self.first = b.origin;
            self.segs.splice(0..0, handshake);
        }
        self
    }

    pub fn push(&mut self, seg: &TcpSegment<'_>, src: SocketAddr, dst: SocketAddr, at: Origin) {
        self.segs.push(Buffered::of(seg, src, dst, at));
        self.bytes += seg.payload.len();
    }

    /// When its last segment came.
    pub fn last_ts(&self) -> Timestamp {
        self.segs.last().map_or(self.first.ts, |b| b.origin.ts)
    }

    /// Memory of the buffered segments (counted in the engine's budget).
    pub fn mem(&self) -> usize {
        std::mem::size_of::<Candidate>()
            + self.bytes
            + self.segs.len() * std::mem::size_of::<Buffered>()
    }

    /// FTP once the client's first line is a known FTP command.
    pub fn judge(&self) -> Judgement {
        let first_client = self
            .segs
            .iter()
            .find(|b| b.src == self.client && !b.payload.is_empty());
        if let Some(b) = first_client {
            let line_end = b.payload.iter().position(|&x| x == b'\n');
            let line = &b.payload[..line_end.unwrap_or(b.payload.len())];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            return if starts_with_known_verb(line) {
                Judgement::Ftp
            } else {
                Judgement::NotFtp
            };
        }
        if self.segs.len() > MAX_SEGS || self.bytes > MAX_BYTES {
            Judgement::NotFtp
        } else {
            Judgement::Wait
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timestamp::Timestamp;

    const SERVER: &str = "203.0.113.10:2121";
    const CLIENT: &str = "198.51.100.60:40000";

    fn seg(payload: &[u8], flags: u8) -> TcpSegment<'_> {
        let (s, c): (SocketAddr, SocketAddr) = (SERVER.parse().unwrap(), CLIENT.parse().unwrap());
        TcpSegment {
            src: s.ip(),
            dst: c.ip(),
            sport: s.port(),
            dport: c.port(),
            seq: 1,
            ack: 1,
            flags: TcpFlags(flags),
            window: 512,
            payload,
            missing: 0,
            ttl: 64,
            ip_id: None,
            sack: None,
        }
    }

    fn at(frame: u64) -> Origin {
        Origin {
            frame,
            ts: Timestamp(frame as i64),
            ..Default::default()
        }
    }

    fn candidate() -> Candidate {
        let (s, c) = (SERVER.parse().unwrap(), CLIENT.parse().unwrap());
        Candidate::new(&seg(b"220 ready\r\n", 0x18), s, c, at(1))
    }

    #[test]
    fn banners() {
        assert!(is_banner(&seg(b"220 ready\r\n", 0x18)));
        assert!(is_banner(&seg(b"220-welcome\r\n", 0x18)));
        assert!(!is_banner(&seg(b"2201\r\n", 0x18)));
        assert!(!is_banner(&seg(b"HTTP/1.1 200 OK\r\n", 0x18)));
        assert!(!is_banner(&seg(b"220", 0x18)));
        // A SYN carrying data is not a banner.
        assert!(!is_banner(&seg(b"220 ready\r\n", 0x02)));
    }

    #[test]
    fn the_clients_first_line_decides() {
        let (s, c): (SocketAddr, SocketAddr) = (SERVER.parse().unwrap(), CLIENT.parse().unwrap());
        let mut k = candidate();
        assert_eq!(k.judge(), Judgement::Wait);
        k.push(&seg(b"USER anonymous\r\n", 0x18), c, s, at(2));
        assert_eq!(k.judge(), Judgement::Ftp);
        let mut k = candidate();
        k.push(&seg(b"EHLO mail\r\n", 0x18), c, s, at(2));
        assert_eq!(k.judge(), Judgement::NotFtp);
        assert!(k.mem() > k.bytes);
    }

    #[test]
    fn a_candidate_that_does_not_decide_is_not_ftp() {
        let (s, c): (SocketAddr, SocketAddr) = (SERVER.parse().unwrap(), CLIENT.parse().unwrap());
        let mut k = candidate();
        for i in 0..MAX_SEGS as u64 {
            k.push(&seg(b"", 0x10), c, s, at(i + 2));
        }
        assert_eq!(k.judge(), Judgement::NotFtp);
        let b = &k.segs[0];
        assert_eq!(b.segment().payload, b"220 ready\r\n");
    }
}
