//! One capture through the whole single-capture pipeline: read frames,
//! build sessions, redact passwords, run the rules.

use crate::capture::input::HashMode;
use crate::capture::{CaptureError, CaptureInfo, CaptureReader};
use crate::engine::{self, Counters, Engine};
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

/// Analyses an opened capture; `progress` is called now and then with the
/// raw bytes read so far.
pub fn analyze_reader(
    mut reader: CaptureReader,
    opts: &Options,
    progress: &mut dyn FnMut(u64),
) -> CaptureResult {
    let mut engine = Engine::new(opts.engine.clone());
    let mut sessions: Vec<Session> = Vec::new();
    let raw = reader.raw_handle();
    let mut n = 0u64;
    let res = reader.for_each(&mut |f| {
        engine.frame(f, &mut sessions);
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
    engine.finish(reason, &mut sessions);
    progress(reader.raw_bytes_read());
    let info = reader.info();
    let findings = finish_sessions(&mut sessions, opts);
    CaptureResult {
        info,
        counters: engine.counters.clone(),
        error: res.err(),
        sessions,
        findings,
    }
}

/// Orders sessions by first frame, numbers them, redacts passwords and runs
/// the rules.
fn finish_sessions(sessions: &mut [Session], opts: &Options) -> Vec<Finding> {
    sessions.sort_by_key(|s| (s.first_frame, s.id));
    let mut findings = Vec::new();
    for (i, s) in sessions.iter_mut().enumerate() {
        s.id = i as u32 + 1;
        if !opts.show_passwords {
            s.redact_passwords();
        }
        findings.extend(rules::run(s, &opts.rules));
    }
    findings
}
