//! Capture reading: any bytes (pcap, pcapng, gzip or zstd of either, or
//! junk) give frames numbered from 1 and an error with an offset, never a
//! panic; the byte count and the hash describe at most the input.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portmortem::capture::CaptureReader;
use portmortem::capture::input::{HashMode, open_reader};

fuzz_target!(|data: &[u8]| {
    let src = Box::new(std::io::Cursor::new(data.to_vec()));
    let Ok(opened) = open_reader("fuzz".into(), src, HashMode::Inline) else {
        return;
    };
    let Ok(mut r) = CaptureReader::from_opened(opened) else {
        return;
    };
    let mut n = 0u64;
    let _ = r.for_each(&mut |f| {
        n += 1;
        assert_eq!(f.number, n);
        let missing = f.orig_len.saturating_sub(f.data.len() as u32);
        let _ = portmortem::decode::decode(f.linktype, f.data, missing);
    });
    let info = r.info();
    assert_eq!(info.frame_count, n);
    assert!(info.file_bytes <= data.len() as u64);
    assert!(info.sha256.is_some());
});
