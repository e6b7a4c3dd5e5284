//! The flow table: what the engine knows of every TCP connection it
//! tracks, keyed by its endpoints in either direction. Closed flows stay a
//! while as tombstones, so their last segments (final ACKs, a FIN after a
//! RST) are absorbed instead of being taken for new connections. The
//! table never decides what a flow is; it keeps flows, ages them and says
//! which are oldest, for the engine's caps.

use super::detect::Candidate;
use crate::decode::TcpSegment;
use crate::ftp::data::DataConn;
use crate::timestamp::Timestamp;
use ahash::AHashMap;
use std::net::{IpAddr, SocketAddr};

/// A connection's endpoints, the lower one first, so both directions of
/// a connection have the same key.
pub type FlowKey = (IpAddr, u16, IpAddr, u16);

pub fn flow_key(a: SocketAddr, b: SocketAddr) -> FlowKey {
    if (a.ip(), a.port()) <= (b.ip(), b.port()) {
        (a.ip(), a.port(), b.ip(), b.port())
    } else {
        (b.ip(), b.port(), a.ip(), a.port())
    }
}

/// How long a closed flow absorbs late segments, and how long a banner
/// candidate may wait for an FTP command.
pub const LINGER_NS: i64 = 60_000_000_000;

pub enum Flow {
    /// A control connection: the index of its session's slot.
    Control(usize),
    /// A data connection attempt of the session in `slot`.
    Data { slot: usize, conn: Box<DataConn> },
    /// A flow that began with a `220` and may turn out to be FTP.
    Candidate(Box<Candidate>),
    /// A flow that ended (or was judged not FTP).
    Tombstone(Tombstone),
}

/// A flow that ended: later segments are absorbed and counted until
/// `until`, unless a new connection takes its endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tombstone {
    pub until: Timestamp,
    /// It was a control connection (its late segments are counted as
    /// such).
    pub control: bool,
    /// The initial sequence number of the client's SYN: a SYN with the
    /// same one is a retransmission, not a new connection.
    pub isn: Option<u32>,
    /// The connection was not an FTP session (with its place in
    /// [`super::NotSessions::listed`] when listed): its late segments (a
    /// SYN retried after a reset) are counted with it.
    pub not_session: Option<Option<usize>>,
    /// A data connection closed by both FINs, as its session holds it
    /// (slot, session id, index in the session's data connections): the
    /// bare ACK of the second FIN that follows is the close's last packet
    /// and belongs to it.
    pub final_ack_of: Option<(usize, u32, usize)>,
}

impl Tombstone {
    /// A tombstone for a flow ending at `now`.
    pub fn new(now: Timestamp, control: bool, isn: Option<u32>) -> Self {
        Tombstone {
            until: now + LINGER_NS,
            control,
            isn,
            not_session: None,
            final_ack_of: None,
        }
    }

    /// Whether `seg` (at `now`) starts a new connection on these
    /// endpoints: a SYN with another sequence number, or after the
    /// tombstone expired, a SYN or data (a bare ACK is still absorbed).
    pub fn is_reused_by(&self, seg: &TcpSegment<'_>, now: Timestamp) -> bool {
        let new_syn = seg.flags.syn() && !seg.flags.ack() && self.isn != Some(seg.seq);
        new_syn || now > self.until && (!seg.payload.is_empty() || seg.flags.syn())
    }
}

impl Flow {
    /// When the flow was last active; `None` for a tombstone (it is
    /// history, not activity). `session_last` gives a control flow's.
    fn last_active(&self, session_last: &dyn Fn(usize) -> Option<Timestamp>) -> Option<Timestamp> {
        match self {
            Flow::Control(slot) => session_last(*slot),
            Flow::Data { conn, .. } => Some(conn.last_ts),
            Flow::Candidate(c) => Some(c.last_ts()),
            Flow::Tombstone(_) => None,
        }
    }
}

/// What a sweep removed besides expired tombstones: banner candidates that
/// waited too long (they were not FTP).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Swept {
    pub candidates: u64,
    /// Their segments (other TCP, as it turned out).
    pub segments: u64,
    /// The bytes they held.
    pub bytes: usize,
}

#[derive(Default)]
pub struct FlowTable {
    map: AHashMap<FlowKey, Flow>,
}

impl FlowTable {
    /// How many flows (tombstones included) the table holds.
    pub fn count(&self) -> usize {
        self.map.len()
    }

    pub fn get(&self, k: &FlowKey) -> Option<&Flow> {
        self.map.get(k)
    }

    pub fn get_mut(&mut self, k: &FlowKey) -> Option<&mut Flow> {
        self.map.get_mut(k)
    }

    /// Sets the flow of `k`, returning the one it replaces.
    pub fn insert(&mut self, k: FlowKey, f: Flow) -> Option<Flow> {
        self.map.insert(k, f)
    }

    pub fn remove(&mut self, k: &FlowKey) -> Option<Flow> {
        self.map.remove(k)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&FlowKey, &Flow)> {
        self.map.iter()
    }

    /// Empties the table, handing over every flow.
    pub fn drain(&mut self) -> impl Iterator<Item = Flow> + '_ {
        self.map.drain().map(|(_, f)| f)
    }

    /// The control flows whose session has been silent since before
    /// `cutoff`, counting its open data connections as activity.
    pub fn silent_since<'a>(
        &self,
        cutoff: Timestamp,
        session: &dyn Fn(usize) -> Option<(Timestamp, &'a [FlowKey])>,
    ) -> Vec<FlowKey> {
        self.map
            .iter()
            .filter_map(|(k, f)| {
                let Flow::Control(slot) = f else { return None };
                let (last, data) = session(*slot)?;
                let last = data
                    .iter()
                    .filter_map(|d| match self.map.get(d) {
                        Some(Flow::Data { conn, .. }) => Some(conn.last_ts),
                        _ => None,
                    })
                    .fold(last, Timestamp::max);
                (last < cutoff).then_some(*k)
            })
            .collect()
    }

    /// Drops tombstones expired at `now` and banner candidates older than
    /// [`LINGER_NS`].
    pub fn sweep(&mut self, now: Timestamp) -> Swept {
        let mut swept = Swept::default();
        self.map.retain(|_, f| match f {
            Flow::Tombstone(t) => t.until > now,
            Flow::Candidate(c) => {
                let keep = now - c.first.ts < LINGER_NS;
                if !keep {
                    swept.candidates += 1;
                    swept.segments += c.segs.len() as u64;
                    swept.bytes += c.mem();
                }
                keep
            }
            _ => true,
        });
        swept
    }

    /// The keys of the `n` least recently active flows, tombstones first
    /// (they cost nothing to drop). `session_last` gives a control flow's
    /// last activity (its session knows it).
    pub fn least_recent(
        &self,
        n: usize,
        session_last: &dyn Fn(usize) -> Option<Timestamp>,
    ) -> Vec<FlowKey> {
        let mut ages: Vec<(Timestamp, FlowKey)> = self
            .map
            .iter()
            .map(|(k, f)| {
                let t = match f {
                    Flow::Tombstone(_) => Timestamp(i64::MIN),
                    f => f.last_active(session_last).unwrap_or(Timestamp(0)),
                };
                (t, *k)
            })
            .collect();
        let n = n.min(ages.len());
        if n == 0 {
            return Vec::new();
        }
        ages.select_nth_unstable(n - 1);
        ages.truncate(n);
        ages.into_iter().map(|(_, k)| k).collect()
    }

    /// The live control flows and banner candidates, least recently
    /// active first (to shed memory).
    pub fn by_age(&self, session_last: &dyn Fn(usize) -> Option<Timestamp>) -> Vec<FlowKey> {
        let mut ages: Vec<(Timestamp, FlowKey)> = self
            .map
            .iter()
            .filter(|(_, f)| matches!(f, Flow::Control(_) | Flow::Candidate(_)))
            .filter_map(|(k, f)| Some((f.last_active(session_last)?, *k)))
            .collect();
        ages.sort_unstable();
        ages.into_iter().map(|(_, k)| k).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::TcpFlags;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn seg(flags: u8, seq: u32, payload: &[u8]) -> TcpSegment<'_> {
        TcpSegment {
            src: addr("10.0.0.1:0").ip(),
            dst: addr("10.0.0.2:0").ip(),
            sport: 40000,
            dport: 21,
            seq,
            ack: 0,
            flags: TcpFlags(flags),
            window: 0,
            payload,
            missing: 0,
            ttl: 64,
            ip_id: None,
            sack: None,
        }
    }

    fn data_conn(last: i64) -> Box<DataConn> {
        let at = crate::reassembly::Origin {
            frame: 1,
            ts: Timestamp(last),
            ..Default::default()
        };
        Box::new(DataConn::new(
            None,
            addr("10.0.0.2:20"),
            addr("10.0.0.1:40000"),
            at,
        ))
    }

    #[test]
    fn both_directions_have_one_key() {
        let (a, b) = (addr("10.0.0.1:21"), addr("10.0.0.2:40000"));
        assert_eq!(flow_key(a, b), flow_key(b, a));
        assert_ne!(flow_key(a, b), flow_key(a, addr("10.0.0.2:40001")));
    }

    #[test]
    fn a_tombstone_absorbs_late_segments_but_not_a_new_connection() {
        let t = Tombstone::new(Timestamp(0), true, Some(100));
        let early = Timestamp(1_000_000_000);
        let late = Timestamp(LINGER_NS + 1);
        // A retransmitted SYN and a final ACK belong to the old connection.
        assert!(!t.is_reused_by(&seg(TcpFlags::SYN, 100, b""), early));
        assert!(!t.is_reused_by(&seg(TcpFlags::ACK, 5, b""), early));
        assert!(!t.is_reused_by(&seg(TcpFlags::ACK, 5, b"x"), early));
        // A SYN with another ISN is a new connection at once.
        assert!(t.is_reused_by(&seg(TcpFlags::SYN, 7, b""), early));
        // After it expires, data starts one too; a bare ACK still does not.
        assert!(t.is_reused_by(&seg(TcpFlags::ACK, 5, b"x"), late));
        assert!(!t.is_reused_by(&seg(TcpFlags::ACK, 5, b""), late));
    }

    #[test]
    fn a_sweep_drops_only_expired_tombstones() {
        let mut t = FlowTable::default();
        let k1 = flow_key(addr("10.0.0.1:1"), addr("10.0.0.2:21"));
        let k2 = flow_key(addr("10.0.0.1:2"), addr("10.0.0.2:21"));
        let k3 = flow_key(addr("10.0.0.1:3"), addr("10.0.0.2:21"));
        t.insert(
            k1,
            Flow::Tombstone(Tombstone::new(Timestamp(0), true, None)),
        );
        t.insert(
            k2,
            Flow::Tombstone(Tombstone::new(Timestamp(LINGER_NS), true, None)),
        );
        t.insert(k3, Flow::Control(0));
        assert_eq!(t.sweep(Timestamp(LINGER_NS + 1)), Swept::default());
        assert!(t.get(&k1).is_none());
        assert!(t.get(&k2).is_some() && t.get(&k3).is_some());
    }

    #[test]
    fn the_least_recent_flows_are_chosen_tombstones_first() {
        let mut t = FlowTable::default();
        let key = |p: u16| {
            flow_key(
                addr("10.0.0.1:21"),
                SocketAddr::new(addr("10.0.0.2:0").ip(), p),
            )
        };
        t.insert(key(1), Flow::Control(0));
        t.insert(key(2), Flow::Control(1));
        t.insert(
            key(3),
            Flow::Data {
                slot: 0,
                conn: data_conn(5),
            },
        );
        t.insert(
            key(4),
            Flow::Tombstone(Tombstone::new(Timestamp(99), false, None)),
        );
        // Session 0 was last active at 10, session 1 at 1.
        let last = |slot: usize| Some(Timestamp([10, 1][slot]));
        let mut two = t.least_recent(2, &last);
        two.sort();
        assert_eq!(two, vec![key(2), key(4)]);
        let mut three = t.least_recent(3, &last);
        three.sort();
        assert_eq!(three, vec![key(2), key(3), key(4)]);
        assert_eq!(t.least_recent(10, &last).len(), 4);
        // Shedding memory looks at sessions (and candidates) only.
        assert_eq!(t.by_age(&last), vec![key(2), key(1)]);
    }
}
