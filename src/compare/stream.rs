//! Comparing two captures as they are read.
//!
//! Each capture is read by its own thread, which hands every session over
//! as it ends, with where the reader stood in capture time. The matcher
//! takes the next session from the reader that is behind in capture time
//! (once the clock offset is known, on one clock), so the two advance
//! together and a session's counterpart arrives soon after it.
//!
//! While the sessions held fit the budget's share for kept sessions,
//! nothing is decided early: the comparison is made whole at the end, as
//! [`super::compare_results`] makes it, and the report is the same. Past
//! that, the comparison goes on in windows: whenever the sessions waiting
//! hold more than a share of the budget, they are matched (the same
//! matching, with the clock offset measured over every earlier window),
//! and a pair is compared, written to the result and its sessions freed,
//! once both sessions are *settled*: the other reader has gone past the
//! session's end by more than the clock tolerance (or has finished), so
//! no counterpart can still come, and every line of it is inside the time
//! the other capture has covered. A settled session with no counterpart is
//! seen at one tap. Memory then follows the sessions open at once, the
//! readers' skew and the pairs' reports, not the sessions themselves: past
//! the budget the report lists no session whole (each pair holds its
//! dialogue, and the captures count the sessions not listed), and a pair
//! in which nothing differs between the taps is kept as its counts (its
//! `lines_not_listed` says how many identical lines it had).
//!
//! Order, deterministic: pairs are listed window by window, each window's
//! in the order of the first capture's session starts (the whole
//! comparison's order when there is one window).
//!
//! The wait is bounded by the tolerance: a session whose counterpart
//! turns up after the wait (timestamps out of order by more than it) is
//! counted in `not_compared` on both sides, never called seen at one tap.

use super::matching::{self, Match};
use super::views::Views;
use super::{
    Comparison, NotCompared, NotComparedReason, PairReport, Roles, Settings, SideInfo, Span,
    assemble, compare_pair, refusal, sides_of,
};
use crate::analysis::{self, CaptureResult, CaptureTotals, Collector, Position};
use crate::capture::{CaptureError, CaptureReader};
use crate::ftp::session::Session;
use crate::rules::Finding;
use crate::timestamp::Timestamp;
use std::collections::HashMap;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

/// Sessions a reader may hand over ahead of the matcher.
const CHANNEL: usize = 256;

/// What a reader hands over.
enum Handed {
    Session {
        session: Box<Session>,
        /// Kept whole for the report's session listing (within the budget).
        keep: bool,
        at: Position,
    },
    /// The reader finished: its findings and totals.
    End(Box<(Collector, CaptureTotals)>),
}

/// One capture's side of the matcher.
struct Tap {
    rx: Receiver<Handed>,
    at: Position,
    end: Option<Box<(Collector, CaptureTotals)>>,
    /// The reader stopped without its end (it panicked).
    closed: bool,
    /// Sessions waiting for a counterpart, and whether each is listed.
    waiting: Vec<Session>,
    keep: Vec<bool>,
    /// Estimated bytes of `waiting`.
    bytes: usize,
    /// Sessions that were held to be listed whole, dropped once
    /// compared: past the budget the report lists no session whole (its
    /// pairs hold every session's dialogue), and counts them.
    unlisted: u64,
    /// Sessions seen at this tap only: (id, name).
    unmatched: Vec<(u32, String)>,
    /// Sequence numbers of the sessions set down as seen here only, to
    /// know a counterpart that comes late: index into `unmatched`, and
    /// the session's start.
    gone: HashMap<(u32, u32, u16), (usize, Timestamp)>,
    not_compared: u64,
}

impl Tap {
    fn new(rx: Receiver<Handed>) -> Self {
        Tap {
            rx,
            at: Position::default(),
            end: None,
            closed: false,
            waiting: Vec::new(),
            keep: Vec::new(),
            bytes: 0,
            unlisted: 0,
            unmatched: Vec::new(),
            gone: HashMap::new(),
            not_compared: 0,
        }
    }

    fn open(&self) -> bool {
        self.end.is_none() && !self.closed
    }

    /// The capture's span, as far as is known: its end only once read.
    fn span(&self) -> Span {
        match &self.end {
            Some(e) => (
                e.1.info.first_ts.unwrap_or_default(),
                e.1.info.last_ts.unwrap_or_default(),
            ),
            None => (self.at.first_ts.unwrap_or(self.at.at), Timestamp(i64::MAX)),
        }
    }
}

/// Reads one capture, handing each session over as it ends.
fn read(reader: CaptureReader, opts: &analysis::Options, tx: SyncSender<Handed>) {
    let mut c = Collector::new(opts);
    let totals = analysis::analyze_positioned(reader, opts, &mut |_| {}, &mut |s, fs, at| {
        let keep = c.take(&s, fs);
        // A matcher that is gone has no use for the rest.
        let _ = tx.send(Handed::Session {
            session: Box::new(s),
            keep,
            at: *at,
        });
    });
    let _ = tx.send(Handed::End(Box::new((c, totals))));
}

/// The matcher's state.
struct Matcher {
    settings: Settings,
    taps: [Tap; 2],
    /// Set once the sessions held outgrow the budget's share: the sides
    /// decided then (true: the first capture is the client side).
    windows: Option<matching::Sides>,
    /// Start differences (B − A) of the same-connection pairs compared.
    deltas: Vec<i64>,
    clock: matching::ClockGuess,
    /// Waiting bytes that start the next window.
    threshold: usize,
    share: usize,
    pairs: Vec<PairReport>,
    findings: Vec<Finding>,
    /// The leg each reader holds, when both read one leg of a file.
    view_names: [Option<String>; 2],
}

impl Matcher {
    /// What the report calls the views, the client-side one first.
    fn views(&self, client: Option<&str>, server: Option<&str>) -> Views {
        Views::of(client, server).written_by_device(self.settings.written_by_device)
    }
}

/// Compares two opened captures, reading both at once.
pub fn compare_readers(
    a: CaptureReader,
    b: CaptureReader,
    settings: Settings,
    opts: &analysis::Options,
) -> Result<Comparison, CaptureError> {
    let names = [a.name().to_string(), b.name().to_string()];
    // Each case of a rule stays a finding of its own until the comparison
    // has folded it into its line's event (`assemble` merges the rest).
    let mut opts = opts.clone();
    opts.rules.merge_cases = false;
    let opts = &opts;
    let view_names = [a.view_name(), b.view_name()].map(|v| v.map(str::to_string));
    let (ta, ra) = sync_channel(CHANNEL);
    let (tb, rb) = sync_channel(CHANNEL);
    std::thread::scope(|scope| {
        let readers = [
            scope.spawn(move || read(a, opts, ta)),
            scope.spawn(move || read(b, opts, tb)),
        ];
        let share = opts.engine.budget.kept_sessions() / 2;
        let mut m = Matcher {
            settings,
            taps: [Tap::new(ra), Tap::new(rb)],
            windows: None,
            deltas: Vec::new(),
            clock: matching::match_sessions(&[], &[], settings.clock_offset_ns).clock,
            threshold: share / 4,
            share,
            pairs: Vec::new(),
            findings: Vec::new(),
            view_names,
        };
        while let Some(i) = m.behind() {
            match m.taps[i].rx.recv() {
                Ok(h) => m.take(i, h),
                // The reader stopped without its end: it panicked.
                Err(_) => m.taps[i].closed = true,
            }
        }
        // A reader that stopped without its end panicked: the scope would
        // pass the panic on, so it is joined here and named instead.
        for r in readers {
            let _ = r.join();
        }
        let failed = m.taps.iter().position(|t| t.end.is_none());
        match (failed, m.finish()) {
            (None, Some(c)) => Ok(c),
            (i, _) => Err(CaptureError {
                path: names[i.unwrap_or_default()].clone(),
                kind: crate::capture::CaptureErrorKind::Io("the reader thread failed".into()),
                frames_read: 0,
                offset: 0,
                compressed: false,
            }),
        }
    })
}

impl Matcher {
    /// The open tap behind in capture time (on the first capture's
    /// clock); the first on a tie.
    fn behind(&self) -> Option<usize> {
        let [a, b] = &self.taps;
        match (a.open(), b.open()) {
            (false, false) => None,
            (true, false) => Some(0),
            (false, true) => Some(1),
            (true, true) => Some(usize::from(self.on_clock_of(0, b.at.at) < a.at.at)),
        }
    }

    /// A time of the other tap, read on tap `i`'s clock.
    fn on_clock_of(&self, i: usize, t: Timestamp) -> Timestamp {
        if i == 0 {
            t - self.clock.offset_ns
        } else {
            t + self.clock.offset_ns
        }
    }

    fn take(&mut self, i: usize, h: Handed) {
        match h {
            Handed::End(e) => {
                self.taps[i].end = Some(e);
                if self.windows.is_some() {
                    self.window();
                }
            }
            Handed::Session { session, keep, at } => {
                let tap = &mut self.taps[i];
                tap.at.first_ts = at.first_ts;
                tap.at.at = tap.at.at.max(at.at);
                if self.late(i, &session, keep) {
                    return;
                }
                let tap = &mut self.taps[i];
                tap.bytes += session.mem_size();
                tap.waiting.push(*session);
                tap.keep.push(keep);
                if !keep && self.windows.is_none() {
                    self.start_windows();
                }
                if self.windows.is_some()
                    && self.taps[0].bytes + self.taps[1].bytes > self.threshold
                {
                    self.window();
                }
            }
        }
    }

    /// A session whose counterpart was set down as seen at one tap before
    /// it came: counted as not compared on both sides.
    fn late(&mut self, i: usize, s: &Session, keep: bool) -> bool {
        let Some(k) = matching::seq_bases(s) else {
            return false;
        };
        let Some(&(u, start)) = self.taps[1 - i].gone.get(&k) else {
            return false;
        };
        // The same sequence numbers at another time are another session
        // (a capture of copies): only one at the same time is late.
        if (s.start - self.on_clock_of(i, start)).unsigned_abs()
            > self.clock.tolerance_ns.unsigned_abs()
        {
            return false;
        }
        self.taps[1 - i].gone.remove(&k);
        self.taps[1 - i].unmatched[u].1.clear();
        self.taps[1 - i].not_compared += 1;
        self.taps[i].not_compared += 1;
        self.taps[i].unlisted += u64::from(keep);
        true
    }

    /// The sessions held outgrew the share: the sides are decided from
    /// them, and the comparison goes on in windows.
    fn start_windows(&mut self) {
        let [a, b] = &self.taps;
        let m = matching::match_sessions(&a.waiting, &b.waiting, self.settings.clock_offset_ns);
        self.windows = Some(sides_of(
            self.settings.roles,
            &a.waiting,
            &b.waiting,
            &m.matches,
            &None,
        ));
    }

    /// Whether session `s` of tap `i` is settled: the other tap finished,
    /// or read past the session's end by more than the clock tolerance.
    fn settled(&self, i: usize, s: &Session) -> bool {
        let other = &self.taps[1 - i];
        if !other.open() {
            return true;
        }
        self.on_clock_of(i, other.at.at) > s.end + self.clock.tolerance_ns.max(0)
    }

    /// Matches the sessions waiting and compares the pairs once both
    /// sessions are settled (a better candidate could still come, even
    /// for the same TCP connection: a capture of copies).
    /// When what stays waiting is over the share, the settled sessions with
    /// no counterpart that ended first are set down as seen at one tap.
    fn window(&mut self) {
        let a_client = self.windows.as_ref().is_none_or(|s| s.a_is_client_side);
        let [a, b] = &self.taps;
        let m = matching::match_after(
            &a.waiting,
            &b.waiting,
            self.settings.clock_offset_ns,
            &self.deltas,
        );
        self.clock = m.clock;
        let settled: [Vec<bool>; 2] = [0, 1].map(|i| {
            self.taps[i]
                .waiting
                .iter()
                .map(|s| self.settled(i, s))
                .collect()
        });
        let mut done = [vec![false; a.waiting.len()], vec![false; b.waiting.len()]];
        let spans = [a.span(), b.span()];
        for mt in m.matches {
            // Even a same-connection match waits until both sessions are
            // settled: copies of one connection (the same sequence numbers
            // at another time) are still to come, and the right one is the
            // one nearest in time.
            let certain = mt.evidence == matching::Evidence::SameConnection;
            if !(settled[0][mt.a] && settled[1][mt.b]) {
                continue;
            }
            let (sa, sb) = (&a.waiting[mt.a], &b.waiting[mt.b]);
            if certain {
                self.deltas.push(sb.start - sa.start);
            }
            done[0][mt.a] = true;
            done[1][mt.b] = true;
            let [va, vb] = self.view_names.each_ref().map(Option::as_deref);
            let (report, mut f) = if a_client {
                compare_pair(sa, sb, mt, (spans[0], spans[1]), &self.views(va, vb))
            } else {
                let swapped = Match {
                    a: mt.b,
                    b: mt.a,
                    ..mt
                };
                compare_pair(sb, sa, swapped, (spans[1], spans[0]), &self.views(vb, va))
            };
            // Past the budget a pair where nothing differs is kept as its
            // counts: its lines would hold the whole dialogue twice.
            let mut report = report;
            if f.is_empty() && report.plain() {
                report.drop_lines();
            }
            self.findings.append(&mut f);
            self.pairs.push(report);
        }
        // What stays, and which of it may be set down (settled, unpaired),
        // those that ended first first, until half the share is left.
        let stays = |i: usize| -> usize {
            self.taps[i]
                .waiting
                .iter()
                .zip(&done[i])
                .filter(|(_, d)| !**d)
                .map(|(s, _)| s.mem_size())
                .sum()
        };
        let mut over = (stays(0) + stays(1)).saturating_sub(self.share / 2);
        let mut set_down = [vec![false; done[0].len()], vec![false; done[1].len()]];
        if over > 0 {
            let mut idle: Vec<(Timestamp, usize, usize)> = (0..2)
                .flat_map(|i| {
                    let (w, d, st) = (&self.taps[i].waiting, &done[i], &settled[i]);
                    (0..w.len())
                        .filter(move |&k| !d[k] && st[k])
                        .map(move |k| (w[k].end, i, k))
                })
                .collect();
            idle.sort_unstable();
            for (_, i, k) in idle {
                if over == 0 {
                    break;
                }
                set_down[i][k] = true;
                over = over.saturating_sub(self.taps[i].waiting[k].mem_size());
            }
        }
        for i in 0..2 {
            let tap = &mut self.taps[i];
            let waiting = std::mem::take(&mut tap.waiting);
            let keep = std::mem::take(&mut tap.keep);
            tap.bytes = 0;
            for (k, (s, kept)) in waiting.into_iter().zip(keep).enumerate() {
                if !done[i][k] && !set_down[i][k] {
                    tap.bytes += s.mem_size();
                    tap.waiting.push(s);
                    tap.keep.push(kept);
                    continue;
                }
                if set_down[i][k] {
                    if let Some(key) = matching::seq_bases(&s) {
                        tap.gone.insert(key, (tap.unmatched.len(), s.start));
                    }
                    tap.unmatched.push((s.id, s.name()));
                }
                tap.unlisted += u64::from(kept);
            }
        }
        // Sessions that stay do not start the next window at once: it
        // comes when the waiting has doubled.
        self.threshold = (self.share / 4).max(2 * (self.taps[0].bytes + self.taps[1].bytes));
    }

    /// Sessions no counterpart can still join once both readers are done.
    fn set_down_the_rest(&mut self) {
        for tap in &mut self.taps {
            let keep = std::mem::take(&mut tap.keep);
            for (s, kept) in std::mem::take(&mut tap.waiting).into_iter().zip(keep) {
                tap.unmatched.push((s.id, s.name()));
                tap.unlisted += u64::from(kept);
            }
            tap.bytes = 0;
        }
    }

    /// The comparison; `None` if a reader never said it ended.
    fn finish(mut self) -> Option<Comparison> {
        let Some(sides) = self.windows.take() else {
            return self.whole();
        };
        self.windows = Some(sides.clone());
        self.window();
        self.set_down_the_rest();
        let [mut a, mut b] = self.taps;
        let end = |t: &mut Tap| {
            let (c, totals) = *t.end.take()?;
            let mut r = c.finish(totals, Vec::new());
            r.sessions_not_kept += t.unlisted;
            Some(r)
        };
        let (ra, rb) = (end(&mut a)?, end(&mut b)?);
        let names = |t: &mut Tap| {
            let mut u = std::mem::take(&mut t.unmatched);
            u.retain(|(_, n)| !n.is_empty());
            u.sort_by_key(|(id, _)| *id);
            u.into_iter().map(|(_, n)| n).collect::<Vec<_>>()
        };
        let (ua, ub) = (names(&mut a), names(&mut b));
        let matches: Vec<Match> = self.pairs.iter().map(|p| p.matched.clone()).collect();
        // With no pair at all, the reasons `refusal` itemises (servers,
        // time ranges) would be read off sessions no longer held, and be
        // wrong: only what is known is said.
        let no_common_traffic = if matches.is_empty() {
            let n = |r: &CaptureResult| r.sessions.len() as u64 + r.sessions_not_kept;
            Some(format!(
                "none of the {} and {} sessions matched one of the other capture (they were compared as read, past the memory budget, so the reasons are not itemised; `portmortem analyze` shows each capture's servers and times)",
                n(&ra),
                n(&rb)
            ))
        } else {
            refusal(&ra, &rb, &matches, self.clock)
        };
        if no_common_traffic.is_some() {
            self.pairs.clear();
            self.findings.clear();
        }
        let explanation = match &no_common_traffic {
            Some(_) => sides_of(Roles::Infer, &[], &[], &[], &no_common_traffic).explanation,
            None => sides.explanation,
        };
        let a_client = sides.a_is_client_side || no_common_traffic.is_some();
        let (cr, sr, uc, us, nc, ns) = if a_client {
            (ra, rb, ua, ub, a.not_compared, b.not_compared)
        } else {
            (rb, ra, ub, ua, b.not_compared, a.not_compared)
        };
        Some(assemble(
            [cr, sr],
            SideInfo {
                client_side: 0,
                server_side: 1,
                inferred: self.settings.roles == Roles::Infer,
                explanation,
                legs: None,
            },
            self.pairs,
            self.findings,
            [uc, us],
            NotCompared {
                client_side: nc,
                server_side: ns,
                reason: Some(NotComparedReason::WaitEnded),
            },
            no_common_traffic,
        ))
    }

    /// Every session was held: the whole comparison.
    fn whole(self) -> Option<Comparison> {
        let [a, b] = self.taps;
        let result = |t: Tap| {
            let (c, totals) = *t.end?;
            Some(c.finish(totals, t.waiting))
        };
        Some(super::compare_results(
            result(a)?,
            result(b)?,
            self.settings,
        ))
    }
}
