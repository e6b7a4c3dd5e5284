//! The line decoder fed a stream in chunks, with gaps and TLS pauses in
//! between: never a panic, and the lines it gives start in stream order
//! inside the bytes it was given.
#![no_main]
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use portmortem::ftp::line::{Decoder, Item, Resume, pause_after_auth};
use portmortem::ftp::message::starts_with_known_verb;
use portmortem::reassembly::{Chunk, Origin};
use portmortem::timestamp::Timestamp;

#[derive(Arbitrary, Debug)]
enum Op {
    Data(Vec<u8>),
    Gap(u16),
    ResumeText,
    ResumeTls,
}

fuzz_target!(|ops: Vec<Op>| {
    let mut d = Decoder::new(pause_after_auth, starts_with_known_verb);
    let mut offset = 0u64;
    let mut frame = 0u64;
    let mut last_start = 0u64;
    let mut check = |items: Vec<Item>, end: u64| {
        for it in items {
            if let Item::Line(l) = it {
                assert!(l.offset >= last_start, "lines out of order");
                assert!(l.offset <= end, "a line after the bytes given");
                last_start = l.offset;
            }
        }
    };
    for op in ops {
        frame += 1;
        let origin = Origin {
            frame,
            ts: Timestamp(frame as i64),
            ..Default::default()
        };
        match op {
            Op::Data(bytes) => {
                let c = Chunk {
                    offset,
                    data: &bytes,
                    origin,
                    seg_offset: 0,
                    seg_len: bytes.len() as u32,
                };
                d.data(&c);
                offset += bytes.len() as u64;
            }
            Op::Gap(n) => {
                d.gap(offset, u64::from(n), origin);
                offset += u64::from(n);
            }
            Op::ResumeText => d.resume(Resume::Text),
            Op::ResumeTls => d.resume(Resume::Tls),
        }
        check(d.drain(), offset);
    }
    d.finish();
    check(d.drain(), offset);
});
