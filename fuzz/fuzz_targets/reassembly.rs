//! TCP reassembly over random segments, retransmissions, ACKs and flushes
//! of one known stream: every byte is delivered at most once, in order,
//! as the bytes that were sent; what is not delivered is declared a gap;
//! and after the flush the whole range up to the highest byte sent is
//! covered exactly once by data and gaps.
#![no_main]
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use portmortem::reassembly::{Chunk, Limits, Origin, Reassembler, StreamSink};
use portmortem::timestamp::Timestamp;

#[derive(Arbitrary, Debug)]
enum Op {
    /// Send bytes [start, start+len) of the stream.
    Segment { start: u16, len: u8, fin: bool },
    /// The peer acknowledges up to this stream offset (with a SACK block
    /// of the two offsets after it, when given).
    Ack(u16, Option<(u16, u16)>),
    /// Time passes (holes may become gaps).
    Wait(u8),
}

#[derive(Arbitrary, Debug)]
struct Input {
    isn: u32,
    stream: Vec<u8>,
    ops: Vec<Op>,
    small_buffers: bool,
}

/// Checks every delivery against the stream.
struct Checker<'a> {
    stream: &'a [u8],
    /// The next offset a delivery must start at (None before the first).
    next: Option<u64>,
}

impl StreamSink for Checker<'_> {
    fn data(&mut self, c: &Chunk<'_>) {
        if let Some(n) = self.next {
            assert_eq!(c.offset, n, "data not contiguous with what came before");
        }
        let s = c.offset as usize;
        assert!(s + c.data.len() <= self.stream.len(), "bytes never sent");
        assert_eq!(c.data, &self.stream[s..s + c.data.len()], "bytes changed");
        self.next = Some(c.offset + c.data.len() as u64);
    }
    fn gap(&mut self, offset: u64, len: u64, _: Origin) {
        if let Some(n) = self.next {
            assert_eq!(offset, n, "gap not contiguous");
        }
        assert!(len > 0);
        self.next = Some(offset + len);
    }
}

fuzz_target!(|inp: Input| {
    if inp.stream.is_empty() {
        return;
    }
    let mut limits = Limits::default();
    if inp.small_buffers {
        limits.max_buffered = 64;
        limits.history = 32;
        limits.max_seg_records = 4;
        limits.max_evidence = 2;
    }
    let mut r = Reassembler::new(limits);
    r.syn(inp.isn.wrapping_sub(1));
    let mut sink = Checker {
        stream: &inp.stream,
        next: Some(0),
    };
    let mut t = 0i64;
    let mut frame = 0u64;
    let mut highest = 0u64;
    for op in inp.ops {
        frame += 1;
        t += 1_000_000;
        let origin = Origin {
            frame,
            ts: Timestamp(t),
            ..Default::default()
        };
        match op {
            Op::Segment { start, len, fin } => {
                let s = (start as usize) % inp.stream.len();
                let e = (s + len as usize).min(inp.stream.len());
                let seq = inp.isn.wrapping_add(s as u32);
                r.segment(
                    seq,
                    &inp.stream[s..e],
                    0,
                    fin && e == inp.stream.len(),
                    origin,
                    &mut sink,
                );
                if e > s {
                    highest = highest.max(e as u64);
                }
            }
            Op::Ack(a, sack) => {
                let a = u64::from(a).min(inp.stream.len() as u64);
                let at = |o: u16| inp.isn.wrapping_add(u32::from(o));
                let sack = sack.map(|(l, r)| (at(l), at(r)));
                r.peer_ack(inp.isn.wrapping_add(a as u32), sack, origin, &mut sink);
            }
            Op::Wait(s) => t += i64::from(s) * 100_000_000,
        }
        assert!(r.delivered() <= inp.stream.len() as u64);
    }
    frame += 1;
    r.flush(
        Origin {
            frame,
            ts: Timestamp(t),
            ..Default::default()
        },
        &mut sink,
    );
    assert!(
        sink.next.unwrap_or(0) >= highest,
        "bytes sent but never delivered nor declared lost"
    );
});
