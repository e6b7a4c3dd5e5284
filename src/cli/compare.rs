//! `portmortem compare`: which capture is which, then the library's plan.

use super::{Analysis, CompareArgs, Format, ReportArgs, warn, write_report};
use crate::capture::Source;
use crate::capture::input::HashMode;
use crate::command;
use crate::compare::Roles;
use crate::compare::legs;
use crate::escape::escape_str;
use crate::report::output::refuse_inputs;
use crate::report::{self, html, markdown, text};
use std::path::{Path, PathBuf};

/// Which capture is which, from the positional paths and the flags.
fn compare_inputs(
    a: &CompareArgs,
) -> Result<(PathBuf, PathBuf, crate::compare::Roles), &'static str> {
    let p = &a.captures;
    match (&a.client_side, &a.server_side, p.len()) {
        (Some(c), Some(s), 0) => Ok((c.clone(), s.clone(), Roles::Given)),
        (Some(c), None, 1) => Ok((c.clone(), p[0].clone(), Roles::Given)),
        (None, Some(s), 1) => Ok((p[0].clone(), s.clone(), Roles::Given)),
        (None, None, 2) => Ok((p[0].clone(), p[1].clone(), Roles::Infer)),
        _ => Err(
            "compare takes two captures: `compare A B`, or --client-side FILE --server-side FILE",
        ),
    }
}

pub(super) fn compare(a: CompareArgs) -> i32 {
    if let ([one], None, None) = (&a.captures[..], &a.client_side, &a.server_side) {
        return one_file(one, &a.analysis, &a.report, &a.trim.trim(), a.clock_offset);
    }
    let (first, second, roles) = match compare_inputs(&a) {
        Ok(x) => x,
        Err(msg) => {
            warn(msg);
            return report::EXIT_USAGE;
        }
    };
    let plan = match command::ComparePlan::new(&a.analysis.tunables(), roles, a.clock_offset) {
        Ok(p) => p,
        Err(e) => {
            warn(e);
            return report::EXIT_USAGE;
        }
    };
    let inputs = [first.as_path(), second.as_path()];
    if let Err(code) = checks(&inputs, &a.report) {
        return code;
    }
    match plan.run(Source::Path(first.clone()), Source::Path(second.clone())) {
        Ok(c) => write(&plan, &inputs, &a.report, &a.trim.trim(), &c),
        Err(e) => {
            warn(e);
            report::EXIT_USAGE
        }
    }
}

/// `compare FILE`: the two legs of a file taken on a device, compared as
/// two captures.
fn one_file(
    path: &Path,
    analysis: &Analysis,
    rep: &ReportArgs,
    trim: &crate::report::trim::Trim,
    clock_offset: Option<f64>,
) -> i32 {
    let plan = match command::ComparePlan::new(&analysis.tunables(), Roles::Infer, clock_offset) {
        Ok(p) => p,
        Err(e) => {
            warn(e);
            return report::EXIT_USAGE;
        }
    };
    let source = Source::Path(path.to_path_buf());
    let pair = match source.again().map(|s| legs::find(s, HashMode::Off)) {
        Some(Ok(Some(p))) => p,
        Some(Ok(None)) => {
            warn(format!(
                "{}: compare takes two captures, or one that holds two legs of a device (pcapng interfaces, Linux cooked interfaces, VLANs) carrying the same TCP connections; this one does not",
                escape_str(&path.to_string_lossy())
            ));
            return report::EXIT_USAGE;
        }
        Some(Err(e)) => {
            warn(e);
            return report::EXIT_USAGE;
        }
        None => {
            warn("compare of one file reads it twice, one leg at a time: standard input cannot be");
            return report::EXIT_USAGE;
        }
    };
    if pair.carry == legs::Carry::OneWay {
        warn(format!(
            "{}: its two legs ({} and {}) each carry one direction, so no packet is on both and there are no two views of the same bytes to compare; `portmortem analyze` reads it as one view stitched from both and holds each leg against the far end's ACKs on the other",
            escape_str(&path.to_string_lossy()),
            escape_str(&pair.names[0]),
            escape_str(&pair.names[1]),
        ));
        return report::EXIT_USAGE;
    }
    if let Err(code) = checks(&[path], rep) {
        return code;
    }
    match plan.run_legs(&source, &pair) {
        Ok(c) => write(&plan, &[path], rep, trim, &c),
        Err(e) => {
            warn(e);
            report::EXIT_USAGE
        }
    }
}

/// Refuses a capture named like an option, writing over an input, and an
/// unknown format.
fn checks(inputs: &[&Path], rep_args: &ReportArgs) -> Result<(), i32> {
    if let Err(e) = super::named_captures(inputs.iter().copied()) {
        warn(e);
        return Err(report::EXIT_USAGE);
    }
    if let Some(o) = &rep_args.output
        && let Err(e) = refuse_inputs(o, inputs.iter().copied())
    {
        warn(e);
        return Err(report::EXIT_USAGE);
    }
    if let Err(e) = rep_args.format() {
        warn(e);
        return Err(report::EXIT_USAGE);
    }
    Ok(())
}

/// Writes a comparison's report.
pub(super) fn write(
    plan: &command::ComparePlan,
    inputs: &[&Path],
    rep_args: &ReportArgs,
    trim: &report::trim::Trim,
    cmp: &crate::compare::Comparison,
) -> i32 {
    for r in &cmp.results {
        if let Some(e) = &r.error {
            warn(e);
        }
    }
    let mut rep = plan.report(cmp);
    if !trim.is_off() {
        // Every session id either capture has, to refuse a --session that
        // names none of them.
        let ids = rep.sessions.iter().map(|s| s.id.as_str());
        let ids = ids.chain(rep.pairs.iter().flat_map(|p| {
            [
                p.client_side_session.as_str(),
                p.server_side_session.as_str(),
            ]
        }));
        let ids = ids.chain(rep.unmatched.client_side.iter().copied());
        let ids = ids.chain(rep.unmatched.server_side.iter().copied());
        let seen = ids
            .filter_map(|id| id.strip_prefix('s')?.parse::<u32>().ok())
            .collect();
        if let Some(e) = trim.unknown_sessions(&seen) {
            warn(e);
            return report::EXIT_USAGE;
        }
        trim.options(&mut rep.header.options);
        trim.apply_compare(&mut rep);
    }
    let code = rep.summary.exit_code;
    write_report(rep_args, inputs, code, &|w, format, st| match format {
        Format::Json => report::output::write_json(w, &rep, rep_args.pretty),
        Format::Text => text::render_compare(&rep, st, w),
        Format::Markdown => markdown::render_compare(&rep, w),
        Format::Html => html::render_compare(&rep, w),
        Format::Ftplog => report::ftplog::render(&rep.sessions, true, w),
        Format::Csv => report::csv::render(&rep.captures, &rep.sessions, &rep.findings, w),
        Format::Ndjson => report::ndjson::render(
            &rep.captures,
            &rep.sessions,
            &rep.findings,
            Some(&rep),
            &rep.summary,
            w,
        ),
    })
}
