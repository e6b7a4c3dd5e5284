//! The reply-echo parser: any reply line, with any verb, never panics, and
//! an echo found is the bytes of the reply at the offset it names.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portmortem::ftp::echo::find_echo;

fuzz_target!(|data: &[u8]| {
    for verb in [None, Some("PORT"), Some("PASS"), Some("RETR"), Some("CWD")] {
        if let Some(e) = find_echo(data, verb) {
            let q = &e.quoted.0;
            assert!(e.at + q.len() <= data.len());
            assert_eq!(&data[e.at..e.at + q.len()], &q[..]);
        }
    }
});
