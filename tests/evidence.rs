//! Never harm the evidence: outputs never replace inputs, hashes describe
//! the bytes analysed, hostile bytes never reach a terminal raw, secrets
//! never leave. Each test is one defect found by attacking the tool.

mod common;
use common::*;
use std::io::Write;
use std::process::Stdio;

/// A private copy of a testdata capture.
fn copy_of(name: &str, dir: &std::path::Path) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::copy(testdata(name), &p).unwrap();
    p
}

#[test]
fn an_output_onto_an_input_is_refused_before_anything_is_written() {
    let d = temp_dir("onto-input");
    let cap = copy_of("lab-alg-active-client.pcap", &d);
    let original = std::fs::read(&cap).unwrap();
    let link = d.join("link.pcap");
    std::os::unix::fs::symlink(&cap, &link).unwrap();
    let hard = d.join("hard.pcap");
    std::fs::hard_link(&cap, &hard).unwrap();
    let c = cap.to_str().unwrap();
    for out in [&cap, &link, &hard] {
        let o = out.to_str().unwrap();
        for args in [
            vec!["analyze", "-f", "json", "-o", o, c],
            vec!["extract", "-s", "s1", "-o", o, c],
            vec!["compare", "-o", o, c, c],
            vec!["batch", "-o", o, d.to_str().unwrap()],
        ] {
            let r = run(&args);
            assert_eq!(r.status.code(), Some(2), "{args:?}");
            assert_contains(&String::from_utf8_lossy(&r.stderr), &["refusing to write"]);
            assert_eq!(std::fs::read(&cap).unwrap(), original, "{args:?}");
        }
    }
    // merge's inputs are its result files.
    let nd = d.join("b.ndjson");
    let r = run(&["batch", "-f", "ndjson", "-o", nd.to_str().unwrap(), c]);
    assert_eq!(r.status.code(), Some(0));
    let before = std::fs::read(&nd).unwrap();
    let n = nd.to_str().unwrap();
    let r = run(&["merge", "-o", n, n]);
    assert_eq!(r.status.code(), Some(2));
    assert_eq!(std::fs::read(&nd).unwrap(), before);
}

#[test]
fn a_report_replaces_the_old_one_whole_with_no_temporary_file_left() {
    let d = temp_dir("atomic");
    let out = d.join("report.json");
    std::fs::write(&out, b"the previous report").unwrap();
    let r = run(&[
        "analyze",
        "-f",
        "json",
        "-o",
        out.to_str().unwrap(),
        testdata("lab-alg-active-client.pcap").to_str().unwrap(),
    ]);
    assert_eq!(r.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(doc["captures"].as_array().unwrap().len(), 1);
    let names: Vec<_> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["report.json"], "no temporary file left behind");
}

#[test]
fn json_into_a_closed_pipe_is_not_an_error() {
    for format in ["json", "text", "markdown", "html"] {
        let mut child = bin()
            .args(["analyze", "-f", format])
            .arg(testdata("lab-mangle-vsftpd-client.pcap"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Close our end at once: every write then fails with EPIPE.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("Broken pipe"), "{format}: {err}");
        assert_ne!(out.status.code(), Some(2), "{format}: {err}");
    }
}

#[test]
fn a_corrupt_endless_stream_stops_at_the_error() {
    // A pcapng section header whose trailing length disagrees, then zeros
    // for ever: the reader must stop at the error, not drain the input.
    let mut shb = vec![0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0];
    shb.extend_from_slice(&0x1a2b3c4du32.to_le_bytes());
    shb.extend_from_slice(&[1, 0, 0, 0]);
    shb.extend_from_slice(&(-1i64).to_le_bytes());
    shb.extend_from_slice(&99u32.to_le_bytes());
    let mut child = bin()
        .args(["analyze", "-f", "json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        let zeros = vec![0u8; 1 << 16];
        if stdin.write_all(&shb).is_err() {
            return 0u64;
        }
        // Far more than the reader's buffer; it must stop long before.
        let mut sent = 0u64;
        while sent < 4 << 30 && stdin.write_all(&zeros).is_ok() {
            sent += zeros.len() as u64;
        }
        sent
    });
    let out = child.wait_with_output().unwrap();
    let sent = feeder.join().unwrap();
    assert!(sent < 1 << 30, "the input was drained ({sent} bytes)");
    assert_eq!(out.status.code(), Some(2));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let c = &doc["captures"][0];
    assert!(c["error"].is_object(), "{c:#}");
    assert!(c["file_bytes"].as_u64().unwrap() < 64 << 20);
}

#[test]
fn the_hash_is_of_the_bytes_analysed() {
    use sha2::{Digest, Sha256};
    let d = temp_dir("hash-read");
    let cap = copy_of("lab-mangle-vsftpd-client.pcap", &d);
    let bytes = std::fs::read(&cap).unwrap();
    let hex: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    // A file cut inside a record: the hash and the size are of the bytes
    // read, which are all of them.
    let cut = d.join("cut.pcap");
    std::fs::write(&cut, &bytes[..bytes.len() - 7]).unwrap();
    let cut_hex: String = Sha256::digest(&bytes[..bytes.len() - 7])
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let (_, doc) = analyze(&[], &[cap.to_str().unwrap(), cut.to_str().unwrap()]);
    let c = &doc["captures"];
    assert_eq!(c[0]["sha256"], hex.as_str());
    assert_eq!(c[0]["file_bytes"], bytes.len() as u64);
    assert_eq!(c[1]["sha256"], cut_hex.as_str());
    assert_eq!(c[1]["file_bytes"], bytes.len() as u64 - 7);
}

#[test]
fn batch_lists_fifos_sockets_and_devices_as_skipped() {
    let d = temp_dir("specials");
    copy_of("lab-alg-active-client.pcap", &d);
    let fifo = d.join("fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    std::os::unix::fs::symlink("/dev/null", d.join("null")).unwrap();
    let _sock = std::os::unix::net::UnixListener::bind(d.join("sock")).unwrap();
    let r = bin()
        .args(["batch", "-f", "ndjson"])
        .arg(&d)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(0));
    let lines: Vec<serde_json::Value> = String::from_utf8(r.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut skipped: Vec<String> = lines
        .iter()
        .filter(|l| l["type"] == "skipped")
        .map(|l| l["reason"].as_str().unwrap().to_string())
        .collect();
    skipped.sort();
    assert_eq!(skipped.len(), 3, "{skipped:?}");
    assert!(skipped[0].starts_with("a FIFO"), "{skipped:?}");
    assert!(skipped[1].starts_with("a character device"), "{skipped:?}");
    assert!(skipped[2].starts_with("a socket"), "{skipped:?}");
    assert_eq!(lines.last().unwrap()["skipped_files"], 3);
}

#[test]
fn merge_refuses_counters_that_would_wrap() {
    let d = temp_dir("merge-wrap");
    let nd = d.join("b.ndjson");
    let r = run(&[
        "batch",
        "-f",
        "ndjson",
        "-o",
        nd.to_str().unwrap(),
        testdata("lab-alg-active-client.pcap").to_str().unwrap(),
    ]);
    assert_eq!(r.status.code(), Some(0));
    let text = std::fs::read_to_string(&nd).unwrap();
    let hostile = text.replacen("\"frames\":32", "\"frames\":18446744073709551615", 2);
    assert_ne!(hostile, text);
    let bad = d.join("bad.ndjson");
    std::fs::write(&bad, hostile).unwrap();
    let r = run(&[
        "merge",
        "-f",
        "json",
        nd.to_str().unwrap(),
        bad.to_str().unwrap(),
    ]);
    assert_eq!(r.status.code(), Some(2));
    assert_contains(
        &String::from_utf8_lossy(&r.stderr),
        &["bad.ndjson:1", "too large"],
    );
}

/// Every report format of `analyze` on `name` with `extra` options, and
/// the packet bytes `extract` writes of session s1.
fn every_output(name: &str, extra: &[&str]) -> Vec<(String, Vec<u8>)> {
    let cap = testdata(name);
    let c = cap.to_str().unwrap();
    let mut outs = Vec::new();
    for f in [
        "text", "json", "markdown", "html", "ftplog", "csv", "ndjson",
    ] {
        let mut args = vec!["analyze", "--dialogue", "-f", f];
        args.extend_from_slice(extra);
        args.push(c);
        outs.push((format!("analyze {f}"), run(&args).stdout));
        let mut args = vec!["compare", "--dialogue", "-f", f];
        args.extend_from_slice(extra);
        args.extend([c, c]);
        outs.push((format!("compare {f}"), run(&args).stdout));
    }
    let d = temp_dir(&format!("every-{name}"));
    let e = d.join("e.pcapng");
    let mut args = vec!["extract", "-s", "s1", "-o", e.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.push(c);
    let r = run(&args);
    assert_eq!(
        r.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    outs.push(("extract".into(), std::fs::read(&e).unwrap()));
    outs
}

fn assert_absent(outs: &[(String, Vec<u8>)], secrets: &[&str]) {
    for (what, bytes) in outs {
        assert!(!bytes.is_empty(), "{what} wrote nothing");
        for s in secrets {
            assert!(
                !bytes.windows(s.len()).any(|w| w == s.as_bytes()),
                "{what} leaks `{s}`"
            );
        }
    }
}

#[test]
fn credentials_are_redacted_however_the_command_is_split() {
    let outs = every_output("hand-hostile-bytes.pcap", &[]);
    assert_absent(
        &outs,
        &[
            "tab-secret",
            "two-blanks",
            "acct-secret",
            "old-secret",
            "new-secret",
        ],
    );
    // The redaction is there, not the line dropped.
    let (_, doc) = analyze(&["hand-hostile-bytes.pcap"], &[]);
    let texts: Vec<&str> = session(&doc, "s1")["dialogue"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["text"].as_str().unwrap())
        .collect();
    for want in [
        "PASS\\t<redacted:10>",
        "500 'PASS\\t<redacted:10>': command not understood.",
        "ACCT <redacted:11>",
        "SITE PASSWD <redacted:21>",
    ] {
        assert!(texts.contains(&want), "no `{want}` in {texts:?}");
    }
    // --show-passwords shows them.
    let outs = every_output("hand-hostile-bytes.pcap", &["--show-passwords"]);
    assert!(String::from_utf8_lossy(&outs[1].1).contains("tab-secret"));
}

#[test]
fn every_address_form_is_anonymised_in_every_output() {
    let outs = every_output("hand-address-forms.pcap", &["--anonymize-ips"]);
    assert_absent(
        &outs,
        &[
            "198.51.100.60",
            "198,51,100,60",
            "203.0.113.10",
            "203,0,113,10",
            "2001:db8::bbbb:1",
            "2001:db8:",
            "32,1,13,184",
        ],
    );
}

#[test]
fn file_names_never_reach_a_terminal_raw() {
    let d = temp_dir("escape-name");
    // OSC 52 (write the clipboard) and ED (clear the screen).
    let name = "x\x1b]52;c;cHduZWQ=\x07\x1b[2J.pcap";
    let bytes = std::fs::read(testdata("lab-mangle-vsftpd-client.pcap")).unwrap();
    let cap = d.join(name);
    // Cut inside a record: a read error whose message names the file.
    std::fs::write(&cap, &bytes[..bytes.len() - 5]).unwrap();
    let c = cap.to_str().unwrap();
    let dir = d.to_str().unwrap();
    for args in [
        vec!["analyze", c],
        vec!["analyze", "-f", "markdown", c],
        vec!["analyze", "-f", "html", c],
        vec!["analyze", "-f", "csv", c],
        vec!["batch", dir],
        vec!["batch", "-f", "markdown", dir],
        vec!["batch", "-f", "html", dir],
        vec!["compare", c, c],
    ] {
        let r = bin().args(&args).stdin(Stdio::null()).output().unwrap();
        for (what, out) in [("stdout", &r.stdout), ("stderr", &r.stderr)] {
            assert!(
                !out.iter().any(|&b| b == 0x1b || b == 0x07),
                "{args:?} {what} carries a raw control byte:\n{}",
                String::from_utf8_lossy(out)
            );
        }
        assert!(
            String::from_utf8_lossy(&r.stdout).contains("\\x1b]52;c;"),
            "{args:?}: the name is shown, escaped"
        );
    }
}

/// The text of `line` outside its CommonMark code spans (a run of n
/// backticks opens a span that the next run of exactly n closes).
fn outside_code_spans(line: &str) -> String {
    let b = line.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'`' {
            out.push(b[i] as char);
            i += 1;
            continue;
        }
        let n = b[i..].iter().take_while(|&&c| c == b'`').count();
        let mut j = i + n;
        let mut close = None;
        while j < b.len() {
            let m = b[j..].iter().take_while(|&&c| c == b'`').count();
            if m == n {
                close = Some(j);
                break;
            }
            j += m.max(1);
        }
        match close {
            Some(j) => i = j + n,
            None => {
                out.push_str(&line[i..i + n]);
                i += n;
            }
        }
    }
    out
}

#[test]
fn markdown_quotes_stay_code_spans_whatever_their_backticks() {
    assert_eq!(outside_code_spans("a `b` ``c`d`` e"), "a   e");
    let r = run(&[
        "analyze",
        "-f",
        "markdown",
        testdata("hand-hostile-bytes.pcap").to_str().unwrap(),
    ]);
    let md = String::from_utf8(r.stdout).unwrap();
    assert!(md.contains("<img"), "the quote is kept as it was:\n{md}");
    for line in md.lines() {
        let prose = outside_code_spans(line);
        assert!(
            !prose.contains("<img") && !prose.contains("&lt;img"),
            "a quote escaped its code span: {line}"
        );
    }
}
