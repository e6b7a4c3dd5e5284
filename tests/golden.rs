//! Outputs before and after: the SHA-256 of every report the binary writes
//! for testdata (analyze as text, JSON and NDJSON; compare of every
//! client/server pair as JSON) and for the public corpus (analyze JSON),
//! held in `tests/golden/outputs.tsv`. A change meant to make the tool
//! faster must leave every one of them as it was; a change meant to alter
//! a report re-blesses them (`PORTMORTEM_BLESS=1 cargo test --test golden`)
//! and the diff of that file shows which outputs moved.
//!
//! Each command runs in the capture's own directory with a relative path,
//! so the digests do not depend on where the repository lies.

mod common;
use common::*;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const GOLDEN: &str = "tests/golden/outputs.tsv";

/// One report: the directory it runs in and its arguments.
struct Case {
    dir: PathBuf,
    args: Vec<String>,
    /// Whether the input is in the public corpus (absent on a fresh clone).
    public: bool,
}

impl Case {
    /// The row's name: where the capture lies, then the command.
    fn key(&self) -> String {
        let home = if self.public { "public" } else { "testdata" };
        format!("{home}: {}", self.args.join(" "))
    }

    /// The digest and size of the command's standard output, and its exit
    /// code (a change of exit code is a change of verdict).
    fn digest(&self) -> String {
        let out = bin()
            .args(&self.args)
            .current_dir(&self.dir)
            .env("COLUMNS", "120")
            .env_remove("NO_COLOR")
            .output()
            .expect("run portmortem");
        format!(
            "{}\t{}\t{}",
            Sha256::digest(&out.stdout)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>(),
            out.stdout.len(),
            out.status.code().unwrap_or(-1)
        )
    }
}

fn cases(public: bool) -> Vec<Case> {
    let td = testdata("");
    let names = testdata_captures();
    let mut cases = Vec::new();
    let case = |dir: &Path, args: &[&str], public: bool| Case {
        dir: dir.to_path_buf(),
        args: args.iter().map(|a| a.to_string()).collect(),
        public,
    };
    for n in &names {
        for fmt in ["text", "json", "ndjson"] {
            cases.push(case(&td, &["analyze", "-f", fmt, n], false));
        }
        if let Some(stem) = n.strip_suffix("-client.pcap") {
            let server = format!("{stem}-server.pcap");
            if names.contains(&server) {
                cases.push(case(&td, &["compare", "-f", "json", n, &server], false));
            }
        }
    }
    if public {
        let dir = public_dir();
        for p in corpus_files() {
            let rel = p.strip_prefix(&dir).unwrap().to_string_lossy().into_owned();
            cases.push(case(&dir, &["analyze", "-f", "json", &rel], true));
        }
    }
    cases
}

/// Runs every case on all cores; returns key → digest.
fn digests(cases: &[Case]) -> BTreeMap<String, String> {
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let found = std::sync::Mutex::new(BTreeMap::new());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(c) = cases.get(i) else { break };
                    let d = c.digest();
                    found.lock().unwrap().insert(c.key(), d);
                }
            });
        }
    });
    found.into_inner().unwrap()
}

fn read_golden(path: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split_once('\t'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn every_output_is_as_blessed() {
    let public = have_public_corpus("the public-corpus half of every_output_is_as_blessed");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(GOLDEN);
    let cases = cases(public);
    let now = digests(&cases);
    let golden = read_golden(&path);
    if std::env::var_os("PORTMORTEM_BLESS").is_some() {
        assert!(
            public,
            "blessing needs the public corpus, or its rows would be lost"
        );
        let mut text = String::from(
            "# command (run in the capture's directory)\tsha256 of stdout\tbytes\texit code\n\
             # written by PORTMORTEM_BLESS=1 cargo test --test golden\n",
        );
        for (k, v) in &now {
            text.push_str(&format!("{k}\t{v}\n"));
        }
        std::fs::write(&path, text).unwrap();
        return;
    }
    let mut moved = Vec::new();
    for c in &cases {
        let key = c.key();
        match golden.get(&key) {
            Some(want) if *want == now[&key] => {}
            Some(want) => moved.push(format!("{key}: was {want}, now {}", now[&key])),
            None => moved.push(format!("{key}: not in {GOLDEN}")),
        }
    }
    // A row whose capture is gone is stale: the file must list exactly
    // what is run (public rows only count when the corpus is here).
    for k in golden.keys() {
        if !now.contains_key(k) && (public || !k.starts_with("public:")) {
            moved.push(format!("{k}: in {GOLDEN} but no longer run"));
        }
    }
    assert!(
        moved.is_empty(),
        "{} of {} outputs differ from {GOLDEN} (if the change is meant, \
         PORTMORTEM_BLESS=1 cargo test --test golden and commit the file):\n{}",
        moved.len(),
        cases.len(),
        moved.join("\n")
    );
    let publics = cases.iter().filter(|c| c.public).count();
    eprintln!(
        "{} outputs as blessed ({} of testdata, {publics} of the public corpus)",
        cases.len(),
        cases.len() - publics
    );
}
