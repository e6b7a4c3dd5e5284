//! Every number a report states, checked against an independent reading
//! of the same capture: tshark's (issue #22). For every testdata capture
//! and, where it is present, every capture of the public corpus:
//!
//! - the frame count is tshark's, and the frames' categories add up to it;
//! - a connection that was not a session (a refused or unanswered SYN, a
//!   stray segment) has the frames of its `tcp.stream`;
//! - a session's ISNs are its SYN's and SYN-ACK's `tcp.seq_raw`;
//! - a session starts at its first frame's time and sits in the
//!   `tcp.stream` it names;
//! - every frame a finding names exists and belongs to the finding's
//!   session: its control connection or one of its data connections;
//! - a finding's `first_ts` is the time of its first frame;
//! - a setup that worked has an established data connection, and one
//!   counted as failed by its data connection has none established.
//!
//! Skipped, with the reason printed, where tshark is not installed
//! (`.ci/run` installs it before the tests).

mod common;
use common::*;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::process::Command;

/// What tshark says of one frame.
struct Frame {
    /// `frame.time_epoch`, nanoseconds.
    ns: i128,
    stream: Option<u64>,
    syn: bool,
    ack: bool,
    seq_raw: Option<u64>,
    sport: Option<u16>,
    ack_raw: Option<u64>,
}

fn tshark_present() -> bool {
    let ok = Command::new("tshark")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr().lock(),
            "skipped: the oracle tests (tshark is not installed; apt-get install tshark)"
        );
    }
    ok
}

/// "1795494558.167557000" → nanoseconds.
fn epoch_ns(s: &str) -> i128 {
    let (secs, frac) = s.split_once('.').unwrap_or((s, "0"));
    let frac = format!("{frac:0<9}");
    secs.parse::<i128>().unwrap() * 1_000_000_000 + frac[..9].parse::<i128>().unwrap()
}

/// "2026-11-24T04:29:18.167557000Z" → nanoseconds since the epoch.
fn iso_ns(s: &str) -> i128 {
    let (date, time) = s.trim_end_matches('Z').split_once('T').unwrap();
    let d: Vec<i64> = date.split('-').map(|x| x.parse().unwrap()).collect();
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let t: Vec<i64> = hms.split(':').map(|x| x.parse().unwrap()).collect();
    // Days from the civil date (Howard Hinnant's algorithm).
    let (y, m, day) = (if d[1] <= 2 { d[0] - 1 } else { d[0] }, d[1], d[2]);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + t[0] * 3600 + t[1] * 60 + t[2];
    let frac = format!("{frac:0<9}");
    secs as i128 * 1_000_000_000 + frac[..9].parse::<i128>().unwrap()
}

fn tshark_frames(path: &Path) -> Vec<Frame> {
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(path)
        .args(["-o", "tcp.analyze_sequence_numbers:TRUE", "-T", "fields"])
        .args(["-e", "frame.time_epoch", "-e", "tcp.stream"])
        .args(["-e", "tcp.flags.syn", "-e", "tcp.flags.ack"])
        .args([
            "-e",
            "tcp.seq_raw",
            "-e",
            "tcp.srcport",
            "-e",
            "tcp.ack_raw",
        ])
        .output()
        .expect("run tshark");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let get = |i: usize| f.get(i).copied().filter(|s| !s.is_empty());
            let flag = |i: usize| get(i).is_some_and(|v| v == "1" || v == "True");
            Frame {
                ns: get(0).map_or(0, epoch_ns),
                stream: get(1).and_then(|s| s.parse().ok()),
                syn: flag(2),
                ack: flag(3),
                seq_raw: get(4).and_then(|s| s.split(',').next()?.parse().ok()),
                sport: get(5).and_then(|s| s.split(',').next()?.parse().ok()),
                ack_raw: get(6).and_then(|s| s.split(',').next()?.parse().ok()),
            }
        })
        .collect()
}

/// A capture whose two legs each carry one direction is read as one
/// stitched view (`compare::far_acks`): a session's connections are each
/// two tshark streams, one per leg (NAT changes the addresses). The
/// streams of `streams` and those holding the other half of their
/// handshakes (a SYN whose ISN + 1 the other's SYN-ACK acknowledges, as
/// the stitch matches them).
fn across_legs(frames: &[Frame], mut streams: BTreeSet<u64>) -> BTreeSet<u64> {
    let isn = |f: &Frame| f.seq_raw.map(|s| (s + 1) % (1 << 32));
    let syns: Vec<&Frame> = frames.iter().filter(|f| f.syn).collect();
    let mine: Vec<&Frame> = syns
        .iter()
        .filter(|f| f.stream.is_some_and(|s| streams.contains(&s)))
        .copied()
        .collect();
    for f in &syns {
        let answers = |a: &Frame, b: &Frame| a.ack && a.ack_raw.is_some() && a.ack_raw == isn(b);
        if mine.iter().any(|m| answers(f, m) || answers(m, f)) {
            streams.extend(f.stream);
        }
    }
    streams
}

/// The checks on one capture; every failure is a line of the result.
fn check(path: &Path) -> Vec<String> {
    let name = path.display().to_string();
    let mut bad = Vec::new();
    let out = bin()
        .args(["analyze", "-f", "json"])
        .arg(path)
        .output()
        .expect("run portmortem");
    let Ok(doc) = serde_json::from_slice::<Value>(&out.stdout) else {
        return vec![format!("{name}: no JSON")];
    };
    let Some(cap) = doc["captures"].get(0) else {
        return bad;
    };
    if !cap["error"].is_null() {
        // A capture read in part: tshark reads its own part.
        return bad;
    }
    let frames = tshark_frames(path);
    let frame = |n: u64| frames.get((n as usize).wrapping_sub(1));
    let p = &cap["packets"];
    let n = |k: &str| p[k].as_u64().unwrap_or(0);
    let total = cap["frame_count"].as_u64().unwrap_or(0);
    if total != frames.len() as u64 {
        bad.push(format!("{name}: {total} frames, tshark {}", frames.len()));
    }
    let skipped: u64 = p["skipped"]
        .as_object()
        .map_or(0, |m| m.values().filter_map(Value::as_u64).sum());
    if n("tcp_segments") + skipped != n("frames") {
        bad.push(format!(
            "{name}: TCP {} + not TCP {skipped} ≠ frames {}",
            n("tcp_segments"),
            n("frames")
        ));
    }
    let not_sessions = &p["not_sessions"];
    let parts = n("control_segments")
        + n("data_segments")
        + n("after_close_segments")
        + n("other_tcp_segments")
        + not_sessions["segments"].as_u64().unwrap_or(0)
        + n("unannounced_segments");
    // A connection that was not a session: its frames are tshark's
    // frames of its tcp.stream, first, last and count.
    for x in not_sessions["listed"].as_array().into_iter().flatten() {
        let (first, last) = (x["first_frame"].as_u64(), x["last_frame"].as_u64());
        let stream = x["tcp_stream"].as_u64();
        let of: Vec<u64> = (1..=frames.len() as u64)
            .filter(|&f| frame(f).is_some_and(|fr| fr.stream.is_some() && fr.stream == stream))
            .collect();
        // A stray on the endpoints of an earlier connection shares its
        // tcp.stream (tshark sees no SYN to start a new one): then only
        // its own frames are compared.
        let own: Vec<u64> = of
            .iter()
            .copied()
            .filter(|&f| first.is_some_and(|a| f >= a))
            .collect();
        let ok = own.first().copied() == first
            && own.last().copied() == last
            && own.len() as u64 == x["segments"].as_u64().unwrap_or(0);
        if !ok {
            bad.push(format!(
                "{name}: not a session, tcp.stream {stream:?} frames {first:?}–{last:?}, {} segments; tshark: {own:?}",
                x["segments"]
            ));
        }
    }
    if parts != n("tcp_segments") {
        bad.push(format!(
            "{name}: TCP categories add up to {parts}, not {}",
            n("tcp_segments")
        ));
    }
    let mut stream_of_session: HashMap<String, BTreeSet<u64>> = HashMap::new();
    for s in doc["sessions"].as_array().into_iter().flatten() {
        let id = s["id"].as_str().unwrap_or("").to_string();
        // A capture holding both legs of a device is compared leg against
        // leg: each leg's sessions are its own, numbered from s1.
        let key = format!("{}/{id}", s["capture"]);
        let first = s["first_frame"].as_u64().unwrap_or(0);
        let Some(f) = frame(first) else {
            bad.push(format!("{name} {id}: first frame {first} does not exist"));
            continue;
        };
        if iso_ns(s["start"].as_str().unwrap_or("1970-01-01T00:00:00Z")) != f.ns {
            bad.push(format!(
                "{name} {id}: start {} is not frame {first}'s time",
                s["start"]
            ));
        }
        let stream = s["tcp_stream"].as_u64();
        if stream.is_some() && f.stream != stream {
            bad.push(format!(
                "{name} {id}: tcp.stream {stream:?}, tshark puts frame {first} in {:?}",
                f.stream
            ));
        }
        let mut streams: BTreeSet<u64> = stream.into_iter().collect();
        for c in s["data_connections"].as_array().into_iter().flatten() {
            streams.extend(c["tcp_stream"].as_u64());
        }
        if cap.get("stitched").is_some() {
            streams = across_legs(&frames, streams);
        }
        stream_of_session.insert(key, streams);
        // ISNs: the SYN (client's) and SYN-ACK (server's) of the stream.
        let client_port: Option<u16> = s["client"]
            .as_str()
            .and_then(|a| a.rsplit(':').next()?.parse().ok());
        for (dir, syn_ack) in [("client", false), ("server", true)] {
            let Some(isn) = s["tcp"][dir]["isn"].as_u64() else {
                continue;
            };
            let from_client = !syn_ack;
            let seen: Vec<u64> = frames
                .iter()
                .filter(|f| f.stream == stream && f.syn && f.ack == syn_ack)
                .filter(|f| (f.sport == client_port) == from_client)
                .filter_map(|f| f.seq_raw)
                .collect();
            if !seen.is_empty() && !seen.contains(&isn) {
                bad.push(format!(
                    "{name} {id}: {dir} ISN {isn}, the SYNs say {seen:?}"
                ));
            }
        }
        for d in s["data_setups"].as_array().into_iter().flatten() {
            let conn = d["connection"]
                .as_u64()
                .and_then(|k| s["data_connections"].get(k as usize));
            let established =
                conn.is_some_and(|c| !c["syn_ack_frame"].is_null() || c["syn_frame"].is_null());
            match d["outcome"].as_str() {
                Some("worked") if !established => bad.push(format!(
                    "{name} {id}: a setup worked without an established connection"
                )),
                Some("failed")
                    if established
                        && matches!(
                            d["failure"].as_str(),
                            Some("refused" | "no-answer" | "wrong-endpoint")
                        ) =>
                {
                    bad.push(format!(
                        "{name} {id}: a setup failed ({}) with an established connection",
                        d["failure"]
                    ))
                }
                _ => {}
            }
        }
    }
    for f in doc["findings"].as_array().into_iter().flatten() {
        let rule = f["rule"].as_str().unwrap_or("");
        let sid = f["session"].as_str().unwrap_or("");
        let key = format!("{}/{sid}", f["capture"]);
        let fr: Vec<u64> = f["frames"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_u64)
            .collect();
        for &k in &fr {
            let Some(x) = frame(k) else {
                bad.push(format!("{name} {rule}: frame {k} does not exist"));
                continue;
            };
            if let (Some(streams), Some(st)) = (stream_of_session.get(&key), x.stream)
                && !streams.is_empty()
                && !streams.contains(&st)
            {
                bad.push(format!(
                    "{name} {rule}: frame {k} (tcp.stream {st}) is not of {sid} ({streams:?})"
                ));
            }
        }
        if let (Some(ts), Some(&k)) = (f["first_ts"].as_str(), fr.first())
            && let Some(x) = frame(k)
            && iso_ns(ts) != x.ns
        {
            bad.push(format!(
                "{name} {rule}: first_ts {ts} is not frame {k}'s time"
            ));
        }
    }
    bad
}

fn check_all(paths: Vec<std::path::PathBuf>) {
    // Two at a time: tshark is the slow part.
    let chunks: Vec<Vec<std::path::PathBuf>> = paths
        .chunks(paths.len().div_ceil(2).max(1))
        .map(<[_]>::to_vec)
        .collect();
    let bad: Vec<String> = std::thread::scope(|sc| {
        let hs: Vec<_> = chunks
            .into_iter()
            .map(|c| sc.spawn(move || c.iter().flat_map(|p| check(p)).collect::<Vec<_>>()))
            .collect();
        hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    assert!(
        bad.is_empty(),
        "{} statements tshark contradicts:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

#[test]
fn testdata_numbers_agree_with_tshark() {
    if !tshark_present() {
        return;
    }
    check_all(testdata_captures().iter().map(|n| testdata(n)).collect());
}

#[test]
fn public_corpus_numbers_agree_with_tshark() {
    if !tshark_present() || !have_public_corpus("public_corpus_numbers_agree_with_tshark") {
        return;
    }
    check_all(corpus_files());
}

#[test]
fn dates_convert() {
    assert_eq!(
        iso_ns("2026-11-24T04:29:18.167557000Z"),
        epoch_ns("1795494558.167557000")
    );
    assert_eq!(iso_ns("1970-01-01T00:00:00Z"), 0);
}
