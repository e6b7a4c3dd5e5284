//! Text for `compare`: each capture's summary, then each session pair
//! side by side (the lines, the data connections), then the differences.

use super::*;

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
    header(&r.header, out)?;
    if let Some(legs) = &r.sides.legs {
        writeln!(out, "{legs}")?;
    }
    writeln!(out, "{}", r.sides.explanation)?;
    let titles = ["Client-side capture", "Server-side capture"];
    for (ci, c) in r.captures.iter().enumerate() {
        let rows: Vec<SessionRow> = r
            .sessions
            .iter()
            .filter(|s| s.capture == ci)
            .map(SessionRow::of)
            .collect();
        let fs = own_findings(r, ci);
        writeln!(out)?;
        capture_section(
            titles[ci.min(1)],
            c,
            &rows.iter().collect::<Vec<_>>(),
            &fs,
            style,
            out,
        )?;
    }
    for p in r.pairs {
        pair_section(p, r.sides.legs.is_some(), style, out)?;
    }
    if !r.unmatched.client_side.is_empty() || !r.unmatched.server_side.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "Seen at one tap only: client-side sessions [{}], server-side sessions [{}]",
            r.unmatched.client_side.join(", "),
            r.unmatched.server_side.join(", ")
        )?;
    }
    if let Some(s) = r.unmatched.not_compared.sentence() {
        writeln!(out)?;
        writeln!(out, "{s}")?;
    }
    writeln!(out)?;
    writeln!(out, "Differences between the taps")?;
    let cmp: Vec<&Finding> = r
        .findings
        .iter()
        .copied()
        .filter(|f| f.other.is_some())
        .collect();
    findings(&cmp, style, out)?;
    for (ci, title) in titles.iter().enumerate() {
        let fs = own_findings(r, ci);
        if !fs.is_empty() {
            writeln!(out)?;
            writeln!(out, "{title}: its own findings")?;
            findings(&fs, style, out)?;
        }
    }
    summary_line(&r.summary, out)
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

/// Why a pair's lines are not listed, for every report.
pub(crate) fn lines_not_listed(n: usize) -> String {
    format!(
        "All {n} line(s) are identical at both taps and not listed: past the memory budget a pair in which nothing differs is kept as its counts."
    )
}

/// `one_file`: both taps are legs of one file, timed by one clock.
pub(super) fn pair_section(
    p: &crate::compare::PairReport,
    one_file: bool,
    style: &Style,
    out: &mut dyn Write,
) -> io::Result<()> {
    writeln!(out)?;
    writeln!(
        out,
        "Session {} at the client-side tap = {} at the server-side tap",
        p.client_side_session, p.server_side_session
    )?;
    let seen = |x: &crate::compare::Seen2| {
        if x.translated {
            format!(
                "{} at the client-side tap, {} at the server-side tap (translated)",
                x.client_side, x.server_side
            )
        } else {
            format!("{} at both taps", x.client_side)
        }
    };
    writeln!(
        out,
        "  matched ({} confidence): {}",
        p.matched.confidence, p.matched.explanation
    )?;
    writeln!(out, "  client: {}", seen(&p.client_endpoint))?;
    writeln!(out, "  server: {}", seen(&p.server_endpoint))?;
    let tcp = if p.tcp.same_connection {
        "one TCP connection seen at both taps (same sequence numbers)".to_string()
    } else {
        format!(
            "two TCP connections (server-side sequence numbers differ by {}): a proxy terminates the connection, or the firewall randomises sequence numbers",
            p.tcp
                .seq_offset_to_server
                .or(p.tcp.seq_offset_to_client)
                .map_or("?".into(), |v| format!("{v:+}"))
        )
    };
    writeln!(out, "  TCP: {tcp}")?;
    for st in &p.tcp.steps {
        writeln!(
            out,
            "  sequence offset ({}) stepped {:+} → {:+} after line {}",
            if st.dir == crate::reassembly::connection::Side::Client {
                "client→server"
            } else {
                "server→client"
            },
            st.before,
            st.after,
            st.after_line + 1
        )?;
    }
    if let Some(k) = &p.clock {
        // A latency is never negative: a figure below zero only says the
        // offset's midpoint is off by that much, within its uncertainty.
        let secs = |x: f64| {
            if x < 0.0 {
                format!(
                    "under {:.6} s (within the clock's uncertainty)",
                    k.uncertainty_secs
                )
            } else {
                format!("{x:.6} s")
            }
        };
        let lat = |l: &Option<crate::compare::align::Latency>| {
            l.as_ref().map_or("n/a".into(), |l| {
                format!("median {}, max {}", secs(l.median_secs), secs(l.max_secs))
            })
        };
        // Lines in one direction only bound the offset on one side: the
        // path's latency is in the figure, and no ± can be given.
        let offset = match (k.samples_to_server, k.samples_to_client) {
            (0, _) => format!(
                "at least {:+.6} s (lines from the server only: less the path's latency)",
                k.offset_secs
            ),
            (_, 0) => format!(
                "at most {:+.6} s (lines from the client only: plus the path's latency)",
                k.offset_secs
            ),
            _ => format!("{:+.6} s ± {:.6} s", k.offset_secs, k.uncertainty_secs),
        };
        let clock = match one_file {
            true => "one file, one clock".to_string(),
            false => {
                format!("the server-side capture's clock is {offset} from the client-side one")
            }
        };
        writeln!(
            out,
            "  clock: {clock}; path latency client→server {}, server→client {}",
            lat(&p.latency_to_server),
            lat(&p.latency_to_client)
        )?;
    }
    writeln!(
        out,
        "  lines: {}",
        crate::report::wording::line_counts(&p.counts)
    )?;
    if p.lines_not_listed > 0 {
        return writeln!(out, "  {}", lines_not_listed(p.lines_not_listed));
    }
    let mut t = table(style);
    t.set_header(vec![
        "#",
        "frame",
        "client-side tap",
        "",
        "frame",
        "server-side tap",
        "notes",
    ]);
    for (i, l) in p.lines.iter().enumerate() {
        let side = |s: &Option<crate::compare::align::Seen>| match s {
            Some(x) => (frames_text(&x.frames), x.text.to_string()),
            None => (String::new(), String::new()),
        };
        let (cf, ct) = side(&l.client_side);
        let (sf, st) = side(&l.server_side);
        let sev = match l.status {
            crate::compare::align::Status::Identical => Cell::new(status_mark(l)),
            _ if style.color => Cell::new(status_mark(l)).fg(Color::Yellow),
            _ => Cell::new(status_mark(l)),
        };
        t.add_row(vec![
            Cell::new(i + 1),
            Cell::new(cf),
            Cell::new(ct),
            sev,
            Cell::new(sf),
            Cell::new(st),
            Cell::new(l.segment_notes.join("; ")),
        ]);
    }
    writeln!(out, "{t}")?;
    if !p.data.is_empty() {
        writeln!(out, "  Data connections")?;
        let mut t = table(style);
        t.set_header(vec!["line", "client-side tap", "server-side tap"]);
        let side = |d: &Option<crate::compare::DataSide>| match d {
            Some(d) => format!(
                "{} {} — {}{}",
                d.kind.name(),
                d.announced
                    .map(|e| e.to_string())
                    .unwrap_or_else(|| "?".into()),
                d.status.name(),
                d.connection
                    .as_ref()
                    .map(|c| format!(
                        " ({} → {}, frame {})",
                        c.initiator, c.acceptor, c.first_frame
                    ))
                    .unwrap_or_default()
            ),
            None => "—".into(),
        };
        for d in &p.data {
            t.add_row(vec![
                (d.line + 1).to_string(),
                side(&d.client_side),
                side(&d.server_side),
            ]);
        }
        writeln!(out, "{t}")?;
    }
    Ok(())
}
