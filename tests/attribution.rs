//! Who did it, and how we know (issue #31): the consistency oracle.
//!
//! For every testdata pair, what `compare` proves from the two taps and
//! what `analyze` says of each tap alone must agree: a line the two taps
//! show the same carries no blame of the path in either tap's report; a
//! line that changed between them is one finding in the comparison, not
//! one per tap; and every finding above info says who did it and what
//! proves it, naming frames that exist in its session.

mod common;
use common::*;
use serde_json::Value;

/// Where a line is, at one tap: its direction and stream offset.
fn at(l: &Value, tap: &str) -> Option<(String, u64)> {
    let s = l.get(tap).filter(|s| !s.is_null())?;
    Some((l["dir"].as_str()?.to_string(), s["offset"].as_u64()?))
}

fn about(f: &Value) -> Option<(String, u64)> {
    let a = f.get("about")?;
    Some((a["dir"].as_str()?.to_string(), a["offset"].as_u64()?))
}

/// Frame numbers a sentence names ("frame 17", "frames 13, 14").
fn frames_named(text: &str) -> Vec<u64> {
    let mut out = Vec::new();
    let words: Vec<&str> = text.split_whitespace().collect();
    for (i, w) in words.iter().enumerate() {
        if *w == "frame" || *w == "frames" {
            for n in &words[i + 1..] {
                let digits: String = n.chars().take_while(char::is_ascii_digit).collect();
                let Ok(v) = digits.parse::<u64>() else { break };
                out.push(v);
                if !n.ends_with(',') {
                    break;
                }
            }
        }
    }
    out
}

/// The frames of session `sid` of capture `cap` of a report: its control
/// connection's range, and every data connection's frames.
fn session_frames(doc: &Value, cap: u64, sid: &str) -> (u64, u64) {
    let s = doc["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["capture"].as_u64().unwrap_or(0) == cap && s["id"] == sid)
        .unwrap_or_else(|| panic!("no session {sid} of capture {cap}"));
    let mut lo = s["first_frame"].as_u64().unwrap();
    let mut hi = s["last_frame"].as_u64().unwrap();
    for c in s["data_connections"].as_array().into_iter().flatten() {
        for k in ["syn_frame", "last_frame"] {
            if let Some(f) = c[k].as_u64() {
                lo = lo.min(f);
                hi = hi.max(f);
            }
        }
    }
    (lo, hi)
}

/// Every finding above info names an actor and a proof, and the frames its
/// proof names are of its session (or, for a comparison, of the other
/// tap's session).
fn attributed(name: &str, doc: &Value) {
    for f in doc["findings"].as_array().unwrap() {
        if f["severity"] == "info" {
            continue;
        }
        let rule = f["rule"].as_str().unwrap();
        assert!(f["actor"].is_string(), "{name}: {rule} has no actor");
        let text = f["proof"]["text"].as_str().unwrap_or_default();
        assert!(!text.is_empty(), "{name}: {rule} has no proof");
        let cap = f["capture"].as_u64().unwrap();
        let own = session_frames(doc, cap, f["session"].as_str().unwrap());
        let other = f.get("other").filter(|o| !o.is_null()).map(|o| {
            session_frames(
                doc,
                o["capture"].as_u64().unwrap(),
                o["session"].as_str().unwrap(),
            )
        });
        for n in frames_named(text) {
            let inside = |(lo, hi): (u64, u64)| lo <= n && n <= hi;
            assert!(
                inside(own) || other.is_some_and(inside),
                "{name}: {rule}'s proof names frame {n}, outside its session {own:?} / {other:?}: {text}"
            );
        }
    }
}

#[test]
fn every_pair_agrees_with_each_tap() {
    let mut checked = 0;
    for name in pair_names() {
        let client = format!("{name}-client.pcap");
        let server = format!("{name}-server.pcap");
        let cmp = {
            let out = run(&[
                "compare",
                "-f",
                "json",
                testdata(&client).to_str().unwrap(),
                testdata(&server).to_str().unwrap(),
            ]);
            serde_json::from_slice::<Value>(&out.stdout).unwrap()
        };
        let taps = [analyze(&[&client], &[]).1, analyze(&[&server], &[]).1];
        attributed(&name, &cmp);
        for t in &taps {
            attributed(&name, t);
        }
        if !cmp["no_common_traffic"].is_null() {
            continue;
        }
        let findings = cmp["findings"].as_array().unwrap();
        for p in cmp["pairs"].as_array().unwrap() {
            let sessions = [
                p["client_side_session"].as_str().unwrap(),
                p["server_side_session"].as_str().unwrap(),
            ];
            for l in p["lines"].as_array().unwrap() {
                if l["status"] == "identical" {
                    // No tap alone blames the path for a line the two
                    // taps show crossed it unchanged.
                    for (t, tap) in ["client_side", "server_side"].into_iter().enumerate() {
                        let here = at(l, tap);
                        for f in taps[t]["findings"].as_array().unwrap() {
                            if f["session"] == sessions[t] && about(f) == here {
                                assert_ne!(
                                    f["actor"], "path",
                                    "{name}: {} at the {tap} tap blames the path for `{}`, which both taps show the same",
                                    f["rule"], l[tap]["text"]
                                );
                            }
                        }
                    }
                    continue;
                }
                // A line that changed (or one tap lacks) is one finding:
                // none of the taps' own findings about it stands beside
                // the comparison's.
                let key = at(l, "client_side").or_else(|| at(l, "server_side"));
                let of_line: Vec<&Value> = findings
                    .iter()
                    .filter(|f| {
                        let tap = if f["capture"] == 1 {
                            "server_side"
                        } else {
                            "client_side"
                        };
                        about(f).is_some()
                            && ((f.get("other").is_some_and(|o| !o.is_null()) && about(f) == key)
                                || (f.get("other").is_none_or(Value::is_null)
                                    && about(f) == at(l, tap)))
                    })
                    .collect();
                assert!(
                    of_line.len() <= 1,
                    "{name}: `{}` is {} findings: {:?}",
                    l["client_side"]["text"],
                    of_line.len(),
                    of_line.iter().map(|f| &f["rule"]).collect::<Vec<_>>()
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 10, "only {checked} changed lines checked");
}

/// The first case, on the lab's malformed lines: a client-side
/// capture of a client's own malformed line (its packets carry TTL 64)
/// blames the client, at most a warning, names no device; and compare of
/// the two taps, which show the lines the same, says nothing else.
#[test]
fn a_clients_own_malformed_line_is_the_clients() {
    let (code, doc) = analyze(&["lab-malformed-client.pcap"], &[]);
    assert_eq!(code, 0);
    for f in doc["findings"].as_array().unwrap() {
        assert_eq!(f["actor"], "client", "{f:#}");
        assert_eq!(f["proof"]["kind"], "at-sender");
        assert!(f.get("signature").is_none());
        let m = message(f);
        assert!(!m.contains("in transit"), "{m}");
        assert!(!m.contains("capture on the client side"), "{m}");
    }
    let out = run(&[
        "compare",
        "-f",
        "json",
        testdata("lab-malformed-client.pcap").to_str().unwrap(),
        testdata("lab-malformed-server.pcap").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let cmp: Value = serde_json::from_slice(&out.stdout).unwrap();
    let fs = cmp["findings"].as_array().unwrap();
    // Five lines, five findings: each line's two taps' findings are one.
    assert_eq!(
        fs.len(),
        5,
        "{:#?}",
        fs.iter().map(|f| &f["rule"]).collect::<Vec<_>>()
    );
    for f in fs {
        assert_eq!(f["actor"], "client");
        assert_eq!(f["severity"], "warning");
        assert_eq!(related(f).len(), 1, "the other tap's reading: {f:#}");
    }
}

/// Sides given the wrong way round are said to contradict the TTLs, and
/// no finding calls an identity mapping a NAT.
#[test]
fn sides_given_against_the_ttls_are_flagged() {
    let out = run(&[
        "compare",
        "-f",
        "json",
        "--client-side",
        testdata("lab-mangle-vsftpd-server.pcap").to_str().unwrap(),
        "--server-side",
        testdata("lab-mangle-vsftpd-client.pcap").to_str().unwrap(),
    ]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_contains(
        doc["sides"]["explanation"].as_str().unwrap(),
        &[
            "the packets say otherwise",
            "TTL 63",
            "swap --client-side and --server-side",
        ],
    );
    for f in doc["findings"].as_array().unwrap() {
        let m = message(f);
        assert!(!m.contains("198.51.100.60 → 198.51.100.60"), "{m}");
        assert!(!m.contains("198.51.100.60 ↔ 198.51.100.60"), "{m}");
        assert_ne!(f["rule"], "alg-rewrite", "{m}");
    }
}

/// A clean NAT-helper rewrite is drawn in the ladder as a rewrite, not in
/// the red of damage.
#[test]
fn a_clean_alg_rewrite_is_not_drawn_as_damage() {
    let out = run(&[
        "compare",
        "-f",
        "html",
        testdata("lab-alg-active-client.pcap").to_str().unwrap(),
        testdata("lab-alg-active-server.pcap").to_str().unwrap(),
    ]);
    let html = String::from_utf8_lossy(&out.stdout);
    assert!(
        html.contains("class=\"rew\""),
        "the rewritten PORT is drawn as a rewrite"
    );
    assert!(
        !html.contains("class=\"bad\""),
        "nothing is drawn as damage"
    );
}
