//! One capture holding both legs of a device, read as two views: for every
//! lab firewall case (`lab/README.md`, "On the firewall itself"), each of
//! its one-file captures (`tcpdump -i any` as SLL2 and as SLL v1,
//! `dumpcap -i fwin -i fwout`, a SPAN of two VLANs) states the same
//! comparison findings as `compare` of the per-interface captures of the
//! same run — the same rules, lines and packets, frames numbered in the
//! one file — and each leg's TCP packets are the ones tshark puts on it
//! (testdata/tshark-legs.tsv). Check Point `fw monitor` files made from
//! the same runs (lab/fwmonitor.py) are read with the interface and the
//! inspection point tshark's FW-1 dissector gives each frame
//! (testdata/tshark-fw1.tsv), and state the same findings too.

mod common;

use common::{bin, json, testdata};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

const CASES: [&str; 4] = ["fw-route", "fw-mangle", "fw-alg", "fw-mangle-alg"];
const ONE_FILE: [&str; 4] = ["any.pcap", "sll.pcap", "legs.pcapng", "span.pcap"];
/// The fw monitor files of lab/fwmonitor.py, by case.
const FW_MONITOR: [(&str, &str); 2] = [
    ("fw-mangle", "lab-fw-mangle-fwmon.snoop"),
    ("fw-alg", "lab-fw-alg-fwmon.snoop"),
];

/// tshark's reading of every TCP frame of the lab's firewall captures:
/// (file, frame) → (the leg as portmortem names it, the packet). Of a
/// fw monitor file, the frames on the wire (points i and O), the ones
/// its views hold.
struct Tshark(HashMap<(String, u64), (String, Vec<String>)>);

/// The columns of a tshark table that identify a packet across legs and
/// files.
const PACKET: [&str; 10] = [
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
];

/// A testdata TSV of tshark's: its header's column index by name, and its
/// rows.
fn tsv(name: &str) -> (HashMap<String, usize>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(testdata(name)).unwrap();
    let mut lines = text.lines();
    let head = lines.next().unwrap().split('\t').enumerate();
    let cols = head.map(|(i, h)| (h.to_string(), i)).collect();
    let rows = lines
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect();
    (cols, rows)
}

impl Tshark {
    fn load() -> Self {
        let mut rows = Self::load_legs();
        let (col, fw1) = tsv("tshark-fw1.tsv");
        for c in fw1 {
            let on_wire = matches!(c[col["fw1_direction"]].as_str(), "i" | "O");
            if on_wire && !c[col["tcp_len"]].is_empty() {
                let key = PACKET.map(|n| c[col[n]].clone()).to_vec();
                let frame: u64 = c[1].parse().unwrap();
                let leg = c[col["fw1_interface"]].clone();
                rows.insert((c[0].clone(), frame), (leg, key));
            }
        }
        Tshark(rows)
    }

    fn load_legs() -> HashMap<(String, u64), (String, Vec<String>)> {
        let (col, legs) = tsv("tshark-legs.tsv");
        let mut rows = HashMap::new();
        for c in legs {
            let file = c[0].as_str();
            let leg = if file.ends_with("-any.pcap") {
                format!("ifindex {}", c[col["sll_ifindex"]])
            } else if file.ends_with("-legs.pcapng") {
                c[col["interface_name"]].to_string()
            } else if file.ends_with("-span.pcap") {
                format!("VLAN {}", c[col["vlan_id"]])
            } else if file.ends_with("-sll.pcap") {
                // Sent by the host (4): the leg facing its destination;
                // received: the leg facing its source.
                let toward = if c[col["sll_pkttype"]] == "4" {
                    &c[col["ip_dst"]]
                } else {
                    &c[col["ip_src"]]
                };
                format!("toward {toward}")
            } else {
                String::new()
            };
            let frame: u64 = c[1].parse().unwrap();
            let key = PACKET.map(|n| c[col[n]].clone()).to_vec();
            rows.insert((file.to_string(), frame), (leg, key));
        }
        rows
    }

    /// The packets of `frames` of `file` (a frame tshark has no TCP row
    /// for stays a number, so it can match nothing of another file).
    fn packets(&self, file: &str, frames: &Value) -> Vec<Vec<String>> {
        let mut v: Vec<Vec<String>> = frames
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_u64).collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .map(|n| match self.0.get(&(file.to_string(), n)) {
                Some((_, k)) => k.clone(),
                None => vec![format!("{file} frame {n}, not TCP")],
            })
            .collect();
        v.sort();
        v
    }

    /// TCP frames per leg of `file`.
    fn legs(&self, file: &str) -> BTreeMap<String, u64> {
        let mut m = BTreeMap::new();
        for ((f, _), (leg, _)) in &self.0 {
            if f == file {
                *m.entry(leg.clone()).or_default() += 1;
            }
        }
        m
    }
}

/// What a comparison finding states, with its frames as packets: the
/// file of each capture of the report given by `files`.
fn statements(report: &Value, files: [&str; 2], t: &Tshark) -> Vec<String> {
    let mut v: Vec<String> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let at = |v: &Value| files[v.as_u64().unwrap() as usize];
            let evidence: Vec<&str> = f["evidence"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| e["bytes"].as_str().unwrap_or_default())
                .collect();
            let other = match f.get("other") {
                Some(o) if !o.is_null() => {
                    format!("{:?}", t.packets(at(&o["capture"]), &o["frames"]))
                }
                _ => String::new(),
            };
            format!(
                "{} {} {} capture {} evidence {evidence:?} packets {:?} other {other}",
                f["rule"],
                f["severity"],
                f["actor"],
                f["capture"],
                t.packets(at(&f["capture"]), &f["frames"]),
            )
        })
        .collect();
    v.sort();
    v
}

/// What `compare` of the per-interface captures of lab case `case`
/// states, as [`statements`].
fn compare_of_the_interfaces(case: &str, t: &Tshark) -> Vec<String> {
    let client = format!("lab-{case}-client.pcap");
    let server = format!("lab-{case}-server.pcap");
    let two = json(&[
        "compare",
        "-f",
        "json",
        testdata(&client).to_str().unwrap(),
        testdata(&server).to_str().unwrap(),
    ]);
    let want = statements(&two, [&client, &server], t);
    let expected = match case {
        "fw-route" => 0,
        "fw-mangle-alg" => 1,
        _ => 2,
    };
    assert_eq!(want.len(), expected, "{case}: {want:#?}");
    assert!(
        want.iter().all(|s| !s.contains("packets []")),
        "{case}: a finding without packets: {want:#?}"
    );
    want
}

/// `analyze` of the one-file capture `name` states `want`, the findings
/// of compare of the per-interface captures; `compare FILE` is the same
/// report; each view holds the TCP packets tshark puts on its leg, the
/// client's first (`client_leg`), and no copy is taken for a conflict.
fn states_what_compare_states(name: &str, want: &[String], t: &Tshark, client_leg: &str) {
    let path = testdata(name);
    let path = path.to_str().unwrap();
    let one = json(&["analyze", "-f", "json", path]);
    assert_eq!(one["command"], "compare", "{name}: not read as two legs");
    assert!(
        one["sides"]["legs"]
            .as_str()
            .is_some_and(|s| s.starts_with("one file, two legs")),
        "{name}: the report does not say how the file was read"
    );
    assert_eq!(
        statements(&one, [name, name], t),
        want,
        "{name}: not what compare of the per-interface captures states"
    );
    let same = json(&["compare", "-f", "json", path]);
    assert_eq!(same["findings"], one["findings"], "{name}");
    let legs = t.legs(name);
    assert_eq!(legs.len(), 2, "{name}: {legs:?}");
    let views: Vec<(String, u64)> = one["captures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["view"].as_str().unwrap().to_string(),
                c["packets"]["tcp_segments"].as_u64().unwrap(),
            )
        })
        .collect();
    for (leg, tcp) in &views {
        assert_eq!(legs.get(leg), Some(tcp), "{name}: leg {leg}");
    }
    assert_eq!(views[0].0, client_leg, "{name}: the client's leg");
    let text = one.to_string();
    assert!(!text.contains("tcp-overlap-conflict"), "{name}");
}

#[test]
fn one_file_of_both_legs_states_what_compare_of_the_two_interfaces_states() {
    let t = Tshark::load();
    let mut compared = 0;
    for case in CASES {
        let want = compare_of_the_interfaces(case, &t);
        for kind in ONE_FILE {
            let client_leg = match kind {
                "any.pcap" => "ifindex 2",
                "sll.pcap" => "toward 198.51.100.60",
                "legs.pcapng" => "fwin",
                _ => "VLAN 10",
            };
            states_what_compare_states(&format!("lab-{case}-{kind}"), &want, &t, client_leg);
            compared += 1;
        }
    }
    assert_eq!(compared, 16);
}

/// A Check Point `fw monitor` file of the same run (all four points, or
/// only i and O) states what compare of the per-interface captures
/// states: its legs are its interfaces as on the wire.
#[test]
fn a_fw_monitor_file_states_what_compare_of_the_two_interfaces_states() {
    let t = Tshark::load();
    for (case, name) in FW_MONITOR {
        let want = compare_of_the_interfaces(case, &t);
        states_what_compare_states(name, &want, &t, "fwin");
    }
}

/// Every frame of the fw monitor files has the interface and the point
/// tshark's FW-1 dissector gives it, and its time: the frames on the wire
/// (i, O) one by one as they are handed on, the ones inside the device
/// (I, o) as each leg's counts per point; and the TCP stream numbers
/// tshark gives the frames handed on.
#[test]
fn fw_monitor_frames_have_tsharks_interface_point_and_time() {
    use portmortem::capture::CaptureReader;
    use portmortem::capture::legs::{Leg, Mark};
    use portmortem::decode::decode;
    use portmortem::engine::streams::StreamIds;
    let (col, rows) = tsv("tshark-fw1.tsv");
    for (_, name) in FW_MONITOR {
        let mine: Vec<&Vec<String>> = rows.iter().filter(|c| c[0] == name).collect();
        assert!(mine.len() > 50, "{name}: {} rows", mine.len());
        let mut r = CaptureReader::open(&testdata(name), Default::default()).unwrap();
        let mut handed = BTreeMap::new();
        let mut ids = StreamIds::default();
        r.for_each(&mut |f| {
            let point = f.point.map(|p| p.letter().to_string());
            let stream = decode(f.linktype, f.data, 0)
                .ok()
                .and_then(|seg| ids.id(&seg, f.number));
            handed.insert(f.number, (f.interface, point, f.ts.0, stream));
        })
        .unwrap();
        let leg_name = |interface: u32| {
            r.leg(&Leg {
                interface,
                mark: Mark::Fw1,
            })
            .name
        };
        let mut wire = 0;
        let mut per_point: BTreeMap<(String, String), u64> = BTreeMap::new();
        for c in &mine {
            let frame: u64 = c[1].parse().unwrap();
            let (iface, dir) = (&c[col["fw1_interface"]], &c[col["fw1_direction"]]);
            *per_point.entry((iface.clone(), dir.clone())).or_default() += 1;
            if dir != "i" && dir != "O" {
                assert!(
                    !handed.contains_key(&frame),
                    "{name} frame {frame} at {dir}"
                );
                continue;
            }
            wire += 1;
            let (interface, point, ns, stream) = &handed[&frame];
            assert_eq!(&leg_name(*interface), iface, "{name} frame {frame}");
            assert_eq!(point.as_deref(), Some(dir.as_str()), "{name} frame {frame}");
            let (s, frac) = c[col["time_epoch"]].split_once('.').unwrap();
            let tshark_ns =
                s.parse::<i64>().unwrap() * 1_000_000_000 + frac.parse::<i64>().unwrap();
            assert_eq!(*ns, tshark_ns, "{name} frame {frame}: time");
            let want = c[col["tcp_stream"]].parse::<u32>().ok();
            assert_eq!(*stream, want, "{name} frame {frame}: tcp.stream");
        }
        assert_eq!(handed.len(), wire, "{name}: frames handed on");
        let info = r.info();
        assert_eq!(info.frame_count, mine.len() as u64, "{name}");
        assert_eq!(info.inside_device, (mine.len() - wire) as u64, "{name}");
        let ours: BTreeMap<(String, String), u64> = info
            .legs
            .iter()
            .flat_map(|l| {
                assert_eq!(l.seen_by, "fw1-interface");
                l.points
                    .iter()
                    .map(|(p, n)| ((l.name.clone(), p.letter().to_string()), *n))
            })
            .collect();
        assert_eq!(ours, per_point, "{name}: frames per interface and point");
    }
}

/// `--one-view` keeps the single reading, and it lists the legs.
#[test]
fn one_view_lists_the_legs_with_their_frames() {
    let one = json(&[
        "analyze",
        "--one-view",
        "-f",
        "json",
        testdata("lab-fw-mangle-legs.pcapng").to_str().unwrap(),
    ]);
    assert_eq!(one["command"], "analyze");
    let legs: Vec<(String, u64)> = one["captures"][0]["legs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["name"].as_str().unwrap().to_string(),
                l["frames"].as_u64().unwrap(),
            )
        })
        .collect();
    // tshark: 31 frames on each interface (27 of them TCP).
    assert_eq!(legs, [("fwin".to_string(), 31), ("fwout".to_string(), 31)]);
}

/// A capture of one place is analysed as before, and a file that holds
/// no two legs of the same traffic is refused by `compare FILE`.
#[test]
fn a_capture_of_one_place_is_no_comparison() {
    let path = testdata("lab-fw-mangle-client.pcap");
    let one = json(&["analyze", "-f", "json", path.to_str().unwrap()]);
    assert_eq!(one["command"], "analyze");
    assert!(one["captures"][0].get("legs").is_none());
    let out = bin()
        .args(["compare", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("two legs of a device"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Two legs that share TCP connections but no FTP session (here the lab
/// capture without its control connection: only the data connections
/// cross both legs) are no comparison: the file is analysed as one, and
/// lists its legs.
#[test]
fn legs_sharing_no_ftp_session_are_analysed_as_one_capture() {
    let bytes = std::fs::read(testdata("lab-fw-route-any.pcap")).unwrap();
    // Little-endian µs pcap of LINUX_SLL2: 24-byte header, records of a
    // 16-byte header and the frame (20 bytes of SLL2, then IPv4).
    let mut out = bytes[..24].to_vec();
    let mut at = 24;
    let mut kept = 0;
    while at + 16 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        let rec = &bytes[at..at + 16 + len];
        let frame = &rec[16..];
        let ip = frame.get(20..).unwrap_or_default();
        let control = ip.len() > 24 && ip[9] == 6 && {
            let tcp = &ip[usize::from(ip[0] & 0x0f) * 4..];
            let port = |i: usize| u16::from_be_bytes([tcp[i], tcp[i + 1]]);
            port(0) == 21 || port(2) == 21
        };
        if !control {
            out.extend_from_slice(rec);
            kept += 1;
        }
        at += 16 + len;
    }
    assert!(kept > 10 && kept < 93, "{kept}");
    let dir = std::env::temp_dir().join(format!("pm-legs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("data-only-any.pcap");
    std::fs::write(&path, out).unwrap();
    let one = json(&["analyze", "-f", "json", path.to_str().unwrap()]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(one["command"], "analyze");
    let legs = one["captures"][0]["legs"].as_array().unwrap();
    assert_eq!(legs.len(), 2, "{legs:?}");
}

/// A fw monitor file where the device changed a packet between `i` and
/// `I` (here: one byte of the PORT's `I` copy altered) says so in the
/// capture section, with both frames, and still compares `i` and `O`.
#[test]
fn a_copy_changed_inside_the_device_is_reported_with_its_frames() {
    let mut bytes = std::fs::read(testdata("lab-fw-mangle-fwmon.snoop")).unwrap();
    // Records: a 24-byte header (lengths and time, big-endian), the
    // packet, padding to the record length. Frame 42 is the PORT at I.
    let mut at = 16;
    for _ in 1..42 {
        at += u32::from_be_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
    }
    let incl = u32::from_be_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
    assert_eq!(bytes[at + 24], b'I');
    let record = &bytes[at + 24..at + 24 + incl];
    assert!(
        record.ends_with(b",227\r\n"),
        "{:?}",
        String::from_utf8_lossy(record)
    );
    bytes[at + 24 + incl - 3] = b'_';
    let dir = std::env::temp_dir().join(format!("pm-fw1-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("changed-fwmon.snoop");
    std::fs::write(&path, bytes).unwrap();
    let one = json(&["analyze", "-f", "json", path.to_str().unwrap()]);
    let text = bin()
        .args(["analyze", path.to_str().unwrap()])
        .env("COLUMNS", "1000")
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let capture = &one["captures"][0];
    assert_eq!(capture["inside_device"], 54);
    let fwin = &capture["legs"][0];
    assert_eq!(fwin["name"], "fwin");
    assert_eq!(fwin["changed_inside"], 1);
    assert_eq!(fwin["changed_inside_frames"], serde_json::json!([[41, 42]]));
    assert_eq!(one["findings"].as_array().unwrap().len(), 2);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("1 of them not the same bytes as the same packet (same IPv4 identification) on the wire: the device changed the packet between the two points (frames 41 and 42 on fwin)"),
        "{text}"
    );
}
