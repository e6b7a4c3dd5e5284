//! What probe and reflector exchange over a real path: the letter
//! encoding the reflector reports received bytes in, and a control
//! connection that writes exactly the bytes and segments it is given.

use crate::ftp::message::reply_head;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Encodes bytes as two letters `a`–`p` per byte (high nibble first). No
/// digit, no space, no punctuation: a device that rewrites digit strings,
/// addresses or verbs in FTP lines finds nothing to rewrite in it.
pub fn encode(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push((b'a' + (b >> 4)) as char);
        s.push((b'a' + (b & 0xf)) as char);
    }
    s
}

/// Reads what [`encode`] writes; None for anything else.
pub fn decode(text: &[u8]) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let nib = |c: u8| (b'a'..=b'p').contains(&c).then(|| c - b'a');
    text.chunks(2)
        .map(|p| Some(nib(p[0])? << 4 | nib(p[1])?))
        .collect()
}

/// The decoded value of `key=<letters>` in a reply line.
pub fn field(line: &[u8], key: &str) -> Option<Vec<u8>> {
    let k = format!(" {key}=");
    let at = line.windows(k.len()).position(|w| w == k.as_bytes())? + k.len();
    let end = line[at..]
        .iter()
        .position(|b| !(b'a'..=b'p').contains(b))
        .map_or(line.len(), |e| at + e);
    decode(&line[at..end])
}

/// One FTP reply: its code and every line (without terminators).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub lines: Vec<Vec<u8>>,
}

impl Reply {
    pub fn last(&self) -> &[u8] {
        self.lines.last().map_or(&[], |l| l)
    }
    pub fn text(&self) -> String {
        crate::escape::escape(&self.lines.join(&b"\n"[..]))
    }
}

/// Why a reply did not come.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Silence {
    /// Nothing within the time allowed: the line (or the reply) was
    /// dropped on the way, or the server hangs.
    Timeout,
    /// The peer closed the connection.
    Closed,
    /// The connection was reset.
    Reset,
}

impl Silence {
    pub fn name(self) -> &'static str {
        match self {
            Silence::Timeout => "timed out",
            Silence::Closed => "connection closed",
            Silence::Reset => "connection reset",
        }
    }

    fn of(e: &io::Error) -> Silence {
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Silence::Timeout,
            io::ErrorKind::UnexpectedEof => Silence::Closed,
            _ => Silence::Reset,
        }
    }
}

/// Longest reply line kept; the rest is read and dropped.
const MAX_LINE: usize = 8192;
/// Most lines kept of one multi-line reply.
const MAX_LINES: usize = 256;

/// A line reader over a stream with a deadline per read.
#[derive(Default)]
pub struct LineReader {
    buf: Vec<u8>,
    /// The rest of an over-long line is being read and dropped.
    skipping: bool,
}

impl LineReader {
    pub fn new() -> Self {
        Self::default()
    }

    /// The next line including its LF (bare or after CR), or what ended it;
    /// a line over [`MAX_LINE`] comes cut there, and its rest is dropped
    /// (so it cannot pass for a line of its own).
    pub fn line(&mut self, s: &mut TcpStream, deadline: Instant) -> Result<Vec<u8>, Silence> {
        loop {
            if self.skipping {
                match self.buf.iter().position(|&b| b == b'\n') {
                    Some(p) => {
                        self.buf.drain(..=p);
                        self.skipping = false;
                    }
                    None => self.buf.clear(),
                }
            }
            if !self.skipping {
                if let Some(p) = self.buf.iter().position(|&b| b == b'\n') {
                    let rest = self.buf.split_off(p + 1);
                    return Ok(std::mem::replace(&mut self.buf, rest));
                }
                if self.buf.len() > MAX_LINE {
                    self.buf.truncate(MAX_LINE);
                    self.skipping = true;
                    return Ok(std::mem::take(&mut self.buf));
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Silence::Timeout);
            }
            s.set_read_timeout(Some(left))
                .map_err(|e| Silence::of(&e))?;
            let mut chunk = [0u8; 4096];
            match s.read(&mut chunk) {
                Ok(0) => return Err(Silence::Closed),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Silence::of(&e)),
            }
        }
    }
}

/// A reflector's reply without its own report of what it sent (` tx=…`
/// and what follows): the reply line as any FTP server would write it.
pub fn without_report(line: &[u8]) -> &[u8] {
    match line.windows(4).position(|w| w == b" tx=") {
        Some(p) => &line[..p],
        None => line,
    }
}

/// Strips CR LF / LF.
pub fn trim_eol(l: &[u8]) -> &[u8] {
    let l = l.strip_suffix(b"\n").unwrap_or(l);
    l.strip_suffix(b"\r").unwrap_or(l)
}

/// The client end of an FTP control connection.
pub struct Control {
    pub stream: TcpStream,
    reader: LineReader,
    pub local: SocketAddr,
    pub peer: SocketAddr,
    /// Bytes written so far: with [`Control::seq_base`], the sequence
    /// number each new segment carries.
    written: u64,
    /// The sequence number of the stream's first byte, once a router's
    /// quote has shown it (see `probe::trace`).
    pub seq_base: Option<u32>,
}

impl Control {
    pub fn connect(to: SocketAddr, timeout: Duration) -> io::Result<Control> {
        let stream = TcpStream::connect_timeout(&to, timeout)?;
        // Each write leaves as its own segment: the probe decides where
        // segment boundaries fall.
        stream.set_nodelay(true)?;
        Ok(Control {
            local: stream.local_addr()?,
            peer: stream.peer_addr()?,
            stream,
            reader: LineReader::new(),
            written: 0,
            seq_base: None,
        })
    }

    /// Writes the parts as separate segments, `gap` apart.
    pub fn send(&mut self, parts: &[&[u8]], gap: Duration) -> Result<(), Silence> {
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                std::thread::sleep(gap);
            }
            self.stream.write_all(p).map_err(|e| Silence::of(&e))?;
            self.written += p.len() as u64;
        }
        Ok(())
    }

    /// Where the next byte written stands in the stream.
    pub fn offset(&self) -> u64 {
        self.written
    }

    /// Writes `line` as one segment that leaves with TTL `ttl` (see
    /// `probe::icmp::write_limited`); returns the retransmit count before.
    pub fn send_limited(&mut self, line: &[u8], ttl: u8) -> Result<u32, Silence> {
        let r = crate::probe::icmp::write_limited(&self.stream, line, ttl)
            .map_err(|e| Silence::of(&e))?;
        self.written += line.len() as u64;
        Ok(r)
    }

    /// Reads one reply (all lines of a multi-line one).
    pub fn reply(&mut self, timeout: Duration) -> Result<Reply, Silence> {
        let deadline = Instant::now() + timeout;
        let first = self.reader.line(&mut self.stream, deadline)?;
        let first = trim_eol(&first).to_vec();
        let head = reply_head(&first);
        let mut lines = vec![first];
        // RFC 959 multi-line: `123-` … `123 `.
        if let Some(h) = head
            && h.continues
        {
            loop {
                let l = self.reader.line(&mut self.stream, deadline)?;
                let l = trim_eol(&l).to_vec();
                let end = reply_head(&l).is_some_and(|x| x.code == h.code && !x.continues);
                if lines.len() < MAX_LINES {
                    lines.push(l);
                }
                if end {
                    break;
                }
            }
        }
        Ok(Reply {
            code: head.map_or(0, |h| h.code),
            lines,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn decode_reads_encode(b in proptest::collection::vec(any::<u8>(), 0..100)) {
            let e = encode(&b);
            prop_assert!(!e.bytes().any(|c| c.is_ascii_digit()));
            prop_assert_eq!(decode(e.as_bytes()), Some(b.clone()));
            let line = format!("200 ok rx={e}");
            prop_assert_eq!(field(line.as_bytes(), "rx"), Some(b));
        }
    }

    #[test]
    fn an_over_long_line_is_cut_and_its_rest_dropped() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut w = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (mut r, _) = l.accept().unwrap();
        let mut long = vec![b'5'; MAX_LINE + 5000];
        long.extend_from_slice(b"00 looks like a reply\r\n200 ok\r\n");
        w.write_all(&long).unwrap();
        let mut reader = LineReader::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        assert_eq!(reader.line(&mut r, deadline).unwrap().len(), MAX_LINE);
        assert_eq!(reader.line(&mut r, deadline).unwrap(), b"200 ok\r\n");
    }

    #[test]
    fn fields() {
        assert_eq!(field(b"200 x rx=gb peer=dc", "peer"), Some(vec![0x32]));
        assert_eq!(field(b"200 x", "rx"), None);
        assert_eq!(decode(b"az"), None);
    }
}
