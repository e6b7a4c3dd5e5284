//! Sun snoop files (RFC 1761), the format Check Point's `fw monitor -o`
//! writes, read exactly as Wireshark's wiretap reads them
//! (`wiretap/snoop.c`: `snoop_open`, `snoop_read_packet`).
//!
//! A 16-byte file header (`snoop\0\0\0`, version, datalink type, all
//! big-endian), then records: original length, included length, record
//! length, cumulative drops, seconds, microseconds, the packet, and padding
//! up to the record length. Versions 2 to 5 are read (2: Solaris snoop;
//! 3 to 5: Shomiti/Finisar Surveyor hardware). A first record padded by at
//! least a Surveyor trailer's 20 bytes makes the file Shomiti's, whose
//! datalink types mean other things and whose Ethernet frames end in an
//! FCS. Every record is a frame, numbered as Wireshark numbers them.
//!
//! Our own reader, not the `snoop` crate (1.0.2): that crate accepts
//! version 2 only and refuses padding of more than 4 bytes (so neither
//! Shomiti files nor a Solaris record padded by 6), and its errors say
//! neither the file nor the offset. This one is a loop of fixed-size reads
//! with memory bounded by one packet ([`MAX_PACKET`], Wireshark's limit).

use super::{CaptureErrorKind, MAX_RECORD, Meta};
use crate::timestamp::Timestamp;
use std::io::{self, Read};

/// The file's first eight bytes.
pub const MAGIC: [u8; 8] = *b"snoop\0\0\0";

/// The file header: the magic, the version, the datalink type.
pub const FILE_HEADER: usize = 16;

/// A record's header.
const RECORD_HEADER: usize = 24;

/// The largest packet Wireshark reads (`WTAP_MAX_PACKET_SIZE_STANDARD`);
/// a record that claims more is corruption, as wiretap says.
pub const MAX_PACKET: u32 = 262_144;

const _: () = assert!(MAX_PACKET as usize <= MAX_RECORD);

/// Padding in a first record that makes the file a Shomiti/Finisar
/// Surveyor capture (the size of its trailer).
const SHOMITI_TRAILER: u32 = 20;

/// snoop's private datalink types (`SNOOP_PRIVATE_BIT`).
const PRIVATE: u32 = 0x8000_0000;

/// Which flavour of snoop the file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flavour {
    Snoop,
    Shomiti,
}

/// The LINKTYPE_* that holds the same frames as a datalink type Wireshark
/// reads (`snoop_encap`, `snoop_private_encap`, `shomiti_encap`), with its
/// name; `Err` names a type Wireshark does not read, or one it reads that
/// has no LINKTYPE whose frames are the same bytes.
fn linktype(flavour: Flavour, network: u32) -> Result<(u32, &'static str), String> {
    let ours = match (flavour, network) {
        (Flavour::Snoop, 0 | 4) => (1, "Ethernet"),
        (Flavour::Snoop, 2) => (6, "token ring"),
        (Flavour::Snoop, 8) => (10, "FDDI"),
        // DL_OTHER and software loopback: Wireshark's NULL (BSD loopback).
        (Flavour::Snoop, 9 | 14) => (0, "loopback"),
        (Flavour::Snoop, 16) => (122, "IP over Fibre Channel"),
        // atmsnoop: the 4-byte SunATM pseudo-header, then the PDU, as
        // LINKTYPE_SUNATM holds them (Wireshark moves the header into
        // its pseudo-header, so its frame lengths are 4 bytes less).
        (Flavour::Snoop, 18) => (123, "ATM classical IP"),
        (Flavour::Snoop, n) if n == PRIVATE | 5 => (226, "ipnet"),
        (Flavour::Shomiti, 0 | 4 | 10 | 12 | 19) => (1, "Ethernet with FCS"),
        (Flavour::Shomiti, 2 | 11 | 13 | 14) => (6, "token ring"),
        (Flavour::Shomiti, 8) => (10, "FDDI"),
        (Flavour::Snoop, 26) => {
            return Err(format!(
                "snoop datalink type {network} (InfiniBand) has no pcap link type portmortem can hand it as"
            ));
        }
        (Flavour::Shomiti, 18) => {
            return Err(format!(
                "Shomiti datalink type {network} (802.11 with a Surveyor radio header) is not read"
            ));
        }
        (Flavour::Snoop, n) if n & PRIVATE != 0 => {
            return Err(format!(
                "snoop private datalink type {} unknown or unsupported",
                n ^ PRIVATE
            ));
        }
        (Flavour::Snoop, n) => {
            return Err(format!("snoop datalink type {n} unknown or unsupported"));
        }
        (Flavour::Shomiti, n) => {
            return Err(format!("Shomiti datalink type {n} unknown or unsupported"));
        }
    };
    Ok(ours)
}

/// A record's header, as the file has it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct RecordHeader {
    orig_len: u32,
    incl_len: u32,
    rec_len: u32,
    secs: u32,
    micros: u32,
}

impl RecordHeader {
    fn parse(b: &[u8; RECORD_HEADER]) -> Self {
        let at = |o: usize| u32::from_be_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        RecordHeader {
            orig_len: at(0),
            incl_len: at(4),
            rec_len: at(8),
            // at(12): cumulative drops, which Wireshark does not read.
            secs: at(16),
            micros: at(20),
        }
    }

    /// The bytes of padding after the packet, or why the record is
    /// corrupt (`snoop_read_packet`'s checks, in its order).
    fn padding(&self) -> Result<u32, String> {
        if self.orig_len > MAX_PACKET {
            return Err(format!(
                "snoop record: original length {} is more than {MAX_PACKET}, the largest packet Wireshark reads",
                self.orig_len
            ));
        }
        if self.incl_len > MAX_PACKET {
            return Err(format!(
                "snoop record: {} bytes captured, more than {MAX_PACKET}, the largest packet Wireshark reads",
                self.incl_len
            ));
        }
        if self.incl_len > self.rec_len {
            return Err(format!(
                "snoop record: {} bytes captured in a record of {}",
                self.incl_len, self.rec_len
            ));
        }
        (self.rec_len - self.incl_len)
            .checked_sub(RECORD_HEADER as u32)
            .ok_or_else(|| {
                format!(
                    "snoop record: a record of {} bytes cannot hold its {}-byte header and {} bytes captured",
                    self.rec_len, RECORD_HEADER, self.incl_len
                )
            })
    }

    /// `snoop_open`'s test of the first record: padding of at least a
    /// Surveyor trailer.
    fn shomiti(&self) -> bool {
        self.rec_len
            .checked_sub(RECORD_HEADER as u32)
            .and_then(|r| r.checked_sub(self.incl_len))
            .is_some_and(|pad| pad >= SHOMITI_TRAILER)
    }

    /// Seconds and microseconds, as Wireshark takes them (microseconds
    /// past a million are not refused: they carry into the seconds).
    fn ts(&self) -> Timestamp {
        Timestamp::from_parts(i64::from(self.secs), i64::from(self.micros) * 1000)
    }
}

/// A snoop file being read.
pub(super) struct Snoop {
    inner: Box<dyn Read + Send>,
    /// Bytes of the (decompressed) stream read so far.
    offset: u64,
    linktype: u32,
    /// The first record's header, read to tell the flavour.
    first: Option<RecordHeader>,
    buf: Vec<u8>,
}

/// Reads up to `buf.len()` bytes; fewer only at the end of the input.
fn fill(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

fn io_error(e: io::Error) -> CaptureErrorKind {
    CaptureErrorKind::Io(e.to_string())
}

impl Snoop {
    /// Reads the file header and the first record's header; the format
    /// string for reports, or why the file cannot be read (at offset 0).
    pub(super) fn open(
        mut inner: Box<dyn Read + Send>,
    ) -> Result<(Snoop, String), CaptureErrorKind> {
        let mut h = [0u8; FILE_HEADER];
        if fill(&mut inner, &mut h).map_err(io_error)? < FILE_HEADER {
            return Err(CaptureErrorKind::Truncated);
        }
        if h[..8] != MAGIC {
            return Err(CaptureErrorKind::Malformed("snoop file header".into()));
        }
        let version = u32::from_be_bytes([h[8], h[9], h[10], h[11]]);
        let network = u32::from_be_bytes([h[12], h[13], h[14], h[15]]);
        if !(2..=5).contains(&version) {
            return Err(CaptureErrorKind::Malformed(format!(
                "snoop file header (version {version}; Wireshark reads 2 to 5)"
            )));
        }
        let mut r = [0u8; RECORD_HEADER];
        let got = fill(&mut inner, &mut r).map_err(io_error)?;
        // No whole first record header: no packets (a short one is found
        // truncated when read).
        let first = (got == RECORD_HEADER).then(|| RecordHeader::parse(&r));
        let flavour = if first.is_some_and(|f| f.shomiti()) {
            Flavour::Shomiti
        } else {
            Flavour::Snoop
        };
        let (linktype, what) = linktype(flavour, network).map_err(CaptureErrorKind::Malformed)?;
        let format = match flavour {
            Flavour::Snoop => format!("snoop {version} ({what})"),
            Flavour::Shomiti => format!("Shomiti/Finisar Surveyor snoop {version} ({what})"),
        };
        let mut s = Snoop {
            inner,
            offset: FILE_HEADER as u64,
            linktype,
            first,
            buf: Vec::new(),
        };
        if first.is_none() && got > 0 {
            // Keep the partial header's bytes for the truncation error.
            s.inner = Box::new(io::Cursor::new(r[..got].to_vec()).chain(s.inner));
        }
        Ok((s, format))
    }

    /// Hands every record to `meta` as a frame while `more` says so; an
    /// error with the offset of the record it is in.
    pub(super) fn read(
        &mut self,
        meta: &mut Meta,
        f: &mut dyn FnMut(&super::Frame<'_>),
        more: &dyn Fn() -> bool,
    ) -> Result<(), (CaptureErrorKind, u64)> {
        while more() {
            let at = self.offset;
            let header = match self.first.take() {
                Some(h) => h,
                None => {
                    let mut r = [0u8; RECORD_HEADER];
                    match fill(&mut self.inner, &mut r) {
                        Ok(0) => return Ok(()),
                        Ok(RECORD_HEADER) => RecordHeader::parse(&r),
                        Ok(_) => return Err((CaptureErrorKind::Truncated, at)),
                        Err(e) => return Err((io_error(e), at)),
                    }
                }
            };
            let padding = header
                .padding()
                .map_err(|m| (CaptureErrorKind::Malformed(m), at))?;
            let len = header.incl_len as usize;
            self.buf.resize(len, 0);
            match fill(&mut self.inner, &mut self.buf) {
                Ok(n) if n == len => {}
                Ok(_) => return Err((CaptureErrorKind::Truncated, at)),
                Err(e) => return Err((io_error(e), at)),
            }
            match io::copy(
                &mut (&mut self.inner).take(u64::from(padding)),
                &mut io::sink(),
            ) {
                Ok(n) if n == u64::from(padding) => {}
                Ok(_) => return Err((CaptureErrorKind::Truncated, at)),
                Err(e) => return Err((io_error(e), at)),
            }
            self.offset = at + u64::from(header.rec_len);
            meta.emit(header.ts(), self.linktype, &self.buf, header.orig_len, 0, f);
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A snoop file of `network` with records (seconds, µs, packet,
    /// padding).
    pub(crate) fn snoop(network: u32, records: &[(u32, u32, &[u8], usize)]) -> Vec<u8> {
        let mut v = MAGIC.to_vec();
        v.extend_from_slice(&2u32.to_be_bytes());
        v.extend_from_slice(&network.to_be_bytes());
        for (s, us, d, pad) in records {
            let rec_len = (RECORD_HEADER + d.len() + pad) as u32;
            for n in [d.len() as u32, d.len() as u32, rec_len, 0, *s, *us] {
                v.extend_from_slice(&n.to_be_bytes());
            }
            v.extend_from_slice(d);
            v.extend(std::iter::repeat_n(0, *pad));
        }
        v
    }

    fn header(orig: u32, incl: u32, rec: u32) -> RecordHeader {
        RecordHeader {
            orig_len: orig,
            incl_len: incl,
            rec_len: rec,
            secs: 0,
            micros: 0,
        }
    }

    #[test]
    fn padding_and_wiresharks_checks() {
        assert_eq!(header(60, 60, 84).padding(), Ok(0));
        assert_eq!(header(61, 61, 88).padding(), Ok(3));
        assert!(header(MAX_PACKET + 1, 10, 40).padding().is_err());
        assert!(header(10, MAX_PACKET + 1, u32::MAX).padding().is_err());
        assert!(header(10, 20, 10).padding().is_err());
        // Negative padding: the header does not fit.
        assert!(header(10, 10, 30).padding().is_err());
    }

    #[test]
    fn a_first_record_padded_by_a_trailer_is_shomitis() {
        assert!(!header(60, 60, 84 + 6).shomiti());
        assert!(header(60, 60, 84 + 20).shomiti());
        assert!(!header(60, 60, 10).shomiti());
    }

    #[test]
    fn datalink_types_as_wireshark_maps_them() {
        assert_eq!(linktype(Flavour::Snoop, 4).unwrap().0, 1);
        assert_eq!(linktype(Flavour::Snoop, 0).unwrap().0, 1);
        assert_eq!(linktype(Flavour::Snoop, PRIVATE | 5).unwrap().0, 226);
        assert_eq!(linktype(Flavour::Shomiti, 12).unwrap().0, 1);
        assert!(linktype(Flavour::Snoop, 12).is_err());
        assert!(linktype(Flavour::Snoop, PRIVATE | 4).is_err());
        assert!(linktype(Flavour::Snoop, 1000).is_err());
    }

    #[test]
    fn microseconds_become_nanoseconds() {
        let mut h = header(1, 1, 28);
        h.secs = 10;
        h.micros = 5;
        assert_eq!(h.ts().0, 10_000_005_000);
    }
}
