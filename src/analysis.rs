//! One capture through the whole single-capture pipeline: read frames,
//! build sessions, redact passwords, run the rules.

use crate::capture::input::HashMode;
use crate::capture::{CaptureError, CaptureInfo, CaptureReader};
use crate::engine::{self, Counters, Engine, SessionSink};
use crate::ftp::session::{EndReason, Session};
use crate::rules::{self, Finding};
use std::path::Path;

/// Everything that changes the result of an analysis.
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub engine: engine::Options,
    pub rules: rules::Config,
    pub show_passwords: bool,
    /// How the file's SHA-256 is computed (not part of the analysis
    /// proper, but it costs more than the analysis itself).
    pub hash: HashMode,
}

/// The result of analysing one capture.
#[derive(Debug)]
pub struct CaptureResult {
    pub info: CaptureInfo,
    pub counters: Counters,
    /// Set when reading stopped early; what was read before is kept.
    pub error: Option<CaptureError>,
    pub sessions: Vec<Session>,
    pub findings: Vec<Finding>,
}

/// Analyses a capture. `Err` only when the file cannot be opened as a
/// capture at all; a read error part-way is returned inside the result.
pub fn analyze_path(path: &Path, opts: &Options) -> Result<CaptureResult, CaptureError> {
    let reader = CaptureReader::open(path, opts.hash)?;
    Ok(analyze_reader(reader, opts, &mut |_| {}))
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
/// ids are provisional (in order of detection); [`number_sessions`] gives
/// the final ones. `progress` is called now and then with the raw bytes
/// read so far.
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

/// The final session numbers: sessions ordered by their first frame (ties
/// by detection order), numbered from 1, as every report shows them.
/// `keys` are (first frame, provisional id); the result maps each position
/// in `keys` to its final id.
pub fn number_sessions(keys: &[(u64, u32)]) -> Vec<u32> {
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by_key(|&i| keys[i]);
    let mut ids = vec![0; keys.len()];
    for (n, i) in order.into_iter().enumerate() {
        ids[i] = n as u32 + 1;
    }
    ids
}

/// Analyses an opened capture and keeps every session (for the full
/// report); `progress` as in [`analyze_streaming`].
pub fn analyze_reader(
    reader: CaptureReader,
    opts: &Options,
    progress: &mut dyn FnMut(u64),
) -> CaptureResult {
    let mut done: Vec<(Session, Vec<Finding>)> = Vec::new();
    let totals = analyze_streaming(reader, opts, progress, &mut |s, f| done.push((s, f)));
    let keys: Vec<(u64, u32)> = done.iter().map(|(s, _)| (s.first_frame, s.id)).collect();
    for ((s, fs), id) in done.iter_mut().zip(number_sessions(&keys)) {
        s.id = id;
        for f in fs {
            f.session = s.name();
        }
    }
    done.sort_by_key(|(s, _)| s.id);
    let (sessions, findings): (Vec<Session>, Vec<Vec<Finding>>) = done.into_iter().unzip();
    CaptureResult {
        info: totals.info,
        counters: totals.counters,
        error: totals.error,
        sessions,
        findings: findings.into_iter().flatten().collect(),
    }
}
