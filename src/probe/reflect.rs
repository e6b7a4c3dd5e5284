//! `portmortem reflect`: a small FTP server for the far side of a path.
//!
//! To an inspection engine it looks like any FTP server (a 220 banner,
//! logins accepted, every command answered with an ordinary code and
//! text), but each reply ends with ` rx=<letters>`: exactly the bytes of
//! the line that arrived, in [`wire::encode`]'s digit-free letters so the
//! path cannot rewrite the report itself. It connects back to the endpoint
//! it read from PORT/EPRT/LPRT, so the data path is tested too, and on
//! request (`SITE PMPORT <letters>`) announces a chosen port in its next
//! 227/228/229, with the line it sent as ` tx=<letters>`, so the
//! server→client direction can be diffed as well. The banner carries
//! ` peer=<letters>`: the client address as the reflector sees it, which
//! tells the probe the NAT mapping.
//!
//! For `probe --trace`, `SITE PMTRACE <letters>` makes the next passive
//! reply leave with that TTL (hop limit); `SITE PMQUOTES` then answers
//! with the Time Exceeded it heard (` q=`, in `quote`'s records), the
//! segment as sent (` sent=`), the connection's ports as it sees them
//! (` ports=`, which tell the probe the quotes of this reply from others)
//! and whether the segment itself got through (` got=yes|no|unknown`).

use super::icmp::{self, Listener};
use super::wire::{self, LineReader, trim_eol};
use crate::ftp::address::{AddrKind, Endpoint};
use crate::ftp::message::verb_of;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// At most this many control connections at once.
const MAX_CLIENTS: usize = 32;
/// A control connection idle this long is closed.
const IDLE: Duration = Duration::from_secs(120);
/// How long a data connection may take to open.
const DATA_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Reflector {
    listener: TcpListener,
    clients: Arc<AtomicUsize>,
    /// Connections refused because [`MAX_CLIENTS`] were open.
    pub refused: Arc<AtomicUsize>,
}

impl Reflector {
    pub fn bind(addr: SocketAddr) -> io::Result<Reflector> {
        Ok(Reflector {
            listener: TcpListener::bind(addr)?,
            clients: Arc::new(AtomicUsize::new(0)),
            refused: Arc::new(AtomicUsize::new(0)),
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `stop` is set, one thread per control connection.
    /// `log` gets one line per connection and per command.
    pub fn serve(&self, stop: &AtomicBool, log: &(dyn Fn(String) + Sync)) -> io::Result<()> {
        self.listener.set_nonblocking(true)?;
        std::thread::scope(|scope| {
            while !stop.load(Ordering::Relaxed) {
                match self.listener.accept() {
                    Ok((s, peer)) => {
                        if self.clients.load(Ordering::Relaxed) >= MAX_CLIENTS {
                            self.refused.fetch_add(1, Ordering::Relaxed);
                            let mut s = s;
                            let _ = s.write_all(b"421 Too many connections.\r\n");
                            continue;
                        }
                        self.clients.fetch_add(1, Ordering::Relaxed);
                        let clients = &self.clients;
                        scope.spawn(move || {
                            log(format!("{peer}: connected"));
                            let r = session(s, peer, stop, log);
                            log(format!(
                                "{peer}: closed{}",
                                r.err().map_or(String::new(), |e| format!(" ({e})"))
                            ));
                            clients.fetch_sub(1, Ordering::Relaxed);
                        });
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        })
    }
}

/// What the next data transfer uses.
enum DataPlan {
    None,
    /// Connect to this endpoint (PORT/EPRT/LPRT).
    Active(Endpoint),
    /// Accept on this listener (PASV/EPSV/LPSV).
    Passive(TcpListener),
}

fn session(
    mut s: TcpStream,
    peer: SocketAddr,
    stop: &AtomicBool,
    log: &(dyn Fn(String) + Sync),
) -> io::Result<()> {
    s.set_nonblocking(false)?;
    s.set_nodelay(true)?;
    let local = s.local_addr()?;
    let mut reader = LineReader::new();
    let mut data = DataPlan::None;
    let mut pasv_port: u16 = 0;
    let mut trace = Tracing::default();
    reply(
        &mut s,
        &format!(
            "220 FTP server ready. peer={}",
            wire::encode(peer.to_string().as_bytes())
        ),
    )?;
    while !stop.load(Ordering::Relaxed) {
        let line = match reader.line(&mut s, Instant::now() + IDLE) {
            Ok(l) => l,
            Err(_) => return Ok(()),
        };
        let rx = format!("rx={}", wire::encode(&line));
        let text = trim_eol(&line);
        // Any verb is answered: one that is not a word is `?`.
        let verb = match verb_of(text) {
            Some(v) => v,
            None if text.is_empty() => Default::default(),
            None => "?".into(),
        };
        let arg = text
            .iter()
            .position(|&b| b == b' ')
            .map_or(&[][..], |p| &text[p + 1..]);
        log(format!(
            "{peer}: {}",
            crate::escape::escape(if verb == "PASS" { b"PASS ****" } else { text })
        ));
        if let Some(kind) = AddrKind::of_verb(&verb) {
            if kind.is_active() {
                // Read as a lenient server reads it: that is where it
                // connects.
                match kind.parse(text).lenient {
                    Some(ep) if ep.port != 0 => {
                        data = DataPlan::Active(ep);
                        reply(&mut s, &format!("200 Command successful. {rx}"))?;
                    }
                    _ => reply(&mut s, &format!("501 Illegal command. {rx}"))?,
                }
            } else {
                // The last announcement's listener goes first: the same
                // port may be asked for again (a trace asks once a hop).
                data = DataPlan::None;
                let ttl = trace.ttl.take();
                let port = std::mem::take(&mut pasv_port);
                if let Some((plan, sent)) = passive(&mut s, kind, local.ip(), port, &rx, ttl)? {
                    data = plan;
                    trace.pending = sent;
                }
            }
            continue;
        }
        match verb.as_str() {
            "USER" => reply(&mut s, &format!("331 Password required. {rx}"))?,
            // The password itself is not reflected.
            "PASS" => reply(&mut s, "230 Login successful.")?,
            "QUIT" => {
                reply(&mut s, &format!("221 Goodbye. {rx}"))?;
                return Ok(());
            }
            "SITE" => {
                let mut words = arg.split(|&b| b == b' ');
                let sub = words.next().unwrap_or_default().to_ascii_uppercase();
                let port = words
                    .next()
                    .and_then(wire::decode)
                    .and_then(|d| String::from_utf8(d).ok())
                    .and_then(|t| t.parse::<u16>().ok());
                match (&sub[..], port) {
                    (b"PMPORT", Some(p)) => {
                        pasv_port = p;
                        reply(&mut s, &format!("200 Next passive port set. {rx}"))?;
                    }
                    (b"PMTRACE", Some(ttl)) => {
                        let text = trace.arm(ttl, &s);
                        reply(&mut s, &format!("{text} {rx}"))?;
                    }
                    (b"PMQUOTES", _) => {
                        let text = trace.report(&s, local, peer);
                        reply(&mut s, &format!("{text} {rx}"))?;
                    }
                    _ => reply(&mut s, &format!("200 SITE command ok. {rx}"))?,
                }
            }
            "LIST" | "NLST" | "RETR" => {
                transfer(&mut s, std::mem::replace(&mut data, DataPlan::None), &rx)?
            }
            "SIZE" | "MDTM" | "CWD" => {
                reply(&mut s, &format!("550 No such file or directory. {rx}"))?
            }
            "SYST" => reply(&mut s, &format!("215 UNIX Type: L8 {rx}"))?,
            "FEAT" => reply(&mut s, &format!("211 No features. {rx}"))?,
            "" => reply(&mut s, &format!("500 Empty command. {rx}"))?,
            _ => reply(&mut s, &format!("200 Command okay. {rx}"))?,
        }
    }
    Ok(())
}

/// Answers PASV/EPSV/LPSV: listens on `port` (0: any) and announces it,
/// with the announcement itself as ` tx=<letters>`; 425 when the port is
/// taken, 522 when the form cannot carry the address (then None). With
/// `ttl`, the reply leaves with that TTL, and the segment and the
/// retransmit count before it come back too.
fn passive(
    s: &mut TcpStream,
    kind: AddrKind,
    ip: std::net::IpAddr,
    port: u16,
    rx: &str,
    ttl: Option<u8>,
) -> io::Result<Option<(DataPlan, Option<Sent>)>> {
    let Ok(l) = TcpListener::bind((ip, port)) else {
        reply(s, &format!("425 Cannot listen there. {rx}"))?;
        return Ok(None);
    };
    let ep = Endpoint {
        ip,
        port: l.local_addr()?.port(),
    };
    let Some(announce) = kind.emit(ep) else {
        reply(s, &format!("522 Use EPSV. {rx}"))?;
        return Ok(None);
    };
    let tx = wire::encode(&announce);
    let mut out = announce;
    out.extend_from_slice(format!(" tx={tx} {rx}\r\n").as_bytes());
    let sent = match ttl {
        Some(t) => Some(Sent {
            retransmits: icmp::write_limited(s, &out, t)?,
            segment: out,
        }),
        None => {
            s.write_all(&out)?;
            None
        }
    };
    Ok(Some((DataPlan::Passive(l), sent)))
}

/// Bytes of quotes reported for one reply at most: the report is one
/// reply line, which the probe reads up to 8 KiB, at two letters a byte
/// beside the reply itself (a Time Exceeded is at most 576 bytes).
const MAX_QUOTE_BYTES: usize = 3000;

/// A reply sent TTL-limited, waiting for `SITE PMQUOTES`.
struct Sent {
    segment: Vec<u8>,
    retransmits: u32,
}

/// A session's tracing: the raw socket (opened by the first `SITE
/// PMTRACE`), the TTL for the next passive reply, the reply sent so.
#[derive(Default)]
struct Tracing {
    icmp: Option<Listener>,
    ttl: Option<u8>,
    pending: Option<Sent>,
}

impl Tracing {
    /// `SITE PMTRACE`: the reply to it.
    fn arm(&mut self, ttl: u16, s: &TcpStream) -> String {
        let Ok(ttl @ 1..=255) = u8::try_from(ttl) else {
            return "501 TTL out of range.".into();
        };
        if self.icmp.is_none() {
            match Listener::for_connection(s) {
                Ok(l) => self.icmp = Some(l),
                Err(e) => return format!("502 Cannot trace here: {e}."),
            }
        }
        if let Some(l) = &self.icmp {
            l.clear();
        }
        self.ttl = Some(ttl);
        self.pending = None;
        "200 Next passive reply leaves TTL-limited.".into()
    }

    /// `SITE PMQUOTES`: the quotes of the reply sent TTL-limited.
    fn report(&mut self, s: &TcpStream, local: SocketAddr, peer: SocketAddr) -> String {
        let (Some(sent), Some(l)) = (self.pending.take(), &self.icmp) else {
            return "503 No traced reply.".into();
        };
        // Every Time Exceeded heard (at most a few a hop): the probe tells
        // those of this reply from the rest with the ports given here.
        let mut quotes = Vec::new();
        for q in l.collect(Instant::now() + Duration::from_millis(30)) {
            let r = q.to_record();
            if quotes.len() + r.len() > MAX_QUOTE_BYTES {
                break;
            }
            quotes.extend(r);
        }
        let got = match icmp::got_through(s, sent.retransmits) {
            Some(true) => "yes",
            Some(false) => "no",
            None => "unknown",
        };
        format!(
            "200 Quotes. got={} q={} sent={} ports={}",
            wire::encode(got.as_bytes()),
            wire::encode(&quotes),
            wire::encode(&sent.segment),
            wire::encode(format!("{},{}", local.port(), peer.port()).as_bytes())
        )
    }
}

fn reply(s: &mut TcpStream, text: &str) -> io::Result<()> {
    s.write_all(format!("{text}\r\n").as_bytes())
}

/// Opens the data connection as announced, sends one line, closes it.
/// The 150 reply says where the connection went (` to=<letters>`).
fn transfer(s: &mut TcpStream, plan: DataPlan, rx: &str) -> io::Result<()> {
    let conn = match plan {
        DataPlan::None => return reply(s, &format!("425 Use PORT or PASV first. {rx}")),
        DataPlan::Active(ep) => {
            TcpStream::connect_timeout(&SocketAddr::new(ep.ip, ep.port), DATA_TIMEOUT)
        }
        DataPlan::Passive(l) => accept_within(&l, DATA_TIMEOUT),
    };
    match conn {
        Ok(mut c) => {
            let to = c.peer_addr().map(|a| a.to_string()).unwrap_or_default();
            reply(
                s,
                &format!(
                    "150 Opening data connection. to={} {rx}",
                    wire::encode(to.as_bytes())
                ),
            )?;
            let _ = c.write_all(b"portmortem-reflect\r\n");
            drop(c);
            reply(s, "226 Transfer complete.")
        }
        Err(_) => reply(s, &format!("425 Cannot open data connection. {rx}")),
    }
}

fn accept_within(l: &TcpListener, t: Duration) -> io::Result<TcpStream> {
    l.set_nonblocking(true)?;
    let end = Instant::now() + t;
    loop {
        match l.accept() {
            Ok((c, _)) => {
                c.set_nonblocking(false)?;
                return Ok(c);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < end => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(e),
        }
    }
}
