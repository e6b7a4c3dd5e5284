//! One control connection while its packets arrive: both directions
//! decoded into commands and replies, the stream handed to TLS after
//! `AUTH`+`234` (and back on a return to cleartext), announced data
//! endpoints published so the engine can watch for the data connections.
//! When the connection ends it becomes a [`Session`].

use super::address::{self, Endpoint};
use super::data::{DataConn, Verdict, longest_wait, match_setups};
use super::fingerprint::{self};
use super::line::{Decoder, Item, Resume, pause_after_234, pause_after_auth};
use super::message::{Command, Reply, ReplyAssembler, starts_like_reply, starts_with_known_verb};
use crate::decode::TcpSegment;
use crate::reassembly::connection::{ConnSink, Connection, Side};
use crate::reassembly::{Chunk, DirStats, Origin};
use crate::timestamp::Timestamp;
use std::net::SocketAddr;

use super::pairing::{Pairing, data_setups, pair};
use super::session::*;

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
    /// A frame of traffic between the session's hosts beyond its control
    /// connection, captured while it lived (set by the engine): the
    /// capture could see its data connections.
    pub beyond_control: Option<u64>,
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
    /// The last segment fed: its sender, its frame, and the offset in the
    /// other direction's stream its ACK stands for (lines ending in it
    /// carry that ACK: [`super::line::Line::peer_acked`]).
    last_ack: Option<(Side, u64, Option<u64>)>,
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
            beyond_control: None,
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
            last_ack: None,
        }
    }

    /// Feeds one segment of the control connection.
    pub fn packet(&mut self, seg: &TcpSegment<'_>, at: Origin) {
        let side = self.conn.side_of(SocketAddr::new(seg.src, seg.sport));
        self.conn.packet(side, seg, at, &mut self.decoders);
        let acked = seg
            .flags
            .ack()
            .then(|| self.conn.dir(side.other()).offset_of(seg.ack))
            .flatten()
            .and_then(|o| u64::try_from(o).ok());
        self.last_ack = Some((side, at.frame, acked));
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
    /// Keeps an ended data connection; its index among them, when kept.
    pub fn add_data_conn(&mut self, c: DataConn) -> Option<usize> {
        if self.data_conns.len() < self.limits.max_data_conns {
            self.data_conns.push(c);
            Some(self.data_conns.len() - 1)
        } else {
            self.data_conns_dropped += 1;
            None
        }
    }

    /// The bare ACK that ended the close of kept data connection `index`
    /// (after both its FINs): a packet of that connection.
    pub fn final_ack(&mut self, index: usize, at: Origin) {
        if let Some(c) = self.data_conns.get_mut(index) {
            c.packets += 1;
            c.last_frame = at.frame;
            c.last_ts = at.ts;
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
                self.stamp_ack(Side::Client, &mut item);
                self.anonymize(&mut item);
                self.line_cuts.count(&item);
                self.client_item(item);
            }
            for mut item in s {
                self.stamp_ack(Side::Server, &mut item);
                self.anonymize(&mut item);
                self.line_cuts.count(&item);
                self.server_item(item);
            }
        }
    }

    /// Gives a line of `side` the ACK of the segment that carried its
    /// last byte, when that is the segment just fed (a line completed by
    /// a later segment filling a hole gets none: its own segment's ACK
    /// is not known here).
    fn stamp_ack(&self, side: Side, item: &mut Item) {
        if let (Some((from, frame, acked)), Item::Line(l)) = (self.last_ack, item)
            && from == side
            && l.last_frame() == frame
        {
            l.peer_acked = acked;
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
        // No connection where the capture could not have seen one is not
        // captured, not absent (and that, not the server's word that the
        // transfer was done, is why it is missing).
        if self.beyond_control.is_none() {
            for d in &mut setups {
                if matches!(d.verdict, Verdict::NoConnection | Verdict::DoneUnseen) {
                    d.verdict = Verdict::NotCaptured;
                }
            }
        }
        let mut data_conns = data_conns;
        // The client stopped waiting when it closed, or when the capture
        // stopped watching.
        let waited_until = self
            .conn
            .life
            .client_closed_at
            .map_or(until, |t| t.min(until));
        for d in &mut setups {
            d.observed_secs = until.secs_since(d.announced_ts);
            if let Some(c) = d.command.filter(|_| d.hung) {
                let sent: Vec<Timestamp> = commands[c..].iter().map(|c| c.line.last_ts()).collect();
                d.client_waited_secs = Some(longest_wait(&sent, waited_until.max(d.announced_ts)));
            }
            if let Some(c) = d.connection.and_then(|k| data_conns.get_mut(k)) {
                c.announced_frame.get_or_insert(d.announced_frame);
            }
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
            beyond_control: self.beyond_control,
            tls,
            tcp,
            limits: caps,
        }
    }
}
