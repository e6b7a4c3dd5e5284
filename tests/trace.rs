//! `probe --trace`: the quotes it reads (a real capture of them), the
//! trace on loopback, without the capability it needs, and over a routed
//! chain of network namespaces with a real device at hop 2 (root only;
//! skipped with the reason otherwise).

mod common;

use common::{reflector_at, skipped, testdata};
use portmortem::probe::hops::{Direction, Hop, Seen};
use portmortem::probe::quote::{Quote, is_of};
use portmortem::probe::result::Case;
use portmortem::probe::{Limits, Probe, Target};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::AtomicBool;

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn have(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn reflector() -> SocketAddr {
    reflector_at("127.0.0.1:0")
}

/// The ICMP Time Exceeded a server behind Linux's FTP NAT helper received
/// while its reply was traced (lab/make-testdata.sh trace-icmp-alg): the
/// router in front of it quotes the reply as TCP; the NAT router and the
/// one behind it arrive with the quoted protocol byte rewritten to 33
/// (docs/upstream-linux-nf-seqadj-icmp.md). Each is still read as the
/// reply, and the hop says its quote was damaged.
#[test]
fn quotes_damaged_by_the_nat_helper_are_read_and_said_to_be() {
    let data = std::fs::read(testdata("lab-trace-icmp-alg.pcap")).unwrap();
    let cap = pcap_parser::PcapCapture::from_file(&data).unwrap();
    let quotes: Vec<Quote> = cap
        .blocks
        .iter()
        .filter_map(|p| Quote::parse_v4_datagram(&p.data[14..]))
        .collect();
    assert_eq!(quotes.len(), 3);
    assert!(quotes[0].is_tcp());
    assert!(quotes[1..].iter().all(|q| q.protocol == 33));
    for q in &quotes {
        assert!(q.payload.starts_with(b"227 Entering Passive Mode ("));
        assert!(q.is_whole());
        // The reflector's ports (server 21, the client's as it sees it).
        let ports = (q.sport, q.dport);
        assert_eq!(ports.0, 21);
        assert!(is_of(q, &q.payload, None, ports));
        if !q.is_tcp() {
            // Damaged: the connection's ports alone do not make it ours.
            assert!(!is_of(q, b"PORT 1,2,3,4,5,6", None, ports));
        }
        let nat: (IpAddr, IpAddr) = (
            "203.0.113.10".parse().unwrap(),
            "203.0.113.10".parse().unwrap(),
        );
        let h = Hop::quoted(1, Direction::ToClient, &q.payload, q, nat);
        assert_eq!(h.seen, Seen::Intact);
        assert_eq!(h.note.is_some(), !q.is_tcp(), "{:?}", h.note);
    }
}

/// On loopback the far end is hop 1: every traced line (the two founding
/// PORTs and, through the reflector, the founding 227) reaches it at TTL
/// 1, unchanged, and the report says no hop changed it.
#[test]
fn on_loopback_every_line_reaches_the_far_end_at_hop_1() {
    if !is_root() {
        skipped(
            "on_loopback_every_line_reaches_the_far_end_at_hop_1",
            "not root: the trace needs a raw ICMP socket",
        );
        return;
    }
    let addr = reflector();
    let target = Target {
        display: "ftp://anonymous@loopback".into(),
        addr,
        user: "anonymous".into(),
        password: "probe@".into(),
        reflector: true,
    };
    let stop = AtomicBool::new(false);
    let progress = |_: &Case| {};
    let mut p = Probe::new(&target, Limits::default(), &stop, &progress).tracing(5);
    p.run(&[]).unwrap();
    assert_eq!(p.traces.len(), 3, "{:?}", p.notes);
    assert_eq!(p.traced_lines, 3);
    for t in &p.traces {
        assert_eq!(t.reached, Some(1), "{}", t.conclusion);
        assert_eq!(t.hops.len(), 1);
        assert_eq!(t.hops[0].seen, Seen::FarEnd);
        assert!(t.hops[0].received.is_some() && t.hops[0].rule.is_none());
        assert_eq!(t.between, None);
        assert!(
            t.conclusion.ends_with("no hop on the path changed it."),
            "{}",
            t.conclusion
        );
    }
    assert_eq!(
        p.traces.iter().map(|t| t.direction).collect::<Vec<_>>(),
        [
            Direction::ToServer,
            Direction::ToServer,
            Direction::ToClient
        ]
    );
}

/// Without CAP_NET_RAW the probe says what it needs and traces only what
/// the reflector (which has it) can: the reply direction.
#[test]
fn without_a_raw_socket_the_report_names_the_capability() {
    if !is_root() || !have("setpriv") {
        skipped(
            "without_a_raw_socket_the_report_names_the_capability",
            "needs root and setpriv to run the probe as an unprivileged user",
        );
        return;
    }
    let addr = reflector();
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(env!("CARGO_BIN_EXE_portmortem"))
        .args([
            "probe",
            "--only",
            "trace",
            "-f",
            "json",
            "-q",
            "--reflector",
        ])
        .arg(format!("ftp://{addr}"))
        .output()
        .unwrap();
    let r: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let notes = r["notes"].to_string();
    assert!(notes.contains("CAP_NET_RAW"), "{notes}");
    let dirs: Vec<&str> = r["traces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["direction"].as_str().unwrap())
        .collect();
    assert_eq!(dirs, ["to-client"]);
    assert_eq!(out.status.code(), Some(0));
}

/// The lab's routed chain (client, r1, device, r2, server; lab/lib.sh):
/// the Linux FTP NAT helper at hop 2 translates PORT between hops 2 and
/// 3, leaves the 227 reply alone and drops a bare-LF PORT there; a plain
/// router changes nothing; the
/// NFQUEUE 227→22_ mangler (when Python's netfilterqueue is there)
/// rewrites between hops 2 and 3 in both directions. lab/probe.sh checks
/// each report too; here the facts are checked again from its JSON.
#[test]
fn the_chain_places_each_rewrite_between_hops_2_and_3() {
    let test = "the_chain_places_each_rewrite_between_hops_2_and_3";
    if !is_root() {
        skipped(test, "not root: the chain is made of network namespaces");
        return;
    }
    if let Some(missing) = ["ip", "nft", "python3"].into_iter().find(|c| !have(c)) {
        skipped(
            test,
            &format!("`{missing}` is not installed (lab/README.md)"),
        );
        return;
    }
    let mut cases = vec![
        "trace-alg-reflect",
        "trace-clean-reflect",
        "trace-alg-shapes",
    ];
    let mangler = have("iptables")
        && Command::new("python3")
            .args(["-c", "import netfilterqueue, scapy"])
            .output()
            .is_ok_and(|o| o.status.success());
    if mangler {
        cases.push("trace-mangle-reflect");
    } else {
        skipped(
            "trace-mangle-reflect of the chain",
            "iptables or Python's netfilterqueue and scapy are missing",
        );
    }
    let out = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let run = Command::new("bash")
        .arg(root.join("lab/probe.sh"))
        .args(&cases)
        .env("PORTMORTEM", env!("CARGO_BIN_EXE_portmortem"))
        .env("OUT", out.path())
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "lab/probe.sh failed:\n{log}");
    let read = |name: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(out.path().join(format!("{name}.json"))).unwrap())
            .unwrap()
    };
    let between = |r: &serde_json::Value, dir: &str| -> Vec<serde_json::Value> {
        r["traces"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["direction"] == dir)
            .map(|t| t["between"].clone())
            .collect()
    };
    let alg = read("trace-alg-reflect");
    assert_eq!(
        between(&alg, "to-server"),
        [serde_json::json!([2, 3]), serde_json::json!([2, 3])]
    );
    assert_eq!(between(&alg, "to-client"), [serde_json::Value::Null]);
    for t in alg["traces"].as_array().unwrap() {
        if t["direction"] == "to-server" {
            assert_eq!(t["hops"][2]["rule"], "alg-rewrite");
            assert_eq!(t["hops"][2]["router"], "192.0.2.6");
        }
        assert_eq!(t["reached"], 4);
    }
    // The helper drops a bare-LF PORT: quoted by hops 1 and 2, then no
    // reply at TTL 3; the line is damage (exit 1).
    let shapes = read("trace-alg-shapes");
    let bare: Vec<_> = shapes["traces"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["case"] == "bare LF terminator")
        .collect();
    assert_eq!(bare.len(), 1);
    assert_eq!(bare[0]["between"], serde_json::json!([2, 3]));
    assert_eq!(bare[0]["no_reply"], 3);
    assert_eq!(shapes["altered"], true);
    let clean = read("trace-clean-reflect");
    assert!(clean["traces"].as_array().unwrap().iter().all(|t| {
        t["between"].is_null()
            && t["hops"]
                .as_array()
                .unwrap()
                .iter()
                .all(|h| h["seen"] == "intact" || h["seen"] == "far-end")
    }));
    assert_eq!(clean["altered"], false);
    if mangler {
        let m = read("trace-mangle-reflect");
        assert!(m["traces"].as_array().unwrap().iter().all(|t| {
            t["between"] == serde_json::json!([2, 3])
                && t["hops"][2]["signature"] == "checkpoint-ftp-bounce-227"
        }));
        assert_eq!(between(&m, "to-client").len(), 1);
        assert_eq!(m["altered"], true);
    }
}
