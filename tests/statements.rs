//! Every number and sentence a report states is true of the capture
//! (issue #22): each test here failed on the release before its fix.

mod common;
use common::*;
use serde_json::Value;

fn batch_json() -> Value {
    let out = run(&[
        "batch",
        "-f",
        "json",
        "--no-progress",
        testdata("").to_str().unwrap(),
    ]);
    serde_json::from_slice(&out.stdout).expect("batch JSON")
}

/// A data connection established to another endpoint than announced
/// (the client ignored a private 227 address) is a transfer that worked;
/// the announcement's fault is the verdict's, not the outcome's.
#[test]
fn a_transfer_whose_connection_was_established_worked() {
    let (_, doc) = analyze(&["lab-pasv-private-client.pcap"], &[]);
    let d = &session(&doc, "s1")["data_setups"][0];
    assert_eq!(d["verdict"], "wrong-endpoint");
    assert_eq!(d["outcome"], "worked");
    assert_eq!(d["status"], "connected-elsewhere");
    let out = run(&[
        "analyze",
        testdata("lab-pasv-private-client.pcap").to_str().unwrap(),
    ]);
    assert_contains(
        &String::from_utf8_lossy(&out.stdout),
        &["connected-elsewhere"],
    );
}

/// One server address seen with several banners lists each software
/// with its sessions, not one name for all.
#[test]
fn a_server_address_lists_every_software_it_served() {
    let doc = batch_json();
    let server = doc["summary"]["servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == "203.0.113.10:21")
        .expect("the lab server");
    let sw: Vec<(String, u64)> = server["software"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["key"].as_str().unwrap().to_string(),
                e["count"].as_u64().unwrap(),
            )
        })
        .collect();
    let names: Vec<&str> = sw.iter().map(|(k, _)| k.as_str()).collect();
    assert!(
        names.contains(&"vsftpd") && names.contains(&"GNU inetutils ftpd"),
        "{sw:?}"
    );
    let total: u64 = sw.iter().map(|(_, n)| n).sum();
    assert_eq!(total, server["sessions"].as_u64().unwrap());
}

/// The archive's TCP breakdown adds up to its TCP total, and counts of
/// one take the singular.
#[test]
fn batch_counts_add_up_and_agree_in_number() {
    let doc = batch_json();
    let p = &doc["summary"]["packets"];
    let n = |k: &str| p[k].as_u64().unwrap();
    assert_eq!(
        n("control_segments")
            + n("data_segments")
            + n("after_close_segments")
            + n("other_tcp_segments")
            + p["unannounced_segments"].as_u64().unwrap_or(0)
            + p["not_sessions"]["segments"].as_u64().unwrap_or(0),
        n("tcp_segments")
    );
    let out = run(&["batch", "--no-progress", testdata("").to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_contains(&text, &["after close"]);
    assert!(
        !text.contains(" 1 files") && !text.contains(" 1 sessions"),
        "{text}"
    );
}

/// A session id that names no session is refused, naming those there
/// are; a filter's hidden sessions and findings are counted as hidden,
/// and the capture's own counts stay whole.
#[test]
fn trimmed_reports_say_what_they_trimmed() {
    let td = testdata("hand-tuple-reuse.pcap");
    for f in ["text", "json", "ndjson"] {
        let out = run(&["analyze", "-f", f, "--session", "9", td.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{f}");
        assert!(out.stdout.is_empty(), "{f}: nothing is written");
        assert_contains(
            &String::from_utf8_lossy(&out.stderr),
            &["no session s9", "s1–s2"],
        );
    }
    let out = run(&["analyze", "--session", "2", td.to_str().unwrap()]);
    assert_contains(
        &String::from_utf8_lossy(&out.stdout),
        &["2 (1 listed here)"],
    );
    let out = run(&[
        "analyze",
        "--min-severity",
        "error",
        testdata("lab-pasv-private-client.pcap").to_str().unwrap(),
    ]);
    assert_contains(
        &String::from_utf8_lossy(&out.stdout),
        &[
            "0 error, 1 warning, 0 info (0 error, 1 warning, 0 info not listed here)",
            "No findings listed (1 left out",
        ],
    );
    let (_, doc) = analyze(
        &["lab-pasv-private-client.pcap"],
        &["--min-severity", "error", "--pretty"],
    );
    assert_eq!(doc["captures"][0]["not_listed"]["warning"], 1);
}

/// Exit codes hold for every command, an output name that names no format
/// is refused, and so is --pretty without JSON; a batch input that is not
/// there is named and refused, not counted as a capture.
#[test]
fn exit_codes_and_refusals() {
    let dir = temp_dir("statements-exit");
    let founding = testdata("lab-mangle-inetutils-client.pcap");
    let ev = dir.join("s1.pcapng");
    let out = run(&[
        "extract",
        founding.to_str().unwrap(),
        "--session",
        "s1",
        "-o",
        ev.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let xml = dir.join("report.xml");
    let out = run(&[
        "analyze",
        founding.to_str().unwrap(),
        "-o",
        xml.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!xml.exists());
    assert_contains(
        &String::from_utf8_lossy(&out.stderr),
        &["does not write .xml files", "-f text, json"],
    );
    let out = run(&["analyze", "--pretty", founding.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let missing = dir.join("nosuchdir");
    let out = run(&["batch", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert_contains(
        &String::from_utf8_lossy(&out.stderr),
        &["nosuchdir: no such file"],
    );
}

/// A probe whose every test line came back without showing how it
/// arrived is no evidence either way: it says so and exits 3, never
/// "clean" with 0.
#[test]
fn a_probe_with_no_evidence_says_so() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut server = bin()
        .args(["reflect", "--listen", &addr, "-q"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The reflector listens at once; give it a moment to bind.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(&addr).is_err() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = run(&["probe", &format!("ftp://{addr}"), "--only", "names"]);
    let _ = server.kill();
    let _ = server.wait();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(text.starts_with("No evidence either way"), "{text}");
    assert!(!text.contains("did not damage"), "{text}");
    // Counted in one row per family, not 1,024 rows.
    assert_contains(&text, &["all 1024", "no evidence"]);
    assert!(text.matches("SIZE ").count() < 5, "{text}");
}

/// watch says when a finding was established (the packet that proved
/// it), not the time of an earlier packet of the control connection.
#[test]
fn watch_dates_a_finding_by_the_packet_that_established_it() {
    let out = run(&[
        "watch",
        testdata("lab-mangle-vsftpd-client.pcap").to_str().unwrap(),
    ]);
    let f: Value = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|e| e["type"] == "finding")
        .expect("a finding event");
    assert_eq!(f["rule"], "port-silently-truncated");
    // Frame 17 is the RST that proves it (tshark: 1795494558.174464).
    assert_eq!(f["established_frame"], 17);
    assert_eq!(f["ts"], "2026-11-24T04:29:18.174464000Z");
    assert_eq!(f["first_ts"], "2026-11-24T04:29:18.167557000Z");
}

/// lftp's end of a transfer, Telnet IP then the Synch and a close, is
/// named as the abort signal, not reported as a line without its end.
#[test]
fn a_telnet_synch_is_no_broken_line() {
    let (_, doc) = analyze(&["hand-telnet-synch.pcap"], &[]);
    assert!(findings(&doc, "ctl-bad-terminator").is_empty(), "{doc}");
    let out = run(&[
        "analyze",
        "--dialogue",
        testdata("hand-telnet-synch.pcap").to_str().unwrap(),
    ]);
    assert_contains(
        &String::from_utf8_lossy(&out.stdout),
        &["Telnet IP (interrupt process), DM", "abort signal"],
    );
}

/// Text reports name paired lines by frame, and keep short tokens whole.
#[test]
fn text_reports_read_well() {
    let out = run(&[
        "analyze",
        "--dialogue",
        testdata("hand-two-pasv.pcap").to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    // USER (frame 6) pairs with its 331 (frame 8).
    assert!(
        text.lines()
            .any(|l| l.contains("USER anonymous") && l.contains("frame 8")),
        "{text}"
    );
    let out = run(&["batch", "--no-progress", testdata("").to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.contains("inet │") && !text.contains("inet ┆"),
        "{text}"
    );
    assert!(!text.contains("tcp.strea "), "{text}");
}

#[test]
fn a_multi_line_reply_shows_each_lines_own_end() {
    // Suricata's ftp-mode-02, frame 14 (tshark): `211-Features:\n MDTM\n
    // REST STREAM\n SIZE\r\n`, frame 15 `211 End\r\n`: three bare-LF
    // lines, then two CRLF. The dialogue showed CRLF after every line.
    let p = public_dir().join("OISF+suricata-verify/tests/detect-ftp/ftp-mode-02/input.pcap");
    if !p.exists() {
        skipped(
            "a_multi_line_reply_shows_each_lines_own_end",
            &format!("{} absent", p.display()),
        );
        return;
    }
    let p = p.to_str().unwrap();
    let out = run(&["analyze", "-f", "json", p]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let e = session(&doc, "s1")["dialogue"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["code"] == 211)
        .unwrap()
        .clone();
    assert_eq!(e["frames"], serde_json::json!([14, 15]));
    assert_eq!(
        e["text"],
        "211-Features:\\n MDTM\\n REST STREAM\\n SIZE\\r\\n211 End"
    );
    assert_eq!(e["terminator"], "cr-lf", "the closing line's");
    let f = findings(&doc, "ctl-bad-terminator");
    assert!(
        f.iter().any(|f| message(f).starts_with(
            "3 server→client line(s) end with a bare LF (no CR) (first: `211-Features:`, frame 14)"
        )),
        "{f:#?}"
    );
    let out = run(&["analyze", "--dialogue", p]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("211-Features:\\n MDTM\\n REST STREAM\\n SIZE\\r\\n211 End"),
        "{text}"
    );
}

#[test]
fn a_client_that_retransmitted_was_not_idle() {
    // lab-alg-split-port-client (tshark): the PORT's first segment
    // (frame 18, 15 bytes at Seq=25) is sent again in frames 21, 22, 23,
    // 24, 26, 30, 33 and 34 (the last at 27.7 s), never acknowledged;
    // the capture ends at 32.6 s, 31.3 s after the PORT's end (frame 19,
    // 1.275 s). The stall said the client "stayed idle 31.3 s".
    let (_, doc) = analyze(&["lab-alg-split-port-client.pcap"], &[]);
    let f = the(&doc, "alg-drop-suspected");
    let stall = message(related_of(&f, "session-stall-after-ctl"));
    assert_contains(
        &stall,
        &[
            "it sent nothing new for 31.3 s, only retransmitted bytes the server never acknowledged 8× (frames 21, 22, 23, 24, 26, 30, 33, 34)",
        ],
    );
    assert!(!stall.contains("idle"), "{stall}");
}

#[test]
fn a_line_of_more_segments_than_kept_counts_them_all() {
    // Suricata's ftp-too-long-response: the 227 line is 112,721 bytes
    // (before its CRLF) in 112 segments, frames 24–246 even (tshark); a
    // line keeps 64 frames and 8,192 bytes. The frames column said
    // "(+52)" (the 64 kept less the 12 shown), and the related fact
    // quoted the line as "(+8032 bytes)" (the kept bytes less the 160
    // shown) beside "(+112561 bytes)".
    let p = public_dir()
        .join("OISF+suricata-verify/tests/ftp/ftp-too-long-response/ftp-too-long-response.pcap");
    if !p.exists() {
        skipped(
            "a_line_of_more_segments_than_kept_counts_them_all",
            &format!("{} absent", p.display()),
        );
        return;
    }
    let p = p.to_str().unwrap();
    let out = run(&["analyze", "-f", "json", p]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = the(&doc, "ctl-line-split");
    let listed = frames(&f);
    assert_eq!(listed.len(), 64);
    // The first 63 and the last: 150–244 (48 frames) are counted.
    assert_eq!((listed[0], listed[62], listed[63]), (24, 148, 246));
    assert_eq!(f["frames_not_listed"], 48, "64 + 48 = 112 segments");
    assert_eq!(f["evidence"][0]["frames_not_listed"], 48);
    let r = related_of(&f, "pasv-reply-unparseable-for-alg");
    assert_eq!(r["frames_not_listed"], 48);
    assert_contains(&message(r), &["…(+112561 bytes)`"]);
    assert!(!message(r).contains("8032"), "{}", message(r));
    let out = run(&["analyze", p]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_contains(
        &text,
        &["frames 24, 26, 28, 30, 32, 34, 36, 38, 40, 42, 44, 46 … (+100))"],
    );
    assert!(!text.contains("(+52)"), "{text}");
}

#[test]
fn a_gap_cites_the_first_ack_that_proves_it() {
    // hand-lost-lines (tshark): the server's bytes at Seq=91 (19 bytes)
    // and the client's at Seq=43 (6 bytes, its PASV) are not in the
    // capture; the client's ACK in frame 16 (Ack=110) and the server's in
    // frame 17 (Ack=49) acknowledge them — "ACKed unseen segment". The
    // findings cited frames 32 and 31, the last ACKs of the close.
    let (_, doc) = analyze(&["hand-lost-lines.pcap"], &[]);
    let gaps = findings(&doc, "tcp-gap");
    assert_eq!(gaps.len(), 2);
    for (f, (ack, to, next)) in gaps.iter().zip([(16, 109, 18), (17, 48, 20)]) {
        assert_eq!(frames(f), [ack, next], "{f:#}");
        assert_contains(
            &message(f),
            &[&format!("(its ACK in frame {ack} reaches offset {to})")],
        );
        assert!(!message(f).contains("noticed at"), "{}", message(f));
    }
}
