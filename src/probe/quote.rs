//! What a router says when a test line's TTL runs out: ICMP Time Exceeded
//! (RFC 792 type 11, RFC 4443 type 3), read into the part of the original
//! datagram it quotes. RFC 792 asks for the IP header and 8 bytes (the TCP
//! ports and sequence number, nothing of the line); RFC 1812 §4.3.2.3 asks
//! for as much as fits in 576 bytes, which Linux and most routers send, so
//! the quote holds the line as that router received it.
//!
//! The quotes also cross the wire from `reflect` to `probe` (the reply
//! direction's trace): [`Quote::to_record`] and [`records`] are that
//! encoding, so both ends read quotes with this one parser.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One Time Exceeded message, as far as it quotes a TCP segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quote {
    /// Who sent the ICMP message: the router where the TTL ran out.
    pub router: IpAddr,
    /// The quoted segment's ports and sequence number (always there: the
    /// RFC 792 minimum covers them).
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    /// The TCP payload as quoted (possibly cut short).
    pub payload: Vec<u8>,
    /// The payload's length in the original datagram, from its IP header.
    pub payload_len: usize,
    /// The quoted IP header's protocol: 6 (TCP), unless the quote was
    /// damaged on its way back (Linux's FTP NAT helper sequence-adjusts
    /// ICMP errors as if they were TCP, which adds to this byte: 33 or 37
    /// in the lab; docs/upstream-linux-nf-seqadj-icmp.md).
    pub protocol: u8,
    /// The ICMP message as received (from its type byte on): what the
    /// reflector sends on.
    icmp: Vec<u8>,
}

const TCP: u8 = 6;

impl Quote {
    /// Reads an ICMPv4 message (`v6` false) or ICMPv6 message from
    /// `router`; None unless it is a Time Exceeded in transit (code 0)
    /// quoting at least 8 bytes past the IP header. The quoted segment is
    /// read as TCP whatever its protocol field says ([`is_of`] decides
    /// whether that reading stands).
    pub fn parse(router: IpAddr, icmp: &[u8], v6: bool) -> Option<Quote> {
        let (kind, code) = (*icmp.first()?, *icmp.get(1)?);
        if kind != if v6 { 3 } else { 11 } || code != 0 {
            return None;
        }
        // 4 bytes of type, code, checksum; 4 unused.
        let inner = icmp.get(8..)?;
        let (proto, header_len, total) = if v6 {
            let h = etherparse::Ipv6HeaderSlice::from_slice(inner).ok()?;
            (h.next_header().0, 40, 40 + usize::from(h.payload_length()))
        } else {
            let h = etherparse::Ipv4HeaderSlice::from_slice(inner).ok()?;
            (
                h.protocol().0,
                usize::from(h.ihl()) * 4,
                usize::from(h.total_len()),
            )
        };
        let tcp = inner.get(header_len..)?;
        let be16 = |i: usize| u16::from_be_bytes([tcp[i], tcp[i + 1]]);
        if tcp.len() < 8 {
            return None;
        }
        let seq = u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]);
        // The data offset is byte 12: a quote shorter than that carries
        // no payload to read.
        let (payload, payload_len) = match tcp.get(12) {
            Some(off) => {
                let off = usize::from(off >> 4) * 4;
                let in_datagram = total.saturating_sub(header_len + off);
                let quoted = tcp.get(off..).unwrap_or_default();
                (
                    quoted[..quoted.len().min(in_datagram)].to_vec(),
                    in_datagram,
                )
            }
            None => (Vec::new(), total.saturating_sub(header_len + 20)),
        };
        Some(Quote {
            router,
            sport: be16(0),
            dport: be16(2),
            seq,
            payload,
            payload_len,
            protocol: proto,
            icmp: icmp.to_vec(),
        })
    }

    /// Reads what a raw IPv4 ICMP socket delivers: the IP header, then the
    /// ICMP message.
    pub fn parse_v4_datagram(d: &[u8]) -> Option<Quote> {
        let h = etherparse::Ipv4HeaderSlice::from_slice(d).ok()?;
        let icmp = d.get(usize::from(h.ihl()) * 4..)?;
        Quote::parse(IpAddr::V4(h.source_addr()), icmp, false)
    }

    /// The quote says it is of a TCP segment.
    pub fn is_tcp(&self) -> bool {
        self.protocol == TCP
    }

    /// The whole payload was quoted.
    pub fn is_whole(&self) -> bool {
        self.payload.len() >= self.payload_len
    }

    /// The record [`records`] reads: version (4 or 6), the router's
    /// address, the ICMP message's length (2 bytes) and the message.
    pub fn to_record(&self) -> Vec<u8> {
        let mut r = Vec::with_capacity(self.icmp.len() + 19);
        match self.router {
            IpAddr::V4(a) => {
                r.push(4);
                r.extend_from_slice(&a.octets());
            }
            IpAddr::V6(a) => {
                r.push(6);
                r.extend_from_slice(&a.octets());
            }
        }
        let len = self.icmp.len().min(usize::from(u16::MAX));
        r.extend_from_slice(&(len as u16).to_be_bytes());
        r.extend_from_slice(&self.icmp[..len]);
        r
    }
}

/// Reads concatenated [`Quote::to_record`]s; None if they do not parse as
/// records (a record whose message is no quote is skipped).
pub fn records(mut b: &[u8]) -> Option<Vec<Quote>> {
    let mut out = Vec::new();
    while let Some((&v, rest)) = b.split_first() {
        let (router, rest) = match v {
            4 => {
                let a: [u8; 4] = rest.get(..4)?.try_into().ok()?;
                (IpAddr::V4(Ipv4Addr::from(a)), &rest[4..])
            }
            6 => {
                let a: [u8; 16] = rest.get(..16)?.try_into().ok()?;
                (IpAddr::V6(Ipv6Addr::from(a)), &rest[16..])
            }
            _ => return None,
        };
        let len = usize::from(u16::from_be_bytes(rest.get(..2)?.try_into().ok()?));
        let msg = rest.get(2..2 + len)?;
        out.extend(Quote::parse(router, msg, v == 6));
        b = &rest[2 + len..];
    }
    Some(out)
}

/// Whether a quote is of the traced segment. Addresses are no guide
/// across NAT (it rewrites the quoted headers, or translates them back on
/// the way home), so a quote belongs to the segment when its sequence
/// number is the one expected, its ports are the connection's, or it
/// quotes the line itself or a rewrite of it (the same first 3 bytes:
/// verb or reply code). A quote whose protocol field is not TCP counts
/// only with both the connection's ports and the line's first bytes.
pub fn is_of(q: &Quote, line: &[u8], seq: Option<u32>, ports: (u16, u16)) -> bool {
    let verb = |b: &[u8]| -> Option<[u8; 3]> {
        let v: [u8; 3] = b.get(..3)?.try_into().ok()?;
        Some(v.map(|c| c.to_ascii_uppercase()))
    };
    let same_ports = (q.sport, q.dport) == ports;
    let same_verb = verb(&q.payload).is_some_and(|v| Some(v) == verb(line));
    if !q.is_tcp() {
        return same_ports && same_verb;
    }
    seq == Some(q.seq) || same_ports || same_verb
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever arrives on the raw socket or in a reflector's report,
        /// reading it never panics, and a record read back is the record.
        #[test]
        fn any_bytes_read_without_panic(b in proptest::collection::vec(any::<u8>(), 0..700)) {
            let _ = Quote::parse_v4_datagram(&b);
            let _ = Quote::parse(IpAddr::V6(Ipv6Addr::LOCALHOST), &b, true);
            let _ = records(&b);
            if let Some(q) = Quote::parse(IpAddr::V4(Ipv4Addr::LOCALHOST), &b, false) {
                prop_assert_eq!(records(&q.to_record()), Some(vec![q]));
            }
        }
    }

    /// A Time Exceeded from `router` quoting an IPv4 TCP segment that
    /// carried `payload`, cut to `quote` bytes of the datagram.
    pub(crate) fn time_exceeded(
        router: [u8; 4],
        seq: u32,
        payload: &[u8],
        quote: usize,
    ) -> Vec<u8> {
        let tcp_len = 20 + payload.len();
        let ip = etherparse::Ipv4Header::new(
            tcp_len as u16,
            1,
            etherparse::IpNumber::TCP,
            [198, 51, 100, 60],
            [203, 0, 113, 10],
        )
        .unwrap();
        let mut d = ip.to_bytes().to_vec();
        let mut tcp = vec![0u8; 20];
        tcp[..2].copy_from_slice(&40000u16.to_be_bytes());
        tcp[2..4].copy_from_slice(&21u16.to_be_bytes());
        tcp[4..8].copy_from_slice(&seq.to_be_bytes());
        tcp[12] = 5 << 4;
        d.extend_from_slice(&tcp);
        d.extend_from_slice(payload);
        d.truncate(quote);
        let mut icmp = vec![11, 0, 0, 0, 0, 0, 0, 0];
        icmp.extend_from_slice(&d);
        let outer = etherparse::Ipv4Header::new(
            icmp.len() as u16,
            64,
            etherparse::IpNumber::ICMP,
            router,
            [198, 51, 100, 60],
        )
        .unwrap();
        let mut out = outer.to_bytes().to_vec();
        out.extend_from_slice(&icmp);
        out
    }

    #[test]
    fn a_full_quote_holds_the_line_as_received() {
        let line = b"PORT 198,51,100,60,4,22_\r\n";
        let d = time_exceeded([192, 0, 2, 6], 7, line, 576);
        let q = Quote::parse_v4_datagram(&d).unwrap();
        assert_eq!(q.router, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 6)));
        assert_eq!((q.sport, q.dport, q.seq), (40000, 21, 7));
        assert_eq!(q.payload, line);
        assert!(q.is_whole());
        // Through the reflector's encoding and back.
        let again = records(&[q.to_record(), q.to_record()].concat()).unwrap();
        assert_eq!(again, vec![q.clone(), q]);
    }

    #[test]
    fn the_rfc_792_minimum_quotes_no_payload() {
        let d = time_exceeded([192, 0, 2, 6], 7, b"PORT 1,2,3,4,5,6\r\n", 28);
        let q = Quote::parse_v4_datagram(&d).unwrap();
        assert!(q.payload.is_empty() && !q.is_whole());
        assert_eq!(q.payload_len, 18);
        assert!(is_of(&q, b"PORT", None, (40000, 21)));
        assert!(!is_of(&q, b"PORT", None, (40001, 21)));
        // Cut inside the payload: what is there, and how much was meant.
        let d = time_exceeded([192, 0, 2, 6], 7, b"PORT 1,2,3,4,5,6\r\n", 50);
        let q = Quote::parse_v4_datagram(&d).unwrap();
        assert_eq!(
            (q.payload.as_slice(), q.payload_len),
            (&b"PORT 1,2,3"[..], 18)
        );
    }

    #[test]
    fn quotes_match_by_sequence_or_by_line_not_by_address() {
        let d = time_exceeded([192, 0, 2, 6], 99, b"PORT 192,0,2,5,4,1\r\n", 576);
        let q = Quote::parse_v4_datagram(&d).unwrap();
        // Translated by an ALG: still the PORT line sent.
        assert!(is_of(&q, b"PORT 198,51,100,60,4,1", None, (1, 2)));
        assert!(is_of(&q, b"SIZE x", Some(99), (1, 2)));
        assert!(!is_of(&q, b"SIZE x", Some(98), (1, 2)));
    }

    #[test]
    fn a_quote_damaged_on_its_way_back_counts_only_if_all_else_is_ours() {
        // Byte 9 of the quoted IP header (28 + 9 into the datagram): the
        // protocol, as this lab's kernel NAT left it.
        let mut d = time_exceeded([192, 0, 2, 5], 7, b"227 Entering (1,2,3,4,5,6)\r\n", 576);
        d[37] = 0x21;
        let q = Quote::parse_v4_datagram(&d).unwrap();
        assert!(!q.is_tcp());
        assert!(is_of(&q, b"227 Entering", None, (40000, 21)));
        assert!(!is_of(&q, b"227 Entering", Some(7), (40000, 20)));
        assert!(!is_of(&q, b"PORT", None, (40000, 21)));
    }

    #[test]
    fn anything_else_is_no_quote() {
        assert_eq!(Quote::parse_v4_datagram(&[]), None);
        let mut d = time_exceeded([192, 0, 2, 6], 7, b"x", 576);
        d[20] = 3; // destination unreachable
        assert_eq!(Quote::parse_v4_datagram(&d), None);
        assert_eq!(records(&[4, 1, 2]), None);
        assert_eq!(records(&[9]), None);
        assert_eq!(records(&[]), Some(vec![]));
    }
}
