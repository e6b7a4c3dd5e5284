//! Which session in one capture is which session in the other, and which
//! capture was taken on the client side.
//!
//! The 4-tuple does not identify a session across a NAT (the client's
//! address and port change) or a proxy (two TCP connections with their own
//! ports and sequence numbers). Sessions are matched by the server port and
//! address, by how alike their dialogues are (commands and reply codes with
//! digits masked), and by time.

use crate::ftp::address::is_private;
use crate::ftp::session::Session;
use similar::{Algorithm, capture_diff_slices_deadline};
use std::time::{Duration, Instant};

/// A matched pair: indexes into the two captures' sessions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Match {
    pub a: usize,
    pub b: usize,
    pub score: f64,
}

fn masked(b: &[u8]) -> Vec<u8> {
    b.iter()
        .take(40)
        .map(|&c| {
            if c.is_ascii_digit() {
                b'9'
            } else {
                c.to_ascii_uppercase()
            }
        })
        .collect()
}

/// The dialogue as keys: commands and reply first lines, digits masked.
fn keys(s: &Session) -> Vec<Vec<u8>> {
    let mut v: Vec<(u64, Vec<u8>)> = s
        .commands
        .iter()
        .map(|c| (c.line.last_frame(), masked(&c.line.bytes.0)))
        .chain(
            s.replies
                .iter()
                .map(|r| (r.first().first_frame(), masked(&r.first().bytes.0))),
        )
        .collect();
    v.sort_by_key(|x| x.0);
    v.into_iter().map(|x| x.1).collect()
}

/// Share of the two dialogues that aligns (0…1).
fn similarity(a: &[Vec<u8>], b: &[Vec<u8>]) -> f64 {
    if a.is_empty() && b.is_empty() {
        return 0.5;
    }
    let deadline = Instant::now() + Duration::from_millis(50);
    let ops = capture_diff_slices_deadline(Algorithm::Myers, a, b, Some(deadline));
    let same: usize = ops
        .iter()
        .filter_map(|op| match op {
            similar::DiffOp::Equal { len, .. } => Some(*len),
            _ => None,
        })
        .sum();
    2.0 * same as f64 / (a.len() + b.len()) as f64
}

/// How far apart in time two sessions may start (after the rough clock
/// offset is taken out) and still be the same.
const WINDOW_NS: i64 = 600_000_000_000;
const MIN_SCORE: f64 = 1.0;

/// Matches sessions of capture A with sessions of capture B.
pub fn match_sessions(a: &[Session], b: &[Session]) -> Vec<Match> {
    let ka: Vec<Vec<Vec<u8>>> = a.iter().map(keys).collect();
    let kb: Vec<Vec<Vec<u8>>> = b.iter().map(keys).collect();
    // Rough clock offset: between the first sessions to the same server port.
    let rough = a
        .iter()
        .find_map(|x| {
            b.iter()
                .find(|y| y.server.port() == x.server.port())
                .map(|y| y.start.0 - x.start.0)
        })
        .unwrap_or(0);
    let mut cands = Vec::new();
    for (i, x) in a.iter().enumerate() {
        for (j, y) in b.iter().enumerate() {
            let dt = (y.start.0 - x.start.0 - rough).abs();
            if dt > WINDOW_NS {
                continue;
            }
            let mut score = 3.0 * similarity(&ka[i], &kb[j]);
            if x.server.port() == y.server.port() {
                score += 1.0;
            }
            if x.server.ip() == y.server.ip() {
                score += 0.5;
            }
            if x.client.port() == y.client.port() {
                score += 0.25;
            }
            score -= dt as f64 / WINDOW_NS as f64;
            if score >= MIN_SCORE {
                cands.push(Match { a: i, b: j, score });
            }
        }
    }
    cands.sort_by(|p, q| {
        q.score
            .total_cmp(&p.score)
            .then((p.a, p.b).cmp(&(q.a, q.b)))
    });
    let (mut used_a, mut used_b) = (vec![false; a.len()], vec![false; b.len()]);
    let mut out = Vec::new();
    for m in cands {
        if !used_a[m.a] && !used_b[m.b] {
            used_a[m.a] = true;
            used_b[m.b] = true;
            out.push(m);
        }
    }
    out.sort_by_key(|m| (a[m.a].start, m.a));
    out
}

/// Which capture is the client side, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Sides {
    /// True when capture A (the first) is the client side.
    pub a_is_client_side: bool,
    pub explanation: String,
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
        },
        -1 => Sides {
            a_is_client_side: false,
            explanation: format!("inferred: the second capture is the client side ({})", why.join("; ")),
        },
        _ => Sides {
            a_is_client_side: true,
            explanation: "could not tell which capture is the client side (same TTLs, no NAT); assumed the first".into(),
        },
    }
}
