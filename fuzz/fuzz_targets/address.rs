//! The address parsers (PORT, EPRT, LPRT, 227, 228, 229): any line parses
//! to a result whose fields lie inside the line, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portmortem::ftp::address::{self, AddrArg};

fn check(line: &[u8], a: &AddrArg) {
    for f in &a.fields {
        assert!(
            f.offset + f.text.0.len() <= line.len(),
            "field outside the line"
        );
    }
    for off in 0..line.len() {
        let _ = a.field_at(off);
    }
    let _ = a.is_corrupt();
}

fuzz_target!(|data: &[u8]| {
    for verb in ["PORT", "EPRT", "LPRT"] {
        if let Some(a) = address::parse_command(verb, data) {
            check(data, &a);
        }
    }
    for code in [227, 228, 229] {
        if let Some(a) = address::parse_reply(code, data) {
            check(data, &a);
        }
    }
    for a in [
        address::parse_port(data),
        address::parse_eprt(data),
        address::parse_lprt(data),
        address::parse_227(data),
        address::parse_228(data),
        address::parse_229(data),
    ] {
        check(data, &a);
    }
});
