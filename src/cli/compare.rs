//! `portmortem compare`: which capture is which, then the library's plan.

use super::{CompareArgs, Format, warn, write_report};
use crate::capture::Source;
use crate::command;
use crate::report::output::refuse_inputs;
use crate::report::{self, html, markdown, text};
use std::path::PathBuf;
/// Which capture is which, from the positional paths and the flags.
fn compare_inputs(
    a: &CompareArgs,
) -> Result<(PathBuf, PathBuf, crate::compare::Roles), &'static str> {
    use crate::compare::Roles;
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
    let (first, second, roles) = match compare_inputs(&a) {
        Ok(x) => x,
        Err(msg) => {
            warn(msg);
            return report::EXIT_USAGE;
        }
    };
    if let Err(e) = super::named_captures([first.as_path(), second.as_path()]) {
        warn(e);
        return report::EXIT_USAGE;
    }
    if let Some(o) = &a.report.output
        && let Err(e) = refuse_inputs(o, [first.as_path(), second.as_path()])
    {
        warn(e);
        return report::EXIT_USAGE;
    }
    if let Err(e) = a.report.format() {
        warn(e);
        return report::EXIT_USAGE;
    }
    let plan = match command::ComparePlan::new(&a.analysis.tunables(), roles, a.clock_offset) {
        Ok(p) => p,
        Err(e) => {
            warn(e);
            return report::EXIT_USAGE;
        }
    };
    let sources = (Source::Path(first.clone()), Source::Path(second.clone()));
    let cmp = match plan.run(sources.0, sources.1) {
        Ok(c) => c,
        Err(e) => {
            warn(e);
            return report::EXIT_USAGE;
        }
    };
    for r in &cmp.results {
        if let Some(e) = &r.error {
            warn(e);
        }
    }
    let mut rep = plan.report(&cmp);
    let trim = a.trim.trim();
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
    write_report(
        &a.report,
        &[first.as_path(), second.as_path()],
        code,
        &|w, format, st| match format {
            Format::Json => report::output::write_json(w, &rep, a.report.pretty),
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
        },
    )
}
