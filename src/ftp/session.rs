//! FTP control sessions: live decoding, then the finished record.
//!
//! A [`LiveSession`] owns one control connection while packets arrive. It
//! decodes both directions into commands and replies, hands the stream to
//! TLS after `AUTH`+`234` (and back on a return to cleartext), and
//! publishes announced data endpoints so the engine can watch for the data
//! connections. When the connection ends it becomes a [`Session`]: commands
//! paired with their replies (FIFO, which survives pipelining; preliminary
//! 1xx replies attach without consuming; unsolicited replies stay unpaired)
//! and every data setup with its outcome.

use super::address::{self, AddrArg, AddrKind, Endpoint};
use super::data::{DataConn, DataSetup, TRANSFER_VERBS, Transfer, Verdict, match_setups};
use super::fingerprint::{self, Server};
use super::line::{Decoder, Item, Resume, Terminator, pause_after_234, pause_after_auth};
use super::message::{
    Command, Reply, ReplyAssembler, may_answer, quoted_secret, reserved_for, secret_of,
    starts_like_reply, starts_with_known_verb,
};
use crate::bytes::Bytes;
use crate::decode::TcpSegment;
use crate::reassembly::connection::{ConnSink, Connection, Lifecycle, Side};
use crate::reassembly::{Chunk, DirStats, Limits, Origin};
use crate::timestamp::Timestamp;
use serde::Serialize;
use std::collections::VecDeque;
use std::net::SocketAddr;

/// How the control connection was recognised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Detection {
    /// TCP port 21.
    Port21,
    /// A port given with `--port`.
    ConfiguredPort,
    /// A `220` banner followed by an FTP command, on any port.
    Banner,
}

/// Why the session record was closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum EndReason {
    /// FIN in both directions.
    Closed,
    Reset,
    /// The capture ended with the connection open.
    CaptureEnd,
    /// The same 4-tuple started a new connection.
    Reused,
    /// Idle for too long while the flow table was full.
    Evicted,
    /// The capture file stopped with an error.
    ReadError,
    /// Silent for longer than `watch --idle-timeout`: no longer followed.
    Idle,
    /// Not ended: a snapshot of a live session ([`LiveSession::snapshot`]).
    Ongoing,
}

/// Encryption of the control channel.
#[derive(Clone, Debug, Default, Serialize, schemars::JsonSchema)]
pub struct Tls {
    /// The `AUTH` command that was accepted with 234.
    pub auth_command: Option<usize>,
    pub started_frame: Option<u64>,
    /// Cleartext resumed (CCC) at this frame, per direction.
    pub client_cleartext_again_frame: Option<u64>,
    pub server_cleartext_again_frame: Option<u64>,
    /// Bytes inside TLS records, not analysed.
    pub client_encrypted_bytes: u64,
    pub server_encrypted_bytes: u64,
}

/// Limits on what one session keeps.
#[derive(Clone, Copy, Debug)]
pub struct SessionLimits {
    pub tcp: Limits,
    /// Lines stored per direction; the rest are counted.
    pub max_lines: usize,
    /// Data connection attempts recorded.
    pub max_data_conns: usize,
}

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits {
            tcp: Limits::default(),
            max_lines: 100_000,
            max_data_conns: 10_000,
        }
    }
}

/// A data endpoint announced on the control channel.
#[derive(Clone, Copy, Debug)]
pub struct Announcement {
    pub endpoint: Endpoint,
    pub active: bool,
}

struct Decoders {
    client: Decoder,
    server: Decoder,
}

impl ConnSink for Decoders {
    fn data(&mut self, side: Side, chunk: &Chunk<'_>) {
        match side {
            Side::Client => self.client.data(chunk),
            Side::Server => self.server.data(chunk),
        }
    }
    fn gap(&mut self, side: Side, offset: u64, len: u64, at: Origin) {
        match side {
            Side::Client => self.client.gap(offset, len, at),
            Side::Server => self.server.gap(offset, len, at),
        }
    }
}

/// A control connection being decoded.
pub struct LiveSession {
    pub id: u32,
    /// Known silent until this time (set when `watch` expires it idle).
    pub silent_until: Option<Timestamp>,
    /// Maps addresses in every line before anything reads it.
    pub anonymizer: Option<crate::anonymize::Shared>,
    /// Wireshark's `tcp.stream` of the control connection.
    pub tcp_stream: Option<u32>,
    pub conn: Connection,
    pub detection: Detection,
    limits: SessionLimits,
    decoders: Decoders,
    assembler: ReplyAssembler,
    commands: Vec<Command>,
    replies: Vec<Reply>,
    lines_not_kept: [u64; 2],
    auth_pending: Option<usize>,
    tls: Tls,
    new_announcements: Vec<Announcement>,
    pub data_conns: Vec<DataConn>,
    pub data_conns_dropped: u64,
    line_cuts: LineCuts,
    /// Memory of the commands and replies kept so far.
    kept_size: usize,
    /// A 4xx/5xx reply arrived since the last look: the server may have
    /// quoted a damaged command, or refused a data connection.
    error_reply: bool,
}

impl LiveSession {
    pub fn new(
        id: u32,
        client: SocketAddr,
        server: SocketAddr,
        detection: Detection,
        first: Origin,
        limits: SessionLimits,
    ) -> Self {
        LiveSession {
            id,
            silent_until: None,
            anonymizer: None,
            tcp_stream: None,
            conn: Connection::new(client, server, first, limits.tcp),
            detection,
            limits,
            decoders: Decoders {
                client: Decoder::new(pause_after_auth, starts_with_known_verb),
                server: Decoder::new(pause_after_234, starts_like_reply),
            },
            assembler: ReplyAssembler::default(),
            commands: Vec::new(),
            replies: Vec::new(),
            lines_not_kept: [0, 0],
            auth_pending: None,
            tls: Tls::default(),
            new_announcements: Vec::new(),
            data_conns: Vec::new(),
            data_conns_dropped: 0,
            line_cuts: LineCuts::default(),
            kept_size: 0,
            error_reply: false,
        }
    }

    /// Feeds one segment of the control connection.
    pub fn packet(&mut self, seg: &TcpSegment<'_>, at: Origin) {
        let side = self.conn.side_of(SocketAddr::new(seg.src, seg.sport));
        self.conn.packet(side, seg, at, &mut self.decoders);
        self.process();
    }

    /// Data endpoints announced since the last call.
    pub fn take_announcements(&mut self) -> Vec<Announcement> {
        std::mem::take(&mut self.new_announcements)
    }

    /// Whether a 4xx/5xx reply arrived since the last call.
    pub fn take_error_reply(&mut self) -> bool {
        std::mem::take(&mut self.error_reply)
    }

    /// Records a data connection attempt that belongs to this session.
    pub fn add_data_conn(&mut self, c: DataConn) {
        if self.data_conns.len() < self.limits.max_data_conns {
            self.data_conns.push(c);
        } else {
            self.data_conns_dropped += 1;
        }
    }

    fn process(&mut self) {
        loop {
            let c = self.decoders.client.drain();
            let s = self.decoders.server.drain();
            if c.is_empty() && s.is_empty() {
                break;
            }
            for mut item in c {
                self.anonymize(&mut item);
                self.line_cuts.count(&item);
                self.client_item(item);
            }
            for mut item in s {
                self.anonymize(&mut item);
                self.line_cuts.count(&item);
                self.server_item(item);
            }
        }
    }

    fn anonymize(&self, item: &mut Item) {
        if let (Some(a), Item::Line(l)) = (&self.anonymizer, item) {
            a.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .text(&mut l.bytes.0);
        }
    }

    fn client_item(&mut self, item: Item) {
        match item {
            Item::Line(line) => {
                let cmd = Command::new(line);
                if cmd.is("AUTH") {
                    self.auth_pending = Some(self.commands.len());
                }
                if let Some(ep) = cmd.address.as_ref().and_then(|a| a.lenient) {
                    self.new_announcements.push(Announcement {
                        endpoint: ep,
                        active: true,
                    });
                }
                if self.commands.len() < self.limits.max_lines {
                    self.kept_size += std::mem::size_of::<Command>() + cmd.line.mem_size();
                    self.commands.push(cmd);
                } else {
                    self.lines_not_kept[0] += 1;
                    // A dropped AUTH must still be answered.
                    if self.auth_pending == Some(self.commands.len()) {
                        self.auth_pending = None;
                        self.decoders.client.resume(Resume::Text);
                    }
                }
            }
            Item::TlsStart { frame, .. } => {
                self.tls.started_frame.get_or_insert(frame);
            }
            Item::TlsEnd { frame, .. } => {
                self.tls.client_cleartext_again_frame.get_or_insert(frame);
            }
        }
    }

    fn server_item(&mut self, item: Item) {
        match item {
            Item::Line(line) => {
                if let Some(reply) = self.assembler.push(line) {
                    self.reply(reply);
                }
                if let Some(reply) = self.assembler.take_held() {
                    self.reply(reply);
                }
            }
            Item::TlsStart { frame, .. } => {
                self.tls.started_frame.get_or_insert(frame);
            }
            Item::TlsEnd { frame, .. } => {
                self.tls.server_cleartext_again_frame.get_or_insert(frame);
            }
        }
    }

    fn reply(&mut self, reply: Reply) {
        if let Some(code) = reply.code {
            self.error_reply |= code >= 400;
            if code >= 200
                && let Some(auth) = self.auth_pending.take()
            {
                if code == 234 {
                    self.tls.auth_command = Some(auth);
                    self.decoders.client.resume(Resume::Tls);
                    self.decoders.server.resume(Resume::Tls);
                } else {
                    self.decoders.client.resume(Resume::Text);
                }
            }

            if let Some(arg) = address::parse_reply(code, &reply.last().bytes.0)
                && let Some(mut ep) = arg.lenient
            {
                if ep.ip.is_unspecified() && code == 229 {
                    ep.ip = self.conn.server.ip();
                }
                self.new_announcements.push(Announcement {
                    endpoint: ep,
                    active: false,
                });
            }
        }
        // A 234 that did not answer AUTH: the server stream goes on as text.
        if self.decoders.server.is_paused()
            && self.auth_pending.is_none()
            && !self.decoders.client.is_encrypted()
        {
            self.decoders.server.resume(Resume::Text);
        }
        if self.replies.len() < self.limits.max_lines {
            self.kept_size += std::mem::size_of::<Reply>()
                + reply.lines.iter().map(|l| l.mem_size()).sum::<usize>();
            self.replies.push(reply);
        } else {
            self.lines_not_kept[1] += 1;
        }
    }

    /// Bytes this live session holds: reassembly buffers and evidence,
    /// lines being read, the dialogue kept so far, its data connections.
    /// The engine keeps the sum over all sessions under a budget.
    pub fn mem_size(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.conn.mem_size()
            + self.decoders.client.mem_size()
            + self.decoders.server.mem_size()
            + self.assembler.mem_size()
            + self.kept_size
            + self.data_conns.len() * std::mem::size_of::<DataConn>()
    }

    /// True when the connection has ended (FIN both ways, or RST).
    pub fn is_closed(&self) -> bool {
        self.conn.is_closed()
    }

    pub fn last_ts(&self) -> Timestamp {
        self.conn.last.ts
    }

    /// Ends the session and builds its record.
    pub fn finish(mut self, reason: EndReason) -> Session {
        let tcp = self.conn.finish(&mut self.decoders);
        self.decoders.client.finish();
        self.decoders.server.finish();
        self.process();
        // Anything still paused is released as text by `finish`; decode it.
        self.decoders.client.finish();
        self.decoders.server.finish();
        self.process();
        if let Some(r) = self.assembler.finish() {
            self.reply(r);
        }
        self.tls.client_encrypted_bytes = self.decoders.client.tls_bytes;
        self.tls.server_encrypted_bytes = self.decoders.server.tls_bytes;
        let held_lost = self.decoders.client.held_overflow + self.decoders.server.held_overflow;

        let commands = std::mem::take(&mut self.commands);
        let replies = std::mem::take(&mut self.replies);
        let data_conns = std::mem::take(&mut self.data_conns);
        let tls = std::mem::take(&mut self.tls);
        self.record(commands, replies, data_conns, tcp, tls, held_lost, reason)
    }

    /// The session as far as it has gone, for the rules whose findings
    /// are final once seen (`watch` says them before the session ends):
    /// the complete commands and replies so far, the data connections
    /// ended so far and `open` (those still going, as the engine has
    /// them). Its TCP statistics are empty: they are known at the end.
    pub fn snapshot<'a>(&self, open: impl Iterator<Item = &'a DataConn>) -> Session {
        let mut data_conns = self.data_conns.clone();
        data_conns.extend(open.cloned());
        self.record(
            self.commands.clone(),
            self.replies.clone(),
            data_conns,
            Default::default(),
            self.tls.clone(),
            0,
            EndReason::Ongoing,
        )
    }

    /// Pairs the dialogue, finds the data setups and their connections,
    /// and builds the record (`held_lost`: bytes lost while waiting to
    /// know whether TLS followed).
    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        commands: Vec<Command>,
        replies: Vec<Reply>,
        data_conns: Vec<DataConn>,
        tcp: [DirStats; 2],
        tls: Tls,
        held_lost: u64,
        reason: EndReason,
    ) -> Session {
        // The record ends with its last packet, or later when the session
        // is known to have stayed silent until then (idle expiry, or the
        // end of the capture).
        let until = self
            .silent_until
            .map_or(self.conn.last.ts, |t| t.max(self.conn.last.ts));
        let caps = SessionCaps {
            lines_not_kept: self.lines_not_kept,
            reply_lines_not_kept: self.assembler.lines_dropped,
            data_conns_not_kept: self.data_conns_dropped,
            bytes_lost_waiting_for_tls_decision: held_lost,
            lines: self.line_cuts,
        };
        let Pairing {
            reply_of,
            command_of,
            reply_unseen,
        } = pair(&commands, &replies);
        let banner = replies
            .iter()
            .zip(&command_of)
            .find(|(r, c)| c.is_none() && matches!(r.code, Some(220)))
            .map(|(r, _)| r.joined());
        let server = fingerprint::identify(
            banner
                .iter()
                .map(|b| b.as_slice())
                .chain(replies.iter().take(50).map(|r| r.last().bytes.as_slice())),
        );
        let client = self.conn.client;
        let srv = self.conn.server;
        let mut setups = data_setups(
            &commands,
            &replies,
            &reply_of,
            &command_of,
            &reply_unseen,
            srv,
        );
        // Where the control connection lost bytes, in time order: a gap
        // lies somewhere after the last line seen before it, so the
        // capture was blind from that line's time on (from the start when
        // no line came before it).
        let mut blind: Vec<Timestamp> = Vec::new();
        for (dir, st) in tcp.iter().enumerate().filter(|(_, st)| !st.gaps.is_empty()) {
            let lines: Vec<&super::line::Line> = if dir == 0 {
                commands.iter().map(|c| &c.line).collect()
            } else {
                replies.iter().flat_map(|r| &r.lines).collect()
            };
            for g in &st.gaps {
                let before = lines
                    .iter()
                    .rev()
                    .find(|l| l.offset + l.raw_len <= g.offset);
                blind.push(before.map_or(self.conn.first.ts, |l| l.last_ts()));
            }
        }
        blind.sort();
        match_setups(&mut setups, &data_conns, client.ip(), srv.ip(), &blind);
        for d in &mut setups {
            d.observed_secs = until.secs_since(d.announced_ts);
        }
        let tls = (tls.auth_command.is_some() || tls.started_frame.is_some()).then_some(tls);
        Session {
            id: self.id,
            client,
            server: srv,
            detection: self.detection,
            start: self.conn.first.ts,
            end: until,
            first_frame: self.conn.first.frame,
            last_frame: self.conn.last.frame,
            last_seen: self.conn.last.ts,
            packets: self.conn.packets,
            ttl: self.conn.ttl,
            tcp_stream: self.tcp_stream,
            lifecycle: self.conn.life.clone(),
            end_reason: if self.conn.life.rst_frame.is_some() && reason == EndReason::Closed {
                EndReason::Reset
            } else {
                reason
            },
            banner,
            server_software: server,
            commands,
            replies,
            reply_of,
            command_of,
            reply_unseen,
            data_setups: setups,
            data_conns,
            tls,
            tcp,
            limits: caps,
        }
    }
}

/// What a session record could not keep.
#[derive(Clone, Debug, Default, Serialize, schemars::JsonSchema)]
pub struct SessionCaps {
    /// Command lines and replies not stored (per direction).
    pub lines_not_kept: [u64; 2],
    pub reply_lines_not_kept: u64,
    pub data_conns_not_kept: u64,
    pub bytes_lost_waiting_for_tls_decision: u64,
    #[serde(flatten)]
    pub lines: LineCuts,
}

impl SessionCaps {
    pub fn any(&self) -> bool {
        self.lines_not_kept != [0, 0]
            || self.reply_lines_not_kept > 0
            || self.data_conns_not_kept > 0
            || self.bytes_lost_waiting_for_tls_decision > 0
            || self.lines != LineCuts::default()
    }
}

/// What the lines of a session could not keep (see the caps in
/// [`crate::ftp::line`]): a line's bytes past `MAX_LINE`, the frames of a
/// line spread over very many segments, Telnet commands past the first
/// ones. Each line says the same in its own fields.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct LineCuts {
    /// Lines longer than `MAX_LINE`: their start is kept.
    pub lines_cut: u64,
    pub line_bytes_not_kept: u64,
    pub line_frames_not_listed: u64,
    pub telnet_commands_not_recorded: u64,
}

impl LineCuts {
    fn count(&mut self, item: &Item) {
        if let Item::Line(l) = item {
            self.lines_cut += u64::from(l.overlong_bytes > 0);
            self.line_bytes_not_kept += l.overlong_bytes;
            self.line_frames_not_listed += u64::from(l.pieces_dropped);
            self.telnet_commands_not_recorded += u64::from(l.telnet_dropped);
        }
    }
}

/// A finished FTP control session.
#[derive(Clone, Debug)]
pub struct Session {
    /// 1-based, in order of the first frame.
    pub id: u32,
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub detection: Detection,
    pub start: Timestamp,
    pub end: Timestamp,
    pub first_frame: u64,
    pub last_frame: u64,
    /// When the connection's last captured packet (`last_frame`) was seen;
    /// `end` may be later (the session known silent until then).
    pub last_seen: Timestamp,
    pub packets: [u64; 2],
    /// TTL of the first packet from client and from server.
    pub ttl: [Option<u8>; 2],
    /// Wireshark's `tcp.stream` of the control connection.
    pub tcp_stream: Option<u32>,
    pub lifecycle: Lifecycle,
    pub end_reason: EndReason,
    pub banner: Option<Bytes>,
    pub server_software: Option<Server>,
    pub commands: Vec<Command>,
    pub replies: Vec<Reply>,
    /// For each command, the index of its final reply.
    pub reply_of: Vec<Option<usize>>,
    /// For each reply, the index of the command it answers.
    pub command_of: Vec<Option<usize>>,
    /// Per command: its reply may lie in bytes the capture missed.
    pub reply_unseen: Vec<bool>,
    pub data_setups: Vec<DataSetup>,
    pub data_conns: Vec<DataConn>,
    pub tls: Option<Tls>,
    pub tcp: [DirStats; 2],
    pub limits: SessionCaps,
}

impl Session {
    /// When frame `frame` was captured, if it carried a line of this
    /// session or a data connection's SYN, SYN-ACK or last packet.
    pub fn time_of(&self, frame: u64) -> Option<Timestamp> {
        let lines = self
            .commands
            .iter()
            .map(|c| &c.line)
            .chain(self.replies.iter().flat_map(|r| &r.lines));
        for l in lines {
            if let Some(p) = l.pieces.iter().find(|p| p.frame == frame) {
                return Some(p.ts);
            }
        }
        self.data_conns.iter().find_map(|c| {
            if c.first_frame == frame {
                Some(c.first_ts)
            } else if c.syn_ack_frame == Some(frame) {
                c.syn_ack_ts
            } else {
                (c.last_frame == frame).then_some(c.last_ts)
            }
        })
    }

    pub fn name(&self) -> String {
        format!("s{}", self.id)
    }

    /// Bytes the record occupies, mostly its dialogue (to bound what a
    /// report keeps).
    pub fn mem_size(&self) -> usize {
        use std::mem::size_of;
        size_of::<Self>()
            + self
                .commands
                .iter()
                .map(|c| size_of::<Command>() + c.line.mem_size())
                .sum::<usize>()
            + self
                .replies
                .iter()
                .map(|r| size_of::<Reply>() + r.lines.iter().map(|l| l.mem_size()).sum::<usize>())
                .sum::<usize>()
            + (self.reply_of.len() + self.command_of.len()) * size_of::<Option<usize>>()
            + self.reply_unseen.len()
            + self.data_setups.len() * size_of::<DataSetup>()
            + self.data_conns.len() * size_of::<DataConn>()
    }

    /// The Community ID (v1, seed 0) of the control connection: the same
    /// string Zeek's and Suricata's logs give this flow.
    pub fn community_id(&self) -> Option<String> {
        community_id::calculate_community_id(
            0,
            self.client.ip(),
            self.server.ip(),
            Some(self.client.port()),
            Some(self.server.port()),
            6,
            false,
        )
        .ok()
    }

    /// Whether TLS was asked for or agreed (AUTH, or a 234 even when the
    /// capture missed the AUTH): encrypted bytes may then be read as text
    /// wherever the capture missed where they began.
    pub fn asked_for_tls(&self) -> bool {
        self.tls.is_some()
            || self.commands.iter().any(|c| c.is("AUTH"))
            || self.replies.iter().any(|r| r.code == Some(234))
    }

    /// The final reply to command `i`.
    pub fn reply_to(&self, i: usize) -> Option<&Reply> {
        self.reply_of
            .get(i)
            .copied()
            .flatten()
            .map(|r| &self.replies[r])
    }

    /// Replaces every credential (the argument of `PASS` and `ACCT`, the
    /// password of `SITE PASSWD`-like commands) with `<redacted:N>` (N =
    /// its length), also where a server quoted it back and in
    /// retransmission evidence, so no output can carry a password.
    pub fn redact_passwords(&mut self) {
        // (what stood before the secret, the secret, its stream range)
        let mut secrets: Vec<(Vec<u8>, Vec<u8>, u64, u64)> = Vec::new();
        for c in &mut self.commands {
            let Some(at) = secret_of(&c.line.bytes.0) else {
                continue;
            };
            let line = &mut c.line.bytes.0;
            let secret = line.split_off(at.start);
            line.extend_from_slice(format!("<redacted:{}>", secret.len()).as_bytes());
            secrets.push((
                line[..at.start].to_vec(),
                secret,
                c.line.offset,
                c.line.offset + c.line.raw_len,
            ));
        }
        if secrets.is_empty() {
            return;
        }
        for r in &mut self.replies {
            for l in &mut r.lines {
                for (before, secret, _, _) in &secrets {
                    redact_in(&mut l.bytes.0, before, secret);
                }
            }
        }
        let st = &mut self.tcp[Side::Client.index()];
        for k in &mut st.conflicts {
            if secrets
                .iter()
                .any(|(_, _, a, b)| k.offset < *b && k.offset + k.kept.0.len() as u64 > *a)
            {
                let n = k.kept.0.len();
                k.kept = Bytes(format!("<redacted:{n}>").into_bytes());
                k.other = Bytes(format!("<redacted:{}>", k.other.0.len()).into_bytes());
            }
        }
    }

    /// Preliminary (1xx) replies that answered command `i`.
    pub fn preliminaries(&self, i: usize) -> impl Iterator<Item = &Reply> {
        self.replies
            .iter()
            .zip(&self.command_of)
            .filter(move |(r, c)| **c == Some(i) && r.is_preliminary())
            .map(|(r, _)| r)
    }
}

/// Replaces `secret` in `hay` by `<redacted:N>` wherever it is quoted
/// after `before`.
fn redact_in(hay: &mut Vec<u8>, before: &[u8], secret: &[u8]) {
    let rep = format!("<redacted:{}>", secret.len()).into_bytes();
    for at in quoted_secret(hay, before, secret).into_iter().rev() {
        hay.splice(at..at + secret.len(), rep.iter().copied());
    }
}

/// Commands paired with replies.
pub struct Pairing {
    /// The final reply to each command.
    pub reply_of: Vec<Option<usize>>,
    /// The command each reply answers.
    pub command_of: Vec<Option<usize>>,
    /// Commands whose reply may lie in bytes the capture missed: without a
    /// reply, but not known to be unanswered.
    pub reply_unseen: Vec<bool>,
}

/// Pairs commands with replies in capture order (commands by the frame that
/// completed them, replies by the frame that started them). Servers answer
/// in order, so a reply goes to the oldest waiting command that may
/// receive it ([`may_answer`], or a command the reply quotes); the waiting
/// commands it passes over are unanswered. Never across a gap: a reply
/// right after missing server bytes pairs with no command sent before
/// them (their replies may be in the gap), and after missing client bytes
/// (a lost command) only a reply that can belong to nothing else pairs.
pub fn pair(commands: &[Command], replies: &[Reply]) -> Pairing {
    let mut reply_of = vec![None; commands.len()];
    let mut command_of = vec![None; replies.len()];
    let mut reply_unseen = vec![false; commands.len()];
    let mut pending: VecDeque<usize> = VecDeque::new();
    let (mut ci, mut ri) = (0, 0);
    let mut answered_any = false;
    // A command was lost in a client-side gap: its reply may come first.
    let mut lost_command = false;
    let verb = |k: usize| commands[k].verb.as_deref().unwrap_or("");
    while ri < replies.len() {
        let r_key = replies[ri].first().first_frame();
        if ci < commands.len() && commands[ci].line.last_frame() < r_key {
            if commands[ci].line.follows_gap {
                lost_command = true;
            }
            // Every whole line reaches the server and gets a reply, a
            // verb or not; only a fragment after a gap is not a command.
            if !commands[ci].line.after_gap {
                pending.push_back(ci);
            }
            ci += 1;
            continue;
        }
        let r = &replies[ri];
        if r.first().follows_gap {
            // Whatever was waiting may have been answered in the gap.
            for k in pending.drain(..) {
                reply_unseen[k] = true;
            }
            lost_command = false;
        }
        let quoted = r.code.and_then(|_| {
            let e = super::echo::find_echo(&r.first().bytes.0, None)?;
            super::message::verb_of(&e.quoted.0)
        });
        // A reply that quotes a waiting command's verb goes to it; else
        // (no quote, or a quote of a verb nobody sent: rewritten on the
        // way) to the oldest that may receive it.
        let named = |code: u16| {
            pending
                .iter()
                .position(|&k| quoted.as_deref() == Some(verb(k)) && may_answer(verb(k), code))
        };
        let fits = |k: usize, code: u16| may_answer(verb(k), code);
        // A reply that quotes its command, or whose code belongs to that
        // kind of command: safe to pair even after a lost command.
        let telling = |k: usize, code: u16| {
            quoted.as_deref() == Some(verb(k))
                || reserved_for(code).is_some_and(|v| v.contains(&verb(k)))
        };
        match r.code {
            None => {}
            // The greeting: unsolicited even when a client sent too early.
            Some(120 | 220) if !answered_any => {}
            Some(c) if (100..200).contains(&c) => {
                if let Some(&k) = pending.iter().find(|&&k| fits(k, c)) {
                    command_of[ri] = Some(k);
                }
            }
            Some(c) => {
                let at = named(c).or_else(|| {
                    pending
                        .iter()
                        .position(|&k| fits(k, c) && (!lost_command || telling(k, c)))
                });
                if let Some(at) = at {
                    // Servers answer in order: the commands passed over
                    // got no reply.
                    pending.drain(..at);
                    let k = pending.pop_front().unwrap_or_default();
                    command_of[ri] = Some(k);
                    reply_of[k] = Some(ri);
                    answered_any = true;
                    lost_command = false;
                }
            }
        }
        ri += 1;
    }
    if lost_command {
        for k in pending {
            reply_unseen[k] = true;
        }
    }
    Pairing {
        reply_of,
        command_of,
        reply_unseen,
    }
}

/// Builds the data setups: PORT/EPRT/LPRT with the reply that accepted or
/// rejected them, and 227/228/229 replies (with the PASV-type command).
fn data_setups(
    commands: &[Command],
    replies: &[Reply],
    reply_of: &[Option<usize>],
    command_of: &[Option<usize>],
    reply_unseen: &[bool],
    server: SocketAddr,
) -> Vec<DataSetup> {
    let mut out = Vec::new();
    for (i, c) in commands.iter().enumerate() {
        // A line that never ended was never executed by the server.
        if matches!(c.line.terminator, Terminator::None | Terminator::Gap) {
            continue;
        }
        let Some(arg) = c.address.as_deref().cloned() else {
            continue;
        };
        let reply = reply_of[i];
        let code = reply.and_then(|r| replies[r].code);
        let rejected = code.is_some_and(|c| c >= 400);
        let mut d = setup(
            arg,
            Some(i),
            reply,
            code,
            c.line.last_frame(),
            c.line.last_ts(),
            rejected,
            server,
        );
        // No reply, none to any later command either, and none that the
        // capture could have missed.
        d.hung = reply.is_none()
            && !reply_unseen[i]
            && !replies.is_empty()
            && reply_of[i + 1..].iter().all(Option::is_none);
        out.push(d);
    }
    for (ri, r) in replies.iter().enumerate() {
        let Some(code) = r.code else { continue };
        let Some(arg) = address::parse_reply(code, &r.last().bytes.0) else {
            continue;
        };
        let l = r.last();
        out.push(setup(
            arg,
            command_of[ri],
            Some(ri),
            Some(code),
            l.first_frame(),
            l.first_ts(),
            false,
            server,
        ));
    }
    out.sort_by_key(|s| (s.announced_ts, s.announced_frame));
    attach_transfers(&mut out, commands, replies, reply_of);
    out
}

/// Gives each setup the first transfer command after its own command and
/// before the next setup's (the command that used the announced endpoint).
fn attach_transfers(
    setups: &mut [DataSetup],
    commands: &[Command],
    replies: &[Reply],
    reply_of: &[Option<usize>],
) {
    let starts: Vec<usize> = setups.iter().filter_map(|s| s.command).collect();
    for s in setups.iter_mut() {
        let Some(c) = s.command else { continue };
        let end = starts
            .iter()
            .copied()
            .filter(|&n| n > c)
            .min()
            .unwrap_or(commands.len());
        s.transfer = (c + 1..end)
            .find(|&i| {
                commands[i]
                    .verb
                    .as_deref()
                    .is_some_and(|v| TRANSFER_VERBS.contains(&v))
            })
            .map(|i| Transfer {
                verb: commands[i].verb.as_deref().unwrap_or_default().to_string(),
                frame: commands[i].line.last_frame(),
                reply_code: reply_of[i].and_then(|r| replies[r].code),
            });
    }
}

#[allow(clippy::too_many_arguments)]
fn setup(
    arg: AddrArg,
    command: Option<usize>,
    reply: Option<usize>,
    reply_code: Option<u16>,
    frame: u64,
    ts: Timestamp,
    rejected: bool,
    server: SocketAddr,
) -> DataSetup {
    let mut endpoint = arg.lenient;
    if let Some(ep) = endpoint.as_mut()
        && arg.kind == AddrKind::Epsv
        && ep.ip.is_unspecified()
    {
        ep.ip = server.ip();
    }
    DataSetup {
        kind: arg.kind,
        command,
        reply,
        announced_frame: frame,
        announced_ts: ts,
        endpoint,
        arg,
        reply_code,
        verdict: if rejected {
            Verdict::Rejected
        } else {
            Verdict::NoConnection
        },
        connection: None,
        established: false,
        mismatch: None,
        delay_secs: None,
        transfer: None,
        hung: false,
        observed_secs: 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ftp::line::{Line, Piece, Terminator};

    fn line(s: &str, frame: u64) -> Line {
        Line {
            bytes: Bytes(s.as_bytes().to_vec()),
            terminator: Terminator::CrLf,
            offset: 0,
            raw_len: 0,
            pieces: vec![Piece {
                frame,
                ts: Timestamp(frame as i64),
                seg_offset: 0,
                len: s.len() as u32,
            }],
            pieces_dropped: 0,
            telnet: vec![],
            telnet_dropped: 0,
            overlong_bytes: 0,
            after_gap: false,
            follows_gap: false,
            bare_cr: false,
        }
    }

    fn reply(s: &str, frame: u64) -> Reply {
        ReplyAssembler::default().push(line(s, frame)).unwrap()
    }

    #[test]
    fn pairing_survives_pipelining_and_preliminaries() {
        let cmds = vec![
            Command::new(line("USER a", 3)),
            Command::new(line("TYPE I", 10)),
            Command::new(line("RETR f", 11)),
        ];
        let reps = vec![
            reply("220 hi", 1),
            reply("331 pass", 4),
            reply("200 ok", 12),
            reply("150 here", 13),
            reply("226 done", 14),
        ];
        let p = pair(&cmds, &reps);
        let (rof, cof) = (p.reply_of, p.command_of);
        assert_eq!(cof, vec![None, Some(0), Some(1), Some(2), Some(2)]);
        assert_eq!(rof, vec![Some(1), Some(2), Some(4)]);
    }

    #[test]
    fn early_client_does_not_steal_banner() {
        let cmds = vec![Command::new(line("USER a", 1))];
        let reps = vec![reply("220 hi", 2), reply("331 pass", 3)];
        let p = pair(&cmds, &reps);
        let (rof, cof) = (p.reply_of, p.command_of);
        assert_eq!(cof, vec![None, Some(0)]);
        assert_eq!(rof, vec![Some(1)]);
    }

    #[test]
    fn redaction_terminates_on_hostile_password() {
        let mut hay = b"500 'PASS <redacted:12>': x".to_vec();
        redact_in(&mut hay, b"PASS ", b"<redacted:12>");
        assert_eq!(hay, b"500 'PASS <redacted:13>': x");
        // Quoted back in the server's own case and with the client's tab.
        let mut hay = b"500 'pass\thunter2': command not understood; hunter2".to_vec();
        redact_in(&mut hay, b"PASS\t", b"hunter2");
        assert_eq!(
            hay,
            b"500 'pass\t<redacted:7>': command not understood; hunter2"
        );
    }

    #[test]
    fn community_id_is_the_standard_one() {
        // The spec's and Zeek's test vector: 1.2.3.4:1122 → 5.6.7.8:3344 TCP.
        let id = community_id::calculate_community_id(
            0,
            "1.2.3.4".parse().unwrap(),
            "5.6.7.8".parse().unwrap(),
            Some(1122),
            Some(3344),
            6,
            false,
        );
        assert_eq!(id.unwrap(), "1:wCb3OG7yAFWelaUydu0D+125CLM=");
    }

    #[test]
    fn unsolicited_reply_is_unpaired() {
        let cmds = vec![Command::new(line("NOOP", 5))];
        let reps = vec![reply("220 hi", 1), reply("200 ok", 6), reply("421 bye", 9)];
        let cof = pair(&cmds, &reps).command_of;
        assert_eq!(cof, vec![None, Some(0), None]);
    }

    #[test]
    fn a_reply_goes_to_a_command_that_can_get_it() {
        // An unanswered PORT, then QUIT: 221 is QUIT's.
        let cmds = vec![
            Command::new(line("PORT 1,2,3,4,5,6", 3)),
            Command::new(line("QUIT", 4)),
        ];
        let reps = vec![reply("220 hi", 1), reply("221 Goodbye.", 5)];
        let p = pair(&cmds, &reps);
        assert_eq!(p.reply_of, vec![None, Some(1)]);
        assert_eq!(p.reply_unseen, vec![false, false]);
        // PASV answered by `221 Bye` (Zeek's ftp-invalid-reply-code): no pair.
        let cmds = vec![Command::new(line("PASV", 3))];
        let reps = vec![reply("220 hi", 1), reply("221 Bye", 5)];
        assert_eq!(pair(&cmds, &reps).reply_of, vec![None]);
        // PORT then PWD: the 257 is PWD's.
        let cmds = vec![
            Command::new(line("PORT 1,2,3,4,5,6", 3)),
            Command::new(line("PWD", 4)),
        ];
        let reps = vec![reply("220 hi", 1), reply("257 \"/\"", 5)];
        assert_eq!(pair(&cmds, &reps).reply_of, vec![None, Some(1)]);
    }

    #[test]
    fn never_paired_across_a_gap() {
        // TYPE I sent; `200 Type set to I` and `PASV` lost; then 227.
        let mut after = line("227 Entering Passive Mode (1,2,3,4,5,6)", 9);
        after.follows_gap = true;
        let mut list = line("LIST", 10);
        list.follows_gap = true;
        let cmds = vec![Command::new(line("TYPE I", 3)), Command::new(list)];
        let reps = vec![
            reply("220 hi", 1),
            ReplyAssembler::default().push(after).unwrap(),
            reply("150 here", 11),
            reply("226 done", 12),
        ];
        let p = pair(&cmds, &reps);
        assert_eq!(p.reply_of, vec![None, Some(3)]);
        assert_eq!(p.command_of[1], None, "the 227 answers no command seen");
        assert_eq!(p.reply_unseen, vec![true, false]);
        // A generic reply after a lost command is not given to the next.
        let mut pwd = line("PWD", 6);
        pwd.follows_gap = true;
        let cmds = vec![Command::new(line("CWD a", 3)), Command::new(pwd)];
        let reps = vec![
            reply("220 hi", 1),
            reply("250 ok", 4),
            reply("250 ok", 7),
            reply("257 \"/b\"", 8),
        ];
        let p = pair(&cmds, &reps);
        assert_eq!(p.reply_of, vec![Some(1), Some(3)]);
        assert_eq!(p.command_of[2], None);
    }
}
