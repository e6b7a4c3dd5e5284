//! `portmortem probe`: reproduce a path's rewriting on demand.
//!
//! The analysis stages prove damage from captures someone happened to
//! take; the probe makes the traffic itself. It logs in to an FTP server
//! (or to `portmortem reflect` on the far side), sends test lines built
//! with the same code that reads them (`AddrKind::emit`), and learns what
//! arrived from the best evidence the far end gives: the reflector's exact
//! report, the server's echo of the line, where the server opened the data
//! connection, or silence. Each difference is named by `rules::rewrite`,
//! the classifier `compare` uses, so the two cannot disagree.
//!
//! Safe by construction: it talks only to the host it was given; every
//! PORT/EPRT names the probe's own address; commands are paced, counted
//! and capped, and the whole run has a time budget (`Limits`).

pub mod reflect;
pub mod result;
pub mod wire;

use crate::bytes::Bytes;
use crate::ftp::address::{AddrKind, Endpoint};
use crate::ftp::echo::find_echo;
use crate::reassembly::connection::Side;
use crate::rules::rewrite::{self, What};
use crate::rules::signatures::{self, LINUX_CONNTRACK_PARTIAL};
use crate::rules::{Rule, Severity};
use result::{Case, Evidence, Family, Outcome};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use wire::{Control, Reply, Silence};

/// Where to probe and how to log in.
pub struct Target {
    /// As the user gave it, for the report (no password).
    pub display: String,
    pub addr: SocketAddr,
    pub user: String,
    pub password: String,
    /// The far end is `portmortem reflect`.
    pub reflector: bool,
}

/// The pace and the caps of a run.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Commands per second at most.
    pub rate: f64,
    /// Commands in all at most.
    pub max_commands: usize,
    /// The whole run at most.
    pub budget: Duration,
    /// How long a reply may take before the line counts as dropped.
    pub reply_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            rate: 100.0,
            max_commands: 5000,
            budget: Duration::from_secs(600),
            reply_timeout: Duration::from_secs(5),
        }
    }
}

/// The banner may come late (GNU inetutils ftpd: about 5 s).
const BANNER_TIMEOUT: Duration = Duration::from_secs(15);
/// How long to wait for a data connection after the server's 1xx.
const DATA_WAIT: Duration = Duration::from_secs(2);
/// Pause between the two segments of a split line.
const SPLIT_GAP: Duration = Duration::from_millis(200);

/// A run in progress.
pub struct Probe<'a> {
    target: &'a Target,
    limits: Limits,
    stop: &'a AtomicBool,
    ctl: Option<Control>,
    started: Instant,
    last_send: Option<Instant>,
    pub commands: usize,
    pub reconnects: usize,
    /// The client address as the far end sees it (reflector only).
    seen_as: Option<IpAddr>,
    pub cases: Vec<Case>,
    pub notes: Vec<String>,
    /// Caps hit, said in the report.
    pub stopped: Option<String>,
    progress: &'a (dyn Fn(&Case) + Sync),
}

/// Why a run cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("cannot connect to {0}: {1}")]
    Connect(SocketAddr, std::io::Error),
    #[error("{0}: no banner ({1:?})")]
    Banner(SocketAddr, Silence),
    #[error("{0}: login refused: {1}")]
    Login(SocketAddr, String),
    #[error("{0}: login got no reply ({1:?})")]
    LoginSilent(SocketAddr, Silence),
}

impl<'a> Probe<'a> {
    pub fn new(
        target: &'a Target,
        limits: Limits,
        stop: &'a AtomicBool,
        progress: &'a (dyn Fn(&Case) + Sync),
    ) -> Self {
        Probe {
            target,
            limits,
            stop,
            ctl: None,
            started: Instant::now(),
            last_send: None,
            commands: 0,
            reconnects: 0,
            seen_as: None,
            cases: Vec::new(),
            notes: Vec::new(),
            stopped: None,
            progress,
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Connects and logs in; the first failure ends the run. Returns the
    /// probe's own address on the control connection.
    fn login(&mut self) -> Result<IpAddr, ProbeError> {
        let t = self.target;
        let mut c = Control::connect(t.addr, Duration::from_secs(10))
            .map_err(|e| ProbeError::Connect(t.addr, e))?;
        let banner = c
            .reply(BANNER_TIMEOUT)
            .map_err(|s| ProbeError::Banner(t.addr, s))?;
        if banner.code / 100 != 2 {
            return Err(ProbeError::Login(t.addr, banner.text()));
        }
        if t.reflector {
            self.seen_as = wire::field(banner.last(), "peer")
                .and_then(|p| String::from_utf8(p).ok())
                .and_then(|p| p.parse::<SocketAddr>().ok())
                .map(|a| a.ip());
        }
        let local = c.local.ip();
        self.ctl = Some(c);
        let user = format!("USER {}\r\n", t.user);
        let mut r = self
            .exchange(&[user.as_bytes()], 1)
            .map_err(|s| ProbeError::LoginSilent(t.addr, s))?;
        if r.code == 331 || r.code == 332 {
            let pass = format!("PASS {}\r\n", t.password);
            r = self
                .exchange(&[pass.as_bytes()], 1)
                .map_err(|s| ProbeError::LoginSilent(t.addr, s))?;
        }
        if r.code / 100 != 2 {
            return Err(ProbeError::Login(t.addr, r.text()));
        }
        Ok(local)
    }

    /// Whether the run must end: Ctrl-C, the command cap or the budget.
    fn must_stop(&mut self) -> bool {
        if self.stopped.is_some() {
            return true;
        }
        let why = if self.stop.load(Ordering::Relaxed) {
            Some("interrupted".to_string())
        } else if self.commands >= self.limits.max_commands {
            Some(format!(
                "the cap of {} commands was reached",
                self.limits.max_commands
            ))
        } else if self.elapsed() >= self.limits.budget {
            Some(format!(
                "the time budget of {} s was used up",
                self.limits.budget.as_secs()
            ))
        } else {
            None
        };
        self.stopped = why;
        self.stopped.is_some()
    }

    /// Sends `parts` (separate segments), reads `n` replies (at least one)
    /// and returns the last. A silence closes the control connection: the
    /// next exchange logs in again.
    fn exchange(&mut self, parts: &[&[u8]], n: usize) -> Result<Reply, Silence> {
        if self.ctl.is_none() {
            self.reconnects += 1;
            if let Err(e) = self.login() {
                self.notes.push(format!("reconnecting failed: {e}"));
                self.stopped = Some(format!("the server could not be reached again ({e})"));
                return Err(Silence::Closed);
            }
        }
        let gap = Duration::from_secs_f64(1.0 / self.limits.rate.max(0.1));
        if let Some(t) = self.last_send {
            let wait = gap.saturating_sub(t.elapsed());
            std::thread::sleep(wait);
        }
        self.last_send = Some(Instant::now());
        self.commands += parts
            .iter()
            .map(|p| p.iter().filter(|&&b| b == b'\n').count())
            .sum::<usize>()
            .max(1);
        let timeout = self.limits.reply_timeout;
        let Some(ctl) = self.ctl.as_mut() else {
            return Err(Silence::Closed);
        };
        let r = ctl.send(parts, SPLIT_GAP).and_then(|()| {
            let mut last = ctl.reply(timeout)?;
            for _ in 1..n {
                last = ctl.reply(timeout)?;
            }
            Ok(last)
        });
        if r.is_err() {
            self.ctl = None;
        }
        r
    }

    fn peer_ip(&self) -> IpAddr {
        self.target.addr.ip()
    }

    /// How NAT maps the probe's address (sent, as the far end sees it).
    fn nat(&self, local: IpAddr) -> (IpAddr, IpAddr) {
        (local, self.seen_as.unwrap_or(local))
    }

    fn record(&mut self, c: Case) {
        (self.progress)(&c);
        self.cases.push(c);
    }

    /// Runs every family of the plan that the control connection allows.
    pub fn run(&mut self, families: &[Family]) -> Result<(), ProbeError> {
        let local = self.login()?;
        if self.target.reflector && self.seen_as.is_none() {
            self.notes.push(
                "the reflector's banner did not say how it sees the probe's address, so NAT rewrites cannot be told from damage".into(),
            );
        }
        for f in families {
            if self.must_stop() {
                break;
            }
            match f {
                Family::PortOctet6 => self.port_sweep(local, 6),
                Family::PortOctet5 => self.port_sweep(local, 5),
                Family::Eprt => self.eprt_sweep(local),
                Family::Names => self.names(),
                Family::Passive => self.passive(),
                Family::Shapes => self.shapes(local),
            }
        }
        let _ = self.exchange(&[b"QUIT\r\n"], 1);
        Ok(())
    }

    /// PORT with each value 0–255 in one port octet, the other fixed;
    /// listening on every port the sweep can produce, so a server that
    /// misreads the swept octet is seen connecting to its neighbour.
    fn port_sweep(&mut self, local: IpAddr, octet: u8) {
        let IpAddr::V4(_) = local else {
            self.notes
                .push("PORT sweeps skipped: the control connection is IPv6".into());
            return;
        };
        let family = if octet == 6 {
            Family::PortOctet6
        } else {
            Family::PortOctet5
        };
        let (fixed, listeners) = Listeners::sweep(local, octet);
        let port_of = |v: u16| sweep_port(octet, fixed, v);
        if listeners.missing > 0 {
            self.notes.push(format!(
                "{}: could not listen on {} of the 256 ports (in use or below 1024), so for those values only the server's reply is evidence",
                family.title(),
                listeners.missing
            ));
        }
        for v in 0..=255u16 {
            if self.must_stop() {
                break;
            }
            let ep = Endpoint {
                ip: local,
                port: port_of(v),
            };
            // IPv4, checked above: PORT carries nothing else.
            let Some(line) = AddrKind::Port.emit(ep) else {
                break;
            };
            let c = self.active_case(
                family,
                Some(v as u8),
                format!("octet {octet} = {v}"),
                line,
                Shape::Plain,
                ep,
                &listeners,
            );
            self.record(c);
        }
    }

    /// EPRT to the ports of the octet-6 sweep: the decimal port string
    /// goes through the same inspection as PORT's octets.
    fn eprt_sweep(&mut self, local: IpAddr) {
        let (fixed, listeners) = Listeners::sweep(local, 6);
        let ports: Vec<u16> = (0..=255).map(|v| sweep_port(6, fixed, v)).collect();
        for p in ports {
            if self.must_stop() {
                break;
            }
            let ep = Endpoint { ip: local, port: p };
            let Some(line) = AddrKind::Eprt.emit(ep) else {
                break;
            };
            let c = self.active_case(
                Family::Eprt,
                None,
                format!("port {p}"),
                line,
                Shape::Plain,
                ep,
                &listeners,
            );
            self.record(c);
        }
    }

    /// The PORT test with one line shape (a separate segment each, split,
    /// after another command, lower case, bare LF): what ALGs mishandle.
    fn shapes(&mut self, local: IpAddr) {
        let IpAddr::V4(_) = local else {
            return;
        };
        // A value the octet-6 sweep found intact, so only the shape varies.
        let v = self
            .cases
            .iter()
            .find(|c| c.family == Family::PortOctet6 && c.outcome == Outcome::Intact)
            .and_then(|c| c.value)
            .unwrap_or(100);
        let (fixed, listeners) = Listeners::sweep(local, 6);
        let ep = Endpoint {
            ip: local,
            port: sweep_port(6, fixed, u16::from(v)),
        };
        let Some(line) = AddrKind::Port.emit(ep) else {
            return;
        };
        for shape in [
            Shape::Split,
            Shape::Pipelined,
            Shape::Lowercase,
            Shape::BareLf,
        ] {
            if self.must_stop() {
                return;
            }
            let c = self.active_case(
                Family::Shapes,
                None,
                shape.name().into(),
                line.clone(),
                shape,
                ep,
                &listeners,
            );
            self.record(c);
        }
        if self.must_stop() {
            return;
        }
        // A long line: 1,500 bytes, more than one segment on most paths.
        let name = format!("portmortem-{}.probe", "x".repeat(1480));
        let c = self.name_case(
            Family::Shapes,
            "long line (1,500 bytes)",
            "SIZE",
            &name,
            None,
        );
        self.record(c);
    }

    /// One PORT/EPRT test: the line, then NLST to trigger the data
    /// connection, and what the far end says arrived.
    #[allow(clippy::too_many_arguments)]
    fn active_case(
        &mut self,
        family: Family,
        value: Option<u8>,
        name: String,
        line: Vec<u8>,
        shape: Shape,
        expect: Endpoint,
        listeners: &Listeners,
    ) -> Case {
        let sent = shape.apply(&line);
        let mut case = Case::new(family, name, value, &sent);
        let nat = self.nat(expect.ip);
        listeners.begin(expect.port);
        let r = match self.exchange(&shape.parts(&sent), shape.replies()) {
            Ok(r) => r,
            Err(s) => return silence(case, s, shape),
        };
        case.reply = Some(r.text());
        let verb = if matches!(family, Family::Eprt) {
            "EPRT"
        } else {
            "PORT"
        };
        let (arrived, evidence) = self.arrived(&r, verb);
        let mut connected = None;
        if r.code / 100 == 2 {
            match self.exchange(&[b"NLST\r\n"], 1) {
                Ok(r2) => {
                    connected = listeners.wait(if r2.code / 100 == 1 {
                        DATA_WAIT
                    } else {
                        Duration::ZERO
                    });
                    if r2.code / 100 == 1 {
                        // The transfer's end (226, or 425/426).
                        if let Some(ctl) = self.ctl.as_mut()
                            && ctl.reply(self.limits.reply_timeout).is_err()
                        {
                            self.ctl = None;
                        }
                    }
                    case.data = Some(match connected {
                        Some(p) => format!("the server connected to port {p}"),
                        None => format!("no data connection to this probe ({})", r2.text()),
                    });
                }
                Err(s) => {
                    case.data = Some(format!("NLST got no reply ({s:?})"));
                }
            }
        }
        judge(
            &mut case,
            Side::Client,
            &shape.line(&line),
            arrived,
            evidence,
            nat,
            r.code,
            connected.map(|p| (p, expect.port)),
            listeners.has(expect.port),
        );
        if case.outcome == Outcome::Rejected && expect.port < 1024 {
            case.note = Some(
                "servers refuse data ports below 1024 (RFC 2577, the FTP bounce defence)".into(),
            );
        }
        case
    }

    /// What the far end says arrived: the reflector's `rx=`, or the
    /// server's quote of the line in its reply.
    fn arrived(&self, r: &Reply, verb: &str) -> (Option<Vec<u8>>, Evidence) {
        if self.target.reflector {
            if let Some(rx) = wire::field(r.last(), "rx") {
                return (Some(wire::trim_eol(&rx).to_vec()), Evidence::Reflector);
            }
            return (None, Evidence::None);
        }
        match find_echo(r.last(), Some(verb)) {
            Some(e) if !matches!(e.style, crate::ftp::echo::EchoStyle::VerbOnly) => {
                (Some(e.quoted.0), Evidence::ServerEcho)
            }
            _ => (None, Evidence::None),
        }
    }

    /// File names with each value 0–255 in `SIZE`/`MDTM`/`CWD`/`RETR` of
    /// names that do not exist: servers quote the name in their 550.
    fn names(&mut self) {
        for verb in ["SIZE", "MDTM", "CWD", "RETR"] {
            for v in 0..=255u8 {
                if self.must_stop() {
                    return;
                }
                let name = format!("portmortem-{v}.probe");
                let c = self.name_case(Family::Names, &format!("{verb} {v}"), verb, &name, Some(v));
                self.record(c);
            }
        }
    }

    fn name_case(
        &mut self,
        family: Family,
        label: &str,
        verb: &str,
        name: &str,
        value: Option<u8>,
    ) -> Case {
        let line = format!("{verb} {name}");
        let sent = format!("{line}\r\n").into_bytes();
        let mut case = Case::new(family, label.into(), value, &sent);
        let r = match self.exchange(&[&sent], 1) {
            Ok(r) => r,
            Err(s) => return silence(case, s, Shape::Plain),
        };
        case.reply = Some(r.text());
        let (arrived, evidence) = if self.target.reflector {
            self.arrived(&r, verb)
        } else {
            // The name between its markers, wherever the reply quotes it.
            match quoted_name(r.last()) {
                Some(n) => {
                    let mut l = format!("{verb} ").into_bytes();
                    l.extend_from_slice(&n);
                    (Some(l), Evidence::ServerEcho)
                }
                None => (None, Evidence::None),
            }
        };
        let local = self.ctl.as_ref().map_or(self.peer_ip(), |c| c.local.ip());
        judge(
            &mut case,
            Side::Client,
            line.as_bytes(),
            arrived,
            evidence,
            self.nat(local),
            r.code,
            None,
            false,
        );
        // A 550 is the expected answer for a name that does not exist: on
        // its own it proves nothing about the path.
        if case.outcome == Outcome::Rejected {
            case.outcome = Outcome::NotEvident;
        }
        case
    }

    /// PASV and EPSV: the reply the client receives, against the control
    /// peer and against where the data connection really opens. With a
    /// reflector, PASV announcing each value 0–255 in octet 6, and the
    /// reflector's own copy of what it sent.
    fn passive(&mut self) {
        let mut plan: Vec<(AddrKind, Option<u16>)> = Vec::new();
        if self.target.reflector {
            let fixed = 4 + random() % 250;
            plan.extend((0..=255u16).map(|v| (AddrKind::Pasv, Some(sweep_port(6, fixed, v)))));
            plan.push((AddrKind::Epsv, None));
            plan.push((AddrKind::Lpsv, None));
        } else {
            plan.push((AddrKind::Pasv, None));
            plan.push((AddrKind::Epsv, None));
        }
        for (kind, port) in plan {
            if self.must_stop() {
                return;
            }
            if kind == AddrKind::Pasv && self.peer_ip().is_ipv6() {
                continue;
            }
            // The reflector answers 425 when the port is taken on its host:
            // the same octet-6 value with another high byte, up to 4 tries.
            let mut case = None;
            for attempt in 0..4 {
                let port = port.map(|p| {
                    if attempt == 0 {
                        p
                    } else {
                        sweep_port(6, 4 + random() % 250, p & 0xff)
                    }
                });
                if let Some(p) = port {
                    let site =
                        format!("SITE PMPORT {}\r\n", wire::encode(p.to_string().as_bytes()));
                    if self.exchange(&[site.as_bytes()], 1).is_err() {
                        break;
                    }
                }
                let c = self.passive_case(kind, port);
                let busy =
                    port.is_some() && c.reply.as_deref().is_some_and(|r| r.starts_with("425"));
                case = Some(c);
                if !busy {
                    break;
                }
            }
            if let Some(c) = case {
                self.record(c);
            }
        }
    }

    fn passive_case(&mut self, kind: AddrKind, port: Option<u16>) -> Case {
        let verb = kind.verb();
        let sent = format!("{verb}\r\n").into_bytes();
        let label = match port {
            Some(p) => format!("{verb} announcing port {p} (octet 6 = {})", p & 0xff),
            None => verb.to_string(),
        };
        let mut case = Case::new(Family::Passive, label, port.map(|p| p as u8), &sent);
        let r = match self.exchange(&[&sent], 1) {
            Ok(r) => r,
            Err(s) => return silence(case, s, Shape::Plain),
        };
        case.reply = Some(r.text());
        let line = r.last().to_vec();
        // The reply as received, without the reflector's own report.
        let head = match line.windows(4).position(|w| w == b" tx=") {
            Some(p) => line[..p].to_vec(),
            None => line.clone(),
        };
        let arg = kind.parse(&head);
        let peer = self.peer_ip();
        let announced = arg.strict.or(arg.lenient).map(|e| {
            if e.ip.is_unspecified() {
                Endpoint { ip: peer, ..e }
            } else {
                e
            }
        });
        // Where the data connection really opens: only ever to the host we
        // were given, whatever address the reply names.
        let mut connected = None;
        if let Some(e) = announced {
            if e.ip != peer {
                case.note = Some(format!(
                    "the reply names {}, not the control peer {peer}; the probe connected to {peer} instead",
                    e.ip
                ));
            }
            let to = SocketAddr::new(peer, e.port);
            if let Ok(mut d) = TcpStream::connect_timeout(&to, DATA_WAIT)
                && let Ok(r2) = self.exchange(&[b"NLST\r\n"], 1)
            {
                let mut buf = Vec::new();
                let _ = d.set_read_timeout(Some(DATA_WAIT));
                let _ =
                    std::io::Read::read_to_end(&mut std::io::Read::take(&mut d, 65536), &mut buf);
                if r2.code / 100 == 1
                    && let Some(ctl) = self.ctl.as_mut()
                    && ctl.reply(self.limits.reply_timeout).is_err()
                {
                    self.ctl = None;
                }
                connected = Some(e.port);
            }
            case.data = Some(match connected {
                Some(p) => format!("the probe connected to port {p}"),
                None => format!("the probe could not connect to port {}", e.port),
            });
        }
        if self.target.reflector {
            if let Some(tx) = wire::field(&line, "tx") {
                // The reply's sender is the reflector: its own address as
                // it wrote it, and as the probe reaches it.
                let own = kind
                    .parse(&tx)
                    .strict
                    .map(|e| e.ip)
                    .filter(|ip| !ip.is_unspecified())
                    .unwrap_or(peer);
                judge(
                    &mut case,
                    Side::Server,
                    &tx,
                    Some(head),
                    Evidence::Reflector,
                    (own, peer),
                    r.code,
                    None,
                    false,
                );
            } else if r.code / 100 == 2 {
                case.outcome = Outcome::Rewritten;
                case.evidence = Evidence::Reflector;
                case.severity = Some(Severity::Warning);
                case.note = Some(
                    "the reflector's copy of its reply (tx=) did not arrive: the line was regenerated on the way"
                        .into(),
                );
            } else {
                case.outcome = Outcome::Rejected;
                case.evidence = Evidence::Reflector;
            }
        } else {
            case.evidence = Evidence::DataConnection;
            case.outcome = match (r.code / 100, announced, connected) {
                (2, Some(_), Some(_)) if !arg.is_corrupt() => Outcome::Intact,
                (2, _, _) => {
                    case.severity = Some(Severity::Warning);
                    case.note.get_or_insert_with(|| {
                        "the reply is malformed or its port unreachable; only a reflector can tell whether the server or the path made it so".into()
                    });
                    Outcome::NotEvident
                }
                _ => Outcome::Rejected,
            };
        }
        case
    }
}

/// A control line's shape.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    Plain,
    /// Two segments, the cut inside the numbers.
    Split,
    /// After `NOOP` in the same segment.
    Pipelined,
    Lowercase,
    BareLf,
}

impl Shape {
    fn name(self) -> &'static str {
        match self {
            Shape::Plain => "one segment",
            Shape::Split => "split across two TCP segments",
            Shape::Pipelined => "after another command in one segment",
            Shape::Lowercase => "lower-case verb",
            Shape::BareLf => "bare LF terminator",
        }
    }

    /// The test line itself as sent (no prefix, no terminator): what the
    /// far end's report is compared with.
    fn line(self, line: &[u8]) -> Vec<u8> {
        let mut l = line.to_vec();
        if self == Shape::Lowercase {
            let end = l.iter().position(|&b| b == b' ').unwrap_or(l.len());
            l[..end].make_ascii_lowercase();
        }
        l
    }

    /// The bytes sent for `line` (without terminator).
    fn apply(self, line: &[u8]) -> Vec<u8> {
        let mut v = match self {
            Shape::Pipelined => b"NOOP\r\n".to_vec(),
            _ => Vec::new(),
        };
        v.extend_from_slice(&self.line(line));
        v.extend_from_slice(if self == Shape::BareLf {
            b"\n"
        } else {
            b"\r\n"
        });
        v
    }

    fn parts(self, sent: &[u8]) -> Vec<&[u8]> {
        match self {
            Shape::Split => {
                let cut = (sent.len() / 2).max(1);
                vec![&sent[..cut], &sent[cut..]]
            }
            _ => vec![sent],
        }
    }

    fn replies(self) -> usize {
        if self == Shape::Pipelined { 2 } else { 1 }
    }
}

/// A case whose line got no reply.
fn silence(mut case: Case, s: Silence, shape: Shape) -> Case {
    case.evidence = Evidence::Silence;
    case.severity = Some(Severity::Error);
    match s {
        Silence::Timeout => {
            case.outcome = Outcome::Dropped;
            case.rule = Some(Rule::AlgDropSuspected);
            let mut note = "no reply: dropped on the way, or the server hangs".to_string();
            if matches!(shape, Shape::Split | Shape::BareLf) {
                note.push_str(&format!(
                    "; the {} drops a PORT it can only partly parse",
                    LINUX_CONNTRACK_PARTIAL.device
                ));
                case.signature = Some(LINUX_CONNTRACK_PARTIAL.id);
            }
            case.note = Some(note);
        }
        Silence::Closed | Silence::Reset => {
            case.outcome = Outcome::Reset;
            case.note = Some(format!(
                "the control connection was {} after this line",
                if s == Silence::Closed {
                    "closed"
                } else {
                    "reset"
                }
            ));
        }
    }
    case
}

/// Sets a case's outcome from what arrived (when the far end says) and,
/// for active cases, where the server connected.
#[allow(clippy::too_many_arguments)]
fn judge(
    case: &mut Case,
    dir: Side,
    sent: &[u8],
    arrived: Option<Vec<u8>>,
    evidence: Evidence,
    nat: (IpAddr, IpAddr),
    code: u16,
    connected: Option<(u16, u16)>,
    listening: bool,
) {
    case.evidence = evidence;
    if let Some(a) = arrived {
        // Servers may upper-case what they quote; compare as sent.
        let a = if evidence == Evidence::ServerEcho && a.eq_ignore_ascii_case(sent) {
            sent.to_vec()
        } else {
            a
        };
        case.arrived = Some(Bytes(a.clone()));
        match rewrite::classify(dir, sent, &a, nat) {
            None if rewrite::untranslated(dir, sent, nat).is_some() => {
                case.outcome = Outcome::NotTranslated;
                case.rule = Some(Rule::AlgNotTranslated);
                case.severity = Some(Severity::Warning);
                case.note = Some(format!(
                    "the line arrived still naming {}, although across the NAT that host is {}: the ALG did not rewrite it, so the receiver is sent to an address it cannot reach through the NAT",
                    nat.0, nat.1
                ));
            }
            None => case.outcome = Outcome::Intact,
            Some(ch) => {
                case.outcome = Outcome::Rewritten;
                case.rule = Some(ch.rule);
                case.severity = Some(ch.severity);
                case.diff = Some(ch.diff.describe());
                case.signature = ch.signature.map(|s| s.id);
                if let What::Address(ac) = &ch.what {
                    case.fields = Some(ac.fields.clone());
                }
            }
        }
        return;
    }
    match connected {
        Some((got, want)) if got == want => {
            case.outcome = Outcome::Intact;
            case.evidence = Evidence::DataConnection;
        }
        Some((got, want)) => {
            case.outcome = Outcome::Rewritten;
            case.evidence = Evidence::DataConnection;
            case.severity = Some(Severity::Error);
            case.rule = Some(Rule::PortOctetMangled);
            // Which rewrite makes a lenient server connect there?
            // Read as sscanf-style servers and as vsftpd (per field) do.
            let known = signatures::apply_227_rewrite(sent).filter(|m| {
                let lenient = rewrite::parse_address(dir, m).and_then(|a| a.lenient);
                let per_field = m
                    .strip_prefix(b"PORT ")
                    .and_then(crate::ftp::address::per_field_port);
                [lenient, per_field]
                    .iter()
                    .any(|e| e.is_some_and(|e| e.port == got))
            });
            case.note = Some(format!(
                "the server connected to port {got}, not {want}: it read a different line than was sent{}",
                if known.is_some() {
                    "; exactly where a lenient server connects when 227 becomes 22_ (inferred, not seen)"
                } else {
                    ""
                }
            ));
            if let Some(m) = known {
                case.signature = Some(signatures::CHECKPOINT_227.id);
                case.diff = Some(crate::diff::diff(sent, &m).describe());
            }
        }
        None if code / 100 == 2 && listening => {
            case.outcome = Outcome::NotEvident;
            case.severity = Some(Severity::Warning);
            case.note.get_or_insert_with(|| {
                "the server accepted the line but no data connection reached the probe".into()
            });
        }
        None if code / 100 == 2 => {
            case.outcome = Outcome::NotEvident;
            case.note.get_or_insert_with(|| {
                "the probe could not listen on this port (in use, or below 1024), so where the server connected is unknown".into()
            });
        }
        None => {
            case.outcome = Outcome::Rejected;
        }
    }
}

/// `portmortem-…​.probe` as quoted in a reply, whatever happened inside.
fn quoted_name(reply: &[u8]) -> Option<Vec<u8>> {
    let start = reply.windows(11).position(|w| w == b"portmortem-")?;
    let end = reply[start..].windows(6).position(|w| w == b".probe")? + start + 6;
    Some(reply[start..end].to_vec())
}

/// The port that puts `v` in `octet` (5: high byte, 6: low byte) with
/// the other byte `fixed`.
fn sweep_port(octet: u8, fixed: u16, v: u16) -> u16 {
    if octet == 6 {
        fixed << 8 | v
    } else {
        v << 8 | fixed
    }
}

/// A random number from the standard library's per-process hash keys: the
/// fixed octets of sweeps differ between runs, so two probes on one host
/// do not listen on each other's ports.
fn random() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    );
    h.finish() as u16
}

/// The probe's listening sockets for data connections.
struct Listeners {
    by_port: BTreeMap<u16, TcpListener>,
    missing: usize,
    /// The ports the last cases expected, this case's last: a connection
    /// to an earlier case's port is that case's late connection, not a
    /// misreading of this one.
    expected: std::cell::RefCell<std::collections::VecDeque<u16>>,
}

impl Listeners {
    /// Listeners on the 256 ports a sweep of `octet` can produce, for a
    /// fixed other byte (≥ 4 as a high byte, so the ports are above 1023)
    /// on whose ports nothing else listens; the best of a few tries.
    fn sweep(ip: IpAddr, octet: u8) -> (u16, Listeners) {
        let attempt = || {
            let fixed = if octet == 6 {
                4 + random() % 250
            } else {
                random() % 256
            };
            let l = Listeners::bind(ip, (0..=255).map(|v| sweep_port(octet, fixed, v)));
            (fixed, l)
        };
        // Without root, the octet-5 sweep's four ports below 1024 fail.
        let floor = if octet == 5 { 4 } else { 0 };
        let mut best = attempt();
        for _ in 1..16 {
            if best.1.missing <= floor {
                break;
            }
            let next = attempt();
            if next.1.missing < best.1.missing {
                best = next;
            }
        }
        best
    }

    fn bind(ip: IpAddr, ports: impl IntoIterator<Item = u16>) -> Listeners {
        let mut by_port = BTreeMap::new();
        let mut missing = 0;
        for p in ports {
            match TcpListener::bind((ip, p)).and_then(|l| l.set_nonblocking(true).map(|()| l)) {
                Ok(l) => {
                    by_port.insert(p, l);
                }
                Err(_) => missing += 1,
            }
        }
        Listeners {
            by_port,
            missing,
            expected: Default::default(),
        }
    }

    fn has(&self, port: u16) -> bool {
        self.by_port.contains_key(&port)
    }

    /// Starts a case that expects a connection on `port`: earlier
    /// connections are closed.
    fn begin(&self, port: u16) {
        self.drain();
        let mut e = self.expected.borrow_mut();
        e.push_back(port);
        while e.len() > 3 {
            e.pop_front();
        }
    }

    /// The first port a connection arrives on within `t`, past late
    /// connections to the ports the two cases before expected.
    fn wait(&self, t: Duration) -> Option<u16> {
        let end = Instant::now() + t;
        let late: Vec<u16> = {
            let e = self.expected.borrow();
            e.iter().take(e.len().saturating_sub(1)).copied().collect()
        };
        let current = self.expected.borrow().back().copied();
        loop {
            for (&p, l) in &self.by_port {
                if let Ok((c, _)) = l.accept() {
                    drop(c);
                    if late.contains(&p) && Some(p) != current {
                        continue;
                    }
                    return Some(p);
                }
            }
            if Instant::now() >= end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Closes connections left over from an earlier case.
    fn drain(&self) {
        for l in self.by_port.values() {
            while l.accept().is_ok() {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judged(dir: Side, sent: &[u8], arrived: &[u8], nat: (&str, &str)) -> Case {
        let mut c = Case::new(Family::Shapes, "t".into(), None, sent);
        let nat = (nat.0.parse().unwrap(), nat.1.parse().unwrap());
        judge(
            &mut c,
            dir,
            sent,
            Some(arrived.to_vec()),
            Evidence::Reflector,
            nat,
            200,
            None,
            false,
        );
        c
    }

    #[test]
    fn an_address_line_that_crosses_nat_unchanged_was_not_translated() {
        let nat = ("198.51.100.60", "203.0.113.1");
        let p = b"PORT 198,51,100,60,4,1";
        assert_eq!(
            judged(Side::Client, p, p, nat).outcome,
            Outcome::NotTranslated
        );
        let c = judged(Side::Client, p, b"PORT 203,0,113,1,4,1", nat);
        assert_eq!(
            (c.outcome, c.rule),
            (Outcome::Rewritten, Some(Rule::AlgRewrite))
        );
        assert!(!c.is_damage());
        // Without NAT, or for a 229 (no address), unchanged is intact.
        let same = ("198.51.100.60", "198.51.100.60");
        assert_eq!(judged(Side::Client, p, p, same).outcome, Outcome::Intact);
        let e = b"229 Entering Extended Passive Mode (|||4097|)";
        assert_eq!(
            judged(Side::Server, e, e, ("0.0.0.0", "203.0.113.10")).outcome,
            Outcome::Intact
        );
    }

    #[test]
    fn shapes_write_the_bytes_they_name() {
        let l = b"PORT 1,2,3,4,5,6";
        assert_eq!(Shape::Lowercase.apply(l), b"port 1,2,3,4,5,6\r\n");
        assert_eq!(Shape::BareLf.apply(l), b"PORT 1,2,3,4,5,6\n");
        assert_eq!(Shape::Pipelined.apply(l), b"NOOP\r\nPORT 1,2,3,4,5,6\r\n");
        let s = Shape::Split.apply(l);
        assert_eq!(Shape::Split.parts(&s).concat(), s);
        assert_eq!(Shape::Split.parts(&s).len(), 2);
        assert_eq!(
            quoted_name(b"550 portmortem-22_.probe: No such file"),
            Some(b"portmortem-22_.probe".to_vec())
        );
        assert_eq!(quoted_name(b"550 Could not get file size."), None);
    }
}
