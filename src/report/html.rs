//! One self-contained HTML file: the Markdown report's content plus a
//! ladder (sequence) diagram of each FTP dialogue — client and server
//! lanes, and a firewall lane between them when two taps are compared —
//! with the data connections drawn and the lines behind a finding in red,
//! and byte diffs where the changed bytes stand out.
//!
//! No script, no external asset, no network: inline CSS and SVG only.
//! Every string from a capture is HTML-escaped (on top of being in escape
//! form already), so a capture cannot inject markup.

use super::batch::{BatchView, Input};
use super::evidence::{
    Span, capitalized, diff_runs, frame_list, limits_hit, session_filter, session_of, spans,
    verdict_parts, wire_name,
};
use super::model::{
    BatchSummary, CaptureView, CompareReport, Header, Report, SessionView, SetupView,
};
use crate::batch::patterns::{label, thousands};
use crate::compare::PairReport;
use crate::compare::align::{Aligned, Status};
use crate::rules::{Finding, Severity};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::{self, Write};

/// Rows drawn per ladder diagram (a long session is cut, and says so).
const LADDER_ROWS: usize = 300;
/// Characters of a line shown on an arrow (what fits between two lanes;
/// the whole line is in the tooltip).
const LABEL_CHARS: usize = 50;

/// HTML-escapes text.
pub(crate) fn h(s: &str) -> String {
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
pub(crate) fn message(s: &str) -> String {
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

fn frames(v: &[u64]) -> String {
    frame_list(v, 20)
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
.ladder .ok{stroke:#37474f}.ladder .bad{stroke:#c62828;stroke-width:2.5}.ladder .data{stroke:#1565c0;stroke-dasharray:6 4}
.ladder .databad{stroke:#c62828;stroke-dasharray:6 4;stroke-width:2}
.ladder .tbad{fill:#c62828;font-weight:bold}.ladder .tdata{fill:#1565c0}.ladder .tnote{fill:#78909c}
footer{margin-top:2em;color:#666;font-size:.9em}
.headline{font-size:1.25em;font-weight:600;margin:0 0 .4em}.verdict .detail{margin:0;font-size:.95em}
.legend{color:#546e7a;font-size:.9em;margin-top:.2em}
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

pub(crate) fn open(title: &str, out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>",
        h(title)
    )
}

pub(crate) fn close(hd: &Header, out: &mut dyn Write) -> io::Result<()> {
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
    findings: &[&Finding],
    out: &mut dyn Write,
) -> io::Result<()> {
    let class = match findings.iter().map(|f| f.severity).max() {
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

fn header_table(
    hd: &Header,
    caps: &[(&str, &CaptureView<'_>)],
    ss: &[SessionView<'_>],
    out: &mut dyn Write,
) -> io::Result<()> {
    writeln!(out, "<table>")?;
    writeln!(
        out,
        "<tr><th>Tool</th><td>{} {} (<code>{}</code>)</td></tr>",
        h(hd.tool.name),
        h(hd.tool.version),
        h(hd.command)
    )?;
    writeln!(
        out,
        "<tr><th>Time zone</th><td>{}</td></tr>",
        h(hd.time_zone)
    )?;
    let opts: Vec<String> = hd.options.iter().map(|(k, v)| format!("{k}={v}")).collect();
    writeln!(
        out,
        "<tr><th>Options</th><td>{}</td></tr>",
        if opts.is_empty() {
            "defaults".to_string()
        } else {
            format!("<code class=\"h\">{}</code>", h(&opts.join(", ")))
        }
    )?;
    for (n, (title, c)) in caps.iter().enumerate() {
        let i = c.info;
        let span = match (i.first_ts, i.last_ts) {
            (Some(a), Some(b)) => format!(", {a} – {b}"),
            _ => String::new(),
        };
        writeln!(
            out,
            "<tr><th>{}</th><td><code class=\"h\">{}</code> — {} bytes{}, {}, {} frames{}<br>SHA-256 {}{}</td></tr>",
            h(title),
            h(&crate::bytes::escape(i.path.as_bytes())),
            i.file_bytes,
            h(&i.compression.map(|z| format!(" {z}")).unwrap_or_default()),
            h(&i.format),
            i.frames,
            h(&span),
            i.sha256
                .as_deref()
                .map_or("not computed".into(), |s| format!(
                    "<code class=\"h\">{}</code>",
                    h(s)
                )),
            c.error
                .map(|e| format!("<br><b>Read error:</b> {}", h(&e.to_string())))
                .unwrap_or_default()
        )?;
        let limits = limits_hit(c, ss.iter().filter(|s| s.capture == n));
        if !limits.is_empty() {
            writeln!(
                out,
                "<tr><th>Limits hit</th><td>{}</td></tr>",
                message(&limits.join("; "))
            )?;
        }
    }
    writeln!(out, "</table>")
}

fn sev(s: Severity) -> String {
    format!("<span class=\"sev-{0}\">{0}</span>", s.name())
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

fn findings(
    fs: &[&Finding],
    ss: &[SessionView<'_>],
    names: &[&str],
    out: &mut dyn Write,
) -> io::Result<()> {
    if fs.is_empty() {
        return writeln!(out, "<p>No findings.</p>");
    }
    let heads = [
        "#",
        "Severity",
        "Rule",
        "Where",
        "Frames",
        "Wireshark filter",
    ];
    rows_open(&heads, out)?;
    for (n, f) in fs.iter().enumerate() {
        let cells = [
            format!("<a href=\"#f{0}\">{0}</a>", n + 1),
            sev(f.severity),
            format!("<code class=\"id\">{}</code>", h(f.rule.id())),
            format!(
                "{} {}",
                h(names.get(f.capture).copied().unwrap_or("")),
                h(&f.session)
            ),
            frames(&f.frames),
            format!(
                "<code class=\"f\">{}</code>",
                h(&session_filter(ss, f.capture, &f.session, &f.frames))
            ),
        ];
        rows_row(&heads, &cells, out)?;
    }
    writeln!(out, "</table>")?;
    for (n, f) in fs.iter().enumerate() {
        writeln!(
            out,
            "<h3 id=\"f{0}\">{0}. <code class=\"id\">{1}</code> {2}</h3>\n<p>{3}</p>\n<ul>",
            n + 1,
            h(f.rule.id()),
            sev(f.severity),
            message(&capitalized(&f.message))
        )?;
        writeln!(
            out,
            "<li><b>Where:</b> {} session {}, frames {}</li>",
            h(names.get(f.capture).copied().unwrap_or("")),
            h(&f.session),
            frames(&f.frames)
        )?;
        writeln!(
            out,
            "<li><b>Wireshark filter:</b> <code class=\"f\">{}</code></li>",
            h(&session_filter(ss, f.capture, &f.session, &f.frames))
        )?;
        if let Some(o) = &f.other {
            writeln!(
                out,
                "<li><b>At the other tap:</b> {} session {}, frames {}; filter <code class=\"f\">{}</code></li>",
                h(names.get(o.capture).copied().unwrap_or("")),
                h(&o.session),
                frames(&o.frames),
                h(&session_filter(ss, o.capture, &o.session, &o.frames))
            )?;
        }
        if let Some(sig) = f.signature {
            writeln!(
                out,
                "<li><b>Signature:</b> {} — {} ({})</li>",
                h(sig.device),
                h(sig.behaviour),
                h(sig.reference)
            )?;
        }
        writeln!(out, "</ul>")?;
        if let (Some(d), Some(first)) = (&f.diff, f.evidence.first())
            && let Some((a, b)) = diff_runs(&first.bytes.0, d)
        {
            let second = f.evidence.get(1).map_or("changed to", |e| e.what.as_str());
            writeln!(
                out,
                "<table class=\"diff\"><tr><td>{}</td><td class=\"line\">{}</td></tr>\
                 <tr><td>{}</td><td class=\"line\">{}</td></tr></table>\n<p>Diff: {}</p>",
                h(&first.what),
                runs_html(&a),
                h(second),
                runs_html(&b),
                message(&d.describe())
            )?;
        }
        if !f.evidence.is_empty() {
            let heads = ["Evidence", "Capture", "Frames", "Bytes"];
            rows_open(&heads, out)?;
            for e in &f.evidence {
                let c = e.capture.unwrap_or(f.capture);
                let cells = [
                    h(&e.what),
                    h(names.get(c).copied().unwrap_or("")),
                    frames(&e.frames),
                    format!("<code>{}</code>", h(&e.bytes.to_string())),
                ];
                rows_row(&heads, &cells, out)?;
            }
            writeln!(out, "</table>")?;
        }
        for (k, o) in f.also.iter().enumerate() {
            writeln!(
                out,
                "<p><b>Case {}</b> (frames {}): {}</p><ul>",
                k + 2,
                frames(&o.frames),
                message(&capitalized(&o.message))
            )?;
            for e in &o.evidence {
                writeln!(
                    out,
                    "<li>{}, frames {}: <code>{}</code></li>",
                    h(&e.what),
                    frames(&e.frames),
                    h(&e.bytes.to_string())
                )?;
            }
            writeln!(out, "</ul>")?;
        }
    }
    Ok(())
}

/// One arrow of a ladder diagram.
struct Arrow {
    from: usize,
    to: usize,
    label: String,
    /// `ok`, `bad`, `data` or `databad`.
    class: &'static str,
    /// Left margin: frame numbers.
    note: String,
    /// Ends at a lane with a cross (a dropped line).
    cross: bool,
}

/// An SVG sequence diagram: lanes named `lanes`, rows of arrows (the two
/// halves of a line through a firewall share a row).
fn ladder(lanes: &[&str], rows: &[Vec<Arrow>], cut: usize, out: &mut dyn Write) -> io::Result<()> {
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
         <defs><marker id=\"ah\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#37474f\"/></marker>\
         <marker id=\"ahbad\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#c62828\"/></marker>\
         <marker id=\"ahdata\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#1565c0\"/></marker></defs>"
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
        let marker = match a.class {
            "bad" | "databad" => "ahbad",
            "data" => "ahdata",
            _ => "ah",
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
            "<line class=\"{}\" x1=\"{x1}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" marker-end=\"url(#{marker})\"/>",
            a.class,
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
        let tclass = match a.class {
            "bad" | "databad" => "tbad",
            "data" => "tdata",
            _ => "",
        };
        let _ = write!(
            svg,
            "<text class=\"{tclass}\" x=\"{}\" y=\"{}\" text-anchor=\"middle\"><title>{}</title>{}</text>",
            (x1 + x2) / 2,
            y - 5,
            h(&a.label),
            h(&short(&a.label))
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

/// Frames that carry an error or warning finding of this session.
fn bad_frames(fs: &[&Finding], capture: usize, session: &str) -> BTreeSet<u64> {
    let mut set = BTreeSet::new();
    for f in fs {
        if f.severity == Severity::Info {
            continue;
        }
        if f.capture == capture && f.session == session {
            set.extend(f.frames.iter().copied());
        }
        if let Some(o) = &f.other
            && o.capture == capture
            && o.session == session
        {
            set.extend(o.frames.iter().copied());
        }
    }
    set
}

fn conn_label(c: &crate::ftp::data::DataConn) -> String {
    format!(
        "data :{} → {} {}",
        c.initiator.port(),
        c.acceptor,
        wire_name(&c.result())
    )
}

/// The data connections of a session as arrows between lanes `a` (the
/// client's side) and `b`, keyed by first frame; `tap` names the capture
/// in the frame note (`c`, `s`, or empty for a single capture).
fn data_arrows(s: &SessionView<'_>, a: usize, b: usize, tap: &str) -> Vec<(u64, Arrow)> {
    let client_ip = s
        .client
        .parse::<std::net::SocketAddr>()
        .ok()
        .map(|x| x.ip());
    s.data_connections
        .iter()
        .map(|c| {
            let from_client = Some(c.initiator.ip()) == client_ip;
            let good = c.result() == crate::ftp::data::ConnResult::Established;
            (
                c.first_frame,
                Arrow {
                    from: if from_client { a } else { b },
                    to: if from_client { b } else { a },
                    label: conn_label(c),
                    class: if good { "data" } else { "databad" },
                    note: format!("{tap}#{}", c.first_frame),
                    cross: false,
                },
            )
        })
        .collect()
}

fn session_ladder(s: &SessionView<'_>, fs: &[&Finding], out: &mut dyn Write) -> io::Result<()> {
    let bad = bad_frames(fs, s.capture, &s.id);
    let mut rows: Vec<(u64, Arrow)> = s
        .dialogue
        .iter()
        .map(|e| {
            let client = e.dir == crate::reassembly::connection::Side::Client;
            let hit = e.frames.iter().any(|f| bad.contains(f));
            (
                e.frames.first().copied().unwrap_or(0),
                Arrow {
                    from: if client { 0 } else { 1 },
                    to: if client { 1 } else { 0 },
                    label: e.text.to_string(),
                    class: if hit { "bad" } else { "ok" },
                    note: format!("#{}", frames(&e.frames)),
                    cross: false,
                },
            )
        })
        .collect();
    rows.extend(data_arrows(s, 0, 1, ""));
    rows.sort_by_key(|r| r.0);
    let cut = rows.len().saturating_sub(LADDER_ROWS);
    let arrows: Vec<Vec<Arrow>> = rows
        .into_iter()
        .take(LADDER_ROWS)
        .map(|r| vec![r.1])
        .collect();
    writeln!(
        out,
        "<h3>Session {} — {} → {}{}</h3>",
        h(&s.id),
        h(&s.client),
        h(&s.server),
        s.tcp_stream
            .map(|n| format!(" (tcp.stream {n})"))
            .unwrap_or_default()
    )?;
    ladder(
        &[
            &format!("client {}", s.client),
            &format!("server {}", s.server),
        ],
        &arrows,
        cut,
        out,
    )
}

fn pair_ladder(p: &PairReport, r: &CompareReport<'_>, out: &mut dyn Write) -> io::Result<()> {
    let cs = session_of(&r.sessions, 0, &p.client_side_session);
    let ss = session_of(&r.sessions, 1, &p.server_side_session);
    let bad_c = bad_frames(&r.findings, 0, &p.client_side_session);
    let bad_s = bad_frames(&r.findings, 1, &p.server_side_session);
    // Rows in the order of the alignment; a line seen at both taps is two
    // arrows on one row: sender → firewall, firewall → receiver.
    let mut arrows: Vec<(u64, Vec<Arrow>)> = Vec::new();
    for l in &p.lines {
        arrows.push((row_key(l), line_arrows(l, &bad_c, &bad_s)));
    }
    if let Some(s) = cs {
        for (k, a) in data_arrows(s, 0, 1, "c") {
            arrows.push((k << 20, vec![a]));
        }
    }
    if let Some(s) = ss {
        for (k, a) in data_arrows(s, 1, 2, "s") {
            arrows.push((server_key(p, k), vec![a]));
        }
    }
    arrows.sort_by_key(|r| r.0);
    let cut = arrows.len().saturating_sub(LADDER_ROWS);
    let rows: Vec<Vec<Arrow>> = arrows.into_iter().take(LADDER_ROWS).map(|r| r.1).collect();
    writeln!(
        out,
        "<h3>Session {} (client side) = {} (server side)</h3>\n<p>Matched with {} confidence: {}.</p>\n<p>{} identical, {} modified, {} dropped, {} injected line(s).</p>",
        h(&p.client_side_session),
        h(&p.server_side_session),
        h(p.matched.confidence),
        h(&p.matched.explanation),
        p.counts.identical,
        p.counts.modified,
        p.counts.dropped,
        p.counts.injected
    )?;
    ladder(
        &[
            &format!("client {}", p.client.client_side),
            "firewall",
            &format!("server {}", p.server.server_side),
        ],
        &rows,
        cut,
        out,
    )
}

/// Sort keys for a compare ladder: position in time, by the client-side
/// frame where there is one (the alignment's order), else interpolated.
fn row_key(l: &Aligned) -> u64 {
    let c = l
        .client_side
        .as_ref()
        .and_then(|s| s.frames.first().copied());
    let s = l
        .server_side
        .as_ref()
        .and_then(|s| s.frames.first().copied());
    (c.unwrap_or(0) << 20) | s.unwrap_or(0)
}

fn server_key(p: &PairReport, frame: u64) -> u64 {
    // The client-side frame of the last line the server side saw before it.
    let before = p
        .lines
        .iter()
        .filter(|l| {
            l.server_side
                .as_ref()
                .and_then(|s| s.frames.first())
                .is_some_and(|&f| f <= frame)
        })
        .filter_map(|l| {
            l.client_side
                .as_ref()
                .and_then(|s| s.frames.first().copied())
        })
        .max()
        .unwrap_or(0);
    (before << 20) | frame
}

fn line_arrows(l: &Aligned, bad_c: &BTreeSet<u64>, bad_s: &BTreeSet<u64>) -> Vec<Arrow> {
    let to_server = l.dir == crate::reassembly::connection::Side::Client;
    let hit = |x: &Option<crate::compare::align::Seen>, bad: &BTreeSet<u64>| {
        x.as_ref()
            .is_some_and(|s| s.frames.iter().any(|f| bad.contains(f)))
    };
    let changed = l.status != Status::Identical;
    let class = |x: &Option<crate::compare::align::Seen>, bad| {
        if changed || hit(x, bad) { "bad" } else { "ok" }
    };
    let mut v = Vec::new();
    // The client-side half: between lanes 0 and 1.
    if let Some(c) = &l.client_side {
        v.push(Arrow {
            from: if to_server { 0 } else { 1 },
            to: if to_server { 1 } else { 0 },
            label: c.text.to_string(),
            class: class(&l.client_side, bad_c),
            note: format!("c#{}", frames(&c.frames)),
            cross: to_server && l.server_side.is_none(),
        });
    }
    if let Some(s) = &l.server_side {
        v.push(Arrow {
            from: if to_server { 1 } else { 2 },
            to: if to_server { 2 } else { 1 },
            label: s.text.to_string(),
            class: class(&l.server_side, bad_s),
            note: format!("s#{}", frames(&s.frames)),
            cross: !to_server && l.client_side.is_none(),
        });
    }
    // One row: the left margin names the frames at both taps.
    let note: Vec<String> = v.iter().map(|a| a.note.clone()).collect();
    for (i, a) in v.iter_mut().enumerate() {
        a.note = if i == 0 {
            note.join(" ")
        } else {
            String::new()
        };
    }
    v
}

fn sessions_table(ss: &[SessionView<'_>], names: &[&str], out: &mut dyn Write) -> io::Result<()> {
    if ss.is_empty() {
        return writeln!(out, "<p>No FTP control session found.</p>");
    }
    let heads = [
        "Capture",
        "Session",
        "Client → server",
        "tcp.stream",
        "Frames",
        "Start",
        "Commands",
        "Data setups",
        "Server",
    ];
    rows_open(&heads, out)?;
    for s in ss {
        let setups: Vec<String> = s.data_setups.iter().map(SetupView::label).collect();
        let cells = [
            h(names.get(s.capture).copied().unwrap_or("")),
            h(&s.id),
            format!(
                "<code class=\"id\">{}</code> → <code class=\"id\">{}</code>",
                h(&s.client),
                h(&s.server)
            ),
            s.tcp_stream.map(|n| n.to_string()).unwrap_or_default(),
            format!("{}–{}", s.first_frame, s.last_frame),
            format!("<code class=\"id\">{}</code>", h(&s.start.to_string())),
            s.dialogue
                .iter()
                .filter(|e| e.dir == crate::reassembly::connection::Side::Client)
                .count()
                .to_string(),
            h(&setups.join(", ")),
            h(s.server_software.map_or("", |x| x.name)),
        ];
        rows_row(&heads, &cells, out)?;
    }
    writeln!(out, "</table>")
}

pub fn render(r: &Report<'_>, out: &mut dyn Write) -> io::Result<()> {
    let names: Vec<String> = (1..=r.captures.len())
        .map(|i| format!("capture {i}"))
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    open("portmortem report", out)?;
    writeln!(out, "<h1>FTP forensic report</h1>")?;
    let (headline, rest) = verdict_parts(&r.findings, r.summary.sessions, &names);
    verdict_box(&headline, &rest, &r.findings, out)?;
    let caps: Vec<(&str, &CaptureView<'_>)> = names.iter().copied().zip(&r.captures).collect();
    header_table(&r.header, &caps, &r.sessions, out)?;
    writeln!(out, "<h2>Findings</h2>")?;
    findings(&r.findings, &r.sessions, &names, out)?;
    writeln!(out, "<h2>Dialogues</h2>")?;
    writeln!(
        out,
        "<p class=\"legend\">One row per line of each dialogue, the client on the left. \
         <code>#13</code> is frame 13 of the capture (as Wireshark numbers it). Red: a line \
         behind an error or warning finding. Dashed: a data connection, from the side that \
         opened it (red when it failed). Each arrow shows the start of its line; hover for all of it.</p>"
    )?;
    for s in &r.sessions {
        session_ladder(s, &r.findings, out)?;
    }
    writeln!(out, "<h2>Sessions</h2>")?;
    sessions_table(&r.sessions, &names, out)?;
    close(&r.header, out)
}

pub fn render_compare(r: &CompareReport<'_>, out: &mut dyn Write) -> io::Result<()> {
    let names = ["client-side capture", "server-side capture"];
    open("portmortem report: both sides of the firewall", out)?;
    writeln!(
        out,
        "<h1>FTP forensic report: both sides of the firewall</h1>"
    )?;
    let (headline, rest) = match r.no_common_traffic {
        Some(_) => (r.sides.explanation.clone(), String::new()),
        None => verdict_parts(&r.findings, r.summary.sessions, &names),
    };
    verdict_box(&headline, &rest, &r.findings, out)?;
    let caps: Vec<(&str, &CaptureView<'_>)> = ["Client-side capture", "Server-side capture"]
        .into_iter()
        .zip(&r.captures)
        .collect();
    header_table(&r.header, &caps, &r.sessions, out)?;
    writeln!(out, "<p>{}</p>", h(&r.sides.explanation))?;
    let (between, own): (Vec<&Finding>, Vec<&Finding>) =
        r.findings.iter().partition(|f| f.other.is_some());
    writeln!(out, "<h2>Differences between the taps</h2>")?;
    findings(&between, &r.sessions, &names, out)?;
    writeln!(out, "<h2>Dialogues through the firewall</h2>")?;
    writeln!(
        out,
        "<p class=\"legend\">One row per line, drawn as it crossed the firewall: the half \
         between client and firewall as the client-side capture saw it, the half between \
         firewall and server as the server-side capture saw it. <code>c#13</code> is frame 13 \
         of the client-side capture, <code>s#24</code> frame 24 of the server-side capture. \
         ✗: the other capture does not have the line. Red: a line that differs between the \
         captures or is behind an error or warning finding. Dashed: a data connection, drawn \
         between the lanes of the capture that saw it (<code>c#</code> or <code>s#</code>). \
         Each arrow shows the start of its line; hover for all of it.</p>"
    )?;
    for p in r.pairs {
        pair_ladder(p, r, out)?;
    }
    if !own.is_empty() {
        writeln!(out, "<h2>Each capture's own findings</h2>")?;
        findings(&own, &r.sessions, &names, out)?;
    }
    writeln!(out, "<h2>Sessions</h2>")?;
    sessions_table(&r.sessions, &names, out)?;
    close(&r.header, out)
}

pub fn render_batch(
    hd: &Header,
    b: &BatchSummary<'_>,
    inputs: &[Input],
    out: &mut dyn Write,
) -> io::Result<()> {
    let s = b.summary;
    let v = BatchView::new(b);
    open("portmortem report: archive", out)?;
    writeln!(
        out,
        "<h1>FTP forensic report: {} captures</h1>",
        thousands(s.captures)
    )?;
    let class = if s.findings.get(&Severity::Error).is_some_and(|&n| n > 0) {
        "verdict error"
    } else {
        "verdict"
    };
    writeln!(
        out,
        "<p class=\"{class}\" id=\"verdict\"><b>Verdict:</b> {}</p>",
        h(&v.verdict())
    )?;
    writeln!(out, "<table>")?;
    writeln!(
        out,
        "<tr><th>Tool</th><td>{} {} (<code>{}</code>)</td></tr><tr><th>Time zone</th><td>{}</td></tr>",
        h(hd.tool.name),
        h(hd.tool.version),
        h(hd.command),
        h(hd.time_zone)
    )?;
    for (k, val) in v.archive_rows() {
        writeln!(out, "<tr><th>{}</th><td>{}</td></tr>", h(&k), h(&val))?;
    }
    writeln!(out, "</table>")?;
    if !s.patterns.is_empty() {
        writeln!(out, "<h2>Patterns in the failures</h2><ul>")?;
        for p in &s.patterns {
            writeln!(
                out,
                "<li>{} <small>(Fisher p = {:.1e})</small></li>",
                h(&p.statement),
                p.p_value
            )?;
        }
        writeln!(out, "</ul>")?;
        for (mode, feature, rows) in v.histograms() {
            let by = format!("{mode} setups by {}", label(feature));
            let heads = [by.as_str(), "failed", "worked"];
            rows_open(&heads, out)?;
            for (val, f, w) in rows {
                let cells = [
                    format!("<code>{}</code>", h(&val)),
                    thousands(f),
                    thousands(w),
                ];
                rows_row(&heads, &cells, out)?;
            }
            writeln!(out, "</table>")?;
        }
    }
    if !s.findings_by_rule.is_empty() {
        writeln!(out, "<h2>Findings by rule</h2>")?;
        let heads = ["Rule", "Findings"];
        rows_open(&heads, out)?;
        for (rule, n) in &s.findings_by_rule {
            let cells = [
                format!("<code class=\"id\">{}</code>", h(rule)),
                thousands(*n),
            ];
            rows_row(&heads, &cells, out)?;
        }
        writeln!(out, "</table>")?;
    }
    let caps = v.captures_with_findings();
    if !caps.is_empty() {
        writeln!(out, "<h2>Captures with error or warning findings</h2>")?;
        let heads = ["Capture", "Sessions", "Errors", "Warnings"];
        rows_open(&heads, out)?;
        for c in caps {
            let cells = [
                format!(
                    "<code class=\"h\">{}</code>",
                    h(&crate::bytes::escape(c.path.as_bytes()))
                ),
                thousands(c.sessions),
                thousands(c.error_findings),
                thousands(c.warning_findings),
            ];
            rows_row(&heads, &cells, out)?;
        }
        writeln!(out, "</table>")?;
    }
    if !inputs.is_empty() {
        writeln!(out, "<h2>Inputs</h2>")?;
        let heads = ["#", "Capture", "SHA-256"];
        rows_open(&heads, out)?;
        for i in inputs {
            let cells = [
                i.index.to_string(),
                format!(
                    "<code class=\"h\">{}</code>",
                    h(&crate::bytes::escape(i.path.as_bytes()))
                ),
                format!(
                    "<code class=\"h\">{}</code>",
                    h(i.sha256.as_deref().unwrap_or("not computed"))
                ),
            ];
            rows_row(&heads, &cells, out)?;
        }
        writeln!(out, "</table>")?;
    }
    if !s.capture_errors.is_empty() {
        writeln!(out, "<h2>Captures that could not be read</h2>")?;
        let heads = ["Capture", "Error"];
        rows_open(&heads, out)?;
        for c in &s.capture_errors {
            let cells = [
                format!(
                    "<code class=\"h\">{}</code>",
                    h(&crate::bytes::escape(c.path.as_bytes()))
                ),
                h(&c.error),
            ];
            rows_row(&heads, &cells, out)?;
        }
        writeln!(out, "</table>")?;
    }
    close(hd, out)
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
