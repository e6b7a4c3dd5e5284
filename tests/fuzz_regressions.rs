//! Inputs the fuzzers (fuzz/) once crashed portmortem with, replayed for
//! ever: every file under fuzz/regressions/TARGET/ through the whole
//! pipeline in every format, which must end without a panic.

mod common;
use common::*;

#[test]
fn every_input_that_once_crashed_runs_clean() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    let mut n = 0;
    for target in std::fs::read_dir(&dir).unwrap() {
        for f in std::fs::read_dir(target.unwrap().path()).unwrap() {
            let p = f.unwrap().path();
            for format in [
                "text", "json", "markdown", "html", "csv", "ndjson", "ftplog",
            ] {
                let out = run(&["analyze", "--no-hash", "-f", format, p.to_str().unwrap()]);
                let code = out.status.code();
                assert!(
                    matches!(code, Some(0..=2)),
                    "{} ({format}) ended with {code:?}: {}",
                    p.display(),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            n += 1;
        }
    }
    assert!(n > 0);
}
