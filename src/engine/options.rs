//! What the engine is told to do, and what it counts.

use crate::decode::Skip;
use crate::ftp::session::SessionLimits;
use crate::reassembly::connection::Standing;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

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
    /// The memory budget: live flows (reassembly buffers, lines being
    /// read, the dialogue of live sessions, banner candidates) past their
    /// share are evicted least recently active first, so a capture of many
    /// busy sessions cannot take memory per flow times the flows; and where
    /// the process's heap is measured ([`crate::mem::heap_in_use`]), past
    /// its bound they are evicted too, whatever their estimate says.
    pub budget: crate::budget::Budget,
    /// The key of `--anonymize-ips`.
    pub anonymize_key: Option<Vec<u8>>,
    /// End sessions silent this long (ns), their data connections
    /// included: `watch` runs for days and must not keep a session its
    /// client abandoned. None for a file read to its end (`analyze`).
    pub idle_expiry_ns: Option<i64>,
    /// Two legs of one file that each carry one direction, read as one
    /// view (`compare::far_acks` builds it).
    pub stitch: Option<std::sync::Arc<super::stitch::Stitch>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            ports: Vec::new(),
            detect_banners: true,
            session: SessionLimits::default(),
            max_flows: 100_000,
            budget: crate::budget::Budget::default(),
            anonymize_key: None,
            idle_expiry_ns: None,
            stitch: None,
        }
    }
}

/// Where every frame went.
#[derive(Clone, Debug, Default, PartialEq, Serialize, schemars::JsonSchema, Deserialize)]
pub struct Counters {
    /// Frames read.
    pub frames: u64,
    /// Frames that were not TCP, by reason.
    pub skipped: std::collections::BTreeMap<Skip, u64>,
    /// Frames that were TCP segments.
    pub tcp_segments: u64,
    /// TCP segments of FTP control connections.
    pub control_segments: u64,
    /// TCP segments of tracked data connection attempts that a data
    /// setup's announcement accounts for.
    pub data_segments: u64,
    /// TCP segments of connections between a session's hosts that no
    /// line of the session announced, as far as the capture can read
    /// its lines (under TLS the announcements are encrypted).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unannounced_segments: u64,
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
    /// FTP control sessions found.
    pub sessions: u64,
    /// TCP segments without a `tcp.stream` number: Wireshark's numbering
    /// needs every conversation remembered, and past about a million the
    /// table stops (see `streams::MAX_CONVERSATIONS`).
    #[serde(default)]
    pub unnumbered_tcp_segments: u64,
    /// Connections to a control port that never were FTP sessions: a
    /// refused or unanswered SYN, a stray segment answered by a reset.
    /// Their segments are counted here, not in `control_segments`.
    #[serde(default, skip_serializing_if = "NotSessions::is_empty")]
    pub not_sessions: NotSessions,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Connections to a control port that never were FTP sessions.
#[derive(Clone, Debug, Default, PartialEq, Serialize, schemars::JsonSchema, Deserialize)]
pub struct NotSessions {
    /// Connections whose SYN the server side answered with a reset.
    pub refused: u64,
    /// Connections whose SYNs the capture shows no answer to.
    pub unanswered: u64,
    /// Connections whose start the capture did not hold, answered by
    /// nothing but resets (a late retransmission, a stray packet).
    pub stray: u64,
    /// Their TCP segments.
    pub segments: u64,
    /// The first of them (at most [`NotSessions::LISTED`]), each with its
    /// frames.
    pub listed: Vec<NotSession>,
}

/// One connection that was not a session.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema, Deserialize)]
pub struct NotSession {
    pub standing: Standing,
    /// The address and port the connection came from.
    pub client: SocketAddr,
    /// The control port's address and port it went to.
    pub server: SocketAddr,
    /// Wireshark's `tcp.stream` of the connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp_stream: Option<u32>,
    /// Its first frame in the capture.
    pub first_frame: u64,
    /// Its last frame in the capture.
    pub last_frame: u64,
    /// Its TCP segments.
    pub segments: u64,
}

impl NotSessions {
    /// Connections listed with their frames; the rest are counted.
    pub const LISTED: usize = 20;

    pub fn is_empty(&self) -> bool {
        self.refused + self.unanswered + self.stray == 0
    }

    pub fn count(&self) -> u64 {
        self.refused + self.unanswered + self.stray
    }

    pub fn add(&mut self, n: NotSession) {
        match n.standing {
            Standing::Refused => self.refused += 1,
            Standing::Unanswered => self.unanswered += 1,
            Standing::Stray | Standing::Session => self.stray += 1,
        }
        self.segments += n.segments;
        if self.listed.len() < Self::LISTED {
            self.listed.push(n);
        }
    }

    fn merge(&mut self, o: &NotSessions) {
        self.refused += o.refused;
        self.unanswered += o.unanswered;
        self.stray += o.stray;
        self.segments += o.segments;
        let room = Self::LISTED.saturating_sub(self.listed.len());
        self.listed.extend(o.listed.iter().take(room).cloned());
    }
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
            unannounced_segments,
            other_tcp_segments,
            after_close_segments,
            banner_candidates_rejected,
            flows_evicted,
            flows_evicted_for_memory,
            sessions,
            unnumbered_tcp_segments,
            not_sessions,
        } = o;
        self.frames += frames;
        for (k, v) in skipped {
            *self.skipped.entry(*k).or_default() += v;
        }
        self.tcp_segments += tcp_segments;
        self.control_segments += control_segments;
        self.data_segments += data_segments;
        self.unannounced_segments += unannounced_segments;
        self.other_tcp_segments += other_tcp_segments;
        self.after_close_segments += after_close_segments;
        self.banner_candidates_rejected += banner_candidates_rejected;
        self.flows_evicted += flows_evicted;
        self.flows_evicted_for_memory += flows_evicted_for_memory;
        self.sessions += sessions;
        self.unnumbered_tcp_segments += unnumbered_tcp_segments;
        self.not_sessions.merge(not_sessions);
    }
}
