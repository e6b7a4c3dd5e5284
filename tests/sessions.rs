//! Sessions, connections and replies from the evidence (issue #31): a
//! session starts at its SYN; a refused or unanswered SYN, or a stray
//! segment, is accounted for but is not a session; a connection belongs
//! to a session's data setups only when a line announced it; a reply
//! pairs with the command it quotes, and a command's own ACK tells
//! whether bytes the capture missed could have held its reply.

mod common;
use common::*;
use serde_json::Value;

/// Each command's line and the line of the reply it pairs with.
fn pairs(doc: &Value, sid: &str) -> Vec<(String, Option<String>)> {
    let d = session(doc, sid)["dialogue"].as_array().unwrap();
    d.iter()
        .filter(|e| e["dir"] == "C")
        .map(|e| {
            let reply = e["pairs_with"]
                .as_u64()
                .map(|n| d[n as usize]["text"].as_str().unwrap().to_string());
            (e["text"].as_str().unwrap().to_string(), reply)
        })
        .collect()
}

#[test]
fn a_reply_that_quotes_its_command_pairs_with_it() {
    // Every command sent before the banner; each reply quotes its
    // command, the RETR's with code 225 (Zeek's fake-server-delays-all).
    let (_, doc) = analyze(&["hand-quoted-replies.pcap"], &[]);
    for (cmd, reply) in pairs(&doc, "s1") {
        let reply = reply.unwrap_or_else(|| panic!("`{cmd}` unpaired"));
        assert!(reply.ends_with(&cmd), "`{cmd}` paired with `{reply}`");
    }
}

#[test]
fn an_empty_line_waits_for_no_reply() {
    // `PORT …\n\r\n`: the bare-LF PORT, then an empty line that vsftpd
    // answers with nothing (its seven replies follow eight lines; tshark
    // shows them in frames 16–28). Every later reply answers its own
    // command, as the server's codes say (500 for the EPRT and the 300).
    let (_, doc) = analyze(&["lab-malformed-client.pcap"], &[]);
    let got = pairs(&doc, "s1");
    let want = [
        ("", None),
        (
            "EPRT |2|198.51.100.60|40000|",
            Some("500 Bad EPRT protocol."),
        ),
        (
            "PORT 198,51,100,60,300,1",
            Some("500 Illegal PORT command."),
        ),
        (
            "port 198,51,100,60,156,64",
            Some("200 PORT command successful. Consider using PASV."),
        ),
        ("QUIT", Some("221 Goodbye.")),
    ];
    for (cmd, reply) in want {
        assert!(
            got.contains(&(cmd.to_string(), reply.map(str::to_string))),
            "`{cmd}` should pair with {reply:?}: {got:?}"
        );
    }
}

#[test]
fn a_command_that_acknowledged_the_missing_bytes_is_paired_across_them() {
    // The rest of a multi-line 230 was never captured; the PORT's own ACK
    // covers it, so those bytes came before the PORT and are not its
    // reply: the `200` after them is.
    let (_, doc) = analyze(&["hand-multiline-gap.pcap"], &[]);
    let port = entry(&doc, "s1", "PORT 198,51,100,60,156,64");
    assert!(port["reply_unseen"].is_null(), "{port:#}");
    let reply = &session(&doc, "s1")["dialogue"][port["pairs_with"].as_u64().unwrap() as usize];
    assert_eq!(reply["text"], "200 PORT command successful.");
    assert_eq!(reply["follows_gap"], true);
    // Where the command's ACK does not cover them, it stays unknown.
    let (_, doc) = analyze(&["hand-lost-lines.pcap"], &[]);
    assert_eq!(entry(&doc, "s1", "TYPE I")["reply_unseen"], true);
}

#[test]
fn refused_unanswered_and_stray_connections_are_not_sessions() {
    let (_, doc) = analyze(&["hand-not-sessions.pcap"], &[]);
    let ids: Vec<&str> = doc["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["s1"], "one session, numbered first");
    assert_eq!(session(&doc, "s1")["first_frame"], 10);
    // No finding on the stray `PORT 192,` (it has no line end: on a
    // session it was a ctl-bad-terminator warning).
    assert!(doc["findings"].as_array().unwrap().is_empty());
    let k = &doc["captures"][0]["packets"];
    let n = &k["not_sessions"];
    for k in ["refused", "unanswered", "stray"] {
        assert_eq!(n[k], 1, "{k}");
    }
    // Frames checked with tshark: tcp.stream 0 is frames 1–4 (SYN, RST,
    // the SYN again with the same ISN, RST), stream 1 frames 5–7 (three
    // SYNs), stream 2 the stray and its reset, frames 8–9.
    let listed: Vec<(String, u64, u64, u64)> = n["listed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["standing"].as_str().unwrap().to_string(),
                x["first_frame"].as_u64().unwrap(),
                x["last_frame"].as_u64().unwrap(),
                x["segments"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("refused".to_string(), 1, 4, 4),
            ("stray".to_string(), 8, 9, 2),
            ("unanswered".to_string(), 5, 7, 3)
        ]
    );
    assert_eq!(n["segments"], 9);
    // Every segment is accounted for once.
    let sum: u64 = [
        "control_segments",
        "data_segments",
        "other_tcp_segments",
        "after_close_segments",
    ]
    .iter()
    .map(|f| k[*f].as_u64().unwrap())
    .sum::<u64>()
        + n["segments"].as_u64().unwrap()
        + k["unannounced_segments"].as_u64().unwrap_or(0);
    assert_eq!(sum, k["tcp_segments"].as_u64().unwrap());
    // The text report names them, with their frames.
    let out = run(&[
        "analyze",
        testdata("hand-not-sessions.pcap").to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout).replace(['│', '┆'], " ");
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert_contains(
        &text,
        &[
            "not sessions 9",
            "SYN refused (RST) (frames 1–4)",
            "SYN, no answer captured (frames 5–7)",
            "stray segment answered by RST (frames 8–9)",
        ],
    );
}

#[test]
fn a_session_found_by_its_banner_starts_at_its_syn() {
    // tshark: the handshake of 39858 → 8884 is frames 6–8, the banner 9.
    let (_, doc) = analyze(&["lab-port-8884-client.pcap"], &[]);
    let s = session(&doc, "s1");
    assert_eq!(s["detection"], "banner");
    let syn = s["lifecycle"]["syn_frame"].as_u64().unwrap();
    assert_eq!(s["first_frame"], syn);
    assert_eq!(s["lifecycle"]["syn_ack_frame"].as_u64(), Some(syn + 1));
    let banner = entry_frames(&doc, "s1", "220 ")[0];
    assert_eq!(banner, syn + 3);
    // Not FTP after all (another port, no banner detection): still other TCP.
    let (_, doc) = analyze(&["lab-port-8884-client.pcap"], &["--no-banner-detection"]);
    let k = &doc["captures"][0]["packets"];
    assert_eq!(k["control_segments"], 0);
}

#[test]
fn a_capture_of_one_unanswered_syn_has_no_session() {
    let p = public_dir()
        .join("markofu+pcaps/PracticalPacketAnalysis/ppa-capture-files/ftpclientdenied.pcap");
    if !p.exists() {
        eprintln!("skipped: {} absent", p.display());
        return;
    }
    let out = run(&["analyze", "-f", "json", p.to_str().unwrap()]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(doc["sessions"].as_array().unwrap().is_empty());
    let n = &doc["captures"][0]["packets"]["not_sessions"];
    assert_eq!(n["unanswered"], 1);
    // tshark: three SYNs (the first and two retransmissions), frames 1–3.
    assert_eq!(n["listed"][0]["first_frame"], 1);
    assert_eq!(n["listed"][0]["last_frame"], 3);
}

#[test]
fn a_connection_no_line_announced_is_named_so_and_the_vsftpd_backdoor_is_an_info() {
    // tshark: the banner `220 (vsFTPd 2.3.4)` is frame 4, `USER 0p:)`
    // frame 6, the connection 40061 → 6200 frames 12–25 (SYN 12,
    // SYN-ACK 13, both FINs by 24; 25 is the last ACK of the close, its
    // own), 21 bytes from the client, 39 back.
    let (code, doc) = analyze(&["hand-vsftpd-backdoor.pcap"], &[]);
    assert_eq!(code, 0);
    let c = &session(&doc, "s1")["data_connections"][0];
    assert_eq!(c["acceptor"], "192.0.2.101:6200");
    assert!(c["announced_frame"].is_null(), "{c:#}");
    let k = &doc["captures"][0]["packets"];
    assert_eq!(
        (
            k["data_segments"].as_u64(),
            k["unannounced_segments"].as_u64()
        ),
        (Some(0), Some(14))
    );
    let f = the(&doc, "vsftpd-backdoor");
    assert_eq!(f["severity"], "info");
    assert_eq!(f["actor"], "server");
    assert_eq!(f["proof"]["kind"], "one-view");
    assert_contains(
        f["proof"]["text"].as_str().unwrap(),
        &["frame 4", "frames 12–25"],
    );
    assert_eq!(frames(&f), [4, 6, 12, 13, 25]);
    assert_contains(
        &message(&f),
        &[
            "192.0.2.66:40061 connected to 192.0.2.101:6200 (SYN frame 12)",
            "accepted (SYN-ACK frame 13); 21 bytes from 192.0.2.66, 39 from the server",
            "no PORT, EPRT, 227 or 229 of this session announced",
            "`220 (vsFTPd 2.3.4)` (frame 4)",
            "CVE-2011-2523",
            "`USER 0p:)` (frame 6) before it",
        ],
    );
    // A data connection that followed its announcement says which.
    let (_, doc) = analyze(&["lab-alg-active-client.pcap"], &[]);
    let s = session(&doc, "s1");
    let port = s["data_setups"][0]["announced_frame"].as_u64();
    assert!(port.is_some());
    assert_eq!(s["data_connections"][0]["announced_frame"].as_u64(), port);
    assert!(findings(&doc, "vsftpd-backdoor").is_empty());
}

/// The word each format gives each data setup of `pcap` (written to a
/// file first): text's sessions table, Markdown's and HTML's, JSON's
/// `status`, ftplog's `data_channel.outcome`. They must be one.
fn words(name: &str, pcap: &[u8]) -> Vec<String> {
    let dir = temp_dir(name);
    let path = dir.join(format!("{name}.pcap"));
    std::fs::write(&path, pcap).unwrap();
    let p = path.to_str().unwrap();
    // Wide enough that no table cell wraps.
    let out = |fmt: &str| {
        let o = bin()
            .args(["analyze", "-f", fmt, p])
            .env("COLUMNS", "400")
            .output()
            .unwrap();
        String::from_utf8(o.stdout).unwrap()
    };
    let doc: Value = serde_json::from_str(&out("json")).unwrap();
    let json: Vec<String> = session(&doc, "s1")["data_setups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            format!(
                "{} {}",
                d["kind"].as_str().unwrap(),
                d["status"].as_str().unwrap()
            )
        })
        .collect();
    // ftplog: the last column of the rows that set a data channel up.
    let ftplog: Vec<String> = out("ftplog")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            l.rsplit('\t')
                .next()
                .filter(|w| *w != "-")
                .map(str::to_string)
        })
        .collect();
    assert_eq!(
        ftplog,
        json.iter()
            .map(|w| w.split_once(' ').unwrap().1.to_string())
            .collect::<Vec<_>>(),
        "ftplog"
    );
    let text = out("text").replace(['│', '┆'], " ");
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let (md, html) = (out("markdown"), out("html"));
    for w in &json {
        assert!(text.contains(w.as_str()), "text lacks `{w}`:\n{text}");
        assert!(md.contains(w.as_str()), "Markdown lacks `{w}`");
        assert!(html.contains(w.as_str()), "HTML lacks `{w}`");
    }
    json
}

#[test]
fn outcome_words_follow_what_the_capture_could_see_and_agree_in_every_format() {
    let pcap = std::fs::read(testdata("hand-two-pasv.pcap")).unwrap();
    let data = |n: u64| {
        let (a, b) = ports_of(&pcap, n);
        a != 21 && b != 21
    };
    // As captured: both passive transfers connected.
    assert_eq!(words("two-pasv", &pcap), ["227 connected", "227 connected"]);
    // The first data connection lost (30000 = 117·256+48): the server
    // still answered its LIST with 150 and `226` (frame 30), its word that
    // the transfer was done over a connection the capture does not hold.
    let first = |n: u64| {
        let (a, b) = ports_of(&pcap, n);
        a == 30000 || b == 30000
    };
    assert_eq!(
        words("two-pasv-first-lost", &without_frames(&pcap, &first)),
        ["227 not-captured", "227 connected"]
    );
    // Its 150 and 226 (frames 23, 30) lost too: the capture holds the
    // second connection, so it could see the first: no connection.
    let first_and_replies = |n: u64| first(n) || n == 23 || n == 30;
    assert_eq!(
        words(
            "two-pasv-first-lost-unanswered",
            &without_frames(&pcap, &first_and_replies)
        ),
        ["227 no-connection", "227 connected"]
    );
    // Filtered to port 21: the server said 150 and 226, and no data
    // connection is in the capture because none could be.
    assert_eq!(
        words("two-pasv-port-21", &without_frames(&pcap, &data)),
        ["227 not-captured", "227 not-captured"]
    );
}

#[test]
fn a_capture_filtered_to_port_21_says_not_captured() {
    // Suricata's bug-3519: vsFTPd answered both PORTs with 200 and both
    // transfers with 150 and 226; tshark finds no frame beyond port 21.
    let p = public_dir().join("OISF+suricata-verify/tests/bug-3519/input.pcap");
    if !p.exists() {
        eprintln!("skipped: {} absent", p.display());
        return;
    }
    let pcap = std::fs::read(&p).unwrap();
    assert_eq!(
        words("bug-3519", &pcap),
        ["PORT not-captured", "PORT not-captured"]
    );
}

#[test]
fn a_transfer_the_server_reported_done_had_a_connection_the_capture_lacks() {
    // Zeek's pe-single: five PASV/227 (frames 25, 33, 41, 49, 114), each
    // transfer answered 150 then `226` (frames 30, 38, 46, 109, 119);
    // tshark finds one data connection (192.168.1.32:11886 = 46·256+110,
    // the fourth). The other four existed (the server says the transfers
    // were done): the capture does not hold them, which is not "no
    // connection". Chris Sanders' tickedoffdeveloper: three LIST and a
    // STOR, each `226 Transfer OK` (frames 23, 35, 51, 88); tshark holds
    // only the STOR's connection (49166 = 192·256+14).
    let cases: [(&str, &[&str]); 2] = [
        (
            "zeek+zeek/testing/btest/Traces/pe/pe-single.pcap",
            &[
                "227 not-captured",
                "227 not-captured",
                "227 not-captured",
                "227 connected",
                "227 not-captured",
            ],
        ),
        (
            "chrissanders+packets/tickedoffdeveloper.pcapng",
            &[
                "227 not-captured",
                "227 not-captured",
                "227 not-captured",
                "227 connected",
            ],
        ),
    ];
    for (name, want) in cases {
        let p = public_dir().join(name);
        if !p.exists() {
            skipped(
                "a_transfer_the_server_reported_done_had_a_connection_the_capture_lacks",
                &format!("{} absent", p.display()),
            );
            continue;
        }
        let pcap = std::fs::read(&p).unwrap();
        let stem = p.file_stem().unwrap().to_str().unwrap();
        assert_eq!(words(stem, &pcap), want, "{name}");
    }
}

#[test]
fn a_client_that_never_waited_for_a_reply_got_no_no_reply() {
    // Zeek's ftp-many-port-expected: 500 PORTs (frames 6–1004, one every
    // 2 ms), each answered only by an ACK; the client's FIN (frame 1006)
    // comes 2 ms after the last. The client never paused for a reply, so
    // no setup failed for want of one (the first was "no-reply", being
    // the one announced a second before the close), and batch counts no
    // failure.
    let name = "zeek+zeek/testing/btest/Traces/ftp/ftp-many-port-expected.pcap.gz";
    let p = public_dir().join(name);
    if !p.exists() {
        skipped(
            "a_client_that_never_waited_for_a_reply_got_no_no_reply",
            &format!("{} absent", p.display()),
        );
        return;
    }
    let p = p.to_str().unwrap();
    let out = run(&["analyze", "-f", "json", p]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let setups = session(&doc, "s1")["data_setups"].as_array().unwrap();
    assert_eq!(setups.len(), 500);
    for d in setups {
        assert_eq!(d["status"], "not-captured", "{d:#}");
        assert_eq!(d["client_waited_secs"], 0.002, "{d:#}");
    }
    let out = run(&["batch", "-f", "json", p]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let active = &doc["summary"]["setups"][0];
    // None failed: 499 setups no transfer used (the next PORT came at
    // once), the last one unknown (the client closed 2 ms after it).
    assert_eq!(
        (
            active["failed"].as_u64(),
            active["unused"].as_u64(),
            active["unknown"].as_u64()
        ),
        (Some(0), Some(499), Some(1)),
        "{active:#}"
    );
}

#[test]
fn a_private_eprt_answered_425_twice_is_two_failed_transfers() {
    // Client side (the tap inside the NAT: the control connection comes
    // from the private address too, TTL 64). tshark: EPRT frames 18 and
    // 26, RETR 22 and 30, `425 … Connection timed out` 24 and 32, 21.0 s
    // after each RETR. Today's "No findings".
    let (_, doc) = analyze(&["hand-eprt-private-425-client.pcap"], &[]);
    assert_eq!(verdicts(&doc, "s1"), ["not-captured", "not-captured"]);
    let setups = session(&doc, "s1")["data_setups"]
        .as_array()
        .unwrap()
        .clone();
    assert!(setups.iter().all(|d| d["status"] == "cannot-open"));
    let failed = findings(&doc, "transfer-failed");
    assert_eq!(failed.len(), 2, "one event each");
    for (f, (eprt, reply)) in failed.iter().zip([(18, 24), (26, 32)]) {
        assert_eq!(f["severity"], "warning");
        assert_eq!(f["actor"], "unknown");
        assert_eq!(f["proof"]["kind"], "reply");
        assert_contains(
            f["proof"]["text"].as_str().unwrap(),
            &[&format!("(frame {eprt})"), &format!("(frame {reply})")],
        );
        assert!(frames(f).contains(&eprt) && frames(f).contains(&reply));
        assert_contains(
            &message(f),
            &[
                &format!("(frame {reply}, 21.0 s after the RETR): its connect timed out"),
                "192.168.1.10, a private address, and 203.0.113.10 is public",
                "TTL 64",
                "whether the NAT translated the EPRT is not visible here",
            ],
        );
    }
    // Server side: the connection comes from the NAT's 203.0.113.1, the
    // EPRT still names 192.168.1.10, and the server's five SYNs to it
    // (tshark: frames 24–28, then 37–41) go unanswered. One tap cannot
    // tell a NAT that left the line alone from a client naming another
    // host: a warning, who cannot tell. The failed transfers are the
    // same events as the address that differs (about the same EPRTs).
    let (code, doc) = analyze(&["hand-eprt-private-425-server.pcap"], &[]);
    assert_eq!(code, 0);
    assert_eq!(rules(&doc), ["port-addr-differs"]);
    let f = the(&doc, "port-addr-differs");
    assert_eq!(
        (f["severity"].as_str(), f["actor"].as_str()),
        (Some("warning"), Some("unknown"))
    );
    let cases = std::iter::once(&f).chain(f["also"].as_array().unwrap());
    for (case, (eprt, syn, reply)) in cases.zip([(18, 24, 29), (31, 37, 42)]) {
        let t = related_of(case, "transfer-failed");
        assert_eq!(
            (t["actor"].as_str(), t["frames"][0].as_u64()),
            (Some("unknown"), Some(eprt))
        );
        assert_contains(
            t["message"].as_str().unwrap(),
            &[
                "5 SYN(s) from 203.0.113.10:20 to 192.168.1.10:4123",
                &format!("(from frame {syn}) got no answer"),
                &format!("(frame {reply}, 21.0 s after the RETR)"),
                "either a NAT translated the client's address in the packets but not in the EPRT",
                "or the client named another host (an FTP bounce)",
            ],
        );
    }
}

#[test]
fn a_failed_transfer_the_capture_cannot_explain_says_so() {
    // The client-side tap of an ALG that sent the server elsewhere: the
    // RETR got 425 and the capture holds nothing beyond port 21.
    let (_, doc) = analyze(&["pair-alg-inconsistent-client.pcap"], &[]);
    let f = the(&doc, "transfer-failed");
    assert_eq!(f["severity"], "warning");
    assert_eq!(f["actor"], "unknown");
    assert_contains(
        &message(&f),
        &[
            "`425 Failed to establish connection.`",
            "could not see an attempt to 198.51.100.60:40000",
            "nothing here shows why",
        ],
    );
    // A transfer the server reports done is no failure, whatever the
    // capture lacks of its connection.
    let (_, doc) = analyze(&["hand-multiline-gap.pcap"], &[]);
    assert!(findings(&doc, "transfer-failed").is_empty());
}

#[test]
fn the_last_ack_of_a_data_connections_close_is_its_own() {
    // aliawa's ftp_active (tshark -z conv,tcp): six data connections of
    // 7 frames each, the last a bare ACK after both FINs (56121: frames
    // 33–43, FINs 38 and 40, ACK 43), and one of 51; no other TCP. Zeek's
    // ipv6.pcap: five data connections of 9 frames each.
    let cases: [(&str, &[u64], u64); 2] = [
        (
            "aliawa+saved_pcaps/ftp_active.pcap",
            &[7, 7, 7, 51, 7, 7, 7],
            6 * 7 + 51,
        ),
        (
            "zeek+zeek/testing/btest/Traces/ftp/ipv6.pcap",
            &[9, 9, 9, 9, 9],
            5 * 9,
        ),
    ];
    for (name, packets, data_segments) in cases {
        let p = public_dir().join(name);
        if !p.exists() {
            skipped(
                "the_last_ack_of_a_data_connections_close_is_its_own",
                &format!("{} absent", p.display()),
            );
            continue;
        }
        let out = run(&["analyze", "-f", "json", p.to_str().unwrap()]);
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        let got: Vec<u64> = session(&doc, "s1")["data_connections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["packets"].as_u64().unwrap())
            .collect();
        assert_eq!(got, packets, "{name}");
        let k = &doc["captures"][0]["packets"];
        assert_eq!(k["data_segments"], data_segments, "{name}");
        assert_eq!(k["other_tcp_segments"], 0, "{name}");
    }
    let p = public_dir().join("aliawa+saved_pcaps/ftp_active.pcap");
    if p.exists() {
        let out = run(&["analyze", "-f", "json", p.to_str().unwrap()]);
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        let c = &session(&doc, "s1")["data_connections"][0];
        assert_eq!(
            (c["first_frame"].as_u64(), c["last_frame"].as_u64()),
            (Some(33), Some(43))
        );
    }
}
