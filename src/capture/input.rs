//! Opening an input: a file or standard input, possibly gzip-compressed.
//!
//! The container is recognised by its magic bytes, never by its name
//! (archives are gzipped and rotated files have odd names). The SHA-256 of
//! the bytes as stored (before decompression) is computed on the way, so a
//! report can name exactly which file it describes.

use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, Cursor, Read};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

/// How the capture bytes are wrapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
}

impl Compression {
    pub fn name(self) -> Option<&'static str> {
        match self {
            Compression::None => None,
            Compression::Gzip => Some("gzip"),
        }
    }
}

/// The container format found behind any compression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Container {
    Pcap,
    PcapNg,
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
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

/// True when the bytes start like something `open` can read (a capture or a
/// gzip stream); used to discover captures by content.
pub fn sniff_any(head: &[u8]) -> bool {
    head.starts_with(&GZIP_MAGIC) || sniff_container(head).is_some()
}

/// How the SHA-256 of the stored file is computed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HashMode {
    /// In the reading thread, as the bytes pass (the only way for a pipe).
    #[default]
    Inline,
    /// In a helper thread that reads the file a second time (from the page
    /// cache): SHA-256 runs at about 1.5 GB/s per core, slower than the
    /// analysis, so doing it beside the analysis keeps that at full speed.
    /// Regular files only; anything else is hashed inline.
    Concurrent,
    /// Not computed (the report shows no hash).
    Off,
}

/// Running hash and byte count of the raw input, shared between the read
/// chain and the caller (the chain is owned by the capture parser).
#[derive(Default)]
struct RawState {
    hasher: Option<Sha256>,
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

/// The SHA-256 of a whole file, read on its own.
fn hash_file(path: &Path) -> io::Result<String> {
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match f.read(&mut buf) {
            Ok(0) => return Ok(hex(&h.finalize())),
            Ok(n) => h.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

impl RawHandle {
    fn new(source: Box<dyn Read + Send>, inline_hash: bool) -> Self {
        RawHandle {
            state: Arc::new(Mutex::new(RawState {
                hasher: inline_hash.then(Sha256::new),
                bytes: 0,
            })),
            source: Arc::new(Mutex::new(source)),
        }
    }

    /// Reads whatever the parser did not consume (after an error) so the
    /// byte count and an inline hash cover the whole file. Returns (sha256
    /// hex when hashed inline, file bytes).
    pub fn finish(&self) -> (Option<String>, u64) {
        let mut buf = vec![0u8; 1 << 16];
        // A read error here only shortens the counted range; the capture
        // error (if any) was already reported by the parser.
        while let Ok(n) = self.read_raw(&mut buf) {
            if n == 0 {
                break;
            }
        }
        let st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        (st.hasher.clone().map(|h| hex(&h.finalize())), st.bytes)
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
        if let Some(h) = st.hasher.as_mut() {
            h.update(&buf[..n]);
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
    /// The SHA-256 being computed beside the analysis (HashMode::Concurrent).
    pub hash_thread: Option<std::thread::JoinHandle<io::Result<String>>>,
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
    #[error("not a pcap or pcapng file (starts with {0})")]
    NotACapture(String),
}

/// Opens `path` (`-` is standard input), undoing gzip if the magic says so.
pub fn open(path: &Path, hash: HashMode) -> Result<Opened, OpenError> {
    let name = path.to_string_lossy().into_owned();
    if name == "-" {
        return open_reader(name, Box::new(io::stdin()), hash != HashMode::Off);
    }
    let file = File::open(path)?;
    let regular = file.metadata().is_ok_and(|m| m.is_file());
    let concurrent = hash == HashMode::Concurrent && regular;
    let inline = hash == HashMode::Inline || (hash == HashMode::Concurrent && !regular);
    let mut o = open_reader(name, Box::new(file), inline)?;
    if concurrent {
        let p = path.to_path_buf();
        o.hash_thread = Some(std::thread::spawn(move || hash_file(&p)));
    }
    Ok(o)
}

/// Like [`open`] for any byte source (used by tests and stdin), hashing
/// inline or not at all.
pub fn open_reader(
    name: String,
    source: Box<dyn Read + Send>,
    hash: bool,
) -> Result<Opened, OpenError> {
    let raw = RawHandle::new(source, hash);
    let mut outer = raw.clone();
    let head = read_prefix(&mut outer, 4)?;
    if head.is_empty() {
        return Err(OpenError::Empty);
    }
    let outer = Cursor::new(head.clone()).chain(outer);
    let last_io_error = Arc::new(Mutex::new(None));
    let (compression, mut inner): (Compression, Box<dyn Read + Send>) =
        if head.starts_with(&GZIP_MAGIC) {
            let gz = flate2::read::MultiGzDecoder::new(outer);
            let memo = ErrorMemo {
                inner: gz,
                last: last_io_error.clone(),
            };
            (Compression::Gzip, Box::new(memo))
        } else {
            (Compression::None, Box::new(outer))
        };
    let head = read_prefix(&mut inner, 4)?;
    let container = sniff_container(&head).ok_or_else(|| {
        if head.is_empty() {
            OpenError::Empty
        } else {
            OpenError::NotACapture(crate::bytes::escape(&head))
        }
    })?;
    Ok(Opened {
        name,
        compression,
        container,
        raw,
        hash_thread: None,
        last_io_error,
        reader: Box::new(Greedy(Cursor::new(head).chain(inner))),
    })
}

/// Fills the caller's buffer as far as the input allows. The capture parser
/// takes a single `read` as "what is available" (its constructors parse the
/// file header from one read), so short reads from pipes, gzip or the magic
/// prefix must not reach it.
struct Greedy<R>(R);

impl<R: Read> Read for Greedy<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut got = 0;
        while got < buf.len() {
            match self.0.read(&mut buf[got..]) {
                Ok(0) => break,
                Ok(k) => got += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if got == 0 => return Err(e),
                // Hand over what we have; the error comes back on the next call.
                Err(_) => break,
            }
        }
        Ok(got)
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
        assert!(sniff_any(&[0x1f, 0x8b, 8, 0]));
    }

    #[test]
    fn rejects_text_and_empty() {
        let e = open_reader("t".into(), Box::new(&b"hello world"[..]), true).err();
        assert!(matches!(e, Some(OpenError::NotACapture(s)) if s == "hell"));
        let e = open_reader("t".into(), Box::new(&b""[..]), true).err();
        assert!(matches!(e, Some(OpenError::Empty)));
    }

    #[test]
    fn hashes_whole_input() {
        let data: Vec<u8> = [0xd4, 0xc3, 0xb2, 0xa1]
            .iter()
            .copied()
            .chain(std::iter::repeat_n(7u8, 100))
            .collect();
        let o = open_reader(
            "t".into(),
            Box::new(std::io::Cursor::new(data.clone())),
            true,
        )
        .unwrap();
        let (hex, n) = o.raw.finish();
        let hex = hex.unwrap();
        assert_eq!(n, 104);
        let expect: String = Sha256::digest(&data)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(hex, expect);
    }
}
