//! Which session in one capture is which session in the other, how sure
//! that is, and which capture was taken on the client side.
//!
//! A pair is only as good as its evidence, and a wrong pair turns every
//! difference between two unrelated sessions into a false "the firewall
//! did this". So pairs are made on evidence, strongest first, and each
//! carries what it rests on:
//!
//! 1. **The same TCP connection**: the initial sequence numbers of both
//!    directions are equal (a NAT keeps them; 2^64 to one by chance).
//!    These pairs also give the clock offset between the captures and the
//!    NAT mapping of client addresses.
//! 2. **The same endpoints**: client and server address and port equal, or
//!    equal once the client address is mapped as the pairs of (1) show, at
//!    the same time (a firewall that randomises sequence numbers).
//! 3. **The same dialogue**: the same server port, a session at the same
//!    time (within the clock tolerance) and at least [`MIN_SIMILARITY`] of
//!    the first [`KEYS`] commands and replies alike (a proxy makes a second
//!    TCP connection with its own ports and sequence numbers).
//!
//! Pairs of levels 2 and 3 must also pass a causality test on their
//! aligned lines ([`causal`]): no reply may reach the client-side tap
//! before its command left it, whatever the clock offset.
//!
//! Each level only pairs sessions the levels above left alone, so a session
//! with an exact counterpart is never given to a look-alike. Dialogue
//! similarity only ranks candidates of level 3; it never outweighs time or
//! endpoints. Everything is looked up through indexes (sequence numbers,
//! endpoints, server port and start time), so matching costs time linear in
//! the number of sessions.

use crate::ftp::address::is_private;
use crate::ftp::session::Session;
use crate::timestamp::Timestamp;
use serde::Serialize;
use similar::{Algorithm, DiffOp, capture_diff_slices};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

/// What a pair rests on, strongest first.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Evidence {
    SameConnection,
    SameEndpoints,
    SameDialogue,
}

impl Evidence {
    /// How sure a pair on this evidence is.
    pub fn confidence(self) -> &'static str {
        match self {
            Evidence::SameConnection => "certain",
            Evidence::SameEndpoints => "high",
            Evidence::SameDialogue => "medium",
        }
    }
}

/// A matched pair: indexes into the two captures' sessions, and why.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Match {
    #[serde(skip)]
    pub a: usize,
    #[serde(skip)]
    pub b: usize,
    /// What the pairing rests on: the same TCP connection, the same endpoints
    /// at the same time, or a dialogue alike.
    pub evidence: Evidence,
    /// `certain`, `high` or `medium`.
    pub confidence: &'static str,
    /// Share of the first dialogue lines that agree (0…1).
    pub similarity: f64,
    /// The evidence in a sentence.
    pub explanation: String,
}

/// Commands and replies compared for similarity: enough to tell two
/// sessions apart, few enough that the cost per pair is a constant.
pub const KEYS: usize = 64;
/// Least similarity for a pair on dialogue alone.
pub const MIN_SIMILARITY: f64 = 0.5;
/// How far apart the clocks of the two captures may be assumed to be when
/// no session is the same TCP connection in both (so nothing measures it).
pub const ASSUMED_CLOCK_TOLERANCE_SECS: f64 = 10.0;
/// Tolerance around a measured clock offset (path latency, jitter).
const MEASURED_CLOCK_TOLERANCE_SECS: f64 = 2.0;
/// Candidates of level 3 looked at per session, nearest in time first.
const MAX_DIALOGUE_CANDIDATES: usize = 8;

/// One line of a dialogue as matching sees it.
#[derive(PartialEq, Eq, Hash)]
struct Key {
    /// Direction (`C`/`S`) and the first bytes, digits masked.
    text: Vec<u8>,
}

/// The first [`KEYS`] lines of the dialogue: keys, and each line's time
/// and direction (true: a command).
fn keys(s: &Session) -> (Vec<Key>, Vec<(Timestamp, bool)>) {
    let tag = |d: u8, b: &[u8]| {
        let mut t = vec![d];
        t.extend(super::align::masked(&b[..b.len().min(40)]));
        t
    };
    let mut v: Vec<(u64, Timestamp, bool, Vec<u8>)> = s
        .commands
        .iter()
        .take(KEYS)
        .map(|c| {
            (
                c.line.last_frame(),
                c.line.last_ts(),
                true,
                tag(b'C', &c.line.bytes.0),
            )
        })
        .chain(s.replies.iter().take(KEYS).map(|r| {
            (
                r.first().first_frame(),
                r.first().first_ts(),
                false,
                tag(b'S', &r.first().bytes.0),
            )
        }))
        .collect();
    v.sort_by_key(|x| x.0);
    v.truncate(KEYS);
    let times = v.iter().map(|x| (x.1, x.2)).collect();
    (v.into_iter().map(|x| Key { text: x.3 }).collect(), times)
}

/// How two sessions' dialogues relate.
struct Likeness {
    /// Share of lines that align (0…1).
    similarity: f64,
    /// Whether their times are causally possible for one session seen at
    /// two taps (see [`causal`]).
    causal: bool,
}

/// Aligns two dialogues (at most [`KEYS`] lines each: bounded work).
fn likeness(a: &Session, b: &Session) -> Likeness {
    let ((ka, ta), (kb, tb)) = (keys(a), keys(b));
    if ka.is_empty() || kb.is_empty() {
        return Likeness {
            similarity: 0.0,
            causal: true,
        };
    }
    let mut deltas = Vec::new();
    let mut same = 0;
    for op in capture_diff_slices(Algorithm::Myers, &ka, &kb) {
        if let DiffOp::Equal {
            old_index,
            new_index,
            len,
        } = op
        {
            same += len;
            for k in 0..len {
                let (x, y) = (ta[old_index + k], tb[new_index + k]);
                deltas.push((y.0 - x.0, x.1));
            }
        }
    }
    Likeness {
        similarity: 2.0 * same as f64 / (ka.len() + kb.len()) as f64,
        causal: causal(&deltas),
    }
}

/// Jitter allowed between two taps' clocks within one session.
const CAUSALITY_SLACK_NS: i64 = 20_000_000;

/// Whether lines seen at two taps can be one session: with B's clock
/// `offset` ahead, a command crosses from the client-side tap to the
/// server-side tap, so its time difference (B − A) is offset + latency,
/// and a reply's is offset − latency. Every command's difference must
/// therefore be at least every reply's (or, with the taps the other way
/// round, at most), whatever the offset: a reply cannot reach the client
/// before the command it answers left it. Two unrelated sessions almost
/// never pass this. `deltas` are (B − A, is a command) of aligned lines.
fn causal(deltas: &[(i64, bool)]) -> bool {
    let span = |cmd: bool| {
        let v = deltas.iter().filter(|d| d.1 == cmd).map(|d| d.0);
        Some((v.clone().min()?, v.max()?))
    };
    let (Some(c), Some(r)) = (span(true), span(false)) else {
        return true;
    };
    r.1 <= c.0.saturating_add(CAUSALITY_SLACK_NS) || c.1 <= r.0.saturating_add(CAUSALITY_SLACK_NS)
}

/// Why two sessions are one TCP connection, in the sequence numbers the
/// capture holds: the SYNs' own (as tshark's `tcp.seq_raw` shows them)
/// where both were captured, else the first sequence numbers seen.
fn same_connection_reason(s: &Session) -> String {
    match (s.tcp[0].isn, s.tcp[1].isn) {
        (Some(c), Some(v)) => format!(
            "the same TCP connection: both captures show initial sequence numbers {c} (client) and {v} (server)"
        ),
        _ => format!(
            "the same TCP connection: both captures show stream-start sequence numbers {} (client) and {} (server)",
            s.tcp[0].seq_base.unwrap_or(0),
            s.tcp[1].seq_base.unwrap_or(0)
        ),
    }
}

/// Both directions' stream-start sequence numbers, when both were seen.
pub(super) fn seq_bases(s: &Session) -> Option<(u32, u32, u16)> {
    Some((s.tcp[0].seq_base?, s.tcp[1].seq_base?, s.server.port()))
}

/// The clock offset (B minus A) the captures show, and its tolerance.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClockGuess {
    pub offset_ns: i64,
    pub tolerance_ns: i64,
    pub source: ClockSource,
}

/// Where a clock offset comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockSource {
    /// From sessions that are the same TCP connection in both captures.
    Measured,
    /// Given by the user (`--clock-offset`).
    Given,
    /// None known: the clocks are assumed to agree within
    /// [`ASSUMED_CLOCK_TOLERANCE_SECS`].
    Assumed,
}

/// Whether `y` (in B) lies at the time of `x` (in A), given the clocks.
fn at_same_time(x: &Session, y: &Session, clock: ClockGuess) -> bool {
    let (ys, ye) = (y.start - clock.offset_ns, y.end - clock.offset_ns);
    ys <= x.end + clock.tolerance_ns && x.start <= ye + clock.tolerance_ns
}

/// The result of matching: the pairs, and the clock they assumed.
pub struct Matching {
    pub matches: Vec<Match>,
    pub clock: ClockGuess,
}

/// Sessions looked at per lookup at most, whatever an index bucket holds:
/// a capture where thousands of sessions share sequence numbers or
/// endpoints (replayed or synthetic traffic) still matches in linear time.
const SCAN: usize = 64;

/// Up to `k` of the sessions `js` (indexes into `b`, sorted by start) that
/// pass `ok`, nearest in start time to `t` first, looking outward from `t`
/// at no more than [`SCAN`] of them.
fn nearest(
    js: &[usize],
    b: &[Session],
    t: Timestamp,
    k: usize,
    ok: impl Fn(usize) -> bool,
) -> Vec<usize> {
    let p = js.partition_point(|&j| b[j].start < t);
    let (mut lo, mut hi) = (p, p);
    let mut out = Vec::new();
    for _ in 0..SCAN {
        if out.len() >= k {
            break;
        }
        let below = lo.checked_sub(1).map(|i| (t - b[js[i]].start, i));
        let above = js.get(hi).map(|&j| (b[j].start - t, hi));
        let take_below = match (below, above) {
            (Some(d), Some(u)) => d.0 <= u.0,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        let i = if take_below {
            lo -= 1;
            lo
        } else {
            hi += 1;
            hi - 1
        };
        if ok(js[i]) {
            out.push(js[i]);
        }
    }
    out
}

/// An index: sessions of `b` by a key, each list sorted by start time.
fn index<K: std::hash::Hash + Eq>(
    b: &[Session],
    key: impl Fn(usize, &Session) -> Option<K>,
) -> HashMap<K, Vec<usize>> {
    let mut m: HashMap<K, Vec<usize>> = HashMap::new();
    for (j, y) in b.iter().enumerate() {
        if let Some(k) = key(j, y) {
            m.entry(k).or_default().push(j);
        }
    }
    for v in m.values_mut() {
        v.sort_by_key(|&j| (b[j].start, j));
    }
    m
}

impl Match {
    fn new(a: usize, b: usize, evidence: Evidence, similarity: f64, explanation: String) -> Self {
        Match {
            a,
            b,
            evidence,
            confidence: evidence.confidence(),
            similarity,
            explanation,
        }
    }
}

/// Matches sessions of capture A with sessions of capture B; `given` is
/// B's clock minus A's where the user knows it.
pub fn match_sessions(a: &[Session], b: &[Session], given: Option<i64>) -> Matching {
    match_after(a, b, given, &[])
}

/// [`match_sessions`] of one window of a comparison made as the captures
/// are read: `earlier` are the start differences (B − A) of the
/// same-connection pairs earlier windows made, so the clock offset is
/// measured over all of them, not this window's alone.
pub fn match_after(a: &[Session], b: &[Session], given: Option<i64>, earlier: &[i64]) -> Matching {
    let mut used_a = vec![false; a.len()];
    let mut used_b = vec![false; b.len()];
    let mut out = Vec::new();

    // 1. The same TCP connection.
    let by_isn = index(b, |_, y| seq_bases(y));
    let mut deltas = Vec::new();
    for (i, x) in a.iter().enumerate() {
        let Some(k) = seq_bases(x) else { continue };
        let Some(js) = by_isn.get(&k) else { continue };
        // Sequence numbers can repeat only across a very long capture:
        // the nearest in time.
        let Some(&j) = nearest(js, b, x.start, 1, |j| !used_b[j]).first() else {
            continue;
        };
        used_a[i] = true;
        used_b[j] = true;
        deltas.push(b[j].start - x.start);
        out.push(Match::new(
            i,
            j,
            Evidence::SameConnection,
            likeness(x, &b[j]).similarity,
            same_connection_reason(x),
        ));
    }
    deltas.extend_from_slice(earlier);
    let clock = clock_guess(&mut deltas, given);
    // The NAT mapping of client addresses the same connections show.
    let mut nat: HashMap<IpAddr, IpAddr> = HashMap::new();
    for m in &out {
        nat.entry(a[m.a].client.ip()).or_insert(b[m.b].client.ip());
    }

    // 2. The same endpoints (after that mapping), at the same time.
    let by_ends = index(b, |j, y| (!used_b[j]).then_some((y.client, y.server)));
    for (i, x) in a.iter().enumerate() {
        if used_a[i] {
            continue;
        }
        let mapped = SocketAddr::new(
            nat.get(&x.client.ip()).copied().unwrap_or(x.client.ip()),
            x.client.port(),
        );
        let found = [x.client, mapped].into_iter().find_map(|c| {
            let js = by_ends.get(&(c, x.server))?;
            let ok =
                |j: usize| !used_b[j] && at_same_time(x, &b[j], clock) && likeness(x, &b[j]).causal;
            let t = x.start + clock.offset_ns;
            nearest(js, b, t, 1, ok)
                .first()
                .map(|&j| (j, c != x.client))
        });
        let Some((j, translated)) = found else {
            continue;
        };
        used_a[i] = true;
        used_b[j] = true;
        out.push(Match::new(
            i,
            j,
            Evidence::SameEndpoints,
            likeness(x, &b[j]).similarity,
            if translated {
                format!(
                    "the same endpoints once the client address is mapped as the other sessions show ({} → {}), at the same time",
                    x.client.ip(),
                    b[j].client.ip()
                )
            } else {
                "the same client and server addresses and ports, at the same time".into()
            },
        ));
    }

    // 3. The same dialogue with the same server port at the same time.
    let by_port = index(b, |j, y| (!used_b[j]).then_some(y.server.port()));
    let mut cands = Vec::new();
    for (i, x) in a.iter().enumerate() {
        if used_a[i] {
            continue;
        }
        let Some(js) = by_port.get(&x.server.port()) else {
            continue;
        };
        let t = x.start + clock.offset_ns;
        let near = nearest(js, b, t, MAX_DIALOGUE_CANDIDATES, |j| {
            (b[j].start - t).unsigned_abs() <= clock.tolerance_ns.unsigned_abs()
                && at_same_time(x, &b[j], clock)
        });
        for j in near {
            let l = likeness(x, &b[j]);
            if l.similarity >= MIN_SIMILARITY && l.causal {
                let dt = (b[j].start - t).unsigned_abs();
                cands.push((l.similarity, dt, i, j));
            }
        }
    }
    cands.sort_by(|p, q| {
        q.0.total_cmp(&p.0)
            .then(p.1.cmp(&q.1))
            .then((p.2, p.3).cmp(&(q.2, q.3)))
    });
    let mut chosen = Vec::new();
    for (sim, dt, i, j) in cands {
        if used_a[i] || used_b[j] {
            continue;
        }
        used_a[i] = true;
        used_b[j] = true;
        chosen.push((sim, dt, i, j));
    }
    let deltas: Vec<i64> = chosen.iter().map(|c| b[c.3].start - a[c.2].start).collect();
    let agree = one_clock(&deltas);
    for (k, (sim, dt, i, j)) in chosen.into_iter().enumerate() {
        if !agree[k] {
            continue;
        }
        out.push(Match::new(
            i,
            j,
            Evidence::SameDialogue,
            sim,
            format!(
                "different TCP connections (a proxy, or a NAT that changes sequence numbers): the same server port, {:.0}% of the first commands and replies alike with timings one session can have, starting {:.3} s apart{}",
                sim * 100.0,
                dt as f64 / 1e9,
                match clock.source {
                    ClockSource::Measured => " once the measured clock offset is taken out",
                    ClockSource::Given => " once the given clock offset is taken out",
                    ClockSource::Assumed => " (the clocks are assumed to agree within 10 s)",
                }
            ),
        ));
    }
    out.sort_by_key(|m| (a[m.a].start, m.a));
    Matching {
        matches: out,
        clock,
    }
}

/// Look-alike pairs of one pair of captures share one clock offset: the
/// taps' clocks differ by one amount, and a session's start at the two
/// taps by that amount and the path's latency. A pair whose start
/// difference (of `deltas`) is within [`MEASURED_CLOCK_TOLERANCE_SECS`]
/// of fewer than half of all the pairs' is two sessions that look alike
/// (the same job run twice), not one: false for it.
fn one_clock(deltas: &[i64]) -> Vec<bool> {
    let mut ds = deltas.to_vec();
    ds.sort_unstable();
    let tol = (MEASURED_CLOCK_TOLERANCE_SECS * 1e9) as i64;
    deltas
        .iter()
        .map(|&d| {
            let lo = ds.partition_point(|&x| x < d.saturating_sub(tol));
            let hi = ds.partition_point(|&x| x <= d.saturating_add(tol));
            2 * (hi - lo) >= ds.len()
        })
        .collect()
}

/// The clock offset from the start-time differences of sessions that are
/// the same connection (their median), else the one given, else none
/// assumed.
fn clock_guess(deltas: &mut [i64], given: Option<i64>) -> ClockGuess {
    if deltas.is_empty() {
        return match given {
            Some(offset_ns) => ClockGuess {
                offset_ns,
                tolerance_ns: (MEASURED_CLOCK_TOLERANCE_SECS * 1e9) as i64,
                source: ClockSource::Given,
            },
            None => ClockGuess {
                offset_ns: 0,
                tolerance_ns: (ASSUMED_CLOCK_TOLERANCE_SECS * 1e9) as i64,
                source: ClockSource::Assumed,
            },
        };
    }
    deltas.sort_unstable();
    let mid = deltas[deltas.len() / 2];
    let spread = deltas
        .iter()
        .map(|d| d.saturating_sub(mid).unsigned_abs())
        .max()
        .unwrap_or(0)
        .min(i64::MAX as u64 / 4) as i64;
    ClockGuess {
        offset_ns: mid,
        tolerance_ns: ((MEASURED_CLOCK_TOLERANCE_SECS * 1e9) as i64).saturating_add(2 * spread),
        source: ClockSource::Measured,
    }
}

/// Why no session of one capture matches one of the other: the facts that
/// rule it out, for a user who may have picked the wrong pair of files.
pub fn why_nothing_matches(
    a: &[Session],
    b: &[Session],
    spans: [(i64, i64); 2],
    clock: ClockGuess,
) -> String {
    let mut why = Vec::new();
    if a.is_empty() || b.is_empty() {
        why.push(format!(
            "the {} capture holds no FTP session",
            if a.is_empty() { "first" } else { "second" }
        ));
        return why.join("; ");
    }
    let ports_a: std::collections::BTreeSet<u16> = a.iter().map(|s| s.server.port()).collect();
    if !b.iter().any(|s| ports_a.contains(&s.server.port())) {
        why.push("no FTP server port is common to both".into());
    }
    let servers_a: std::collections::BTreeSet<SocketAddr> = a.iter().map(|s| s.server).collect();
    if !b.iter().any(|s| servers_a.contains(&s.server)) {
        why.push("no server address is common to both".into());
    }
    let [sa, sb] = spans;
    let (lo, hi) = (sa.0.max(sb.0), sa.1.min(sb.1));
    if lo > hi {
        why.push(format!(
            "their times do not overlap: the second capture {} {:.3} s {} the first",
            if sb.0 > sa.1 { "starts" } else { "ends" },
            (if sb.0 > sa.1 {
                sb.0 - sa.1
            } else {
                sa.0 - sb.1
            }) as f64
                / 1e9,
            if sb.0 > sa.1 {
                "after the end of"
            } else {
                "before the start of"
            }
        ));
    }
    why.push(format!(
        "no session is the same TCP connection in both (equal sequence numbers), none has the same endpoints at the same time, and none has the same server port, a dialogue at least {:.0}% alike with timings one session can have, and a start within {:.0} s",
        MIN_SIMILARITY * 100.0,
        clock.tolerance_ns as f64 / 1e9
    ));
    why.join("; ")
}

/// Which capture is the client side, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Sides {
    /// True when capture A (the first) is the client side.
    pub a_is_client_side: bool,
    pub explanation: String,
    /// Whether the captures said which is which (TTLs, a NAT), rather
    /// than the first being assumed.
    pub decided: bool,
}

/// Infers the client side from matched sessions: packets lose TTL on the
/// way, so the client's packets have a higher TTL at the client-side tap
/// and the server's a higher TTL at the server-side tap; and behind a NAT
/// the client-side tap sees the client's private address.
pub fn infer_sides(a: &[Session], b: &[Session], matches: &[Match]) -> Sides {
    let mut votes = 0i32;
    let mut why = Vec::new();
    for m in matches {
        let (x, y) = (&a[m.a], &b[m.b]);
        if let (Some(ta), Some(tb)) = (x.ttl[0], y.ttl[0])
            && ta != tb
        {
            votes += if ta > tb { 1 } else { -1 };
            if why.is_empty() {
                why.push(format!(
                    "the client's packets have TTL {ta} in the first capture and {tb} in the second"
                ));
            }
        }
        if let (Some(ta), Some(tb)) = (x.ttl[1], y.ttl[1])
            && ta != tb
        {
            votes += if ta < tb { 1 } else { -1 };
            if why.len() < 2 {
                why.push(format!(
                    "the server's packets have TTL {ta} in the first and {tb} in the second"
                ));
            }
        }
        let (pa, pb) = (is_private(x.client.ip()), is_private(y.client.ip()));
        if pa != pb {
            votes += if pa { 1 } else { -1 };
            why.push(format!(
                "the client is {} in the first capture and {} in the second",
                x.client.ip(),
                y.client.ip()
            ));
        }
    }
    match votes.signum() {
        1 => Sides {
            a_is_client_side: true,
            explanation: format!("inferred: the first capture is the client side ({})", why.join("; ")),
            decided: true,
        },
        -1 => Sides {
            a_is_client_side: false,
            explanation: format!("inferred: the second capture is the client side ({})", why.join("; ")),
            decided: true,
        },
        _ => Sides {
            a_is_client_side: true,
            explanation: "could not tell which capture is the client side (same TTLs, no NAT); assumed the first".into(),
            decided: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn look_alike_pairs_share_one_clock_offset() {
        let s = 1_000_000_000;
        // Three pairs 15 ms apart and one 62 s apart: that one is another
        // run of the same job.
        assert_eq!(
            one_clock(&[15_000_000, 14_000_000, 62 * s, 16_000_000]),
            vec![true, true, false, true]
        );
        // One pair has nothing to disagree with; two that disagree have
        // no majority against either.
        assert_eq!(one_clock(&[62 * s]), vec![true]);
        assert_eq!(one_clock(&[15_000_000, 62 * s]), vec![true, true]);
        assert!(one_clock(&[]).is_empty());
    }
}
