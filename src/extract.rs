//! An evidence capture for a ticket: only the packets of chosen sessions
//! (and, if asked, their data connections), as pcapng, with a comment on
//! every packet naming its frame in the original capture and on the
//! frames behind a finding the finding itself. Opens in Wireshark, a few
//! KB instead of gigabytes.
//!
//! The packets are picked by Wireshark's `tcp.stream` (numbered the same
//! way while re-reading the capture), so a reused 4-tuple brings nothing
//! of another session along. Blocks are written with pcap-parser's
//! serializer.

use crate::analysis::CaptureResult;
use crate::anonymize::Anonymizer;
use crate::capture::{CaptureError, CaptureReader, Frame, input::HashMode};
use crate::decode::TcpSegment;
use crate::decode::decode;
use crate::engine::streams::StreamIds;
use crate::report::wording::first_sentence;
use crate::rules::Finding;
use etherparse::{IpNumber, LaxNetSlice, LaxSlicedPacket};
use pcap_parser::pcapng::{
    EnhancedPacketBlock, InterfaceDescriptionBlock, OptionCode, PcapNGOption, SectionHeaderBlock,
};
use pcap_parser::{Linktype, ToVec};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

/// What to take out of a capture.
pub struct Selection {
    /// Session ids (`s1`…) as the report numbers them.
    pub sessions: Vec<String>,
    /// Also the sessions' data connections.
    pub with_data: bool,
    /// Map addresses as `--anonymize-ips` does (the same key gives the
    /// same mapping as the report).
    pub anonymize_key: Option<Vec<u8>>,
    /// Leave PASS arguments as captured (`--show-passwords`).
    pub show_passwords: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error("no session {0} in this capture (it has: {1})")]
    NoSuchSession(String, String),
    #[error(
        "session {0} has no tcp.stream number (the capture has over a million TCP conversations)"
    )]
    Unnumbered(String),
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error("cannot write the evidence capture: {0}")]
    Write(String),
}

/// What was written.
#[derive(Debug, PartialEq, Eq)]
pub struct Written {
    pub packets: u64,
    pub comments: u64,
    pub streams: Vec<u32>,
}

/// The longest comment written (pcapng option lengths are 16-bit).
const MAX_COMMENT: usize = 4000;

/// What an evidence capture must hide of one control connection: the
/// password arguments of PASS (as client stream offsets), and then any
/// echo of them in the server's replies.
#[derive(Default)]
struct Control {
    /// The control connection's server port (ports are never mapped).
    server_port: u16,
    /// Sequence number of client stream offset 0.
    client_isn: Option<u32>,
    /// Credentials: client stream offsets [start, end), and the verb and
    /// blanks before each (to find it quoted back in a reply).
    pass_ranges: Vec<(u64, u64, Vec<u8>)>,
    /// Password bytes seen so far, by client stream offset.
    seen: BTreeMap<u64, u8>,
}

impl Control {
    /// The credentials read so far from the client's packets, each with
    /// what stood before it.
    fn passwords(&self) -> Vec<(&[u8], Vec<u8>)> {
        self.pass_ranges
            .iter()
            .filter_map(|(a, b, before)| {
                let pw: Option<Vec<u8>> = (*a..*b).map(|o| self.seen.get(&o).copied()).collect();
                Some((before.as_slice(), pw?))
            })
            .filter(|(_, p)| !p.is_empty())
            .collect()
    }
}

/// The stream offsets of each credential (PASS, ACCT, SITE PASSWD…) of a
/// session.
fn pass_ranges(s: &crate::ftp::session::Session) -> Vec<(u64, u64, Vec<u8>)> {
    s.commands
        .iter()
        .filter_map(|c| {
            let l = &c.line;
            // The line was redacted to `PASS <redacted:N>`: the redaction
            // starts where the secret stood, unless Telnet bytes moved it
            // (then all after the verb goes).
            let at = crate::ftp::message::secret_of(&l.bytes.0)?.start as u64;
            let term = match l.terminator {
                crate::ftp::line::Terminator::CrLf => 2,
                crate::ftp::line::Terminator::Lf | crate::ftp::line::Terminator::Cr => 1,
                _ => 0,
            };
            let end = l.offset + l.raw_len.saturating_sub(term);
            let start = if l.telnet.is_empty() {
                l.offset + at
            } else {
                l.offset + 4
            };
            (start < end).then(|| (start, end, l.bytes.0[..at as usize].to_vec()))
        })
        .collect()
}

/// The streams to take, the comments per original frame, and what to
/// hide per control stream.
type Plan = (
    BTreeSet<u32>,
    BTreeMap<u64, Vec<String>>,
    BTreeMap<u32, Control>,
);

fn plan(r: &CaptureResult, sel: &Selection) -> Result<Plan, ExtractError> {
    let mut plan = Plan::default();
    for id in &sel.sessions {
        let Some(s) = r.sessions.iter().find(|s| &s.name() == id) else {
            let all: Vec<String> = r.sessions.iter().map(|s| s.name()).collect();
            return Err(ExtractError::NoSuchSession(id.clone(), all.join(", ")));
        };
        let findings: Vec<&Finding> = r.findings.iter().filter(|f| &f.session == id).collect();
        add_to_plan(&mut plan, s, &findings, sel)?;
    }
    Ok(plan)
}

/// Adds one session (its control stream, its data streams when asked,
/// what to hide, the findings' comments) to a plan.
fn add_to_plan(
    plan: &mut Plan,
    s: &crate::ftp::session::Session,
    findings: &[&Finding],
    sel: &Selection,
) -> Result<(), ExtractError> {
    let (streams, comments, controls) = plan;
    let stream = s
        .tcp_stream
        .ok_or_else(|| ExtractError::Unnumbered(s.name()))?;
    streams.insert(stream);
    controls.insert(
        stream,
        Control {
            server_port: s.server.port(),
            client_isn: s.tcp[0].seq_base,
            pass_ranges: if sel.show_passwords {
                Vec::new()
            } else {
                pass_ranges(s)
            },
            seen: BTreeMap::new(),
        },
    );
    if sel.with_data {
        streams.extend(s.data_conns.iter().filter_map(|c| c.tcp_stream));
    }
    for f in findings {
        for fr in &f.frames {
            comments.entry(*fr).or_default().push(comment(f));
        }
    }
    Ok(())
}

/// The finding in a line: its rule and first sentence (the report has
/// the rest).
fn comment(f: &Finding) -> String {
    let mut c = format!(
        "portmortem {} ({}, session {}): {}",
        f.rule,
        f.severity.name(),
        f.session,
        crate::escape::printable(&first_sentence(&f.message))
    );
    if c.len() > MAX_COMMENT {
        let mut end = MAX_COMMENT;
        while !c.is_char_boundary(end) {
            end -= 1;
        }
        c.truncate(end);
        c.push('…');
    }
    c
}

fn option(code: OptionCode, text: String) -> PcapNGOption<'static> {
    let bytes = text.into_bytes();
    PcapNGOption {
        code,
        len: bytes.len() as u16,
        value: Cow::Owned(bytes),
    }
}

fn block(mut b: impl ToVec) -> Result<Vec<u8>, ExtractError> {
    b.to_vec()
        .map_err(|e| ExtractError::Write(format!("pcapng serializer: {e:?}")))
}

/// Writes the packets of the selected sessions of `path` (already
/// analysed as `r`) to `out` as pcapng.
pub fn extract(
    path: &Path,
    r: &CaptureResult,
    sel: &Selection,
    out: &mut dyn Write,
) -> Result<Written, ExtractError> {
    let plan = plan(r, sel)?;
    let name = crate::escape::printable(&path.to_string_lossy());
    let header = format!(
        "portmortem extract: sessions {} of {name} (sha256 {}){}",
        sel.sessions.join(", "),
        r.info.sha256.as_deref().unwrap_or("not computed"),
        if sel.with_data {
            ", with their data connections"
        } else {
            ""
        }
    );
    let mut reader = CaptureReader::open(path, HashMode::Off)?;
    let mut ids = StreamIds::default();
    let mut read_error = None;
    let written = write_pcapng(plan, sel, &header, &name, out, &mut |packet| {
        // A read error after the analysis read the same file cleanly means
        // it changed in between; say so rather than hand over half the
        // evidence.
        read_error = reader
            .for_each(&mut |f| {
                let missing = f.orig_len.saturating_sub(f.data.len() as u32);
                if let Ok(seg) = decode(f.linktype, f.data, missing) {
                    let stream = ids.id(&seg, f.number);
                    packet(f, stream, &seg);
                }
            })
            .err();
    })?;
    match read_error {
        Some(e) => Err(e.into()),
        None => Ok(written),
    }
}

/// The packets `watch` buffered of one session (`frames`: each with the
/// `tcp.stream` the engine gave it), with its findings as comments, for
/// the evidence directory.
pub fn write_session(
    s: &crate::ftp::session::Session,
    findings: &[&Finding],
    source: &str,
    frames: &mut dyn Iterator<Item = (Frame<'_>, Option<u32>)>,
    sel: &Selection,
    out: &mut dyn Write,
) -> Result<Written, ExtractError> {
    let mut plan = Plan::default();
    add_to_plan(&mut plan, s, findings, sel)?;
    let name = crate::escape::printable(source);
    let header = format!(
        "portmortem watch: session {} of {name}, with its data connections",
        s.name()
    );
    write_pcapng(plan, sel, &header, &name, out, &mut |packet| {
        for (f, stream) in &mut *frames {
            let missing = f.orig_len.saturating_sub(f.data.len() as u32);
            if let Ok(seg) = decode(f.linktype, f.data, missing) {
                packet(&f, stream, &seg);
            }
        }
    })
}

/// Hands every frame, its `tcp.stream` and its TCP segment to a packet sink.
type Feed<'a> = dyn FnMut(&mut dyn FnMut(&Frame<'_>, Option<u32>, &TcpSegment<'_>)) + 'a;

/// The pcapng: a section header with `header` as its comment, then every
/// frame `feed` gives whose stream the plan takes.
fn write_pcapng(
    plan: Plan,
    sel: &Selection,
    header: &str,
    name: &str,
    out: &mut dyn Write,
    feed: &mut Feed<'_>,
) -> Result<Written, ExtractError> {
    let (streams, comments, controls) = plan;
    let io_err = |e: io::Error| ExtractError::Write(e.to_string());
    let shb = SectionHeaderBlock {
        block_type: 0,
        block_len1: 0,
        bom: 0,
        major_version: 1,
        minor_version: 0,
        section_len: -1,
        options: vec![
            option(OptionCode::Comment, header.to_string()),
            option(
                OptionCode::ShbUserAppl,
                format!("portmortem {}", env!("CARGO_PKG_VERSION")),
            ),
        ],
        block_len2: 0,
    };
    out.write_all(&block(shb)?).map_err(io_err)?;
    let mut w = PacketWriter {
        out,
        ifaces: BTreeMap::new(),
        comments: &comments,
        controls,
        anonymizer: sel.anonymize_key.as_deref().map(Anonymizer::new),
        name,
        written: Written {
            packets: 0,
            comments: 0,
            streams: streams.iter().copied().collect(),
        },
    };
    let mut failure: Option<ExtractError> = None;
    feed(&mut |f, stream, seg| {
        if failure.is_some() {
            return;
        }
        if let Some(stream) = stream.filter(|s| streams.contains(s))
            && let Err(e) = w.packet(f, stream, seg)
        {
            failure = Some(e);
        }
    });
    if let Some(e) = failure {
        return Err(e);
    }
    w.out.flush().map_err(io_err)?;
    Ok(w.written)
}

/// Writes packets, each interface's description before its first one,
/// with passwords masked and addresses mapped.
struct PacketWriter<'a> {
    out: &'a mut dyn Write,
    /// Output interface per (original interface, link type).
    ifaces: BTreeMap<(u32, u32), u32>,
    comments: &'a BTreeMap<u64, Vec<String>>,
    controls: BTreeMap<u32, Control>,
    anonymizer: Option<Anonymizer>,
    name: &'a str,
    written: Written,
}

impl PacketWriter<'_> {
    fn packet(
        &mut self,
        f: &Frame<'_>,
        stream: u32,
        seg: &TcpSegment<'_>,
    ) -> Result<(), ExtractError> {
        let io_err = |e: io::Error| ExtractError::Write(e.to_string());
        let next = self.ifaces.len() as u32;
        let if_id = *self.ifaces.entry((f.interface, f.linktype)).or_insert(next);
        if if_id == next {
            let idb = InterfaceDescriptionBlock {
                block_type: 0,
                block_len1: 0,
                linktype: Linktype(f.linktype as i32),
                reserved: 0,
                snaplen: 0,
                options: Vec::new(),
                block_len2: 0,
                // Nanoseconds, as portmortem keeps time.
                if_tsresol: 9,
                if_tsoffset: 0,
            };
            self.out.write_all(&block(idb)?).map_err(io_err)?;
        }
        let mut options = vec![option(
            OptionCode::Comment,
            format!("frame {} of {}", f.number, self.name),
        )];
        for c in self.comments.get(&f.number).into_iter().flatten() {
            options.push(option(OptionCode::Comment, c.clone()));
            self.written.comments += 1;
        }
        let ns = u64::try_from(f.ts.nanos()).unwrap_or(0);
        let data = self.rewrite(f, stream, seg);
        let epb = EnhancedPacketBlock {
            block_type: 0,
            block_len1: 0,
            if_id,
            ts_high: (ns >> 32) as u32,
            ts_low: ns as u32,
            caplen: data.len() as u32,
            origlen: f.orig_len,
            data: &data,
            options,
            block_len2: 0,
        };
        self.out.write_all(&block(epb)?).map_err(io_err)?;
        self.written.packets += 1;
        Ok(())
    }

    /// The frame as it may leave: PASS arguments (and their echoes)
    /// masked with `*`, addresses mapped in the IP headers and in the
    /// payload text, checksums corrected. Unchanged frames are borrowed.
    fn rewrite<'f>(&mut self, f: &Frame<'f>, stream: u32, seg: &TcpSegment<'_>) -> Cow<'f, [u8]> {
        let Some(payload_at) = offset_in(f.data, seg.payload) else {
            return Cow::Borrowed(f.data);
        };
        let mut data = f.data.to_vec();
        let payload = payload_at..payload_at + seg.payload.len();
        if let Some(c) = self.controls.get_mut(&stream) {
            mask_passwords(c, seg, &mut data[payload.clone()]);
        }
        if let Some(a) = &mut self.anonymizer {
            a.text(&mut data[payload]);
            anonymize_headers(a, f.linktype, &mut data);
        }
        if data == f.data {
            return Cow::Borrowed(f.data);
        }
        fix_checksums(f.linktype, f.data, &mut data);
        Cow::Owned(data)
    }
}

/// Where `part` starts inside `whole` (it must be a sub-slice).
fn offset_in(whole: &[u8], part: &[u8]) -> Option<usize> {
    let at = (part.as_ptr() as usize).checked_sub(whole.as_ptr() as usize)?;
    (at + part.len() <= whole.len()).then_some(at)
}

/// Masks what a segment of a control connection carries of a password.
fn mask_passwords(c: &mut Control, seg: &TcpSegment<'_>, payload: &mut [u8]) {
    if seg.dport == c.server_port {
        let Some(isn) = c.client_isn else { return };
        let off = u64::from(seg.seq.wrapping_sub(isn));
        let end = off + payload.len() as u64;
        for &(a, b, _) in &c.pass_ranges {
            for o in a.max(off)..b.min(end) {
                let i = (o - off) as usize;
                c.seen.insert(o, payload[i]);
                payload[i] = b'*';
            }
        }
    } else {
        // An echo of the command in a reply (`500 'PASS secret': …`).
        for (before, pw) in c.passwords() {
            for at in crate::ftp::message::quoted_secret(payload, before, &pw) {
                payload[at..at + pw.len()].fill(b'*');
            }
        }
    }
}

/// The IP headers of a frame, outermost first: (offset, is IPv4).
fn ip_headers(linktype: u32, data: &[u8]) -> Vec<(usize, bool)> {
    let mut out = Vec::new();
    let Ok(mut p) = crate::decode::link_slice(linktype, data) else {
        return out;
    };
    // A tunnel is followed as far as the decoder follows it.
    for _ in 0..=2 {
        let (hdr, v4, payload) = match &p.net {
            Some(LaxNetSlice::Ipv4(v)) => (v.header().slice(), true, v.payload()),
            Some(LaxNetSlice::Ipv6(v)) => (v.header().slice(), false, v.payload()),
            _ => break,
        };
        let Some(at) = offset_in(data, hdr) else {
            break;
        };
        out.push((at, v4));
        if !matches!(payload.ip_number, IpNumber::IPV4 | IpNumber::IPV6) {
            break;
        }
        match LaxSlicedPacket::from_ip(payload.payload) {
            Ok(inner) => p = inner,
            Err(_) => break,
        }
    }
    out
}

fn anonymize_headers(a: &mut Anonymizer, linktype: u32, data: &mut [u8]) {
    for (at, v4) in ip_headers(linktype, data) {
        let (src, len) = if v4 { (at + 12, 4) } else { (at + 8, 16) };
        for field in [src, src + len] {
            let Some(b) = data.get(field..field + len) else {
                continue;
            };
            let ip = if v4 {
                IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(b).unwrap_or_default()))
            } else {
                IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(b).unwrap_or_default()))
            };
            match a.ip(ip) {
                IpAddr::V4(m) => data[field..field + len].copy_from_slice(&m.octets()),
                IpAddr::V6(m) => data[field..field + len].copy_from_slice(&m.octets()),
            }
        }
    }
}

/// One's-complement sum of 16-bit big-endian words.
fn ones_sum(mut acc: u32, bytes: &[u8]) -> u32 {
    let mut it = bytes.chunks(2);
    for w in &mut it {
        acc += u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)]));
    }
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc
}

/// Corrects the IPv4 header checksums and the TCP checksum of a frame
/// whose addresses or payload bytes changed (`old` is the original). The
/// TCP checksum is updated incrementally (RFC 1624), so a frame cut by the
/// snaplen gets the right value too, and a checksum that was wrong
/// (offloading) stays exactly as wrong.
fn fix_checksums(linktype: u32, old: &[u8], new: &mut [u8]) {
    let headers = ip_headers(linktype, old);
    for &(at, v4) in &headers {
        if v4 && let Some(ihl) = old.get(at).map(|b| usize::from(b & 0x0f) * 4) {
            if at + ihl > new.len() || ihl < 20 {
                continue;
            }
            new[at + 10..at + 12].fill(0);
            let sum = ones_sum(0, &new[at..at + ihl]);
            new[at + 10..at + 12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
        }
    }
    let Ok(p) = crate::decode::link_slice(linktype, old) else {
        return;
    };
    // The innermost IP header is the one the TCP pseudo-header uses.
    let Some(&(ip_at, v4)) = headers.last() else {
        return;
    };
    let tcp = match &p.transport {
        Some(etherparse::TransportSlice::Tcp(t)) => t.slice(),
        // Inside a tunnel: find the TCP header behind the inner IP header.
        _ => match tunnel_tcp(old, ip_at) {
            Some(t) => t,
            None => return,
        },
    };
    let Some(tcp_at) = offset_in(old, tcp) else {
        return;
    };
    if tcp_at + 18 > new.len() {
        return;
    }
    let (addr_at, addr_len) = if v4 { (ip_at + 12, 8) } else { (ip_at + 8, 32) };
    // ~HC' = ~HC + ~m + m' over every word that changed (RFC 1624 eq. 3).
    let hc = u16::from_be_bytes([old[tcp_at + 16], old[tcp_at + 17]]);
    let mut acc = u32::from(!hc);
    let mut add = |o: &[u8], n: &[u8]| {
        for (wo, wn) in o.chunks(2).zip(n.chunks(2)) {
            if wo != wn {
                let (a, b) = (
                    u16::from_be_bytes([wo[0], *wo.get(1).unwrap_or(&0)]),
                    u16::from_be_bytes([wn[0], *wn.get(1).unwrap_or(&0)]),
                );
                acc = ones_sum(acc, &(!a).to_be_bytes());
                acc = ones_sum(acc, &b.to_be_bytes());
            }
        }
    };
    add(
        &old[addr_at..addr_at + addr_len],
        &new[addr_at..addr_at + addr_len],
    );
    add(
        &old[tcp_at..tcp_at + tcp.len()],
        &new[tcp_at..tcp_at + tcp.len()],
    );
    new[tcp_at + 16..tcp_at + 18].copy_from_slice(&(!(acc as u16)).to_be_bytes());
}

/// The TCP header and payload behind the IP header at `ip_at` (tunnels).
fn tunnel_tcp(data: &[u8], ip_at: usize) -> Option<&[u8]> {
    let p = LaxSlicedPacket::from_ip(data.get(ip_at..)?).ok()?;
    match p.transport {
        Some(etherparse::TransportSlice::Tcp(t)) => Some(t.slice()),
        _ => None,
    }
}
