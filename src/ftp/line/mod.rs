//! Control-stream decoding: bytes → lines.
//!
//! One decoder per direction. It removes Telnet IAC sequences (recording
//! them), splits lines on CRLF (a bare LF also ends a line and is
//! recorded), keeps for every line the frames that carried it and where in
//! each segment it started, resynchronises on the next line end after a
//! gap, and walks TLS records once the session says the channel is
//! encrypted — so a return to cleartext (CCC) is still decoded, while the
//! encrypted bytes are only counted.

mod telnet;
mod tls;

use crate::escape::Bytes;
use crate::reassembly::{Chunk, Origin};
use crate::timestamp::Timestamp;
use serde::Serialize;
pub use telnet::{telnet_description, telnet_name};
use tls::TlsWalk;
pub use tls::{encrypted_not_text, is_tls_record_header};

/// How a line ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Terminator {
    CrLf,
    /// A bare LF (no CR before it).
    Lf,
    /// A CR with nothing after it before the stream ended.
    Cr,
    /// The stream ended (FIN, reset or end of capture) with no line end.
    None,
    /// Bytes went missing from the capture before the line ended.
    Gap,
}

impl Terminator {
    pub fn bytes(self) -> &'static [u8] {
        match self {
            Terminator::CrLf => b"\r\n",
            Terminator::Lf => b"\n",
            Terminator::Cr => b"\r",
            Terminator::None | Terminator::Gap => b"",
        }
    }
}

/// Part of a line carried by one segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Piece {
    pub frame: u64,
    #[serde(skip)]
    pub ts: Timestamp,
    /// Byte of the segment's payload where this part starts.
    pub seg_offset: u32,
    pub len: u32,
}

/// A Telnet command removed from a line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct TelnetCmd {
    /// Position in the line's content where it stood.
    pub at: u32,
    pub bytes: Bytes,
}

/// One control line, as the peer's FTP implementation would read it.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Line {
    /// The content: Telnet commands removed, terminator excluded, capped
    /// at [`MAX_LINE`] bytes.
    pub bytes: Bytes,
    pub terminator: Terminator,
    /// Stream offset of the line's first raw byte.
    pub offset: u64,
    /// Raw bytes the line occupied, terminator and Telnet bytes included.
    pub raw_len: u64,
    pub pieces: Vec<Piece>,
    /// Pieces not kept because the line was spread over too many segments.
    #[serde(skip_serializing_if = "is_zero")]
    pub pieces_dropped: u32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub telnet: Vec<TelnetCmd>,
    /// Telnet commands removed but not recorded (over [`MAX_TELNET`]).
    #[serde(skip_serializing_if = "is_zero")]
    pub telnet_dropped: u32,
    /// Content bytes beyond [`MAX_LINE`] that were counted, not kept.
    #[serde(skip_serializing_if = "is_zero64")]
    pub overlong_bytes: u64,
    /// The line starts right after a gap: its beginning is unknown.
    #[serde(skip_serializing_if = "is_false")]
    pub after_gap: bool,
    /// Bytes right before this line were never captured (it may be whole,
    /// but what came before it is unknown: a reply after a gap is never
    /// paired with a command from before the gap).
    #[serde(skip_serializing_if = "is_false")]
    pub follows_gap: bool,
    /// A CR inside the content not followed by LF.
    #[serde(skip_serializing_if = "is_false")]
    pub bare_cr: bool,
    /// The offset in the other direction's stream that the segment
    /// carrying the line's last byte acknowledged: every byte the peer
    /// sent before it had reached the sender when it sent the line (None
    /// where that segment carried no ACK the stream can place).
    #[serde(skip)]
    pub peer_acked: Option<u64>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}
fn is_zero64(n: &u64) -> bool {
    *n == 0
}
fn is_false(b: &bool) -> bool {
    !*b
}

impl Line {
    /// Nothing but Telnet commands, no text: a signal (such as the abort
    /// signal a client sends before it closes), not a line.
    pub fn telnet_only(&self) -> bool {
        self.bytes.0.is_empty() && !self.telnet.is_empty()
    }
    pub fn first_frame(&self) -> u64 {
        self.pieces.first().map_or(0, |p| p.frame)
    }
    pub fn last_frame(&self) -> u64 {
        self.pieces.last().map_or(0, |p| p.frame)
    }
    pub fn first_ts(&self) -> Timestamp {
        self.pieces.first().map_or(Timestamp(0), |p| p.ts)
    }
    pub fn last_ts(&self) -> Timestamp {
        self.pieces.last().map_or(Timestamp(0), |p| p.ts)
    }
    /// Distinct frames, in order.
    pub fn frames(&self) -> Vec<u64> {
        let mut v: Vec<u64> = self.pieces.iter().map(|p| p.frame).collect();
        v.dedup();
        v
    }
    /// `frames().len()` without building the list (asked of every line
    /// a report writes).
    fn frame_count(&self) -> usize {
        let changes = self.pieces.windows(2).filter(|w| w[0].frame != w[1].frame);
        usize::from(!self.pieces.is_empty()) + changes.count()
    }
    /// The line as it was on the wire (content plus terminator, without
    /// the Telnet commands).
    pub fn wire(&self) -> Vec<u8> {
        let mut v = self.bytes.0.clone();
        v.extend_from_slice(self.terminator.bytes());
        v
    }
    /// The number of distinct segments that carried the line.
    pub fn segment_count(&self) -> usize {
        self.frame_count() + self.pieces_dropped as usize
    }
    /// Bytes the line occupies in memory (for the engine's budget).
    pub fn mem_size(&self) -> usize {
        std::mem::size_of::<Line>()
            + self.bytes.0.capacity()
            + self.pieces.capacity() * std::mem::size_of::<Piece>()
            // A recorded Telnet command is 2 or 3 bytes.
            + self.telnet.capacity() * (std::mem::size_of::<TelnetCmd>() + 8)
    }
}

/// The longest line content kept; longer lines are counted, not stored.
pub const MAX_LINE: usize = 8192;
const MAX_PIECES: usize = 64;
const MAX_TELNET: usize = 64;
/// Bytes buffered while the decoder waits to learn whether TLS follows.
const MAX_HELD: usize = 64 << 10;

/// What the decoder hands out, in stream order.
#[derive(Clone, Debug)]
pub enum Item {
    Line(Line),
    /// The channel became encrypted at this stream offset.
    TlsStart {
        offset: u64,
        frame: u64,
    },
    /// TLS records stopped and cleartext resumed (e.g. after CCC).
    TlsEnd {
        offset: u64,
        frame: u64,
    },
}

/// What follows a line the decoder paused after.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resume {
    Text,
    Tls,
}

/// Where the Telnet parser is (RFC 854): plain data, after IAC, after
/// IAC WILL/WONT/DO/DONT, inside a subnegotiation, after IAC inside one.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Telnet {
    Data,
    Command,
    Option,
    Sub,
    SubCommand,
}

enum Mode {
    Text,
    Tls(TlsWalk),
}

/// Decides when the decoder must pause after a line (see [`Decoder::new`]).
pub type PauseRule = fn(&[u8]) -> bool;

/// Says whether bytes plausibly start a line of this direction (a reply
/// code, a known verb): after a gap, a segment that starts like one begins
/// a new line instead of being skipped as a fragment.
pub type LineStart = fn(&[u8]) -> bool;

pub struct Decoder {
    pause_rule: PauseRule,
    line_start: LineStart,
    mode: Mode,
    paused: bool,
    held: Vec<HeldChunk>,
    held_bytes: usize,
    cur: Option<Partial>,
    cr_pending: bool,
    iac: Telnet,
    resync: bool,
    /// A gap since the last line began: the next line follows it.
    gap_before_next: bool,
    pos: u64,
    out: Vec<Item>,
    /// Bytes inside TLS records (not decoded).
    pub tls_bytes: u64,
    /// Bytes dropped because the hold buffer was full.
    pub held_overflow: u64,
    tls_start_pending: bool,
}

struct HeldChunk {
    offset: u64,
    data: Vec<u8>,
    origin: Origin,
    seg_offset: u32,
    seg_len: u32,
}

struct Partial {
    line: Line,
    /// The Telnet command being read is recorded (the line had room for it).
    telnet_kept: bool,
}

impl Decoder {
    /// `pause_rule` says after which lines the decoder must stop and wait
    /// for [`Decoder::resume`]: the session decides, from the other
    /// direction, whether TLS follows (after `AUTH` and after `234`).
    pub fn new(pause_rule: PauseRule, line_start: LineStart) -> Self {
        Decoder {
            pause_rule,
            line_start,
            mode: Mode::Text,
            paused: false,
            held: Vec::new(),
            held_bytes: 0,
            cur: None,
            cr_pending: false,
            iac: Telnet::Data,
            resync: false,
            gap_before_next: false,
            pos: 0,
            out: Vec::new(),
            tls_bytes: 0,
            held_overflow: 0,
            tls_start_pending: false,
        }
    }

    /// Takes the items decoded so far.
    pub fn drain(&mut self) -> Vec<Item> {
        std::mem::take(&mut self.out)
    }

    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// Bytes held: data waiting for a TLS decision and the line being read.
    pub fn mem_size(&self) -> usize {
        self.held_bytes
            + self.held.len() * std::mem::size_of::<HeldChunk>()
            + self.cur.as_ref().map_or(0, |p| p.line.mem_size())
    }

    pub fn is_encrypted(&self) -> bool {
        matches!(self.mode, Mode::Tls(_))
    }

    /// Continues after a pause, in the given mode.
    pub fn resume(&mut self, how: Resume) {
        if !self.paused {
            return;
        }
        self.paused = false;
        if how == Resume::Tls {
            self.start_tls();
        }
        let held = std::mem::take(&mut self.held);
        self.held_bytes = 0;
        for h in held {
            if self.paused {
                // Paused again inside the replay: keep the rest held.
                self.held_bytes += h.data.len();
                self.held.push(h);
                continue;
            }
            let c = Chunk {
                offset: h.offset,
                data: &h.data,
                origin: h.origin,
                seg_offset: h.seg_offset,
                seg_len: h.seg_len,
            };
            self.data(&c);
        }
    }

    /// Switches to TLS; the start is reported with the frame of the first
    /// encrypted bytes (held already, or the next to arrive).
    fn start_tls(&mut self) {
        self.mode = Mode::Tls(TlsWalk::default());
        match self.held.first() {
            Some(h) => self.out.push(Item::TlsStart {
                offset: self.pos,
                frame: h.origin.frame,
            }),
            None => self.tls_start_pending = true,
        }
    }

    /// Consumes a chunk of the reassembled stream.
    pub fn data(&mut self, c: &Chunk<'_>) {
        if self.tls_start_pending && !self.paused {
            self.tls_start_pending = false;
            self.out.push(Item::TlsStart {
                offset: c.offset,
                frame: c.origin.frame,
            });
        }
        if self.paused {
            if self.held_bytes + c.data.len() > MAX_HELD {
                self.held_overflow += c.data.len() as u64;
                return;
            }
            self.held_bytes += c.data.len();
            self.held.push(HeldChunk {
                offset: c.offset,
                data: c.data.to_vec(),
                origin: c.origin,
                seg_offset: c.seg_offset,
                seg_len: c.seg_len,
            });
            return;
        }
        if self.resync && self.cur.is_none() && c.seg_offset == 0 && (self.line_start)(c.data) {
            self.resync = false;
        }
        let mut i = 0usize;
        while i < c.data.len() {
            if self.paused {
                let rest = Chunk {
                    offset: c.offset + i as u64,
                    data: &c.data[i..],
                    origin: c.origin,
                    seg_offset: c.seg_offset + i as u32,
                    seg_len: c.seg_len,
                };
                self.data(&rest);
                return;
            }
            let consumed = match self.mode {
                Mode::Text => self.text(c, i),
                Mode::Tls(_) => self.tls(c, i),
            };
            i += consumed;
        }
    }

    /// Decodes text from `c.data[start..]`; returns bytes consumed (stops
    /// after a line end so the caller can honour a pause).
    fn text(&mut self, c: &Chunk<'_>, start: usize) -> usize {
        let data = &c.data[start..];
        let mut i = 0;
        while i < data.len() {
            let b = data[i];
            let abs = c.offset + (start + i) as u64;
            if self.resync {
                // After a gap: everything up to the next LF is a fragment of
                // a line whose start is unknown.
                self.touch(c, start + i, abs);
                if let Some(p) = self.cur.as_mut() {
                    p.line.after_gap = true;
                }
                if b == b'\n' {
                    self.resync = false;
                    let crlf = self.cur.as_mut().is_some_and(|p| {
                        p.line.bytes.0.last() == Some(&b'\r') && p.line.bytes.0.pop().is_some()
                    });
                    let term = if crlf {
                        Terminator::CrLf
                    } else {
                        Terminator::Lf
                    };
                    self.end_line(term, abs + 1, true);
                    return i + 1;
                }

                self.push_content(b);
                i += 1;
                continue;
            }
            match self.iac {
                Telnet::Data => {}
                Telnet::Command => {
                    self.touch(c, start + i, abs);
                    match b {
                        0xff => {
                            self.iac = Telnet::Data;
                            self.telnet(&[0xff, 0xff]);
                            self.push_content(0xff);
                        }
                        251..=254 => {
                            self.iac = Telnet::Option;
                            self.telnet_partial(b);
                        }
                        250 => {
                            self.iac = Telnet::Sub;
                            self.telnet_partial(b);
                        }
                        _ => {
                            self.iac = Telnet::Data;
                            self.telnet(&[0xff, b]);
                        }
                    }
                    i += 1;
                    continue;
                }
                Telnet::Option => {
                    self.touch(c, start + i, abs);
                    self.iac = Telnet::Data;
                    self.telnet_finish(b);
                    i += 1;
                    continue;
                }
                Telnet::Sub | Telnet::SubCommand => {
                    self.touch(c, start + i, abs);
                    self.iac = match (self.iac, b) {
                        (Telnet::Sub, 0xff) => Telnet::SubCommand,
                        (Telnet::SubCommand, 240) => {
                            self.telnet_finish(b);
                            Telnet::Data
                        }
                        _ => Telnet::Sub,
                    };
                    i += 1;
                    continue;
                }
            }
            match b {
                0xff => {
                    self.touch(c, start + i, abs);
                    self.iac = Telnet::Command;
                    self.telnet_begin();
                    i += 1;
                }
                b'\n' => {
                    self.touch(c, start + i, abs);
                    let term = if self.cr_pending {
                        self.cr_pending = false;
                        Terminator::CrLf
                    } else {
                        Terminator::Lf
                    };
                    self.end_line(term, abs + 1, false);
                    return i + 1;
                }
                _ if !self.cr_pending && b != b'\r' => {
                    // A run of plain bytes up to the next CR, LF or IAC is
                    // one piece of one line: taken at once.
                    let n =
                        memchr::memchr3(b'\r', b'\n', 0xff, &data[i..]).unwrap_or(data.len() - i);
                    self.touch(c, start + i, abs);
                    self.extend_touched(n - 1);
                    self.push_run(&data[i..i + n]);
                    i += n;
                }
                _ => {
                    self.touch(c, start + i, abs);
                    if self.cr_pending {
                        // CR not followed by LF is content (RFC 2640 CR NUL).
                        self.cr_pending = false;
                        self.push_content(b'\r');
                        if let Some(p) = self.cur.as_mut() {
                            p.line.bare_cr = true;
                        }
                    }
                    if b == b'\r' {
                        self.cr_pending = true;
                    } else {
                        self.push_content(b);
                    }
                    i += 1;
                }
            }
        }
        data.len()
    }

    /// A gap of `len` bytes at `offset`.
    pub fn gap(&mut self, offset: u64, len: u64, at: Origin) {
        if self.paused {
            // Nothing decided yet: treat as text lost.
            self.held_overflow += len;
            return;
        }
        match &mut self.mode {
            Mode::Tls(w) => {
                w.lost = true;
                self.tls_bytes += len;
            }
            Mode::Text => {
                if self.cur.is_some() || self.cr_pending {
                    self.cr_pending = false;
                    let _ = at;
                    self.end_line(Terminator::Gap, offset, false);
                }
                self.iac = Telnet::Data;
                self.resync = true;
                self.gap_before_next = true;
            }
        }
        self.pos = offset + len;
    }

    /// Ends the stream: a partial line is emitted without terminator.
    pub fn finish(&mut self) {
        if self.paused {
            self.resume(Resume::Text);
        }
        if matches!(self.mode, Mode::Text) && (self.cur.is_some() || self.cr_pending) {
            let term = if self.cr_pending {
                self.cr_pending = false;
                Terminator::Cr
            } else {
                Terminator::None
            };
            let end = self.pos;
            self.end_line(term, end, false);
        }
    }

    /// Records that byte `idx` of chunk `c` (stream offset `abs`) belongs
    /// to the current line, starting the line if needed.
    fn touch(&mut self, c: &Chunk<'_>, idx: usize, abs: u64) {
        self.pos = abs + 1;
        let seg_offset = c.seg_offset + idx as u32;
        let follows_gap = self.cur.is_none() && std::mem::take(&mut self.gap_before_next);
        let p = self.cur.get_or_insert_with(|| Partial {
            line: Line {
                bytes: Bytes::default(),
                terminator: Terminator::None,
                offset: abs,
                raw_len: 0,
                pieces: Vec::new(),
                pieces_dropped: 0,
                telnet: Vec::new(),
                telnet_dropped: 0,
                overlong_bytes: 0,
                after_gap: false,
                follows_gap,
                bare_cr: false,
                peer_acked: None,
            },
            telnet_kept: false,
        });
        let line = &mut p.line;
        match line.pieces.last_mut() {
            Some(last)
                if last.frame == c.origin.frame && last.seg_offset + last.len == seg_offset =>
            {
                last.len += 1;
            }
            _ => {
                if line.pieces.len() < MAX_PIECES {
                    line.pieces.push(Piece {
                        frame: c.origin.frame,
                        ts: c.origin.ts,
                        seg_offset,
                        len: 1,
                    });
                } else {
                    line.pieces_dropped += 1;
                    // Keep the last piece current so last_frame stays true.
                    if let Some(last) = line.pieces.last_mut() {
                        *last = Piece {
                            frame: c.origin.frame,
                            ts: c.origin.ts,
                            seg_offset,
                            len: 1,
                        };
                    }
                }
            }
        }
    }

    /// Counts `n` more bytes right after the one [`Self::touch`] just
    /// counted (the same segment, contiguous: its piece grows).
    fn extend_touched(&mut self, n: usize) {
        self.pos += n as u64;
        if let Some(last) = self.cur.as_mut().and_then(|p| p.line.pieces.last_mut()) {
            last.len += n as u32;
        }
    }

    /// Adds content bytes to the line being read, up to [`MAX_LINE`];
    /// the rest are only counted.
    fn push_run(&mut self, run: &[u8]) {
        if let Some(p) = self.cur.as_mut() {
            let bytes = &mut p.line.bytes.0;
            let take = run.len().min(MAX_LINE.saturating_sub(bytes.len()));
            bytes.extend_from_slice(&run[..take]);
            p.line.overlong_bytes += (run.len() - take) as u64;
        }
    }

    fn push_content(&mut self, b: u8) {
        self.push_run(&[b]);
    }

    fn end_line(&mut self, term: Terminator, end: u64, after_gap: bool) {
        let Some(mut p) = self.cur.take() else {
            return;
        };
        p.line.terminator = term;
        p.line.raw_len = end.saturating_sub(p.line.offset);
        p.line.after_gap |= after_gap;
        let pause = !p.line.after_gap && (self.pause_rule)(&p.line.bytes.0);
        self.out.push(Item::Line(p.line));
        if pause {
            self.paused = true;
        }
    }
}

/// Pause after a client `AUTH …` command: TLS may follow.
pub fn pause_after_auth(line: &[u8]) -> bool {
    line.len() >= 4 && line[..4].eq_ignore_ascii_case(b"AUTH")
}

/// Pause after a server `234` reply: TLS follows if it answers AUTH.
pub fn pause_after_234(line: &[u8]) -> bool {
    line.starts_with(b"234 ")
}

/// Never pause.
pub fn never_pause(_: &[u8]) -> bool {
    false
}

/// Never take bytes after a gap as a line start.
pub fn never_starts(_: &[u8]) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(offset: u64, data: &[u8], frame: u64) -> Chunk<'_> {
        Chunk {
            offset,
            data,
            origin: Origin {
                frame,
                ts: Timestamp(frame as i64),
                ..Default::default()
            },
            seg_offset: 0,
            seg_len: data.len() as u32,
        }
    }

    fn lines(items: Vec<Item>) -> Vec<Line> {
        items
            .into_iter()
            .filter_map(|i| match i {
                Item::Line(l) => Some(l),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn splits_on_crlf_and_bare_lf() {
        let mut d = Decoder::new(never_pause, never_starts);
        d.data(&chunk(0, b"USER a\r\nPASS b\nNOOP\r\n", 1));
        let l = lines(d.drain());
        assert_eq!(l.len(), 3);
        assert_eq!(l[0].bytes.0, b"USER a");
        assert_eq!(l[0].terminator, Terminator::CrLf);
        assert_eq!(l[1].terminator, Terminator::Lf);
        assert_eq!(l[2].offset, 15);
        assert_eq!(l[2].pieces[0].seg_offset, 15);
    }

    #[test]
    fn line_split_across_segments_keeps_pieces() {
        let mut d = Decoder::new(never_pause, never_starts);
        d.data(&chunk(0, b"PORT 1,2,3", 7));
        d.data(&chunk(10, b",4,5,6\r\nNOOP\r\n", 8));
        let l = lines(d.drain());
        assert_eq!(l[0].bytes.0, b"PORT 1,2,3,4,5,6");
        assert_eq!(l[0].frames(), vec![7, 8]);
        assert_eq!((l[0].segment_count(), l[1].segment_count()), (2, 1));
        assert_eq!(l[0].raw_len, 18);
        assert_eq!(l[1].pieces[0].seg_offset, 8);
    }

    #[test]
    fn telnet_commands_removed_and_recorded() {
        let mut d = Decoder::new(never_pause, never_starts);
        d.data(&chunk(
            0,
            b"\xff\xf4\xff\xf2ABOR\r\nCWD a\xff\xffb\r\nX\xff\xfb\x01Y\r\n",
            1,
        ));
        let l = lines(d.drain());
        assert_eq!(l[0].bytes.0, b"ABOR");
        assert_eq!(l[0].telnet.len(), 2);
        assert_eq!(l[0].telnet[0].bytes.0, vec![0xff, 0xf4]);
        assert_eq!(l[1].bytes.0, b"CWD a\xffb");
        assert_eq!(l[2].bytes.0, b"XY");
        assert_eq!(l[2].telnet[0].bytes.0, vec![0xff, 0xfb, 0x01]);
    }

    #[test]
    fn telnet_commands_past_the_cap_are_counted_not_written_over() {
        let mut d = Decoder::new(never_pause, never_starts);
        let mut data = b"\xff\xfb\x01".repeat(MAX_TELNET);
        data.extend(b"\xff\xf1".repeat(6));
        data.extend(b"NOOP\r\n");
        d.data(&chunk(0, &data, 1));
        let l = lines(d.drain());
        assert_eq!(l[0].bytes.0, b"NOOP");
        assert_eq!(l[0].telnet.len(), MAX_TELNET);
        assert_eq!(l[0].telnet_dropped, 6);
        assert_eq!(l[0].telnet[MAX_TELNET - 1].bytes.0, vec![0xff, 0xfb, 0x01]);
    }

    #[test]
    fn gap_ends_line_and_resyncs() {
        let mut d = Decoder::new(never_pause, never_starts);
        d.data(&chunk(0, b"NOOP\r\nPORT 1,2", 1));
        d.gap(
            14,
            5,
            Origin {
                frame: 3,
                ts: Timestamp(3),
                ..Default::default()
            },
        );
        d.data(&chunk(19, b"5,6\r\nPASV\r\n", 4));
        let l = lines(d.drain());
        assert_eq!(l.len(), 4);
        assert_eq!(l[1].bytes.0, b"PORT 1,2");
        assert_eq!(l[1].terminator, Terminator::Gap);
        assert_eq!(l[2].bytes.0, b"5,6");
        assert_eq!(l[2].terminator, Terminator::CrLf);
        assert!(l[2].after_gap);
        assert_eq!(l[3].bytes.0, b"PASV");
        assert!(!l[3].after_gap);
    }

    #[test]
    fn resyncs_at_a_segment_that_starts_a_line() {
        let mut d = Decoder::new(never_pause, crate::ftp::message::starts_like_reply);
        d.data(&chunk(0, b"220 a long ban", 1));
        d.gap(
            14,
            10,
            Origin {
                frame: 1,
                ts: Timestamp(1),
                ..Default::default()
            },
        );
        d.data(&chunk(24, b"331 Password\r\n", 2));
        let l = lines(d.drain());
        assert_eq!(l[1].bytes.0, b"331 Password");
        assert!(!l[1].after_gap);
    }

    #[test]
    fn unterminated_last_line() {
        let mut d = Decoder::new(never_pause, never_starts);
        d.data(&chunk(0, b"QUIT", 1));
        d.finish();
        let l = lines(d.drain());
        assert_eq!(l[0].terminator, Terminator::None);
        assert_eq!(l[0].raw_len, 4);
    }

    #[test]
    fn bare_cr_inside_line() {
        let mut d = Decoder::new(never_pause, never_starts);
        d.data(&chunk(0, b"RETR a\rb\r\n", 1));
        let l = lines(d.drain());
        assert_eq!(l[0].bytes.0, b"RETR a\rb");
        assert!(l[0].bare_cr);
    }

    #[test]
    fn overlong_line_is_capped() {
        let mut d = Decoder::new(never_pause, never_starts);
        let big = vec![b'A'; MAX_LINE + 100];
        d.data(&chunk(0, &big, 1));
        d.data(&chunk(big.len() as u64, b"\r\n", 2));
        let l = lines(d.drain());
        assert_eq!(l[0].bytes.0.len(), MAX_LINE);
        assert_eq!(l[0].overlong_bytes, 100);
    }

    #[test]
    fn auth_pause_then_tls_then_cleartext_again() {
        let mut d = Decoder::new(pause_after_auth, never_starts);
        d.data(&chunk(0, b"AUTH TLS\r\n\x16\x03\x01\x00\x02ab", 1));
        assert!(d.is_paused());
        assert_eq!(lines(d.drain()).len(), 1);
        d.resume(Resume::Tls);
        d.data(&chunk(17, b"\x15\x03\x03\x00\x01zPASV\r\n", 2));
        let items = d.drain();
        assert!(matches!(items[0], Item::TlsStart { offset: 10, .. }));
        assert!(matches!(
            items[1],
            Item::TlsEnd {
                offset: 23,
                frame: 2
            }
        ));
        let l = lines(items);
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].bytes.0, b"PASV");
        assert_eq!(l[0].offset, 23);
        assert_eq!(d.tls_bytes, 13);
    }

    #[test]
    fn auth_refused_continues_as_text() {
        let mut d = Decoder::new(pause_after_auth, never_starts);
        d.data(&chunk(0, b"AUTH TLS\r\nUSER x\r\n", 1));
        assert_eq!(lines(d.drain()).len(), 1);
        d.resume(Resume::Text);
        let l = lines(d.drain());
        assert_eq!(l[0].bytes.0, b"USER x");
    }
}
