//! A SPAN that mirrors one direction per leg (lab/make-testdata.sh
//! `fw_oneway_case`: what the client sends untagged, what the server sends
//! on VLAN 201): `analyze` reads the file as one view stitched from both
//! legs, and the far end's ACKs on one leg against the sender's segments
//! on the other show where the device changed a line's size. Every number
//! is checked against tshark's reading (testdata/tshark-span1.tsv) and
//! against `compare` of the per-interface pair of the same run.

mod common;

use common::{bin, json, testdata};
use serde_json::Value;
use std::collections::HashMap;

/// The one-direction SPAN files, one per device.
const SPAN1: [&str; 3] = [
    "lab-fw1-alg-span1.pcap",
    "lab-fw1-mangle-span1.pcap",
    "lab-fw1-mangle-alg-span1.pcap",
];

fn analyze(file: &str) -> Value {
    let path = testdata(file);
    json(&["analyze", "-f", "json", path.to_str().unwrap()])
}

/// tshark's row of each TCP frame of a span1 file, by column name.
fn tshark(file: &str) -> HashMap<u64, HashMap<String, String>> {
    let text = std::fs::read_to_string(testdata("tshark-span1.tsv")).unwrap();
    let mut lines = text.lines();
    let head: Vec<String> = lines
        .next()
        .unwrap()
        .split('\t')
        .map(str::to_string)
        .collect();
    lines
        .map(|l| l.split('\t').map(str::to_string).collect::<Vec<_>>())
        .filter(|c| c[0] == file)
        .map(|c| {
            let row: HashMap<String, String> = head.iter().cloned().zip(c).collect();
            (row["frame"].parse().unwrap(), row)
        })
        .collect()
}

fn findings(v: &Value) -> Vec<&Value> {
    v["findings"].as_array().unwrap().iter().collect()
}

fn frames(f: &Value) -> Vec<u64> {
    f["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect()
}

/// No finding may call packets swallowed or injected because a leg of
/// one direction lacks the other direction (bytes a leg missed are the
/// tap's loss, `tcp-gap` at info, judged from the receiver's ACKs).
fn no_absence_from_one_direction(v: &Value) {
    for f in findings(v) {
        let rule = f["rule"].as_str().unwrap();
        assert!(
            !matches!(
                rule,
                "command-swallowed"
                    | "reply-swallowed"
                    | "command-injected"
                    | "reply-injected"
                    | "seen-at-one-tap"
            ),
            "{f}"
        );
    }
}

/// The NAT helper rewrites 198.51.100.60 to 203.0.113.1 in the PORT and
/// the EPRT, 2 bytes shorter each: the server's ACKs on VLAN 201 stop 2
/// (then 4) bytes short of the ends the client leg shows.
#[test]
fn the_far_ends_acks_show_each_line_the_nat_helper_shortened() {
    let v = analyze(SPAN1[0]);
    assert_eq!(v["command"], "analyze");
    let cap = &v["captures"][0];
    let how = cap["stitched"].as_str().unwrap();
    assert!(how.contains("each carry one direction"), "{how}");
    assert!(
        how.contains("198.51.100.60:58562 on leg not marked = 203.0.113.1:58562 on leg VLAN 201"),
        "{how}"
    );
    // One whole session: commands, replies, both data connections.
    let sessions = v["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1);
    let status: Vec<&str> = sessions[0]["data_setups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["status"].as_str().unwrap())
        .collect();
    assert_eq!(status, ["connected", "connected"]);
    let fs = findings(&v);
    assert_eq!(fs.len(), 2, "{fs:?}");
    let t = tshark("lab-fw1-alg-span1.pcap");
    let end = |f: u64| {
        t[&f]["seq_raw"].parse::<i64>().unwrap() + t[&f]["tcp_len"].parse::<i64>().unwrap()
    };
    let ack = |f: u64| t[&f]["ack_raw"].parse::<i64>().unwrap();
    for (f, (line, verb, cumulative)) in fs.iter().zip([(13, "PORT", -2), (27, "EPRT", -4)]) {
        assert_eq!(f["rule"], "seq-offset-step");
        assert_eq!(f["severity"], "info");
        assert_eq!(f["actor"], "path");
        assert_eq!(f["proof"]["kind"], "two-legs");
        let fr = frames(f);
        assert_eq!(fr[0], line);
        // tshark: the line on the untagged leg, the ACK after it on VLAN
        // 201 short of its end by the cumulative change.
        assert_eq!(t[&line]["vlan_id"], "");
        assert_eq!(t[&line]["command"], verb);
        let ack_frame = fr[1];
        assert_eq!(t[&ack_frame]["vlan_id"], "201");
        assert_eq!(ack(ack_frame) - end(line), cumulative);
        let msg = f["message"].as_str().unwrap();
        assert!(msg.contains("2 byte(s) shorter there"), "{msg}");
        let short = format!("is {} byte(s) short of that segment's end", -cumulative);
        assert!(msg.contains(&short), "{msg}");
        assert!(
            msg.contains(
                "consistent with a NAT ALG rewriting the address 198.51.100.60 in it to 203.0.113.1"
            ),
            "{msg}"
        );
        assert!(msg.contains("not proven"), "{msg}");
    }
    assert_eq!(frames(fs[0]), [13, 14, 19]);
    assert_eq!(frames(fs[1]), [27, 28, 33]);
    no_absence_from_one_direction(&v);
}

/// `compare` of the per-interface captures of the same run sees the same
/// two rewrites with the same length change, and the same events of the
/// other two devices.
#[test]
fn the_per_interface_pair_shows_the_same_length_changes() {
    let c = json(&[
        "compare",
        "-f",
        "json",
        testdata("lab-fw1-alg-client.pcap").to_str().unwrap(),
        testdata("lab-fw1-alg-server.pcap").to_str().unwrap(),
    ]);
    let rewrites: Vec<&Value> = findings(&c)
        .into_iter()
        .filter(|f| f["rule"] == "alg-rewrite")
        .collect();
    assert_eq!(rewrites.len(), 2, "{c}");
    for f in rewrites {
        let msg = f["message"].as_str().unwrap();
        assert!(msg.contains("length -2"), "{msg}");
        assert!(msg.contains("203.0.113.1"), "{msg}");
    }
    // The mangler's 22_ (what the stitched view reads from the server's
    // data connections) and the helper's drop (from the far end's ACKs)
    // are what the pairs of those runs prove too.
    for (pair, rules) in [
        (
            "lab-fw1-mangle",
            &["port-octet-mangled", "port-octet-mangled"][..],
        ),
        ("lab-fw1-mangle-alg", &["alg-drop-suspected"][..]),
    ] {
        let c = json(&[
            "compare",
            "-f",
            "json",
            testdata(&format!("{pair}-client.pcap")).to_str().unwrap(),
            testdata(&format!("{pair}-server.pcap")).to_str().unwrap(),
        ]);
        let got: Vec<&str> = findings(&c)
            .iter()
            .map(|f| f["rule"].as_str().unwrap())
            .collect();
        assert_eq!(got, rules, "{pair}");
    }
}

/// 227 → 22_ keeps the length, so no ACK moves; the server's data
/// connections (VLAN 201) to the ports it read against the ports the
/// client announced (untagged) show it, as announced against connected.
#[test]
fn a_same_length_rewrite_shows_in_the_servers_data_connection() {
    let v = analyze(SPAN1[1]);
    let fs = findings(&v);
    let rules: Vec<&str> = fs.iter().map(|f| f["rule"].as_str().unwrap()).collect();
    assert_eq!(
        rules,
        ["port-silently-truncated", "port-silently-truncated"]
    );
    let t = tshark("lab-fw1-mangle-span1.pcap");
    for (f, (line, syn, port)) in fs.iter().zip([(14, 17, "32022"), (20, 23, "3222")]) {
        let fr = frames(f);
        assert!(fr.contains(&line) && fr.contains(&syn), "{fr:?}");
        assert_eq!(t[&line]["vlan_id"], "");
        assert_eq!(t[&syn]["vlan_id"], "201");
        assert_eq!(t[&syn]["tcp_flags"], "0x0002");
        assert_eq!(t[&syn]["dport"], port);
    }
    no_absence_from_one_direction(&v);
}

/// Through the mangler and the NAT helper, the helper drops the `22_`
/// PORT: the client leg shows its retransmissions, the server leg ACKs
/// that never cover it.
#[test]
fn a_line_the_device_drops_is_never_acknowledged_on_the_far_leg() {
    let v = analyze(SPAN1[2]);
    let fs = findings(&v);
    let rules: Vec<&str> = fs.iter().map(|f| f["rule"].as_str().unwrap()).collect();
    assert_eq!(rules, ["alg-drop-suspected"]);
    let t = tshark("lab-fw1-mangle-alg-span1.pcap");
    assert_eq!(t[&13]["command"], "PORT");
    assert_eq!(frames(fs[0])[0], 13);
    no_absence_from_one_direction(&v);
}

/// `--one-view` reads the file as it is (two half-sessions through the
/// NAT), and `compare FILE` refuses legs that share no packet.
#[test]
fn one_view_and_compare_read_the_legs_as_they_are() {
    let path = testdata("lab-fw1-alg-span1.pcap");
    let path = path.to_str().unwrap();
    let v = json(&["analyze", "--one-view", "-f", "json", path]);
    assert_eq!(v["sessions"].as_array().unwrap().len(), 2);
    assert!(v["captures"][0].get("stitched").is_none());
    let out = bin().args(["compare", path]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("each carry one direction"), "{err}");
}

/// The severities a report's findings reach, by rule: a rule folded into
/// another finding of the same event (`related`) counts at that
/// finding's severity, as tests/loss.rs counts it.
fn worst(v: &Value) -> HashMap<String, u8> {
    let mut m = HashMap::new();
    for f in findings(v) {
        let s = match f["severity"].as_str().unwrap() {
            "error" => 2,
            "warning" => 1,
            _ => 0,
        };
        let related = f["related"].as_array().into_iter().flatten();
        for rule in std::iter::once(&f["rule"]).chain(related.map(|r| &r["rule"])) {
            let e = m.entry(rule.as_str().unwrap().to_string()).or_insert(0);
            *e = (*e).max(s);
        }
    }
    m
}

/// The loss-injection test for the stitched reading (tests/loss.rs reads
/// a capture with the library's analysis alone, as one view): every run
/// of one to three frames lost from either leg adds no warning or error
/// the intact capture lacks, and no size change the intact one does not
/// state (a lost ACK or segment leaves the far end's ACKs unjudged, not
/// misread).
#[test]
fn frames_lost_from_either_leg_add_no_warning_or_error() {
    let dir = std::env::temp_dir().join(format!("pm-oneway-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut runs = 0;
    for case in SPAN1 {
        let bytes = std::fs::read(testdata(case)).unwrap();
        // Little-endian µs pcap: a 24-byte header, records of a 16-byte
        // header and the frame.
        let mut records = Vec::new();
        let mut at = 24;
        while at + 16 <= bytes.len() {
            let len = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
            records.push(&bytes[at..at + 16 + len]);
            at += 16 + len;
        }
        let intact = analyze(case);
        let intact_worst = worst(&intact);
        let steps = |v: &Value| -> Vec<String> {
            findings(v)
                .into_iter()
                .filter(|f| f["rule"] == "seq-offset-step")
                .map(|f| {
                    let m = f["message"].as_str().unwrap();
                    m[..m.find(", at ").unwrap_or(m.len())].to_string()
                })
                .collect()
        };
        let intact_steps = steps(&intact);
        for burst in 1..=3 {
            for from in 0..records.len() {
                let mut out = bytes[..24].to_vec();
                for (i, r) in records.iter().enumerate() {
                    if i < from || i >= from + burst {
                        out.extend_from_slice(r);
                    }
                }
                let path = dir.join(format!("{case}-{burst}-{from}.pcap"));
                std::fs::write(&path, out).unwrap();
                let v = json(&["analyze", "-f", "json", path.to_str().unwrap()]);
                runs += 1;
                for (rule, sev) in worst(&v) {
                    assert!(
                        sev == 0 || intact_worst.get(&rule).is_some_and(|w| *w >= sev),
                        "{case}: frames {}..{} lost: {rule} at {sev}: {v}",
                        from + 1,
                        from + burst
                    );
                }
                for s in steps(&v) {
                    assert!(
                        intact_steps.contains(&s),
                        "{case}: frames {}..{} lost: {s}",
                        from + 1,
                        from + burst
                    );
                }
                no_absence_from_one_direction(&v);
            }
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(runs > 200, "{runs}");
}
