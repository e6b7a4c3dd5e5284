//! Text for `compare`: each capture's summary, then each session pair
//! side by side (the lines, the data connections), then the differences.

use super::*;
use crate::compare::views::Tap;
use crate::report::pair::lines_not_listed;

/// The findings of capture `ci` on its own (not from comparing).
fn own_findings<'a>(r: &crate::report::model::CompareReport<'a>, ci: usize) -> Vec<&'a Finding> {
    r.findings
        .iter()
        .copied()
        .filter(|f| f.capture == ci && f.other.is_none())
        .collect()
}

/// Text for `compare`.
pub fn render_compare(
    r: &crate::report::model::CompareReport<'_>,
    style: &Style,
    out: &mut dyn Write,
) -> io::Result<()> {
    header(&r.header, style, out)?;
    if let Some(legs) = &r.sides.legs {
        style.para(out, legs, "", "")?;
    }
    style.para(out, &r.sides.explanation, "", "")?;
    let views = r.views();
    let titles = [Tap::ClientSide, Tap::ServerSide].map(|t| views.title(t));
    for (ci, c) in r.captures.iter().enumerate() {
        let rows: Vec<SessionRow> = r
            .sessions
            .iter()
            .filter(|s| s.capture == ci)
            .map(SessionRow::of)
            .collect();
        let fs = own_findings(r, ci);
        writeln!(out)?;
        let title = &titles[ci.min(1)];
        if not_a_capture(c) {
            unread(title, c, style, out)?;
            continue;
        }
        capture_section(title, c, &rows.iter().collect::<Vec<_>>(), &fs, style, out)?;
        if style.dialogue {
            let clock = Clock::of(c.info);
            for s in r.sessions.iter().filter(|s| s.capture == ci) {
                dialogue(s, clock, style, out)?;
            }
        }
    }
    for p in &r.pairs {
        pair_section(p, &views, style, out)?;
    }
    if let Some(text) = crate::report::pair::one_tap(r) {
        writeln!(out)?;
        style.para(out, &text, "", "    ")?;
    }
    if let Some(s) = r.unmatched.not_compared.sentence() {
        writeln!(out)?;
        style.para(out, &s, "", "")?;
    }
    writeln!(out)?;
    writeln!(out, "Differences between {}", views.both())?;
    let cmp: Vec<&Finding> = r
        .findings
        .iter()
        .copied()
        .filter(|f| f.other.is_some())
        .collect();
    match r.differences_not_listed.findings() {
        n if n > 0 && cmp.is_empty() => writeln!(
            out,
            "No findings listed ({n} left out by the options above)."
        )?,
        _ => findings(&cmp, &views, style, out)?,
    }
    for (ci, title) in titles.iter().enumerate() {
        let fs = own_findings(r, ci);
        if !fs.is_empty() {
            writeln!(out)?;
            writeln!(out, "{title}: its own findings")?;
            findings(&fs, &views, style, out)?;
        }
    }
    summary_line(&r.summary, style, out)
}

pub(super) fn status_mark(l: &crate::compare::align::Aligned) -> String {
    use crate::compare::align::Status;
    let arrow = if l.dir == crate::reassembly::connection::Side::Client {
        "→"
    } else {
        "←"
    };
    let s = match l.status {
        Status::Identical => "=",
        Status::Modified => "≠ modified",
        Status::Dropped => "✗ dropped",
        Status::Injected => "+ injected",
        Status::NotCaptured => "◌ not captured",
    };
    format!("{arrow} {s}")
}

/// `views`: two taps, or the legs of one file (timed by one clock).
pub(super) fn pair_section(
    p: &crate::compare::PairReport,
    views: &Views,
    style: &Style,
    out: &mut dyn Write,
) -> io::Result<()> {
    writeln!(out)?;
    let title = format!(
        "Session {} {} = {} {}",
        p.client_side_session,
        views.at(Tap::ClientSide),
        p.server_side_session,
        views.at(Tap::ServerSide)
    );
    style.para(out, &title, "", "    ")?;
    // Each fact of the pair on its own line, wrapped under itself.
    for fact in crate::report::pair::facts(p, views) {
        style.para(out, &fact, "  ", "    ")?;
    }
    if p.lines_not_listed > 0 {
        return style.para(out, &lines_not_listed(p.lines_not_listed), "  ", "    ");
    }
    // Each tap's cell leads with its frames ("13: PORT …"), and the notes
    // column is there only when a line has notes: at 80 columns the two
    // taps' lines then still stand side by side.
    let notes = p.lines.iter().any(|l| !l.segment_notes.is_empty());
    let mut t = table(style);
    let (ch, sh) = (
        views.heading(Tap::ClientSide),
        views.heading(Tap::ServerSide),
    );
    let mut head = vec!["#", ch.as_str(), "", sh.as_str()];
    if notes {
        head.push("notes");
    }
    t.set_header(head);
    t.bare(&[2]);
    for (i, l) in p.lines.iter().enumerate() {
        let side = |s: &Option<crate::compare::align::Seen>| match s {
            Some(x) => format!("{}: {}", frames_text(&x.frames), x.text),
            None => String::new(),
        };
        let differs = l.status != crate::compare::align::Status::Identical;
        let mut row = vec![
            Cell::new(i + 1),
            Cell::new(side(&l.client_side)),
            Cell::new(status_mark(l)).tinted(differs.then_some(Tint::Warning)),
            Cell::new(side(&l.server_side)),
        ];
        if notes {
            row.push(Cell::new(l.segment_notes.join("; ")));
        }
        t.add_row(row);
    }
    writeln!(out, "{t}")?;
    if !p.data.is_empty() {
        writeln!(out, "  Data connections")?;
        let mut t = table(style);
        t.set_header(["line", ch.as_str(), sh.as_str()]);
        let side = crate::report::pair::data_side;
        for d in &p.data {
            t.add_row([
                (d.line + 1).to_string(),
                side(&d.client_side),
                side(&d.server_side),
            ]);
        }
        writeln!(out, "{t}")?;
    }
    Ok(())
}
