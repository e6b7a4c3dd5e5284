//! Aligning the lines of one session seen at two taps.
//!
//! Per direction, the lines of the two captures are aligned on a key with
//! digits masked (so a PORT rewritten by NAT still lines up with itself),
//! with a Myers diff from the `similar` crate; a pair is then identical or
//! modified (byte diff), and a line seen at one tap only is dropped (seen
//! where it was sent) or injected (seen where it was received). From the
//! pairs come the clock offset between the captures, the latency the device
//! added, and the TCP sequence offset between the taps and its steps.

use crate::diff::{ByteDiff, diff};
use crate::escape::Bytes;
use crate::ftp::line::{Line, Terminator, encrypted_not_text};
use crate::ftp::session::Session;
use crate::reassembly::connection::Side;
use crate::timestamp::Timestamp;
use serde::Serialize;
use similar::{Algorithm, DiffOp, capture_diff_slices};

/// Which tap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tap {
    ClientSide,
    ServerSide,
}

/// A line at one tap.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Seen {
    /// The frames that carried the line at this tap.
    pub frames: Vec<u64>,
    /// When its first frame was captured at this tap.
    pub ts: Timestamp,
    /// The line, escaped, without its terminator.
    pub text: Bytes,
    /// How the line ended at this tap.
    pub terminator: Terminator,
    /// Stream offset and absolute TCP sequence number of the first byte.
    pub offset: u64,
    /// The TCP sequence number of the line's first byte (absent when the tap
    /// never saw the connection's sequence base).
    pub seq: Option<u32>,
    /// Raw length on the wire (terminator and Telnet bytes included).
    pub raw_len: u64,
    /// TCP segments the line came in at this tap.
    pub segments: usize,
    /// Index of the command (client lines) or reply (server lines) in the
    /// session, and of the line within a multi-line reply.
    #[serde(skip)]
    pub item: usize,
    #[serde(skip)]
    pub sub: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Identical,
    Modified,
    /// Seen where it was sent, never where it was going.
    Dropped,
    /// Seen where it was received, never where it came from.
    Injected,
    /// Seen at one tap, which the other tap's capture missed: the
    /// receiver there acknowledged its bytes, or that capture was not
    /// running then. The tap's loss, not a line the path dropped or added.
    NotCaptured,
}

/// One line of the aligned dialogue.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Aligned {
    /// The sender (`C` client→server, `S` server→client in JSON).
    #[serde(serialize_with = "crate::reassembly::connection::serialize_letter")]
    #[schemars(schema_with = "crate::reassembly::connection::letter_schema")]
    pub dir: Side,
    /// identical, modified, dropped (seen where it was sent, never where it was
    /// going) or injected (seen where it was received, never where it came
    /// from).
    pub status: Status,
    /// The line as the client-side tap saw it; absent when that tap lacks it.
    pub client_side: Option<Seen>,
    /// The line as the server-side tap saw it; absent when that tap lacks it.
    pub server_side: Option<Seen>,
    /// Sent version → received version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<ByteDiff>,
    /// How the line travelled, where the taps disagree on segments.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub segment_notes: Vec<String>,
}

impl Aligned {
    pub fn side(&self) -> Side {
        self.dir
    }
    /// The version at the tap nearer the sender, and the other.
    pub fn sent(&self) -> Option<&Seen> {
        match self.side() {
            Side::Client => self.client_side.as_ref(),
            Side::Server => self.server_side.as_ref(),
        }
    }
    pub fn received(&self) -> Option<&Seen> {
        match self.side() {
            Side::Client => self.server_side.as_ref(),
            Side::Server => self.client_side.as_ref(),
        }
    }
    /// Frame order for display: the client-side frame, else the server-side one.
    pub fn sort_key(&self) -> (Timestamp, u64) {
        match (&self.client_side, &self.server_side) {
            (Some(c), _) => (c.ts, c.frames.first().copied().unwrap_or(0)),
            (None, Some(s)) => (s.ts, s.frames.first().copied().unwrap_or(0)),
            (None, None) => (Timestamp(0), 0),
        }
    }
}

fn seen(l: &Line, isn: Option<u32>, item: usize, sub: usize) -> Seen {
    Seen {
        frames: l.frames(),
        ts: l.first_ts(),
        text: l.bytes.clone(),
        terminator: l.terminator,
        offset: l.offset,
        seq: isn.map(|i| i.wrapping_add(l.offset as u32)),
        raw_len: l.raw_len,
        segments: l.segment_count(),
        item,
        sub,
    }
}

/// The lines of one direction of a session (fragments after gaps excluded:
/// they are not lines anyone read), up to the first that is encrypted
/// data read as text (the capture missed where TLS began): from there the
/// direction carries ciphertext, whose "lines" break wherever its bytes
/// happen to hold a line end, differently at each tap.
pub fn lines_of(s: &Session, side: Side) -> Vec<Seen> {
    let isn = s.tcp[side.index()].seq_base;
    let tls = s.asked_for_tls();
    let text = |l: &Line| !encrypted_not_text(&l.bytes.0, tls);
    match side {
        Side::Client => s
            .commands
            .iter()
            .enumerate()
            .filter(|(_, c)| !c.line.after_gap)
            .take_while(|(_, c)| text(&c.line))
            .map(|(i, c)| seen(&c.line, isn, i, 0))
            .collect(),
        Side::Server => s
            .replies
            .iter()
            .enumerate()
            .flat_map(|(i, r)| r.lines.iter().enumerate().map(move |(k, l)| (i, k, l)))
            .filter(|(_, _, l)| !l.after_gap)
            .take_while(|(_, _, l)| text(l))
            .map(|(i, k, l)| seen(l, isn, i, k))
            .collect(),
    }
}

/// The key lines are aligned and matched by: the line with every digit
/// masked (an ALG's rewrite changes digits) and letters in one case.
pub fn masked(b: &[u8]) -> Vec<u8> {
    b.iter()
        .map(|&c| {
            if c.is_ascii_digit() {
                b'9'
            } else {
                c.to_ascii_uppercase()
            }
        })
        .collect()
}

/// Whether two different lines are one line changed rather than one
/// dropped and another injected: same verb/code, or mostly the same bytes.
fn comparable(a: &[u8], b: &[u8]) -> bool {
    let head = |x: &[u8]| x.iter().take_while(|&&c| c != b' ').count();
    let (ha, hb) = (head(a), head(b));
    if ha > 0 && ha == hb && a[..ha].eq_ignore_ascii_case(&b[..hb]) {
        return true;
    }
    let same = a.iter().zip(b).filter(|(x, y)| x == y).count();
    same * 2 >= a.len().max(b.len())
}

/// Lines diffed at once. Myers' cost grows with the lines times the
/// differences; within a window of this many lines per side it stays small
/// whatever the input, so the work is bounded by the input's length and
/// not by a clock: the same captures align the same way on any machine
/// under any load.
const WINDOW: usize = 1024;

/// The diff of two key sequences, in windows of [`WINDOW`] lines: each
/// window's diff is kept up to its last common line, and the next window
/// starts right after it on both sides (a window without a common line is
/// taken whole). Short sequences are one window: an ordinary Myers diff.
fn bounded_diff(a: &[Vec<u8>], b: &[Vec<u8>]) -> Vec<DiffOp> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < a.len() || j < b.len() {
        let (ea, eb) = ((i + WINDOW).min(a.len()), (j + WINDOW).min(b.len()));
        let last = ea == a.len() && eb == b.len();
        let ops = capture_diff_slices(Algorithm::Myers, &a[i..ea], &b[j..eb]);
        // Keep the ops up to the end of the last Equal (unless this is the
        // final window, or there is none: then all of them).
        let keep = if last {
            ops.len()
        } else {
            ops.iter()
                .rposition(|op| matches!(op, DiffOp::Equal { .. }))
                .map_or(ops.len(), |k| k + 1)
        };
        let (mut ni, mut nj) = (ea, eb);
        for op in ops.into_iter().take(keep) {
            let shifted = shift(op, i, j);
            let (_, old, new) = shifted.as_tag_tuple();
            ni = old.end;
            nj = new.end;
            out.push(shifted);
        }
        (i, j) = (ni, nj);
    }
    out
}

/// `op` with its indexes moved by `i` (old) and `j` (new).
fn shift(op: DiffOp, i: usize, j: usize) -> DiffOp {
    match op {
        DiffOp::Equal {
            old_index,
            new_index,
            len,
        } => DiffOp::Equal {
            old_index: old_index + i,
            new_index: new_index + j,
            len,
        },
        DiffOp::Delete {
            old_index,
            old_len,
            new_index,
        } => DiffOp::Delete {
            old_index: old_index + i,
            old_len,
            new_index: new_index + j,
        },
        DiffOp::Insert {
            old_index,
            new_index,
            new_len,
        } => DiffOp::Insert {
            old_index: old_index + i,
            new_index: new_index + j,
            new_len,
        },
        DiffOp::Replace {
            old_index,
            old_len,
            new_index,
            new_len,
        } => DiffOp::Replace {
            old_index: old_index + i,
            old_len,
            new_index: new_index + j,
            new_len,
        },
    }
}

/// A line seen at one tap only, and what that is: a command seen only at
/// the client tap was dropped on the way, at the server tap injected.
fn lone(dir: Side, l: &Seen, at: Tap) -> Aligned {
    let sender_tap = if dir == Side::Client {
        Tap::ClientSide
    } else {
        Tap::ServerSide
    };
    Aligned {
        dir,
        status: if at == sender_tap {
            Status::Dropped
        } else {
            Status::Injected
        },
        client_side: (at == Tap::ClientSide).then(|| l.clone()),
        server_side: (at == Tap::ServerSide).then(|| l.clone()),
        diff: None,
        segment_notes: Vec::new(),
    }
}

/// One line seen at both taps (`a` at the client side, `b` at the server
/// side): identical, or modified with its byte diff.
fn paired(dir: Side, a: &Seen, b: &Seen) -> Aligned {
    let (sent, recv) = if dir == Side::Client { (a, b) } else { (b, a) };
    let same = sent.text == recv.text && sent.terminator == recv.terminator;
    Aligned {
        dir,
        status: if same {
            Status::Identical
        } else {
            Status::Modified
        },
        diff: (!same).then(|| diff(&sent.text.0, &recv.text.0)),
        client_side: Some(a.clone()),
        server_side: Some(b.clone()),
        segment_notes: Vec::new(),
    }
}

/// Most bytes an ALG is taken to add or remove in one line (an address
/// written longer or shorter), when re-finding the offset between taps.
const MAX_SHIFT: u32 = 64;
/// Lines looked ahead for an exact counterpart (bounded work).
const LOOKAHEAD: usize = 64;

/// Aligns one direction of one TCP connection seen at both taps (the same
/// initial sequence number) by sequence numbers: a line belongs with the
/// line at the same sequence number at the other tap, shifted by what the
/// path added or removed before it (an ALG that changed a line's length).
/// Lines of equal text are never confused this way, so a line one tap
/// missed is a line at one tap, not a reason to pair the next one with
/// the wrong twin. `None` when a line has no sequence number.
pub fn align_by_seq(dir: Side, cs: &[Seen], ss: &[Seen]) -> Option<Vec<Aligned>> {
    if cs.iter().chain(ss).any(|l| l.seq.is_none()) {
        return None;
    }
    let seq = |l: &Seen| l.seq.unwrap_or(0);
    let (mut i, mut j) = (0, 0);
    // Server-side minus client-side sequence number at this point.
    let mut delta: u32 = 0;
    let mut out = Vec::with_capacity(cs.len().max(ss.len()));
    while i < cs.len() || j < ss.len() {
        let (Some(c), Some(s)) = (cs.get(i), ss.get(j)) else {
            if let Some(c) = cs.get(i) {
                out.push(lone(dir, c, Tap::ClientSide));
                i += 1;
            } else {
                out.push(lone(dir, &ss[j], Tap::ServerSide));
                j += 1;
            }
            continue;
        };
        let target = seq(c).wrapping_add(delta);
        let mut d = seq(s).wrapping_sub(target) as i32;
        if d != 0 && d.unsigned_abs() <= MAX_SHIFT && comparable(&c.text.0, &s.text.0) {
            // The same line (or the same command rewritten: an ALG's
            // EPRT after a PORT it also rewrote) a few bytes off: the
            // path changed a length where one tap missed the line that
            // shows by how much. Take
            // the new offset, unless either line has its exact
            // counterpart further on (then this is a twin, not it).
            let exact_s = ss[j..].iter().take(LOOKAHEAD).any(|x| seq(x) == target);
            let exact_c = cs[i..]
                .iter()
                .take(LOOKAHEAD)
                .any(|x| seq(x).wrapping_add(delta) == seq(s));
            if !exact_s && !exact_c {
                delta = delta.wrapping_add(d as u32);
                d = 0;
            }
        }
        match d.signum() {
            0 => {
                if comparable(&c.text.0, &s.text.0) {
                    out.push(paired(dir, c, s));
                } else {
                    out.push(lone(dir, c, Tap::ClientSide));
                    out.push(lone(dir, s, Tap::ServerSide));
                }
                delta = delta.wrapping_add((s.raw_len as u32).wrapping_sub(c.raw_len as u32));
                i += 1;
                j += 1;
            }
            -1 => {
                out.push(lone(dir, s, Tap::ServerSide));
                j += 1;
            }
            _ => {
                out.push(lone(dir, c, Tap::ClientSide));
                i += 1;
            }
        }
    }
    Some(out)
}

/// Aligns one direction: `cs` are the client-side tap's lines, `ss` the
/// server-side tap's (two TCP connections, or no sequence numbers: by the
/// lines' text, digits masked).
pub fn align_direction(dir: Side, cs: Vec<Seen>, ss: Vec<Seen>) -> Vec<Aligned> {
    let ka: Vec<Vec<u8>> = cs.iter().map(|l| masked(&l.text.0)).collect();
    let kb: Vec<Vec<u8>> = ss.iter().map(|l| masked(&l.text.0)).collect();
    let ops = bounded_diff(&ka, &kb);
    let mut out = Vec::new();
    for op in ops {
        match op {
            DiffOp::Equal {
                old_index,
                new_index,
                len,
            } => {
                for k in 0..len {
                    out.push(paired(dir, &cs[old_index + k], &ss[new_index + k]));
                }
            }
            DiffOp::Delete {
                old_index, old_len, ..
            } => {
                for l in &cs[old_index..old_index + old_len] {
                    out.push(lone(dir, l, Tap::ClientSide));
                }
            }
            DiffOp::Insert {
                new_index, new_len, ..
            } => {
                for l in &ss[new_index..new_index + new_len] {
                    out.push(lone(dir, l, Tap::ServerSide));
                }
            }
            DiffOp::Replace {
                old_index,
                old_len,
                new_index,
                new_len,
            } => {
                let (mut i, mut j) = (old_index, new_index);
                while i < old_index + old_len && j < new_index + new_len {
                    if comparable(&cs[i].text.0, &ss[j].text.0) {
                        out.push(paired(dir, &cs[i], &ss[j]));
                        i += 1;
                        j += 1;
                    } else if cs[i].ts <= ss[j].ts {
                        out.push(lone(dir, &cs[i], Tap::ClientSide));
                        i += 1;
                    } else {
                        out.push(lone(dir, &ss[j], Tap::ServerSide));
                        j += 1;
                    }
                }
                for l in &cs[i..old_index + old_len] {
                    out.push(lone(dir, l, Tap::ClientSide));
                }
                for l in &ss[j..new_index + new_len] {
                    out.push(lone(dir, l, Tap::ServerSide));
                }
            }
        }
    }
    out
}

/// The clock offset between the captures (server-side clock minus
/// client-side clock) and its uncertainty.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema, PartialEq)]
pub struct Clock {
    /// The server-side capture's clock minus the client-side one's, in seconds:
    /// the middle of the interval the lines at both taps allow.
    pub offset_secs: f64,
    /// Half the width of the interval the offset must lie in.
    pub uncertainty_secs: f64,
    /// Line pairs it rests on, per direction.
    pub samples_to_server: usize,
    /// Server→client line pairs it rests on (see `samples_to_server` for the
    /// other direction).
    pub samples_to_client: usize,
}

/// Latency the path between the taps added, per direction.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema, PartialEq)]
pub struct Latency {
    /// Median seconds a line took from one tap to the other in this direction
    /// (clock offset removed).
    pub median_secs: f64,
    /// The longest it took, in seconds.
    pub max_secs: f64,
}

/// A line that took unusually long to cross, next to the median.
pub const DELAY_FACTOR: f64 = 10.0;

/// Estimates the clock offset from matched lines. A client line seen at
/// the client tap at `a` and at the server tap at `b` gives
/// `b − a = latency + offset` with latency ≥ 0; a server line gives
/// `a − b = latency − offset`. So the offset lies in
/// `[−min(a − b), min(b − a)]`: its middle is the estimate, half its width
/// the uncertainty.
pub fn clock(lines: &[Aligned]) -> Option<Clock> {
    let (mut up, mut down) = (Vec::new(), Vec::new());
    for l in lines {
        if let (Some(c), Some(s)) = (&l.client_side, &l.server_side) {
            let d = s.ts.secs_since(c.ts);
            if l.dir == Side::Client {
                up.push(d)
            } else {
                down.push(-d)
            }
        }
    }
    let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    let (hi, lo) = match (up.is_empty(), down.is_empty()) {
        (true, true) => return None,
        // One direction only: the latency in it is assumed to be zero.
        (false, true) => (min(&up), min(&up)),
        (true, false) => (-min(&down), -min(&down)),
        (false, false) => (min(&up), -min(&down)),
    };
    let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
    Some(Clock {
        offset_secs: (lo + hi) / 2.0,
        uncertainty_secs: (hi - lo) / 2.0,
        samples_to_server: up.len(),
        samples_to_client: down.len(),
    })
}

/// Per-direction latency once the clocks are aligned: for a client line
/// `(server-tap time − client-tap time) − offset`, for a server line
/// `(client-tap time − server-tap time) + offset`.
pub fn latency(lines: &[Aligned], clock: &Clock, dir: Side) -> Option<Latency> {
    let mut v: Vec<f64> = lines
        .iter()
        .filter(|l| l.dir == dir)
        .filter_map(|l| Some((l.client_side.as_ref()?, l.server_side.as_ref()?)))
        .map(|(c, s)| {
            if dir == Side::Client {
                s.ts.secs_since(c.ts) - clock.offset_secs
            } else {
                c.ts.secs_since(s.ts) + clock.offset_secs
            }
        })
        .collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(Latency {
        median_secs: v[v.len() / 2],
        max_secs: v[v.len() - 1],
    })
}

/// Where the TCP sequence offset between the taps changed.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct SeqStep {
    /// The direction whose sequence offset stepped: `C` client→server, `S`
    /// server→client.
    #[serde(serialize_with = "crate::reassembly::connection::serialize_letter")]
    #[schemars(schema_with = "crate::reassembly::connection::letter_schema")]
    pub dir: Side,
    /// Offset (server-side seq − client-side seq) before and after.
    pub before: i64,
    /// Offset (server-side seq − client-side seq) after the step.
    pub after: i64,
    /// Index (in the aligned lines) of the last line before the step.
    pub after_line: usize,
    /// The length change of the lines between explains the step.
    pub explained_by_length_change: bool,
    /// Only lines seen at one tap (dropped or injected) lie between: the
    /// step follows from them, no rewrite is involved.
    pub from_one_tap_lines: bool,
    /// Bytes a tap did not capture lie between the two lines (a gap in
    /// its stream): what they held, and how the path changed them, is
    /// unknown, so the step cannot be judged.
    #[serde(skip)]
    pub across_gap: bool,
}

/// The sequence offsets between the taps, per direction, with their steps.
pub fn seq_steps(lines: &[Aligned]) -> (Vec<(Side, i64)>, Vec<SeqStep>) {
    let mut start = Vec::new();
    let mut steps = Vec::new();
    for dir in [Side::Client, Side::Server] {
        let mut prev: Option<(usize, i64)> = None;
        let mut length_change: i64 = 0;
        let mut one_tap: i64 = 0;
        // Where each tap's stream was read up to, and whether a gap lies
        // between there and the next line it saw.
        let mut end: [Option<u64>; 2] = [None, None];
        let mut gap = false;
        for (i, l) in lines.iter().enumerate().filter(|(_, l)| l.dir == dir) {
            for (tap, seen) in [&l.client_side, &l.server_side].into_iter().enumerate() {
                if let Some(x) = seen {
                    gap |= end[tap].is_some_and(|e| x.offset > e);
                    end[tap] = Some(x.offset + x.raw_len);
                }
            }
            let (Some(c), Some(s)) = (&l.client_side, &l.server_side) else {
                // A line at one tap only shifts the far side by its length.
                let n = l
                    .client_side
                    .as_ref()
                    .or(l.server_side.as_ref())
                    .map_or(0, |x| x.raw_len as i64);
                let d = if l.client_side.is_some() { -n } else { n };
                length_change += d;
                one_tap += d;
                continue;
            };
            let (Some(a), Some(b)) = (c.seq, s.seq) else {
                continue;
            };
            let delta = b.wrapping_sub(a) as i32 as i64;
            match prev {
                None => start.push((dir, delta)),
                Some((pi, pd)) if pd != delta => steps.push(SeqStep {
                    dir,
                    before: pd,
                    after: delta,
                    after_line: pi,
                    explained_by_length_change: delta - pd == length_change,
                    from_one_tap_lines: one_tap != 0 && delta - pd == one_tap,
                    across_gap: gap,
                }),
                _ => {}
            }
            length_change = s.raw_len as i64 - c.raw_len as i64;
            one_tap = 0;
            gap = false;
            prev = Some((i, delta));
        }
    }
    (start, steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str, ts: i64, offset: u64, isn: u32) -> Seen {
        Seen {
            frames: vec![ts as u64],
            ts: Timestamp(ts),
            text: Bytes(text.as_bytes().to_vec()),
            terminator: Terminator::CrLf,
            offset,
            seq: Some(isn.wrapping_add(offset as u32)),
            raw_len: text.len() as u64 + 2,
            segments: 1,
            item: 0,
            sub: 0,
        }
    }

    #[test]
    fn nat_rewrite_aligns_as_modified_and_steps_the_offset() {
        let c = vec![
            s("USER a", 10, 0, 100),
            s("PORT 198,51,100,60,156,64", 20, 8, 100),
            s("RETR f", 30, 35, 100),
        ];
        let v = vec![
            s("USER a", 11, 0, 100),
            s("PORT 203,0,113,1,156,64", 21, 8, 100),
            s("RETR f", 31, 33, 100),
        ];
        let a = align_direction(Side::Client, c, v);
        let st: Vec<Status> = a.iter().map(|x| x.status).collect();
        assert_eq!(
            st,
            vec![Status::Identical, Status::Modified, Status::Identical]
        );
        assert_eq!(a[1].diff.as_ref().unwrap().length_delta, -2);
        let (start, steps) = seq_steps(&a);
        assert_eq!(start, vec![(Side::Client, 0)]);
        assert_eq!(steps.len(), 1);
        assert_eq!(
            (steps[0].before, steps[0].after, steps[0].after_line),
            (0, -2, 1)
        );
        assert!(steps[0].explained_by_length_change);
    }

    #[test]
    fn a_step_across_bytes_neither_tap_saw_is_not_judged() {
        // The rewritten PORT (27 bytes in, 25 out) was lost at both taps.
        let c = vec![s("USER a", 10, 0, 100), s("RETR f", 30, 35, 100)];
        let v = vec![s("USER a", 11, 0, 100), s("RETR f", 31, 33, 100)];
        let a = align_direction(Side::Client, c, v);
        let (_, steps) = seq_steps(&a);
        assert_eq!(steps.len(), 1);
        assert!(!steps[0].explained_by_length_change && steps[0].across_gap);
        // Without the gap the same step (the sequence numbers jump by -2
        // between two contiguous lines) is unexplained.
        let c = vec![s("USER a", 10, 0, 100), s("RETR f", 30, 8, 100)];
        let v = vec![s("USER a", 11, 0, 100), s("RETR f", 31, 8, 98)];
        let (_, steps) = seq_steps(&align_direction(Side::Client, c, v));
        assert!(!steps[0].across_gap);
    }

    #[test]
    fn dropped_and_injected_by_direction() {
        let a = align_direction(Side::Client, vec![s("PORT 1,2,3,4,5,6", 1, 0, 0)], vec![]);
        assert_eq!(a[0].status, Status::Dropped);
        let a = align_direction(Side::Server, vec![s("500 Access Denied", 1, 0, 0)], vec![]);
        assert_eq!(a[0].status, Status::Injected);
        let a = align_direction(
            Side::Client,
            vec![s("PASV", 1, 0, 0)],
            vec![s("P@SW", 2, 0, 0)],
        );
        assert_eq!(a[0].status, Status::Modified);
    }

    #[test]
    fn clock_offset_from_both_directions() {
        let mk = |dir: Side, c: i64, sv: i64| Aligned {
            dir,
            status: Status::Identical,
            client_side: Some(s("x", c, 0, 0)),
            server_side: Some(s("x", sv, 0, 0)),
            diff: None,
            segment_notes: vec![],
        };
        // Server clock 3.25 s ahead, 1 ms latency each way.
        let off = 3_250_000_000i64;
        let lines = vec![
            mk(Side::Client, 0, off + 1_000_000),
            mk(Side::Server, 2_000_000_000 + 1_000_000, 2_000_000_000 + off),
        ];
        let k = clock(&lines).unwrap();
        assert!((k.offset_secs - 3.25).abs() < 1e-9, "{k:?}");
        assert!((k.uncertainty_secs - 0.001).abs() < 1e-9);
        let l = latency(&lines, &k, Side::Client).unwrap();
        assert!((l.median_secs - 0.001).abs() < 1e-9, "{l:?}");
        let l = latency(&lines, &k, Side::Server).unwrap();
        assert!((l.median_secs - 0.001).abs() < 1e-9, "{l:?}");
    }

    #[test]
    fn bounded_diff_covers_both_sides_in_order_whatever_their_length() {
        let mk =
            |v: &[u32]| -> Vec<Vec<u8>> { v.iter().map(|x| x.to_string().into_bytes()).collect() };
        // Long sequences with drops on either side, longer than a window.
        let a: Vec<u32> = (0..3000).filter(|x| x % 7 != 3).collect();
        let b: Vec<u32> = (0..3000).filter(|x| x % 11 != 5).collect();
        let (ka, kb) = (mk(&a), mk(&b));
        let ops = bounded_diff(&ka, &kb);
        let (mut i, mut j, mut equal) = (0, 0, 0);
        for op in &ops {
            let (_, o, n) = op.as_tag_tuple();
            assert_eq!((o.start, n.start), (i, j), "contiguous");
            if let DiffOp::Equal { len, .. } = op {
                equal += len;
                assert_eq!(ka[o.clone()], kb[n.clone()]);
            }
            (i, j) = (o.end, n.end);
        }
        assert_eq!((i, j), (ka.len(), kb.len()));
        // Every line present at both taps is paired.
        let both = (0..3000).filter(|x| x % 7 != 3 && x % 11 != 5).count();
        assert_eq!(equal, both);
        assert_eq!(ops, bounded_diff(&ka, &kb), "deterministic");
    }
}
