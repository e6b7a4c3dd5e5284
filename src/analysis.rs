//! One capture through the whole single-capture pipeline: read frames,
//! build sessions, redact passwords, run the rules.

use crate::capture::input::HashMode;
use crate::capture::{CaptureError, CaptureInfo, CaptureReader, Source};
use crate::engine::{self, Counters, Engine, SessionSink};
use crate::ftp::session::{EndReason, Session};
use crate::rules::{self, Finding};
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
}

impl Default for Options {
    fn default() -> Self {
        Options {
            engine: engine::Options::default(),
            rules: rules::Config::default(),
            show_passwords: false,
            hash: HashMode::default(),
            max_sessions: 100_000,
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

/// Analyses an opened capture, handing each session to `on_session` as soon
/// as it ends, with passwords redacted and its findings, so a caller that
/// keeps only a summary needs memory for the live sessions alone. Session
/// ids are final when the engine detects a session (`watch` says them as
/// it goes, so every mode numbers sessions in order of detection).
/// `progress` is called now and then with the raw bytes read so far.
pub fn analyze_streaming(
    mut reader: CaptureReader,
    opts: &Options,
    progress: &mut dyn FnMut(u64),
    on_session: &mut dyn FnMut(Session, Vec<Finding>),
) -> CaptureTotals {
    struct Sink<'a> {
        opts: &'a Options,
        out: &'a mut dyn FnMut(Session, Vec<Finding>),
    }
    impl SessionSink for Sink<'_> {
        fn session(&mut self, mut s: Session) {
            if !self.opts.show_passwords {
                s.redact_passwords();
            }
            let findings = rules::run(&s, &self.opts.rules);
            (self.out)(s, findings);
        }
    }
    let mut sink = Sink {
        opts,
        out: on_session,
    };
    let mut engine = Engine::new(opts.engine.clone());
    let raw = reader.raw_handle();
    let mut n = 0u64;
    let res = reader.for_each(&mut |f| {
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
    CaptureTotals {
        info: reader.info(),
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
    // With their session's id, to list them in session order.
    let mut findings: Vec<(u32, Finding)> = Vec::new();
    let (mut sessions_not_kept, mut findings_not_kept) = (0u64, 0u64);
    let mut kept_bytes = 0usize;
    let heap_base = crate::mem::thread_heap();
    let totals = analyze_streaming(reader, opts, progress, &mut |s, fs| {
        if let Some(w) = write.as_mut() {
            w(&s, &fs);
        }
        for f in fs {
            if findings.len() < MAX_FINDINGS {
                findings.push((s.id, f));
            } else {
                findings_not_kept += 1;
            }
        }
        if write.is_some() {
            sessions_written += 1;
            return;
        }
        let size = s.mem_size();
        // Kept sessions have their share of the budget by estimated size;
        // the heap this analysis's own thread holds (not the process's,
        // which another analysis beside it moves) stops the keeping should
        // the estimate be further off. Without the counting allocator that
        // heap reads 0.
        let budget = opts.engine.budget;
        let heap_ok = crate::mem::thread_heap().saturating_sub(heap_base)
            <= isize::try_from(budget.kept_sessions_heap()).unwrap_or(isize::MAX);
        if kept.len() < opts.max_sessions && kept_bytes + size <= budget.kept_sessions() && heap_ok
        {
            kept_bytes += size;
            kept.push(s);
        } else {
            sessions_not_kept += 1;
        }
    });
    // Sessions end in any order; reports list them by id. Stable: a
    // session's findings stay in the order the rules gave them.
    kept.sort_by_key(|s| s.id);
    let findings = capture_findings(findings, &totals.info);
    CaptureResult {
        info: totals.info,
        counters: totals.counters,
        error: totals.error,
        sessions: kept,
        findings,
        sessions_not_kept,
        sessions_written,
        findings_not_kept,
        not_listed: Default::default(),
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
    pub sessions: u64,
    /// Findings by severity: error, warning, info.
    pub error: u64,
    pub warning: u64,
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
