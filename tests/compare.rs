//! `portmortem compare` on captures taken on both sides of an in-path
//! device: the lab pairs (lab/make-testdata.sh) and hand-built pairs for
//! what the lab cannot make (lab/handmade.py).

mod common;
use common::*;
use serde_json::Value;

/// `compare -f json` on two testdata files (or with explicit sides).
fn compare(args: &[&str]) -> (i32, Value) {
    let mut cmd = bin();
    cmd.args(["compare", "-f", "json"]);
    for a in args {
        if a.ends_with(".pcap") {
            cmd.arg(testdata(a));
        } else {
            cmd.arg(a);
        }
    }
    let out = cmd.output().unwrap();
    let doc = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}); stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), doc)
}

fn lab(case: &str) -> (i32, Value) {
    compare(&[
        &format!("lab-{case}-client.pcap"),
        &format!("lab-{case}-server.pcap"),
    ])
}

fn pair(case: &str) -> (i32, Value) {
    compare(&[
        &format!("pair-{case}-client.pcap"),
        &format!("pair-{case}-server.pcap"),
    ])
}

/// The comparison's own findings (single-capture ones have no `other`).
fn diffs(doc: &Value) -> Vec<&Value> {
    doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f.get("other").is_some())
        .collect()
}

fn diff_rules(doc: &Value) -> Vec<String> {
    let mut v: Vec<String> = diffs(doc)
        .iter()
        .map(|f| f["rule"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

fn the_diff(doc: &Value, rule: &str) -> Value {
    let f: Vec<&Value> = diffs(doc)
        .into_iter()
        .filter(|f| f["rule"] == rule)
        .collect();
    assert_eq!(f.len(), 1, "one {rule}: {:#}", doc["findings"]);
    f[0].clone()
}

fn pair0(doc: &Value) -> &Value {
    assert_eq!(
        doc["pairs"].as_array().unwrap().len(),
        1,
        "{:#}",
        doc["unmatched"]
    );
    &doc["pairs"][0]
}

/// The aligned line whose client-side (else server-side) text starts with `p`.
fn line<'a>(doc: &'a Value, p: &str) -> &'a Value {
    pair0(doc)["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| {
            [&l["client_side"], &l["server_side"]]
                .iter()
                .any(|s| s["text"].as_str().is_some_and(|t| t.starts_with(p)))
        })
        .unwrap_or_else(|| panic!("no aligned line {p}"))
}

fn fr(v: &Value) -> Vec<u64> {
    v["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect()
}

#[test]
fn founding_case_in_place_substitution() {
    let (code, doc) = lab("mangle-vsftpd");
    assert_eq!(code, 1);
    assert_eq!(diff_rules(&doc), vec!["port-octet-mangled"]);
    let f = the_diff(&doc, "port-octet-mangled");
    assert_eq!(f["signature"]["id"], "checkpoint-ftp-bounce-227");
    assert_contains(
        &message(&f),
        &[
            "`PORT 198,51,100,60,125,227` at the client-side tap arrived as `PORT 198,51,100,60,125,22_` at the server-side tap",
            "octet 6 `227`→`22_`",
            "byte at offset 25 changed from '7' (0x37) to '_' (0x5F) (same length)",
            "not a NAT rewrite (the TCP sequence offset between the taps did not change)",
            "Check Point",
            "data port 32227 became unusable",
        ],
    );
    let l = line(&doc, "PORT");
    assert_eq!(l["status"], "modified");
    // One event: what each tap said of the line alone (the wrong data
    // port at the client side, the malformed line at the server side,
    // each with the transfer that failed for it) is folded into it, with
    // its frames.
    assert_eq!(
        related(&f),
        vec![
            "port-silently-truncated",
            "transfer-failed",
            "port-mangled-received",
            "transfer-failed"
        ]
    );
    assert_eq!(related_of(&f, "port-mangled-received")["capture"], 1);
    assert!(frames(&f).starts_with(&fr(&l["client_side"])));
    assert!(fr(&f["other"]).starts_with(&fr(&l["server_side"])));
    assert_eq!(f["actor"], "path");
    assert_eq!(f["proof"]["kind"], "two-taps");
    assert!(
        doc["findings"].as_array().unwrap().len() == 1,
        "one finding in all"
    );
    assert_eq!(f["other"]["capture"], 1);
    let p = pair0(&doc);
    assert_eq!(p["tcp"]["same_connection"], true);
    assert!(p["tcp"]["steps"].as_array().unwrap().is_empty());
    // Data connections on both sides: the server went to 32022.
    let d = &p["data"][0];
    assert_eq!(d["client_side"]["announced"], "198.51.100.60:32227");
    assert_eq!(d["client_side"]["verdict"], "wrong-endpoint");
    assert_eq!(d["server_side"]["announced"], "198.51.100.60:32022");
    assert_eq!(
        d["server_side"]["connection"]["acceptor"],
        "198.51.100.60:32022"
    );
    // Sides inferred from the TTLs.
    assert_eq!(doc["sides"]["inferred"], true);
    assert_contains(
        doc["sides"]["explanation"].as_str().unwrap(),
        &["first capture is the client side", "TTL 64"],
    );
}

#[test]
fn founding_case_with_an_echoing_server_and_file_names() {
    let (_, doc) = lab("mangle-inetutils");
    assert_eq!(diff_rules(&doc), vec!["port-octet-mangled"]);
    let (_, doc) = lab("mangle-inetutils-name");
    assert_eq!(diff_rules(&doc), vec!["string-227-mangled"]);
    assert_contains(
        &message(&the_diff(&doc, "string-227-mangled")),
        &["`RETR TEST227.DAT` arrived as `RETR TEST22_.DAT`"],
    );
}

#[test]
fn sides_given_or_swapped() {
    // Given in the wrong order on purpose: the inference corrects it.
    let (_, doc) = compare(&[
        "lab-mangle-vsftpd-server.pcap",
        "lab-mangle-vsftpd-client.pcap",
    ]);
    assert_contains(
        doc["sides"]["explanation"].as_str().unwrap(),
        &["second capture is the client side"],
    );
    assert!(
        doc["captures"][0]["path"]
            .as_str()
            .unwrap()
            .ends_with("client.pcap")
    );
    assert_eq!(diff_rules(&doc), vec!["port-octet-mangled"]);
    // Given explicitly: taken as said.
    let c = testdata("lab-proxy-passive-client.pcap");
    let s = testdata("lab-proxy-passive-server.pcap");
    let (_, doc) = compare(&[
        "--client-side",
        c.to_str().unwrap(),
        "--server-side",
        s.to_str().unwrap(),
    ]);
    assert_eq!(doc["sides"]["inferred"], false);
    assert!(
        doc["captures"][0]["path"]
            .as_str()
            .unwrap()
            .ends_with("client.pcap")
    );
}

#[test]
fn kernel_nat_alg_rewrite_and_sequence_step() {
    for case in ["alg-active", "alg-eprt"] {
        let (code, doc) = lab(case);
        assert_eq!(code, 0, "{case}");
        // The sequence step is the rewrite's own consequence: one event.
        assert_eq!(diff_rules(&doc), vec!["alg-rewrite"], "{case}");
        let f = the_diff(&doc, "alg-rewrite");
        assert_eq!(related(&f), vec!["seq-offset-step"], "{case}");
        assert_eq!(f["severity"], "info");
        assert_contains(
            &message(&f),
            &[
                "rewritten to",
                "203.0.113.1",
                "consistently with the NAT mapping of the control connection (198.51.100.60 → 203.0.113.1)",
                "numbers only",
                "length -2",
                "went to the rewritten endpoint",
            ],
        );
        let st = related_of(&f, "seq-offset-step");
        assert_contains(
            st["message"].as_str().unwrap(),
            &["client→server", "stepped from +0 to -2 (-2)"],
        );
        let p = pair0(&doc);
        assert_eq!(p["client_endpoint"]["translated"], true);
        assert_eq!(
            p["client_endpoint"]["server_side"]
                .as_str()
                .unwrap()
                .split(':')
                .next(),
            Some("203.0.113.1")
        );
        assert_eq!(p["tcp"]["steps"][0]["after"], -2);
        let d = &p["data"][0];
        assert_eq!(d["client_side"]["verdict"], "connected");
        assert_eq!(d["server_side"]["verdict"], "connected");
    }
    let (_, doc) = lab("alg-active");
    assert_eq!(
        the_diff(&doc, "alg-rewrite")["diff"]["edits"][0]["from"],
        "198,51,100,60"
    );
    assert_eq!(
        the_diff(&doc, "alg-rewrite")["diff"]["edits"][0]["to"],
        "203,0,113,1"
    );
}

#[test]
fn clean_pairs_yield_no_false_differences() {
    for case in [
        "mangle-clean",
        "alg-passive",
        "alg-epsv",
        "proxy-passive",
        "malformed",
        "pasv-private",
        "tls",
        "abort",
        "port-8884",
        // The client's own malformed lines through a plain router.
        "sent-malformed-vsftpd",
        "sent-malformed-inetutils",
    ] {
        let (_, doc) = lab(case);
        assert!(diffs(&doc).is_empty(), "{case}: {:#}", doc["findings"]);
        let c = &pair0(&doc)["counts"];
        assert_eq!(
            (
                c["modified"].as_u64(),
                c["dropped"].as_u64(),
                c["injected"].as_u64()
            ),
            (Some(0), Some(0), Some(0)),
            "{case}"
        );
        assert!(
            doc["unmatched"]["client_side"]
                .as_array()
                .unwrap()
                .is_empty(),
            "{case}"
        );
    }
}

#[test]
fn split_port_dropped_by_the_alg() {
    let (code, doc) = lab("alg-split-port");
    assert_eq!(code, 1);
    assert_eq!(diff_rules(&doc), vec!["alg-drop-suspected"]);
    let f = the_diff(&doc, "alg-drop-suspected");
    assert_contains(
        &message(&f),
        &[
            "`PORT 198,51,100,60,156,64`",
            "retransmitted",
            "never reached the server-side tap",
            "split across 2 segments",
        ],
    );
    let l = line(&doc, "PORT");
    assert_eq!(l["status"], "dropped");
    assert!(
        l["segment_notes"][0]
            .as_str()
            .unwrap()
            .starts_with("retransmitted")
    );
    // The segment by its own bytes (tshark: client-side frame 18, Len=15)
    // and the half that did arrive (server-side frame 17, `,60,156,64`),
    // with the server's ACK that stopped before the rest (frame 18).
    assert_contains(
        &message(&f),
        &[
            "the segment carrying `PORT 198,51,100` (15 bytes of `PORT 198,51,100,60,156,64`, frame 18",
            "of the line only `,60,156,64\\r\\n` reached the server-side tap (frame 17)",
            "the server's ACK in frame 18, sent after it, stopped before the missing bytes",
        ],
    );
    assert_eq!(f["other"]["frames"], serde_json::json!([17, 18]));
    assert_eq!(f["actor"], "path");
    // One event: the server-side tap's hole (the path's, by the server's
    // ACK) is a fact of this finding, not an info of its own.
    let gap = f["related"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == "tcp-gap")
        .unwrap_or_else(|| panic!("{f}"));
    assert_eq!(
        (gap["capture"].as_u64(), gap["actor"].as_str()),
        (Some(1), Some("path"))
    );
    assert_eq!(
        doc["summary"]["findings_by_severity"],
        serde_json::json!({"error": 1})
    );
    // Never an empty frame list at the other tap.
    let out = run(&[
        "compare",
        testdata("lab-alg-split-port-client.pcap").to_str().unwrap(),
        testdata("lab-alg-split-port-server.pcap").to_str().unwrap(),
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains("frames )"), "{text}");
    assert!(text.contains("server-side s1, frames 17, 18)"), "{text}");
}

/// The kernel helper only parses a line at the start of a segment: a PORT
/// after `NOOP` in the same segment crosses the NAT untranslated, which
/// `probe` calls "not translated" and compare must call the same.
#[test]
fn a_port_the_alg_did_not_translate() {
    let (code, doc) = lab("alg-pipelined-port");
    assert_eq!(code, 0, "warnings only");
    assert_eq!(diff_rules(&doc), vec!["alg-not-translated"]);
    let f = the_diff(&doc, "alg-not-translated");
    assert_contains(
        &message(&f),
        &[
            "`PORT 198,51,100,60,156,64` crossed the NAT unchanged",
            "still names 198.51.100.60:40000",
            "sees that host as 203.0.113.1",
        ],
    );
    assert_eq!(line(&doc, "PORT")["status"], "identical");
}

/// A client on a private address behind a NAT without the FTP helper:
/// its EPRT and its PORT both cross unchanged, naming 10.0.0.60.
#[test]
fn a_private_eprt_and_port_the_nat_did_not_translate() {
    let (_, doc) = lab("private-eprt");
    assert_eq!(
        diff_rules(&doc),
        vec!["alg-not-translated", "alg-not-translated"]
    );
    for l in ["EPRT |1|10.0.0.60|40000|", "PORT 10,0,0,60,156,64"] {
        assert_eq!(line(&doc, l)["status"], "identical", "{l}");
    }
    let m: Vec<String> = diffs(&doc).iter().map(|f| message(f)).collect();
    assert!(m.iter().all(|m| m.contains("still names 10.0.0.60:40000")));
}

#[test]
fn mangled_port_dropped_by_the_alg() {
    let (_, doc) = lab("mangle-alg");
    let f = the_diff(&doc, "alg-drop-suspected");
    assert_contains(
        &message(&f),
        &[
            "`PORT 198,51,100,60,125,227`",
            "never reached the server-side tap",
            "227→22_",
        ],
    );
}

#[test]
fn proxy_mode_firewall_two_tcp_connections() {
    let (_, doc) = lab("proxy-passive");
    let p = pair0(&doc);
    assert_eq!(p["tcp"]["same_connection"], false);
    assert_ne!(p["tcp"]["seq_offset_to_server"], 0);
    assert_eq!(p["client_endpoint"]["translated"], true);
    assert_contains(
        doc["sides"]["explanation"].as_str().unwrap(),
        &["could not tell"],
    );
}

#[test]
fn known_clock_offset_is_recovered() {
    let (_, doc) = lab("clock-offset");
    let k = &pair0(&doc)["clock"];
    let off = k["offset_secs"].as_f64().unwrap();
    let unc = k["uncertainty_secs"].as_f64().unwrap();
    assert!((off - 3.25).abs() < 0.001, "{off}");
    assert!(unc < 0.001, "{unc}");
    assert!(
        (off - 3.25).abs() <= unc + 1e-6,
        "the true offset lies in the stated interval"
    );
    let lat = &pair0(&doc)["latency_to_server"];
    assert!(lat["median_secs"].as_f64().unwrap() < 0.01);
    // The unshifted pair: about zero.
    let (_, doc) = lab("alg-passive");
    assert!(pair0(&doc)["clock"]["offset_secs"].as_f64().unwrap().abs() < 0.001);
}

#[test]
fn pasv_rewritten_to_p_at_sw() {
    let (_, doc) = pair("smc");
    let f = the_diff(&doc, "verb-rewritten");
    assert_eq!(f["signature"]["id"], "smc-barricade-pasv");
    assert_contains(
        &message(&f),
        &["the client sent `PASV` but the server received `P@SW`"],
    );
}

#[test]
fn firewall_answers_auth_tls_itself() {
    let (_, doc) = pair("auth-refused");
    assert_eq!(
        diff_rules(&doc),
        vec!["command-swallowed", "reply-injected"]
    );
    assert_contains(
        &message(&the_diff(&doc, "reply-injected")),
        &["`500 Access Denied`", "ISA/TMG"],
    );
    assert_contains(
        &message(&the_diff(&doc, "command-swallowed")),
        &["`AUTH TLS`"],
    );
    assert_eq!(pair0(&doc)["tcp"]["same_connection"], false);
}

#[test]
fn passive_converted_to_active() {
    let (_, doc) = pair("mode");
    assert_eq!(diff_rules(&doc), vec!["mode-converted"]);
    assert_contains(
        &message(&the_diff(&doc, "mode-converted")),
        &[
            "the client sent PASV but the server received PORT",
            "passive to active",
            "227 Entering Passive Mode",
            "200 PORT",
        ],
    );
}

#[test]
fn syst_masked_confirmed_by_both_taps() {
    let (_, doc) = pair("syst");
    let f = the_diff(&doc, "syst-masked");
    assert_eq!(f["severity"], "info");
    assert_eq!(f["signature"]["id"], "cisco-asa-mask-syst-reply");
}

#[test]
fn pasv_reply_mangled_on_the_way_to_the_client() {
    let (_, doc) = pair("pasv-mangled");
    let f = the_diff(&doc, "pasv-reply-mangled");
    assert_contains(
        &message(&f),
        &["at the server-side tap arrived as", "octet 6 `80`→`8_`"],
    );
}

#[test]
fn alg_rewrite_the_data_connection_did_not_follow() {
    let (code, doc) = pair("alg-inconsistent");
    assert_eq!(code, 1);
    let f = the_diff(&doc, "alg-rewrite-inconsistent");
    assert_contains(
        &message(&f),
        &["octet 6 `64`→`65`", "went to 203.0.113.1:40000 instead"],
    );
}

#[test]
fn text_output_side_by_side() {
    let out = run(&[
        "compare",
        testdata("lab-alg-active-client.pcap").to_str().unwrap(),
        testdata("lab-alg-active-server.pcap").to_str().unwrap(),
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_contains(
        &text,
        &[
            "Session s1 at the client-side tap = s1 at the server-side tap",
            "(translated)",
            "sequence offset (client→server) stepped +0 → -2",
            "≠ modified",
            "Data connections",
            "Differences between the taps",
            "alg-rewrite",
        ],
    );
}

#[test]
fn compare_usage_errors() {
    assert_eq!(
        run(&[
            "compare",
            testdata("lab-abort-client.pcap").to_str().unwrap()
        ])
        .status
        .code(),
        Some(2)
    );
    assert_eq!(
        run(&["compare", "/nonexistent/a.pcap", "/nonexistent/b.pcap"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn wrong_pairs_of_files_are_refused_not_compared() {
    use portmortem::analysis::{Options, analyze_path};
    use portmortem::compare::{Roles, compare_results};
    use portmortem::rules::Severity;
    let opts = Options::default();
    let names = pair_names();
    assert!(names.len() >= 20, "{names:?}");
    let load = |n: &String, side: &str| {
        analyze_path(&testdata(&format!("{n}-{side}.pcap")), &opts).unwrap()
    };
    let clients: Vec<_> = names.iter().map(|n| load(n, "client")).collect();
    let servers: Vec<_> = names.iter().map(|n| load(n, "server")).collect();
    let (mut refused, mut checked) = (0, 0);
    for (i, x) in names.iter().enumerate() {
        for (j, y) in names.iter().enumerate() {
            // lab-clock-offset is lab-alg-passive with its clock shifted:
            // the same traffic, rightly matched.
            let same = |p: &str, q: &str| (x == p && y == q) || (x == q && y == p);
            if x == y || same("lab-alg-passive", "lab-clock-offset") {
                continue;
            }
            let c = compare_results(clients[i].clone(), servers[j].clone(), Roles::Infer);
            checked += 1;
            let loud: Vec<_> = c
                .findings
                .iter()
                .filter(|f| f.severity >= Severity::Warning)
                .map(|f| f.rule)
                .collect();
            assert!(loud.is_empty(), "{x} vs {y}: {loud:?}");
            assert!(c.pairs.is_empty(), "{x} vs {y}: paired");
            if c.no_common_traffic.is_some() {
                refused += 1;
            }
        }
    }
    assert_eq!(
        refused, checked,
        "every wrong pair says it shares no traffic"
    );
}

#[test]
fn a_wrong_pair_of_files_exits_2_and_says_why() {
    let (code, doc) = compare(&["lab-mangle-vsftpd-client.pcap", "lab-tls-server.pcap"]);
    assert_eq!(code, 2);
    assert!(doc["findings"].as_array().unwrap().is_empty());
    assert!(doc["pairs"].as_array().unwrap().is_empty());
    assert_contains(
        doc["no_common_traffic"].as_str().unwrap(),
        &["their times do not overlap", "s after the end of the first"],
    );
    // The matched pairs say what they rest on.
    let (_, doc) = lab("mangle-vsftpd");
    assert_eq!(pair0(&doc)["matched"]["evidence"], "same-connection");
    assert_eq!(pair0(&doc)["matched"]["confidence"], "certain");
    let (_, doc) = lab("proxy-passive");
    assert_eq!(pair0(&doc)["matched"]["evidence"], "same-dialogue");
    assert_eq!(pair0(&doc)["matched"]["confidence"], "medium");
}

#[test]
fn capture_loss_on_a_clean_path_is_never_called_device_action() {
    use portmortem::compare::{Roles, compare_results};
    use portmortem::rules::Severity;
    let (mut runs, mut losses) = (0, 0);
    for case in [
        "mangle-clean",
        "alg-passive",
        "alg-active",
        "alg-epsv",
        "alg-eprt",
        "proxy-passive",
        "pasv-private",
        "tls",
        "port-8884",
        "clock-offset",
    ] {
        let c = std::fs::read(testdata(&format!("lab-{case}-client.pcap"))).unwrap();
        let s = std::fs::read(testdata(&format!("lab-{case}-server.pcap"))).unwrap();
        // Every single frame lost at one tap or the other, and every
        // third frame lost at each.
        let total = |p: &[u8]| {
            let n = std::cell::Cell::new(0u64);
            without_frames(p, &|_| {
                n.set(n.get() + 1);
                false
            });
            n.get()
        };
        let (nc, ns) = (total(&c), total(&s));
        let mut variants: Vec<(String, Vec<u8>, Vec<u8>)> = Vec::new();
        for k in 1..=nc {
            variants.push((
                format!("client-side frame {k}"),
                without_frames(&c, &|n| n == k),
                s.clone(),
            ));
        }
        for k in 1..=ns {
            variants.push((
                format!("server-side frame {k}"),
                c.clone(),
                without_frames(&s, &|n| n == k),
            ));
        }
        // About one frame in 16 lost at both taps at once, as busy taps do.
        let lossy = |seed: u64| {
            move |n: u64| {
                (n.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ seed)
                    .rotate_left(17)
                    .is_multiple_of(16)
            }
        };
        for seed in 0..8u64 {
            variants.push((
                format!("1/16 at both taps, seed {seed}"),
                without_frames(&c, &lossy(seed)),
                without_frames(&s, &lossy(seed + 100)),
            ));
        }
        for phase in 0..3 {
            variants.push((
                format!("client-side every 3rd from {phase}"),
                without_frames(&c, &|n| n % 3 == phase),
                s.clone(),
            ));
            variants.push((
                format!("server-side every 3rd from {phase}"),
                c.clone(),
                without_frames(&s, &|n| n % 3 == phase),
            ));
        }
        let whole = compare_results(
            analyze_bytes("client", c.clone()),
            analyze_bytes("server", s.clone()),
            Roles::Given,
        );
        let intact: std::collections::BTreeSet<_> = whole
            .results
            .iter()
            .flat_map(|r| r.findings.iter())
            .filter(|f| f.severity >= Severity::Warning)
            .map(|f| f.rule)
            .collect();
        for (what, cb, sb) in variants {
            let cmp = compare_results(
                analyze_bytes("client", cb),
                analyze_bytes("server", sb),
                Roles::Given,
            );
            runs += 1;
            losses += cmp
                .findings
                .iter()
                .filter(|f| f.rule == portmortem::rules::Rule::CaptureLoss)
                .count();
            // Nothing loud from the comparison, nor from either capture
            // beyond what the whole capture says on its own.
            let loud: Vec<String> = cmp
                .findings
                .iter()
                .chain(cmp.results.iter().flat_map(|r| r.findings.iter()))
                .filter(|f| f.severity >= Severity::Warning && !intact.contains(&f.rule))
                .map(|f| format!("{}: {}", f.rule, f.message))
                .collect();
            assert!(loud.is_empty(), "{case}, {what} lost:\n{}", loud.join("\n"));
        }
    }
    eprintln!("{runs} lossy comparisons, {losses} lines reported as capture loss");
    assert!(losses > 0, "the loss is reported as such");
}

/// Past the memory budget, which sessions each capture keeps is decided by
/// what the capture holds, not by the process's heap: the two captures are
/// read at once, and the report must not depend on how their threads'
/// allocations interleave (it did: a session more or less from run to run).
#[test]
fn past_the_budget_the_same_captures_give_the_same_report() {
    let dir = temp_dir("compare-budget");
    let path = many_sessions(&dir, 600);
    let p = path.to_str().unwrap();
    let run = || {
        let out = bin()
            .args(["compare", "-f", "json", "--max-memory-mb", "8", p, p])
            .output()
            .unwrap();
        assert!(out.status.code().is_some_and(|c| c < 2), "{out:?}");
        out.stdout
    };
    let first = run();
    let doc: serde_json::Value = serde_json::from_slice(&first).unwrap();
    for c in doc["captures"].as_array().unwrap() {
        let not_kept = c["sessions_not_kept"].as_u64().unwrap();
        assert!(not_kept > 0, "the budget was not reached: {c}");
    }
    for _ in 0..4 {
        assert!(run() == first, "two runs gave different reports");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A proxy's two taps whose clocks differ by a minute share no TCP
/// connection to measure that from: look-alike dialogues a minute apart
/// are refused, unless the user gives the offset.
#[test]
fn a_given_clock_offset_pairs_taps_whose_clocks_differ() {
    let dir = temp_dir("clock-offset-given");
    let server = dir.join("server-late.pcap");
    let bytes = std::fs::read(testdata("pair-mode-server.pcap")).unwrap();
    std::fs::write(&server, shifted(&bytes, 60)).unwrap();
    let client = testdata("pair-mode-client.pcap");
    let run_with = |extra: &[&str]| {
        let mut args = vec!["compare", "-f", "json"];
        args.extend_from_slice(extra);
        args.extend([client.to_str().unwrap(), server.to_str().unwrap()]);
        let out = run(&args);
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        (out.status.code(), doc)
    };
    let (code, doc) = run_with(&[]);
    assert_eq!(code, Some(2), "{doc}");
    assert!(doc["pairs"].as_array().unwrap().is_empty());
    let (code, doc) = run_with(&["--clock-offset", "60"]);
    assert_eq!(code, Some(0), "{doc}");
    assert_eq!(doc["pairs"].as_array().unwrap().len(), 1);
    assert_eq!(doc["options"]["clock_offset"], "60");
    assert!(
        doc["pairs"][0]["matched"]["explanation"]
            .as_str()
            .unwrap()
            .contains("given clock offset"),
        "{doc}"
    );
    assert!(rules(&doc).contains(&"mode-converted".to_string()));
    // The wrong way round: still a minute apart.
    let (code, _) = run_with(&["--clock-offset", "-60"]);
    assert_eq!(code, Some(2));
}

/// `compare -f json --no-hash --max-memory-mb MB A B`.
fn compare_with_budget_run(mb: &str, a: &str, b: &str) -> std::process::Output {
    run(&[
        "compare",
        "-f",
        "json",
        "--no-hash",
        "--max-memory-mb",
        mb,
        a,
        b,
    ])
}

/// [`compare_with_budget_run`]'s document.
fn compare_with_budget(mb: &str, a: &str, b: &str) -> Value {
    serde_json::from_slice(&compare_with_budget_run(mb, a, b).stdout).unwrap()
}

/// Past the memory budget every session is still compared (matched and
/// compared as the captures are read): the pairs are those of a
/// comparison with room for everything, only the report's session
/// listing stops at the budget (and says so).
#[test]
fn every_session_is_compared_past_the_budget() {
    let dir = temp_dir("compare-budget");
    let many = many_sessions(&dir, 600);
    let p = many.to_str().unwrap();
    let json = |mb: &str| compare_with_budget(mb, p, p);
    let (tight, roomy) = (json("1"), json("4096"));
    for doc in [&tight, &roomy] {
        assert_eq!(
            doc["captures"][0]["packets"]["sessions"], 600,
            "{}",
            doc["captures"][0]
        );
        assert_eq!(doc["pairs"].as_array().unwrap().len(), 600);
        assert_eq!(doc["unmatched"]["client_side"].as_array().unwrap().len(), 0);
        assert_eq!(doc["unmatched"]["server_side"].as_array().unwrap().len(), 0);
        assert!(
            doc["unmatched"].get("not_compared").is_none(),
            "{}",
            doc["unmatched"]
        );
    }
    // The budget did bite: fewer sessions listed whole.
    let listed = |d: &Value| d["sessions"].as_array().unwrap().len();
    assert!(
        listed(&tight) < listed(&roomy),
        "{} {}",
        listed(&tight),
        listed(&roomy)
    );
    assert!(tight["captures"][0]["sessions_not_kept"].as_u64().unwrap() > 0);
    // The same pairs (each session with its own counterpart, on the same
    // evidence). Their lines may differ where the engine had to evict a
    // live flow under the tight budget (counted in flows_evicted_for_memory).
    let pairing = |d: &Value| {
        let mut v: Vec<(String, String, String)> = d["pairs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| {
                let s = |k: &str| x[k].as_str().unwrap_or_default().to_string();
                (
                    s("client_side_session"),
                    s("server_side_session"),
                    x["matched"]["evidence"].to_string(),
                )
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(pairing(&tight), pairing(&roomy));
    assert!(pairing(&tight).iter().all(|(c, s, _)| c == s));
    // Every line is either listed or counted as not listed (a pair in
    // which nothing differs, past the budget).
    for p in tight["pairs"].as_array().unwrap() {
        let c = &p["counts"];
        let all: u64 = [
            "identical",
            "modified",
            "dropped",
            "injected",
            "not_captured",
        ]
        .iter()
        .map(|k| c[*k].as_u64().unwrap())
        .sum();
        let listed = p["lines"].as_array().unwrap().len() as u64;
        assert_eq!(
            listed + p["lines_not_listed"].as_u64().unwrap_or(0),
            all,
            "{}",
            p["client_side_session"]
        );
    }
    assert!(tight["pairs"][0]["lines_not_listed"].as_u64().unwrap() > 0);
    // Within the budget nothing is said.
    let (_, small) = {
        let a = testdata("lab-alg-active-client.pcap");
        let b = testdata("lab-alg-active-server.pcap");
        let o = run(&[
            "compare",
            "-f",
            "json",
            a.to_str().unwrap(),
            b.to_str().unwrap(),
        ]);
        (0, serde_json::from_slice::<Value>(&o.stdout).unwrap())
    };
    assert!(small["unmatched"].get("not_compared").is_none());
}

/// Two taps of a 227→22_ mangler, their control connection copied 400
/// times at each: past the memory budget (compared as read, in windows)
/// every copy is paired with its own counterpart, the sides are inferred
/// the same, and the findings are those of the comparison with room for
/// everything.
#[test]
fn two_taps_past_the_budget_compare_as_within_it() {
    let dir = temp_dir("compare-two-taps-budget");
    let (c, s) = (dir.join("client.pcap"), dir.join("server.pcap"));
    std::fs::write(&c, replicated("lab-mangle-vsftpd-client.pcap", 400)).unwrap();
    std::fs::write(&s, replicated("lab-mangle-vsftpd-server.pcap", 400)).unwrap();
    let json = |mb: &str| compare_with_budget(mb, c.to_str().unwrap(), s.to_str().unwrap());
    // 8 MiB: past the share for kept sessions, not so tight that the
    // engine must evict live flows (which would cut sessions short). The
    // budget counts the whole process's heap, both readers and the
    // matcher, so how far the readers run apart on a loaded machine moves
    // the peak: 3 MiB evicted a flow in one run of several under load.
    let (tight, roomy) = (json("8"), json("4096"));
    assert!(
        tight["captures"][0]["sessions_not_kept"].as_u64().unwrap() > 0,
        "the budget did not bite"
    );
    assert_eq!(
        tight["captures"][0]["packets"]["flows_evicted_for_memory"],
        0
    );
    for d in [&tight, &roomy] {
        assert_eq!(d["pairs"].as_array().unwrap().len(), 400);
        assert_eq!(d["unmatched"]["client_side"].as_array().unwrap().len(), 0);
        assert_eq!(d["unmatched"]["server_side"].as_array().unwrap().len(), 0);
        assert!(d["unmatched"].get("not_compared").is_none());
    }
    assert_eq!(tight["sides"], roomy["sides"]);
    let by_rule = |d: &Value| {
        let mut v: Vec<(String, String)> = d["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f.get("other").is_some_and(|o| !o.is_null()))
            .map(|f| (f["rule"].to_string(), f["message"].to_string()))
            .collect();
        v.sort();
        v
    };
    let (t, r) = (by_rule(&tight), by_rule(&roomy));
    assert_eq!(r.len(), 400);
    let differ = t.iter().zip(&r).filter(|(a, b)| a != b).count();
    assert!(
        t.len() == r.len() && differ == 0,
        "{} and {} findings, {differ} differ",
        t.len(),
        r.len()
    );
    // Each copy with its own: the client port at both taps agrees.
    for p in tight["pairs"].as_array().unwrap() {
        let port = |k: &str| {
            p["client_endpoint"][k]
                .as_str()
                .unwrap()
                .rsplit(':')
                .next()
                .unwrap()
                .to_string()
        };
        assert_eq!(
            port("client_side"),
            port("server_side"),
            "{}",
            p["client_side_session"]
        );
    }
}

/// Two unrelated captures past the budget: nothing pairs, and the refusal
/// says so without itemising reasons from sessions no longer held (it
/// must not claim a capture holds no FTP session).
#[test]
fn unrelated_captures_past_the_budget_are_refused_truthfully() {
    let dir = temp_dir("compare-unrelated-budget");
    let (a, b) = (dir.join("a.pcap"), dir.join("b.pcap"));
    std::fs::write(&a, replicated("lab-mangle-clean-client.pcap", 400)).unwrap();
    std::fs::write(
        &b,
        shifted(&replicated("lab-mangle-vsftpd-server.pcap", 400), 86_400),
    )
    .unwrap();
    let out = compare_with_budget_run("3", a.to_str().unwrap(), b.to_str().unwrap());
    assert_eq!(out.status.code(), Some(2));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        doc["captures"][0]["sessions_not_kept"].as_u64().unwrap() > 0,
        "the budget did not bite"
    );
    let why = doc["no_common_traffic"].as_str().unwrap();
    assert!(
        why.contains("none of the 400 and 400 sessions matched"),
        "{why}"
    );
    assert!(!why.contains("no FTP session"), "{why}");
    assert_eq!(doc["pairs"].as_array().unwrap().len(), 0);
}

/// `copies` copies of a testdata capture's control connection, each from
/// client port 20000 + i, i seconds later and with its own initial
/// sequence numbers (as real connections have), without the frames
/// `lose(copy, k)` names (k counts the connection's frames from 0): a
/// busy tap that missed them.
fn connections(name: &str, copies: u16, lose: &dyn Fn(u16, usize) -> bool) -> Vec<u8> {
    let one = std::fs::read(testdata(name)).unwrap();
    let mut control = Vec::new();
    let mut at = 24;
    while at + 16 <= one.len() {
        let caplen = u32::from_le_bytes(one[at + 8..at + 12].try_into().unwrap()) as usize;
        let head = one[at..at + 16].to_vec();
        let frame = one[at + 16..at + 16 + caplen].to_vec();
        at += 16 + caplen;
        let tcp = 14 + usize::from(frame[14] & 0xf) * 4;
        let port = |o: usize| u16::from_be_bytes([frame[tcp + o], frame[tcp + o + 1]]);
        let (src, dst) = (port(0), port(2));
        if frame[23] == 6 && (src == 21 || dst == 21) {
            control.push((head, frame, src != 21));
        }
    }
    let mut pcap = pcap_header();
    for i in 0..copies {
        let (dc, ds) = (
            u32::from(i).wrapping_mul(0x9e37_79b9),
            u32::from(i).wrapping_mul(0x85eb_ca6b),
        );
        for (k, (head, frame, from_client)) in control.iter().enumerate() {
            if lose(i, k) {
                continue;
            }
            let mut f = frame.clone();
            let tcp = 14 + usize::from(f[14] & 0xf) * 4;
            let port_at = if *from_client { tcp } else { tcp + 2 };
            f[port_at..port_at + 2].copy_from_slice(&(20000 + i).to_be_bytes());
            let (own, peer) = if *from_client { (dc, ds) } else { (ds, dc) };
            let field = |f: &[u8], o: usize| u32::from_be_bytes(f[o..o + 4].try_into().unwrap());
            let (seq, ack) = (field(&f, tcp + 4), field(&f, tcp + 8));
            f[tcp + 4..tcp + 8].copy_from_slice(&seq.wrapping_add(own).to_be_bytes());
            if f[tcp + 13] & 0x10 != 0 {
                f[tcp + 8..tcp + 12].copy_from_slice(&ack.wrapping_add(peer).to_be_bytes());
            }
            let mut h = head.clone();
            let t = u32::from_le_bytes(h[..4].try_into().unwrap()) + u32::from(i);
            h[..4].copy_from_slice(&t.to_le_bytes());
            pcap.extend_from_slice(&h);
            pcap.extend_from_slice(&f);
        }
    }
    pcap
}

/// Two taps of the 227→22_ mangler, 1,500 connections each; the
/// server-side tap missed the first 8 packets of connection 701 (its
/// handshake, the banner, USER and the 230). Those lines are the tap's
/// loss, judged from that connection's own ACKs at that tap, counted as
/// not captured (never as dropped or injected), and said at the
/// connection's own stream offsets; cut out with `extract` and compared
/// alone, the session says the same (nothing comes from a neighbour).
#[test]
fn a_connection_one_tap_picked_up_late_is_that_taps_loss() {
    let dir = temp_dir("compare-late-tap");
    let (c, s) = (dir.join("client.pcap"), dir.join("server.pcap"));
    std::fs::write(
        &c,
        connections("lab-mangle-vsftpd-client.pcap", 1500, &|_, _| false),
    )
    .unwrap();
    std::fs::write(
        &s,
        connections("lab-mangle-vsftpd-server.pcap", 1500, &|i, k| {
            i == 700 && k < 8
        }),
    )
    .unwrap();
    let judge = |doc: &Value, sid: &str| {
        let p = doc["pairs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["client_side_session"] == sid)
            .unwrap_or_else(|| panic!("no pair for {sid}"))
            .clone();
        let losses: Vec<String> = doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["session"] == sid && f["rule"] == "capture-loss")
            .map(message)
            .collect();
        (p, losses)
    };
    let whole = compare_with_budget("4096", c.to_str().unwrap(), s.to_str().unwrap());
    let (p, losses) = judge(&whole, "s701");
    assert_eq!(
        p["counts"],
        serde_json::json!({"identical": 7, "modified": 1, "dropped": 0, "injected": 0, "not_captured": 3}),
        "{p}"
    );
    assert_eq!(losses.len(), 3, "{losses:?}");
    // The connection's own offsets (tshark on the client-side tap, which
    // holds the SYN: the banner ends at relative seq 28, the client's
    // last ACK is 185; USER ends at 17, the server's last ACK is 76, the
    // client's FIN at 75), not counted from the first byte the
    // server-side tap saw (the 200 at offset 50, TYPE I at 16).
    let banner = losses.iter().find(|m| m.starts_with("`220 ")).unwrap();
    assert_contains(
        banner,
        &[
            "the server-side tap captured this direction only from offset 50 on",
            "the client acknowledged the stream there up to offset 184",
            "past offset 27 where the line ends",
        ],
    );
    let user = losses.iter().find(|m| m.starts_with("`USER ")).unwrap();
    assert_contains(
        user,
        &[
            "only from offset 16 on",
            "up to offset 74",
            "past offset 16 where the line ends",
        ],
    );
    for m in &losses {
        assert!(!m.contains("``") && !m.contains("frame -"), "{m}");
    }
    // No pair in the whole comparison counts a line as dropped or injected.
    for p in whole["pairs"].as_array().unwrap() {
        assert_eq!(p["counts"]["dropped"], 0, "{p}");
        assert_eq!(p["counts"]["injected"], 0, "{p}");
    }
    // The same session alone.
    let (xc, xs) = (dir.join("one-client.pcapng"), dir.join("one-server.pcapng"));
    for (from, to) in [(&c, &xc), (&s, &xs)] {
        let out = run(&[
            "extract",
            "-s",
            "s701",
            "-o",
            to.to_str().unwrap(),
            from.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{out:?}");
    }
    let alone = compare_with_budget("4096", xc.to_str().unwrap(), xs.to_str().unwrap());
    let (q, alone_losses) = judge(&alone, "s1");
    assert_eq!(q["counts"], p["counts"], "{q}");
    let strip = |m: &str| {
        m.split("(frame")
            .map(|x| x.split_once(')').map_or(x, |(_, rest)| rest))
            .collect::<String>()
    };
    assert_eq!(
        alone_losses.iter().map(|m| strip(m)).collect::<Vec<_>>(),
        losses.iter().map(|m| strip(m)).collect::<Vec<_>>()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
