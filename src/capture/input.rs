//! Opening an input: a file or standard input, possibly gzip- or
//! zstd-compressed.
//!
//! The container is recognised by its magic bytes, never by its name
//! (archives are compressed and rotated files have odd names). The SHA-256
//! of the bytes as stored (before decompression) is computed on the way, so
//! a report can name exactly which file it describes.

use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
use ruzstd::decoding::{BlockDecodingStrategy, FrameDecoder};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Cursor, Read};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

/// How the capture bytes are wrapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
    Xz,
    Bzip2,
    Lz4,
}

impl Compression {
    pub fn name(self) -> Option<&'static str> {
        match self {
            Compression::None => None,
            Compression::Gzip => Some("gzip"),
            Compression::Zstd => Some("zstd"),
            Compression::Xz => Some("xz"),
            Compression::Bzip2 => Some("bzip2"),
            Compression::Lz4 => Some("lz4"),
        }
    }

    /// The compression the first bytes announce, by each format's magic
    /// as the `infer` crate knows it (a capture's own magic never matches
    /// one).
    fn sniff(head: &[u8]) -> Compression {
        use infer::archive::{is_bz2, is_gz, is_lz4, is_xz, is_zst};
        type Matcher = fn(&[u8]) -> bool;
        let known: [(Matcher, Compression); 5] = [
            (is_gz, Compression::Gzip),
            (is_zst, Compression::Zstd),
            (is_xz, Compression::Xz),
            (is_bz2, Compression::Bzip2),
            (is_lz4, Compression::Lz4),
        ];
        known
            .iter()
            .find(|(is, _)| is(head))
            .map_or(Compression::None, |(_, c)| *c)
    }
}

/// The container format found behind any compression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Container {
    Pcap,
    PcapNg,
    /// Sun snoop (RFC 1761), which Check Point's `fw monitor` writes.
    Snoop,
}

/// Bytes read to recognise a compression (the longest magic, xz's).
const SNIFF_LEN: usize = 6;
/// The largest zstd window accepted (what `zstd --long` uses); a larger one
/// would make memory depend on the file.
const ZSTD_MAX_WINDOW: u64 = 128 << 20;
const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
const PCAP_MAGICS: [[u8; 4]; 6] = [
    [0xd4, 0xc3, 0xb2, 0xa1], // LE µs
    [0xa1, 0xb2, 0xc3, 0xd4], // BE µs
    [0x4d, 0x3c, 0xb2, 0xa1], // LE ns
    [0xa1, 0xb2, 0x3c, 0x4d], // BE ns
    [0x34, 0xcd, 0xb2, 0xa1], // LE modified (Kuznetzov)
    [0xa1, 0xb2, 0xcd, 0x34], // BE modified
];

/// Recognises a capture container from its first bytes.
pub fn sniff_container(head: &[u8]) -> Option<Container> {
    if head.starts_with(&super::snoop::MAGIC) {
        return Some(Container::Snoop);
    }
    if head.len() < 4 {
        return None;
    }
    let m = [head[0], head[1], head[2], head[3]];
    if m == PCAPNG_MAGIC {
        Some(Container::PcapNg)
    } else if PCAP_MAGICS.contains(&m) {
        Some(Container::Pcap)
    } else {
        None
    }
}

/// Whether the file at `path` is a capture `open` can read, judged by its
/// magic bytes (inside the compression, when compressed): used to discover
/// captures in archives where names say nothing.
pub fn sniff_file(path: &Path) -> io::Result<Option<(Compression, Container)>> {
    let mut f = File::open(path)?;
    let head = read_prefix(&mut f, SNIFF_LEN)?;
    let compression = Compression::sniff(&head);
    let mut inner = decompressor(compression, Cursor::new(head).chain(f));
    // A corrupt compressed stream is not a capture we can read; `open`
    // would say why, but discovery only needs yes or no.
    let inner_head = read_prefix(&mut inner, super::snoop::MAGIC.len()).unwrap_or_default();
    Ok(sniff_container(&inner_head).map(|c| (compression, c)))
}

/// The decompressed stream of `outer`.
fn decompressor<R: Read + Send + 'static>(c: Compression, outer: R) -> Box<dyn Read + Send> {
    match c {
        Compression::None => Box::new(outer),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(outer)),
        Compression::Zstd => Box::new(ZstdFrames::new(BufReader::with_capacity(1 << 16, outer))),
        // Concatenated streams, as `xz`, `bzip2` and `lz4` themselves read
        // them.
        Compression::Xz => Box::new(liblzma::read::XzDecoder::new_multi_decoder(outer)),
        Compression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(outer)),
        Compression::Lz4 => Box::new(lz4_flex::frame::FrameDecoder::new(outer)),
    }
}

/// Every frame of a zstd stream (the decoder handles one frame at a time;
/// `zstd` writes several for concatenated or very large inputs), skipping
/// skippable frames.
struct ZstdFrames<R> {
    src: R,
    dec: FrameDecoder,
    in_frame: bool,
}

impl<R: BufRead> ZstdFrames<R> {
    fn new(src: R) -> Self {
        let mut dec = FrameDecoder::new();
        dec.set_max_window_size(ZSTD_MAX_WINDOW);
        ZstdFrames {
            src,
            dec,
            in_frame: false,
        }
    }
}

impl<R: BufRead> Read for ZstdFrames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let bad =
            |e: FrameDecoderError| io::Error::new(io::ErrorKind::InvalidData, format!("zstd: {e}"));
        loop {
            if self.in_frame {
                while self.dec.can_collect() == 0 && !self.dec.is_finished() {
                    self.dec
                        .decode_blocks(&mut self.src, BlockDecodingStrategy::UptoBlocks(1))
                        .map_err(bad)?;
                }
                let n = self.dec.read(buf)?;
                if n > 0 || buf.is_empty() {
                    return Ok(n);
                }
                self.in_frame = false;
            }
            if self.src.fill_buf()?.is_empty() {
                return Ok(0);
            }
            match self.dec.init(&mut self.src) {
                Ok(()) => self.in_frame = true,
                Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame {
                    length,
                    ..
                })) => {
                    io::copy(
                        &mut (&mut self.src).take(u64::from(length)),
                        &mut io::sink(),
                    )?;
                }
                Err(e) => return Err(bad(e)),
            }
        }
    }
}

/// How the SHA-256 of the stored file is computed. Either way it is the
/// hash of exactly the bytes the analysis read, from the same reads: a file
/// that grows or shrinks while read cannot make the hash describe other
/// bytes than the report does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HashMode {
    /// In the reading thread, as the bytes pass.
    #[default]
    Inline,
    /// In a helper thread fed with copies of the bytes as they are read:
    /// SHA-256 is slower per byte than the analysis, so hashing beside it
    /// keeps the analysis at full speed.
    Concurrent,
    /// Not computed (the report shows no hash).
    Off,
}

/// Bytes handed to the hash thread at a time.
const HASH_CHUNK: usize = 1 << 20;

/// Where the bytes read go to be hashed.
enum Hashing {
    Off,
    Inline(Sha256),
    Thread(HashThread),
}

/// Chunks circulating between the reader and the hash thread.
const HASH_POOL: usize = 4;

/// A SHA-256 computed on another core. A fixed pool of chunks circulates:
/// the reader fills one, hands it over and takes an empty one back,
/// waiting if the hash is behind (so a slow hash slows the reader instead
/// of queueing the file in memory). The reader allocates the same chunks
/// however the two threads' timing falls, so the heap its analysis is
/// budgeted by does not depend on it.
struct HashThread {
    pending: Vec<u8>,
    full: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
    empty: std::sync::mpsc::Receiver<Vec<u8>>,
    done: Option<std::thread::JoinHandle<String>>,
}

impl HashThread {
    fn start() -> Self {
        let (full, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(HASH_POOL);
        let (back, empty) = std::sync::mpsc::sync_channel::<Vec<u8>>(HASH_POOL);
        for _ in 0..HASH_POOL {
            // Cannot fail: the channel holds the whole pool.
            let _ = back.try_send(Vec::with_capacity(HASH_CHUNK));
        }
        let done = std::thread::spawn(move || {
            let mut h = Sha256::new();
            for mut chunk in rx {
                h.update(&chunk);
                chunk.clear();
                // Room for the whole pool; fails only once the reader is gone.
                let _ = back.send(chunk);
            }
            hex(&h.finalize())
        });
        HashThread {
            pending: Vec::with_capacity(HASH_CHUNK),
            full: Some(full),
            empty,
            done: Some(done),
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
        if self.pending.len() >= HASH_CHUNK {
            self.send();
        }
    }

    fn send(&mut self) {
        // Fails only if the hash thread died (`finish` then has no hash):
        // reading goes on with a chunk of its own.
        let next = self
            .empty
            .recv()
            .unwrap_or_else(|_| Vec::with_capacity(HASH_CHUNK));
        let chunk = std::mem::replace(&mut self.pending, next);
        if let Some(tx) = &self.full {
            let _ = tx.send(chunk);
        }
    }

    /// The hash of every byte passed to `update`; `None` if the thread died.
    fn finish(&mut self) -> Option<String> {
        if !self.pending.is_empty() {
            self.send();
        }
        self.full = None;
        self.done.take()?.join().ok()
    }
}

/// Running hash and byte count of the raw input, shared between the read
/// chain and the caller (the chain is owned by the capture parser).
struct RawState {
    hashing: Hashing,
    bytes: u64,
}

/// The raw byte source plus its hash. Cloned handles share one state.
#[derive(Clone)]
pub struct RawHandle {
    state: Arc<Mutex<RawState>>,
    source: Arc<Mutex<Box<dyn Read + Send>>>,
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl RawHandle {
    fn new(source: Box<dyn Read + Send>, hash: HashMode) -> Self {
        let hashing = match hash {
            HashMode::Off => Hashing::Off,
            HashMode::Inline => Hashing::Inline(Sha256::new()),
            HashMode::Concurrent => Hashing::Thread(HashThread::start()),
        };
        RawHandle {
            state: Arc::new(Mutex::new(RawState { hashing, bytes: 0 })),
            source: Arc::new(Mutex::new(source)),
        }
    }

    /// Ends the reading: (SHA-256 hex of the bytes read, unless hashing is
    /// off; bytes read). Nothing more is read: after an error the rest of
    /// the input (perhaps endless) is not drained, and the hash and the
    /// byte count describe the same bytes, the ones the analysis saw.
    pub fn finish(&self) -> (Option<String>, u64) {
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let sha = match &mut st.hashing {
            Hashing::Off => None,
            Hashing::Inline(h) => Some(hex(&h.clone().finalize())),
            Hashing::Thread(t) => t.finish(),
        };
        (sha, st.bytes)
    }

    /// Bytes of raw input read so far.
    pub fn bytes_read(&self) -> u64 {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .bytes
    }

    fn read_raw(&self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self
            .source
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .read(buf)?;
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match &mut st.hashing {
            Hashing::Off => {}
            Hashing::Inline(h) => h.update(&buf[..n]),
            Hashing::Thread(t) => t.update(&buf[..n]),
        }
        st.bytes += n as u64;
        Ok(n)
    }
}

impl Read for RawHandle {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_raw(buf)
    }
}

/// Remembers the last I/O error that passed through, because the capture
/// parser turns every read failure into a bare `ReadError`.
pub struct ErrorMemo<R> {
    inner: R,
    last: Arc<Mutex<Option<String>>>,
}

impl<R: Read> Read for ErrorMemo<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            *self.last.lock().unwrap_or_else(PoisonError::into_inner) = Some(e.to_string());
        })
    }
}

/// An opened input, ready for the capture parser.
pub struct Opened {
    pub name: String,
    pub compression: Compression,
    pub container: Container,
    pub raw: RawHandle,
    pub last_io_error: Arc<Mutex<Option<String>>>,
    /// Decompressed bytes, from the container magic on.
    pub reader: Box<dyn Read + Send>,
}

/// Why an input could not be opened as a capture.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot open: {0}")]
    Io(#[from] io::Error),
    #[error("empty file")]
    Empty,
    /// Its first bytes in hex, as `xxd` shows them (no escaping to undo
    /// or to double).
    #[error("not a pcap or pcapng file (its first bytes: {0})")]
    NotACapture(String),
}

/// Opens `path` (`-` is standard input), undoing gzip, zstd, xz, bzip2 or lz4 if the magic
/// says so.
pub fn open(path: &Path, hash: HashMode) -> Result<Opened, OpenError> {
    let name = path.to_string_lossy().into_owned();
    if name == "-" {
        return open_reader(name, Box::new(io::stdin()), hash);
    }
    open_reader(name, Box::new(File::open(path)?), hash)
}

/// Like [`open`] for any byte source (used by tests and stdin).
pub fn open_reader(
    name: String,
    source: Box<dyn Read + Send>,
    hash: HashMode,
) -> Result<Opened, OpenError> {
    let raw = RawHandle::new(source, hash);
    let mut outer = raw.clone();
    let head = read_prefix(&mut outer, SNIFF_LEN)?;
    if head.is_empty() {
        return Err(OpenError::Empty);
    }
    let compression = Compression::sniff(&head);
    let outer = Cursor::new(head).chain(outer);
    let last_io_error = Arc::new(Mutex::new(None));
    let mut inner: Box<dyn Read + Send> = Box::new(ErrorMemo {
        inner: decompressor(compression, outer),
        last: last_io_error.clone(),
    });
    let head = read_prefix(&mut inner, 12)?;
    let container = sniff_container(&head).ok_or_else(|| {
        if head.is_empty() {
            OpenError::Empty
        } else {
            let first = &head[..head.len().min(4)];
            let hex: Vec<String> = first.iter().map(|b| format!("{b:02x}")).collect();
            // As text too where they are printable (nothing to escape).
            let text = match std::str::from_utf8(first) {
                Ok(t) if t.bytes().all(|b| b.is_ascii_graphic() || b == b' ') => {
                    format!(", \"{t}\"")
                }
                _ => String::new(),
            };
            OpenError::NotACapture(format!("{}{text}", hex.join(" ")))
        }
    })?;
    Ok(Opened {
        name,
        compression,
        container,
        raw,
        last_io_error,
        reader: Box::new(Greedy {
            until: header_len(container, &head),
            delivered: 0,
            inner: Cursor::new(head).chain(inner),
        }),
    })
}

/// Fills the caller's buffer until the file header has been delivered: the
/// capture parser's constructors parse it from a single `read`, so short
/// reads from pipes, gzip or the magic prefix must not reach them. After
/// the header, a read returns what is available, so a live stream
/// (`tcpdump -U -w - | portmortem watch -`) is parsed as it arrives
/// rather than a buffer at a time (the parser asks again on a short read).
struct Greedy<R> {
    inner: R,
    until: u64,
    delivered: u64,
}

impl<R: Read> Read for Greedy<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut got = 0;
        while got < buf.len() {
            match self.inner.read(&mut buf[got..]) {
                Ok(0) => break,
                Ok(k) => got += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if got == 0 => return Err(e),
                // Hand over what we have; the error comes back on the next call.
                Err(_) => break,
            }
            if self.delivered + got as u64 >= self.until {
                break;
            }
        }
        self.delivered += got as u64;
        Ok(got)
    }
}

/// How many bytes the parser's constructor reads at once: the pcap file
/// header, or the pcapng section header block (its length, in the byte
/// order its magic gives, capped at 1 MiB).
fn header_len(container: Container, head: &[u8]) -> u64 {
    match container {
        Container::Pcap => 24,
        Container::Snoop => super::snoop::FILE_HEADER as u64,
        Container::PcapNg => {
            let (Some(len), Some(bom)) = (head.get(4..8), head.get(8..12)) else {
                return 12;
            };
            let len: [u8; 4] = len.try_into().unwrap_or_default();
            let n = if bom == [0x4d, 0x3c, 0x2b, 0x1a] {
                u32::from_le_bytes(len)
            } else {
                u32::from_be_bytes(len)
            };
            u64::from(n).clamp(12, 1 << 20)
        }
    }
}

/// Reads up to `n` bytes, looping over short reads (pipes deliver bytes in
/// pieces); fewer than `n` only at end of input.
fn read_prefix(r: &mut dyn Read, n: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    let mut got = 0;
    while got < n {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(got);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_containers() {
        assert_eq!(
            sniff_container(&[0xd4, 0xc3, 0xb2, 0xa1, 0]),
            Some(Container::Pcap)
        );
        assert_eq!(
            sniff_container(&[0x0a, 0x0d, 0x0d, 0x0a]),
            Some(Container::PcapNg)
        );
        assert_eq!(sniff_container(b"GIF8"), None);
    }

    fn temp_file(name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!("portmortem-{}-{name}", std::process::id()));
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    /// xz, bzip2 and lz4 (each as its own tool writes it, through the
    /// crates' encoders) are read as gzip and zstd are: found by their
    /// magic, undone on the fly, every byte through.
    #[test]
    fn xz_bzip2_and_lz4_are_read() {
        use std::io::Write;
        let pcap: Vec<u8> = [0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0]
            .into_iter()
            .chain((0..100_000u32).map(|i| (i % 251) as u8))
            .collect();
        let xz = {
            let mut e = liblzma::write::XzEncoder::new(Vec::new(), 1);
            e.write_all(&pcap).unwrap();
            e.finish().unwrap()
        };
        let bz = {
            let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
            e.write_all(&pcap).unwrap();
            e.finish().unwrap()
        };
        let lz = {
            let mut e = lz4_flex::frame::FrameEncoder::new(Vec::new());
            e.write_all(&pcap).unwrap();
            e.finish().unwrap()
        };
        for (bytes, want) in [
            (xz, Compression::Xz),
            (bz, Compression::Bzip2),
            (lz, Compression::Lz4),
        ] {
            let mut o =
                open_reader("c".into(), Box::new(Cursor::new(bytes)), HashMode::Off).unwrap();
            assert_eq!(o.compression, want);
            assert_eq!(o.container, Container::Pcap);
            let mut all = Vec::new();
            o.reader.read_to_end(&mut all).unwrap();
            assert_eq!(all, pcap, "{want:?}");
        }
    }

    #[test]
    fn sniffs_files_inside_compression() {
        let pcap = [0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
        type Case = (&'static str, Vec<u8>, Option<(Compression, Container)>);
        let cases: [Case; 4] = [
            (
                "plain",
                pcap.to_vec(),
                Some((Compression::None, Container::Pcap)),
            ),
            (
                "gz",
                gzip(&pcap),
                Some((Compression::Gzip, Container::Pcap)),
            ),
            // A compressed text file is not a capture.
            ("gztext", gzip(b"hello world"), None),
            ("short", vec![0x1f], None),
        ];
        for (name, bytes, want) in cases {
            let p = temp_file(name, &bytes);
            assert_eq!(sniff_file(&p).unwrap(), want, "{name}");
            std::fs::remove_file(p).unwrap();
        }
    }

    #[test]
    fn zstd_reads_every_frame_and_skips_skippable_ones() {
        use ruzstd::encoding::{CompressionLevel, compress_to_vec};
        let a: Vec<u8> = [0x0a, 0x0d, 0x0d, 0x0a]
            .into_iter()
            .chain(0..=255u8)
            .collect();
        let b: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        let mut z = compress_to_vec(&a[..], CompressionLevel::Fastest);
        // A skippable frame: magic 0x184D2A50, length 3, 3 bytes.
        z.extend_from_slice(&[0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 9, 9, 9]);
        z.extend(compress_to_vec(&b[..], CompressionLevel::Fastest));
        let mut out = Vec::new();
        ZstdFrames::new(&z[..]).read_to_end(&mut out).unwrap();
        assert_eq!(out, [a.clone(), b.clone()].concat());
        let o = open_reader("z".into(), Box::new(Cursor::new(z.clone())), HashMode::Off).unwrap();
        assert_eq!(o.compression, Compression::Zstd);
        assert_eq!(o.container, Container::PcapNg);
        // Corruption is an error, not an endless loop or a panic.
        let mut bad = z.clone();
        bad.truncate(z.len() / 2);
        bad.extend_from_slice(&[0xff; 64]);
        let mut out = Vec::new();
        let r = ZstdFrames::new(&bad[..]).read_to_end(&mut out);
        assert!(r.is_err() || out != [a, b].concat());
    }

    #[test]
    fn rejects_text_and_empty() {
        let e = open_reader("t".into(), Box::new(&b"hello world"[..]), HashMode::Inline).err();
        assert!(matches!(e, Some(OpenError::NotACapture(s)) if s == "68 65 6c 6c, \"hell\""));
        let e = open_reader("t".into(), Box::new(&b""[..]), HashMode::Inline).err();
        assert!(matches!(e, Some(OpenError::Empty)));
    }

    fn sha(bytes: &[u8]) -> String {
        hex(&Sha256::digest(bytes))
    }

    #[test]
    fn hashes_exactly_the_bytes_read_in_both_modes() {
        let data: Vec<u8> = [0xd4, 0xc3, 0xb2, 0xa1]
            .into_iter()
            .chain((0..3 * HASH_CHUNK as u32 + 17).map(|i| i as u8))
            .collect();
        for mode in [HashMode::Inline, HashMode::Concurrent] {
            let mut o = open_reader("t".into(), Box::new(Cursor::new(data.clone())), mode).unwrap();
            let mut sink = Vec::new();
            o.reader.read_to_end(&mut sink).unwrap();
            assert_eq!(o.raw.finish(), (Some(sha(&data)), data.len() as u64));
        }
        // Stopped early (an error in the capture): the hash and the count
        // are of what was read, never of the rest.
        let mut o = open_reader(
            "t".into(),
            Box::new(Cursor::new(data.clone())),
            HashMode::Concurrent,
        )
        .unwrap();
        let mut some = vec![0u8; 10];
        o.reader.read_exact(&mut some).unwrap();
        let (hash, n) = o.raw.finish();
        assert!(n < data.len() as u64);
        assert_eq!(hash, Some(sha(&data[..n as usize])));
    }

    #[test]
    fn finishing_never_drains_an_endless_input() {
        let endless = Cursor::new(vec![0xd4, 0xc3, 0xb2, 0xa1]).chain(io::repeat(0));
        let o = open_reader("zero".into(), Box::new(endless), HashMode::Inline).unwrap();
        let (hash, n) = o.raw.finish();
        assert!(hash.is_some());
        assert!(n < 1 << 20, "{n}");
    }
}
