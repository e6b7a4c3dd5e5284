//! One file, two legs, counted alike everywhere: for every one-file
//! capture of the lab's firewall cases (`tests/legs.rs` has what each
//! states), `batch` counts its sessions, transfers and findings as
//! `analyze` reports them (one event on two legs is one count), its
//! transfers as `batch` of the per-interface client capture of the same
//! run counts them, `merge` of partial results as one batch, and `watch`
//! never counts an event twice.

mod common;

use common::{bin, testdata};
use serde_json::Value;
use std::collections::BTreeMap;

const CASES: [&str; 4] = ["fw-route", "fw-mangle", "fw-alg", "fw-mangle-alg"];
const ONE_FILE: [&str; 4] = ["any.pcap", "sll.pcap", "legs.pcapng", "span.pcap"];

fn one_file_captures() -> Vec<String> {
    CASES
        .iter()
        .flat_map(|c| ONE_FILE.iter().map(move |f| format!("lab-{c}-{f}")))
        .collect()
}

fn stdout(args: &[&str]) -> Vec<u8> {
    let out = bin().args(args).output().unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn json(args: &[&str]) -> Value {
    serde_json::from_slice(&stdout(args)).unwrap()
}

fn batch_record(path: &str, extra: &[&str]) -> Value {
    let mut args = vec!["batch", "--no-progress", "-j", "1", "-f", "json"];
    args.extend_from_slice(extra);
    args.push(path);
    json(&args)["captures"][0].clone()
}

/// `[{key, count}]` as a map.
fn counts(v: &Value) -> BTreeMap<String, u64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["key"].as_str().unwrap().into(),
                e["count"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// What the record's transfers came to, per mode.
fn transfers(record: &Value) -> BTreeMap<String, [u64; 4]> {
    record["setups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let n = |k: &str| m[k].as_u64().unwrap();
            (
                m["key"].as_str().unwrap().into(),
                [n("worked"), n("failed"), n("unknown"), n("refused")],
            )
        })
        .collect()
}

#[test]
fn batch_counts_a_file_of_two_legs_as_analyze_reports_it() {
    for name in one_file_captures() {
        let path = testdata(&name);
        let path = path.to_str().unwrap();
        let a = json(&["analyze", "-f", "json", path]);
        assert_eq!(a["command"], "compare", "{name}: not read as two legs");
        let sum = &a["summary"];
        assert_eq!(sum["captures"], 1, "{name}: {sum}");
        assert_eq!(sum["legs"], 2, "{name}: {sum}");
        let b = batch_record(path, &[]);
        assert_eq!(b["sessions"], sum["sessions"], "{name}: sessions");
        assert_eq!(b["sessions"], 1, "{name}: one session, seen on two legs");
        assert_eq!(
            counts(&b["findings_by_rule"]),
            counts(&sum["findings_by_rule"]),
            "{name}: findings by rule"
        );
        assert_eq!(
            b["findings"].as_array().unwrap().len() as u64,
            counts(&sum["findings_by_rule"]).values().sum::<u64>(),
            "{name}: findings listed"
        );
        // What the client got: the client-side view's transfers, as the
        // capture taken at the client's interface shows them.
        let case = name.rsplit_once('-').unwrap().0;
        let client = batch_record(
            testdata(&format!("{case}-client.pcap")).to_str().unwrap(),
            &[],
        );
        assert_eq!(transfers(&b), transfers(&client), "{name}: transfers");
        // Every frame of the file on one of the two legs, counted once.
        let legs = &b["legs"];
        let frames = |k: &str| legs[k]["frames"].as_u64().unwrap();
        let file_frames = a["captures"][0]["frame_count"].as_u64().unwrap();
        assert_eq!(
            frames("client_side")
                + frames("server_side")
                + legs["other_legs_frames"].as_u64().unwrap(),
            file_frames,
            "{name}: frames"
        );
        // The views read the two legs' frames; the other legs' are named
        // apart, not lost.
        assert_eq!(
            b["packets"]["frames"].as_u64().unwrap() + legs["other_legs_frames"].as_u64().unwrap(),
            file_frames,
            "{name}: packets"
        );
        assert_eq!(b["packets"]["sessions"], 1, "{name}");
    }
}

/// `--one-view` reads the file as one capture, as `analyze --one-view`:
/// the same sessions and findings.
#[test]
fn batch_one_view_is_analyze_one_view() {
    for name in ["lab-fw-alg-any.pcap", "lab-fw-mangle-legs.pcapng"] {
        let path = testdata(name);
        let path = path.to_str().unwrap();
        let a = json(&["analyze", "--one-view", "-f", "json", path]);
        let b = batch_record(path, &["--one-view"]);
        assert!(b.get("legs").is_none(), "{name}");
        assert_eq!(b["sessions"], a["summary"]["sessions"], "{name}");
        assert_eq!(
            counts(&b["findings_by_rule"]),
            counts(&a["summary"]["findings_by_rule"]),
            "{name}"
        );
    }
}

/// The archive's totals add up the files' records: sixteen one-file
/// captures of four runs, 16 sessions, and `merge` of two halves says
/// what one batch says.
#[test]
fn merge_of_partial_batches_of_leg_files_is_one_batch() {
    let dir = std::env::temp_dir().join(format!("pm-legs-counts-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let halves = [dir.join("a"), dir.join("b")];
    for (i, name) in one_file_captures().iter().enumerate() {
        let half = &halves[i % 2];
        std::fs::create_dir_all(half).unwrap();
        std::fs::copy(testdata(name), half.join(name)).unwrap();
    }
    let d = dir.to_str().unwrap();
    let whole = json(&["batch", "--no-progress", "-f", "json", d]);
    assert_eq!(whole["summary"]["sessions"], 16);
    let mut parts = Vec::new();
    for h in &halves {
        let out = h.with_extension("ndjson");
        stdout(&[
            "batch",
            "--no-progress",
            "-f",
            "ndjson",
            "-o",
            out.to_str().unwrap(),
            h.to_str().unwrap(),
        ]);
        parts.push(out);
    }
    let mut args = vec!["merge", "-f", "json"];
    args.extend(parts.iter().map(|p| p.to_str().unwrap()));
    let merged = json(&args);
    let keep = |v: &Value| {
        let mut s = v["summary"].clone();
        // Indices differ by construction (each batch numbers its files).
        for k in [
            "captures_with_findings",
            "failures_since",
            "patterns",
            "capture_errors",
        ] {
            s.as_object_mut().unwrap().remove(k);
        }
        s
    };
    assert_eq!(keep(&merged), keep(&whole));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `watch` of a file of two legs: the leg that shows a connection again
/// is set aside, said once, so each session and finding is counted once,
/// as the capture taken at the client's interface counts them.
#[test]
fn watch_counts_each_event_of_two_legs_once() {
    let events = |path: &str| -> Vec<Value> {
        String::from_utf8(stdout(&["watch", "-f", "ndjson", path]))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let of = |ev: &[Value], t: &str| ev.iter().filter(|e| e["type"] == t).count();
    let last_stats = |ev: &[Value]| {
        ev.iter()
            .rev()
            .find(|e| e["type"] == "stats")
            .unwrap()
            .clone()
    };
    for name in one_file_captures() {
        let ev = events(testdata(&name).to_str().unwrap());
        let case = name.rsplit_once('-').unwrap().0;
        let client = events(testdata(&format!("{case}-client.pcap")).to_str().unwrap());
        assert_eq!(of(&ev, "legs-folded"), 1, "{name}: said once");
        assert_eq!(of(&ev, "session-started"), 1, "{name}");
        assert_eq!(of(&ev, "session-ended"), 1, "{name}");
        let (mine, theirs) = (last_stats(&ev), last_stats(&client));
        assert_eq!(mine["finding_count"], theirs["finding_count"], "{name}");
        assert_eq!(mine["packets"]["sessions"], 1, "{name}");
        assert!(mine["copies_set_aside"].as_u64().unwrap() >= 1, "{name}");
        // Every frame read or set aside, none twice.
        let file = bin()
            .args([
                "analyze",
                "--one-view",
                "-f",
                "json",
                testdata(&name).to_str().unwrap(),
            ])
            .output()
            .unwrap();
        let file: Value = serde_json::from_slice(&file.stdout).unwrap();
        assert_eq!(
            mine["packets"]["frames"].as_u64().unwrap()
                + mine["copy_frames_set_aside"].as_u64().unwrap(),
            file["captures"][0]["frame_count"].as_u64().unwrap(),
            "{name}: frames"
        );
    }
}
