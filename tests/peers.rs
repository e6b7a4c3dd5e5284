//! What the peers' own test suites say about the FTP traces in
//! `../shared/captures/public`, trace by trace, and whether portmortem
//! agrees — or, where the peer is wrong, why.
//!
//! Sources (read with the search tool, cited here by path):
//! * Zeek: `testing/btest/Baseline/scripts.base.protocols.ftp.*/ftp.log`
//!   (ts, command, arg, reply_code, reply_msg, data_channel.*);
//! * suricata-verify: `tests/*/test.yaml` (eve `ftp` events);
//! * snort3_demo: `tests/inspectors/ftp/server/` (README and snort.lua).

mod common;
use common::*;
use serde_json::Value;

/// One command as the peer logs it: the command line's start, the reply
/// code the peer pairs it with (`None`: no reply), and whether the peer is
/// right. Where it is not, `ours` is what portmortem says and `why`
/// explains.
struct Row {
    command: &'static str,
    peer_reply: Option<u16>,
    ours: Option<u16>,
    why: &'static str,
}

const fn agree(command: &'static str, reply: Option<u16>) -> Row {
    Row {
        command,
        peer_reply: reply,
        ours: reply,
        why: "",
    }
}

struct Trace {
    path: &'static str,
    peer: &'static str,
    rows: &'static [Row],
    /// Data endpoints the peer names (`data_channel.resp_h:resp_p`, eve
    /// `dynamic_port`), as portmortem writes them.
    endpoints: &'static [&'static str],
    /// Replies and commands the peer counts (suricata transactions).
    transactions: Option<usize>,
}

const TRACES: &[Trace] = &[
    Trace {
        path: "zeek+zeek/testing/btest/Traces/ftp/ipv6.pcap",
        peer: "Zeek Baseline scripts.base.protocols.ftp.ftp-ipv6/ftp.log",
        rows: &[
            agree("EPSV", Some(229)),
            agree("EPSV", Some(229)),
            agree("EPSV", Some(229)),
            agree("RETR robots.txt", Some(226)),
            agree(
                "EPRT |2|2001:470:1f11:81f:c999:d94:aa7c:2e3e|49189|",
                Some(200),
            ),
            agree("RETR robots.txt", Some(226)),
            agree(
                "EPRT |2|2001:470:1f11:81f:c999:d94:aa7c:2e3e|49190|",
                Some(200),
            ),
        ],
        endpoints: &[
            "[2001:470:4867:99::21]:57086",
            "[2001:470:4867:99::21]:57087",
            "[2001:470:4867:99::21]:57088",
            "[2001:470:1f11:81f:c999:d94:aa7c:2e3e]:49189",
            "[2001:470:1f11:81f:c999:d94:aa7c:2e3e]:49190",
        ],
        transactions: None,
    },
    Trace {
        path: "zeek+zeek/testing/btest/Traces/ftp/ipv4.pcap",
        peer: "Zeek Baseline scripts.base.protocols.ftp.ftp-ipv4/ftp.log",
        rows: &[
            agree("RETR robots.txt", Some(226)),
            agree("RETR robots.txt", Some(226)),
        ],
        endpoints: &[],
        transactions: None,
    },
    Trace {
        path: "zeek+zeek/testing/btest/Traces/ftp/ftp-invalid-reply-code.pcap",
        peer: "Zeek Baseline scripts.base.protocols.ftp.ftp-invalid-reply-code/ftp.log",
        rows: &[
            agree("USER zeek", Some(230)),
            agree("PASS", Some(230)),
            Row {
                command: "PASV",
                peer_reply: Some(230),
                ours: None,
                why: "Zeek logs PASV with the 230 PASS OK it already gave to PASS: the server's answer `99 PASV invalid` is no reply (two digits), so PASV got none",
            },
        ],
        endpoints: &[],
        transactions: None,
    },
    Trace {
        path: "zeek+zeek/testing/btest/Traces/ftp/ftp-missing-reply-code.pcap",
        peer: "Zeek Baseline scripts.base.protocols.ftp.ftp-missing-reply-code/ftp.log",
        rows: &[
            agree("USER zeek", Some(230)),
            agree("PASS", Some(230)),
            Row {
                command: "SYST",
                peer_reply: Some(230),
                ours: None,
                why: "Zeek logs SYST with the stale 230 PASS OK: the server answered with a line without a code, which no client reads as a reply",
            },
        ],
        endpoints: &[],
        transactions: None,
    },
    Trace {
        path: "OISF+suricata-verify/tests/ftp-epsv/input.pcap",
        peer: "suricata-verify tests/ftp-epsv/test.yaml (ftp.command EPSV, dynamic_port 58612)",
        rows: &[agree("EPSV", Some(229))],
        endpoints: &["192.168.1.231:58612"],
        transactions: None,
    },
    Trace {
        path: "OISF+suricata-verify/tests/bug-8489/bug-8489-02/bug-8489-02.pcap",
        peer: "suricata-verify tests/bug-8489/bug-8489-02/test.yaml (6 ftp transactions: banner, USER, PASS, NOOP, PWD, TYPE)",
        rows: &[
            agree("USER", Some(331)),
            agree("PASS", Some(230)),
            agree("NOOP", Some(200)),
            agree("PWD", Some(257)),
            agree("TYPE I", Some(200)),
        ],
        endpoints: &[],
        transactions: Some(6),
    },
    Trace {
        path: "snort3+snort3_demo/tests/inspectors/ftp/server/ftp_xpwd_cmd.pcap",
        peer: "snort3_demo tests/inspectors/ftp/server: alert 125:2 (invalid FTP command) for xpwd",
        rows: &[Row {
            command: "xpwd",
            peer_reply: None,
            ours: Some(257),
            why: "Snort calls xpwd invalid because its test configuration leaves XPWD out of ftp_cmds; XPWD is RFC 775's PWD and the server answered it with 257",
        }],
        endpoints: &[],
        transactions: None,
    },
];

/// (command text, reply code) for every command, in order.
fn pairs(doc: &Value) -> Vec<(String, Option<u16>)> {
    let mut out = Vec::new();
    for s in doc["sessions"].as_array().unwrap() {
        let d = s["dialogue"].as_array().unwrap();
        for e in d.iter().filter(|e| e["dir"] == "C") {
            let code = e["pairs_with"]
                .as_u64()
                .and_then(|n| d.iter().find(|r| r["n"] == n))
                .and_then(|r| r["code"].as_u64())
                .map(|c| c as u16);
            out.push((e["text"].as_str().unwrap().to_string(), code));
        }
    }
    out
}

#[test]
fn portmortem_agrees_with_the_peers_suites_or_says_why_not() {
    let dir = public_dir();
    if !dir.exists() {
        eprintln!("skipped: {} is absent", dir.display());
        return;
    }
    let mut checked = 0;
    for t in TRACES {
        let path = dir.join(t.path);
        let out = run(&["analyze", "-f", "json", path.to_str().unwrap()]);
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        let ours = pairs(&doc);
        // The peer's rows appear in order among our commands.
        let mut at = 0;
        for row in t.rows {
            let k = ours[at..]
                .iter()
                .position(|(c, _)| c.starts_with(row.command))
                .unwrap_or_else(|| panic!("{}: no `{}` after command {at}", t.path, row.command));
            let (cmd, code) = &ours[at + k];
            assert_eq!(
                *code, row.ours,
                "{} ({}): `{cmd}` pairs with {code:?}, the table says {:?}",
                t.path, t.peer, row.ours
            );
            if row.peer_reply != row.ours {
                assert!(
                    !row.why.is_empty(),
                    "{}: a disagreement needs a reason",
                    t.path
                );
            }
            at += k + 1;
            checked += 1;
        }
        let announced: Vec<String> = doc["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["data_setups"].as_array().unwrap().clone())
            .filter_map(|d| d["endpoint"].as_str().map(str::to_string))
            .collect();
        for ep in t.endpoints {
            assert!(
                announced.iter().any(|a| a == ep),
                "{}: {ep} not among {announced:?}",
                t.path
            );
        }
        if let Some(n) = t.transactions {
            let s = &doc["sessions"][0];
            let commands = s["dialogue"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["dir"] == "C")
                .count();
            // The banner is a transaction of its own for Suricata.
            assert_eq!(commands + 1, n, "{}", t.path);
        }
    }
    eprintln!("{checked} peer rows checked over {} traces", TRACES.len());
}

/// Zeek's ftp.log rows for `ipv6.pcap` (Baseline
/// scripts.base.protocols.ftp.ftp-ipv6/ftp.log): ts, command, reply_code,
/// reply_msg, data_channel.passive, .orig_h, .resp_h, .resp_p. Zeek's
/// `arg` for RETR is a URL it builds from the working directory; ours is
/// the argument as sent, so it is not compared.
const ZEEK_IPV6: &[[&str; 8]] = &[
    [
        "1329327783.207785",
        "EPSV",
        "229",
        "Entering Extended Passive Mode (|||57086|)",
        "T",
        "2001:470:1f11:81f:c999:d94:aa7c:2e3e",
        "2001:470:4867:99::21",
        "57086",
    ],
    [
        "1329327786.415755",
        "EPSV",
        "229",
        "Entering Extended Passive Mode (|||57087|)",
        "T",
        "2001:470:1f11:81f:c999:d94:aa7c:2e3e",
        "2001:470:4867:99::21",
        "57087",
    ],
    [
        "1329327787.180814",
        "EPSV",
        "229",
        "Entering Extended Passive Mode (|||57088|)",
        "T",
        "2001:470:1f11:81f:c999:d94:aa7c:2e3e",
        "2001:470:4867:99::21",
        "57088",
    ],
    [
        "1329327787.396984",
        "RETR",
        "226",
        "Transfer complete.",
        "-",
        "-",
        "-",
        "-",
    ],
    [
        "1329327795.355248",
        "EPRT",
        "200",
        "EPRT command successful.",
        "F",
        "2001:470:4867:99::21",
        "2001:470:1f11:81f:c999:d94:aa7c:2e3e",
        "49189",
    ],
    [
        "1329327795.463946",
        "RETR",
        "226",
        "Transfer complete.",
        "-",
        "-",
        "-",
        "-",
    ],
    [
        "1329327799.799327",
        "EPRT",
        "200",
        "EPRT command successful.",
        "F",
        "2001:470:4867:99::21",
        "2001:470:1f11:81f:c999:d94:aa7c:2e3e",
        "49190",
    ],
];

#[test]
fn the_ftplog_matches_zeeks_rows_line_by_line() {
    let path = public_dir().join("zeek+zeek/testing/btest/Traces/ftp/ipv6.pcap");
    if !path.exists() {
        eprintln!("skipped: {} is absent", path.display());
        return;
    }
    let out = run(&["analyze", "-f", "ftplog", path.to_str().unwrap()]);
    let text = String::from_utf8(out.stdout).unwrap();
    let fields: Vec<&str> = text
        .lines()
        .find_map(|l| l.strip_prefix("#fields\t"))
        .unwrap()
        .split('\t')
        .collect();
    let col = |name: &str| fields.iter().position(|f| *f == name).unwrap();
    let want = [
        "ts",
        "command",
        "reply_code",
        "reply_msg",
        "data_channel.passive",
        "data_channel.orig_h",
        "data_channel.resp_h",
        "data_channel.resp_p",
    ]
    .map(col);
    let rows: Vec<Vec<&str>> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split('\t').collect())
        .collect();
    for z in ZEEK_IPV6 {
        let ours = rows
            .iter()
            .find(|r| r[want[0]] == z[0])
            .unwrap_or_else(|| panic!("no row at {}", z[0]));
        let got: Vec<&str> = want.iter().map(|&i| ours[i]).collect();
        assert_eq!(got, z.to_vec());
    }
}

/// Zeek's ftp-invalid-reply-code: the server answers PASV (frame 14)
/// with `99 PASV invalid` (frame 16, two digits: no reply). The finding
/// says it came in PASV's place, not after the 230 that answered PASS.
#[test]
fn a_line_that_is_no_reply_is_placed_where_a_command_waited() {
    let path = public_dir().join("zeek+zeek/testing/btest/Traces/ftp/ftp-invalid-reply-code.pcap");
    if !path.exists() {
        eprintln!("skipped: {} is absent", path.display());
        return;
    }
    let out = run(&["analyze", "-f", "json", path.to_str().unwrap()]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = the(&doc, "reply-desync");
    assert_contains(
        &message(&f),
        &["`99 PASV invalid` (frame 16) where `PASV` (frame 14) waited for its reply"],
    );
    assert!(!message(&f).contains("after `230"), "{}", message(&f));
}
