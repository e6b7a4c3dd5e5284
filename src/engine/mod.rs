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
pub mod flows;
mod options;
mod room;
mod sink;
pub mod stitch;
pub mod streams;

pub use options::{Counters, NotSession, NotSessions, Options};
pub use sink::{SessionSink, SessionStart};

use crate::capture::Frame;
use crate::decode::{Skip, TcpSegment, decode};
use crate::ftp::data::DataConn;
use crate::ftp::live::LiveSession;
use crate::ftp::session::{Detection, EndReason};
use crate::reassembly::connection::Standing;
use crate::reassembly::{IpMark, Origin};
use crate::timestamp::Timestamp;
use ahash::AHashMap;
use detect::{Candidate, Judgement};
use expect::Expectations;
use flows::{Flow, FlowKey, FlowTable, Tombstone, flow_key};
use std::net::{IpAddr, SocketAddr};

fn pair_key(a: IpAddr, b: IpAddr) -> (IpAddr, IpAddr) {
    if a <= b { (a, b) } else { (b, a) }
}

/// How often (capture time, or wall time when `watch` is told the input
/// is silent) the engine ages its flows.
const TICK_NS: i64 = 1_000_000_000;

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
    /// The first and the last TCP segment between the hosts on other
    /// ports than the control ports, while sessions between them lived:
    /// whether the capture could see their data connections (a capture
    /// filtered to port 21 holds none).
    beyond: Option<(Origin, Origin)>,
}

pub struct Engine {
    opts: Options,
    flows: FlowTable,
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
    /// The latest capture time seen (frames may come out of order).
    latest: Timestamp,
    /// When the flow table is aged next ([`Engine::tick`]).
    next_tick: Timestamp,
    /// When silent conversations are forgotten next (`watch` only).
    next_forget: Timestamp,
    last_frame: u64,
    streams: streams::StreamIds,
    /// The `tcp.stream` of the segment being processed.
    stream: Option<u32>,
    /// The flow of the last TCP segment when it was found to be nothing
    /// to track (no entry, not a control, data or banner flow). On bulk
    /// traffic of other protocols, most of a busy link's frames, the next
    /// segment is often of the same flow; it is counted without looking
    /// again. Only the segment right before may set it: any other segment
    /// (one that could announce a data endpoint, say) clears it.
    last_other: Option<(FlowKey, bool)>,
    /// Handshakes on other ports, kept until their first payload shows
    /// whether a banner follows.
    handshakes: detect::Handshakes,
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
        let streams =
            streams::StreamIds::new(streams::conversations_for(opts.budget.stream_table()));
        let anonymizer = opts.anonymize_key.as_ref().map(|k| {
            std::sync::Arc::new(std::sync::Mutex::new(crate::anonymize::Anonymizer::new(k)))
        });
        Engine {
            heap_base: crate::mem::heap_in_use().unwrap_or(0),
            anonymizer,
            opts,
            flows: FlowTable::default(),
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
            latest: Timestamp(i64::MIN),
            next_tick: Timestamp(i64::MIN),
            next_forget: Timestamp(i64::MIN),
            last_frame: 0,
            streams,
            stream: None,
            last_other: None,
            handshakes: detect::Handshakes::default(),
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
        if f.outside_view {
            // Another leg's frame: numbered as the whole file numbers
            // its conversations, and nothing more.
            if let Ok(seg) = decode(f.linktype, f.data, 0) {
                self.streams.id(&seg, f.number);
            }
            return;
        }
        self.counters.frames += 1;
        self.now = f.ts;
        self.latest = self.latest.max(f.ts);
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
                if let Some(st) = &self.opts.stitch {
                    st.apply(crate::capture::legs::of(f), &mut seg);
                }
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
                        ip: IpMark {
                            ttl: seg.ttl,
                            id: seg.ip_id,
                        },
                    },
                    out,
                );
            }
        }
        for st in std::mem::take(&mut self.started) {
            out.started(&st);
        }
        self.tick(f.ts, out);
        let budget = self.opts.budget;
        if self.mem > budget.live_flows() {
            self.shed(budget.evict_to(), out);
        } else if self.counters.frames.is_multiple_of(HEAP_CHECK_EVERY)
            && self.mem > 0
            && let Some(used) = crate::mem::heap_in_use()
            && used.saturating_sub(self.heap_base) > budget.process_heap_trigger()
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
        if let Some((k, between)) = self.last_other.take()
            && k == key
            && !self.may_start_tracking(seg)
        {
            self.counters.other_tcp_segments += 1;
            if between {
                self.saw_beyond(seg, at);
            }
            self.last_other = Some((key, between));
            return;
        }
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
                    self.offer_snapshot(slot, at, out);
                }
                let closed = self.slots[slot]
                    .as_ref()
                    .filter(|s| s.session.is_closed())
                    .map(|s| s.session.conn.client_isn());
                if let Some(isn) = closed {
                    let mut t = Tombstone::new(at.ts, true, isn);
                    t.not_session = self.finish_slot(slot, EndReason::Closed, out);
                    self.flows.insert(key, Flow::Tombstone(t));
                }
            }
            Some(Flow::Data { slot, conn }) => {
                self.counters.data_segments += 1;
                let unanswered = conn.syn_ack_frame.is_none() && conn.rst_frame.is_none();
                conn.update(seg, src, at);
                let slot = *slot;
                let answered =
                    unanswered && (conn.syn_ack_frame.is_some() || conn.rst_frame.is_some());
                if conn.rst_frame.is_some() || conn.fin_sides == 0b11 {
                    let isn = conn.syn_seq;
                    let by_fins = conn.rst_frame.is_none();
                    if let Some(Flow::Data { conn, .. }) = self
                        .flows
                        .insert(key, Flow::Tombstone(Tombstone::new(at.ts, false, isn)))
                        && let Some(s) = self.slots[slot].as_mut()
                    {
                        s.data_flows.retain(|k| *k != key);
                        let index = s.session.add_data_conn(*conn);
                        let id = s.session.id;
                        if let (true, Some(index), Some(Flow::Tombstone(t))) =
                            (by_fins, index, self.flows.get_mut(&key))
                        {
                            t.final_ack_of = Some((slot, id, index));
                        }
                    }
                }
                self.saw_beyond(seg, at);
                if answered {
                    self.offer_snapshot(slot, at, out);
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
                        self.flows
                            .insert(key, Flow::Tombstone(Tombstone::new(at.ts, false, None)));
                    }
                }
            }
            Some(Flow::Tombstone(t)) => {
                if t.is_reused_by(seg, at.ts) {
                    self.flows.remove(&key);
                    self.new_flow(key, seg, src, dst, at, out);
                } else if let Some(listed) = t.not_session {
                    // A SYN retried after its reset, and the reset again.
                    let ns = &mut self.counters.not_sessions;
                    ns.segments += 1;
                    if let Some(l) = listed.and_then(|n| ns.listed.get_mut(n)) {
                        l.segments += 1;
                        l.last_frame = at.frame;
                    }
                } else if let Some((slot, id, index)) = t.final_ack_of.take_if(|_| {
                    seg.payload.is_empty()
                        && seg.missing == 0
                        && !seg.flags.syn()
                        && !seg.flags.fin()
                        && !seg.flags.rst()
                }) {
                    // The last ACK of a data connection's close is its own.
                    self.counters.data_segments += 1;
                    self.saw_beyond(seg, at);
                    if let Some(s) = self.slots[slot].as_mut().filter(|s| s.session.id == id) {
                        s.session.final_ack(index, at);
                    }
                } else if t.control {
                    self.counters.after_close_segments += 1;
                } else {
                    self.counters.other_tcp_segments += 1;
                    self.saw_beyond(seg, at);
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
                let mut conn = Box::new(DataConn::new(self.stream, initiator, acceptor, at));
                conn.update(seg, src, at);
                self.counters.data_segments += 1;
                self.saw_beyond(seg, at);
                if let Some(s) = self.slots[slot].as_mut() {
                    s.data_flows.push(key);
                }
                self.flows.insert(key, Flow::Data { slot, conn });
                return;
            }
            if self.opts.detect_banners && detect::is_banner(seg) {
                self.make_room(out);
                // Its handshake's segments were counted as other TCP; the
                // candidate counts them again when it is judged.
                let handshake = self.handshakes.take(&key);
                self.counters.other_tcp_segments -= handshake.len() as u64;
                let c = Candidate::new(seg, src, dst, at).after(handshake);
                self.mem += c.mem();
                self.flows.insert(key, Flow::Candidate(Box::new(c)));
                return;
            }
        }
        self.counters.other_tcp_segments += 1;
        let between = self.saw_beyond(seg, at);
        if self.opts.detect_banners && !has_data {
            let b = detect::Buffered::of(seg, src, dst, at);
            if seg.flags.syn() && !seg.flags.ack() {
                self.handshakes.start(key, b);
                return;
            }
            if self.handshakes.contains(&key) && self.handshakes.push(&key, b) {
                return;
            }
        } else if has_data && self.handshakes.contains(&key) {
            // Not a banner: not the start of an FTP session.
            self.handshakes.take(&key);
        }
        self.last_other = Some((key, between));
    }

    /// Notes a segment between two hosts with live sessions on other
    /// ports than the control ports (the caller knows it is not a control
    /// connection's); false when no session lives between the hosts.
    fn saw_beyond(&mut self, seg: &TcpSegment<'_>, at: Origin) -> bool {
        match self.pairs.get_mut(&pair_key(seg.src, seg.dst)) {
            Some(p) => {
                p.beyond.get_or_insert((at, at)).1 = at;
                true
            }
            None => false,
        }
    }

    /// A frame of traffic beyond the control connection between the
    /// hosts of the session in `slot` while it lived (its first), if the
    /// capture holds any: whether it could see the session's data
    /// connections.
    fn beyond_control(&self, slot: usize) -> Option<u64> {
        let s = self.slots[slot].as_ref()?;
        let start = s.session.conn.first.ts;
        s.pairs
            .iter()
            .filter_map(|k| self.pairs.get(k)?.beyond)
            .filter(|(_, last)| last.ts >= start)
            .map(|(first, last)| {
                if first.ts >= start {
                    first.frame
                } else {
                    last.frame
                }
            })
            .min()
    }

    /// Whether a segment of a flow found untracked just before could
    /// still be the start of something [`Engine::new_flow`] tracks: a SYN
    /// (a new connection on the same endpoints) or a banner.
    fn may_start_tracking(&self, seg: &TcpSegment<'_>) -> bool {
        seg.flags.syn() || (self.opts.detect_banners && detect::is_banner(seg))
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

    /// Starts following a control connection. It gets its id (and counts
    /// as a session) once the capture shows it is one
    /// ([`Engine::qualify`]): a refused or unanswered SYN, or a stray
    /// segment, never does.
    fn start_session(
        &mut self,
        client: SocketAddr,
        server: SocketAddr,
        det: Detection,
        at: Origin,
    ) -> usize {
        let mut live = LiveSession::new(0, client, server, det, at, self.opts.session);
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
        if let Some(p) = self.pairs.get_mut(&k)
            && s.session.id != 0
        {
            p.last = Some(slot);
        }
    }

    /// Numbers the session in `slot` once the capture shows it is one
    /// (or, at its end, `ended`, whatever it turned out to be): its id,
    /// the session count and the sink's `started` come then, in that
    /// order. False when it is not a session.
    fn qualify(&mut self, slot: usize, ended: bool) -> bool {
        let Some(s) = self.slots[slot].as_mut() else {
            return false;
        };
        if s.session.id != 0 {
            return true;
        }
        if s.session.conn.standing(ended) != Some(Standing::Session) {
            return false;
        }
        let id = self.next_id;
        self.next_id += 1;
        self.counters.sessions += 1;
        s.session.id = id;
        let (client, server, first) = (
            s.session.conn.client,
            s.session.conn.server,
            s.session.conn.first,
        );
        self.started.push(SessionStart {
            id,
            client,
            server,
            frame: first.frame,
            ts: first.ts,
        });
        true
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
        // A connection that is not (yet) a session owns no unannounced
        // connection between its hosts.
        if self.qualify(slot, false) {
            if let Some(p) = self.pairs.get_mut(&pair_key(cip, sip)) {
                p.last = Some(slot);
            }
            self.server_last.insert(sip, slot);
        }
        for a in anns {
            let other = if a.active { sip } else { cip };
            self.register(slot, other, a.endpoint.ip);
            self.expected
                .announce(slot, (a.endpoint.ip, a.endpoint.port));
        }
    }

    /// Hands the sink a snapshot of a live session, if it wants one.
    fn offer_snapshot(&mut self, slot: usize, at: Origin, out: &mut dyn SessionSink) {
        let Some(s) = self.slots[slot].as_ref() else {
            return;
        };
        if s.session.id == 0 || !out.wants_snapshot(s.session.id) {
            return;
        }
        let beyond = self.beyond_control(slot);
        let Some(s) = self.slots[slot].as_mut() else {
            return;
        };
        s.session.beyond_control = beyond;
        let s = &*s;
        let open = s.data_flows.iter().filter_map(|k| match self.flows.get(k) {
            Some(Flow::Data { conn, .. }) => Some(&**conn),
            _ => None,
        });
        out.snapshot(s.session.snapshot(open), at);
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

    /// Ends the connection in `slot`: a session goes to the sink (None);
    /// one that never was a session is counted, and its place in the list
    /// of them, if listed, is returned (for its tombstone).
    fn finish_slot(
        &mut self,
        slot: usize,
        reason: EndReason,
        out: &mut dyn SessionSink,
    ) -> Option<Option<usize>> {
        let session = self.qualify(slot, true);
        let beyond = self.beyond_control(slot);
        if let Some(s) = self.slots[slot].as_mut() {
            s.session.beyond_control = beyond;
        }
        let mut s = self.slots[slot].take()?;
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
        // Sessions detected before, and this one, are told as started
        // before it is told as ended.
        for st in std::mem::take(&mut self.started) {
            out.started(&st);
        }
        if session {
            let s = s.session.finish(reason);
            // Connections no line announced were followed as data
            // connections; they are counted as what they turned out to be.
            let unannounced: u64 = s
                .data_conns
                .iter()
                .filter(|c| c.announced_frame.is_none())
                .map(|c| c.packets)
                .sum();
            self.counters.data_segments -= unannounced;
            self.counters.unannounced_segments += unannounced;
            out.session(s);
            return None;
        }
        let c = &s.session.conn;
        let segments = c.packets[0] + c.packets[1];
        self.counters.control_segments -= segments;
        let listed = self.counters.not_sessions.listed.len();
        self.counters.not_sessions.add(NotSession {
            standing: c.standing(true).unwrap_or(Standing::Stray),
            client: c.client,
            server: c.server,
            tcp_stream: s.session.tcp_stream,
            first_frame: c.first.frame,
            last_frame: c.last.frame,
            segments,
        });
        Some((self.counters.not_sessions.listed.len() > listed).then_some(listed))
    }

    /// Ends the capture: every live session is finished.
    pub fn finish(&mut self, reason: EndReason, out: &mut dyn SessionSink) {
        for st in std::mem::take(&mut self.started) {
            out.started(&st);
        }
        // Numbered sessions in order, then those not yet known to be
        // sessions, by their first frame.
        let mut live: Vec<((bool, u32, u64), usize)> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                s.as_ref().map(|s| {
                    let id = s.session.id;
                    ((id == 0, id, s.session.conn.first.frame), i)
                })
            })
            .collect();
        live.sort_unstable();
        for (_, slot) in live {
            // The capture went on to its last frame and showed nothing of
            // a session still open: it was silent that long (a hung
            // transfer shows as a stall, as `watch`'s idle expiry shows it).
            if reason == EndReason::CaptureEnd
                && let Some(s) = self.slots[slot].as_mut()
            {
                s.session.silent_until = Some(self.latest);
            }
            self.finish_slot(slot, reason, out);
        }
        // Banner candidates never confirmed: their segments were other TCP.
        for f in self.flows.drain() {
            if let Flow::Candidate(c) = f {
                self.counters.banner_candidates_rejected += 1;
                self.counters.other_tcp_segments += c.segs.len() as u64;
            }
        }
        self.mem = 0;

        for s in Skip::ALL {
            let n = self.skipped[s.index()];
            if n > 0 {
                self.counters.skipped.insert(s, n);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::TcpFlags as F;
    use crate::decode::tests::eth_v4_tcp;
    use crate::ftp::session::Session;

    const C: [u8; 4] = [192, 0, 2, 1];
    const S: [u8; 4] = [198, 51, 100, 2];
    const SEC: i64 = 1_000_000_000;

    /// Ended sessions, and snapshots when `snapshots` is set.
    #[derive(Default)]
    struct Out {
        ended: Vec<Session>,
        started: Vec<SessionStart>,
        snapshots: Option<Vec<Session>>,
    }
    impl SessionSink for Out {
        fn session(&mut self, s: Session) {
            self.ended.push(s)
        }
        fn started(&mut self, s: &SessionStart) {
            self.started.push(s.clone())
        }
        fn wants_snapshot(&mut self, _: u32) -> bool {
            self.snapshots.is_some()
        }
        fn snapshot(&mut self, s: Session, _: Origin) {
            self.snapshots.get_or_insert_default().push(s)
        }
    }

    /// Feeds frames (time in seconds, bytes) numbered from 1.
    struct Feed {
        engine: Engine,
        n: u64,
    }
    impl Feed {
        fn new(opts: Options) -> Self {
            Feed {
                engine: Engine::new(opts),
                n: 0,
            }
        }
        fn frame(&mut self, secs: i64, data: Vec<u8>, out: &mut Out) {
            self.n += 1;
            let f = Frame {
                number: self.n,
                ts: Timestamp(secs * SEC),
                linktype: 1,
                orig_len: data.len() as u32,
                data: &data,
                interface: 0,
                outside_view: false,
                point: None,
            };
            self.engine.frame(&f, out);
        }
    }

    /// A control session up to a PORT to 192.0.2.1:50000 and its reply.
    fn dialogue(feed: &mut Feed, out: &mut Out, reply: &[u8]) {
        login(feed, out);
        announce(feed, out, reply);
    }

    /// A control session's handshake and banner.
    fn login(feed: &mut Feed, out: &mut Out) {
        feed.frame(
            0,
            eth_v4_tcp((C, 40000), (S, 21), 100, None, F::SYN, b""),
            out,
        );
        feed.frame(
            0,
            eth_v4_tcp((S, 21), (C, 40000), 500, Some(101), F::SYN | F::ACK, b""),
            out,
        );
        feed.frame(
            0,
            eth_v4_tcp((C, 40000), (S, 21), 101, Some(501), F::ACK, b""),
            out,
        );
        feed.frame(
            1,
            eth_v4_tcp((S, 21), (C, 40000), 501, Some(101), F::ACK, b"220 hi\r\n"),
            out,
        );
    }

    /// The session's PORT to 192.0.2.1:50000 and the reply to it.
    fn announce(feed: &mut Feed, out: &mut Out, reply: &[u8]) {
        let port = b"PORT 192,0,2,1,195,80\r\n";
        feed.frame(
            2,
            eth_v4_tcp((C, 40000), (S, 21), 101, Some(509), F::ACK, port),
            out,
        );
        let ack = 101 + port.len() as u32;
        feed.frame(
            2,
            eth_v4_tcp((S, 21), (C, 40000), 509, Some(ack), F::ACK, reply),
            out,
        );
    }

    #[test]
    fn an_untracked_flow_is_looked_at_again_once_anything_else_happened() {
        let (mut feed, mut out) = (Feed::new(Options::default()), Out::default());
        login(&mut feed, &mut out);
        // Mid-stream, to an endpoint nobody announced: not tracked, and the
        // second segment takes the shortcut.
        let data = |seq| eth_v4_tcp((S, 20), (C, 50000), seq, Some(1), F::ACK, b"xx");
        feed.frame(2, data(900), &mut out);
        feed.frame(2, data(902), &mut out);
        assert_eq!(feed.engine.counters.other_tcp_segments, 2);
        // The PORT announces it: the next segment is the session's data.
        announce(&mut feed, &mut out, b"200 ok\r\n");
        feed.frame(3, data(904), &mut out);
        assert_eq!(feed.engine.counters.data_segments, 1);
        // A SYN on the endpoints of an untracked flow is looked at: between
        // the session's hosts, it is its data connection.
        let other = |flags, seq| eth_v4_tcp((C, 41000), (S, 8080), seq, None, flags, b"");
        feed.frame(4, other(F::ACK, 7), &mut out);
        assert_eq!(feed.engine.counters.other_tcp_segments, 3);
        feed.frame(4, other(F::SYN, 100), &mut out);
        assert_eq!(feed.engine.counters.data_segments, 2);
    }

    #[test]
    fn a_closed_session_ends_and_its_late_segments_are_absorbed() {
        let (mut feed, mut out) = (Feed::new(Options::default()), Out::default());
        dialogue(&mut feed, &mut out, b"200 ok\r\n");
        assert_eq!(out.started.len(), 1);
        feed.frame(
            3,
            eth_v4_tcp((C, 40000), (S, 21), 124, Some(517), F::FIN | F::ACK, b""),
            &mut out,
        );
        feed.frame(
            3,
            eth_v4_tcp((S, 21), (C, 40000), 517, Some(125), F::FIN | F::ACK, b""),
            &mut out,
        );
        assert_eq!(out.ended.len(), 1);
        assert_eq!(out.ended[0].end_reason, EndReason::Closed);
        feed.frame(
            3,
            eth_v4_tcp((C, 40000), (S, 21), 125, Some(518), F::ACK, b""),
            &mut out,
        );
        assert_eq!(feed.engine.counters.after_close_segments, 1);
        assert_eq!(out.started.len(), 1, "the final ACK started nothing");
    }

    #[test]
    fn a_connection_to_the_announced_endpoint_is_the_sessions_data() {
        let (mut feed, mut out) = (Feed::new(Options::default()), Out::default());
        dialogue(&mut feed, &mut out, b"200 ok\r\n");
        feed.frame(
            3,
            eth_v4_tcp((S, 20), (C, 50000), 900, None, F::SYN, b""),
            &mut out,
        );
        // Between other hosts: not this session's.
        feed.frame(
            3,
            eth_v4_tcp(([203, 0, 113, 9], 20), (C, 50000), 900, None, F::SYN, b""),
            &mut out,
        );
        feed.engine.finish(EndReason::CaptureEnd, &mut out);
        let s = &out.ended[0];
        assert_eq!(s.data_conns.len(), 1);
        assert_eq!(s.data_conns[0].acceptor.port(), 50000);
        assert_eq!(feed.engine.counters.data_segments, 1);
    }

    #[test]
    fn ticks_end_idle_sessions_only_when_asked() {
        for idle in [None, Some(60 * SEC)] {
            let opts = Options {
                idle_expiry_ns: idle,
                ..Options::default()
            };
            let (mut feed, mut out) = (Feed::new(opts), Out::default());
            dialogue(&mut feed, &mut out, b"200 ok\r\n");
            feed.engine.tick(Timestamp(30 * SEC), &mut out);
            assert!(out.ended.is_empty(), "not idle yet");
            feed.engine.tick(Timestamp(90 * SEC), &mut out);
            match idle {
                None => assert!(out.ended.is_empty(), "analyze ends sessions with the file"),
                Some(_) => {
                    assert_eq!(out.ended.len(), 1);
                    assert_eq!(out.ended[0].end_reason, EndReason::Idle);
                }
            }
        }
    }

    #[test]
    fn an_error_reply_offers_a_snapshot_to_a_sink_that_wants_one() {
        for want in [false, true] {
            let mut out = Out {
                snapshots: want.then(Vec::new),
                ..Out::default()
            };
            let mut feed = Feed::new(Options::default());
            dialogue(
                &mut feed,
                &mut out,
                b"500 'PORT 192,0,2,1,195,8_': command not understood\r\n",
            );
            if want {
                let snaps = out.snapshots.as_ref().unwrap();
                assert_eq!(snaps.len(), 1);
                assert_eq!(snaps[0].end_reason, EndReason::Ongoing);
                assert_eq!(snaps[0].replies.len(), 2);
            } else {
                assert!(out.snapshots.is_none());
            }
            assert!(out.ended.is_empty(), "the session goes on");
        }
    }
}
