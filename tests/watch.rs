//! `watch`: findings stream as they are established, equal to `analyze`'s.

mod common;
use common::*;
use serde_json::Value;
use std::io::Write;
use std::process::{Child, ChildStdin, Stdio};
use std::time::{Duration, Instant};

/// `portmortem watch - ARGS`, fed `bytes` on a standard input left open
/// (the caller drops it to end the input), its stdout piped.
fn watch_fed(args: &[&std::ffi::OsStr], bytes: &[u8]) -> (Child, ChildStdin) {
    let mut child = bin()
        .args(["watch", "-", "-f", "ndjson"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(bytes).unwrap();
    stdin.flush().unwrap();
    (child, stdin)
}

/// The next event of type `kind` on `rx` before `deadline` (panics with
/// `what` past it), and the events before it.
fn next_event(
    rx: &std::sync::mpsc::Receiver<String>,
    kind: &str,
    deadline: Instant,
    what: &str,
) -> (Value, Vec<Value>) {
    let mut before = Vec::new();
    loop {
        let l = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect(what);
        let v: Value = serde_json::from_str(&l).unwrap();
        if v["type"] == kind {
            return (v, before);
        }
        before.push(v);
    }
}

fn events(out: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// (session, rule, severity, frames) of a finding: sessions are numbered
/// in order of detection in every mode.
fn key(f: &Value) -> String {
    format!(
        "{} {} {} {:?}",
        f["session"],
        f["rule"],
        f["severity"],
        frames(f)
    )
}

/// The findings a stream of events ends with: a finding said early and
/// later revised counts once, as revised; a withdrawn one not at all.
fn final_findings(ev: &[Value]) -> Vec<String> {
    let mut last: std::collections::BTreeMap<String, String> = Default::default();
    let name = |e: &Value| format!("{} {} {:?}", e["session"], e["rule"], frames(e).first());
    for e in ev {
        if e["type"] == "finding" {
            let had = last.insert(name(e), key(e));
            // Only a revision may say a finding again.
            assert_eq!(had.is_some(), e["revises_earlier"] == true, "{e}");
        } else if e["type"] == "finding-withdrawn" {
            assert!(last.remove(&name(e)).is_some(), "{e}");
        }
    }
    last.into_values().collect()
}

#[test]
fn the_same_findings_as_analyze_on_every_testdata_capture() {
    let names = testdata_captures();
    let mut total = 0;
    for n in &names {
        // watch follows a stream, read once: a capture of one place is
        // read as `analyze --one-view` reads it.
        let (_, doc) = analyze(&[n], &["--one-view"]);
        let mut want: Vec<String> = doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(key)
            .collect();
        let out = bin()
            .args(["watch", "-f", "ndjson"])
            .arg(testdata(n))
            .output()
            .unwrap();
        let ev = events(&out.stdout);
        if ev.iter().any(|e| e["type"] == "legs-folded") {
            // Two legs in one file: watch reads one of them, so its
            // findings are that leg's (tests/legs_counts.rs holds them
            // against the capture taken at that interface).
            continue;
        }
        let mut got = final_findings(&ev);
        want.sort();
        got.sort();
        assert_eq!(got, want, "{n}");
        total += got.len();
        // Every session that started ended, and the run closed.
        let started = ev.iter().filter(|e| e["type"] == "session-started").count();
        let ended = ev.iter().filter(|e| e["type"] == "session-ended").count();
        assert_eq!(started, ended, "{n}");
        assert_eq!(ev.last().unwrap()["type"], "capture-closed", "{n}");
    }
    assert!(total > 40, "{total} findings over {} captures", names.len());
}

/// The writer keeps the pipe open and stops right after the frame that
/// answers the data connection to the wrong port: the finding must come
/// then, before its session ends and before the input does.
#[test]
fn a_wrong_port_connection_is_written_when_it_is_answered() {
    let (_, doc) = analyze(&["lab-mangle-vsftpd-client.pcap"], &[]);
    let f = &doc["findings"][0];
    assert_eq!(f["rule"], "port-silently-truncated");
    // The wrong port's answer (its RST); the server's 425 after it is the
    // same event's (transfer-failed, folded in), not needed to judge it.
    let answer = doc["sessions"][0]["data_connections"][0]["last_frame"]
        .as_u64()
        .unwrap();
    let to_answer: Vec<u64> = frames(f).into_iter().filter(|&n| n <= answer).collect();
    let pcap = std::fs::read(testdata("lab-mangle-vsftpd-client.pcap")).unwrap();
    let (mut child, stdin) = watch_fed(&[], &without_frames(&pcap, &|n| n > answer));
    let rx = stdout_lines(&mut child);
    let deadline = Instant::now() + Duration::from_secs(20);
    let (finding, before) = next_event(&rx, "finding", deadline, "a finding before the input ends");
    assert_eq!(
        key(&finding),
        format!(
            "{} {} {} {:?}",
            f["session"], f["rule"], f["severity"], to_answer
        ),
        "analyze's finding, as far as the input goes"
    );
    assert!(
        before
            .iter()
            .all(|v| v["type"] != "capture-closed" && v["type"] != "session-ended"),
        "{before:?}"
    );
    drop(stdin);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1));
}

/// An echo mismatch is said when the server's `500` arrives, while its
/// session and the input are still open: the stream is cut right after
/// the reply that quotes the damaged PORT.
#[test]
fn an_echo_mismatch_is_written_when_the_reply_arrives() {
    let (_, doc) = analyze(&["lab-mangle-inetutils-client.pcap"], &[]);
    let f = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "port-echo-mismatch")
        .expect("analyze finds the echo mismatch");
    let reply_frame = *frames(f).last().unwrap();
    let pcap = std::fs::read(testdata("lab-mangle-inetutils-client.pcap")).unwrap();
    let cut = without_frames(&pcap, &|n| n > reply_frame);
    let (mut child, stdin) = watch_fed(&[], &cut);
    let rx = stdout_lines(&mut child);
    let deadline = Instant::now() + Duration::from_secs(20);
    let (got, before) = next_event(&rx, "finding", deadline, "the echo mismatch");
    assert_eq!(got["rule"], "port-echo-mismatch");
    assert_eq!(key(&got), key(f), "the same finding as analyze's");
    assert!(
        before.iter().all(|v| v["type"] != "session-ended"),
        "{before:?}"
    );
    drop(stdin);
    let _ = child.wait();
}

/// SIGTERM ends the open sessions, writes their findings and the summary.
#[test]
fn sigterm_flushes_open_sessions_and_closes() {
    let pcap = std::fs::read(testdata("lab-mangle-inetutils-client.pcap")).unwrap();
    // The frames up to the 500 echo and a little after: the session is
    // still open when the signal comes.
    let part = without_frames(&pcap, &|n| n > 20);
    let (child, stdin) = watch_fed(&[], &part);
    std::thread::sleep(Duration::from_millis(800));
    signal(&child, "TERM");
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    let ev = events(&out.stdout);
    let last = ev.last().unwrap();
    assert_eq!(last["type"], "capture-closed");
    assert_eq!(last["why"], "interrupted");
    let ended: Vec<&Value> = ev.iter().filter(|e| e["type"] == "session-ended").collect();
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0]["end_reason"], "capture-end");
    assert!(
        ev.iter()
            .any(|e| e["type"] == "finding" && e["rule"] == "port-echo-mismatch")
    );
    assert_eq!(out.status.code(), Some(1));
}

/// A session silent past --idle-timeout (by the capture's clock) is ended
/// and its stall reported then, saying it was no longer followed.
#[test]
fn an_idle_session_is_ended_and_its_stall_reported() {
    let out = bin()
        .args(["watch", "-f", "ndjson", "--idle-timeout", "21"])
        .arg(testdata("lab-mangle-inetutils-client.pcap"))
        .output()
        .unwrap();
    let ev = events(&out.stdout);
    let ended: Vec<&Value> = ev.iter().filter(|e| e["type"] == "session-ended").collect();
    assert_eq!(ended[0]["end_reason"], "idle", "{ended:?}");
    // The stall is the echoed PORT's consequence: the finding is revised
    // at the session's end with it as a related fact.
    let revised = ev
        .iter()
        .find(|e| {
            e["type"] == "finding"
                && e["rule"] == "port-echo-mismatch"
                && e["revises_earlier"] == true
        })
        .expect("the echo finding, revised");
    let stall = related_of(revised, "session-stall-after-ctl");
    assert!(message(stall).contains("no longer followed"), "{stall}");
}

/// A ring buffer's directory: files read in order as one stream, a session
/// spanning two files is one session (with analyze's findings, frame
/// numbers running on across files); the newest file is followed as it
/// grows, so its findings come without waiting for the next rotation; and
/// at a signal every file is read to its current end, none left unread.
#[test]
fn a_directory_of_rotated_files_is_one_stream() {
    let dir = temp_dir("watch-dir");
    let name = "lab-mangle-vsftpd-client.pcap";
    let pcap = std::fs::read(testdata(name)).unwrap();
    let (_, doc) = analyze(&[name], &[]);
    let want: Vec<String> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(key)
        .collect();
    let mut child = bin()
        .args(["watch", "-f", "ndjson", "--dir"])
        .arg(&dir)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let rx = stdout_lines(&mut child);
    let write = |n: &str, bytes: &[u8]| {
        std::fs::write(dir.join(n), bytes).unwrap();
        std::thread::sleep(Duration::from_millis(50));
    };
    // The session's frames split over two files; the second is the
    // newest, still open to its writer: no third file makes it due.
    write("a1.pcap", &without_frames(&pcap, &|n| n > 12));
    write("a2.pcap", &without_frames(&pcap, &|n| n <= 12));
    // A finding may come first as far as the frames then judged it, and
    // again, revised, when a later frame adds to the same event: the last
    // word on each is analyze's.
    let mut got: std::collections::BTreeMap<String, String> = Default::default();
    let deadline = Instant::now() + Duration::from_secs(20);
    let name = |e: &Value| format!("{} {}", e["session"], e["rule"]);
    let mut want = want;
    want.sort();
    while got.values().cloned().collect::<Vec<_>>() != want {
        let what = "the findings of the session spanning a1 and a2, a2 the newest";
        let e = next_event(&rx, "finding", deadline, what).0;
        got.insert(name(&e), key(&e));
    }
    // A new file, its header first and its packets a moment later, then
    // the signal at once: it is read to its end before the run stops
    // (its packets repeat the closed session's, so they are counted as
    // after its close, every frame of them).
    write("a3.pcap", &pcap[..24]);
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(dir.join("a3.pcap"))
            .unwrap();
        f.write_all(&pcap[24..]).unwrap();
    }
    signal(&child, "TERM");
    let status = child.wait().unwrap();
    let mut rest = Vec::new();
    while let Ok(l) = rx.recv_timeout(Duration::from_secs(5)) {
        rest.push(serde_json::from_str::<Value>(&l).unwrap());
    }
    let closed: Vec<&Value> = rest
        .iter()
        .filter(|e| {
            e["type"] == "capture-closed"
                && e["path"].as_str().is_some_and(|p| p.ends_with("a3.pcap"))
        })
        .collect();
    assert_eq!(closed.len(), 1, "{rest:?}");
    assert!(
        rest.iter().all(|e| e["type"] != "capture-missed"),
        "{rest:?}"
    );
    let stats = rest.iter().rev().find(|e| e["type"] == "stats").unwrap();
    let frames = |b: &[u8]| {
        let (mut n, mut at) = (0, 24);
        while at + 16 <= b.len() {
            at += 16 + u32::from_le_bytes(b[at + 8..at + 12].try_into().unwrap()) as usize;
            n += 1;
        }
        n
    };
    assert_eq!(stats["packets"]["frames"], 2 * frames(&pcap), "{stats}");
    // Findings with errors: exit 1.
    assert_eq!(status.code(), Some(1));
}

/// The flight recorder: a failing session's packets and report, written as
/// it ends; the evidence capture alone shows the same finding.
#[test]
fn evidence_files_are_written_for_failing_sessions() {
    let dir = temp_dir("watch-evidence");
    let out = bin()
        .args(["watch", "-f", "ndjson", "--evidence-dir"])
        .arg(&dir)
        .arg(testdata("lab-mangle-vsftpd-client.pcap"))
        .output()
        .unwrap();
    let ev = events(&out.stdout);
    let e = ev
        .iter()
        .find(|e| e["type"] == "evidence")
        .expect("an evidence event");
    assert_eq!(e["incomplete"], false, "{e}");
    assert!(e.get("error").is_none(), "{e}");
    let pcapng = e["pcapng"].as_str().unwrap();
    let md = std::fs::read_to_string(e["markdown"].as_str().unwrap()).unwrap();
    assert!(md.contains("port-silently-truncated"), "{md}");
    let (_, doc) = analyze(&[pcapng], &[]);
    assert!(
        rules(&doc).contains(&"port-silently-truncated".to_string()),
        "{doc}"
    );
    // Only the failing session, control and data connections.
    assert_eq!(doc["sessions"].as_array().unwrap().len(), 1);
    assert!(e["packets"].as_u64().unwrap() >= 10, "{e}");
}

/// SIGHUP reopens the events file at its path (logrotate moves it away).
#[test]
fn sighup_reopens_the_events_file() {
    let dir = temp_dir("watch-hup");
    let log = dir.join("events.ndjson");
    let pcap = std::fs::read(testdata("lab-mangle-vsftpd-client.pcap")).unwrap();
    let (mut child, stdin) = watch_fed(&["-o".as_ref(), log.as_os_str()], &pcap);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("session-ended")
    {
        assert!(Instant::now() < deadline, "no session-ended event");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::fs::rename(&log, dir.join("events.ndjson.1")).unwrap();
    signal(&child, "HUP");
    std::thread::sleep(Duration::from_millis(300));
    drop(stdin);
    assert_eq!(child.wait().unwrap().code(), Some(1));
    let old = events(&std::fs::read(dir.join("events.ndjson.1")).unwrap());
    let new = events(&std::fs::read(&log).unwrap());
    assert!(old.iter().any(|e| e["type"] == "finding"));
    // The run's end went to the reopened file, every line whole.
    assert_eq!(new.last().unwrap()["type"], "capture-closed");
}

/// --exec runs a command per warning or error finding with its event on
/// standard input.
#[test]
fn exec_hooks_get_each_finding() {
    let dir = temp_dir("watch-exec");
    let got = dir.join("hook.ndjson");
    let out = bin()
        .args(["watch", "-f", "ndjson", "--exec"])
        .arg(format!("cat >> '{}'", got.display()))
        .arg(testdata("lab-mangle-inetutils-client.pcap"))
        .output()
        .unwrap();
    let sent: Vec<String> = events(&out.stdout)
        .iter()
        .filter(|e| e["type"] == "finding" && e["severity"] != "info")
        .map(key)
        .collect();
    let mut hooked: Vec<String> = events(&std::fs::read(&got).unwrap())
        .iter()
        .map(key)
        .collect();
    hooked.sort();
    let mut sent = sent;
    sent.sort();
    assert_eq!(hooked, sent);
    assert_eq!(sent.len(), 2);
}
