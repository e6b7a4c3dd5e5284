//! The binary on every capture in testdata/: the lab's real servers and
//! in-path devices (lab/make-testdata.sh) and the hand-built edge cases
//! (lab/handmade.py). Frames are located through the dialogue, so the
//! assertions survive regenerating the lab captures.

mod common;
use common::*;

const FOUNDING_SENT: &str = "PORT 198,51,100,60,125,227";
const FOUNDING_SEEN: &str = "PORT 198,51,100,60,125,22_";

#[test]
fn founding_case_vsftpd_client_side_shows_the_wrong_port() {
    let (code, doc) = analyze(&["lab-mangle-vsftpd-client.pcap"], &[]);
    assert_eq!(code, 1);
    // The failed transfer is about the same PORT line: one event, one
    // finding, the failure a related fact of the truncation.
    assert_eq!(rules(&doc), vec!["port-silently-truncated"]);
    let t = related_of(&the(&doc, "port-silently-truncated"), "transfer-failed").clone();
    assert_eq!(t["actor"], "unknown");
    assert_eq!(frames(&t), [13, 15, 16, 17, 18]);
    assert_contains(
        &message(&t),
        &[
            "went to 198.51.100.60:32022 instead of the announced 198.51.100.60:32227",
            "`425 Failed to establish connection.`",
        ],
    );
    let f = the(&doc, "port-silently-truncated");
    assert_eq!(f["severity"], "error");
    assert_eq!(f["signature"]["id"], "checkpoint-ftp-bounce-227");
    assert_contains(
        &message(&f),
        &[
            FOUNDING_SENT,
            "198.51.100.60:32227",
            "connected to 198.51.100.60:32022",
            "32022 = 125·256+22",
            "octet 6 `227` as 22",
            "(vsftpd)",
            "altered between this tap and the server",
            "Check Point",
        ],
    );
    // The path, on the endpoint announced against the one connected.
    assert_eq!(f["actor"], "path");
    assert_eq!(f["proof"]["kind"], "endpoint");
    let port = entry_frames(&doc, "s1", "PORT ");
    let ok = entry_frames(&doc, "s1", "200 PORT");
    let fr = frames(&f);
    assert!(fr.contains(&port[0]) && fr.contains(&ok[0]), "{fr:?}");
    let s = session(&doc, "s1");
    let conn = &s["data_connections"][0];
    assert_eq!(conn["acceptor"], "198.51.100.60:32022");
    assert_eq!(conn["initiator"], "203.0.113.10:20");
    assert!(fr.contains(&conn["syn_frame"].as_u64().unwrap()));
    assert_eq!(verdicts(&doc, "s1"), vec!["wrong-endpoint"]);
    assert_eq!(s["server_software"]["name"], "vsftpd");
    // The same as data, for a SIEM.
    assert_eq!(f["server_software"]["name"], "vsftpd");
    assert_eq!(
        f["facts"],
        serde_json::json!({
            "sent": FOUNDING_SENT,
            "announced": "198.51.100.60:32227",
            "used": "198.51.100.60:32022",
            // The ports whose PORT line carries `227` (octet 5 or 6).
            "ports_hit": 511,
        })
    );
}

#[test]
fn founding_case_vsftpd_server_side_shows_the_damaged_port() {
    let (code, doc) = analyze(&["lab-mangle-vsftpd-server.pcap"], &[]);
    // One view of the line: the client's packets crossed a router before
    // this tap, so whether it sent `22_` or a device made it, this tap
    // cannot tell; no device is named and it is no error.
    assert_eq!(code, 0);
    let f = the(&doc, "port-mangled-received");
    assert_eq!(f["severity"], "warning");
    assert_eq!(f["actor"], "unknown");
    assert_eq!(f["proof"]["kind"], "one-view");
    assert!(f.get("signature").is_none(), "{f:#}");
    assert_contains(
        &message(&f),
        &[
            FOUNDING_SEEN,
            "octet 6 `22_`",
            "non-digit '_' (0x5F) at offset 25",
            "the server (vsftpd) accepted it",
            "connected to 198.51.100.60:32022",
            "cannot tell whether the client sent it so",
        ],
    );
    assert!(!message(&f).contains("Check Point"), "{}", message(&f));
    assert_contains(&f["proof"]["text"].to_string(), &["TTL 63"]);
    // The PORT's frame first; the failed transfer's (folded in) after.
    assert!(frames(&f).starts_with(&entry_frames(&doc, "s1", "PORT ")));
    assert_eq!(related(&f), vec!["transfer-failed"]);
    // The server really connected where its lenient reading said.
    assert_eq!(verdicts(&doc, "s1"), vec!["refused"]);
}

#[test]
fn founding_case_inetutils_client_side_reads_the_echo() {
    let (code, doc) = analyze(&["lab-mangle-inetutils-client.pcap"], &[]);
    assert_eq!(code, 1);
    // One event: the echo proves the change; the stall is its consequence.
    assert_eq!(rules(&doc), vec!["port-echo-mismatch"]);
    let f = the(&doc, "port-echo-mismatch");
    assert_eq!(related(&f), vec!["session-stall-after-ctl"]);
    assert_eq!(f["actor"], "path");
    assert_eq!(f["proof"]["kind"], "echo");
    assert_contains(
        &message(&f),
        &[
            "the server received a different PORT than the client sent",
            FOUNDING_SENT,
            FOUNDING_SEEN,
            "byte at offset 25 changed from '7' (0x37) to '_' (0x5F)",
            "octet 6 `227` became `22_`",
            "in-place substitution",
            "Check Point SmartDefense/IPS \"FTP Bounce\"",
            "Data port 32227 became unusable",
        ],
    );
    let mut want = entry_frames(&doc, "s1", "PORT ");
    want.extend(entry_frames(&doc, "s1", "500 "));
    assert_eq!(frames(&f), want);
    assert_eq!(f["diff"]["same_length"], true);
    assert_eq!(f["diff"]["edits"][0]["offset"], 25);
    assert_eq!(f["diff"]["edits"][0]["from"], "7");
    assert_eq!(f["diff"]["edits"][0]["to"], "_");
    assert_eq!(
        f["evidence"][1]["bytes"],
        "500 'PORT 198,51,100,60,125,22_': command not recognized"
    );
    assert_eq!(f["server_software"]["name"], "GNU inetutils ftpd");
    assert_eq!(
        f["facts"],
        serde_json::json!({
            "sent": FOUNDING_SENT,
            "received": FOUNDING_SEEN,
            "fields": [{"field": 6, "name": "octet 6", "offset": 23, "before": "227", "after": "22_"}],
            "announced": "198.51.100.60:32227",
            "received_reads_as": "198.51.100.60:32022",
        })
    );
    let stall = related_of(&f, "session-stall-after-ctl");
    assert_contains(&message(stall), &["idle 25."]);
}

#[test]
fn founding_case_inetutils_server_side() {
    let (code, doc) = analyze(&["lab-mangle-inetutils-server.pcap"], &[]);
    assert_eq!(code, 0);
    assert_eq!(rules(&doc), vec!["port-mangled-received"]);
    let f = the(&doc, "port-mangled-received");
    assert_eq!(related(&f), vec!["session-stall-after-ctl"]);
    // What the server made of it, from its own reply: inetutils refused
    // it (no claim about what a lenient server would read).
    assert_contains(
        &message(&f),
        &["the server (GNU inetutils ftpd) refused it"],
    );
    assert!(!message(&f).contains("lenient"), "{}", message(&f));
}

#[test]
fn founding_server_wording_from_the_original_report() {
    let (code, doc) = analyze(&["hand-founding-echo.pcap"], &[]);
    assert_eq!(code, 1);
    let f = the(&doc, "port-echo-mismatch");
    assert_contains(
        &message(&f),
        &[
            "PORT 10,225,1,89,124,227",
            "PORT 10,225,1,89,124,22_",
            "offset 23",
            "Data port 31971",
        ],
    );
    assert_eq!(related(&f), vec!["session-stall-after-ctl"]);
}

#[test]
fn file_names_with_227_are_mangled_too() {
    let (_, doc) = analyze(&["lab-mangle-inetutils-name-client.pcap"], &[]);
    let f = the(&doc, "string-227-mangled");
    assert_contains(
        &message(&f),
        &["RETR TEST227.DAT", "TEST22_.DAT", "Check Point"],
    );
    let (code, doc) = analyze(&["lab-mangle-inetutils-name-server.pcap"], &[]);
    assert_eq!(
        (code, rules(&doc).len()),
        (0, 0),
        "one server-side capture cannot tell"
    );
}

#[test]
fn clean_transfers_through_the_mangler_raise_nothing() {
    for side in ["client", "server"] {
        let (code, doc) = analyze(&[&format!("lab-mangle-clean-{side}.pcap")], &[]);
        assert_eq!(code, 0);
        assert!(rules(&doc).is_empty(), "{:#}", doc["findings"]);
        assert_eq!(verdicts(&doc, "s1"), vec!["connected", "connected"]);
    }
}

#[test]
fn kernel_nat_alg_sessions_are_clean_on_both_sides() {
    for case in [
        "alg-active",
        "alg-passive",
        "alg-eprt",
        "alg-epsv",
        "proxy-passive",
        "clock-offset",
    ] {
        for side in ["client", "server"] {
            let name = format!("lab-{case}-{side}.pcap");
            let (code, doc) = analyze(&[&name], &[]);
            assert_eq!(code, 0, "{name}");
            assert!(rules(&doc).is_empty(), "{name}: {:#}", doc["findings"]);
            assert_eq!(verdicts(&doc, "s1"), vec!["connected"], "{name}");
        }
    }
    // The ALG rewrote the PORT: private address on one side, NAT address on the other.
    let (_, c) = analyze(&["lab-alg-active-client.pcap"], &[]);
    let (_, s) = analyze(&["lab-alg-active-server.pcap"], &[]);
    assert_eq!(
        entry(&c, "s1", "PORT ")["text"],
        "PORT 198,51,100,60,156,64"
    );
    assert_eq!(entry(&s, "s1", "PORT ")["text"], "PORT 203,0,113,1,156,64");
}

#[test]
fn port_split_across_segments_is_dropped_by_the_alg() {
    let (code, doc) = analyze(&["lab-alg-split-port-client.pcap"], &[]);
    assert_eq!(code, 1);
    // One event: the drop (the path, proven by the server's ACKs) stands;
    // the split (the client's own way of sending the line) and the stall
    // are its related facts.
    assert_eq!(rules(&doc), vec!["alg-drop-suspected"]);
    let port = entry(&doc, "s1", "PORT ");
    assert_eq!(port["text"], "PORT 198,51,100,60,156,64");
    assert_eq!(port["split"], true);
    let drop = the(&doc, "alg-drop-suspected");
    assert_eq!(
        related(&drop),
        vec!["ctl-line-split", "session-stall-after-ctl"]
    );
    assert_eq!(drop["actor"], "path");
    assert_eq!(drop["proof"]["kind"], "acks");
    let split = related_of(&drop, "ctl-line-split");
    assert_eq!(split["actor"], "client");
    assert_contains(
        &message(split),
        &["split across 2 TCP segments", "retransmitted"],
    );
    // The segment told by its own bytes (tshark: frame 18, Len=15), and
    // what did arrive by the server's SACK (frame 20: SACK 40-52).
    assert_contains(
        &message(&drop),
        &[
            "never acknowledged",
            "(15 bytes: `PORT 198,51,100`, frame 18)",
            "the server held the bytes after it (12 bytes: `,60,156,64\\r\\n` at offset 39), as its SACK block in frame 20 says",
        ],
    );
    assert_eq!(drop["evidence"][0]["bytes"], "PORT 198,51,100");
    assert!(frames(&drop).len() >= 4);
    // The server side only ever got the second half, and says why: its
    // own ACK (frame 18: Ack=25, SACK 40-52) after the second half
    // arrived (frame 17) stops at the hole. The path dropped the first
    // half before the server; this tap did not lose it.
    let (_, doc) = analyze(&["lab-alg-split-port-server.pcap"], &[]);
    let gap = the(&doc, "tcp-gap");
    assert_contains(
        &message(&gap),
        &[
            "15 bytes of the client→server stream at offset 24 never reached the server",
            "the bytes after them did (frame 17, from offset 39)",
            "the server's ACK in frame 18 still stopped at offset 24",
            "held the 12 bytes from offset 39",
            "Not this tap's loss",
            "`,60,156,64`",
        ],
    );
    assert!(!message(&gap).contains("were never captured"), "{gap}");
    assert_eq!(gap["actor"], "path");
    assert_eq!(gap["proof"]["kind"], "acks");
    assert_eq!(frames(&gap), vec![17, 18]);
}

#[test]
fn mangled_port_dropped_by_the_alg_hangs_the_session() {
    let (code, doc) = analyze(&["lab-mangle-alg-client.pcap"], &[]);
    assert_eq!(code, 1);
    assert_eq!(rules(&doc), vec!["alg-drop-suspected"]);
    assert_eq!(
        related(&the(&doc, "alg-drop-suspected")),
        vec!["session-stall-after-ctl"]
    );
    assert_contains(
        &message(&the(&doc, "alg-drop-suspected")),
        &[FOUNDING_SENT, "retransmitted", "never acknowledged"],
    );
    let (code, doc) = analyze(&["lab-mangle-alg-server.pcap"], &[]);
    assert_eq!(code, 0);
    assert!(
        session(&doc, "s1")["dialogue"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| !e["text"].as_str().unwrap().starts_with("PORT"))
    );
}

#[test]
fn malformed_commands_from_a_real_client() {
    for (side, n) in [("client", 0), ("server", 0)] {
        let (code, doc) = analyze(&[&format!("lab-malformed-{side}.pcap")], &[]);
        assert_eq!(code, n);
        assert_eq!(
            rules(&doc),
            vec![
                "ctl-bad-terminator",
                "ctl-bad-terminator",
                "ctl-cmd-not-at-segment-start",
                "eprt-family-mismatch",
                "port-mangled-received"
            ]
        );
        let t = findings(&doc, "ctl-bad-terminator");
        assert_contains(&message(t[0]), &["bare LF"]);
        assert_contains(&message(t[1]), &["trailing white space"]);
        assert_contains(
            &message(&the(&doc, "ctl-cmd-not-at-segment-start")),
            &["starts at byte 6", "after `NOOP`"],
        );
        assert_contains(
            &message(&the(&doc, "port-mangled-received")),
            &["octet 5 `300` is over 255"],
        );
        // Lower-case `port` is still a PORT.
        let lower = entry(&doc, "s1", "port ");
        assert_eq!(lower["verb"], "PORT");
    }
}

#[test]
fn ftp_on_a_non_standard_port_is_found_by_its_banner() {
    let (_, doc) = analyze(&["lab-port-8884-client.pcap"], &[]);
    let s = session(&doc, "s1");
    assert_eq!(s["detection"], "banner");
    assert_eq!(s["server"], "203.0.113.10:8884");
    assert_eq!(verdicts(&doc, "s1"), vec!["connected"]);
    // Told explicitly, it is a configured port.
    let (_, doc) = analyze(&["lab-port-8884-client.pcap"], &["--port", "8884"]);
    assert_eq!(session(&doc, "s1")["detection"], "configured-port");
    assert_eq!(doc["options"]["port"], "8884");
    let (_, doc) = analyze(&["lab-port-8884-client.pcap"], &["--no-banner-detection"]);
    assert_eq!(doc["sessions"].as_array().unwrap().len(), 0);
}

#[test]
fn private_address_in_pasv_and_a_client_that_ignores_it() {
    let (code, doc) = analyze(&["lab-pasv-private-client.pcap"], &[]);
    assert_eq!(code, 0);
    assert_contains(
        &message(&the(&doc, "pasv-addr-differs")),
        &[
            "10.0.0.5",
            "the client reached it at 203.0.113.10",
            "private address",
            "ignored it",
            "Causes that fit",
        ],
    );
    // The client's choice of the control address is the same event (the
    // 227 it ignored), told as a related fact.
    let f = the(&doc, "pasv-addr-differs");
    let m = related_of(&f, "data-endpoint-mismatch");
    assert_eq!(m["actor"], "client");
    assert_contains(&message(m), &["bpo-43285"]);
}

#[test]
fn auth_tls_marks_the_rest_encrypted() {
    let (_, doc) = analyze(&["lab-tls-client.pcap"], &[]);
    let s = session(&doc, "s1");
    let tls = &s["tls"];
    assert!(tls["started_frame"].as_u64().unwrap() > entry_frames(&doc, "s1", "234 ")[0]);
    assert!(tls["client_encrypted_bytes"].as_u64().unwrap() > 100);
    assert!(tls["server_encrypted_bytes"].as_u64().unwrap() > 100);
    assert_eq!(
        s["dialogue"].as_array().unwrap().len(),
        3,
        "banner, AUTH TLS, 234"
    );
}

#[test]
fn telnet_interrupt_before_abor_is_removed_and_recorded() {
    let (_, doc) = analyze(&["lab-abort-client.pcap"], &[]);
    let abor = entry(&doc, "s1", "ABOR");
    assert_eq!(abor["verb"], "ABOR");
    assert_eq!(
        abor["telnet"],
        serde_json::json!(["\\xff\\xf4", "\\xff\\xf2"])
    );
}

#[test]
fn conflicting_retransmission_is_evidence() {
    let (_, doc) = analyze(&["hand-overlap-conflict.pcap"], &[]);
    let f = the(&doc, "tcp-overlap-conflict");
    assert_eq!(f["evidence"][0]["bytes"], "7");
    assert_eq!(f["evidence"][1]["bytes"], "_");
    // Both copies carry IP ID 1 and TTL 64 (tshark: ip.id, ip.ttl of
    // frames 14 and 15): one packet twice, next to the sender. One tap's
    // two copies never blame the path.
    assert_contains(
        &message(&f),
        &[
            "inside `PORT 198,51,100,60,125,227`",
            "the first copy is the one analysed",
            "Both copies carry IP ID 0x0001, TTL 64",
            "this capture alone cannot tell",
        ],
    );
    assert!(!message(&f).contains("between the sender and this tap changed"));
    assert_eq!(f["actor"], "unknown");
}

/// Copies of the same bytes stamped 16 years apart (frame 15 spliced in
/// from an older file): the capture was edited, which the finding says,
/// with the time stamps that show it, instead of blaming the path.
#[test]
fn an_edited_capture_is_named_as_such() {
    let (_, doc) = analyze(&["hand-edited-capture.pcap"], &[]);
    let f = the(&doc, "tcp-overlap-conflict");
    assert_contains(
        &message(&f),
        &[
            "frame 14 carried `7`, frame 15 carried `_`",
            "Frame 15 is stamped 16 years before frame 14",
            "the capture was edited or merged",
        ],
    );
    assert!(!message(&f).contains("between the sender and this tap changed"));
    assert_eq!(f["actor"], "capture");
    let proof = f["proof"]["text"].as_str().unwrap();
    // tshark: frame 14 at 1700000000.14, IP ID 0x0001; frame 15 at
    // 1195078400.15, IP ID 0x3c1d.
    assert_contains(
        proof,
        &[
            "frame 14 (2023-11-14T22:13:20.140000000Z; IP ID 0x0001, TTL 64)",
            "frame 15 (2007-11-14T22:13:20.150000000Z; IP ID 0x3c1d, TTL 64)",
        ],
    );
}

#[test]
fn gap_inside_a_port_line() {
    let (_, doc) = analyze(&["hand-gap-in-port.pcap"], &[]);
    let f = the(&doc, "tcp-gap");
    assert_contains(
        &message(&f),
        &[
            "8 bytes",
            // tshark: frame 16 is the server's Ack=62, the first past the
            // hole ("ACKed unseen segment"); frame 24's Ack=69 goes further.
            "the server acknowledged them (its ACK in frame 16 reaches offset 61)",
            "this tap missed them (capture loss, not the path's doing",
            "`PORT 198,` is incomplete",
        ],
    );
    assert_eq!(f["actor"], "capture");
    assert_eq!(entry(&doc, "s1", "PORT")["terminator"], "gap");
    assert_eq!(entry(&doc, "s1", "0,156,64")["after_gap"], true);
    // The parsing resynchronised: NOOP after the gap is a command again.
    assert_eq!(entry(&doc, "s1", "NOOP")["verb"], "NOOP");
    assert_eq!(session(&doc, "s1")["end_reason"], "closed");
}

#[test]
fn sequence_wraparound_inside_a_port_line() {
    let (_, doc) = analyze(&["hand-seq-wrap.pcap"], &[]);
    assert_eq!(rules(&doc), vec!["ctl-line-split"]);
    assert_eq!(
        entry(&doc, "s1", "PORT")["text"],
        "PORT 198,51,100,60,156,64"
    );
    let s = session(&doc, "s1");
    assert!(s["tcp"]["client"]["gaps"].as_array().unwrap().is_empty());
}

#[test]
fn multi_section_multi_interface_pcapng() {
    let (_, doc) = analyze(&["hand-multi-section.pcapng"], &[]);
    let c = &doc["captures"][0];
    assert_eq!(c["sections"], 2);
    assert_eq!(c["interfaces"], 4);
    assert_eq!(
        c["link_types"],
        serde_json::json!([{"id": 1, "name": "ETHERNET"}, {"id": 228, "name": "IPV4"}])
    );
    let s = session(&doc, "s1");
    assert_eq!(s["dialogue"].as_array().unwrap().len(), 9);
    // No data connection, and nothing but the control connection between
    // the hosts: the capture could not have seen one.
    assert_eq!(verdicts(&doc, "s1"), vec!["not-captured"]);
    // Nanosecond and microsecond interfaces interleave in time order.
    let ts: Vec<&str> = s["dialogue"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["ts"].as_str().unwrap())
        .collect();
    let mut sorted = ts.clone();
    sorted.sort();
    assert_eq!(ts, sorted);
}

#[test]
fn truncated_capture_keeps_results_and_names_the_offset() {
    let (code, doc) = analyze(&["hand-truncated.pcap"], &[]);
    assert_eq!(code, 2);
    let e = &doc["captures"][0]["error"];
    assert_contains(
        e["message"].as_str().unwrap(),
        &[
            "hand-truncated.pcap",
            "truncated",
            "byte offset",
            "after frame 19",
        ],
    );
    assert_eq!(e["frames_read"], 19);
    assert_eq!(doc["sessions"].as_array().unwrap().len(), 1);
    let out = run(&["analyze", testdata("hand-truncated.pcap").to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("truncated capture"));
}

#[test]
fn gzip_is_found_by_content_not_name() {
    let (code, doc) = analyze(&["hand-founding-echo.bin"], &[]);
    assert_eq!(code, 1);
    assert_eq!(doc["captures"][0]["compression"], "gzip");
    assert_eq!(
        the(&doc, "port-echo-mismatch")["rule"],
        "port-echo-mismatch"
    );
}

#[test]
fn snaplen_cuts_are_gaps_and_parsing_continues() {
    let (_, doc) = analyze(&["hand-snaplen.pcap"], &[]);
    let f = the(&doc, "tcp-gap");
    assert_eq!(f["occurrences"], 4);
    assert_contains(&message(&f), &["cut by the snaplen"]);
    assert_eq!(
        entry(&doc, "s1", "331")["after_gap"],
        serde_json::Value::Null
    );
    assert_eq!(entry(&doc, "s1", "NOOP")["verb"], "NOOP");
}

#[test]
fn one_direction_capture_still_yields_commands() {
    let (_, doc) = analyze(&["hand-one-direction.pcap"], &[]);
    let verbs: Vec<&str> = session(&doc, "s1")["dialogue"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["verb"].as_str().unwrap())
        .collect();
    assert_eq!(verbs, vec!["USER", "PASS", "PORT", "RETR"]);
}

#[test]
fn reused_four_tuple_is_two_sessions() {
    let (_, doc) = analyze(&["hand-tuple-reuse.pcap"], &[]);
    let ss = doc["sessions"].as_array().unwrap();
    assert_eq!(ss.len(), 2);
    assert_eq!(ss[0]["client"], ss[1]["client"]);
    assert_eq!(ss[0]["end_reason"], "closed");
}

#[test]
fn pasv_rewritten_to_p_at_sw() {
    let (_, doc) = analyze(&["hand-smc-pasv.pcap"], &[]);
    let f = the(&doc, "verb-rewritten");
    assert_eq!(f["signature"]["id"], "smc-barricade-pasv");
}

#[test]
fn passwords_are_redacted_everywhere_unless_asked() {
    let names = ["hand-gap-in-port.pcap", "lab-mangle-inetutils-client.pcap"];
    for fmt in ["json", "text"] {
        let mut args = vec!["analyze", "-f", fmt, "--dialogue"];
        let paths: Vec<String> = names
            .iter()
            .map(|n| testdata(n).to_string_lossy().into_owned())
            .collect();
        args.extend(paths.iter().map(String::as_str));
        let out = String::from_utf8_lossy(&run(&args).stdout).into_owned();
        assert!(
            !out.contains("secret-word") && !out.contains("lab@example.org"),
            "{fmt} leaks a password"
        );
        assert!(out.contains("PASS <redacted:11>"), "{fmt}");
        args.push("--show-passwords");
        let out = String::from_utf8_lossy(&run(&args).stdout).into_owned();
        assert!(out.contains("PASS secret-word"), "{fmt}");
    }
}

#[test]
fn text_output_is_escaped_and_uncoloured_when_piped() {
    let out = run(&[
        "analyze",
        "--dialogue",
        testdata("lab-abort-client.pcap").to_str().unwrap(),
        testdata("hand-founding-echo.pcap").to_str().unwrap(),
    ]);
    let text = String::from_utf8(out.stdout).expect("UTF-8 text");
    assert!(!text.contains('\x1b'), "no ANSI escapes on a pipe");
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "no raw control characters"
    );
    assert_contains(&text, &["Findings", "port-echo-mismatch", "Dialogue s1"]);
}

#[test]
fn usage_and_input_errors_exit_2() {
    let out = run(&["analyze", "/nonexistent/x.pcap"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/x.pcap"));
    let out = run(&["analyze", env!("CARGO_MANIFEST_DIR")]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&["analyze", testdata("../Cargo.toml").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a pcap or pcapng file"));
    let out = run(&["analyze", "--format", "yaml", "x"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn standard_input() {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = bin()
        .args(["analyze", "-f", "json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let data = std::fs::read(testdata("hand-founding-echo.bin")).unwrap();
    child.stdin.take().unwrap().write_all(&data).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["captures"][0]["path"], "-");
}

#[test]
fn every_testdata_capture_has_expectations() {
    let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let src = [
        "testdata.rs",
        "compare.rs",
        "evidence.rs",
        "visibility.rs",
        "sessions.rs",
        "statements.rs",
        "batch.rs",
        "trace.rs",
        "one_way_legs.rs",
        "legs.rs",
    ]
    .iter()
    .map(|f| std::fs::read_to_string(here.join(f)).unwrap())
    .collect::<String>();
    for e in std::fs::read_dir(testdata("")).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".tsv") {
            // Reference tables (tcp.stream from tshark), not captures.
            continue;
        }
        let stem = name
            .trim_start_matches("lab-")
            .trim_start_matches("pair-")
            .trim_end_matches(".pcap")
            .trim_end_matches(".pcapng")
            .trim_end_matches(".bin")
            .trim_end_matches(".snoop")
            .trim_end_matches("-client")
            .trim_end_matches("-server")
            .to_string();
        assert!(
            src.contains(&stem),
            "{name} is not covered by tests/testdata.rs, compare.rs, evidence.rs, visibility.rs, sessions.rs, statements.rs, batch.rs, trace.rs, one_way_legs.rs or legs.rs"
        );
    }
}

#[test]
fn a_line_right_after_lost_bytes_is_never_paired_across_them() {
    let (_, doc) = analyze(&["hand-lost-lines.pcap"], &[]);
    assert_eq!(rules(&doc), vec!["tcp-gap", "tcp-gap"]);
    let type_i = entry(&doc, "s1", "TYPE I");
    assert!(type_i["pairs_with"].is_null(), "{type_i:#}");
    assert_eq!(type_i["reply_unseen"], true);
    let pasv = entry(&doc, "s1", "227 ");
    assert_eq!(pasv["follows_gap"], true);
    assert!(pasv["pairs_with"].is_null(), "{pasv:#}");
    // The gap is reported where it is: at the 227, not only where the ACK
    // proved it.
    let at_227 = frames(pasv)[0];
    assert!(
        findings(&doc, "tcp-gap")
            .iter()
            .any(|f| frames(f).contains(&at_227))
    );
}

#[test]
fn a_capture_that_starts_inside_a_multiline_reply_raises_nothing() {
    let (_, doc) = analyze(&["hand-mid-reply.pcap"], &[]);
    assert_eq!(rules(&doc), Vec::<String>::new());
    assert_eq!(entry(&doc, "s1", "USER")["pairs_with"].as_u64(), Some(3));
}

#[test]
fn each_occurrence_of_a_merged_finding_keeps_its_own_description() {
    let (_, doc) = analyze(&["hand-two-mangled.pcap"], &[]);
    let f = the(&doc, "port-mangled-received");
    assert_eq!(f["occurrences"], 2);
    assert_contains(&message(&f), &["octet 6 `22_`", "offset 25"]);
    let also = f["also"].as_array().unwrap();
    assert_eq!(also.len(), 1);
    assert_contains(
        also[0]["message"].as_str().unwrap(),
        &["`PORT 198,51,100,60,22_,10`", "octet 5 `22_`", "offset 21"],
    );
    assert_eq!(also[0]["evidence"][0]["bytes"], "PORT 198,51,100,60,22_,10");
    for format in ["text", "markdown", "html"] {
        let out = run(&[
            "analyze",
            "-f",
            format,
            testdata("hand-two-mangled.pcap").to_str().unwrap(),
        ]);
        assert_contains(
            &String::from_utf8_lossy(&out.stdout),
            &["PORT 198,51,100,60,22_,10", "offset 21"],
        );
    }
}

#[test]
fn messages_about_long_lines_state_their_true_length() {
    let (_, doc) = analyze(&["hand-long-lines.pcap"], &[]);
    // The split is a fact of the same line's finding (one event).
    let port = the(&doc, "port-mangled-received");
    let split = related_of(&port, "ctl-line-split").clone();
    // 112,721 bytes on the wire: 112,719 before the CRLF, 160 quoted.
    assert_contains(
        &message(&split),
        &[
            "…(+112559 bytes)",
            "split across 81 TCP segments",
            "and 73 more",
        ],
    );
    assert!(!message(&split).contains("+8032"));
    assert_contains(
        &message(&the(&doc, "port-mangled-received")),
        &["…(+112559 bytes)"],
    );
    // A 131-letter verb is a command the server answered.
    let long = entry(&doc, "s1", "AAAAAAAA");
    assert_eq!(long["verb"].as_str().unwrap().len(), 131);
    let reply = long["pairs_with"].as_u64().unwrap();
    let s1 = session(&doc, "s1");
    let r = s1["dialogue"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["n"] == reply)
        .unwrap();
    assert_eq!(r["text"], "500 Unknown command.");
}

#[test]
fn a_binary_pcapng_time_resolution_is_read_right() {
    let (_, doc) = analyze(&["hand-tsresol-binary.pcapng"], &[]);
    assert_eq!(
        doc["captures"][0]["first_ts"],
        "2023-11-14T22:13:20.500000000Z"
    );
}

/// What a single capture says must not change because the tap lost a
/// frame: no warning or error that the whole capture does not have (a
/// tcp-gap saying so is the only addition allowed).
#[test]
fn a_lost_frame_adds_no_false_warning() {
    use portmortem::rules::{Rule, Severity};
    use std::collections::BTreeSet;
    let loud = |r: &portmortem::analysis::CaptureResult| -> BTreeSet<Rule> {
        r.findings
            .iter()
            .filter(|f| f.severity >= Severity::Warning && f.rule != Rule::TcpGap)
            .map(|f| f.rule)
            .collect()
    };
    let mut runs = 0;
    for case in [
        "mangle-clean",
        "alg-passive",
        "alg-active",
        "alg-epsv",
        "proxy-passive",
        "pasv-private",
        "tls",
        "abort",
    ] {
        for side in ["client", "server"] {
            let name = format!("lab-{case}-{side}.pcap");
            let bytes = std::fs::read(testdata(&name)).unwrap();
            let whole = loud(&analyze_bytes(&name, bytes.clone()));
            let n = std::cell::Cell::new(0u64);
            without_frames(&bytes, &|_| {
                n.set(n.get() + 1);
                false
            });
            for k in 1..=n.get() {
                let r = analyze_bytes(&name, without_frames(&bytes, &|i| i == k));
                let extra: Vec<_> = loud(&r).difference(&whole).copied().collect();
                assert!(extra.is_empty(), "{name} without frame {k}: {extra:?}");
                runs += 1;
            }
        }
    }
    assert!(runs > 300, "{runs}");
}

/// Every finding is a self-contained event: its session's endpoints and
/// `tcp.stream`, and the capture time of its first frame, read here from
/// the file itself.
#[test]
fn every_finding_carries_its_endpoints_stream_and_first_frame_time() {
    let names = testdata_captures();
    let mut stamped = 0;
    for n in &names {
        let (_, doc) = analyze(&[n], &[]);
        let mut times = std::collections::HashMap::new();
        let mut reader = portmortem::capture::CaptureReader::open(
            &testdata(n),
            portmortem::capture::input::HashMode::Off,
        )
        .unwrap();
        let _ = reader.for_each(&mut |f| {
            times.insert(f.number, f.ts);
        });
        for f in doc["findings"].as_array().unwrap() {
            let s = session(&doc, f["session"].as_str().unwrap());
            assert_eq!(f["client"], s["client"], "{n}");
            assert_eq!(f["server"], s["server"], "{n}");
            assert_eq!(f["tcp_stream"], s["tcp_stream"], "{n}");
            if let Some(ts) = f["first_ts"].as_str() {
                let first = frames(f)[0];
                assert_eq!(ts, times[&first].rfc3339(), "{n}: frame {first}");
                stamped += 1;
            }
        }
    }
    assert!(stamped > 40, "{stamped}");
}

/// The client sent its PORT, got `200`, and nothing more of the session
/// was captured, though the capture ran 30 s longer: no ACK of the 200,
/// no retransmission, no later packet. That is the tap going blind, not a
/// hang the capture saw (issue #21): the report says where sight was lost
/// and that the rest is unknown, as info, and claims no stall.
#[test]
fn a_session_the_capture_stopped_seeing_is_not_called_stalled() {
    let pcap = std::fs::read(testdata("lab-mangle-vsftpd-client.pcap")).unwrap();
    let (_, whole) = analyze(&["lab-mangle-vsftpd-client.pcap"], &[]);
    let ok = entry_frames(&whole, "s1", "200 PORT")[0];
    // The session up to the 200, then one unrelated frame (frame 1, not
    // IP) 30 s after it.
    let mut cut = without_frames(&pcap, &|n| n > ok);
    let first_len = u32::from_le_bytes(pcap[32..36].try_into().unwrap()) as usize;
    let mut late = pcap[24..24 + 16 + first_len].to_vec();
    let at = |i: u64| {
        let mut off = 24;
        for _ in 1..i {
            off += 16 + u32::from_le_bytes(pcap[off + 8..off + 12].try_into().unwrap()) as usize;
        }
        u32::from_le_bytes(pcap[off..off + 4].try_into().unwrap())
    };
    late[..4].copy_from_slice(&(at(ok) + 30).to_le_bytes());
    cut.extend_from_slice(&late);
    let r = analyze_bytes("hung.pcap", cut);
    let of = |rule: &str| -> Vec<_> { r.findings.iter().filter(|f| f.rule.id() == rule).collect() };
    assert!(of("session-stall-after-ctl").is_empty(), "{:?}", r.findings);
    let lost = of("capture-lost-sight");
    assert_eq!(lost.len(), 1, "{:?}", r.findings);
    assert_eq!(lost[0].severity, portmortem::rules::Severity::Info);
    assert_contains(
        &lost[0].message,
        &[
            &format!("lost sight of this connection at frame {ok}"),
            "30.",
        ],
    );
}

/// An NDJSON finding stands alone: it names its capture's path and
/// SHA-256, the same as that capture's own line.
#[test]
fn ndjson_findings_carry_their_captures_hash() {
    let out = bin()
        .args(["analyze", "-f", "ndjson"])
        .arg(testdata("lab-mangle-inetutils-client.pcap"))
        .arg(testdata("lab-mangle-vsftpd-client.pcap"))
        .output()
        .unwrap();
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let sha_of = |path: &serde_json::Value| {
        lines
            .iter()
            .find(|l| l["type"] == "capture" && &l["path"] == path)
            .map(|l| l["sha256"].clone())
            .unwrap()
    };
    let findings: Vec<_> = lines.iter().filter(|l| l["type"] == "finding").collect();
    // One event each: the echo (its stall folded in), the wrong port.
    assert_eq!(findings.len(), 2);
    for f in findings {
        assert_eq!(f["capture_sha256"], sha_of(&f["capture_path"]), "{f}");
        assert_eq!(f["capture_sha256"].as_str().unwrap().len(), 64);
    }
}

/// The firewall's own captures (lab/make-testdata.sh `fw_case`): each
/// device's run captured on the firewall in four ways (`tcpdump -i any`
/// as Linux cooked v2 and v1, `dumpcap -i fwin -i fwout`, a SPAN of both
/// legs as VLANs 10 and 20) and at the two interfaces (client, server).
const FIREWALL_CAPTURES: [(&str, [&str; 4]); 4] = [
    (
        "fw-route",
        [
            "lab-fw-route-any.pcap",
            "lab-fw-route-sll.pcap",
            "lab-fw-route-legs.pcapng",
            "lab-fw-route-span.pcap",
        ],
    ),
    (
        "fw-mangle",
        [
            "lab-fw-mangle-any.pcap",
            "lab-fw-mangle-sll.pcap",
            "lab-fw-mangle-legs.pcapng",
            "lab-fw-mangle-span.pcap",
        ],
    ),
    (
        "fw-alg",
        [
            "lab-fw-alg-any.pcap",
            "lab-fw-alg-sll.pcap",
            "lab-fw-alg-legs.pcapng",
            "lab-fw-alg-span.pcap",
        ],
    ),
    (
        "fw-mangle-alg",
        [
            "lab-fw-mangle-alg-any.pcap",
            "lab-fw-mangle-alg-sll.pcap",
            "lab-fw-mangle-alg-legs.pcapng",
            "lab-fw-mangle-alg-span.pcap",
        ],
    ),
];

/// What the tests of one-file captures rest on, from tshark's view
/// (testdata/tshark-legs.tsv): each file holds exactly the TCP packets of
/// the client-side and the server-side capture of the same run, and where
/// the format names the leg (SLL2 interface index, pcapng interface, VLAN)
/// each leg holds exactly one of them. Linux cooked v1 names only the
/// packet type, so there only the whole is checked.
#[test]
fn each_firewall_capture_holds_both_legs_of_its_run() {
    use std::collections::BTreeMap;
    type Multiset = BTreeMap<Vec<String>, usize>;
    let text = std::fs::read_to_string(testdata("tshark-legs.tsv")).unwrap();
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let col = |n: &str| head.iter().position(|h| *h == n).unwrap();
    let packet = [
        "ip_src",
        "ip_dst",
        "ttl",
        "sport",
        "dport",
        "tcp_flags",
        "seq_raw",
        "ack_raw",
        "tcp_len",
        "tcp_checksum",
    ]
    .map(col);
    // file → leg → packets
    let mut files: BTreeMap<String, BTreeMap<String, Multiset>> = BTreeMap::new();
    for l in lines {
        let c: Vec<&str> = l.split('\t').collect();
        let leg = match c[0] {
            f if f.ends_with("-any.pcap") => c[col("sll_ifindex")],
            f if f.ends_with("-legs.pcapng") => c[col("interface_name")],
            f if f.ends_with("-span.pcap") => c[col("vlan_id")],
            _ => "",
        };
        let key = packet.iter().map(|&i| c[i].to_string()).collect();
        *files
            .entry(c[0].to_string())
            .or_default()
            .entry(leg.to_string())
            .or_default()
            .entry(key)
            .or_default() += 1;
    }
    let whole = |legs: &BTreeMap<String, Multiset>| {
        let mut all = Multiset::new();
        for (k, n) in legs.values().flatten() {
            *all.entry(k.clone()).or_default() += n;
        }
        all
    };
    for (case, one_file) in FIREWALL_CAPTURES {
        let side = |s: &str| files[&format!("lab-{case}-{s}.pcap")][""].clone();
        let (client, server) = (side("client"), side("server"));
        assert!(!client.is_empty() && !server.is_empty(), "{case}");
        let mut both = client.clone();
        for (k, n) in &server {
            *both.entry(k.clone()).or_default() += n;
        }
        for name in one_file {
            let legs = &files[name];
            assert_eq!(whole(legs), both, "{name}: not the two interfaces' packets");
            if name.ends_with("-sll.pcap") {
                continue;
            }
            let want: Vec<&str> = match name {
                n if n.ends_with("-legs.pcapng") => vec!["fwin", "fwout"],
                n if n.ends_with("-span.pcap") => vec!["10", "20"],
                _ => vec!["2", "3"], // fwin, fwout: pm-fw's interfaces after lo
            };
            assert_eq!(legs.keys().collect::<Vec<_>>(), want, "{name}");
            let (a, b) = (&legs[want[0]], &legs[want[1]]);
            assert!(
                a == &client && b == &server,
                "{name}: a leg is not one side"
            );
        }
    }
}
