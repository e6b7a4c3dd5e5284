//! Text output of `batch` and `merge`: the archive summary for people.
//!
//! Tables are cut to the rows that matter most (the JSON output has them
//! all) and say so when they are.

use super::model::{BatchSummary, Header};
use super::text::{Style, header, human_bytes, table};
use crate::batch::patterns::{label, thousands};
use crate::batch::record::{HostStats, ModeStats};
use crate::bytes::escape;
use crate::rules::Severity;
use std::collections::BTreeMap;
use std::io::{self, Write};

/// Rows shown in the longer tables.
const TOP: usize = 15;

pub fn render(
    h: &Header,
    b: &BatchSummary<'_>,
    style: &Style,
    out: &mut dyn Write,
) -> io::Result<()> {
    let s = b.summary;
    header(h, out)?;
    writeln!(out)?;
    let sev = |v: Severity| s.findings.get(&v).copied().unwrap_or(0);
    let k = &s.packets;
    let mut t = table(style);
    t.add_row(vec![
        "captures".to_string(),
        format!(
            "{} ({}), {} with read errors; {} other files skipped",
            thousands(s.captures),
            human_bytes(s.bytes),
            thousands(s.captures_with_errors),
            thousands(s.skipped_files)
        ),
    ]);
    t.add_row(vec![
        "frames".to_string(),
        format!(
            "{}: TCP {} (FTP control {}, data connections {}, other {}), not TCP {}",
            thousands(k.frames),
            thousands(k.tcp_segments),
            thousands(k.control_segments),
            thousands(k.data_segments),
            thousands(k.other_tcp_segments),
            thousands(k.skipped.values().sum())
        ),
    ]);
    t.add_row(vec!["FTP sessions".to_string(), thousands(s.sessions)]);
    let mut f = format!(
        "{} error, {} warning, {} info",
        thousands(sev(Severity::Error)),
        thousands(sev(Severity::Warning)),
        thousands(sev(Severity::Info))
    );
    if s.findings_not_kept > 0 {
        f += &format!(
            " ({} beyond the per-capture listing cap, counted only)",
            thousands(s.findings_not_kept)
        );
    }
    t.add_row(vec!["findings".to_string(), f]);
    if k.flows_evicted > 0 {
        t.add_row(vec![
            "flow table".to_string(),
            format!(
                "{} flows evicted when the table was full (--max-flows)",
                thousands(k.flows_evicted)
            ),
        ]);
    }
    writeln!(out, "Archive\n{t}")?;

    setups(&s.setups, out, style)?;
    patterns(b, out, style)?;
    if !s.findings_by_rule.is_empty() {
        let mut t = table(style);
        t.set_header(vec!["rule", "findings", "what it means"]);
        for (rule, n) in &s.findings_by_rule {
            let what = crate::rules::RULES
                .iter()
                .find(|r| r.id == rule)
                .map_or("", |r| r.summary);
            t.add_row(vec![rule.clone(), thousands(*n), what.to_string()]);
        }
        writeln!(out, "\nFindings by rule\n{t}")?;
    }
    hosts("Servers", "server", &s.servers, true, out, style)?;
    hosts("Clients", "client", &s.clients, false, out, style)?;
    if !s.captures_with_findings.is_empty() {
        let mut rows: Vec<_> = s.captures_with_findings.iter().collect();
        rows.sort_by(|a, b| {
            (b.error_findings, b.warning_findings, a.index).cmp(&(
                a.error_findings,
                a.warning_findings,
                b.index,
            ))
        });
        let mut t = table(style);
        t.set_header(vec!["capture", "sessions", "errors", "warnings"]);
        for c in rows.iter().take(TOP) {
            t.add_row(vec![
                escape(c.path.as_bytes()),
                thousands(c.sessions),
                thousands(c.error_findings),
                thousands(c.warning_findings),
            ]);
        }
        writeln!(
            out,
            "\nCaptures with error or warning findings{}\n{t}",
            cut(rows.len(), TOP, "by error findings")
        )?;
    }
    if !s.capture_errors.is_empty() {
        let mut t = table(style);
        t.set_header(vec!["capture", "error"]);
        for c in s.capture_errors.iter().take(TOP * 4) {
            t.add_row(vec![escape(c.path.as_bytes()), escape(c.error.as_bytes())]);
        }
        writeln!(
            out,
            "\nCaptures that could not be read (completely){}\n{t}",
            cut(s.capture_errors.len(), TOP * 4, "in path order")
        )?;
    }
    writeln!(
        out,
        "\nSummary: {} capture(s), {} session(s), {} error, {} warning, {} info finding(s); exit code {}.",
        thousands(s.captures),
        thousands(s.sessions),
        thousands(sev(Severity::Error)),
        thousands(sev(Severity::Warning)),
        thousands(sev(Severity::Info)),
        b.exit_code
    )
}

/// " (first 15 of 40, by …)" when a table is cut to `limit` rows.
fn cut(n: usize, limit: usize, by: &str) -> String {
    if n > limit {
        format!(
            " (first {limit} of {}, {by}; all in the JSON output)",
            thousands(n as u64)
        )
    } else {
        String::new()
    }
}

fn setups(m: &BTreeMap<String, ModeStats>, out: &mut dyn Write, style: &Style) -> io::Result<()> {
    if m.is_empty() {
        return writeln!(out, "\nNo data setups (PORT/EPRT/227/229…) seen.");
    }
    let mut t = table(style);
    t.set_header(vec![
        "mode",
        "setups",
        "worked",
        "failed",
        "unknown",
        "how they failed",
    ]);
    for (mode, s) in m {
        let how: Vec<String> = s
            .failures
            .iter()
            .map(|(k, n)| format!("{} {k}", thousands(*n)))
            .collect();
        t.add_row(vec![
            mode.clone(),
            thousands(s.worked + s.failed + s.unknown),
            thousands(s.worked),
            thousands(s.failed),
            thousands(s.unknown),
            how.join(", "),
        ]);
    }
    writeln!(
        out,
        "\nData setups (unknown: no data connection and no reply saying it failed)\n{t}"
    )
}

fn patterns(b: &BatchSummary<'_>, out: &mut dyn Write, style: &Style) -> io::Result<()> {
    let s = b.summary;
    let failed: u64 = s.setups.values().map(|m| m.failed).sum();
    if failed == 0 {
        return Ok(());
    }
    if s.patterns.is_empty() {
        return writeln!(
            out,
            "\nPatterns: no single value of any octet, port byte, server, client or hour \
             explains the {} failed data setups.",
            thousands(failed)
        );
    }
    writeln!(out, "\nPatterns in the failures")?;
    for p in &s.patterns {
        writeln!(
            out,
            "  • {} (Fisher p = {:.1e})",
            escape(p.statement.as_bytes()),
            p.p_value
        )?;
        if !p.same_counts.is_empty() {
            writeln!(
                out,
                "    the same counts: {}",
                escape(p.same_counts.join(", ").as_bytes())
            )?;
        }
    }
    // The histogram behind the strongest patterns.
    let mut shown: Vec<(&str, &str)> = Vec::new();
    for p in s.patterns.iter().take(3) {
        if shown.contains(&(p.mode.as_str(), p.feature.as_str())) {
            continue;
        }
        shown.push((&p.mode, &p.feature));
        let Some(values) = s
            .setups
            .get(&p.mode)
            .and_then(|m| m.features.get(&p.feature))
        else {
            continue;
        };
        let mut rows: Vec<(&String, u64, u64)> = values
            .iter()
            .map(|(v, t)| (v, t.failed, t.worked))
            .collect();
        rows.sort_by(|a, b| (b.1, b.2, a.0).cmp(&(a.1, a.2, b.0)));
        let mut t = table(style);
        t.set_header(vec![label(&p.feature), "failed".into(), "worked".into()]);
        let shown_rows = rows.len().min(8);
        for (v, f, w) in &rows[..shown_rows] {
            t.add_row(vec![escape(v.as_bytes()), thousands(*f), thousands(*w)]);
        }
        if rows.len() > shown_rows {
            let rest = &rows[shown_rows..];
            t.add_row(vec![
                format!("{} other values", thousands(rest.len() as u64)),
                thousands(rest.iter().map(|r| r.1).sum()),
                thousands(rest.iter().map(|r| r.2).sum()),
            ]);
        }
        writeln!(out, "{} setups by {}\n{t}", p.mode, label(&p.feature))?;
    }
    Ok(())
}

fn hosts(
    title: &str,
    what: &str,
    m: &BTreeMap<String, HostStats>,
    software: bool,
    out: &mut dyn Write,
    style: &Style,
) -> io::Result<()> {
    if m.is_empty() {
        return Ok(());
    }
    let mut rows: Vec<(&String, &HostStats)> = m.iter().collect();
    rows.sort_by(|a, b| {
        (b.1.setups_failed, b.1.error_findings, b.1.sessions, a.0).cmp(&(
            a.1.setups_failed,
            a.1.error_findings,
            a.1.sessions,
            b.0,
        ))
    });
    let mut t = table(style);
    let mut head = vec![
        what,
        "sessions",
        "setups worked",
        "failed",
        "error findings",
        "warnings",
    ];
    if software {
        head.insert(1, "software");
    }
    t.set_header(head);
    for (h, st) in rows.iter().take(TOP) {
        let mut row = vec![
            escape(h.as_bytes()),
            thousands(st.sessions),
            thousands(st.setups_worked),
            thousands(st.setups_failed),
            thousands(st.error_findings),
            thousands(st.warning_findings),
        ];
        if software {
            row.insert(1, st.software.clone().unwrap_or_default());
        }
        t.add_row(row);
    }
    writeln!(
        out,
        "\n{title}{}\n{t}",
        cut(rows.len(), TOP, "by failed setups and error findings")
    )
}
