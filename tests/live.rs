//! `watch -i`: live capture through libpcap, on the loopback interface.
//! Needs root (or CAP_NET_RAW) and `--features live`; `.ci/run` runs it
//! (`cargo test --features live --test live`), and it skips with a printed
//! reason where it cannot capture.
#![cfg(feature = "live")]

mod common;
use common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Stdio;
use std::time::{Duration, Instant};

#[test]
fn a_finding_from_live_traffic_arrives_as_its_session_ends() {
    // A small FTP server on loopback that quotes what it cannot read, as
    // GNU inetutils ftpd does.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let (c, _) = l.accept().unwrap();
        let mut w = c.try_clone().unwrap();
        let mut r = BufReader::new(c);
        w.write_all(b"220 test ftpd ready\r\n").unwrap();
        let mut line = String::new();
        while r.read_line(&mut line).unwrap_or(0) > 0 {
            let t = line.trim_end().to_string();
            let reply = match t.split(' ').next().unwrap_or("") {
                "USER" => "331 Password required.".to_string(),
                "PASS" => "230 Logged in.".to_string(),
                "QUIT" => "221 Bye.".to_string(),
                _ => format!("500 '{t}': command not understood."),
            };
            w.write_all(format!("{reply}\r\n").as_bytes()).unwrap();
            if t == "QUIT" {
                break;
            }
            line.clear();
        }
    });
    let mut watch = bin()
        .args(["watch", "-i", "lo", "-f", "ndjson", "--stats-every", "0"])
        .args([
            "--filter",
            &format!("tcp port {port}"),
            "-p",
            &port.to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let rx = stdout_lines(&mut watch);
    // The first event says the capture is open; without the privilege the
    // command exits instead.
    let first = rx.recv_timeout(Duration::from_secs(10));
    let Ok(first) = first else {
        let mut err = String::new();
        let _ = watch.stderr.take().unwrap().read_to_string(&mut err);
        let _ = watch.wait();
        assert!(
            err.contains("root") || err.contains("permission") || err.contains("ermission"),
            "{err}"
        );
        eprintln!("skipped a_finding_from_live_traffic_arrives_as_its_session_ends: {err}");
        return;
    };
    assert!(first.contains("capture-opened"), "{first}");
    std::thread::sleep(Duration::from_millis(300));
    // A client whose PORT octet is damaged.
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut r = BufReader::new(c.try_clone().unwrap());
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    for cmd in ["USER a", "PASS b", "PORT 127,0,0,1,125,22_", "QUIT"] {
        c.write_all(format!("{cmd}\r\n").as_bytes()).unwrap();
        line.clear();
        r.read_line(&mut line).unwrap();
    }
    drop(r);
    drop(c);
    let closed = Instant::now();
    let finding = loop {
        let l = rx
            .recv_timeout(Duration::from_secs(5))
            .expect("a finding after the session ended");
        let v: Value = serde_json::from_str(&l).unwrap();
        if v["type"] == "finding" {
            break v;
        }
    };
    let after = closed.elapsed();
    signal(&watch, "INT");
    let status = watch.wait().unwrap();
    assert!(after < Duration::from_secs(2), "{after:?}");
    assert!(frames(&finding).iter().all(|&f| f >= 1), "{finding}");
    assert!(status.code().is_some(), "{status:?}");
}
