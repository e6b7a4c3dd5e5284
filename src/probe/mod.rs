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

mod family;
pub mod hops;
mod icmp;
mod judge;
mod listeners;
mod plan;
pub mod quote;
pub mod reflect;
pub mod result;
mod shape;
mod trace;
pub mod wire;

use result::{Case, Family};
use std::net::{IpAddr, SocketAddr};
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
    /// `--trace`: the most hops a traced line is sent over.
    max_hops: Option<u8>,
    /// Where the traced lines changed, one per line.
    pub traces: Vec<hops::Trace>,
    /// Lines sent TTL-limited (counted in `commands` too).
    pub traced_lines: usize,
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
            max_hops: None,
            traces: Vec::new(),
            traced_lines: 0,
        }
    }

    /// After the test families, trace where the altered lines (or the
    /// founding ones) change, over at most `max_hops` hops.
    pub fn tracing(mut self, max_hops: u8) -> Self {
        self.max_hops = Some(max_hops.max(1));
        self
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
        self.exchange_as(parts, n, None).map(|(r, _)| r)
    }

    /// [`Probe::exchange`], the one part (a single line) leaving with TTL
    /// `ttl` when given; then also the retransmit count before it left.
    fn exchange_as(
        &mut self,
        parts: &[&[u8]],
        n: usize,
        ttl: Option<u8>,
    ) -> Result<(Reply, Option<u32>), Silence> {
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
        let r = match (ttl, parts) {
            (Some(t), [line]) => ctl.send_limited(line, t).map(Some),
            _ => ctl.send(parts, SPLIT_GAP).map(|()| None),
        }
        .and_then(|before| {
            let mut last = ctl.reply(timeout)?;
            for _ in 1..n {
                last = ctl.reply(timeout)?;
            }
            Ok((last, before))
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
        if let Some(max) = self.max_hops {
            self.trace(local, max);
        }
        let _ = self.exchange(&[b"QUIT\r\n"], 1);
        Ok(())
    }
}
