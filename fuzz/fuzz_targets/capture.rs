//! Capture reading: any bytes (pcap, pcapng, snoop, gzip or zstd of any,
//! or junk) give frames numbered upward from 1 and an error with an
//! offset, never a panic; every frame is handed on or counted as set
//! aside (a duplicate, a `fw monitor` copy inside the device); the byte
//! count and the hash describe at most the input.
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
    let (mut n, mut last) = (0u64, 0u64);
    let _ = r.for_each(&mut |f| {
        n += 1;
        assert!(f.number > last);
        last = f.number;
        let missing = f.orig_len.saturating_sub(f.data.len() as u32);
        let _ = portmortem::decode::decode(f.linktype, f.data, missing);
    });
    let info = r.info();
    assert_eq!(info.frame_count, n + info.duplicates + info.inside_device);
    assert!(last <= info.frame_count);
    assert!(info.file_bytes <= data.len() as u64);
    assert!(info.sha256.is_some());
});
