//! `portmortem analyze`: the flags become the library's plan; the report
//! is written as sessions end where the format allows, else whole.

use super::{AnalyzeArgs, Format, delivered, warn, write_report};
use crate::analysis::{self, CaptureResult};
use crate::capture::{CaptureError, CaptureInfo};
use crate::command;
use crate::engine::Counters;
use crate::report::output::{Destination, refuse_inputs};
use crate::report::{self, html, markdown, model, text};
use std::io::Write;
use std::path::PathBuf;
fn failed(path: &std::path::Path, e: CaptureError) -> CaptureResult {
    CaptureResult {
        info: CaptureInfo {
            path: path.to_string_lossy().into_owned(),
            sha256: None,
            file_bytes: 0,
            compression: None,
            format: String::new(),
            link_types: Vec::new(),
            sections: 0,
            interfaces: 0,
            frame_count: 0,
            first_ts: None,
            last_ts: None,
            ts_digits: 0,
            interface_stats: Vec::new(),
            legs: Vec::new(),
            duplicates: 0,
            inside_device: 0,
            view: None,
            stitched: None,
        },
        counters: Counters::default(),
        error: Some(e),
        sessions: Vec::new(),
        findings: Vec::new(),
        sessions_not_kept: 0,
        sessions_written: 0,
        findings_not_kept: 0,
        not_listed: Default::default(),
    }
}

pub(super) fn analyze(mut a: AnalyzeArgs) -> i32 {
    let mut all = std::mem::take(&mut a.read);
    all.append(&mut a.captures);
    a.captures = all;
    if let Err(e) = super::named_captures(a.captures.iter().map(PathBuf::as_path)) {
        warn(e);
        return report::EXIT_USAGE;
    }
    if let Some(o) = &a.report.output
        && let Err(e) = refuse_inputs(o, a.captures.iter().map(PathBuf::as_path))
    {
        warn(e);
        return report::EXIT_USAGE;
    }
    let mut plan = command::AnalyzePlan::new(&a.analysis.tunables());
    let format = match a.report.format() {
        Ok(f) => f,
        Err(e) => {
            warn(e);
            return report::EXIT_USAGE;
        }
    };
    if let Some(code) = two_legs(&a, &plan) {
        return code;
    }
    one_way_legs(&a, &mut plan);
    let opts = &plan.options;
    let trim = a.trim.trim();
    let mut options = plan.changed.clone();
    trim.options(&mut options);
    // With --session the report holds a few sessions and is written whole,
    // so an id that names no session is refused before anything is
    // written.
    let few = !trim.sessions.is_empty();
    if !few && (format == Format::Ndjson || format == Format::Json && !a.report.pretty) {
        return analyze_streamed(&a, opts, format, &trim, options);
    }
    // The text report without dialogues keeps a table row per session,
    // not the session. Showing only captures with findings renumbers them
    // at the end: that stays with the whole document.
    if format == Format::Text && !a.report.dialogue && !trim.findings_only {
        return analyze_text(&a, opts, &trim, options);
    }
    let (mut results, summary) = match analyze_each(&a, opts, &trim, None) {
        Ok(x) => x,
        Err((_, e)) => {
            warn(e);
            return report::EXIT_USAGE;
        }
    };
    // Captures keep the number of their place among the inputs, as JSON
    // (which keeps every capture) numbers them.
    let mut numbers: Vec<usize> = (0..results.len()).collect();
    if trim.findings_only && format != Format::Json {
        let listed = |r: &CaptureResult| !r.findings.is_empty() || r.error.is_some();
        numbers.retain(|&i| listed(&results[i]));
        results.retain(listed);
        for (i, r) in results.iter_mut().enumerate() {
            r.place(i);
        }
    }
    let mut rep = model::analyze_report(&results, options);
    for (c, n) in rep.captures.iter_mut().zip(numbers) {
        c.number = n;
    }
    rep.summary = summary;
    let code = rep.summary.exit_code;
    let inputs: Vec<&std::path::Path> = a.captures.iter().map(PathBuf::as_path).collect();
    write_report(&a.report, &inputs, code, &|w, format, st| match format {
        // Compact JSON and NDJSON are written by `analyze_streamed`, but
        // for a --session listing.
        Format::Json => report::output::write_json(w, &rep, a.report.pretty),
        Format::Ndjson => report::ndjson::render(
            &rep.captures,
            &rep.sessions,
            &rep.findings,
            None,
            &rep.summary,
            w,
        ),
        Format::Text => text::render(&rep, st, w),
        Format::Markdown => markdown::render(&rep, w),
        Format::Html => html::render(&rep, w),
        Format::Ftplog => report::ftplog::render(&rep.sessions, rep.captures.len() > 1, w),
        Format::Csv => report::csv::render(&rep.captures, &rep.sessions, &rep.findings, w),
    })
}

/// The report of the one capture given when it holds both legs of a
/// device carrying the same FTP sessions (its exit code): the plan
/// compares the legs ([`command::AnalyzePlan::legs`]). Not when the
/// report is trimmed (a comparison lists every pair), the user asked for
/// one view, or the capture comes from standard input.
fn two_legs(a: &AnalyzeArgs, plan: &command::AnalyzePlan) -> Option<i32> {
    let [one] = &a.captures[..] else {
        return None;
    };
    if a.one_view || !a.trim.trim().is_off() || one.as_os_str() == "-" {
        return None;
    }
    let (cplan, cmp) = plan.legs(&crate::capture::Source::Path(one.clone()))?;
    Some(super::compare::write(
        cplan,
        &[one.as_path()],
        &a.report,
        &a.trim.trim(),
        &cmp,
    ))
}

/// The one capture given, when two of its legs each carry one direction:
/// read as one view stitched from both ([`command::AnalyzePlan::stitch_legs`]),
/// unless the user asked for one view as the file is.
fn one_way_legs(a: &AnalyzeArgs, plan: &mut command::AnalyzePlan) {
    if let [one] = &a.captures[..]
        && !a.one_view
        && one.as_os_str() != "-"
    {
        plan.stitch_legs(&crate::capture::Source::Path(one.clone()));
    }
}

/// `analyze` as compact JSON or NDJSON, each session written as it ends
/// (`report::stream`), so memory does not grow with the sessions of a file.
fn analyze_streamed(
    a: &AnalyzeArgs,
    opts: &analysis::Options,
    format: Format,
    trim: &report::trim::Trim,
    options: std::collections::BTreeMap<&'static str, String>,
) -> i32 {
    let inputs: Vec<&std::path::Path> = a.captures.iter().map(PathBuf::as_path).collect();
    let mut out = match Destination::create(a.report.output.as_deref(), inputs.iter().copied()) {
        Ok(x) => x,
        Err(e) => {
            warn(format!("cannot write the report: {e}"));
            return report::EXIT_USAGE;
        }
    };
    let shape = if format == Format::Json {
        report::stream::Shape::Json
    } else {
        report::stream::Shape::Ndjson
    };
    let header = crate::header::Header::new("analyze", options);
    let mut summary = model::Summary::default();
    let mut unknown = None;
    let written = (|| {
        let mut w = report::stream::Streamed::begin(&mut out, shape, &header)?;
        let results;
        (results, summary) =
            match analyze_each(a, opts, trim, Some(&mut |i, path, s| w.session(i, path, s))) {
                Ok(x) => x,
                Err((sum, e)) => {
                    unknown = Some(e);
                    (Vec::new(), sum)
                }
            };
        w.finish(&results, &summary)?;
        if format == Format::Json {
            writeln!(out)?;
        }
        Ok(())
    })();
    if let Some(e) = unknown {
        warn(e);
        return report::EXIT_USAGE;
    }
    let code = summary.exit_code;
    if delivered(written, out) {
        code
    } else {
        report::EXIT_USAGE
    }
}

/// A session handed over as it ends: capture index, path, session.
type EachSession<'a> = dyn FnMut(usize, &str, &crate::ftp::session::Session) + 'a;

/// Analyses every capture, handing each session that passes `trim` to
/// `session` as it ends, or, without one, keeping the sessions in the
/// results; returns the results, trimmed, with the summary of the whole
/// analysis (taken before trimming: the exit code is of everything found).
fn analyze_each(
    a: &AnalyzeArgs,
    opts: &analysis::Options,
    trim: &report::trim::Trim,
    mut session: Option<&mut EachSession<'_>>,
) -> Result<(Vec<analysis::CaptureResult>, model::Summary), (model::Summary, String)> {
    let mut results = Vec::new();
    // Every session id the captures have, to refuse a --session that
    // names none of them.
    let mut seen = std::collections::BTreeSet::new();
    for (i, p) in a.captures.iter().enumerate() {
        let path = p.to_string_lossy();
        let reader = crate::capture::CaptureReader::open(p, opts.hash);
        let mut hidden = 0u64;
        let mut r = match (reader, session.as_deref_mut()) {
            (Err(e), _) => failed(p, e),
            (Ok(reader), None) => analysis::analyze_reader(reader, opts, &mut |_| {}),
            (Ok(reader), Some(write)) => analysis::analyze_written(reader, opts, &mut |s, fs| {
                seen.insert(s.id);
                if trim.is_off() || trim.session(&s.name(), fs) {
                    write(i, &path, s)
                } else {
                    hidden += 1;
                }
            }),
        };
        seen.extend(r.sessions.iter().map(|s| s.id));
        r.not_listed.sessions = hidden;
        if let Some(e) = &r.error {
            warn(e);
        }
        r.place(i);
        results.push(r);
    }
    let summary = model::summary(&results);
    if let Some(e) = trim.unknown_sessions(&seen) {
        return Err((summary, e));
    }
    for r in &mut results {
        trim.apply(r);
    }
    Ok((results, summary))
}

/// `analyze` as a text table: each session becomes its row as it ends, so
/// memory holds rows, not sessions, however many the captures carry.
fn analyze_text(
    a: &AnalyzeArgs,
    opts: &analysis::Options,
    trim: &report::trim::Trim,
    options: std::collections::BTreeMap<&'static str, String>,
) -> i32 {
    let mut rows: Vec<text::SessionRow> = Vec::new();
    let mut row = |i, _: &str, s: &_| rows.push(text::SessionRow::of(&model::session_view(i, s)));
    let (results, summary) = match analyze_each(a, opts, trim, Some(&mut row)) {
        Ok(x) => x,
        Err((_, e)) => {
            warn(e);
            return report::EXIT_USAGE;
        }
    };
    let mut rep = model::analyze_report(&results, options);
    for (i, c) in rep.captures.iter_mut().enumerate() {
        c.session_count = rows.iter().filter(|r| r.capture() == i).count();
    }
    rep.summary = summary;
    let inputs: Vec<&std::path::Path> = a.captures.iter().map(PathBuf::as_path).collect();
    write_report(&a.report, &inputs, rep.summary.exit_code, &|w, _, st| {
        text::render_rows(&rep, &rows, st, w)
    })
}
