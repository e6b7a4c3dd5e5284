//! `probe` against `reflect` and against small in-test servers, on
//! loopback, directly and through in-test TCP proxies that do what real
//! devices do: rewrite `227` to `22_` in place (the founding Check Point
//! behaviour) or drop a PORT split across segments (Linux's FTP helper).

mod common;

use common::reflector_at;
use portmortem::ftp::address::AddrKind;
use portmortem::probe::result::{Case, Evidence, Family, Outcome, conclusion};
use portmortem::probe::{Limits, Probe, Target};
use portmortem::rules::Rule;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// Starts a reflector on a free loopback port; it stops with the process.
fn reflector() -> SocketAddr {
    reflector_at("127.0.0.1:0")
}

/// What a proxy does to client→server bytes.
#[derive(Clone, Copy)]
enum Device {
    /// `227` becomes `22_` within each segment, same length.
    Mangle227,
    /// A segment holding a PORT without its line end is dropped, and so
    /// is everything after it (TCP retransmits it forever).
    DropSplitPort,
}

/// A transparent TCP proxy in front of `upstream`.
fn proxy(upstream: SocketAddr, device: Device) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(c) = c else { continue };
            let Ok(s) = TcpStream::connect(upstream) else {
                continue;
            };
            c.set_nodelay(true).unwrap();
            s.set_nodelay(true).unwrap();
            let (mut c2, mut s2) = (c.try_clone().unwrap(), s.try_clone().unwrap());
            // Server → client: untouched.
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut s2, &mut c2);
            });
            std::thread::spawn(move || {
                let (mut c, mut s) = (c, s);
                let mut buf = [0u8; 65536];
                let mut stuck = false;
                loop {
                    let n = match c.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let seg = &mut buf[..n];
                    match device {
                        Device::Mangle227 => {
                            for i in 0..n.saturating_sub(2) {
                                if &seg[i..i + 3] == b"227" {
                                    seg[i + 2] = b'_';
                                }
                            }
                        }
                        Device::DropSplitPort => {
                            if seg.starts_with(b"PORT") && !seg.ends_with(b"\n") {
                                stuck = true;
                            }
                        }
                    }
                    if !stuck && s.write_all(seg).is_err() {
                        break;
                    }
                }
            });
        }
    });
    a
}

/// A small FTP server: `echo` answers a PORT it cannot read strictly with
/// inetutils' `500 'LINE': command not understood.` and quotes file names
/// in its 550s; otherwise it is lenient and quiet, as vsftpd is (reads
/// `22_` as 22, connects there, and says only `550 Could not get file size.`).
fn server(echo: bool) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(c) = c else { continue };
            std::thread::spawn(move || serve(c, echo));
        }
    });
    a
}

fn serve(c: TcpStream, echo: bool) {
    let mut w = c.try_clone().unwrap();
    let mut r = BufReader::new(c);
    let mut data = None;
    let _ = w.write_all(b"220 test server\r\n");
    let mut line = Vec::new();
    loop {
        line.clear();
        if r.read_until(b'\n', &mut line).unwrap_or(0) == 0 {
            return;
        }
        let text = String::from_utf8_lossy(&line).trim_end().to_string();
        let verb = text.split(' ').next().unwrap_or("").to_ascii_uppercase();
        let arg = text.split_once(' ').map_or("", |x| x.1).to_string();
        let reply = match verb.as_str() {
            "USER" => "331 Password required.".to_string(),
            "PASS" => "230 Logged in.".to_string(),
            "PORT" | "EPRT" => {
                let p = AddrKind::of_verb(&verb)
                    .expect("PORT and EPRT are address forms")
                    .parse(text.as_bytes());
                // vsftpd splits at commas and atoi()s each field.
                let atoi = || portmortem::ftp::address::per_field_port(arg.as_bytes());
                match (echo, p.strict) {
                    (true, None) => format!("500 '{text}': command not understood."),
                    (_, s) => match s.or_else(atoi).or(p.lenient) {
                        Some(ep) => {
                            data = Some(ep);
                            "200 PORT command successful.".into()
                        }
                        None => "500 Illegal PORT command.".into(),
                    },
                }
            }
            "NLST" => match data.take() {
                Some(ep) => {
                    match TcpStream::connect_timeout(
                        &SocketAddr::new(ep.ip, ep.port),
                        Duration::from_secs(2),
                    ) {
                        Ok(mut d) => {
                            let _ = w.write_all(b"150 Here comes the listing.\r\n");
                            let _ = d.write_all(b"x\r\n");
                            drop(d);
                            "226 Done.".into()
                        }
                        Err(_) => "425 Failed to establish connection.".into(),
                    }
                }
                None => "425 Use PORT first.".into(),
            },
            "SIZE" | "MDTM" | "CWD" | "RETR" if echo => {
                format!("550 {arg}: No such file or directory.")
            }
            "SIZE" | "MDTM" | "CWD" | "RETR" => "550 Could not get file size.".into(),
            "QUIT" => {
                let _ = w.write_all(b"221 Bye.\r\n");
                return;
            }
            _ => "200 OK.".into(),
        };
        if w.write_all(format!("{reply}\r\n").as_bytes()).is_err() {
            return;
        }
    }
}

struct Run {
    cases: Vec<Case>,
    conclusion: String,
    notes: Vec<String>,
}

/// One probe at a time: probes listen on whole blocks of loopback ports,
/// and a late data connection of one test's server would land on the next
/// test's listener.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn probe(addr: SocketAddr, reflector: bool, families: &[Family], timeout: f64) -> Run {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let target = Target {
        display: format!("ftp://anonymous@{addr}"),
        addr,
        user: "anonymous".into(),
        password: "probe@".into(),
        reflector,
    };
    let limits = Limits {
        rate: 1e6,
        reply_timeout: Duration::from_secs_f64(timeout),
        ..Limits::default()
    };
    let stop = Arc::new(AtomicBool::new(false));
    let progress = |_: &Case| {};
    let mut p = Probe::new(&target, limits, &stop, &progress);
    p.run(families).unwrap();
    assert!(p.stopped.is_none(), "{:?}", p.stopped);
    let cases = std::mem::take(&mut p.cases);
    Run {
        conclusion: conclusion(&cases, &[]),
        cases,
        notes: std::mem::take(&mut p.notes),
    }
}

fn damaged(r: &Run) -> Vec<&Case> {
    r.cases.iter().filter(|c| c.is_damage()).collect()
}

fn has_227(c: &Case) -> bool {
    c.sent.0.windows(3).any(|w| w == b"227")
}

#[test]
fn a_clean_path_to_the_reflector_is_clean() {
    let r = probe(reflector(), true, &Family::ALL, 5.0);
    assert!(damaged(&r).is_empty(), "{:#?}", damaged(&r));
    assert!(
        r.cases.iter().all(|c| c.outcome == Outcome::Intact),
        "{:#?}",
        r.cases
            .iter()
            .filter(|c| c.outcome != Outcome::Intact)
            .collect::<Vec<_>>()
    );
    assert!(r.cases.iter().all(|c| c.evidence == Evidence::Reflector));
    assert!(
        r.conclusion
            .starts_with("The path did not damage any test line"),
        "{}",
        r.conclusion
    );
}

#[test]
fn the_227_rewrite_through_a_proxy_to_the_reflector_is_found_exactly() {
    let r = probe(
        proxy(reflector(), Device::Mangle227),
        true,
        &Family::ALL,
        5.0,
    );
    let bad = damaged(&r);
    // Every line holding 227 that the client sent was rewritten, and
    // nothing else was.
    for c in &r.cases {
        let expect = has_227(c);
        assert_eq!(c.is_damage(), expect, "{c:#?}");
        if expect {
            assert_eq!(c.outcome, Outcome::Rewritten);
            assert_eq!(c.evidence, Evidence::Reflector);
            assert_eq!(c.signature, Some("checkpoint-ftp-bounce-227"), "{c:#?}");
            let arrived = &c.arrived.as_ref().unwrap().0;
            assert!(arrived.windows(3).any(|w| w == b"22_"), "{c:#?}");
        }
    }
    let in_port: Vec<_> = bad
        .iter()
        .filter(|c| matches!(c.family, Family::PortOctet5 | Family::PortOctet6))
        .collect();
    assert_eq!(in_port.len(), 2, "{in_port:#?}");
    assert!(
        in_port
            .iter()
            .all(|c| c.value == Some(227) && c.rule == Some(Rule::PortOctetMangled))
    );
    let names: Vec<_> = bad.iter().filter(|c| c.family == Family::Names).collect();
    assert_eq!(names.len(), 4);
    assert!(names.iter().all(|c| c.rule == Some(Rule::String227Mangled)));
    assert!(
        r.conclusion.starts_with(
            "The path rewrites the digit string 227 to 22_ (in PORT octet 6, PORT octet 5"
        ),
        "{}",
        r.conclusion
    );
    assert!(r.conclusion.contains("file names"), "{}", r.conclusion);
    assert!(
        r.conclusion
            .contains("probability 511/65536 (about 1 in 128)"),
        "{}",
        r.conclusion
    );
}

#[test]
fn a_lenient_server_behind_the_rewrite_gives_itself_away_by_where_it_connects() {
    let run = || {
        probe(
            proxy(server(false), Device::Mangle227),
            false,
            &[Family::PortOctet6, Family::PortOctet5, Family::Names],
            5.0,
        )
    };
    let at_227 = |r: &Run| -> String {
        let cases: Vec<_> = r
            .cases
            .iter()
            .filter(|c| c.value == Some(227) && c.family != Family::Names)
            .collect();
        format!("value 227: {cases:#?}\nnotes: {:?}", r.notes)
    };
    let mut r = run();
    // CI once saw the octet-6 case of 227 not found (never reproduced
    // here in 21 runs): probe once more on fresh ports, so that a real
    // regression still fails; if it does, the message has both probes'
    // value-227 cases (a passing retry shows its first probe only under
    // `--nocapture`).
    let mut first = String::new();
    if damaged(&r).len() != 2 {
        first = format!(
            "first probe: {} damaged cases; {}",
            damaged(&r).len(),
            at_227(&r)
        );
        println!("{first}");
        r = run();
    }
    let bad = damaged(&r);
    assert_eq!(bad.len(), 2, "damaged: {bad:#?}\n{}\n{first}", at_227(&r));
    for c in bad {
        assert_eq!(c.value, Some(227));
        assert_eq!(c.evidence, Evidence::DataConnection);
        assert_eq!(c.signature, Some("checkpoint-ftp-bounce-227"));
        assert!(c.note.as_ref().unwrap().contains("inferred"), "{c:#?}");
    }
    // Other values connect where they were sent; the quiet server's 550s
    // prove nothing about names, and the report says so.
    // (Ports below 1024 may not be listened on without root: at most 4.)
    let intact = r
        .cases
        .iter()
        .filter(|c| c.outcome == Outcome::Intact)
        .count();
    assert!((506..=510).contains(&intact), "{intact}");
    assert!(
        r.cases
            .iter()
            .filter(|c| c.family == Family::Names)
            .all(|c| c.outcome == Outcome::NotEvident)
    );
    let unclear: Vec<_> = r
        .cases
        .iter()
        .filter(|c| c.family != Family::Names && c.outcome == Outcome::NotEvident)
        .collect();
    assert!(unclear.len() <= 4, "{unclear:#?}");
    assert!(
        r.conclusion.contains(&format!(
            "{} test lines gave no evidence",
            1024 + unclear.len()
        )),
        "{}",
        r.conclusion
    );
}

#[test]
fn an_echoing_server_behind_the_rewrite_shows_the_damaged_bytes() {
    let r = probe(
        proxy(server(true), Device::Mangle227),
        false,
        &[Family::PortOctet6, Family::Names],
        5.0,
    );
    let bad = damaged(&r);
    assert_eq!(bad.len(), 5, "{bad:#?}");
    for c in &bad {
        assert!(has_227(c));
        assert_eq!(c.evidence, Evidence::ServerEcho, "{c:#?}");
        assert_eq!(c.signature, Some("checkpoint-ftp-bounce-227"));
    }
    let port = bad.iter().find(|c| c.family == Family::PortOctet6).unwrap();
    assert_eq!(port.fields.as_deref(), Some("octet 6 `227`→`22_`"));
    // Without a rewrite nothing is flagged by the same server.
    let r = probe(
        server(true),
        false,
        &[Family::PortOctet6, Family::Names],
        5.0,
    );
    assert!(damaged(&r).is_empty(), "{:#?}", damaged(&r));
}

#[test]
fn a_device_that_drops_split_port_lines_is_caught() {
    let r = probe(
        proxy(reflector(), Device::DropSplitPort),
        true,
        &[Family::Shapes],
        1.0,
    );
    let bad = damaged(&r);
    assert_eq!(bad.len(), 1, "{bad:#?}");
    assert_eq!(bad[0].outcome, Outcome::Dropped);
    assert_eq!(bad[0].name, "split across two TCP segments");
    assert_eq!(bad[0].signature, Some("linux-nf-conntrack-ftp-partial"));
    // The other shapes, on a fresh control connection, got through.
    assert_eq!(
        r.cases
            .iter()
            .filter(|c| c.outcome == Outcome::Intact)
            .count(),
        r.cases.len() - 1
    );
}

/// Over IPv6 the PORT sweeps cannot run (PORT carries IPv4 only) and say
/// so; EPRT |2| and EPSV carry the test, and come through intact.
#[test]
fn over_ipv6_eprt_and_epsv_carry_the_test() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("skipped over_ipv6_eprt_and_epsv_carry_the_test: no IPv6 loopback here");
        return;
    }
    let target = reflector_at("[::1]:0");
    let r = probe(
        target,
        true,
        &[Family::PortOctet6, Family::Eprt, Family::Passive],
        5.0,
    );
    assert!(r.cases.iter().all(|c| c.family != Family::PortOctet6));
    let eprt: Vec<&Case> = r
        .cases
        .iter()
        .filter(|c| c.family == Family::Eprt)
        .collect();
    assert_eq!(eprt.len(), 256);
    assert!(
        eprt.iter().all(|c| c.outcome == Outcome::Intact),
        "{eprt:#?}"
    );
    assert!(eprt[0].sent.0.starts_with(b"EPRT |2|::1|"));
    // EPSV and LPSV (PASV is IPv4 only and is not sent).
    let passive: Vec<&Case> = r
        .cases
        .iter()
        .filter(|c| c.family == Family::Passive)
        .collect();
    assert!(!passive.is_empty());
    assert!(
        passive.iter().all(|c| c.outcome == Outcome::Intact),
        "{passive:#?}"
    );
}
