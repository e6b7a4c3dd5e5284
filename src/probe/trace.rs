//! `probe --trace`: where on the path a line changes. Each line that came
//! back altered (each kind once), or without one the founding lines (PORT
//! with 227 in octet 6 and in octet 5), is sent again with the TTL of the
//! control connection set to 1, 2, 3, …; every router where it runs out
//! quotes it as it arrived there (`quote`), and the quotes make a hop
//! table (`hops`). The reply direction is traced by the reflector, which
//! sends its crafted 227/228/229 TTL-limited the same way and reports the
//! quotes it heard (`SITE PMTRACE`, `SITE PMQUOTES`).
//!
//! A quote is matched to the line by its TCP sequence number (learnt from
//! the first quote that shows the line as sent), its ports, or its
//! payload, never by addresses alone: NAT rewrites those.

use super::hops::{Direction, Hop, Seen, Trace};
use super::icmp::{self, Listener};
use super::judge::as_arrived;
use super::listeners::{random, sweep_port};
use super::quote;
use super::result::{Family, Outcome};
use super::shape::Shape;
use super::wire::{self, trim_eol};
use super::*;
use crate::escape::Bytes;
use crate::ftp::address::{AddrKind, Endpoint};
use std::collections::BTreeSet;

/// Lines traced at most in one run.
const MAX_TRACED: usize = 16;
/// How long quotes may trail the reply that followed them (the quote of
/// a segment comes back before its retransmission is even sent).
const QUOTE_GRACE: Duration = Duration::from_millis(30);
/// Linux routers send at most about one Time Exceeded a second to one
/// host once a short burst is spent: a hop silent now that answered an
/// earlier line is asked once more after this pause.
const RATE_LIMIT_PAUSE: Duration = Duration::from_millis(1100);
/// Longest line traced: a router quotes at most 576 bytes of datagram.
const MAX_LINE: usize = 500;

/// One line to trace.
struct Line {
    family: Family,
    name: String,
    dir: Direction,
    /// To the server: the segment sent each time. To the client: the
    /// command that makes the reflector send the reply.
    sent: Vec<u8>,
    /// The reply's announced port (to the client).
    port: Option<u16>,
    /// What the test found at the far end: changed or not.
    far_end_changed: Option<bool>,
}

impl Probe<'_> {
    /// Traces the run's altered lines (or the founding ones), each over at
    /// most `max` hops.
    pub(super) fn trace(&mut self, local: IpAddr, max: u8) {
        let lines = self.lines_to_trace(local);
        let to_server = lines.iter().any(|l| l.dir == Direction::ToServer);
        let listener = if to_server && self.connected() {
            let opened = self
                .ctl
                .as_ref()
                .map(|c| Listener::for_connection(&c.stream));
            match opened {
                Some(Ok(l)) => Some(l),
                Some(Err(e)) => {
                    self.notes.push(format!("commands were not traced: {e}"));
                    None
                }
                None => None,
            }
        } else {
            None
        };
        for l in lines {
            if self.must_stop() {
                break;
            }
            let t = match (l.dir, &listener) {
                (Direction::ToServer, Some(icmp)) => self.trace_line(&l, max, icmp),
                (Direction::ToServer, None) => continue,
                (Direction::ToClient, _) => self.trace_reply(&l, max),
            };
            self.traces.push(t);
        }
    }

    /// Each kind of alteration once (family, rule, signature, outcome);
    /// without any, the founding lines.
    fn lines_to_trace(&mut self, local: IpAddr) -> Vec<Line> {
        let mut kinds = BTreeSet::new();
        let (mut out, mut same_kind, mut cannot) = (Vec::new(), 0, 0);
        for c in &self.cases {
            // Lines that arrived changed, and commands that got no reply:
            // where the line stops being quoted is where it was dropped.
            let dropped = c.outcome == Outcome::Dropped && c.family != Family::Passive;
            if !matches!(c.outcome, Outcome::Rewritten | Outcome::NotTranslated) && !dropped {
                continue;
            }
            let dir = if c.family == Family::Passive {
                Direction::ToClient
            } else {
                Direction::ToServer
            };
            let one_line = c.sent.0.iter().filter(|&&b| b == b'\n').count() == 1
                && c.sent.0.ends_with(b"\n")
                && c.sent.0.len() <= MAX_LINE;
            // A split or pipelined line is no one segment (a split line's
            // bytes are one line: its shape says it went as two); a
            // passive reply only a reflector can send TTL-limited.
            let one_line = one_line && c.name != Shape::Split.name();
            if (dir == Direction::ToServer && !one_line)
                || (dir == Direction::ToClient && !self.target.reflector)
            {
                cannot += 1;
                continue;
            }
            let kind = (c.family, c.rule, c.signature, c.outcome.name());
            if !kinds.insert(kind) || out.len() == MAX_TRACED {
                same_kind += 1;
                continue;
            }
            let fixed = 4 + random() % 250;
            out.push(Line {
                family: c.family,
                name: c.name.clone(),
                dir,
                sent: c.sent.0.clone(),
                port: c.value.map(|v| sweep_port(6, fixed, u16::from(v))),
                far_end_changed: match c.outcome {
                    Outcome::Rewritten => Some(true),
                    Outcome::NotTranslated => Some(false),
                    _ => None,
                },
            });
        }
        if same_kind > 0 {
            self.notes.push(format!(
                "{same_kind} more altered test line{} not traced: each kind of alteration is traced once",
                if same_kind == 1 { " was" } else { "s were" }
            ));
        }
        if cannot > 0 {
            self.notes.push(format!(
                "{cannot} altered test line{} cannot be traced: split or pipelined lines are more than one segment, and a reply direction needs a reflector",
                if cannot == 1 { "" } else { "s" }
            ));
        }
        if out.is_empty() {
            out = self.founding_lines(local);
        }
        out
    }

    /// The founding lines: PORT with 227 in octet 6 and in octet 5 (EPRT
    /// with the digits 227 in its port over IPv6), and with a reflector a
    /// 227 reply announcing a port whose low byte is 227.
    fn founding_lines(&self, local: IpAddr) -> Vec<Line> {
        let fixed = 4 + random() % 250;
        let mut v = Vec::new();
        let mut add = |family, name: &str, dir, sent: Vec<u8>, port| {
            v.push(Line {
                family,
                name: name.into(),
                dir,
                sent,
                port,
                far_end_changed: None,
            })
        };
        let line = |kind: AddrKind, port| {
            AddrKind::emit(kind, Endpoint { ip: local, port }).map(|l| Shape::Plain.apply(&l))
        };
        if local.is_ipv4() {
            for (family, octet) in [(Family::PortOctet6, 6), (Family::PortOctet5, 5)] {
                if let Some(l) = line(AddrKind::Port, sweep_port(octet, fixed, 227)) {
                    add(
                        family,
                        &format!("octet {octet} = 227"),
                        Direction::ToServer,
                        l,
                        None,
                    );
                }
            }
        } else {
            let port = 52270 + fixed % 10;
            if let Some(l) = line(AddrKind::Eprt, port) {
                add(
                    Family::Eprt,
                    &format!("port {port}"),
                    Direction::ToServer,
                    l,
                    None,
                );
            }
        }
        if self.target.reflector && self.peer_ip().is_ipv4() {
            let port = sweep_port(6, fixed, 227);
            add(
                Family::Passive,
                &format!("PASV announcing port {port} (octet 6 = 227)"),
                Direction::ToClient,
                b"PASV\r\n".to_vec(),
                Some(port),
            );
        }
        v
    }

    /// A command, sent with TTL 1, 2, … until it reaches the server.
    fn trace_line(&mut self, l: &Line, max: u8, icmp: &Listener) -> Trace {
        let mut t = trace_of(l);
        let verb = crate::ftp::message::verb_of(trim_eol(&l.sent)).unwrap_or_default();
        let mut ttl = 1;
        let mut retried = false;
        while ttl <= max {
            if self.must_stop() {
                t.stopped = self.stopped.clone();
                break;
            }
            if !self.connected() {
                t.stopped = self.stopped.clone();
                break;
            }
            let Some(ctl) = self.ctl.as_ref() else { break };
            let (offset, base) = (ctl.offset(), ctl.seq_base);
            let ports = (ctl.local.port(), ctl.peer.port());
            let local = ctl.local.ip();
            icmp.clear();
            self.traced_lines += 1;
            let answer = self.exchange_as(&[&l.sent], 1, Some(ttl));
            let expect = base.map(|b| b.wrapping_add(offset as u32));
            let heard = icmp.collect(Instant::now() + QUOTE_GRACE);
            let quotes: Vec<_> = heard
                .iter()
                .filter(|q| quote::is_of(q, &l.sent, expect, ports))
                .collect();
            // A line the path drops gets no reply at any TTL (TCP's
            // retransmission is dropped too): the quotes still show how
            // far it went, and the first hop that neither quotes it nor
            // answers is where the trace ends.
            let (reply, before) = match answer {
                Ok((r, b)) => (Some(r), b),
                Err(Silence::Timeout) => (None, None),
                Err(s) => {
                    t.stopped = Some(format!(
                        "the line sent with TTL {ttl} got no reply ({})",
                        s.name()
                    ));
                    break;
                }
            };
            let through = match (self.ctl.as_ref(), before) {
                (Some(c), Some(b)) => icmp::got_through(&c.stream, b),
                _ => None,
            };
            if let Some(q) = quotes.first() {
                // The first quote of the line as sent, on the connection's
                // own ports, shows where its sequence numbers start.
                if q.payload == l.sent
                    && (q.sport, q.dport) == ports
                    && let Some(c) = self.ctl.as_mut()
                {
                    c.seq_base.get_or_insert(q.seq.wrapping_sub(offset as u32));
                }
                let hop = Hop::quoted(ttl, l.dir, &l.sent, q, self.nat(local));
                t.hops.push(self.unseen_nat(hop, ttl, l, q, local));
            } else if reply.is_none() {
                let mut h = Hop::silent(ttl);
                h.note = Some("and no reply to the line either".into());
                t.hops.push(h);
                t.no_reply = Some(ttl);
                t.stopped = Some(format!(
                    "the line sent with TTL {ttl} got no reply within {} s",
                    self.limits.reply_timeout.as_secs_f64()
                ));
                break;
            } else if let (Some(reply), Some(true)) = (&reply, through) {
                let (arrived, evidence) = self.arrived(reply, &verb);
                let arrived = arrived.map(|a| as_arrived(evidence, trim_eol(&l.sent), a));
                let nat = self.nat(local);
                let at = self.peer_ip();
                t.hops.push(Hop::far_end(
                    ttl,
                    at,
                    l.dir,
                    &l.sent,
                    arrived.as_deref(),
                    nat,
                ));
                t.reached = Some(ttl);
                break;
            } else if let Some(q) = heard.first() {
                t.hops.push(Hop::unmatched(ttl, q.router));
            } else if !retried && self.answered_before(ttl) {
                retried = true;
                std::thread::sleep(RATE_LIMIT_PAUSE);
                continue;
            } else {
                t.hops.push(Hop::silent(ttl));
            }
            retried = false;
            ttl += 1;
        }
        finish(&mut t, max, l.far_end_changed);
        t
    }

    /// A reply, sent by the reflector with TTL 1, 2, … until it reaches
    /// the probe; the reflector reports the quotes it heard.
    fn trace_reply(&mut self, l: &Line, max: u8) -> Trace {
        let mut t = trace_of(l);
        let kind = AddrKind::of_verb(&String::from_utf8_lossy(trim_eol(&l.sent)))
            .unwrap_or(AddrKind::Pasv);
        for ttl in 1..=max {
            if self.must_stop() {
                t.stopped = self.stopped.clone();
                break;
            }
            match self.reflector_hop(kind, l, ttl) {
                Ok((hop, sent)) => {
                    // The reply the reflector sent, as the hops are read
                    // against.
                    t.sent = Bytes(sent);
                    let reached = hop.seen == Seen::FarEnd;
                    t.hops.push(hop);
                    if reached {
                        t.reached = Some(ttl);
                        break;
                    }
                }
                Err(why) => {
                    t.stopped = Some(why);
                    break;
                }
            }
        }
        finish(&mut t, max, l.far_end_changed);
        t
    }

    /// One hop of the reply direction: announce the port, ask for the
    /// next reply TTL-limited, send the passive command, fetch the quotes.
    fn reflector_hop(
        &mut self,
        kind: AddrKind,
        l: &Line,
        ttl: u8,
    ) -> Result<(Hop, Vec<u8>), String> {
        let fail = |what: &str, s: Silence| format!("{what} got no reply ({})", s.name());
        if let Some(p) = l.port {
            let site = format!("SITE PMPORT {}\r\n", wire::encode(p.to_string().as_bytes()));
            self.exchange(&[site.as_bytes()], 1)
                .map_err(|s| fail("SITE PMPORT", s))?;
        }
        let site = format!(
            "SITE PMTRACE {}\r\n",
            wire::encode(ttl.to_string().as_bytes())
        );
        let r = self
            .exchange(&[site.as_bytes()], 1)
            .map_err(|s| fail("SITE PMTRACE", s))?;
        if r.code / 100 != 2 {
            return Err(format!("the reflector cannot trace: {}", r.text()));
        }
        self.traced_lines += 1;
        let r = self
            .exchange(&[&l.sent], 1)
            .map_err(|s| fail(kind.verb(), s))?;
        if r.code / 100 != 2 {
            return Err(format!("the reflector answered {}", r.text()));
        }
        let line = r.last().to_vec();
        let tx = wire::field(&line, "tx");
        let q = self
            .exchange(&[b"SITE PMQUOTES\r\n"], 1)
            .map_err(|s| fail("SITE PMQUOTES", s))?;
        let report = q.last();
        let (Some(sent), Some(quotes)) = (
            wire::field(report, "sent"),
            wire::field(report, "q").and_then(|b| quote::records(&b)),
        ) else {
            return Err(format!("the reflector's report did not read: {}", q.text()));
        };
        // The reply's sender: the reflector's address as it wrote it, and
        // as the probe reaches it.
        let peer = self.peer_ip();
        let own = tx
            .as_deref()
            .and_then(|tx| kind.parse(tx).strict)
            .map(|e| e.ip)
            .filter(|ip| !ip.is_unspecified())
            .unwrap_or(peer);
        // The ports as the reflector sees them (NAT hides them from the
        // probe): its own, then the probe's.
        let ports = wire::field(report, "ports")
            .and_then(|p| String::from_utf8(p).ok())
            .and_then(|p| {
                let (a, b) = p.split_once(',')?;
                Some((a.parse().ok()?, b.parse().ok()?))
            })
            .unwrap_or((0, 0));
        let hop = match quotes.iter().find(|q| quote::is_of(q, &sent, None, ports)) {
            Some(q) => Hop::quoted(ttl, Direction::ToClient, &sent, q, (own, peer)),
            None if wire::field(report, "got").as_deref() == Some(b"yes") => {
                let head = wire::without_report(&line);
                let at = self.client_ip();
                Hop::far_end(ttl, at, Direction::ToClient, &sent, Some(head), (own, peer))
            }
            None => match quotes.first() {
                Some(q) => Hop::unmatched(ttl, q.router),
                None => Hop::silent(ttl),
            },
        };
        Ok((hop, sent))
    }

    /// Without a reflector the probe does not know how a NAT maps its
    /// address, so a line whose address changed and port did not may be a
    /// NAT helper's translation rather than damage: named as such, and
    /// said to be an assumption.
    fn unseen_nat(&self, hop: Hop, ttl: u8, l: &Line, q: &quote::Quote, local: IpAddr) -> Hop {
        let side = crate::reassembly::connection::Side::Client;
        let at = |b: &[u8]| {
            crate::rules::rewrite::parse_address(side, trim_eol(b)).and_then(|a| a.strict)
        };
        match (self.seen_as, hop.rule, at(&l.sent), at(&q.payload)) {
            (None, Some(crate::rules::Rule::AlgRewriteInconsistent), Some(a), Some(b))
                if a.port == b.port && a.ip != b.ip =>
            {
                let mut h = Hop::quoted(ttl, l.dir, &l.sent, q, (local, b.ip));
                h.note = Some(format!(
                    "only the address changed: consistent with a NAT that maps {local} to {} (assumed: without a reflector the probe cannot see the mapping)",
                    b.ip
                ));
                h
            }
            _ => hop,
        }
    }

    /// Logs in again if the control connection was lost.
    fn connected(&mut self) -> bool {
        if self.ctl.is_some() {
            return true;
        }
        self.exchange(&[b"NOOP\r\n"], 1).is_ok()
    }

    /// Whether an earlier trace of this run got a quote at this TTL.
    fn answered_before(&self, ttl: u8) -> bool {
        self.traces.iter().any(|t| {
            t.hops
                .iter()
                .any(|h| h.hop == ttl && h.router.is_some() && h.seen != Seen::FarEnd)
        })
    }

    /// The probe's own address: the far end of a reply.
    fn client_ip(&self) -> IpAddr {
        self.ctl
            .as_ref()
            .map(|c| c.local.ip())
            .or(self.seen_as)
            .unwrap_or(self.peer_ip())
    }
}

fn trace_of(l: &Line) -> Trace {
    Trace {
        direction: l.dir,
        family: l.family,
        case: l.name.clone(),
        sent: Bytes(l.sent.clone()),
        hops: Vec::new(),
        reached: None,
        no_reply: None,
        stopped: None,
        between: None,
        conclusion: String::new(),
    }
}

fn finish(t: &mut Trace, max: u8, far: Option<bool>) {
    if t.reached.is_none() && t.stopped.is_none() {
        t.stopped = Some(format!(
            "the far end was not reached within {max} hops (--max-hops)"
        ));
    }
    t.conclude(far);
}
