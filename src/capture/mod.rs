//! Stage 1: capture reading.
//!
//! Streams frames out of pcap (both byte orders, µs/ns, the "modified"
//! variant) and pcapng (several sections and interfaces, per-interface link
//! type and timestamp resolution) with memory bounded by one record. Frame
//! numbers count from 1 across the whole file, as Wireshark numbers them.
//! Sun snoop files (`snoop.rs`; Check Point's `fw monitor -o` writes them,
//! read with their FW-1 headers in `fw1.rs`) are recognised by their magic
//! too and read by a reader of our own.
//! A truncated or corrupt file ends the stream with an error that names the
//! file, the byte offset and the last good frame; the frames read before it
//! have already been handed out.

mod blocks;
pub mod fw1;
pub mod input;
pub mod legs;
mod snoop;

use crate::timestamp::Timestamp;
use blocks::{Meta, Step};
use input::{Compression, Container, HashMode, OpenError, Opened, RawHandle};
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{LegacyPcapReader, PcapError, PcapNGReader};
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

/// One captured frame, borrowed from the reader's buffer.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// 1-based, across all sections, as Wireshark numbers frames.
    pub number: u64,
    pub ts: Timestamp,
    /// LINKTYPE_* value of the interface that captured it.
    pub linktype: u32,
    pub data: &'a [u8],
    /// Length on the wire (larger than `data` when the snaplen cut it).
    pub orig_len: u32,
    /// The pcapng interface's index in the whole file (0 for pcap).
    pub interface: u32,
    /// A frame of a leg this reader's view does not hold, handed over
    /// only so that `tcp.stream` numbers stay those of the whole file (as
    /// Wireshark numbers them): nothing else may be read from it.
    pub outside_view: bool,
    /// Where inside the device a Check Point `fw monitor` file saw it
    /// (its FW-1 header); None in any other capture.
    pub point: Option<fw1::Point>,
}

/// What went wrong while reading a capture.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaptureErrorKind {
    #[error("{0}")]
    Open(String),
    #[error("read error: {0}")]
    Io(String),
    #[error("the file ends in the middle of a record (truncated capture)")]
    Truncated,
    #[error("malformed {0}")]
    Malformed(String),
    #[error("a record claims {0} bytes, more than the {1}-byte limit")]
    TooLarge(u64, u64),
}

/// A capture error, located in the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {kind} at byte offset {offset}{where_}", where_ = self.location())]
pub struct CaptureError {
    pub path: String,
    pub kind: CaptureErrorKind,
    /// Frames successfully read before the error.
    pub frames_read: u64,
    /// Offset in the (decompressed) capture stream.
    pub offset: u64,
    pub compressed: bool,
}

impl CaptureError {
    /// The capture `name` could not be opened.
    pub fn open(name: &str, e: OpenError) -> Self {
        CaptureError {
            path: name.to_string(),
            kind: CaptureErrorKind::Open(e.to_string()),
            frames_read: 0,
            offset: 0,
            compressed: false,
        }
    }

    fn location(&self) -> String {
        let stream = if self.compressed {
            " of the decompressed stream"
        } else {
            ""
        };
        if self.frames_read == 0 {
            format!("{stream} (before the first frame)")
        } else {
            format!(
                "{stream} (after frame {}, in frame {} or the block after it)",
                self.frames_read,
                self.frames_read + 1
            )
        }
    }
}

impl Serialize for CaptureError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("CaptureError", 5)?;
        st.serialize_field("path", &self.path)?;
        st.serialize_field("message", &self.to_string())?;
        st.serialize_field("frames_read", &self.frames_read)?;
        st.serialize_field("byte_offset", &self.offset)?;
        st.serialize_field("offset_in_decompressed_stream", &self.compressed)?;
        st.end()
    }
}

impl schemars::JsonSchema for CaptureError {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "CaptureError".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "object",
            "description": "Where reading a capture failed; what was read before it is kept.",
            "properties": {
                "path": {"type": "string", "description": "The capture's path as given."},
                "message": {"type": "string", "description": "What went wrong and where, in a sentence naming the file and the byte offset."},
                "frames_read": {"type": "integer", "minimum": 0, "description": "Frames read before the error (their results are reported)."},
                "byte_offset": {"type": "integer", "minimum": 0, "description": "Where in the capture stream reading stopped."},
                "offset_in_decompressed_stream": {"type": "boolean", "description": "Whether `byte_offset` counts the decompressed bytes of a compressed file, rather than the file's own."}
            },
            "required": ["path", "message", "frames_read", "byte_offset", "offset_in_decompressed_stream"],
            "additionalProperties": false
        })
    }
}

/// A link type seen in the capture.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema, PartialEq, Eq, PartialOrd, Ord)]
pub struct LinkType {
    /// The LINKTYPE_ number.
    pub id: u32,
    /// Its name (`ETHERNET`, `LINUX_SLL2`…; `other` when the decoder does not
    /// know it).
    pub name: &'static str,
}

/// LINKTYPE_* names for the link types the decoder knows.
pub fn linktype_name(id: u32) -> &'static str {
    match id {
        0 => "NULL",
        1 => "ETHERNET",
        12 | 14 | 101 => "RAW",
        108 => "LOOP",
        113 => "LINUX_SLL",
        228 => "IPV4",
        229 => "IPV6",
        239 => "NFLOG",
        252 => "WIRESHARK_UPPER_PDU",
        276 => "LINUX_SLL2",
        _ => "other",
    }
}

/// Facts about the file, for the report header.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct CaptureInfo {
    /// The capture's path as given (`-` for standard input).
    pub path: String,
    /// SHA-256 of the bytes read (as stored: compressed bytes for a .gz),
    /// the same bytes `file_bytes` counts; `None` when hashing is off.
    pub sha256: Option<String>,
    /// Bytes read from the file, as stored (compressed bytes for a .gz): the
    /// bytes `sha256` is of.
    pub file_bytes: u64,
    /// `gzip`, `zstd`, `xz`, `bzip2` or `lz4` when the file was compressed.
    pub compression: Option<&'static str>,
    /// The container and its variant (`pcap 2.4 (little-endian, µs)`, `pcapng
    /// 1.0 (little-endian)`).
    pub format: String,
    /// The link types of the frames read.
    pub link_types: Vec<LinkType>,
    /// pcapng sections (1 for pcap).
    pub sections: u32,
    /// Capture interfaces declared, across sections (1 for pcap).
    pub interfaces: u32,
    /// Frames read.
    pub frame_count: u64,
    /// The earliest frame's time (capinfos' first packet time: a file
    /// need not be in time order).
    pub first_ts: Option<Timestamp>,
    /// The latest frame's time.
    pub last_ts: Option<Timestamp>,
    /// Digits of a second the capture's timestamps carry (6 for a µs
    /// pcap, 9 for ns; for pcapng the finest interface's), so a report
    /// for people shows a time as precisely as it was taken and no
    /// more. Machine formats always write nine.
    #[serde(skip)]
    pub ts_digits: u8,
    /// What the capturing interfaces said of their own loss (pcapng
    /// Interface Statistics Blocks: the last, cumulative one of each
    /// interface). Empty for pcap, which has no such record.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub interface_stats: Vec<InterfaceStats>,
    /// Where the file saw its packets, when it tells two or more places
    /// apart (a capture on a device: pcapng interfaces, Linux cooked
    /// interface indexes or directions, VLANs), with each leg's frames.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub legs: Vec<legs::LegCount>,
    /// Frames set aside as exact copies of one just recorded on the same
    /// leg (see [`legs::DUPLICATE_WITHIN_NS`]).
    #[serde(skip_serializing_if = "is_zero")]
    pub duplicates: u64,
    /// Frames of a Check Point `fw monitor` file set aside as its copies
    /// of a packet at the points inside the device (`I`, `o`, `e`, `E`):
    /// each leg is read as a capture on its interface would see it, the
    /// packets at `i` and `O` (the sum of the legs' `inside_device`).
    #[serde(skip_serializing_if = "is_zero")]
    pub inside_device: u64,
    /// The leg this view of the file holds, when the file was read as
    /// two views (both legs of a device in one file); its frames keep
    /// their numbers in the whole file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub view: Option<String>,
    /// How the file was read when two of its legs each carry one
    /// direction and were stitched into one view
    /// (`compare::far_acks`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stitched: Option<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One interface's statistics as its capture recorded them (pcapng ISB,
/// draft-ietf-opsawg-pcapng §4.6); a counter the writer left out is None.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct InterfaceStats {
    /// The interface's index in the file (0-based, across sections).
    pub interface: u32,
    /// Packets the interface received (`isb_ifrecv`).
    pub received: Option<u64>,
    /// Packets dropped by the interface for lack of resources
    /// (`isb_ifdrop`).
    pub if_dropped: Option<u64>,
    /// Packets the capture filter accepted (`isb_filteraccept`).
    pub filter_accepted: Option<u64>,
    /// Packets the operating system dropped (`isb_osdrop`).
    pub os_dropped: Option<u64>,
}

impl CaptureInfo {
    /// Packets the capture's own statistics (pcapng ISBs) say were dropped.
    pub fn dropped_packets(&self) -> u64 {
        self.interface_stats
            .iter()
            .map(InterfaceStats::dropped)
            .sum()
    }
}

impl InterfaceStats {
    /// Packets the interface or the OS says it dropped.
    pub fn dropped(&self) -> u64 {
        self.if_dropped.unwrap_or(0) + self.os_dropped.unwrap_or(0)
    }
}

/// The largest record accepted; larger claims are corruption (pcapng blocks
/// of real captures stay well under a megabyte even with jumbo frames).
pub const MAX_RECORD: usize = 16 << 20;
const BUF_INITIAL: usize = 1 << 20;

/// Where a capture comes from: a path (`-` is standard input), bytes
/// already in memory, or any reader (the Python package's file objects
/// and buffers, read in chunks), with the name that stands for their
/// path in reports and errors.
pub enum Source {
    Path(std::path::PathBuf),
    Bytes {
        name: String,
        bytes: Vec<u8>,
    },
    Reader {
        name: String,
        reader: Box<dyn std::io::Read + Send>,
    },
}

impl Source {
    /// The name reports give it.
    pub fn name(&self) -> String {
        match self {
            Source::Path(p) => p.to_string_lossy().into_owned(),
            Source::Bytes { name, .. } | Source::Reader { name, .. } => name.clone(),
        }
    }

    /// The same input, to be read once more: a file or bytes can be; a
    /// stream (standard input, a reader) cannot.
    pub fn again(&self) -> Option<Source> {
        match self {
            Source::Path(p) if p.as_os_str() != "-" => Some(Source::Path(p.clone())),
            Source::Bytes { name, bytes } => Some(Source::Bytes {
                name: name.clone(),
                bytes: bytes.clone(),
            }),
            _ => None,
        }
    }
}

/// What parses the container: pcap-parser for pcap and pcapng, our own
/// reader for snoop.
enum Parser {
    Blocks(Box<dyn PcapReaderIterator + Send>),
    Snoop(Box<snoop::Snoop>),
}

/// A streaming frame reader.
pub struct CaptureReader {
    name: String,
    compression: Compression,
    raw: RawHandle,
    last_io_error: Arc<Mutex<Option<String>>>,
    reader: Parser,
    meta: Meta,
    buf_size: usize,
    view_name: Option<String>,
    view_stats: bool,
}

impl CaptureReader {
    /// Opens `path` (`-` for standard input).
    pub fn open(path: &Path, hash: HashMode) -> Result<Self, CaptureError> {
        let name = path.to_string_lossy().into_owned();
        let opened = input::open(path, hash).map_err(|e| CaptureError::open(&name, e))?;
        Self::from_opened(opened)
    }

    /// Reads a capture from any byte source (bytes in memory, a socket),
    /// as [`CaptureReader::open`] reads a file; `name` stands for its path
    /// in reports and errors.
    pub fn from_reader(
        name: String,
        source: Box<dyn std::io::Read + Send>,
        hash: HashMode,
    ) -> Result<Self, CaptureError> {
        let opened = input::open_reader(name.clone(), source, hash)
            .map_err(|e| CaptureError::open(&name, e))?;
        Self::from_opened(opened)
    }

    /// Opens a [`Source`].
    pub fn open_source(source: Source, hash: HashMode) -> Result<Self, CaptureError> {
        match source {
            Source::Path(p) => Self::open(&p, hash),
            Source::Bytes { name, bytes } => {
                Self::from_reader(name, Box::new(std::io::Cursor::new(bytes)), hash)
            }
            Source::Reader { name, reader } => Self::from_reader(name, reader, hash),
        }
    }

    /// Wraps an already opened input.
    pub fn from_opened(o: Opened) -> Result<Self, CaptureError> {
        let Opened {
            name,
            compression,
            container,
            raw,
            last_io_error,
            reader,
        } = o;
        let err = |kind| CaptureError {
            path: name.clone(),
            kind,
            frames_read: 0,
            offset: 0,
            compressed: compression != Compression::None,
        };
        let mut format = String::new();
        let reader = match container {
            Container::Pcap => Parser::Blocks(Box::new(
                LegacyPcapReader::new(BUF_INITIAL, reader)
                    .map_err(|e| err(header_error(&e, "pcap file header")))?,
            )),
            Container::PcapNg => Parser::Blocks(Box::new(
                PcapNGReader::new(BUF_INITIAL, reader)
                    .map_err(|e| err(header_error(&e, "pcapng section header")))?,
            )),
            Container::Snoop => {
                let (s, f) = snoop::Snoop::open(reader).map_err(err)?;
                format = f;
                Parser::Snoop(Box::new(s))
            }
        };
        let snoop = container == Container::Snoop;
        Ok(CaptureReader {
            name,
            compression,
            raw,
            last_io_error,
            reader,
            meta: Meta {
                container,
                format,
                pcap_linktype: 0,
                pcap_nanos: false,
                ng_big_endian: false,
                ifaces: Vec::new(),
                // A snoop file is one section of one interface, as for
                // Wireshark, until FW-1 headers name others.
                sections: u32::from(snoop),
                total_ifaces: u32::from(snoop),
                frames: 0,
                link_types: BTreeSet::new(),
                first_ts: None,
                last_ts: None,
                ts_digits: if snoop { 6 } else { 0 },
                iface_stats: Default::default(),
                iface_names: Vec::new(),
                legs: legs::Legs::new(),
                view: None,
                fw1_names: Vec::new(),
            },
            buf_size: BUF_INITIAL,
            view_name: None,
            view_stats: true,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Interface descriptions read so far (1 for pcap).
    pub fn interfaces_described(&self) -> u32 {
        self.meta.total_ifaces
    }

    /// A leg as reports show it, with the frames read so far.
    pub fn leg(&self, leg: &legs::Leg) -> legs::LegCount {
        self.meta.legs.count(leg, &self.meta.iface_names)
    }

    /// Hands over only the frames seen on `legs` (their numbers stay the
    /// file's); `name` is what reports call this view. `own_stats`: the
    /// view reports its interfaces' statistics (pcapng ISBs); a second
    /// view of the same interface (two SLL2 legs of one `-i any`) must
    /// not, or the file's drops would be counted twice.
    pub fn view(mut self, legs: Vec<legs::Leg>, name: String, own_stats: bool) -> Self {
        self.meta.view = Some(legs);
        self.view_name = Some(name);
        self.view_stats = own_stats;
        self
    }

    /// The leg this reader holds, when it reads one leg of a file
    /// ([`CaptureReader::view`]).
    pub fn view_name(&self) -> Option<&str> {
        self.view_name.as_deref()
    }

    /// Raw (stored) bytes consumed so far, for progress reporting.
    pub fn raw_bytes_read(&self) -> u64 {
        self.raw.bytes_read()
    }

    /// A handle that reports raw bytes read while frames are being read.
    pub fn raw_handle(&self) -> RawHandle {
        self.raw.clone()
    }

    /// Calls `f` for every frame until the end of the file or an error.
    pub fn for_each(&mut self, f: &mut dyn FnMut(&Frame<'_>)) -> Result<(), CaptureError> {
        self.for_each_while(&mut |fr| {
            f(fr);
            true
        })
    }

    /// [`CaptureReader::for_each`] until `f` returns false (a look at the
    /// start of a file that need not read the rest).
    pub fn for_each_while(
        &mut self,
        f: &mut dyn FnMut(&Frame<'_>) -> bool,
    ) -> Result<(), CaptureError> {
        let more = std::cell::Cell::new(true);
        let mut f = |fr: &Frame<'_>| {
            if more.get() {
                more.set(f(fr));
            }
        };
        let read = match &mut self.reader {
            Parser::Snoop(s) => s.read(&mut self.meta, &mut f, &|| more.get()),
            Parser::Blocks(reader) => read_blocks(
                reader.as_mut(),
                &mut self.meta,
                &self.last_io_error,
                &mut self.buf_size,
                &mut f,
                &|| more.get(),
            ),
        };
        read.map_err(|(kind, offset)| self.error(kind, offset))
    }

    fn error(&self, kind: CaptureErrorKind, offset: u64) -> CaptureError {
        CaptureError {
            path: self.name.clone(),
            kind,
            frames_read: self.meta.frames,
            offset,
            compressed: self.compression != Compression::None,
        }
    }

    /// Finishes hashing the bytes read and describes the file. Call after
    /// `for_each`.
    pub fn info(&mut self) -> CaptureInfo {
        let (sha256, file_bytes) = self.raw.finish();
        let m = &self.meta;
        CaptureInfo {
            path: self.name.clone(),
            sha256,
            file_bytes,
            compression: self.compression.name(),
            format: m.format.clone(),
            link_types: m
                .link_types
                .iter()
                .map(|&id| LinkType {
                    id,
                    name: linktype_name(id),
                })
                .collect(),
            sections: m.sections,
            interfaces: m.total_ifaces,
            frame_count: m.frames,
            first_ts: m.first_ts,
            last_ts: m.last_ts,
            ts_digits: m.ts_digits,
            // A view's own interfaces' statistics: two views of one file
            // must not count its drops twice.
            interface_stats: m
                .iface_stats
                .values()
                .filter(|st| {
                    self.view_stats
                        && m.view
                            .as_ref()
                            .is_none_or(|v| v.iter().any(|l| l.interface == st.interface))
                })
                .cloned()
                .collect(),
            legs: m.legs.counts(&m.iface_names),
            duplicates: m.legs.duplicates(),
            inside_device: m.legs.inside_device(),
            view: self.view_name.clone(),
            stitched: None,
        }
    }
}

/// The frames of a pcap or pcapng file (pcap-parser's blocks), while
/// `more` says so; an error with the offset of the block it is in.
fn read_blocks(
    reader: &mut (dyn PcapReaderIterator + Send),
    meta: &mut Meta,
    last_io_error: &Mutex<Option<String>>,
    buf_size: &mut usize,
    f: &mut dyn FnMut(&Frame<'_>),
    more: &dyn Fn() -> bool,
) -> Result<(), (CaptureErrorKind, u64)> {
    let mut last_incomplete_at = None;
    loop {
        if !more() {
            return Ok(());
        }
        let consumed = reader.consumed() as u64;
        let step = match reader.next() {
            Ok((len, block)) => {
                last_incomplete_at = None;
                let r = meta.handle_block(block, f);
                Step::Consume(len, r)
            }
            Err(PcapError::Eof) => return Ok(()),
            Err(PcapError::Incomplete(_)) => {
                if last_incomplete_at == Some(consumed) && reader.reader_exhausted() {
                    Step::Fail(cut_short(reader, meta))
                } else {
                    last_incomplete_at = Some(consumed);
                    Step::Refill
                }
            }
            Err(PcapError::UnexpectedEof) => Step::Fail(cut_short(reader, meta)),
            Err(PcapError::BufferTooSmall) => Step::Grow,
            Err(PcapError::ReadError) => Step::Fail(CaptureErrorKind::Io(
                last_io_error
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone()
                    .unwrap_or_else(|| "the input could not be read".into()),
            )),
            Err(e) => Step::Fail(CaptureErrorKind::Malformed(format!(
                "{} block ({})",
                container_name(meta.container),
                short_error(&e)
            ))),
        };
        match step {
            Step::Consume(len, r) => {
                // No shift per record: the circular buffer would move half
                // its contents each time; refill() shifts the remainder.
                reader.consume_noshift(len);
                if let Err(kind) = r {
                    return Err((kind, consumed));
                }
            }
            Step::Refill => {
                if let Err(e) = reader.refill() {
                    let kind = match e {
                        PcapError::ReadError => CaptureErrorKind::Io(
                            last_io_error
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner)
                                .clone()
                                .unwrap_or_else(|| "the input could not be read".into()),
                        ),
                        other => CaptureErrorKind::Malformed(short_error(&other)),
                    };
                    return Err((kind, consumed));
                }
            }
            Step::Grow => {
                let claimed = claimed_record_len(reader, meta);
                if claimed > MAX_RECORD as u64 || *buf_size >= MAX_RECORD {
                    return Err((
                        CaptureErrorKind::TooLarge(claimed, MAX_RECORD as u64),
                        consumed,
                    ));
                }
                let want = (claimed as usize + 64)
                    .max(*buf_size * 2)
                    .min(MAX_RECORD + 64);
                reader.grow(want);
                *buf_size = want;
            }
            Step::Fail(kind) => return Err((kind, consumed)),
        }
    }
}

/// Why the input ended inside a record: a record that claims more than
/// any real one is corruption, whether or not the file goes on.
fn cut_short(reader: &(dyn PcapReaderIterator + Send), meta: &Meta) -> CaptureErrorKind {
    let claimed = claimed_record_len(reader, meta);
    if claimed > MAX_RECORD as u64 {
        CaptureErrorKind::TooLarge(claimed, MAX_RECORD as u64)
    } else {
        CaptureErrorKind::Truncated
    }
}

/// Length the record at the head of the buffer says it has.
fn claimed_record_len(reader: &(dyn PcapReaderIterator + Send), meta: &Meta) -> u64 {
    let d = reader.data();
    if d.len() < 12 {
        return 0;
    }
    let rd = |o: usize, be: bool| {
        let b = [d[o], d[o + 1], d[o + 2], d[o + 3]];
        if be {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    };
    match meta.container {
        Container::Pcap => rd(8, meta.format.contains("big-endian")) as u64 + 16,
        Container::PcapNg => rd(4, meta.ng_big_endian) as u64,
        Container::Snoop => 0,
    }
}

fn container_name(c: Container) -> &'static str {
    match c {
        Container::Pcap => "pcap",
        Container::PcapNg => "pcapng",
        Container::Snoop => "snoop",
    }
}

/// Block type of the pcapng Packet Block (obsolete, still written by old
/// tools and counted as a frame by Wireshark).
const OBSOLETE_PACKET_BLOCK: u32 = 2;

fn header_error(e: &PcapError<&[u8]>, what: &str) -> CaptureErrorKind {
    match e {
        PcapError::Incomplete(_) | PcapError::UnexpectedEof | PcapError::Eof => {
            CaptureErrorKind::Truncated
        }
        PcapError::ReadError => CaptureErrorKind::Io("the input could not be read".into()),
        other => CaptureErrorKind::Malformed(format!("{what} ({})", short_error(other))),
    }
}

fn short_error(e: &PcapError<&[u8]>) -> String {
    match e {
        PcapError::NomError(_, k) | PcapError::OwnedNomError(_, k) => format!("{k:?}"),
        PcapError::HeaderNotRecognized => "header not recognized".into(),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::blocks::{Interface, ng_timestamp, ts_resolution};
    use super::*;

    /// A little-endian µs pcap with the given link type and records.
    pub(crate) fn pcap(linktype: u32, records: &[(u32, u32, &[u8])]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
        v.extend_from_slice(&2u16.to_le_bytes());
        v.extend_from_slice(&4u16.to_le_bytes());
        v.extend_from_slice(&[0; 8]);
        v.extend_from_slice(&65535u32.to_le_bytes());
        v.extend_from_slice(&linktype.to_le_bytes());
        for (s, us, d) in records {
            v.extend_from_slice(&s.to_le_bytes());
            v.extend_from_slice(&us.to_le_bytes());
            v.extend_from_slice(&(d.len() as u32).to_le_bytes());
            v.extend_from_slice(&(d.len() as u32).to_le_bytes());
            v.extend_from_slice(d);
        }
        v
    }

    /// (frame number, timestamp ns, captured length) of each frame.
    type Frames = Vec<(u64, i64, usize)>;

    fn read_all(bytes: Vec<u8>) -> (Frames, Result<(), CaptureError>) {
        let o = input::open_reader(
            "mem".into(),
            Box::new(std::io::Cursor::new(bytes)),
            input::HashMode::Inline,
        )
        .unwrap();
        let mut r = CaptureReader::from_opened(o).unwrap();
        let mut out = Vec::new();
        let res = r.for_each(&mut |fr| out.push((fr.number, fr.ts.0, fr.data.len())));
        (out, res)
    }

    #[test]
    fn reads_pcap_frames_numbered_from_one() {
        let (frames, res) = read_all(pcap(1, &[(10, 5, b"abc"), (11, 0, b"defg")]));
        res.unwrap();
        assert_eq!(frames, vec![(1, 10_000_005_000, 3), (2, 11_000_000_000, 4)]);
    }

    /// An Ethernet frame of a TCP segment with IPv4 identification `id`.
    fn tcp_frame(id: u16) -> Vec<u8> {
        let b = etherparse::PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4([192, 0, 2, 1], [192, 0, 2, 2], 64)
            .tcp(40000, 21, 1000, 64000);
        let mut v = Vec::new();
        b.write(&mut v, b"NOOP\r\n").unwrap();
        // The IPv4 identification (etherparse writes 0); the checksum is
        // not read.
        v[18..20].copy_from_slice(&id.to_be_bytes());
        v
    }

    #[test]
    fn a_packet_recorded_twice_is_analysed_once_and_counted() {
        let (a, z) = (tcp_frame(7), tcp_frame(0));
        let bytes = pcap(
            1,
            &[(10, 0, &a), (10, 100, &a), (10, 200, &z), (10, 300, &z)],
        );
        let o = input::open_reader(
            "mem".into(),
            Box::new(std::io::Cursor::new(bytes)),
            input::HashMode::Off,
        )
        .unwrap();
        let mut r = CaptureReader::from_opened(o).unwrap();
        let mut numbers = Vec::new();
        r.for_each(&mut |f| numbers.push(f.number)).unwrap();
        // The copy of frame 1 is set aside; frames 3 and 4 have no IPv4
        // number to tell a copy from a second send, and both stay.
        assert_eq!(numbers, vec![1, 3, 4]);
        let info = r.info();
        assert_eq!((info.frame_count, info.duplicates), (4, 1));
    }

    #[test]
    fn truncated_pcap_keeps_frames_and_names_offset() {
        let mut b = pcap(1, &[(10, 5, b"abc"), (11, 0, b"defghij")]);
        b.truncate(b.len() - 3);
        let (frames, res) = read_all(b);
        assert_eq!(frames.len(), 1);
        let e = res.unwrap_err();
        assert_eq!(e.kind, CaptureErrorKind::Truncated);
        assert_eq!(e.frames_read, 1);
        assert_eq!(e.offset, 24 + 16 + 3);
        assert!(e.to_string().contains("mem: the file ends"), "{e}");
    }

    #[test]
    fn absurd_caplen_is_an_error_not_an_allocation() {
        let mut b = pcap(1, &[(10, 5, b"abc")]);
        let mut rec = Vec::new();
        rec.extend_from_slice(&1u32.to_le_bytes());
        rec.extend_from_slice(&0u32.to_le_bytes());
        rec.extend_from_slice(&0xffff_fff0u32.to_le_bytes());
        rec.extend_from_slice(&0xffff_fff0u32.to_le_bytes());
        b.extend_from_slice(&rec);
        b.extend_from_slice(&[0u8; 100]);
        let (frames, res) = read_all(b);
        assert_eq!(frames.len(), 1);
        let e = res.unwrap_err();
        assert!(
            matches!(
                e.kind,
                CaptureErrorKind::TooLarge(..) | CaptureErrorKind::Truncated
            ),
            "{e}"
        );
    }

    #[test]
    fn pcapng_timestamps_use_interface_resolution() {
        let iface = Interface {
            linktype: 1,
            resolution: 1_000_000_000,
            offset_secs: 0,
        };
        assert_eq!(ng_timestamp(1_500_000_000, iface).0, 1_500_000_000);
        let iface = Interface {
            linktype: 1,
            resolution: 1 << 10,
            offset_secs: 100,
        };
        assert_eq!(ng_timestamp(512, iface).0, 100_500_000_000);
    }

    #[test]
    fn binary_tsresol_is_a_power_of_two() {
        assert_eq!(ts_resolution(6), Some(1_000_000));
        assert_eq!(ts_resolution(9), Some(1_000_000_000));
        assert_eq!(ts_resolution(0x80 | 10), Some(1024));
        assert_eq!(ts_resolution(0x80 | 63), Some(1 << 63));
        assert_eq!(ts_resolution(0x80 | 64), None);
        assert_eq!(ts_resolution(20), None);
    }

    /// A little-endian pcapng: a section, one Ethernet interface with
    /// `if_tsresol`, one packet at `units`.
    fn pcapng_with_tsresol(tsresol: u8, units: u64) -> Vec<u8> {
        let block = |kind: u32, body: &[u8]| {
            let len = (12 + body.len()) as u32;
            let mut b = kind.to_le_bytes().to_vec();
            b.extend_from_slice(&len.to_le_bytes());
            b.extend_from_slice(body);
            b.extend_from_slice(&len.to_le_bytes());
            b
        };
        let mut shb = 0x1a2b3c4du32.to_le_bytes().to_vec();
        shb.extend_from_slice(&[1, 0, 0, 0]);
        shb.extend_from_slice(&(-1i64).to_le_bytes());
        let mut idb = vec![1, 0, 0, 0];
        idb.extend_from_slice(&65535u32.to_le_bytes());
        idb.extend_from_slice(&[9, 0, 1, 0, tsresol, 0, 0, 0, 0, 0, 0, 0]);
        let mut epb = 0u32.to_le_bytes().to_vec();
        epb.extend_from_slice(&((units >> 32) as u32).to_le_bytes());
        epb.extend_from_slice(&(units as u32).to_le_bytes());
        epb.extend_from_slice(&4u32.to_le_bytes());
        epb.extend_from_slice(&4u32.to_le_bytes());
        epb.extend_from_slice(b"abcd");
        [block(0x0a0d0d0a, &shb), block(1, &idb), block(6, &epb)].concat()
    }

    #[test]
    fn pcapng_binary_resolution_is_read_as_tshark_does() {
        // 2^-10 s units at 1,700,000,000.5 s (2023-11-14), which
        // pcap-parser's own resolution would put in January 1970.
        let units = 1_700_000_000u64 * 1024 + 512;
        let (frames, res) = read_all(pcapng_with_tsresol(0x80 | 10, units));
        res.unwrap();
        assert_eq!(frames, vec![(1, 1_700_000_000_500_000_000, 4)]);
    }

    #[test]
    fn snoop_frames_numbered_with_microsecond_times_and_padding_skipped() {
        let b = snoop::tests::snoop(4, &[(10, 5, b"abc", 1), (11, 0, b"defg", 0)]);
        let (frames, res) = read_all(b.clone());
        res.unwrap();
        assert_eq!(frames, vec![(1, 10_000_005_000, 3), (2, 11_000_000_000, 4)]);
        let o = input::open_reader(
            "mem".into(),
            Box::new(std::io::Cursor::new(b)),
            HashMode::Off,
        )
        .unwrap();
        let mut r = CaptureReader::from_opened(o).unwrap();
        r.for_each(&mut |_| {}).unwrap();
        let info = r.info();
        assert_eq!(info.format, "snoop 2 (Ethernet)");
        assert_eq!(info.link_types[0].name, "ETHERNET");
        assert_eq!((info.sections, info.interfaces, info.ts_digits), (1, 1, 6));
    }

    #[test]
    fn a_truncated_snoop_record_keeps_frames_and_names_its_offset() {
        let mut b = snoop::tests::snoop(4, &[(10, 5, b"abc", 1), (11, 0, b"defghij", 0)]);
        b.truncate(b.len() - 3);
        let (frames, res) = read_all(b);
        assert_eq!(frames.len(), 1);
        let e = res.unwrap_err();
        assert_eq!(e.kind, CaptureErrorKind::Truncated);
        // The second record starts after the file header and the first
        // record (24 + 3 + 1 bytes).
        assert_eq!((e.frames_read, e.offset), (1, 16 + 28));
        assert!(e.to_string().starts_with("mem: the file ends"), "{e}");
        // A record header cut short, and a file header cut short.
        let b = snoop::tests::snoop(4, &[(10, 5, b"abc", 1)]);
        let (frames, res) = read_all([&b[..], &[0u8; 10]].concat());
        assert_eq!(frames.len(), 1);
        assert_eq!(res.unwrap_err().offset, 16 + 28);
        let o = input::open_reader(
            "mem".into(),
            Box::new(std::io::Cursor::new(b[..12].to_vec())),
            HashMode::Off,
        )
        .unwrap();
        assert!(CaptureReader::from_opened(o).is_err());
    }

    #[test]
    fn a_corrupt_snoop_record_is_an_error_not_an_allocation() {
        let mut b = snoop::tests::snoop(4, &[(10, 5, b"abc", 1), (11, 0, b"defg", 0)]);
        // The second record claims 4 GiB captured.
        let second = 16 + 28;
        b[second + 4..second + 8].copy_from_slice(&u32::MAX.to_be_bytes());
        let (frames, res) = read_all(b);
        assert_eq!(frames.len(), 1);
        let e = res.unwrap_err();
        assert!(matches!(e.kind, CaptureErrorKind::Malformed(_)), "{e}");
        assert_eq!(e.offset, second as u64);
    }

    #[test]
    fn an_unknown_snoop_version_or_datalink_is_refused_by_name() {
        let mut b = snoop::tests::snoop(4, &[(10, 5, b"abc", 0)]);
        b[11] = 7;
        let o = input::open_reader(
            "mem".into(),
            Box::new(std::io::Cursor::new(b)),
            HashMode::Off,
        )
        .unwrap();
        let e = CaptureReader::from_opened(o).err().unwrap();
        assert!(e.to_string().contains("version 7"), "{e}");
        let b = snoop::tests::snoop(1000, &[]);
        let o = input::open_reader(
            "mem".into(),
            Box::new(std::io::Cursor::new(b)),
            HashMode::Off,
        )
        .unwrap();
        let e = CaptureReader::from_opened(o).err().unwrap();
        assert!(e.to_string().contains("datalink type 1000"), "{e}");
    }

    /// A `fw monitor` record: the FW-1 header, then `ip`.
    fn fw1(point: u8, name: &[u8], ip: &[u8]) -> Vec<u8> {
        let mut v = vec![point, 0];
        let mut n = name.to_vec();
        n.resize(10, 0);
        v.extend_from_slice(&n);
        v.extend_from_slice(&[0x08, 0x00]);
        v.extend_from_slice(ip);
        v
    }

    #[test]
    fn a_fw_monitor_file_has_its_interfaces_as_legs_and_i_and_o_upper_as_frames() {
        let ip = &tcp_frame(7)[14..];
        let records = [
            fw1(b'i', b"eth1", ip),
            fw1(b'I', b"eth1", ip),
            fw1(b'o', b"eth2", ip),
            fw1(b'O', b"eth2", ip),
        ];
        let recs: Vec<(u32, u32, &[u8], usize)> =
            records.iter().map(|r| (10, 0, &r[..], 0)).collect();
        let b = snoop::tests::snoop(4, &recs);
        let o = input::open_reader(
            "mem".into(),
            Box::new(std::io::Cursor::new(b)),
            HashMode::Off,
        )
        .unwrap();
        let mut r = CaptureReader::from_opened(o).unwrap();
        let mut seen = Vec::new();
        r.for_each(&mut |f| seen.push((f.number, f.interface, f.point.map(fw1::Point::letter))))
            .unwrap();
        assert_eq!(seen, [(1, 0, Some('i')), (4, 1, Some('O'))]);
        let info = r.info();
        assert_eq!(
            (info.frame_count, info.inside_device, info.interfaces),
            (4, 2, 2)
        );
        let legs: Vec<(&str, &str, u64)> = info
            .legs
            .iter()
            .map(|l| (l.name.as_str(), l.seen_by, l.frames))
            .collect();
        assert_eq!(
            legs,
            [("eth1", "fw1-interface", 2), ("eth2", "fw1-interface", 2)]
        );
        // A frame without an FW-1 header is no interface's.
        let mut recs = recs;
        let plain = tcp_frame(9);
        recs.push((11, 0, &plain, 0));
        let b = snoop::tests::snoop(4, &recs);
        let o = input::open_reader(
            "mem".into(),
            Box::new(std::io::Cursor::new(b)),
            HashMode::Off,
        )
        .unwrap();
        let mut r = CaptureReader::from_opened(o).unwrap();
        r.for_each(&mut |_| {}).unwrap();
        let last = r.info().legs.pop().unwrap();
        assert_eq!(
            (last.name.as_str(), last.seen_by, last.frames),
            ("not marked", "none", 1)
        );
    }
}
