//! Data connections and what became of each PORT/EPRT/LPRT/PASV/EPSV/LPSV.
//!
//! The engine records every TCP connection attempt between the hosts of a
//! live control session (and the hosts its PORT/227 lines named). When the
//! session ends, each announced endpoint is matched with the connection
//! attempts that followed it: connected, refused, unanswered, never tried,
//! or tried against a different endpoint — and then the difference is
//! explained (the server truncated a mangled octet, a client or server
//! substituted the control address, or NAT).

use super::address::{AddrArg, AddrKind, Endpoint};
use crate::decode::TcpSegment;
use crate::reassembly::Origin;
use crate::timestamp::Timestamp;
use serde::Serialize;
use std::net::SocketAddr;

/// One TCP connection attempt seen while a control session was live.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct DataConn {
    /// Wireshark's `tcp.stream` of the connection.
    pub tcp_stream: Option<u32>,
    /// Who sent the SYN (or the first packet when the SYN was not seen).
    pub initiator: SocketAddr,
    /// Who the SYN went to.
    pub acceptor: SocketAddr,
    /// Its first frame.
    pub first_frame: u64,
    /// When that frame was captured.
    pub first_ts: Timestamp,
    /// The frame of its first SYN.
    pub syn_frame: Option<u64>,
    /// SYNs sent (more than one: retransmitted, unanswered for a while).
    pub syn_count: u32,
    #[serde(skip)]
    pub syn_seq: Option<u32>,
    /// The frame of the SYN-ACK.
    pub syn_ack_frame: Option<u64>,
    /// When the SYN-ACK was captured.
    pub syn_ack_ts: Option<Timestamp>,
    /// No SYN-ACK was captured, but later packets show the handshake
    /// completed (the initiator acknowledged, the acceptor sent): the
    /// capture lost it, the connection was answered.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub syn_ack_not_captured: bool,
    /// The frame of its first RST.
    pub rst_frame: Option<u64>,
    /// True when the acceptor sent the reset.
    pub rst_by_acceptor: bool,
    /// The frame of its first FIN.
    pub fin_frame: Option<u64>,
    /// Which ends sent a FIN (bit 0: initiator, bit 1: acceptor).
    #[serde(skip)]
    pub fin_sides: u8,
    /// Its last frame.
    pub last_frame: u64,
    /// When its last frame was captured.
    pub last_ts: Timestamp,
    /// Payload bytes sent by the initiator.
    pub bytes_from_initiator: u64,
    /// Payload bytes sent by the acceptor.
    pub bytes_from_acceptor: u64,
    /// Its packets, both ways.
    pub packets: u64,
    /// The frame of the PORT/EPRT/LPRT or 227/228/229 whose data setup
    /// this connection served; `null`: no line in the capture announced
    /// it (an unannounced connection between the session's hosts: a
    /// server that connected elsewhere than told, whose announcement the
    /// capture missed, or another service altogether).
    pub announced_frame: Option<u64>,
}

impl DataConn {
    /// A connection whose first segment (`at`) went from `initiator` to
    /// `acceptor` (for a SYN-ACK seen first: the other way).
    pub fn new(
        tcp_stream: Option<u32>,
        initiator: SocketAddr,
        acceptor: SocketAddr,
        at: Origin,
    ) -> Self {
        DataConn {
            tcp_stream,
            initiator,
            acceptor,
            first_frame: at.frame,
            first_ts: at.ts,
            syn_frame: None,
            syn_count: 0,
            syn_seq: None,
            syn_ack_frame: None,
            syn_ack_ts: None,
            syn_ack_not_captured: false,
            rst_frame: None,
            rst_by_acceptor: false,
            fin_frame: None,
            fin_sides: 0,
            last_frame: at.frame,
            last_ts: at.ts,
            bytes_from_initiator: 0,
            bytes_from_acceptor: 0,
            packets: 0,
            announced_frame: None,
        }
    }

    /// Takes in one segment of the connection.
    pub fn update(&mut self, seg: &TcpSegment<'_>, src: SocketAddr, at: Origin) {
        let c = self;
        let from_initiator = src == c.initiator;
        c.packets += 1;
        c.last_frame = at.frame;
        c.last_ts = at.ts;
        if seg.flags.syn() && !seg.flags.ack() {
            c.syn_count += 1;
            c.syn_frame.get_or_insert(at.frame);
            c.syn_seq.get_or_insert(seg.seq);
        }
        if seg.flags.syn() && seg.flags.ack() && c.syn_ack_frame.is_none() {
            c.syn_ack_frame = Some(at.frame);
            c.syn_ack_ts = Some(at.ts);
        }
        if seg.flags.rst() && c.rst_frame.is_none() {
            c.rst_frame = Some(at.frame);
            c.rst_by_acceptor = !from_initiator;
        }
        // Only an answered SYN lets the initiator acknowledge or the acceptor
        // send anything but a reset: the SYN-ACK was there, the capture lost it.
        let answered = if from_initiator {
            seg.flags.ack() && !seg.flags.syn() && !seg.flags.rst()
        } else {
            !seg.flags.rst() && !seg.flags.syn()
        };
        if answered && c.syn_ack_frame.is_none() && c.syn_frame.is_some() {
            c.syn_ack_not_captured = true;
        }
        if seg.flags.fin() {
            c.fin_frame.get_or_insert(at.frame);
            c.fin_sides |= if from_initiator { 1 } else { 2 };
        }
        let n = seg.payload.len() as u64;
        if from_initiator {
            c.bytes_from_initiator += n;
        } else {
            c.bytes_from_acceptor += n;
        }
    }
}

/// How a connection attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ConnResult {
    /// SYN-ACK seen (data may have flowed).
    Established,
    /// The acceptor answered the SYN with a reset: nothing listened there.
    Refused,
    /// SYNs with no answer in the capture.
    NoAnswer,
    /// Picked up after the handshake.
    MidStream,
}

impl DataConn {
    /// Whether an unanswered connection is known to be unanswered: the
    /// capture holds a retransmitted SYN, or watched (until `until`) for
    /// [`SILENCE_SECS`] after it, when the SYN would have been sent again.
    /// A SYN the capture ended on proves nothing.
    pub fn seen_unanswered(&self, until: Timestamp) -> bool {
        self.syn_count > 1 || until.secs_since(self.first_ts) >= SILENCE_SECS
    }

    pub fn result(&self) -> ConnResult {
        if self.syn_ack_frame.is_some() || self.syn_ack_not_captured {
            ConnResult::Established
        } else if self.rst_frame.is_some() && self.rst_by_acceptor {
            ConnResult::Refused
        } else if self.syn_frame.is_some() {
            ConnResult::NoAnswer
        } else {
            ConnResult::MidStream
        }
    }
}

/// What became of one announced data endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// A connection to the announced endpoint was established.
    Connected,
    /// A connection to it was refused (RST).
    Refused,
    /// SYNs to it went unanswered.
    NoAnswer,
    /// A connection went to a different endpoint instead.
    WrongEndpoint,
    /// The command was rejected by the server; no connection expected.
    Rejected,
    /// No connection attempt was seen, where the capture could have seen
    /// one: it holds traffic between the session's hosts beyond the
    /// control connection.
    NoConnection,
    /// No connection attempt was seen, and the capture holds no traffic
    /// between the session's hosts beyond the control connection (it was
    /// filtered to the control port, say): it could not have seen one.
    NotCaptured,
    /// No connection attempt was seen, yet the server's final reply to the
    /// transfer command that used the setup (226, 250) says the transfer
    /// was done: the data connection existed and the capture does not
    /// hold it (a capture filtered by port, or trimmed).
    DoneUnseen,
    /// The announcement could not be read at all.
    Unparsable,
}

impl Verdict {
    /// The verdict in words, for sentences.
    pub fn describe(self) -> &'static str {
        match self {
            Verdict::Connected => "established",
            Verdict::Refused => "refused (RST)",
            Verdict::NoAnswer => "SYN unanswered",
            Verdict::WrongEndpoint => "went to a different endpoint",
            Verdict::Rejected => "none (command rejected)",
            Verdict::NoConnection => "none seen",
            Verdict::NotCaptured => {
                "not captured (the capture holds no traffic between these hosts beyond the control connection)"
            }
            Verdict::DoneUnseen => {
                "not captured (the server reported the transfer done, over a connection this capture does not hold)"
            }
            Verdict::Unparsable => "none (announcement unreadable)",
        }
    }
}

/// Why a connection went somewhere other than announced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Mismatch {
    /// The server used only the leading digits of an octet: the port it
    /// connected to is p1·256 + a prefix of p2's digits (or the same for p1).
    Truncated {
        /// The address field the server cut (1-based: 5 or 6 for PORT).
        field: usize,
        /// That field as written on the wire (`22_`).
        announced_text: String,
        /// The port the server connected to instead.
        read_as: u16,
    },
    /// The server connected to the control connection's client address
    /// instead of the announced one.
    ServerUsedControlAddress,
    /// The client connected to the control connection's server address
    /// instead of the announced one.
    ClientUsedControlAddress,
    /// Address and/or port differ in a way none of the above explains.
    Unexplained,
}

/// A PORT/EPRT/LPRT or PASV/EPSV/LPSV exchange and its outcome.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct DataSetup {
    /// The form of the announcement (PORT, EPRT, LPRT, 227, 228, 229).
    pub kind: AddrKind,
    /// Index of the command (PORT… or PASV…) in the session's commands.
    #[serde(skip)]
    pub command: Option<usize>,
    /// Index of the reply (to PORT…, or the 227/228/229 itself).
    #[serde(skip)]
    pub reply: Option<usize>,
    /// The frame of the PORT/EPRT/LPRT command or of the 227/228/229 reply.
    pub announced_frame: u64,
    /// When that frame was captured.
    pub announced_ts: Timestamp,
    /// The address argument, read strictly and leniently.
    pub arg: AddrArg,
    /// The endpoint a lenient peer will use (229: the control server's IP).
    pub endpoint: Option<Endpoint>,
    /// The reply code to the PORT/EPRT/LPRT command (2xx = accepted).
    pub reply_code: Option<u16>,
    /// What became of the setup.
    pub verdict: Verdict,
    /// The data connection used for this setup (index into data_conns).
    pub connection: Option<usize>,
    /// That connection was established, wherever it went: the transfer
    /// had its data connection even when the announcement was not used.
    #[serde(skip)]
    pub established: bool,
    /// How the endpoint used differs from the one announced, where it does.
    pub mismatch: Option<Mismatch>,
    /// Seconds from the announcement to the SYN.
    pub delay_secs: Option<f64>,
    /// The transfer command that used this setup, if one followed it.
    pub transfer: Option<Transfer>,
    /// The command got no reply, nor did any command after it, though the
    /// server's replies before it were captured: the session hung on it.
    pub hung: bool,
    /// Seconds the control connection was still captured after the
    /// announcement: silence means something only if it lasted (a capture
    /// rotated or stopped right after a PORT proves nothing).
    pub observed_secs: f64,
    /// For a command the session hung on: the longest the client waited
    /// with it unanswered, while the capture watched — its longest pause
    /// from this command on, before its next command or until it closed
    /// the connection (or the capture stopped watching). A client that
    /// sends on without pausing, or closes right after, waited for no
    /// reply, so the server's silence proves nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_waited_secs: Option<f64>,
}

/// How long a silence must last before it counts: a lost SYN or command
/// is retransmitted after 1 s (RFC 6298), so an answer would have come.
const SILENCE_SECS: f64 = 1.0;

/// A transfer command (RETR, STOR, LIST…) and its final reply.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Transfer {
    /// The transfer command (`RETR`, `STOR`, `LIST`…).
    pub verb: String,
    /// The frame that carried it.
    pub frame: u64,
    /// The final reply (226 done; 425 could not open the data connection).
    pub reply_code: Option<u16>,
}

impl Transfer {
    /// The server's final reply says the transfer was done (226 closing
    /// the data connection, 250 file action completed): it had its data
    /// connection.
    pub fn done(&self) -> bool {
        matches!(self.reply_code, Some(226 | 250))
    }
}

/// The verbs that open a data connection.
pub const TRANSFER_VERBS: &[&str] = &["RETR", "STOR", "STOU", "APPE", "LIST", "NLST", "MLSD"];

/// What became of a data setup, in the one word every report uses (text,
/// Markdown, HTML, JSON's `status`, ftplog's `data_channel.outcome`,
/// compare): the failure where it failed, what was seen otherwise, and
/// `not-captured` where the capture could not see.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// A connection to the announced endpoint was established.
    Connected,
    /// A connection was established to another endpoint, and the
    /// transfer was not refused: it worked there.
    ConnectedElsewhere,
    /// The connection went to another endpoint and did not work.
    WrongEndpoint,
    /// The acceptor answered the SYN with RST.
    Refused,
    /// SYNs went unanswered, and the capture watched on for a second.
    NoAnswer,
    /// A SYN the capture ended less than a second after.
    CaptureEnded,
    /// The server rejected the PORT/EPRT/LPRT (4xx/5xx).
    Rejected,
    /// The announcement could not be read.
    Unreadable,
    /// The server answered the transfer command with 425.
    CannotOpen,
    /// The command got no reply, nor did anything after it.
    NoReply,
    /// No connection, where the capture could have seen one.
    NoConnection,
    /// No connection in a capture that could not have seen one.
    NotCaptured,
    /// Nothing used it: no transfer command, no data connection, and the
    /// client went on (or left) without waiting on it. Not a transfer,
    /// so nothing the capture could have missed.
    Unused,
}

impl Status {
    /// The word, as JSON writes it.
    pub fn name(self) -> &'static str {
        match self {
            Status::Connected => "connected",
            Status::ConnectedElsewhere => "connected-elsewhere",
            Status::WrongEndpoint => "wrong-endpoint",
            Status::Refused => "refused",
            Status::NoAnswer => "no-answer",
            Status::CaptureEnded => "capture-ended",
            Status::Rejected => "rejected",
            Status::Unreadable => "unreadable",
            Status::CannotOpen => "cannot-open",
            Status::NoReply => "no-reply",
            Status::NoConnection => "no-connection",
            Status::NotCaptured => "not-captured",
            Status::Unused => "unused",
        }
    }

    /// Whether the setup worked, failed, or the capture cannot tell.
    pub fn outcome(self) -> Outcome {
        match self {
            Status::Connected | Status::ConnectedElsewhere => Outcome::Worked,
            Status::WrongEndpoint => Outcome::Failed(Failure::WrongEndpoint),
            Status::Refused => Outcome::Failed(Failure::Refused),
            Status::NoAnswer => Outcome::Failed(Failure::NoAnswer),
            Status::Rejected => Outcome::Failed(Failure::Rejected),
            Status::Unreadable => Outcome::Failed(Failure::Unreadable),
            Status::CannotOpen => Outcome::Failed(Failure::CannotOpen),
            Status::NoReply => Outcome::Failed(Failure::NoReply),
            Status::CaptureEnded | Status::NoConnection | Status::NotCaptured | Status::Unused => {
                Outcome::Unknown
            }
        }
    }
}

/// Whether a data setup did its job, judged from the packets alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    /// A data connection to the announced endpoint was established.
    Worked,
    Failed(Failure),
    /// Nothing shows either way (no data connection in the capture and no
    /// reply saying it failed — often a capture filtered to port 21).
    Unknown,
}

/// How a data setup failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Failure {
    /// The server rejected the PORT/EPRT/LPRT with 4xx/5xx.
    Rejected,
    /// The PORT/EPRT/LPRT got no reply, nor did anything after it.
    NoReply,
    /// The announcement could not be read.
    Unreadable,
    /// The connection went to another endpoint than announced.
    WrongEndpoint,
    Refused,
    NoAnswer,
    /// The server answered the transfer command with 425.
    CannotOpen,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Worked => "worked",
            Outcome::Failed(_) => "failed",
            Outcome::Unknown => "unknown",
        }
    }

    pub fn failure(self) -> Option<Failure> {
        match self {
            Outcome::Failed(f) => Some(f),
            _ => None,
        }
    }
}

impl Failure {
    /// Every failure, in the order above.
    pub const ALL: [Failure; 7] = [
        Failure::Rejected,
        Failure::NoReply,
        Failure::Unreadable,
        Failure::WrongEndpoint,
        Failure::Refused,
        Failure::NoAnswer,
        Failure::CannotOpen,
    ];

    /// The name in JSON output.
    pub fn name(self) -> &'static str {
        match self {
            Failure::Rejected => "rejected",
            Failure::NoReply => "no-reply",
            Failure::Unreadable => "unreadable",
            Failure::WrongEndpoint => "wrong-endpoint",
            Failure::Refused => "refused",
            Failure::NoAnswer => "no-answer",
            Failure::CannotOpen => "cannot-open",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Failure::Rejected => "command rejected",
            Failure::NoReply => "command never answered",
            Failure::Unreadable => "announcement unreadable",
            Failure::WrongEndpoint => "connection to a different endpoint",
            Failure::Refused => "connection refused",
            Failure::NoAnswer => "connection unanswered",
            Failure::CannotOpen => "425 can't open data connection",
        }
    }
}

impl DataSetup {
    /// What became of it, in the word every report uses.
    pub fn status(&self) -> Status {
        let cannot_open = self
            .transfer
            .as_ref()
            .is_some_and(|t| t.reply_code == Some(425));
        match self.verdict {
            Verdict::Connected => Status::Connected,
            Verdict::Refused => Status::Refused,
            Verdict::NoAnswer if self.observed_secs >= SILENCE_SECS => Status::NoAnswer,
            Verdict::NoAnswer => Status::CaptureEnded,
            Verdict::WrongEndpoint if self.established && !cannot_open => {
                Status::ConnectedElsewhere
            }
            Verdict::WrongEndpoint => Status::WrongEndpoint,
            Verdict::Rejected => Status::Rejected,
            Verdict::Unparsable => Status::Unreadable,
            Verdict::NoConnection | Verdict::NotCaptured if cannot_open => Status::CannotOpen,
            Verdict::NoConnection | Verdict::NotCaptured
                if self.hung
                    && self.observed_secs >= SILENCE_SECS
                    && self.client_waited_secs.unwrap_or(0.0) >= SILENCE_SECS =>
            {
                Status::NoReply
            }
            Verdict::NoConnection | Verdict::NotCaptured
                if self.transfer.is_none() && self.connection.is_none() && !self.hung =>
            {
                Status::Unused
            }
            Verdict::NoConnection => Status::NoConnection,
            Verdict::NotCaptured | Verdict::DoneUnseen => Status::NotCaptured,
        }
    }

    pub fn outcome(&self) -> Outcome {
        self.status().outcome()
    }
}

/// The longest the client waited for a reply, given the times of the
/// commands it sent from an unanswered one on (in order) and `end`, when
/// it closed the connection or the capture stopped watching: each pause
/// before its next command, and the last one before `end`.
pub fn longest_wait(sent: &[Timestamp], end: Timestamp) -> f64 {
    sent.windows(2)
        .map(|w| w[1].secs_since(w[0]))
        .chain(sent.last().map(|&t| end.secs_since(t)))
        .fold(0.0, f64::max)
}

/// How long after the last announcement a late connection is still
/// attributed. None is attributed to an announcement made after it: a
/// connection cannot follow what it has not yet been told (an active
/// server such as IIS 7.5+ may connect before replying 200, but never
/// before the PORT itself), whatever the tap lost in between.
const LATE_NS: i64 = 120_000_000_000;

/// Matches setups (sorted by time) with data connection attempts.
/// `blind` holds the times (sorted) where the control connection lost
/// bytes: a connection to another endpoint than announced is not blamed
/// on an announcement when the capture missed part of the dialogue in
/// between (the announcement it followed may be in what was lost).
pub fn match_setups(
    setups: &mut [DataSetup],
    conns: &[DataConn],
    client_ip: std::net::IpAddr,
    server_ip: std::net::IpAddr,
    blind: &[Timestamp],
) {
    let mut used = vec![false; conns.len()];
    let n = setups.len();
    for i in 0..n {
        let start = setups[i].announced_ts;
        let end = if i + 1 < n {
            setups[i + 1].announced_ts
        } else {
            setups[i].announced_ts + LATE_NS
        };
        let s = &mut setups[i];
        let Some(ep) = s.endpoint else {
            if s.verdict != Verdict::Rejected {
                s.verdict = Verdict::Unparsable;
            }
            continue;
        };
        let active = s.kind.is_active();
        let in_window = |c: &DataConn| c.first_ts >= start && c.first_ts < end;
        // Active: someone other than the client connects to the client side;
        // passive: the client connects out.
        let direction_ok = |c: &DataConn| (c.initiator.ip() == client_ip) != active;
        let exact = conns.iter().enumerate().find(|(k, c)| {
            !used[*k] && in_window(c) && c.acceptor.ip() == ep.ip && c.acceptor.port() == ep.port
        });
        if let Some((k, c)) = exact {
            used[k] = true;
            s.connection = Some(k);
            s.delay_secs = Some(c.first_ts.secs_since(s.announced_ts));
            s.verdict = match c.result() {
                ConnResult::Established | ConnResult::MidStream => Verdict::Connected,
                ConnResult::Refused => Verdict::Refused,
                ConnResult::NoAnswer => Verdict::NoAnswer,
            };
            continue;
        }
        if s.verdict == Verdict::Rejected {
            continue;
        }
        let seen_until = blind
            .iter()
            .find(|&&t| t >= s.announced_ts)
            .map_or(end, |&t| t.min(end));
        let other = conns.iter().enumerate().find(|(k, c)| {
            !used[*k]
                && in_window(c)
                && direction_ok(c)
                && (if active {
                    c.acceptor.ip() == ep.ip || c.acceptor.ip() == client_ip
                } else {
                    c.acceptor.ip() == ep.ip || c.acceptor.ip() == server_ip
                })
                && c.acceptor.port() != 20
        });
        let other = other.map(|(k, c)| {
            let why = explain(&s.arg, ep, c.acceptor, active, client_ip, server_ip);
            (k, c, why)
        });
        // After bytes the capture missed, a connection nothing ties to
        // this announcement may follow one the capture lost; one derived
        // from it (a truncated field, the control address) still is its.
        let other = other
            .filter(|(_, c, why)| c.first_ts < seen_until || !matches!(why, Mismatch::Unexplained));
        match other {
            Some((k, c, why)) => {
                used[k] = true;
                s.connection = Some(k);
                s.delay_secs = Some(c.first_ts.secs_since(s.announced_ts));
                s.verdict = Verdict::WrongEndpoint;
                s.established =
                    matches!(c.result(), ConnResult::Established | ConnResult::MidStream);
                s.mismatch = Some(why);
            }
            // The server's own word that the transfer was done proves a
            // connection the capture did not see; only a setup no transfer
            // completed over is one without a connection.
            None if s.transfer.as_ref().is_some_and(Transfer::done) => {
                s.verdict = Verdict::DoneUnseen
            }
            None => s.verdict = Verdict::NoConnection,
        }
    }
}

/// Explains why `actual` differs from the announced endpoint `ep`.
pub fn explain(
    arg: &AddrArg,
    ep: Endpoint,
    actual: SocketAddr,
    active: bool,
    client_ip: std::net::IpAddr,
    server_ip: std::net::IpAddr,
) -> Mismatch {
    if actual.ip() == ep.ip
        && actual.port() != ep.port
        && let Some(t) = truncation(arg, actual.port())
    {
        return t;
    }
    if actual.port() == ep.port && actual.ip() != ep.ip {
        if active && actual.ip() == client_ip {
            return Mismatch::ServerUsedControlAddress;
        }
        if !active && actual.ip() == server_ip {
            return Mismatch::ClientUsedControlAddress;
        }
    }
    Mismatch::Unexplained
}

/// Whether `port` is what a server reads when one port octet of a PORT
/// (or the digits of an EPRT/229 port) lost its trailing digits.
fn truncation(arg: &AddrArg, port: u16) -> Option<Mismatch> {
    let digits = |f: &super::address::Field| -> Option<String> {
        let t = &f.text.0;
        (!t.is_empty() && t.iter().all(u8::is_ascii_digit))
            .then(|| String::from_utf8_lossy(t).into_owned())
    };
    let prefixes =
        |s: &str| -> Vec<u64> { (1..s.len()).filter_map(|k| s[..k].parse().ok()).collect() };
    match arg.kind {
        AddrKind::Port if arg.fields.len() == 6 => {
            let p1 = digits(&arg.fields[4])?;
            let p2 = digits(&arg.fields[5])?;
            let (v1, v2): (u64, u64) = (p1.parse().ok()?, p2.parse().ok()?);
            // Either port octet may have lost its trailing digits.
            let low = prefixes(&p2)
                .into_iter()
                .find(|t| v1 * 256 + t == port as u64);
            let high = prefixes(&p1)
                .into_iter()
                .find(|t| t * 256 + v2 == port as u64);
            match (low, high) {
                (Some(t), _) => Some((6, p2, t)),
                (None, Some(t)) => Some((5, p1, t)),
                _ => None,
            }
            .map(|(field, announced_text, t)| Mismatch::Truncated {
                field,
                announced_text,
                read_as: t as u16,
            })
        }
        AddrKind::Eprt | AddrKind::Epsv if arg.fields.len() == 3 => {
            let p = digits(&arg.fields[2])?;
            prefixes(&p)
                .into_iter()
                .find(|&t| t == port as u64)
                .map(|t| Mismatch::Truncated {
                    field: 3,
                    announced_text: p,
                    read_as: t as u16,
                })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ftp::address::parse_port;

    fn conn(init: &str, acc: &str, ts: i64, synack: bool, rst: bool) -> DataConn {
        DataConn {
            tcp_stream: None,
            initiator: init.parse().unwrap(),
            acceptor: acc.parse().unwrap(),
            first_frame: 1,
            first_ts: Timestamp(ts),
            syn_frame: Some(1),
            syn_count: 1,
            syn_seq: None,
            syn_ack_frame: synack.then_some(2),
            syn_ack_ts: None,
            syn_ack_not_captured: false,
            rst_frame: rst.then_some(2),
            rst_by_acceptor: rst,
            fin_frame: None,
            fin_sides: 0,
            last_frame: 2,
            last_ts: Timestamp(ts),
            bytes_from_initiator: 0,
            bytes_from_acceptor: 0,
            packets: 2,
            announced_frame: None,
        }
    }

    fn setup(line: &[u8], ts: i64) -> DataSetup {
        let arg = parse_port(line);
        DataSetup {
            kind: AddrKind::Port,
            command: Some(0),
            reply: None,
            announced_frame: 1,
            announced_ts: Timestamp(ts),
            endpoint: arg.lenient,
            arg,
            reply_code: Some(200),
            verdict: Verdict::NoConnection,
            connection: None,
            established: false,
            mismatch: None,
            delay_secs: None,
            transfer: None,
            hung: false,
            observed_secs: 0.0,
            client_waited_secs: None,
        }
    }

    #[test]
    fn a_client_that_never_paused_waited_for_no_reply() {
        let t = |ms: i64| Timestamp(ms * 1_000_000);
        // Zeek's many-port: a PORT every 2 ms, the FIN 2 ms after the last.
        let sent: Vec<Timestamp> = (0..500).map(|k| t(5 + 2 * k)).collect();
        assert!(longest_wait(&sent, t(1005)) < 0.003);
        // A PORT, then 30 s of silence before QUIT and the close.
        assert_eq!(longest_wait(&[t(0), t(30_000)], t(30_001)), 30.0);
        // The last command, then silence until the end of the capture.
        assert_eq!(longest_wait(&[t(0)], t(2_000)), 2.0);
        let mut d = setup(b"PORT 10,0,0,1,4,1", 0);
        d.hung = true;
        d.observed_secs = 1.001;
        d.client_waited_secs = Some(0.002);
        assert_eq!(d.status(), Status::NoConnection);
        d.client_waited_secs = Some(1.001);
        assert_eq!(d.status(), Status::NoReply);
    }

    #[test]
    fn vsftpd_connects_to_truncated_port() {
        let mut s = vec![setup(b"PORT 198,51,100,60,125,227", 0)];
        let c = vec![conn(
            "203.0.113.10:20",
            "198.51.100.60:32022",
            1_000_000,
            false,
            true,
        )];
        let (ci, si) = (
            "198.51.100.60".parse().unwrap(),
            "203.0.113.10".parse().unwrap(),
        );
        match_setups(&mut s, &c, ci, si, &[]);
        assert_eq!(s[0].verdict, Verdict::WrongEndpoint);
        assert_eq!(
            s[0].mismatch,
            Some(Mismatch::Truncated {
                field: 6,
                announced_text: "227".into(),
                read_as: 22
            })
        );
    }

    #[test]
    fn exact_match_and_refused() {
        let mut s = vec![
            setup(b"PORT 10,0,0,1,4,1", 0),
            setup(b"PORT 10,0,0,1,4,2", 5_000_000_000),
        ];
        let c = vec![
            conn("10.0.0.2:20", "10.0.0.1:1025", 1, true, false),
            conn("10.0.0.2:20", "10.0.0.1:1026", 5_000_000_001, false, true),
        ];
        match_setups(
            &mut s,
            &c,
            "10.0.0.1".parse().unwrap(),
            "10.0.0.2".parse().unwrap(),
            &[],
        );
        assert_eq!(s[0].verdict, Verdict::Connected);
        assert_eq!(s[1].verdict, Verdict::Refused);
    }

    #[test]
    fn a_transfer_reported_done_had_a_connection_the_capture_lacks() {
        let ips = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let done = |code| Transfer {
            verb: "RETR".into(),
            frame: 2,
            reply_code: Some(code),
        };
        let mut s = vec![setup(b"PORT 10,0,0,1,4,1", 0)];
        s[0].transfer = Some(done(226));
        match_setups(&mut s, &[], ips.0, ips.1, &[]);
        assert_eq!(s[0].verdict, Verdict::DoneUnseen);
        assert_eq!(s[0].status(), Status::NotCaptured);
        // 425 says the connection failed; 150 alone says nothing yet.
        for code in [425, 150] {
            let mut s = vec![setup(b"PORT 10,0,0,1,4,1", 0)];
            s[0].transfer = Some(done(code));
            match_setups(&mut s, &[], ips.0, ips.1, &[]);
            assert_eq!(s[0].verdict, Verdict::NoConnection, "{code}");
        }
    }

    #[test]
    fn server_substitutes_control_address() {
        let mut s = vec![setup(b"PORT 192,168,1,5,4,1", 0)];
        let c = vec![conn("203.0.113.10:20", "198.51.100.1:1025", 1, true, false)];
        match_setups(
            &mut s,
            &c,
            "198.51.100.1".parse().unwrap(),
            "203.0.113.10".parse().unwrap(),
            &[],
        );
        assert_eq!(s[0].mismatch, Some(Mismatch::ServerUsedControlAddress));
    }

    #[test]
    fn no_unexplained_pairing_across_what_the_capture_missed() {
        let ips = (
            "198.51.100.60".parse().unwrap(),
            "203.0.113.10".parse().unwrap(),
        );
        // A connection to a port nothing explains, after the capture lost
        // bytes of the dialogue: its own announcement may be among them.
        let mut s = vec![setup(b"PORT 198,51,100,60,4,1", 0)];
        let c = vec![conn(
            "203.0.113.10:20",
            "198.51.100.60:9999",
            2_000,
            true,
            false,
        )];
        match_setups(&mut s, &c, ips.0, ips.1, &[Timestamp(1_000)]);
        assert_eq!(s[0].verdict, Verdict::NoConnection);
        // Without the loss it is this announcement's wrong endpoint.
        let mut s = vec![setup(b"PORT 198,51,100,60,4,1", 0)];
        match_setups(&mut s, &c, ips.0, ips.1, &[]);
        assert_eq!(s[0].verdict, Verdict::WrongEndpoint);
        // A port derived from the announcement (22_ read as 22) is its,
        // whatever was lost.
        let mut s = vec![setup(b"PORT 198,51,100,60,125,227", 0)];
        let c = vec![conn(
            "203.0.113.10:20",
            "198.51.100.60:32022",
            2_000,
            false,
            true,
        )];
        match_setups(&mut s, &c, ips.0, ips.1, &[Timestamp(1_000)]);
        assert_eq!(s[0].verdict, Verdict::WrongEndpoint);
    }
}
