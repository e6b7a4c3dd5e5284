//! Helpers shared by the integration tests: run the real binary and read
//! its JSON report.
#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_portmortem"))
}

pub fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name)
}

/// The names of every capture in testdata/, sorted.
pub fn testdata_captures() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(testdata(""))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".pcap") || n.ends_with(".pcapng") || n.ends_with(".snoop"))
        .collect();
    names.sort();
    names
}

pub fn public_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/captures/public")
}

/// A command's JSON document, where it exits 0 or 1 (findings or none).
pub fn json(args: &[&str]) -> Value {
    let out = bin().args(args).output().unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

pub fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("run portmortem")
}

/// `analyze -f json` on testdata files; returns (exit code, document).
pub fn analyze(names: &[&str], extra: &[&str]) -> (i32, Value) {
    let mut cmd = bin();
    cmd.arg("analyze").arg("-f").arg("json").args(extra);
    for n in names {
        cmd.arg(testdata(n));
    }
    let out = cmd.output().expect("run portmortem");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), doc)
}

pub fn findings<'a>(doc: &'a Value, rule: &str) -> Vec<&'a Value> {
    doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == rule)
        .collect()
}

pub fn rules(doc: &Value) -> Vec<String> {
    let mut v: Vec<String> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

/// The rules of a finding's related facts (other readings of its event).
pub fn related(f: &Value) -> Vec<String> {
    f["related"]
        .as_array()
        .map(|v| {
            v.iter()
                .map(|r| r["rule"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// The related fact of rule `rule` of finding `f`.
pub fn related_of<'a>(f: &'a Value, rule: &str) -> &'a Value {
    f["related"]
        .as_array()
        .and_then(|v| v.iter().find(|r| r["rule"] == rule))
        .unwrap_or_else(|| panic!("no related {rule} in {f:#}"))
}

pub fn the(doc: &Value, rule: &str) -> Value {
    let f = findings(doc, rule);
    assert_eq!(
        f.len(),
        1,
        "expected one {rule} finding, got {}: {:#}",
        f.len(),
        doc["findings"]
    );
    f[0].clone()
}

pub fn frames(f: &Value) -> Vec<u64> {
    f["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect()
}

pub fn message(f: &Value) -> String {
    f["message"].as_str().unwrap().to_string()
}

pub fn assert_contains(hay: &str, needles: &[&str]) {
    for n in needles {
        assert!(hay.contains(n), "missing `{n}` in:\n{hay}");
    }
}

/// The first dialogue entry of session `sid` whose text starts with `prefix`.
pub fn entry<'a>(doc: &'a Value, sid: &str, prefix: &str) -> &'a Value {
    let s = session(doc, sid);
    s["dialogue"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["text"].as_str().unwrap().starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting `{prefix}` in {sid}"))
}

pub fn entry_frames(doc: &Value, sid: &str, prefix: &str) -> Vec<u64> {
    frames(entry(doc, sid, prefix))
}

pub fn session<'a>(doc: &'a Value, sid: &str) -> &'a Value {
    doc["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == sid)
        .unwrap_or_else(|| panic!("no session {sid}"))
}

pub fn verdicts(doc: &Value, sid: &str) -> Vec<String> {
    session(doc, sid)["data_setups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["verdict"].as_str().unwrap().to_string())
        .collect()
}

/// A little-endian µs pcap file header (Ethernet, snaplen 65535).
pub fn pcap_header() -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
    v.extend_from_slice(&[2, 0, 4, 0]);
    v.extend_from_slice(&[0; 8]);
    v.extend_from_slice(&65535u32.to_le_bytes());
    v.extend_from_slice(&1u32.to_le_bytes());
    v
}

/// Appends one pcap record at second `t`.
pub fn record(v: &mut Vec<u8>, t: u32, data: &[u8]) {
    v.extend_from_slice(&t.to_le_bytes());
    v.extend_from_slice(&0u32.to_le_bytes());
    v.extend_from_slice(&(data.len() as u32).to_le_bytes());
    v.extend_from_slice(&(data.len() as u32).to_le_bytes());
    v.extend_from_slice(data);
}

/// `copies` copies of the clean lab session's control connection, each
/// from its own client port and a second apart.
pub fn many_sessions(dir: &Path, copies: u16) -> PathBuf {
    let path = dir.join("many.pcap");
    std::fs::write(&path, replicated("lab-mangle-clean-client.pcap", copies)).unwrap();
    path
}

/// `copies` copies of a testdata capture's FTP control connection (its
/// port-21 frames), each from client port 20000 + i and i seconds later:
/// copies of one capture of each tap stay pairs of one another.
pub fn replicated(name: &str, copies: u16) -> Vec<u8> {
    let one = std::fs::read(testdata(name)).unwrap();
    let mut control = Vec::new();
    let mut at = 24;
    while at + 16 <= one.len() {
        let caplen = u32::from_le_bytes(one[at + 8..at + 12].try_into().unwrap()) as usize;
        let frame = &one[at + 16..at + 16 + caplen];
        let t = u32::from_le_bytes(one[at..at + 4].try_into().unwrap());
        let usec = u32::from_le_bytes(one[at + 4..at + 8].try_into().unwrap());
        at += 16 + caplen;
        let tcp = 14 + usize::from(frame[14] & 0xf) * 4;
        let port = |o: usize| u16::from_be_bytes([frame[tcp + o], frame[tcp + o + 1]]);
        if frame[23] == 6 && (port(0) == 21 || port(2) == 21) {
            control.push((t, usec, frame.to_vec(), usize::from(port(0) != 21) * 2));
        }
    }
    let mut pcap = pcap_header();
    for i in 0..copies {
        for (t, usec, frame, client) in &control {
            let mut f = frame.clone();
            let tcp = 14 + usize::from(f[14] & 0xf) * 4;
            f[tcp + client..tcp + client + 2].copy_from_slice(&(20000 + i).to_be_bytes());
            let at = pcap.len();
            record(&mut pcap, t + u32::from(i), &f);
            pcap[at + 4..at + 8].copy_from_slice(&usec.to_le_bytes());
        }
    }
    pcap
}

/// A fresh empty directory under the system temp dir.
pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("portmortem-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A little-endian pcap without the given frames (1-based): what a busy
/// tap writes when the kernel drops packets.
pub fn without_frames(pcap: &[u8], drop: &dyn Fn(u64) -> bool) -> Vec<u8> {
    assert_eq!(
        &pcap[..4],
        &[0xd4, 0xc3, 0xb2, 0xa1],
        "a little-endian pcap"
    );
    let mut out = pcap[..24].to_vec();
    let (mut at, mut n) = (24, 0u64);
    while at + 16 <= pcap.len() {
        let caplen = u32::from_le_bytes(pcap[at + 8..at + 12].try_into().unwrap()) as usize;
        let end = at + 16 + caplen;
        n += 1;
        if !drop(n) {
            out.extend_from_slice(&pcap[at..end]);
        }
        at = end;
    }
    out
}

/// The TCP ports (source, destination) of frame `n` of a hand-made
/// capture (Ethernet, IPv4 without options).
pub fn ports_of(pcap: &[u8], n: u64) -> (u16, u16) {
    let (mut at, mut k) = (24, 0u64);
    while at + 16 <= pcap.len() {
        let caplen = u32::from_le_bytes(pcap[at + 8..at + 12].try_into().unwrap()) as usize;
        k += 1;
        if k == n {
            let tcp = &pcap[at + 16 + 34..];
            return (
                u16::from_be_bytes([tcp[0], tcp[1]]),
                u16::from_be_bytes([tcp[2], tcp[3]]),
            );
        }
        at += 16 + caplen;
    }
    (0, 0)
}

/// A little-endian pcap with every frame's time moved by `secs`: a tap
/// whose clock is off.
pub fn shifted(pcap: &[u8], secs: i64) -> Vec<u8> {
    let mut out = pcap.to_vec();
    let mut at = 24;
    while at + 16 <= out.len() {
        let t = i64::from(u32::from_le_bytes(out[at..at + 4].try_into().unwrap()));
        out[at..at + 4].copy_from_slice(&((t + secs) as u32).to_le_bytes());
        at += 16 + u32::from_le_bytes(out[at + 8..at + 12].try_into().unwrap()) as usize;
    }
    out
}

pub fn analyze_bytes(name: &str, bytes: Vec<u8>) -> portmortem::analysis::CaptureResult {
    use portmortem::capture::CaptureReader;
    use portmortem::capture::input::{HashMode, open_reader};
    let o = open_reader(
        name.into(),
        Box::new(std::io::Cursor::new(bytes)),
        HashMode::Off,
    )
    .unwrap();
    let r = CaptureReader::from_opened(o).unwrap();
    portmortem::analysis::analyze_reader(r, &portmortem::analysis::Options::default(), &mut |_| {})
}

/// Every capture of the public corpus, sorted (the `.tsv` and `.md`
/// files beside them excluded).
pub fn corpus_files() -> Vec<PathBuf> {
    let dir = public_dir();
    assert!(
        dir.is_dir(),
        "the public corpus is expected at {} (see DEVELOPERS.md)",
        dir.display()
    );
    let mut out = Vec::new();
    let mut stack = vec![dir];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if !matches!(p.extension().and_then(|e| e.to_str()), Some("tsv" | "md")) {
                out.push(p);
            }
        }
    }
    out.sort();
    assert!(
        out.len() >= 70,
        "corpus looks incomplete: {} files",
        out.len()
    );
    out
}

/// Whether the public corpus is there; when it is not (a fresh clone
/// without `../shared`), says that `test` is skipped and why, on the
/// process's own standard error: the test harness captures `eprintln!`
/// of a passing test, and a skip must not look like a pass.
pub fn have_public_corpus(test: &str) -> bool {
    let dir = public_dir();
    let there = dir.is_dir();
    if !there {
        skipped(
            test,
            &format!(
                "no ../shared/captures/public: the public corpus {} is absent",
                dir.display()
            ),
        );
    }
    there
}

/// Says on the process's own standard error that `test` is skipped and
/// why (see [`have_public_corpus`]).
pub fn skipped(test: &str, why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "skipped: {test} ({why})");
}

/// The lines a child writes on standard output, as they come (the child's
/// stdout must be piped).
pub fn stdout_lines(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let stdout = child.stdout.take().expect("stdout piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(stdout).lines() {
            let Ok(l) = l else { break };
            let _ = tx.send(l);
        }
    });
    rx
}

/// Sends a signal (`INT`, `TERM`, `HUP`…) to a child process.
pub fn signal(child: &std::process::Child, sig: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success(), "kill -{sig}");
}

/// Every testdata pair name (`lab-x`, `pair-y`): files `NAME-client.pcap`
/// and `NAME-server.pcap`.
pub fn pair_names() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(testdata(""))
        .unwrap()
        .filter_map(|e| {
            let n = e.unwrap().file_name().to_string_lossy().into_owned();
            n.strip_suffix("-client.pcap").map(str::to_string)
        })
        .filter(|n| testdata(&format!("{n}-server.pcap")).exists())
        .collect();
    v.sort();
    v
}

/// Starts `portmortem reflect` in this process on `addr` (port 0: any);
/// it serves until the test process ends.
pub fn reflector_at(addr: &str) -> std::net::SocketAddr {
    let r = portmortem::probe::reflect::Reflector::bind(addr.parse().unwrap()).unwrap();
    let a = r.local_addr().unwrap();
    std::thread::spawn(move || {
        let stop = std::sync::atomic::AtomicBool::new(false);
        r.serve(&stop, &|_| {}).unwrap();
    });
    a
}
