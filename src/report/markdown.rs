//! Markdown to paste into a ticket (GitHub, GitLab and Jira-flavoured
//! Markdown): the verdict first, then the findings table, then each
//! finding's evidence with a Wireshark filter, then the sessions.
//!
//! Everything from a capture is already in escape form (printable ASCII);
//! here it is further kept from being read as Markdown or HTML: quoted
//! lines go in code spans sized to their content, the rest has its
//! special characters escaped, and `|` is escaped inside tables.

use super::batch::{BatchView, Input};
use super::evidence::{
    Span, aligned, capitalized, diff_runs, frame_list, limits_hit, session_filter, spans, verdict,
    wire_name,
};
use super::model::{
    BatchSummary, CaptureView, CompareReport, Header, Report, SessionView, SetupView,
};
use crate::batch::patterns::{label, thousands};
use crate::rules::{Finding, Severity};
use std::io::{self, Write};

/// Plain text with Markdown and HTML syntax made literal.
pub(crate) fn md(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '#' | '|' | '~' | '!' => {
                out.push('\\');
                out.push(c);
            }
            // A control character (a file name's ESC, a stray CR) is
            // written as its escape, never raw.
            c if c.is_control() => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("\\\\x{b:02x}"));
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// A code span holding `s` exactly (delimited by more backticks than `s`
/// has in a row); in a table, `|` is escaped, which GFM tables require
/// even inside code.
pub(crate) fn code(s: &str, in_table: bool) -> String {
    if s.is_empty() {
        return String::new();
    }
    let longest = s.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') || s.starts_with(' ') {
        " "
    } else {
        ""
    };
    let body = if in_table {
        s.replace('|', "\\|")
    } else {
        s.to_string()
    };
    format!("{fence}{pad}{body}{pad}{fence}")
}

/// One of our messages, whose quoted lines are between backticks: the
/// quotes become code spans, the rest plain text.
pub(crate) fn message(s: &str, in_table: bool) -> String {
    spans(s)
        .into_iter()
        .map(|sp| match sp {
            Span::Code(c) => code(c, in_table),
            Span::Text(t) => md(t),
            Span::Backtick => "\\`".into(),
        })
        .collect()
}

fn frames(v: &[u64]) -> String {
    frame_list(v, 20)
}

fn header_table(
    h: &Header,
    caps: &[(&str, &CaptureView<'_>)],
    ss: &[SessionView<'_>],
    out: &mut dyn Write,
) -> io::Result<()> {
    writeln!(out, "| | |")?;
    writeln!(out, "|---|---|")?;
    writeln!(
        out,
        "| Tool | {} {} (`{}`) |",
        h.tool.name, h.tool.version, h.command
    )?;
    writeln!(out, "| Time zone | {} |", h.time_zone)?;
    let opts: Vec<String> = h.options.iter().map(|(k, v)| format!("{k}={v}")).collect();
    writeln!(
        out,
        "| Options | {} |",
        if opts.is_empty() {
            "defaults".to_string()
        } else {
            code(&opts.join(", "), true)
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
            "| {title} | {} — {} bytes{}, {}, {} frames{span} |",
            code(&crate::bytes::escape(i.path.as_bytes()), true),
            i.file_bytes,
            i.compression.map(|z| format!(" {z}")).unwrap_or_default(),
            md(&i.format),
            i.frames
        )?;
        writeln!(
            out,
            "| SHA-256 | {} |",
            i.sha256
                .as_deref()
                .map_or("not computed".into(), |h| code(h, true))
        )?;
        if let Some(e) = c.error {
            writeln!(out, "| **Read error** | {} |", md(&e.to_string()))?;
        }
        let limits = limits_hit(c, ss.iter().filter(|s| s.capture == n));
        if !limits.is_empty() {
            writeln!(
                out,
                "| Limits hit | {} |",
                message(&limits.join("; "), true)
            )?;
        }
    }
    writeln!(out)
}

fn sev(s: Severity) -> String {
    match s {
        Severity::Error => "**error**".into(),
        s => s.name().into(),
    }
}

/// The findings table and each finding's evidence.
fn findings(
    fs: &[&Finding],
    ss: &[SessionView<'_>],
    names: &[&str],
    out: &mut dyn Write,
) -> io::Result<()> {
    if fs.is_empty() {
        return writeln!(out, "No findings.\n");
    }
    writeln!(
        out,
        "| # | Severity | Rule | Where | Frames | Wireshark filter |"
    )?;
    writeln!(out, "|---:|---|---|---|---|---|")?;
    for (n, f) in fs.iter().enumerate() {
        writeln!(
            out,
            "| {} | {} | `{}` | {} {} | {} | {} |",
            n + 1,
            sev(f.severity),
            f.rule,
            md(names.get(f.capture).copied().unwrap_or("")),
            f.session,
            frames(&f.frames),
            code(&session_filter(ss, f.capture, &f.session, &f.frames), true)
        )?;
    }
    writeln!(out)?;
    for (n, f) in fs.iter().enumerate() {
        writeln!(out, "### {}. `{}` ({})\n", n + 1, f.rule, f.severity.name())?;
        writeln!(out, "{}\n", message(&capitalized(&f.message), false))?;
        let cap = names.get(f.capture).copied().unwrap_or("");
        writeln!(
            out,
            "- **Where:** {} session {}, frames {}",
            md(cap),
            f.session,
            frames(&f.frames)
        )?;
        writeln!(
            out,
            "- **Wireshark filter:** {}",
            code(&session_filter(ss, f.capture, &f.session, &f.frames), false)
        )?;
        if let Some(o) = &f.other {
            let other = names.get(o.capture).copied().unwrap_or("");
            writeln!(
                out,
                "- **At the other tap:** {} session {}, frames {}; filter {}",
                md(other),
                o.session,
                frames(&o.frames),
                code(&session_filter(ss, o.capture, &o.session, &o.frames), false)
            )?;
        }
        if let Some(sig) = f.signature {
            writeln!(
                out,
                "- **Signature:** {} — {} ({})",
                md(sig.device),
                md(sig.behaviour),
                md(sig.reference)
            )?;
        }
        if f.occurrences > 1 {
            writeln!(out, "- **Occurrences:** {}", f.occurrences)?;
        }
        writeln!(out)?;
        for (k, o) in f.also.iter().enumerate() {
            writeln!(
                out,
                "- **Case {}** (frames {}): {}",
                k + 2,
                frames(&o.frames),
                message(&capitalized(&o.message), false)
            )?;
            for e in &o.evidence {
                writeln!(
                    out,
                    "  - {}, frames {}: {}",
                    md(&e.what),
                    frames(&e.frames),
                    code(&e.bytes.to_string(), false)
                )?;
            }
        }
        if !f.also.is_empty() {
            writeln!(out)?;
        }
        if !f.evidence.is_empty() {
            writeln!(out, "| Evidence | Capture | Frames | Bytes |")?;
            writeln!(out, "|---|---|---|---|")?;
            for e in &f.evidence {
                let c = e.capture.unwrap_or(f.capture);
                writeln!(
                    out,
                    "| {} | {} | {} | {} |",
                    md(&e.what),
                    md(names.get(c).copied().unwrap_or("")),
                    frames(&e.frames),
                    code(&e.bytes.to_string(), true)
                )?;
            }
            writeln!(out)?;
        }
        if let (Some(d), Some(first)) = (&f.diff, f.evidence.first()) {
            let second = f.evidence.get(1).map_or("changed to", |e| e.what.as_str());
            let w = first.what.len().max(second.len());
            writeln!(out, "```text")?;
            if let Some((a, b, marks)) = aligned(&first.bytes.0, d) {
                writeln!(out, "{:w$}  {a}", first.what)?;
                writeln!(out, "{second:w$}  {b}")?;
                writeln!(out, "{:w$}  {marks}", "")?;
            } else if let Some((a, b)) = diff_runs(&first.bytes.0, d) {
                let join =
                    |r: &[(String, bool)]| r.iter().map(|x| x.0.as_str()).collect::<String>();
                writeln!(out, "{:w$}  {}", first.what, join(&a))?;
                writeln!(out, "{second:w$}  {}", join(&b))?;
            }
            writeln!(out, "```")?;
            writeln!(out, "Diff: {}\n", message(&d.describe(), false))?;
        }
    }
    Ok(())
}

fn sessions(ss: &[SessionView<'_>], names: &[&str], out: &mut dyn Write) -> io::Result<()> {
    if ss.is_empty() {
        return writeln!(out, "No FTP control session found.\n");
    }
    writeln!(
        out,
        "| Capture | Session | Client → server | tcp.stream | Frames | Start | Commands | Data setups | Server | End |"
    )?;
    writeln!(out, "|---|---|---|---:|---|---|---:|---|---|---|")?;
    for s in ss {
        let setups: Vec<String> = s.data_setups.iter().map(SetupView::label).collect();
        writeln!(
            out,
            "| {} | {} | {} → {} | {} | {}–{} | {} | {} | {} | {} | {} |",
            md(names.get(s.capture).copied().unwrap_or("")),
            s.id,
            s.client,
            s.server,
            s.tcp_stream.map(|n| n.to_string()).unwrap_or_default(),
            s.first_frame,
            s.last_frame,
            s.start,
            s.dialogue
                .iter()
                .filter(|e| e.dir == crate::reassembly::connection::Side::Client)
                .count(),
            md(&setups.join(", ")),
            md(s.server_software.map_or("", |x| x.name)),
            wire_name(&s.end_reason)
        )?;
    }
    writeln!(out)
}

fn footer(h: &Header, out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "---\n_Generated by {} {}; times in {}; passwords redacted unless `show_passwords` is among the options._",
        h.tool.name, h.tool.version, h.time_zone
    )
}

pub fn render(r: &Report<'_>, out: &mut dyn Write) -> io::Result<()> {
    let names: Vec<String> = (1..=r.captures.len())
        .map(|i| format!("capture {i}"))
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    writeln!(out, "# FTP forensic report\n")?;
    writeln!(
        out,
        "**Verdict:** {}\n",
        message(&verdict(&r.findings, r.summary.sessions, &names), false)
    )?;
    let caps: Vec<(&str, &CaptureView<'_>)> = names.iter().copied().zip(&r.captures).collect();
    header_table(&r.header, &caps, &r.sessions, out)?;
    writeln!(out, "## Findings\n")?;
    findings(&r.findings, &r.sessions, &names, out)?;
    writeln!(out, "## Sessions\n")?;
    sessions(&r.sessions, &names, out)?;
    footer(&r.header, out)
}

pub fn render_compare(r: &CompareReport<'_>, out: &mut dyn Write) -> io::Result<()> {
    let names = ["client-side capture", "server-side capture"];
    writeln!(out, "# FTP forensic report: both sides of the firewall\n")?;
    let verdict = match r.no_common_traffic {
        Some(_) => r.sides.explanation.clone(),
        None => verdict(&r.findings, r.summary.sessions, &names),
    };
    writeln!(out, "**Verdict:** {}\n", message(&verdict, false))?;
    let caps: Vec<(&str, &CaptureView<'_>)> = ["Client-side capture", "Server-side capture"]
        .into_iter()
        .zip(&r.captures)
        .collect();
    header_table(&r.header, &caps, &r.sessions, out)?;
    writeln!(out, "{}\n", md(&r.sides.explanation))?;
    let (between, own): (Vec<&Finding>, Vec<&Finding>) =
        r.findings.iter().partition(|f| f.other.is_some());
    writeln!(out, "## Differences between the taps\n")?;
    findings(&between, &r.sessions, &names, out)?;
    for p in r.pairs {
        writeln!(
            out,
            "## Session {} (client side) = {} (server side)\n",
            p.client_side_session, p.server_side_session
        )?;
        writeln!(
            out,
            "Matched with {} confidence: {}.\n",
            p.matched.confidence,
            md(&p.matched.explanation)
        )?;
        writeln!(
            out,
            "{} identical, {} modified, {} dropped, {} injected line(s).\n",
            p.counts.identical, p.counts.modified, p.counts.dropped, p.counts.injected
        )?;
        let changed: Vec<_> = p
            .lines
            .iter()
            .filter(|l| l.status != crate::compare::align::Status::Identical)
            .collect();
        if !changed.is_empty() {
            writeln!(
                out,
                "| Dir | Status | Client-side frames | Client side | Server-side frames | Server side |"
            )?;
            writeln!(out, "|---|---|---|---|---|---|")?;
            for l in changed {
                let side = |x: &Option<crate::compare::align::Seen>| match x {
                    Some(s) => (frames(&s.frames), code(&s.text.to_string(), true)),
                    None => (String::new(), "—".into()),
                };
                let (cf, ct) = side(&l.client_side);
                let (sf, st) = side(&l.server_side);
                writeln!(
                    out,
                    "| {} | {} | {cf} | {ct} | {sf} | {st} |",
                    if l.dir == crate::reassembly::connection::Side::Client {
                        "→"
                    } else {
                        "←"
                    },
                    wire_name(&l.status)
                )?;
            }
            writeln!(out)?;
        }
    }
    if !own.is_empty() {
        writeln!(out, "## Each capture's own findings\n")?;
        findings(&own, &r.sessions, &names, out)?;
    }
    writeln!(out, "## Sessions\n")?;
    sessions(&r.sessions, &names, out)?;
    footer(&r.header, out)
}

pub fn render_batch(
    h: &Header,
    b: &BatchSummary<'_>,
    inputs: &[Input],
    out: &mut dyn Write,
) -> io::Result<()> {
    let s = b.summary;
    let v = BatchView::new(b);
    writeln!(
        out,
        "# FTP forensic report: {} captures\n",
        thousands(s.captures)
    )?;
    writeln!(out, "**Verdict:** {}\n", message(&v.verdict(), false))?;
    writeln!(out, "| | |\n|---|---|")?;
    writeln!(
        out,
        "| Tool | {} {} (`{}`) |",
        h.tool.name, h.tool.version, h.command
    )?;
    writeln!(out, "| Time zone | {} |", h.time_zone)?;
    for (k, val) in v.archive_rows() {
        writeln!(out, "| {} | {} |", md(&k), md(&val))?;
    }
    writeln!(out)?;
    if !s.patterns.is_empty() {
        writeln!(out, "## Patterns in the failures\n")?;
        for p in &s.patterns {
            writeln!(out, "- {} (Fisher p = {:.1e})", md(&p.statement), p.p_value)?;
        }
        writeln!(out)?;
        for (mode, feature, rows) in v.histograms() {
            writeln!(
                out,
                "| {mode} setups by {} | failed | worked |",
                md(&label(feature))
            )?;
            writeln!(out, "|---|---:|---:|")?;
            for (val, f, w) in rows {
                writeln!(
                    out,
                    "| {} | {} | {} |",
                    code(&val, true),
                    thousands(f),
                    thousands(w)
                )?;
            }
            writeln!(out)?;
        }
    }
    if !s.findings_by_rule.is_empty() {
        writeln!(
            out,
            "## Findings by rule\n\n| Rule | Findings |\n|---|---:|"
        )?;
        for (rule, n) in &s.findings_by_rule {
            writeln!(out, "| `{rule}` | {} |", thousands(*n))?;
        }
        writeln!(out)?;
    }
    let caps = v.captures_with_findings();
    if !caps.is_empty() {
        writeln!(out, "## Captures with error or warning findings\n")?;
        writeln!(
            out,
            "| Capture | Sessions | Errors | Warnings |\n|---|---:|---:|---:|"
        )?;
        for c in caps {
            writeln!(
                out,
                "| {} | {} | {} | {} |",
                code(&crate::bytes::escape(c.path.as_bytes()), true),
                thousands(c.sessions),
                thousands(c.error_findings),
                thousands(c.warning_findings)
            )?;
        }
        writeln!(out)?;
    }
    if !inputs.is_empty() {
        writeln!(
            out,
            "## Inputs\n\n| # | Capture | SHA-256 |\n|---:|---|---|"
        )?;
        for i in inputs {
            writeln!(
                out,
                "| {} | {} | {} |",
                i.index,
                code(&crate::bytes::escape(i.path.as_bytes()), true),
                i.sha256
                    .as_deref()
                    .map_or("not computed".into(), |x| code(x, true))
            )?;
        }
        writeln!(out)?;
    }
    if !s.capture_errors.is_empty() {
        writeln!(
            out,
            "## Captures that could not be read\n\n| Capture | Error |\n|---|---|"
        )?;
        for c in &s.capture_errors {
            writeln!(
                out,
                "| {} | {} |",
                code(&crate::bytes::escape(c.path.as_bytes()), true),
                md(&c.error)
            )?;
        }
        writeln!(out)?;
    }
    footer(h, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_from_a_capture_becomes_markup() {
        assert_eq!(md("<script>*x*|"), "&lt;script&gt;\\*x\\*\\|");
        assert_eq!(code("a`b", false), "``a`b``");
        assert_eq!(code("`x", true), "`` `x ``");
        assert_eq!(code("a|b", true), "`a\\|b`");
        assert_eq!(
            message("sent `PORT 1` then <b>", false),
            "sent `PORT 1` then &lt;b&gt;"
        );
        // An odd backtick leaves the tail as escaped text.
        assert_eq!(message("a `b` c `d <e>", false), "a `b` c \\`d &lt;e&gt;");
    }
}
