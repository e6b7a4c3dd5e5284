//! The test plan: each family of test lines (the PORT sweeps, EPRT,
//! names with `227`, the passive replies, the line shapes an ALG trips
//! on), sent over the probe's control connection and judged.

use super::judge::{judge, quoted_name, silence};
use super::listeners::{Listeners, random, sweep_port};
use super::result::{Case, Evidence, Family, Outcome};
use super::shape::Shape;
use super::wire::Reply;
use super::*;
use crate::ftp::address::{AddrKind, Endpoint};
use crate::ftp::echo::find_echo;
use crate::reassembly::connection::Side;
use crate::rules::Severity;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

impl Probe<'_> {
    /// PORT with each value 0–255 in one port octet, the other fixed;
    /// listening on every port the sweep can produce, so a server that
    /// misreads the swept octet is seen connecting to its neighbour.
    pub(super) fn port_sweep(&mut self, local: IpAddr, octet: u8) {
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
    pub(super) fn eprt_sweep(&mut self, local: IpAddr) {
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
    pub(super) fn shapes(&mut self, local: IpAddr) {
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
    pub(super) fn arrived(&self, r: &Reply, verb: &str) -> (Option<Vec<u8>>, Evidence) {
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
    pub(super) fn names(&mut self) {
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
    pub(super) fn passive(&mut self) {
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
        let head = wire::without_report(&line).to_vec();
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
