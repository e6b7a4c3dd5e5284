//! One capture through the whole single-capture pipeline: read frames,
//! build sessions, redact passwords, run the rules.

use crate::capture::input::HashMode;
use crate::capture::{CaptureError, CaptureInfo, CaptureReader, Source};
use crate::engine::{self, Counters, Engine, SessionSink};
use crate::ftp::session::{EndReason, Session};
use crate::rules::{self, Finding};
use crate::timestamp::Timestamp;
use std::path::Path;

/// Everything that changes the result of an analysis.
#[derive(Clone, Debug)]
pub struct Options {
    pub engine: engine::Options,
    pub rules: rules::Config,
    pub show_passwords: bool,
    /// How the file's SHA-256 is computed (not part of the analysis
    /// proper, but it costs more than the analysis itself).
    pub hash: HashMode,
    /// Sessions kept in full per capture; past it (or past the budget's
    /// share for kept sessions) a session's findings
    /// are kept and the session itself is counted, so that memory does
    /// not grow with the number or the size of sessions in a file.
    pub max_sessions: usize,
    /// Findings added to each session's own: what two views of one file
    /// prove that the stitched view alone does not (the far end's ACKs
    /// across two legs that each carry one direction,
    /// `compare::far_acks`).
    pub more: Option<std::sync::Arc<dyn MoreFindings>>,
}

/// See [`Options::more`].
pub trait MoreFindings: Send + Sync + std::fmt::Debug {
    /// The findings about session `s` (ready: settled and stamped).
    fn findings(&self, s: &Session) -> Vec<Finding>;
    /// How the file was read, in the sentence the capture's information
    /// gives (`CaptureInfo::stitched`).
    fn reading(&self) -> String;
}

impl Default for Options {
    fn default() -> Self {
        Options {
            engine: engine::Options::default(),
            rules: rules::Config::default(),
            show_passwords: false,
            hash: HashMode::default(),
            max_sessions: 100_000,
            more: None,
        }
    }
}

/// Findings kept per capture; past it they are counted only (a capture
/// of a million broken sessions would otherwise fill memory with them).
pub const MAX_FINDINGS: usize = 100_000;

/// The result of analysing one capture.
#[derive(Clone, Debug)]
pub struct CaptureResult {
    pub info: CaptureInfo,
    pub counters: Counters,
    /// Set when reading stopped early; what was read before is kept.
    pub error: Option<CaptureError>,
    pub sessions: Vec<Session>,
    pub findings: Vec<Finding>,
    /// Sessions analysed but not kept (over `max_sessions`).
    pub sessions_not_kept: u64,
    /// Sessions written out as they ended by a streamed report
    /// ([`analyze_written`]) instead of being kept.
    pub sessions_written: u64,
    /// Findings counted but not kept (over [`MAX_FINDINGS`]).
    pub findings_not_kept: u64,
    /// What the report's trim (`--session`, `--min-severity`, `-q`) left
    /// out of the listing: counted, so the capture's own counts stay
    /// whole and the report says what it hid.
    pub not_listed: NotListed,
}

/// Analyses a capture from a path or bytes ([`Source`]) and keeps its
/// sessions (within the budget).
pub fn analyze_source(source: Source, opts: &Options) -> Result<CaptureResult, CaptureError> {
    let reader = CaptureReader::open_source(source, opts.hash)?;
    Ok(analyze_reader(reader, opts, &mut |_| {}))
}

/// [`analyze_source`] of a file.
pub fn analyze_path(path: &Path, opts: &Options) -> Result<CaptureResult, CaptureError> {
    analyze_source(Source::Path(path.to_path_buf()), opts)
}

/// Receives each session of a streamed report as it ends, with its
/// findings.
pub type WriteSession<'a> = dyn FnMut(&Session, &[Finding]) + 'a;

/// Analyses a capture and hands each session to `write` as it ends, with
/// its findings, instead of keeping it: a report written as it goes needs
/// memory for the live sessions and the findings alone, however many
/// sessions the file holds. The result has no sessions, and
/// `sessions_written` counts them.
pub fn analyze_written(
    reader: CaptureReader,
    opts: &Options,
    write: &mut WriteSession<'_>,
) -> CaptureResult {
    collect(reader, opts, &mut |_| {}, Some(write))
}

/// What reading a capture produced besides its sessions.
#[derive(Debug)]
pub struct CaptureTotals {
    pub info: CaptureInfo,
    pub counters: Counters,
    /// Set when reading stopped early; what was read before is kept.
    pub error: Option<CaptureError>,
}

/// Where a reader stood in its capture when it handed a session over: a
/// session that ends later in capture time cannot have been handed over
/// yet (two readers compared side by side wait on this).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Position {
    /// The capture's first frame's time.
    pub first_ts: Option<Timestamp>,
    /// The latest frame time read so far.
    pub at: Timestamp,
}

/// Analyses an opened capture, handing each session to `on_session` as soon
/// as it ends, with passwords redacted and its findings, so a caller that
/// keeps only a summary needs memory for the live sessions alone. Session
/// ids are final when the engine detects a session (`watch` says them as
/// it goes, so every mode numbers sessions in order of detection).
/// `progress` is called now and then with the raw bytes read so far.
pub fn analyze_streaming(
    reader: CaptureReader,
    opts: &Options,
    progress: &mut dyn FnMut(u64),
    on_session: &mut dyn FnMut(Session, Vec<Finding>),
) -> CaptureTotals {
    analyze_positioned(reader, opts, progress, &mut |s, f, _| on_session(s, f))
}

/// [`analyze_streaming`], telling `on_session` where the reader stood.
pub fn analyze_positioned(
    mut reader: CaptureReader,
    opts: &Options,
    progress: &mut dyn FnMut(u64),
    on_session: &mut dyn FnMut(Session, Vec<Finding>, &Position),
) -> CaptureTotals {
    struct Sink<'a> {
        opts: &'a Options,
        at: Position,
        out: &'a mut dyn FnMut(Session, Vec<Finding>, &Position),
    }
    impl SessionSink for Sink<'_> {
        fn session(&mut self, mut s: Session) {
            if !self.opts.show_passwords {
                s.redact_passwords();
            }
            let mut findings = rules::run(&s, &self.opts.rules);
            if let Some(more) = &self.opts.more {
                // One event, one finding: a line both name is one.
                findings.extend(more.findings(&s));
                findings
                    .sort_by(|a, b| (a.frames.first(), a.rule).cmp(&(b.frames.first(), b.rule)));
                findings = rules::one_event_one_finding(findings);
            }
            (self.out)(s, findings, &self.at);
        }
    }
    let mut sink = Sink {
        opts,
        at: Position::default(),
        out: on_session,
    };
    let mut engine = Engine::new(opts.engine.clone());
    let raw = reader.raw_handle();
    let mut n = 0u64;
    let res = reader.for_each(&mut |f| {
        sink.at.first_ts.get_or_insert(f.ts);
        sink.at.at = sink.at.at.max(f.ts);
        engine.frame(f, &mut sink);
        n += 1;
        if n.is_multiple_of(1 << 14) {
            progress(raw.bytes_read());
        }
    });
    let reason = if res.is_err() {
        EndReason::ReadError
    } else {
        EndReason::CaptureEnd
    };
    engine.finish(reason, &mut sink);
    progress(reader.raw_bytes_read());
    let mut info = reader.info();
    info.stitched = opts.more.as_ref().map(|m| m.reading());
    CaptureTotals {
        info,
        counters: engine.counters.clone(),
        error: res.err(),
    }
}

/// Analyses an opened capture and keeps its sessions (up to
/// `max_sessions`) for the full report; `progress` as in
/// [`analyze_streaming`].
pub fn analyze_reader(
    reader: CaptureReader,
    opts: &Options,
    progress: &mut dyn FnMut(u64),
) -> CaptureResult {
    collect(reader, opts, progress, None)
}

/// Runs the analysis and keeps the findings; each session is handed to
/// `write` when given, else kept within the budget.
fn collect(
    reader: CaptureReader,
    opts: &Options,
    progress: &mut dyn FnMut(u64),
    mut write: Option<&mut WriteSession<'_>>,
) -> CaptureResult {
    let mut sessions_written = 0u64;
    let mut kept: Vec<Session> = Vec::new();
    let mut collector = Collector::new(opts);
    let totals = analyze_streaming(reader, opts, progress, &mut |s, fs| {
        if let Some(w) = write.as_mut() {
            w(&s, &fs);
            collector.findings(&s, fs);
            sessions_written += 1;
        } else if collector.take(&s, fs) {
            kept.push(s);
        }
    });
    let mut r = collector.finish(totals, kept);
    r.sessions_written = sessions_written;
    r
}

/// What an analysis keeps of the sessions handed to it: their findings
/// (up to [`MAX_FINDINGS`]) and, within the budget, the sessions whole.
/// One rule for every command, so the same capture keeps the same
/// sessions whether it is analysed or compared.
pub struct Collector {
    max_sessions: usize,
    budget: crate::budget::Budget,
    kept: usize,
    kept_bytes: usize,
    heap_base: isize,
    /// With their session's id, to list them in session order.
    findings: Vec<(u32, Finding)>,
    findings_not_kept: u64,
    sessions_not_kept: u64,
}

impl Collector {
    pub fn new(opts: &Options) -> Self {
        Collector {
            max_sessions: opts.max_sessions,
            budget: opts.engine.budget,
            kept: 0,
            kept_bytes: 0,
            heap_base: crate::mem::thread_heap(),
            findings: Vec::new(),
            findings_not_kept: 0,
            sessions_not_kept: 0,
        }
    }

    /// Keeps a session's findings, counting those past [`MAX_FINDINGS`].
    pub fn findings(&mut self, s: &Session, fs: Vec<Finding>) {
        for f in fs {
            if self.findings.len() < MAX_FINDINGS {
                self.findings.push((s.id, f));
            } else {
                self.findings_not_kept += 1;
            }
        }
    }

    /// Keeps a session's findings and says whether the session itself is
    /// kept whole (the caller keeps it then); else it is counted.
    pub fn take(&mut self, s: &Session, fs: Vec<Finding>) -> bool {
        self.findings(s, fs);
        let size = s.mem_size();
        // Kept sessions have their share of the budget by estimated size;
        // the heap this analysis's own thread holds (not the process's,
        // which another analysis beside it moves) stops the keeping should
        // the estimate be further off. Without the counting allocator that
        // heap reads 0.
        let heap_ok = crate::mem::thread_heap().saturating_sub(self.heap_base)
            <= isize::try_from(self.budget.kept_sessions_heap()).unwrap_or(isize::MAX);
        if self.kept < self.max_sessions
            && self.kept_bytes + size <= self.budget.kept_sessions()
            && heap_ok
        {
            self.kept += 1;
            self.kept_bytes += size;
            true
        } else {
            self.sessions_not_kept += 1;
            false
        }
    }

    /// The capture's result, with the sessions the caller kept.
    pub fn finish(self, totals: CaptureTotals, mut kept: Vec<Session>) -> CaptureResult {
        // Sessions end in any order; reports list them by id.
        kept.sort_by_key(|s| s.id);
        let findings = capture_findings(self.findings, &totals.info);
        CaptureResult {
            info: totals.info,
            counters: totals.counters,
            error: totals.error,
            sessions: kept,
            findings,
            sessions_not_kept: self.sessions_not_kept,
            sessions_written: 0,
            findings_not_kept: self.findings_not_kept,
            not_listed: Default::default(),
        }
    }
}

impl CaptureResult {
    /// Places the capture at `index` among a report's captures: its
    /// findings' `capture` field says so. The one place that field is set
    /// for a capture's own findings.
    pub fn place(&mut self, index: usize) {
        for f in &mut self.findings {
            f.capture = index;
        }
    }
}

/// A capture's findings as every report lists them, from the findings of
/// its sessions as they ended (with their session's id): in session
/// order (stable: a session's findings stay in the order the rules gave
/// them), those that argue from absence noting the drops the capture's
/// own statistics report (known only once it is read to its end).
pub fn capture_findings(mut findings: Vec<(u32, Finding)>, info: &CaptureInfo) -> Vec<Finding> {
    findings.sort_by_key(|(id, _)| *id);
    let mut findings: Vec<Finding> = findings.into_iter().map(|(_, f)| f).collect();
    rules::sight::note_reported_drops(&mut findings, info.dropped_packets());
    findings
}

/// What a report's trim (`--session`, `--findings-only`, `--min-severity`)
/// left out of one capture's listing; the capture's own counts stay whole.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct NotListed {
    /// Sessions left out of the listing.
    pub sessions: u64,
    /// Findings by severity: error, warning, info.
    pub error: u64,
    /// Warning findings left out.
    pub warning: u64,
    /// Info findings left out.
    pub info: u64,
}

impl NotListed {
    pub fn is_none(&self) -> bool {
        *self == NotListed::default()
    }

    pub fn findings(&self) -> u64 {
        self.error + self.warning + self.info
    }

    /// Counts one finding left out.
    pub fn count(&mut self, f: &Finding) {
        *match f.severity {
            rules::Severity::Error => &mut self.error,
            rules::Severity::Warning => &mut self.warning,
            rules::Severity::Info => &mut self.info,
        } += 1;
    }
}
