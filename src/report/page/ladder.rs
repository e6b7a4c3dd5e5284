//! What a dialogue diagram shows: one row per line of the dialogue (the
//! two halves of a line through a firewall share a row), the data
//! connections between them, and which lines carry a finding. How it is
//! drawn is the syntax's business (`html.rs` draws SVG).

use super::super::model::{CompareReport, SessionView};
use super::super::wording::{frame_list, session_of, wire_name};
use crate::compare::PairReport;
use crate::compare::align::{Aligned, Status};
use crate::reassembly::connection::Side;
use crate::rules::{Finding, Severity};
use std::collections::BTreeSet;

/// Rows drawn per diagram (a long session is cut, and says so).
const ROWS: usize = 300;

pub const LEGEND_ONE: &str = "One row per line of each dialogue, the client on the left. `#13` is frame 13 of the capture (as Wireshark numbers it). Red: a line behind an error or warning finding. Dashed: a data connection, from the side that opened it (red when it failed; `unannounced` when no line of the session announced it). Each arrow shows the start of its line; hover for all of it.";

pub const LEGEND_TWO: &str = "One row per line, drawn as it crossed the firewall: the half between client and firewall as the client-side capture saw it, the half between firewall and server as the server-side capture saw it. `c#13` is frame 13 of the client-side capture, `s#24` frame 24 of the server-side capture. ✗: the other capture does not have the line. Red: a line behind an error or warning finding. Teal: a line that differs between the captures with no finding above info (a NAT helper's clean rewrite). Dashed: a data connection, drawn between the lanes of the capture that saw it (`c#` or `s#`). Each arrow shows the start of its line; hover for all of it.";

/// How an arrow is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stroke {
    /// A line as sent.
    Ok,
    /// A line behind an error or warning finding.
    Bad,
    /// A line that changed between the taps with no finding above info:
    /// a NAT helper's clean rewrite, not damage.
    Rewritten,
    /// A data connection that was established.
    Data,
    /// A data connection that failed.
    DataBad,
}

/// One arrow.
pub struct Arrow {
    pub from: usize,
    pub to: usize,
    /// The whole line (escaped).
    pub label: String,
    pub stroke: Stroke,
    /// Left margin: frame numbers.
    pub note: String,
    /// Ends at a lane with a cross (the other capture lacks the line).
    pub cross: bool,
}

/// A diagram: lanes, rows of arrows, and how many rows were not drawn.
pub struct Ladder {
    pub lanes: Vec<String>,
    pub rows: Vec<Vec<Arrow>>,
    pub cut: usize,
}

impl Ladder {
    /// At most [`ROWS`] of `rows`, in order of their keys.
    fn of(lanes: Vec<String>, mut rows: Vec<(u64, Vec<Arrow>)>) -> Ladder {
        rows.sort_by_key(|r| r.0);
        let cut = rows.len().saturating_sub(ROWS);
        Ladder {
            lanes,
            rows: rows.into_iter().take(ROWS).map(|r| r.1).collect(),
            cut,
        }
    }
}

fn frames(v: &[u64]) -> String {
    frame_list(v, 20)
}

/// Frames that carry an error or warning finding of this session.
fn bad_frames(fs: &[&Finding], capture: usize, session: &str) -> BTreeSet<u64> {
    let mut set = BTreeSet::new();
    for f in fs {
        if f.severity == Severity::Info {
            continue;
        }
        if f.capture == capture && f.session == session {
            set.extend(f.frames.iter().copied());
        }
        if let Some(o) = &f.other
            && o.capture == capture
            && o.session == session
        {
            set.extend(o.frames.iter().copied());
        }
    }
    set
}

/// The data connections of a session as arrows between lanes `a` (the
/// client's side) and `b`, keyed by first frame; `tap` names the capture
/// in the frame note (`c`, `s`, or empty for a single capture).
fn data_arrows(s: &SessionView<'_>, a: usize, b: usize, tap: &str) -> Vec<(u64, Arrow)> {
    let client_ip = s
        .client
        .parse::<std::net::SocketAddr>()
        .ok()
        .map(|x| x.ip());
    s.data_connections
        .iter()
        .map(|c| {
            let from_client = Some(c.initiator.ip()) == client_ip;
            let good = c.result() == crate::ftp::data::ConnResult::Established;
            (
                c.first_frame,
                Arrow {
                    from: if from_client { a } else { b },
                    to: if from_client { b } else { a },
                    label: format!(
                        "{} :{} → {} {}",
                        if c.announced_frame.is_some() {
                            "data"
                        } else {
                            "unannounced"
                        },
                        c.initiator.port(),
                        c.acceptor,
                        wire_name(&c.result())
                    ),
                    stroke: if good { Stroke::Data } else { Stroke::DataBad },
                    note: format!("{tap}#{}", c.first_frame),
                    cross: false,
                },
            )
        })
        .collect()
}

/// One session's dialogue: client and server lanes.
pub fn session(s: &SessionView<'_>, fs: &[&Finding]) -> Ladder {
    let bad = bad_frames(fs, s.capture, &s.id);
    let mut rows: Vec<(u64, Vec<Arrow>)> = s
        .dialogue
        .iter()
        .map(|e| {
            let client = e.dir == Side::Client;
            let hit = e.frames.iter().any(|f| bad.contains(f));
            (
                e.frames.first().copied().unwrap_or(0),
                vec![Arrow {
                    from: if client { 0 } else { 1 },
                    to: if client { 1 } else { 0 },
                    label: e.text.to_string(),
                    stroke: if hit { Stroke::Bad } else { Stroke::Ok },
                    note: format!("#{}", frames(&e.frames)),
                    cross: false,
                }],
            )
        })
        .collect();
    rows.extend(
        data_arrows(s, 0, 1, "")
            .into_iter()
            .map(|(k, a)| (k, vec![a])),
    );
    Ladder::of(
        vec![
            format!("client {}", s.client),
            format!("server {}", s.server),
        ],
        rows,
    )
}

/// A session seen at both taps: client, firewall and server lanes.
pub fn pair(p: &PairReport, r: &CompareReport<'_>) -> Ladder {
    let cs = session_of(&r.sessions, 0, &p.client_side_session);
    let ss = session_of(&r.sessions, 1, &p.server_side_session);
    let bad_c = bad_frames(&r.findings, 0, &p.client_side_session);
    let bad_s = bad_frames(&r.findings, 1, &p.server_side_session);
    // Rows in the order of the alignment; a line seen at both taps is two
    // arrows on one row: sender → firewall, firewall → receiver.
    let mut rows: Vec<(u64, Vec<Arrow>)> = p
        .lines
        .iter()
        .map(|l| (row_key(l), line_arrows(l, &bad_c, &bad_s)))
        .collect();
    if let Some(s) = cs {
        for (k, a) in data_arrows(s, 0, 1, "c") {
            rows.push((k << 20, vec![a]));
        }
    }
    if let Some(s) = ss {
        for (k, a) in data_arrows(s, 1, 2, "s") {
            rows.push((server_key(p, k), vec![a]));
        }
    }
    Ladder::of(
        vec![
            format!("client {}", p.client_endpoint.client_side),
            "firewall".into(),
            format!("server {}", p.server_endpoint.server_side),
        ],
        rows,
    )
}

/// Sort keys for a compare ladder: position in time, by the client-side
/// frame where there is one (the alignment's order), else interpolated.
fn row_key(l: &Aligned) -> u64 {
    let c = l
        .client_side
        .as_ref()
        .and_then(|s| s.frames.first().copied());
    let s = l
        .server_side
        .as_ref()
        .and_then(|s| s.frames.first().copied());
    (c.unwrap_or(0) << 20) | s.unwrap_or(0)
}

fn server_key(p: &PairReport, frame: u64) -> u64 {
    // The client-side frame of the last line the server side saw before it.
    let before = p
        .lines
        .iter()
        .filter(|l| {
            l.server_side
                .as_ref()
                .and_then(|s| s.frames.first())
                .is_some_and(|&f| f <= frame)
        })
        .filter_map(|l| {
            l.client_side
                .as_ref()
                .and_then(|s| s.frames.first().copied())
        })
        .max()
        .unwrap_or(0);
    (before << 20) | frame
}

/// A line's arrows: one half per tap that saw it (client side between
/// lanes 0 and 1, server side between 1 and 2), on one row whose left
/// margin names the frames at both taps.
fn line_arrows(l: &Aligned, bad_c: &BTreeSet<u64>, bad_s: &BTreeSet<u64>) -> Vec<Arrow> {
    let to_server = l.dir == Side::Client;
    // A line a tap did not capture is the capture's loss: not drawn as
    // damage, nor crossed out as if the path had stopped it.
    let lost = l.status == Status::NotCaptured;
    let changed = !matches!(l.status, Status::Identical | Status::NotCaptured);
    // (what the tap saw, its lanes from the client's end, the frames of
    // its findings, its letter, whether the other tap lacks the line)
    let halves = [
        (
            &l.client_side,
            (0, 1),
            bad_c,
            "c",
            !lost && to_server && l.server_side.is_none(),
        ),
        (
            &l.server_side,
            (1, 2),
            bad_s,
            "s",
            !lost && !to_server && l.client_side.is_none(),
        ),
    ];
    let seen: Vec<_> = halves
        .into_iter()
        .filter_map(|(x, lanes, bad, tap, cross)| x.as_ref().map(|s| (s, lanes, bad, tap, cross)))
        .collect();
    let note = seen
        .iter()
        .map(|(s, _, _, tap, _)| format!("{tap}#{}", frames(&s.frames)))
        .collect::<Vec<_>>()
        .join(" ");
    seen.into_iter()
        .enumerate()
        .map(|(i, (s, (near, far), bad, _, cross))| {
            let hit = s.frames.iter().any(|f| bad.contains(f));
            let (from, to) = if to_server { (near, far) } else { (far, near) };
            Arrow {
                from,
                to,
                label: s.text.to_string(),
                stroke: match (hit, changed) {
                    (true, _) => Stroke::Bad,
                    (false, true) => Stroke::Rewritten,
                    (false, false) => Stroke::Ok,
                },
                note: if i == 0 { note.clone() } else { String::new() },
                cross,
            }
        })
        .collect()
}
