//! The per-capture driver: frames in, finished FTP sessions out.
//!
//! Only flows that matter get state: control connections (port 21, ports
//! given with `--port`, or any port where a `220` banner is followed by an
//! FTP command), and connection attempts between the hosts of a live
//! session (its data connections). Everything else costs one hash lookup
//! and is counted. The flow table has a cap; when it is full the least
//! recently active flows are evicted, counted and reported.

pub mod detect;
pub mod expect;
pub mod streams;

use crate::capture::Frame;
use crate::decode::{Skip, TcpSegment, decode};
use crate::ftp::data::DataConn;
use crate::ftp::session::{Detection, EndReason, LiveSession, Session, SessionLimits};
use crate::reassembly::Origin;
use crate::timestamp::Timestamp;
use ahash::AHashMap;
use detect::{Candidate, Judgement};
use expect::Expectations;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};

/// What the engine is told to do.
#[derive(Clone, Debug)]
pub struct Options {
    /// Control ports besides 21.
    pub ports: Vec<u16>,
    /// Detect FTP on any port from a 220 banner.
    pub detect_banners: bool,
    pub session: SessionLimits,
    /// Most flows tracked at once (a control session costs about 4 KB,
    /// a data connection attempt about 300 bytes).
    pub max_flows: usize,
    /// Most bytes all live flows may hold together: reassembly buffers,
    /// lines being read, the dialogue of live sessions, banner candidates.
    /// Past it the least recently active flows are evicted, so a capture
    /// of many busy sessions cannot take memory per flow times the flows.
    pub max_memory: usize,
    /// The heap the whole process may hold (`max_memory` times the
    /// captures analysed at once), when it is measured
    /// ([`crate::mem::heap_in_use`]): past it live flows are evicted too,
    /// whatever their estimate says.
    pub heap_limit: Option<usize>,
    /// The key of `--anonymize-ips`.
    pub anonymize_key: Option<Vec<u8>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            ports: Vec::new(),
            detect_banners: true,
            session: SessionLimits::default(),
            max_flows: 100_000,
            max_memory: 256 << 20,
            heap_limit: None,
            anonymize_key: None,
        }
    }
}

/// Where every frame went.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    pub frames: u64,
    /// Frames that were not TCP, by reason.
    pub skipped: std::collections::BTreeMap<Skip, u64>,
    pub tcp_segments: u64,
    /// TCP segments of FTP control connections.
    pub control_segments: u64,
    /// TCP segments of tracked data connection attempts.
    pub data_segments: u64,
    /// TCP segments of flows that are neither (other traffic, and FTP data
    /// transfers whose SYN was not seen).
    pub other_tcp_segments: u64,
    /// Segments of a control or data flow after it closed (final ACKs).
    pub after_close_segments: u64,
    /// Flows that started with a 220 banner but turned out not to be FTP.
    pub banner_candidates_rejected: u64,
    /// Flows evicted because the flow table was full.
    pub flows_evicted: u64,
    /// Flows evicted because live flows held more than `max_memory`.
    #[serde(default)]
    pub flows_evicted_for_memory: u64,
    pub sessions: u64,
    /// TCP segments without a `tcp.stream` number: Wireshark's numbering
    /// needs every conversation remembered, and past about a million the
    /// table stops (see `streams::MAX_CONVERSATIONS`).
    #[serde(default)]
    pub unnumbered_tcp_segments: u64,
}

impl Counters {
    /// Adds another capture's counts (for totals over many captures).
    pub fn add(&mut self, o: &Counters) {
        // Destructured so that a new counter cannot be forgotten here.
        let Counters {
            frames,
            skipped,
            tcp_segments,
            control_segments,
            data_segments,
            other_tcp_segments,
            after_close_segments,
            banner_candidates_rejected,
            flows_evicted,
            flows_evicted_for_memory,
            sessions,
            unnumbered_tcp_segments,
        } = o;
        self.frames += frames;
        for (k, v) in skipped {
            *self.skipped.entry(*k).or_default() += v;
        }
        self.tcp_segments += tcp_segments;
        self.control_segments += control_segments;
        self.data_segments += data_segments;
        self.other_tcp_segments += other_tcp_segments;
        self.after_close_segments += after_close_segments;
        self.banner_candidates_rejected += banner_candidates_rejected;
        self.flows_evicted += flows_evicted;
        self.flows_evicted_for_memory += flows_evicted_for_memory;
        self.sessions += sessions;
        self.unnumbered_tcp_segments += unnumbered_tcp_segments;
    }
}

type FlowKey = (IpAddr, u16, IpAddr, u16);

fn flow_key(a: SocketAddr, b: SocketAddr) -> FlowKey {
    if (a.ip(), a.port()) <= (b.ip(), b.port()) {
        (a.ip(), a.port(), b.ip(), b.port())
    } else {
        (b.ip(), b.port(), a.ip(), a.port())
    }
}

fn pair_key(a: IpAddr, b: IpAddr) -> (IpAddr, IpAddr) {
    if a <= b { (a, b) } else { (b, a) }
}

enum Flow {
    Control(usize),
    Data {
        slot: usize,
        conn: Box<DataConn>,
    },
    Candidate(Box<Candidate>),
    /// A flow that ended (or was judged not FTP): later segments are
    /// absorbed and counted until it expires.
    Tombstone {
        until: Timestamp,
        control: bool,
        /// The initial sequence number of the client's SYN: a SYN with the
        /// same one is a retransmission, not a new connection.
        isn: Option<u32>,
    },
}

const TOMBSTONE_NS: i64 = 60_000_000_000;
const SWEEP_EVERY: u64 = 1 << 16;

struct Slot {
    session: LiveSession,
    pairs: Vec<(IpAddr, IpAddr)>,
    data_flows: Vec<FlowKey>,
    /// The session's memory when last measured (counted in `Engine::mem`).
    mem: usize,
}

/// Announced endpoints remembered per session: data connections follow
/// their announcement closely.
const ENDPOINTS_PER_SESSION: usize = 16;
/// Host pairs registered per session (client–server, plus the addresses
/// its PORT/227 lines named).
const PAIRS_PER_SESSION: usize = 64;

/// The live sessions between two hosts.
#[derive(Default)]
struct PairState {
    live: u32,
    /// The one that was active last: an unannounced connection between
    /// the hosts (a server connecting to the wrong port) belongs to it.
    last: Option<usize>,
}

/// Receives sessions as they finish.
pub trait SessionSink {
    /// A session ended (closed, reset, evicted, idle, or the capture ended).
    fn session(&mut self, s: Session);
    /// A session was detected (`watch` says so as it happens).
    fn started(&mut self, _s: &SessionStart) {}
    /// Whether the sink wants a snapshot of live session `id` now, after
    /// something that can establish a finding arrived (a 4xx/5xx reply, a
    /// data connection answered or refused). `watch` does, to say those
    /// findings before the session ends; a sink that only wants finished
    /// sessions does not, and costs nothing.
    fn wants_snapshot(&mut self, _id: u32) -> bool {
        false
    }
    /// The snapshot asked for ([`crate::ftp::session::LiveSession::snapshot`]).
    fn snapshot(&mut self, _s: Session) {}
}

/// A session as it is detected.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SessionStart {
    /// The session's id (`s1`…), in order of detection, in every mode.
    pub id: u32,
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub frame: u64,
    pub ts: Timestamp,
}

impl SessionSink for Vec<Session> {
    fn session(&mut self, s: Session) {
        self.push(s)
    }
}

pub struct Engine {
    opts: Options,
    flows: AHashMap<FlowKey, Flow>,
    /// Boxed: a live session is about 2 KB, and a vector of them would
    /// keep up to twice the peak in spare capacity.
    slots: Vec<Option<Box<Slot>>>,
    free: Vec<usize>,
    /// Host pairs with live sessions. Every index here is O(1) per
    /// packet and per session end, whatever the number of sessions.
    pairs: AHashMap<(IpAddr, IpAddr), PairState>,
    /// The session that announced each endpoint last.
    /// Announced endpoints → the session (slot) that announced them.
    expected: Expectations<usize>,
    /// The live session of each server address that was active last.
    server_last: AHashMap<IpAddr, usize>,
    pub counters: Counters,
    skipped: [u64; Skip::ALL.len()],
    next_id: u32,
    /// Sessions detected while handling the current frame, told to the
    /// sink when it is done.
    started: Vec<SessionStart>,
    now: Timestamp,
    last_frame: u64,
    streams: streams::StreamIds,
    /// The `tcp.stream` of the segment being processed.
    stream: Option<u32>,
    anonymizer: Option<crate::anonymize::Shared>,
    /// Bytes held by live sessions and banner candidates (kept under
    /// `Options::max_memory`).
    mem: usize,
    /// The process's heap when the engine started (buffers, earlier
    /// results): the budget is for what comes after.
    heap_base: usize,
}

/// Frames between two looks at the process's heap.
const HEAP_CHECK_EVERY: u64 = 4096;

impl Engine {
    pub fn new(opts: Options) -> Self {
        let streams = streams::StreamIds::new(streams::conversations_for(opts.max_memory));
        let anonymizer = opts.anonymize_key.as_ref().map(|k| {
            std::sync::Arc::new(std::sync::Mutex::new(crate::anonymize::Anonymizer::new(k)))
        });
        Engine {
            heap_base: crate::mem::heap_in_use().unwrap_or(0),
            anonymizer,
            opts,
            flows: AHashMap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            pairs: AHashMap::new(),
            expected: Expectations::new(ENDPOINTS_PER_SESSION),
            server_last: AHashMap::new(),
            counters: Counters::default(),
            skipped: [0; Skip::ALL.len()],
            next_id: 1,
            started: Vec::new(),
            now: Timestamp(0),
            last_frame: 0,
            streams,
            stream: None,
            mem: 0,
        }
    }

    fn is_control_port(&self, p: u16) -> Option<Detection> {
        if p == 21 {
            Some(Detection::Port21)
        } else if self.opts.ports.contains(&p) {
            Some(Detection::ConfiguredPort)
        } else {
            None
        }
    }

    /// Processes one frame.
    pub fn frame(&mut self, f: &Frame<'_>, out: &mut dyn SessionSink) {
        self.counters.frames += 1;
        self.now = f.ts;
        self.last_frame = f.number;
        self.stream = None;
        let missing = f.orig_len.saturating_sub(f.data.len() as u32);
        match decode(f.linktype, f.data, missing) {
            Err(s) => self.skipped[s.index()] += 1,
            Ok(mut seg) => {
                self.counters.tcp_segments += 1;
                // Numbered as in the capture; everything after sees only
                // mapped addresses.
                self.stream = self.streams.id(&seg, f.number);
                if let Some(a) = &self.anonymizer {
                    let mut a = a.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    seg.src = a.ip(seg.src);
                    seg.dst = a.ip(seg.dst);
                }
                if self.stream.is_none() {
                    self.counters.unnumbered_tcp_segments += 1;
                }
                self.tcp(
                    &seg,
                    Origin {
                        frame: f.number,
                        ts: f.ts,
                    },
                    out,
                );
            }
        }
        for st in std::mem::take(&mut self.started) {
            out.started(&st);
        }
        if self.counters.frames.is_multiple_of(SWEEP_EVERY) {
            self.sweep();
        }
        if self.mem > self.opts.max_memory {
            self.shed(self.opts.max_memory / 4 * 3, out);
        } else if self.counters.frames.is_multiple_of(HEAP_CHECK_EVERY)
            && self.mem > 0
            && let (Some(limit), Some(used)) = (self.opts.heap_limit, crate::mem::heap_in_use())
            && used.saturating_sub(self.heap_base) > limit / 8 * 7
        {
            // The process holds more than its share: live flows give up a
            // quarter of what they hold (kept sessions and the tcp.stream
            // table stop growing on their own).
            self.shed(self.mem / 4 * 3, out);
        }
    }

    fn tcp(&mut self, seg: &TcpSegment<'_>, at: Origin, out: &mut dyn SessionSink) {
        let src = SocketAddr::new(seg.src, seg.sport);
        let dst = SocketAddr::new(seg.dst, seg.dport);
        let key = flow_key(src, dst);
        match self.flows.get_mut(&key) {
            Some(Flow::Control(slot)) => {
                let slot = *slot;
                let Some(live) = self.slots[slot].as_ref().map(|s| &s.session) else {
                    // Cannot happen (a control flow always has its slot);
                    // recover by starting over.
                    self.flows.remove(&key);
                    self.new_flow(key, seg, src, dst, at, out);
                    return;
                };
                let side = live.conn.side_of(src);
                if live.conn.is_reuse(side, seg) {
                    self.finish_slot(slot, EndReason::Reused, out);
                    self.flows.remove(&key);
                    self.new_flow(key, seg, src, dst, at, out);
                    return;
                }
                self.counters.control_segments += 1;
                self.control_packet(slot, seg, at);
                if self.slots[slot]
                    .as_mut()
                    .is_some_and(|s| s.session.take_error_reply())
                {
                    self.offer_snapshot(slot, out);
                }
                let closed = self.slots[slot]
                    .as_ref()
                    .filter(|s| s.session.is_closed())
                    .map(|s| s.session.conn.client_isn());
                if let Some(isn) = closed {
                    self.finish_slot(slot, EndReason::Closed, out);
                    self.flows.insert(
                        key,
                        Flow::Tombstone {
                            until: at.ts + TOMBSTONE_NS,
                            control: true,
                            isn,
                        },
                    );
                }
            }
            Some(Flow::Data { slot, conn }) => {
                self.counters.data_segments += 1;
                let unanswered = conn.syn_ack_frame.is_none() && conn.rst_frame.is_none();
                update_data(conn, seg, src, at);
                let slot = *slot;
                let answered =
                    unanswered && (conn.syn_ack_frame.is_some() || conn.rst_frame.is_some());
                if conn.rst_frame.is_some() || conn.fin_sides == 0b11 {
                    let isn = conn.syn_seq;
                    if let Some(Flow::Data { conn, .. }) = self.flows.insert(
                        key,
                        Flow::Tombstone {
                            until: at.ts + TOMBSTONE_NS,
                            control: false,
                            isn,
                        },
                    ) && let Some(s) = self.slots[slot].as_mut()
                    {
                        s.data_flows.retain(|k| *k != key);
                        s.session.add_data_conn(*conn);
                    }
                }
                if answered {
                    self.offer_snapshot(slot, out);
                }
            }
            Some(Flow::Candidate(c)) => {
                let before = c.mem();
                c.push(seg, src, dst, at);
                self.mem = self.mem - before + c.mem();
                let verdict = c.judge();
                match verdict {
                    Judgement::Wait => {}
                    Judgement::Ftp => {
                        if let Some(Flow::Candidate(c)) = self.flows.remove(&key) {
                            self.mem -= c.mem();
                            self.promote(key, *c);
                        }
                    }
                    Judgement::NotFtp => {
                        self.mem -= c.mem();
                        self.counters.banner_candidates_rejected += 1;
                        self.counters.other_tcp_segments += c.segs.len() as u64;
                        self.flows.insert(
                            key,
                            Flow::Tombstone {
                                until: at.ts + TOMBSTONE_NS,
                                control: false,
                                isn: None,
                            },
                        );
                    }
                }
            }
            Some(Flow::Tombstone {
                until,
                control,
                isn,
            }) => {
                let new_syn = seg.flags.syn() && !seg.flags.ack() && *isn != Some(seg.seq);
                if new_syn || at.ts > *until && (!seg.payload.is_empty() || seg.flags.syn()) {
                    self.flows.remove(&key);
                    self.new_flow(key, seg, src, dst, at, out);
                } else if *control {
                    self.counters.after_close_segments += 1;
                } else {
                    self.counters.other_tcp_segments += 1;
                }
            }
            None => self.new_flow(key, seg, src, dst, at, out),
        }
    }

    fn new_flow(
        &mut self,
        key: FlowKey,
        seg: &TcpSegment<'_>,
        src: SocketAddr,
        dst: SocketAddr,
        at: Origin,
        out: &mut dyn SessionSink,
    ) {
        let has_data = !seg.payload.is_empty() || seg.missing > 0;
        let control = match (
            self.is_control_port(seg.dport),
            self.is_control_port(seg.sport),
        ) {
            (Some(d), None) => Some((d, src, dst)),
            (None, Some(d)) => Some((d, dst, src)),
            (Some(d), Some(_)) => {
                // Both ends on a control port: the SYN sender is the client.
                if seg.flags.syn() && seg.flags.ack() {
                    Some((d, dst, src))
                } else {
                    Some((d, src, dst))
                }
            }
            (None, None) => None,
        };
        if let Some((det, client, server)) = control {
            if seg.flags.syn() || has_data {
                self.make_room(out);
                let slot = self.start_session(client, server, det, at);
                self.flows.insert(key, Flow::Control(slot));
                self.counters.control_segments += 1;
                self.control_packet(slot, seg, at);
            } else {
                self.counters.other_tcp_segments += 1;
            }
            return;
        }
        if seg.flags.syn() || has_data {
            if let Some(slot) = self.data_owner(seg, src, dst) {
                self.make_room(out);
                if self.slots[slot].is_none() {
                    // Its session was just evicted to make room.
                    self.counters.other_tcp_segments += 1;
                    return;
                }
                let (initiator, acceptor) = if seg.flags.syn() && seg.flags.ack() {
                    (dst, src)
                } else {
                    (src, dst)
                };
                let mut conn = Box::new(DataConn {
                    tcp_stream: self.stream,
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
                });
                update_data(&mut conn, seg, src, at);
                self.counters.data_segments += 1;
                if let Some(s) = self.slots[slot].as_mut() {
                    s.data_flows.push(key);
                }
                self.flows.insert(key, Flow::Data { slot, conn });
                return;
            }
            if self.opts.detect_banners && detect::is_banner(seg) {
                self.make_room(out);
                let c = Candidate::new(seg, src, dst, at);
                self.mem += c.mem();
                self.flows.insert(key, Flow::Candidate(Box::new(c)));
                return;
            }
        }
        self.counters.other_tcp_segments += 1;
    }

    /// The live session a new connection between these hosts belongs to:
    /// the one that announced its acceptor, else (for a SYN) the one
    /// active last between the two hosts.
    fn data_owner(&self, seg: &TcpSegment<'_>, src: SocketAddr, dst: SocketAddr) -> Option<usize> {
        let Some(pair) = self.pairs.get(&pair_key(seg.src, seg.dst)) else {
            // An active-mode data connection from a server's port 20 to an
            // address no command named (the original address behind a NAT,
            // a bounce target) still belongs to that server's session.
            if seg.flags.syn() && !seg.flags.ack() && seg.sport == 20 {
                return self.server_last.get(&seg.src).copied();
            }
            return None;
        };
        let acceptor = if seg.flags.syn() && seg.flags.ack() {
            src
        } else {
            dst
        };
        if let Some(s) = self.expected.owner_of((acceptor.ip(), acceptor.port())) {
            return Some(s);
        }
        if !seg.flags.syn() {
            // Mid-stream pickup only for announced endpoints.
            return None;
        }
        pair.last
    }

    fn start_session(
        &mut self,
        client: SocketAddr,
        server: SocketAddr,
        det: Detection,
        at: Origin,
    ) -> usize {
        let id = self.next_id;
        self.next_id += 1;
        self.counters.sessions += 1;
        self.started.push(SessionStart {
            id,
            client,
            server,
            frame: at.frame,
            ts: at.ts,
        });
        let mut live = LiveSession::new(id, client, server, det, at, self.opts.session);
        // Started (or promoted) while a segment of its own flow is handled.
        live.tcp_stream = self.stream;
        live.anonymizer = self.anonymizer.clone();
        let slot = Slot {
            session: live,
            pairs: Vec::new(),
            data_flows: Vec::new(),
            mem: 0,
        };
        let idx = match self.free.pop() {
            Some(i) => {
                self.slots[i] = Some(Box::new(slot));
                i
            }
            None => {
                self.slots.push(Some(Box::new(slot)));
                self.slots.len() - 1
            }
        };
        self.register(idx, client.ip(), server.ip());
        idx
    }

    fn register(&mut self, slot: usize, a: IpAddr, b: IpAddr) {
        let k = pair_key(a, b);
        let Some(s) = self.slots[slot].as_mut() else {
            return;
        };
        if !s.pairs.contains(&k) {
            if s.pairs.len() >= PAIRS_PER_SESSION {
                return;
            }
            s.pairs.push(k);
            self.pairs.entry(k).or_default().live += 1;
        }
        if let Some(p) = self.pairs.get_mut(&k) {
            p.last = Some(slot);
        }
    }

    fn control_packet(&mut self, slot: usize, seg: &TcpSegment<'_>, at: Origin) {
        let Some(s) = self.slots[slot].as_mut() else {
            return;
        };
        s.session.packet(seg, at);
        let m = s.session.mem_size();
        self.mem = self.mem - s.mem + m;
        s.mem = m;
        let anns = s.session.take_announcements();
        let (cip, sip) = (s.session.conn.client.ip(), s.session.conn.server.ip());
        if let Some(p) = self.pairs.get_mut(&pair_key(cip, sip)) {
            p.last = Some(slot);
        }
        self.server_last.insert(sip, slot);
        for a in anns {
            let other = if a.active { sip } else { cip };
            self.register(slot, other, a.endpoint.ip);
            self.expected
                .announce(slot, (a.endpoint.ip, a.endpoint.port));
        }
    }

    /// Hands the sink a snapshot of a live session, if it wants one.
    fn offer_snapshot(&mut self, slot: usize, out: &mut dyn SessionSink) {
        let Some(s) = self.slots[slot].as_ref() else {
            return;
        };
        if !out.wants_snapshot(s.session.id) {
            return;
        }
        let open = s.data_flows.iter().filter_map(|k| match self.flows.get(k) {
            Some(Flow::Data { conn, .. }) => Some(&**conn),
            _ => None,
        });
        out.snapshot(s.session.snapshot(open));
    }

    fn promote(&mut self, key: FlowKey, c: Candidate) {
        let slot = self.start_session(c.client, c.server, Detection::Banner, c.first);
        self.flows.insert(key, Flow::Control(slot));
        for b in c.segs {
            let seg = b.segment();
            self.counters.control_segments += 1;
            self.control_packet(slot, &seg, b.origin);
        }
    }

    fn finish_slot(&mut self, slot: usize, reason: EndReason, out: &mut dyn SessionSink) {
        let Some(mut s) = self.slots[slot].take() else {
            return;
        };
        self.mem -= s.mem;
        for k in s.data_flows.drain(..) {
            if let Some(Flow::Data { conn, .. }) = self.flows.remove(&k) {
                s.session.add_data_conn(*conn);
            }
        }
        for k in &s.pairs {
            if let Some(p) = self.pairs.get_mut(k) {
                p.live -= 1;
                if p.last == Some(slot) {
                    // Until another session between them is active.
                    p.last = None;
                }
                if p.live == 0 {
                    self.pairs.remove(k);
                }
            }
        }
        self.expected.forget(slot);
        let server = s.session.conn.server.ip();
        if self.server_last.get(&server) == Some(&slot) {
            self.server_last.remove(&server);
        }
        self.free.push(slot);
        out.session(s.session.finish(reason));
    }

    /// Keeps the flow table under its cap by evicting the least recently
    /// active flows (a tenth of the table at a time).
    fn make_room(&mut self, out: &mut dyn SessionSink) {
        if self.flows.len() < self.opts.max_flows {
            return;
        }
        self.sweep();
        if self.flows.len() < self.opts.max_flows {
            return;
        }
        let mut ages: Vec<(Timestamp, FlowKey)> = self
            .flows
            .iter()
            .map(|(k, f)| {
                let t = match f {
                    Flow::Control(s) => self.slots[*s]
                        .as_ref()
                        .map_or(Timestamp(0), |s| s.session.last_ts()),
                    Flow::Data { conn, .. } => conn.last_ts,
                    Flow::Candidate(c) => c.segs.last().map_or(c.first.ts, |b| b.origin.ts),
                    Flow::Tombstone { .. } => Timestamp(i64::MIN),
                };
                (t, *k)
            })
            .collect();
        let n = (self.opts.max_flows / 10).max(1).min(ages.len());
        ages.select_nth_unstable(n - 1);
        for (_, k) in ages.into_iter().take(n) {
            if self.evict(k, out) {
                self.counters.flows_evicted += 1;
            }
        }
    }

    /// Evicts the least recently active sessions and banner candidates
    /// until live flows hold at most `target` bytes (a quarter below the
    /// trigger, so the scan runs seldom).
    fn shed(&mut self, target: usize, out: &mut dyn SessionSink) {
        let mut ages: Vec<(Timestamp, FlowKey)> = self
            .flows
            .iter()
            .filter_map(|(k, f)| match f {
                Flow::Control(s) => self.slots[*s].as_ref().map(|s| (s.session.last_ts(), *k)),
                Flow::Candidate(c) => Some((c.segs.last().map_or(c.first.ts, |b| b.origin.ts), *k)),
                _ => None,
            })
            .collect();
        ages.sort_unstable();
        for (_, k) in ages {
            if self.mem <= target {
                break;
            }
            if self.evict(k, out) {
                self.counters.flows_evicted_for_memory += 1;
            }
        }
    }

    /// Ends a flow early; false when there was no live flow to end.
    fn evict(&mut self, k: FlowKey, out: &mut dyn SessionSink) -> bool {
        match self.flows.remove(&k) {
            Some(Flow::Control(slot)) => {
                self.finish_slot(slot, EndReason::Evicted, out);
            }
            Some(Flow::Data { slot, conn }) => {
                if let Some(s) = self.slots[slot].as_mut() {
                    s.data_flows.retain(|x| *x != k);
                    s.session.add_data_conn(*conn);
                }
            }
            Some(Flow::Candidate(c)) => {
                self.mem -= c.mem();
                self.counters.banner_candidates_rejected += 1;
                self.counters.other_tcp_segments += c.segs.len() as u64;
            }
            Some(Flow::Tombstone { .. }) | None => return false,
        }
        true
    }

    /// Drops expired tombstones and stale candidates.
    fn sweep(&mut self) {
        let now = self.now;
        let (mut rejected, mut segments, mut freed) = (0u64, 0u64, 0usize);
        self.flows.retain(|_, f| match f {
            Flow::Tombstone { until, .. } => *until > now,
            Flow::Candidate(c) => {
                let keep = now - c.first.ts < TOMBSTONE_NS;
                if !keep {
                    rejected += 1;
                    segments += c.segs.len() as u64;
                    freed += c.mem();
                }
                keep
            }
            _ => true,
        });
        self.mem -= freed;
        self.counters.banner_candidates_rejected += rejected;
        self.counters.other_tcp_segments += segments;
    }

    /// Wireshark's `tcp.stream` of the frame just handled (None when it
    /// was not TCP, or the numbering stopped at its cap).
    pub fn last_stream(&self) -> Option<u32> {
        self.stream
    }

    /// Ends the sessions silent since `now - idle_ns` (their control
    /// connection and every data connection): a `watch` that runs for days
    /// must not keep a session its client abandoned. Returns how many.
    pub fn expire_idle(
        &mut self,
        now: Timestamp,
        idle_ns: i64,
        out: &mut dyn SessionSink,
    ) -> usize {
        let cutoff = now - idle_ns;
        let idle: Vec<FlowKey> = self
            .flows
            .iter()
            .filter_map(|(k, f)| {
                let Flow::Control(slot) = f else { return None };
                let s = self.slots[*slot].as_ref()?;
                let last = s
                    .data_flows
                    .iter()
                    .filter_map(|d| match self.flows.get(d) {
                        Some(Flow::Data { conn, .. }) => Some(conn.last_ts),
                        _ => None,
                    })
                    .fold(s.session.last_ts(), Timestamp::max);
                (last < cutoff).then_some(*k)
            })
            .collect();
        for k in &idle {
            if let Some(Flow::Control(slot)) = self.flows.remove(k) {
                let Some(s) = self.slots[slot].as_mut() else {
                    continue;
                };
                s.session.silent_until = Some(now);
                let isn = s.session.conn.client_isn();
                self.finish_slot(slot, EndReason::Idle, out);
                // Late packets of the connection (its FIN or RST) are
                // absorbed, not taken for a new session.
                self.flows.insert(
                    *k,
                    Flow::Tombstone {
                        until: now + TOMBSTONE_NS,
                        control: true,
                        isn,
                    },
                );
            }
        }
        idle.len()
    }

    /// Ends the capture: every live session is finished.
    pub fn finish(&mut self, reason: EndReason, out: &mut dyn SessionSink) {
        for st in std::mem::take(&mut self.started) {
            out.started(&st);
        }
        let mut live: Vec<(u32, usize)> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|s| (s.session.id, i)))
            .collect();
        live.sort_unstable();
        for (_, slot) in live {
            self.finish_slot(slot, reason, out);
        }
        // Banner candidates never confirmed: their segments were other TCP.
        for f in self.flows.values() {
            if let Flow::Candidate(c) = f {
                self.counters.banner_candidates_rejected += 1;
                self.counters.other_tcp_segments += c.segs.len() as u64;
            }
        }
        self.flows.clear();
        self.mem = 0;

        for s in Skip::ALL {
            let n = self.skipped[s.index()];
            if n > 0 {
                self.counters.skipped.insert(s, n);
            }
        }
    }
}

fn update_data(c: &mut DataConn, seg: &TcpSegment<'_>, src: SocketAddr, at: Origin) {
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
