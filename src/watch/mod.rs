//! `portmortem watch`: the pipeline as a stream of typed events, for a
//! capture that does not end (`tcpdump -U -w - | portmortem watch -`).
//!
//! The engine is the one `analyze` runs; what differs is when things are
//! said. A session's findings are written the moment the session ends —
//! closed, reset, or silent for `idle_timeout` (by the capture's clock,
//! and while no packets arrive, by the wall clock) — instead of once at
//! the end of a file, so a stall is reported while the capture goes on.
//! Sessions start and end as events too, and statistics come every
//! `stats_every`. Memory is the engine's (flows, budget) plus nothing per
//! ended session: `watch` keeps no session after its events are written.

mod event;
mod hook;
mod legs;
#[cfg(feature = "live")]
pub mod live;
mod queue;
mod recorder;
mod source;

pub use event::{Drops, Event, NdjsonSink, Sink, TextSink};
pub use source::Source;

use crate::analysis::Options;
use crate::capture::CaptureError;
use crate::engine::{Counters, Engine, SessionSink, SessionStart};
use crate::ftp::session::{EndReason, Session};
use crate::rules::{self, Finding, Rule, Severity};
use crate::timestamp::Timestamp;
use ahash::AHashMap;
use queue::{Batch, Item, Msg, OwnedFrame, Taken};
use recorder::{Recorder, flush_evidence};
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How `watch` paces itself.
#[derive(Clone, Debug)]
pub struct WatchOptions {
    /// A session silent this long is ended (and its findings written);
    /// never less than the stall time plus a second, so a stall can show.
    pub idle_timeout: Duration,
    /// Statistics this often (wall clock); None for only at the end.
    pub stats_every: Option<Duration>,
    /// Where to write the evidence of failing sessions, if anywhere.
    pub evidence: Option<EvidenceOptions>,
    /// A command run per warning or error finding, with its event on
    /// standard input, and how long it may run.
    pub exec: Option<(String, Duration)>,
    /// Only finding events of this severity or higher are written (and
    /// the withdrawal of one of them); the counts, the hooks, the
    /// evidence and the exit code stay those of every finding.
    pub min_severity: Option<Severity>,
}

/// The flight recorder: the packets of every session with a warning or an
/// error, as pcapng with the findings as comments, and its Markdown report.
#[derive(Clone, Debug)]
pub struct EvidenceOptions {
    pub dir: std::path::PathBuf,
    /// Bytes of recent frames kept to cut evidence from.
    pub buffer_bytes: usize,
    /// Keyed address mapping (as `--anonymize-key`).
    pub anonymize_key: Option<Vec<u8>>,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            // vsftpd's idle_session_timeout: a server drops such a session.
            idle_timeout: Duration::from_secs(300),
            stats_every: Some(Duration::from_secs(60)),
            evidence: None,
            exec: None,
            min_severity: None,
        }
    }
}

/// What a run ended with.
pub struct Outcome {
    pub findings: u64,
    /// Files of a followed directory rotated away unread, or unreadable.
    pub files_missed: u64,
    pub files_failed: u64,
    pub errors: u64,
    /// Set when the input stopped with an error.
    pub error: Option<CaptureError>,
    /// Set when the sink could not be written (the run stopped there).
    pub write_error: Option<io::Error>,
}

/// The sessions the engine hands over, turned into events.
struct Emitter<'a> {
    opts: &'a Options,
    sink: &'a mut dyn Sink,
    /// Failing sessions whose evidence is written once the frame that
    /// ended them is in the buffer.
    pending: Vec<(Session, Vec<Finding>)>,
    /// The flight recorder, with `--evidence-dir`.
    recorder: Option<Recorder>,
    findings: u64,
    errors: u64,
    live: u64,
    failed: Option<io::Error>,
    hook: Option<hook::Hook>,
    /// What was said of live sessions before they ended, by session id.
    early: AHashMap<u32, Early>,
    /// Snapshots refused because a session had had its share.
    snapshots_skipped: u64,
    /// `--min-severity`, and the findings it kept from the sink (session,
    /// rule, first frame), so that their withdrawal is not said either.
    min_severity: Option<Severity>,
    unsaid: std::collections::HashSet<(String, Rule, Option<u64>)>,
}

/// The findings said of one live session, and how many snapshots it took.
#[derive(Default)]
struct Early {
    snapshots: u32,
    said: Vec<Said>,
}

/// A finding already written: (rule, first frame) name it; `json` is what
/// was written, so that an unchanged finding is not written twice.
struct Said {
    rule: Rule,
    first_frame: Option<u64>,
    frames: Vec<u64>,
    severity: Severity,
    json: String,
}

/// Snapshots per session (each costs a copy of its dialogue): a session of
/// ten thousand refused commands is judged early this often, then at its
/// end. Skips are counted in `stats`.
const SNAPSHOTS_PER_SESSION: u32 = 32;

impl Emitter<'_> {
    /// Writes the findings of a session not said before (or changed since
    /// said); with `end`, also withdraws what the whole session no longer
    /// shows. Keeps the counts of findings and errors.
    fn say_findings(
        &mut self,
        s: &Session,
        findings: &[Finding],
        at: Option<crate::reassembly::Origin>,
    ) {
        // Before the end, at the packet that established them; at the end,
        // when the session ended.
        let end = at.is_none();
        let (ts, established_frame) = at.map_or((s.end, s.last_frame), |a| (a.ts, a.frame));
        let mut early = self.early.remove(&s.id).unwrap_or_default();
        let mut seen = vec![false; early.said.len()];
        for f in findings {
            let json = serde_json::to_string(f).unwrap_or_default();
            let first_frame = f.frames.first().copied();
            let known = early
                .said
                .iter()
                .position(|x| x.rule == f.rule && x.first_frame == first_frame);
            if let Some(i) = known {
                seen[i] = true;
                if early.said[i].json == json {
                    continue;
                }
                self.count(early.said[i].severity, -1);
            }
            self.count(f.severity, 1);
            self.emit(&Event::Finding {
                ts,
                established_frame,
                revises_earlier: known.is_some(),
                finding: f,
            });
            let said = Said {
                rule: f.rule,
                first_frame,
                frames: f.frames.clone(),
                severity: f.severity,
                json,
            };
            match known {
                Some(i) => early.said[i] = said,
                None => early.said.push(said),
            }
        }
        if end {
            for (x, _) in early.said.iter().zip(&seen).filter(|(_, seen)| !**seen) {
                self.count(x.severity, -1);
                self.emit(&Event::FindingWithdrawn {
                    ts: s.end,
                    session: s.name(),
                    rule: x.rule,
                    frames: &x.frames,
                });
            }
        } else {
            self.early.insert(s.id, early);
        }
    }

    fn count(&mut self, severity: Severity, n: i64) {
        self.findings = self.findings.saturating_add_signed(n);
        if severity == Severity::Error {
            self.errors = self.errors.saturating_add_signed(n);
        }
    }

    fn emit(&mut self, e: &Event<'_>) {
        let shown = match e {
            Event::Finding { finding, .. } => {
                let below = self.min_severity.is_some_and(|m| finding.severity < m);
                if below {
                    let key = (
                        finding.session.clone(),
                        finding.rule,
                        finding.frames.first().copied(),
                    );
                    self.unsaid.insert(key);
                }
                !below
            }
            Event::FindingWithdrawn {
                session,
                rule,
                frames,
                ..
            } => !self
                .unsaid
                .contains(&(session.clone(), *rule, frames.first().copied())),
            _ => true,
        };
        if shown
            && self.failed.is_none()
            && let Err(err) = self.sink.event(e)
        {
            self.failed = Some(err);
        }
        if let (Some(h), Event::Finding { finding, .. }) = (&mut self.hook, e)
            && finding.severity > Severity::Info
            && let Ok(mut line) = serde_json::to_vec(e)
        {
            line.push(b'\n');
            h.fire(&line);
        }
    }
}

impl SessionSink for Emitter<'_> {
    fn started(&mut self, s: &SessionStart) {
        self.live += 1;
        self.emit(&Event::SessionStarted {
            ts: s.ts,
            session: format!("s{}", s.id),
            client: s.client,
            server: s.server,
            frame: s.frame,
        });
    }

    fn wants_snapshot(&mut self, id: u32) -> bool {
        let e = self.early.entry(id).or_default();
        if e.snapshots >= SNAPSHOTS_PER_SESSION {
            self.snapshots_skipped += 1;
            return false;
        }
        e.snapshots += 1;
        true
    }

    fn snapshot(&mut self, mut s: Session, at: crate::reassembly::Origin) {
        if !self.opts.show_passwords {
            s.redact_passwords();
        }
        let findings = rules::established(&s, &self.opts.rules);
        self.say_findings(&s, &findings, Some(at));
    }

    fn session(&mut self, mut s: Session) {
        self.live = self.live.saturating_sub(1);
        if !self.opts.show_passwords {
            s.redact_passwords();
        }
        let findings = rules::run(&s, &self.opts.rules);
        self.say_findings(&s, &findings, None);
        let fails = findings.iter().any(|f| f.severity > Severity::Info);
        self.emit(&Event::SessionEnded {
            ts: s.end,
            session: s.name(),
            client: s.client,
            server: s.server,
            end_reason: s.end_reason,
            commands: s.commands.len(),
            replies: s.replies.len(),
            data_connections: s.data_conns.len(),
            findings: findings.len(),
        });
        if self.recorder.is_some() && fails {
            self.pending.push((s, findings));
        }
    }
}

/// How often the engine looks at the clocks when no frame comes.
const TICK: Duration = Duration::from_millis(250);

/// Follows a capture stream until it ends or `stop` is set, writing events
/// to `sink`. The reader runs in its own thread, so a signal ends the run
/// even while the input is silent.
pub fn run(
    source: Source,
    opts: &Options,
    wopts: &WatchOptions,
    sink: &mut dyn Sink,
    stop: &Arc<AtomicBool>,
) -> Outcome {
    let path = source.name();
    #[cfg(feature = "live")]
    let drops = match &source {
        Source::Live(l) => Some(l.drops.clone()),
        _ => None,
    };
    // A directory's reader reads every file to its current end once
    // stopped, and then ends: what it sends until then is analysed, so no
    // file written before the signal goes unread.
    let drains_at_stop = matches!(source, Source::Dir(_));
    let (tx, rx) = queue::channel();
    let reader_stop = stop.clone();
    let handle = std::thread::spawn(move || source.pump(&tx, &reader_stop));
    let mut batch = Batch::default();
    let mut em = Emitter {
        opts,
        sink,
        pending: Vec::new(),
        recorder: wopts
            .evidence
            .clone()
            .map(|o| Recorder::new(o, path.clone())),
        findings: 0,
        errors: 0,
        live: 0,
        failed: None,
        early: AHashMap::new(),
        snapshots_skipped: 0,
        min_severity: wopts.min_severity,
        unsaid: Default::default(),
        hook: wopts
            .exec
            .clone()
            .map(|(cmd, timeout)| hook::Hook::new(cmd, timeout)),
    };
    let drops_now = || -> Option<Drops> {
        #[cfg(feature = "live")]
        return drops
            .as_ref()
            .and_then(|d| *d.lock().unwrap_or_else(|e| e.into_inner()));
        #[cfg(not(feature = "live"))]
        None
    };
    let wall_start = Instant::now();
    em.emit(&Event::CaptureOpened {
        ts: Timestamp::now(),
        path: &path,
        first_frame: None,
    });
    let stall = Duration::try_from_secs_f64(opts.rules.stall_secs + 1.0).unwrap_or(Duration::ZERO);
    let idle = wopts.idle_timeout.max(stall);
    let mut engine = Engine::new(crate::engine::Options {
        idle_expiry_ns: Some(i64::try_from(idle.as_nanos()).unwrap_or(i64::MAX)),
        ..opts.engine.clone()
    });
    // Each connection read on one leg only (a capture taken on a device).
    let mut fold = legs::Fold::default();
    // The capture's clock, and when (wall clock) it last moved.
    let mut clock: Option<(Timestamp, Instant)> = None;
    let mut next_stats = wopts.stats_every.map(|d| wall_start + d);
    let (mut why, mut error, mut info) = ("end of input", None, None);
    let mut finished = false;
    let (mut files_missed, mut files_failed) = (0u64, 0u64);
    loop {
        if stop.load(Ordering::Relaxed) && !drains_at_stop {
            why = "interrupted";
            break;
        }
        if em.failed.is_some() {
            why = "the output could not be written";
            break;
        }
        match rx.take(&mut batch, TICK) {
            Taken::Closed => break,
            Taken::Timeout => {}
            Taken::Some => {
                let Batch { items, data } = &mut batch;
                // The capture's latest time in this batch: the wall clock
                // is read once a batch, not once a frame.
                let mut latest = None;
                for item in items.drain(..) {
                    let msg = match item {
                        Item::Frame(at) => {
                            let mut f = Batch::frame(data, &at);
                            let (copy, first) = fold.look(&f);
                            // The engine numbers a copy's frames as the
                            // file does, and reads nothing more of them.
                            f.outside_view = copy;
                            if let Some(c) = first {
                                em.emit(&Event::LegsFolded {
                                    ts: f.ts,
                                    kept: &c.kept,
                                    set_aside: &c.folded,
                                    frame: c.frame,
                                });
                            }
                            engine.frame(&f, &mut em);
                            if latest.is_none_or(|t| f.ts > t) {
                                latest = Some(f.ts);
                            }
                            if let Some(r) = em.recorder.as_mut() {
                                r.push(OwnedFrame::of(&f), engine.last_stream());
                            }
                            flush_evidence(&mut em);
                            continue;
                        }
                        Item::Msg(m) => m,
                    };
                    match msg {
                        Msg::End(e, i) => {
                            if e.is_some() {
                                why = "read error";
                            } else if stop.load(Ordering::Relaxed) {
                                // A reader that watches the flag (live, --dir) ended
                                // because of it.
                                why = "interrupted";
                            }
                            error = e;
                            info = i;
                            finished = true;
                        }
                        Msg::FileOpened { path, first_frame } => em.emit(&Event::CaptureOpened {
                            ts: Timestamp::now(),
                            path: &path,
                            first_frame: Some(first_frame),
                        }),
                        Msg::FileDone {
                            path,
                            error,
                            sha256,
                        } => {
                            em.emit(&Event::CaptureClosed {
                                ts: Timestamp::now(),
                                path: &path,
                                why: if error.is_some() {
                                    "read error"
                                } else {
                                    "end of file"
                                },
                                error: error.as_ref().map(|e| e.to_string()),
                                sha256: sha256.as_deref(),
                            });
                            files_failed += u64::from(error.is_some());
                        }
                        Msg::FileMissed { path } => {
                            files_missed += 1;
                            em.emit(&Event::CaptureMissed {
                                ts: Timestamp::now(),
                                path: &path,
                            })
                        }
                    }
                }
                if let Some(t) = latest
                    && clock.is_none_or(|(c, _)| t > c)
                {
                    clock = Some((t, Instant::now()));
                }
                if finished {
                    break;
                }
            }
        }
        // Now by the capture's clock, advanced by the wall clock while no
        // packet comes (a live stream that went quiet).
        if let Some((t, at)) = clock {
            let now = t + i64::try_from(at.elapsed().as_nanos()).unwrap_or(i64::MAX);
            engine.tick(now, &mut em);
            flush_evidence(&mut em);
        }
        if let Some(h) = em.hook.as_mut() {
            h.reap();
        }
        if let Some(at) = next_stats
            && Instant::now() >= at
        {
            stats(&mut em, &engine.counters, drops_now(), fold.folded);
            next_stats = wopts.stats_every.map(|d| at + d);
        }
    }
    let reason = if error.is_some() {
        EndReason::ReadError
    } else {
        EndReason::CaptureEnd
    };
    engine.finish(reason, &mut em);
    flush_evidence(&mut em);
    if let Some(h) = em.hook.as_mut() {
        h.finish();
    }
    stats(&mut em, &engine.counters, drops_now(), fold.folded);
    let sha = info.as_ref().and_then(|i| i.sha256.clone());
    em.emit(&Event::CaptureClosed {
        ts: Timestamp::now(),
        path: &path,
        why,
        error: error.as_ref().map(|e| e.to_string()),
        sha256: sha.as_deref(),
    });
    // A reader blocked on a silent input is left to the process's exit.
    if finished {
        let _ = handle.join();
    }
    Outcome {
        findings: em.findings,
        files_missed,
        files_failed,
        errors: em.errors,
        error,
        write_error: em.failed,
    }
}

fn stats(
    em: &mut Emitter<'_>,
    counters: &Counters,
    capture_drops: Option<Drops>,
    folded: legs::Folded,
) {
    let (findings, live) = (em.findings, em.live);
    em.emit(&Event::Stats {
        ts: Timestamp::now(),
        packets: counters,
        sessions_live: live,
        finding_count: findings,
        heap_bytes: crate::mem::heap_in_use(),
        capture_drops,
        hooks_skipped: em.hook.as_ref().map_or(0, |h| h.skipped),
        hooks_failed: em.hook.as_ref().map_or(0, |h| h.failed),
        snapshots_skipped: em.snapshots_skipped,
        copies_set_aside: folded.connections,
        copy_frames_set_aside: folded.frames,
    });
}
