//! One self-contained HTML file: the Markdown report's content plus a
//! ladder (sequence) diagram of each FTP dialogue — client and server
//! lanes, and a firewall lane between them when two taps are compared —
//! with the data connections drawn and the lines behind a finding in red,
//! and byte diffs where the changed bytes stand out.
//!
//! No script, no external asset, no network: inline CSS and SVG only.
//! Every string from a capture is HTML-escaped (on top of being in escape
//! form already), so a capture cannot inject markup.

use super::batch::Input;
use super::model::{BatchSummary, CompareReport, Report};
use super::page::ladder::Stroke;
use super::page::{self, Block, Code, Inline, Ladder, Page};
use super::wording::{Span, capitalized, diff_runs, spans};
use crate::header::Header;
use crate::rules::Severity;
use std::fmt::Write as _;
use std::io::{self, Write};

/// Characters of a line shown on an arrow (what fits between two lanes;
/// the whole line is in the tooltip).
const LABEL_CHARS: usize = 50;
/// The room for a label between two lanes (380 px apart), clear of the
/// arrowheads, and the widest a character of the 12 px monospace font is
/// taken to be (bold included).
const LABEL_ROOM: f64 = 340.0;
const LABEL_CHAR_PX: f64 = 7.4;

/// HTML-escapes text.
fn h(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => {
                let _ = write!(out, "&#x{:x};", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// One of our messages: quoted lines (between backticks) in `<code>`.
fn message(s: &str) -> String {
    spans(s)
        .into_iter()
        .map(|sp| match sp {
            Span::Code(c) => format!("<code>{}</code>", h(c)),
            Span::Text(t) => h(t),
            Span::Backtick => "`".into(),
        })
        .collect()
}

fn short(s: &str) -> String {
    if s.chars().count() <= LABEL_CHARS {
        s.to_string()
    } else {
        let cut: String = s.chars().take(LABEL_CHARS - 1).collect();
        format!("{cut}…")
    }
}

const CSS: &str = "
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#1d1d1f}
h1{font-size:1.6em;margin-bottom:.3em}h2{margin-top:1.8em;border-bottom:1px solid #ddd}h3{margin-top:1.4em}
.verdict{border-left:6px solid #2e7d32;background:#f1f8e9;padding:.8em 1em;font-size:1.1em}
.verdict.error{border-color:#c62828;background:#ffebee}.verdict.warning{border-color:#ef6c00;background:#fff3e0}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ccc;padding:.25em .5em;vertical-align:top;text-align:left}
th{background:#f5f5f5}code,pre,.line{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px}
code{background:#f5f5f5;padding:0 .2em;border-radius:3px;white-space:pre;display:inline-block;max-width:100%;overflow-x:auto;vertical-align:bottom}
td code{max-width:50vw}code.id{white-space:nowrap}code.h{white-space:normal;word-break:break-all;display:inline}code.f{white-space:normal;display:inline}
.sev-error{color:#fff;background:#c62828;padding:0 .4em;border-radius:3px}
.sev-warning{color:#fff;background:#ef6c00;padding:0 .4em;border-radius:3px}
.sev-info{color:#fff;background:#1565c0;padding:0 .4em;border-radius:3px}
.diff{border:1px solid #ccc;padding:.5em;background:#fafafa}.diff td{border:none;padding:.1em .6em}
mark.chg{background:#ffd54f;color:#b00020;font-weight:bold;outline:1px solid #b00020}
.ladder{overflow-x:auto;border:1px solid #ddd;margin:.6em 0}
.ladder text{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
.ladder .lane{stroke:#90a4ae;stroke-width:2}.ladder .lanehead{font-weight:bold;font-size:13px}
.ladder .ok{stroke:#37474f}.ladder .bad{stroke:#c62828;stroke-width:2.5}.ladder .rew{stroke:#00838f;stroke-width:2}.ladder .trew{fill:#00838f}.ladder .data{stroke:#1565c0;stroke-dasharray:6 4}
.ladder .databad{stroke:#c62828;stroke-dasharray:6 4;stroke-width:2}
.ladder .tbad{fill:#c62828;font-weight:bold}.ladder .tdata{fill:#1565c0}.ladder .tnote{fill:#78909c}
footer{margin-top:2em;color:#666;font-size:.9em}
.headline{font-size:1.25em;font-weight:600;margin:0 0 .4em}.verdict .detail{margin:0;font-size:.95em}
.legend{color:#546e7a;font-size:.9em;margin-top:.2em}
.timeline{margin:.6em 0}.tl-legend{margin-bottom:.3em}
.sw{display:inline-block;width:.9em;height:.9em;vertical-align:-.1em}.sw.f{background:#c62828}.sw.w{background:#b0bec5}
.sw.g{background:repeating-linear-gradient(45deg,#cfd8dc 0 3px,#fff 3px 6px)}
.tl-plot{display:grid;grid-template-columns:auto 1fr}.tl-plot svg{width:100%;height:160px;border-bottom:1px solid #37474f;border-left:1px solid #37474f}
.tl-y{display:flex;flex-direction:column;justify-content:space-between;text-align:right;padding-right:.3em;font-variant-numeric:tabular-nums}
.tl-x{display:flex;justify-content:space-between;flex-wrap:wrap;gap:0 1em}time{white-space:nowrap}
@media (max-width:640px){
body{margin:1em auto;padding:0 .6em}h1{font-size:1.35em}
table.rows,table.rows tbody,table.rows tr,table.rows td{display:block}
table.rows tr:first-child{display:none}
table.rows tr{border:1px solid #ccc;margin:.5em 0;padding:.3em .5em}
table.rows td{border:none;padding:.1em 0}td code{max-width:100%}
table.rows td::before{content:attr(data-l) \": \";font-weight:bold}
}
";

/// Opens a table that, on a narrow screen, becomes one block per row with
/// each cell labelled by its column (`data-l`), so that a phone never
/// scrolls sideways; on a wide screen it is an ordinary table.
fn rows_open(heads: &[&str], out: &mut dyn Write) -> io::Result<()> {
    write!(out, "<table class=\"rows\"><tr>")?;
    for x in heads {
        write!(out, "<th>{}</th>", h(x))?;
    }
    writeln!(out, "</tr>")
}

/// One row of a [`rows_open`] table: `cells` are HTML, one per column.
fn rows_row(heads: &[&str], cells: &[String], out: &mut dyn Write) -> io::Result<()> {
    write!(out, "<tr>")?;
    for (x, c) in heads.iter().zip(cells) {
        write!(out, "<td data-l=\"{}\">{c}</td>", h(x))?;
    }
    writeln!(out, "</tr>")
}

fn open(title: &str, out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>",
        h(title)
    )
}

fn close(hd: &Header, out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "<footer>Generated by {} {}; times in {}; passwords redacted unless \
         <code>show_passwords</code> is among the options.</footer>\n</body>\n</html>",
        h(hd.tool.name),
        h(hd.tool.version),
        h(hd.time_zone)
    )
}

/// The verdict: its headline, then the detail under it (`rest` goes on
/// from the headline as one sentence does: its first separator goes).
fn verdict_box(
    headline: &str,
    rest: &str,
    severity: Option<Severity>,
    out: &mut dyn Write,
) -> io::Result<()> {
    let class = match severity {
        Some(Severity::Error) => "verdict error",
        Some(Severity::Warning) => "verdict warning",
        _ => "verdict",
    };
    writeln!(
        out,
        "<div class=\"{class}\" id=\"verdict\"><p class=\"headline\">{}</p>",
        message(headline)
    )?;
    let detail = rest.trim_start_matches([';', ':', '.', ' ']);
    if !detail.is_empty() {
        writeln!(
            out,
            "<p class=\"detail\">{}</p>",
            message(&capitalized(detail))
        )?;
    }
    writeln!(out, "</div>")
}

fn runs_html(runs: &[(String, bool)]) -> String {
    runs.iter()
        .map(|(t, changed)| {
            if *changed {
                format!("<mark class=\"chg\">{}</mark>", h(t))
            } else {
                h(t)
            }
        })
        .collect()
}

/// When a period labelled as the time course labels them begins
/// (`2026-11-03T10:00` an hour, `2026-11-03` a day), and how long it
/// lasts, in seconds.
fn period_start(label: &str) -> Option<(i64, i64)> {
    let (full, step) = if label.len() == 10 {
        (format!("{label}T00:00:00.000000000Z"), 86_400)
    } else {
        (format!("{label}:00.000000000Z"), 3_600)
    };
    crate::timestamp::Timestamp::parse(&full).map(|t| (t.nanos().div_euclid(1_000_000_000), step))
}

/// A time course, one bar per period: working setups grey below, failed
/// ones red above them, on one scale whose top is named on the left; a
/// stretch with no setup between two periods is drawn as a break in the
/// axis (its length in the tooltip and in the legend). The legend and
/// the labels are the page's own text, at its size at any width; the
/// bars are an SVG that stretches to the width. No script, no font.
fn timeline(t: &page::Timeline, out: &mut dyn Write) -> io::Result<()> {
    let top = t
        .periods
        .iter()
        .map(|p| p.1 + p.2)
        .max()
        .unwrap_or(0)
        .max(1);
    // Periods more than one step apart have a break between them.
    let starts: Vec<Option<(i64, i64)>> = t.periods.iter().map(|p| period_start(&p.0)).collect();
    let gap_after = |i: usize| -> Option<i64> {
        let ((a, step), (b, _)) = (starts.get(i).copied()??, starts.get(i + 1).copied()??);
        (b - a > step).then_some((b - a) / step - 1)
    };
    let breaks = (0..t.periods.len())
        .filter(|&i| gap_after(i).is_some())
        .count();
    let slots = t.periods.len() + breaks;
    let (w, hgt) = (1000.0, 160.0);
    let slot = w / slots.max(1) as f64;
    let scale = (hgt - 4.0) / top as f64;
    let unit = match starts.first().copied().flatten() {
        Some((_, 86_400)) => ("day", "days"),
        _ => ("hour", "hours"),
    };
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {hgt}\" \
         preserveAspectRatio=\"none\" role=\"img\" \
         aria-label=\"failures (red) and working transfers (grey) per {}\">",
        unit.0
    );
    let mut x = 0.0;
    let mut gaps = Vec::new();
    for (i, (label, failed, worked)) in t.periods.iter().enumerate() {
        let (hw, hf) = (*worked as f64 * scale, *failed as f64 * scale);
        let bw = (slot * 0.8).max(1.0);
        let _ = write!(
            svg,
            "<g><title>{}: {failed} failures, {worked} worked</title>\
             <rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{bw:.1}\" height=\"{hw:.1}\" fill=\"#b0bec5\"/>\
             <rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{bw:.1}\" height=\"{hf:.1}\" fill=\"#c62828\"/></g>",
            h(label),
            hgt - hw,
            hgt - hw - hf
        );
        x += slot;
        if let Some(n) = gap_after(i) {
            let what = format!(
                "no transfer or refused command for {n} {} after {}",
                if n == 1 { unit.0 } else { unit.1 },
                label
            );
            let shown = format!(
                "no transfer or refused command for {n} {} after <time>{}</time>",
                if n == 1 { unit.0 } else { unit.1 },
                h(label)
            );
            let _ = write!(
                svg,
                "<g class=\"gap\"><title>{}</title><rect x=\"{x:.1}\" y=\"0\" width=\"{:.1}\" height=\"{hgt}\" fill=\"url(#tl-hatch)\"/></g>",
                h(&what),
                slot * 0.8
            );
            gaps.push(shown);
            x += slot;
        }
    }
    svg.push_str(
        "<defs><pattern id=\"tl-hatch\" width=\"8\" height=\"8\" patternUnits=\"userSpaceOnUse\" \
         patternTransform=\"rotate(45)\"><rect width=\"3\" height=\"8\" fill=\"#cfd8dc\"/></pattern></defs></svg>",
    );
    let first = t.periods.first().map_or("", |p| p.0.as_str());
    let last = t.periods.last().map_or("", |p| p.0.as_str());
    let mut legend = format!(
        "<span class=\"sw f\"></span> failures (failed transfers and refused commands) \
         <span class=\"sw w\"></span> working transfers, per {} (UTC)",
        unit.0
    );
    if !gaps.is_empty() {
        let _ = write!(
            legend,
            "; <span class=\"sw g\"></span> a stretch with none ({})",
            gaps.join("; ")
        );
    }
    writeln!(
        out,
        "<figure class=\"timeline\"><figcaption class=\"tl-legend\">{legend}</figcaption>\
         <div class=\"tl-plot\"><div class=\"tl-y\"><span>{top}</span><span>0</span></div>{svg}\
         <div></div><div class=\"tl-x\"><time>{}</time><time>{}</time></div></div></figure>",
        h(first),
        h(last)
    )
}

/// A dialogue diagram as SVG (it scrolls on its own on a narrow page).
fn ladder(l: &Ladder, out: &mut dyn Write) -> io::Result<()> {
    let (lanes, rows, cut) = (&l.lanes, &l.rows, l.cut);
    let lane_x = |i: usize| 150 + i * 380;
    let width = lane_x(lanes.len() - 1) + 150;
    let row = 26;
    let top = 40;
    let height = top + row * (rows.len() + 1) + if cut > 0 { row } else { 0 };
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<div class=\"ladder\"><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" role=\"img\">\
         <defs><marker id=\"ah\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerUnits=\"userSpaceOnUse\" markerWidth=\"9\" markerHeight=\"9\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#37474f\"/></marker>\
         <marker id=\"ahbad\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerUnits=\"userSpaceOnUse\" markerWidth=\"9\" markerHeight=\"9\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#c62828\"/></marker>\
         <marker id=\"ahrew\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerUnits=\"userSpaceOnUse\" markerWidth=\"9\" markerHeight=\"9\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#00838f\"/></marker>\
         <marker id=\"ahdata\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerUnits=\"userSpaceOnUse\" markerWidth=\"9\" markerHeight=\"9\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#1565c0\"/></marker></defs>"
    );
    for (i, name) in lanes.iter().enumerate() {
        let x = lane_x(i);
        let _ = write!(
            svg,
            "<text class=\"lanehead\" x=\"{x}\" y=\"20\" text-anchor=\"middle\">{}</text>\
             <line class=\"lane\" x1=\"{x}\" y1=\"28\" x2=\"{x}\" y2=\"{}\"/>",
            h(name),
            height - 4
        );
    }
    for (k, a) in rows
        .iter()
        .enumerate()
        .flat_map(|(k, r)| r.iter().map(move |a| (k, a)))
    {
        let y = top + row * (k + 1);
        let (x1, x2) = (lane_x(a.from) as i64, lane_x(a.to) as i64);
        let dirn = if x2 > x1 { 1 } else { -1 };
        // The line's class, its arrowhead and its label's class.
        let (class, marker, tclass) = match a.stroke {
            Stroke::Ok => ("ok", "ah", ""),
            Stroke::Bad => ("bad", "ahbad", "tbad"),
            Stroke::Rewritten => ("rew", "ahrew", "trew"),
            Stroke::Data => ("data", "ahdata", "tdata"),
            Stroke::DataBad => ("databad", "ahbad", "tbad"),
        };
        if !a.note.is_empty() {
            let _ = write!(
                svg,
                "<text class=\"tnote\" x=\"6\" y=\"{y}\">{}</text>",
                h(&a.note)
            );
        }
        let _ = write!(
            svg,
            "<line class=\"{class}\" x1=\"{x1}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" marker-end=\"url(#{marker})\"/>",
            x2 - dirn * 2
        );
        if a.cross {
            let _ = write!(
                svg,
                "<text class=\"tbad\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">✗</text>",
                x2,
                y + 5
            );
        }
        // A label that could pass its lanes (and the arrowhead at one
        // end) in a wide or bold font is fitted to the room between.
        let shown = short(&a.label);
        let fit = if shown.chars().count() as f64 * LABEL_CHAR_PX > LABEL_ROOM {
            format!(" textLength=\"{LABEL_ROOM}\" lengthAdjust=\"spacingAndGlyphs\"")
        } else {
            String::new()
        };
        let _ = write!(
            svg,
            "<text class=\"{tclass}\" x=\"{}\" y=\"{}\" text-anchor=\"middle\"{fit}><title>{}</title>{}</text>",
            (x1 + x2) / 2,
            y - 5,
            h(&a.label),
            h(&shown)
        );
    }
    if cut > 0 {
        let _ = write!(
            svg,
            "<text class=\"tnote\" x=\"6\" y=\"{}\">… {cut} more rows not drawn</text>",
            height - 8
        );
    }
    svg.push_str("</svg></div>");
    writeln!(out, "{svg}")
}

fn sev(s: Severity) -> String {
    format!("<span class=\"sev-{0}\">{0}</span>", s.name())
}

fn inline(i: &Inline) -> String {
    match i {
        Inline::Text(t) => h(t),
        Inline::Code(c, kind) => {
            let class = match kind {
                Code::Bytes => "",
                Code::Id => " class=\"id\"",
                Code::Long => " class=\"h\"",
                Code::Filter => " class=\"f\"",
            };
            format!("<code{class}>{}</code>", h(c))
        }
        Inline::Message(m) => message(m),
        Inline::Strong(t) => format!("<b>{}</b>", h(t)),
        Inline::Sev(s) => sev(*s),
        Inline::Link { anchor, text } => format!("<a href=\"#{}\">{}</a>", h(anchor), h(text)),
        Inline::Cited(t) => page::cited(t)
            .into_iter()
            .map(|(s, url)| {
                if url {
                    format!("<a href=\"{0}\" rel=\"noreferrer\">{0}</a>", h(s))
                } else {
                    h(s)
                }
            })
            .collect(),
        Inline::Seq(v) => v.iter().map(inline).collect(),
    }
}

fn block(b: &Block, out: &mut dyn Write) -> io::Result<()> {
    match b {
        Block::Verdict {
            headline,
            rest,
            severity,
        } => verdict_box(headline, rest, *severity, out),
        Block::Heading {
            level,
            anchor,
            body,
        } => {
            let id = anchor
                .as_ref()
                .map(|a| format!(" id=\"{}\"", h(a)))
                .unwrap_or_default();
            writeln!(out, "<h{level}{id}>{}</h{level}>", inline(body))
        }
        Block::Para(i) => writeln!(out, "<p>{}</p>", inline(i)),
        Block::List(items) => {
            writeln!(out, "<ul>")?;
            for it in items {
                write!(out, "<li>{}", inline(&it.body))?;
                if !it.children.is_empty() {
                    write!(out, "<ul>")?;
                    for c in &it.children {
                        write!(out, "<li>{}</li>", inline(c))?;
                    }
                    write!(out, "</ul>")?;
                }
                writeln!(out, "</li>")?;
            }
            writeln!(out, "</ul>")
        }
        Block::Table(t) => {
            let heads: Vec<&str> = t.heads.iter().map(|(x, _)| x.as_str()).collect();
            rows_open(&heads, out)?;
            for r in &t.rows {
                let cells: Vec<String> = r.iter().map(inline).collect();
                rows_row(&heads, &cells, out)?;
            }
            writeln!(out, "</table>")
        }
        Block::Facts(rows) => {
            writeln!(out, "<table>")?;
            for (k, v) in rows {
                writeln!(out, "<tr><th>{}</th><td>{}</td></tr>", h(k), inline(v))?;
            }
            writeln!(out, "</table>")
        }
        Block::Diff {
            first,
            second,
            bytes,
            diff,
        } => match diff_runs(bytes, diff) {
            Some((a, b)) => writeln!(
                out,
                "<table class=\"diff\"><tr><td>{}</td><td class=\"line\">{}</td></tr>\
                 <tr><td>{}</td><td class=\"line\">{}</td></tr></table>",
                h(first),
                runs_html(&a),
                h(second),
                runs_html(&b)
            ),
            None => Ok(()),
        },
        Block::Legend(text) => writeln!(out, "<p class=\"legend\">{}</p>", message(text)),
        Block::Ladder(l) => ladder(l, out),
        Block::Timeline(t) => timeline(t, out),
        Block::Drawn(blocks) => blocks.iter().try_for_each(|b| block(b, out)),
    }
}

/// Writes a page.
pub fn write(p: &Page<'_>, out: &mut dyn Write) -> io::Result<()> {
    open(p.name, out)?;
    writeln!(out, "<h1>{}</h1>", h(&p.title))?;
    for b in &p.blocks {
        block(b, out)?;
    }
    close(p.header, out)
}

pub fn render(r: &Report<'_>, out: &mut dyn Write) -> io::Result<()> {
    write(&page::analyze(r), out)
}

pub fn render_compare(r: &CompareReport<'_>, out: &mut dyn Write) -> io::Result<()> {
    write(&page::compare(r), out)
}

pub fn render_batch(
    hd: &Header,
    b: &BatchSummary<'_>,
    inputs: &[Input],
    out: &mut dyn Write,
) -> io::Result<()> {
    write(&page::batch(hd, b, inputs), out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_text_cannot_become_markup() {
        assert_eq!(
            h("<img src=x onerror=\"a\">&'"),
            "&lt;img src=x onerror=&quot;a&quot;&gt;&amp;&#39;"
        );
        assert_eq!(
            message("sent `<b>` here"),
            "sent <code>&lt;b&gt;</code> here"
        );
        assert_eq!(message("odd ` tick <i>"), "odd ` tick &lt;i&gt;");
        assert_eq!(h("a\u{1b}b"), "a&#x1b;b");
    }
}
