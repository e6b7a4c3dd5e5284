//! The command line as a reader meets it, run by trycmd: every
//! ```console block of README.md and docs/*.md (so a sample can never go
//! stale), and tests/cmd/*.md, each subcommand's normal use and its
//! usage errors (message and exit code).
//!
//! A block runs in a scratch directory that holds `testdata` (a link to
//! the repository's), so `portmortem analyze testdata/…` reads as the
//! README says and `-o x.ndjson` writes nowhere that matters. Text
//! reports are laid out at 100 columns (`COLUMNS`), whatever the
//! terminal the tests run in. A block that needs Python's DuckDB runs
//! where it is installed (CI installs it) and is skipped elsewhere.
//!
//! `TRYCMD=overwrite cargo test --test cli` rewrites the samples from
//! what the binary prints; read the diff before committing it.

use std::path::Path;

#[test]
fn console_blocks_and_cases() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let scratch = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(root.join("testdata"), scratch.path().join("testdata")).unwrap();
    // Markdown cases run in the process's working directory: this test is
    // alone in its binary, so nothing else depends on it.
    std::env::set_current_dir(scratch.path()).unwrap();
    let t = trycmd::TestCases::new();
    t.env("COLUMNS", "100").env("NO_COLOR", "1");
    let python = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("python3"))
            .find(|f| f.is_file())
    });
    let duckdb = python.as_ref().is_some_and(|py| {
        std::process::Command::new(py)
            .args(["-c", "import duckdb"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if let (true, Some(py)) = (duckdb, python) {
        t.register_bin("python3", trycmd::schema::Bin::Path(py));
    } else {
        eprintln!("skipped: the README's DuckDB block (python3 cannot import duckdb)");
        t.register_bin("python3", trycmd::schema::Bin::Ignore);
    }
    t.case(root.join("README.md"))
        .case(root.join("docs/*.md"))
        .case(root.join("tests/cmd/*.md"));
}
