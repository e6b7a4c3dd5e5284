//! The archive summary of `batch` and `merge` for people: what every
//! format says ([`BatchView`]) and the text rendering.
//!
//! Tables are cut to the rows that matter most (the JSON output has them
//! all) and say so when they are.

use super::model::BatchSummary;
use super::text::{Style, header, human_bytes, keep_whole, table};
use crate::batch::record::{HostStats, ModeStats};
use crate::batch::summary::CaptureFindings;
use crate::batch::words::{count, label, thousands};
use crate::escape::{escape, printable};
use crate::header::Header;
use crate::rules::Severity;
use std::collections::BTreeMap;
use std::io::{self, Write};

/// Rows shown in the longer tables.
pub const TOP: usize = 15;
/// Histogram rows shown per feature.
const HISTOGRAM_ROWS: usize = 8;

/// An input of the archive, for the provenance table of a report.
pub struct Input {
    pub index: usize,
    pub path: String,
    pub sha256: Option<String>,
}

/// A feature's histogram as shown: (value, failed, worked) rows, the
/// values with the most failures first, the rest summed in a last row.
pub type Histogram = Vec<(String, u64, u64)>;

/// What the text, Markdown and HTML summaries all say.
pub struct BatchView<'a> {
    pub b: &'a BatchSummary<'a>,
}

impl<'a> BatchView<'a> {
    pub fn new(b: &'a BatchSummary<'a>) -> Self {
        BatchView { b }
    }

    fn sev(&self, v: Severity) -> u64 {
        self.b
            .summary
            .totals
            .findings_by_severity
            .get(&v)
            .copied()
            .unwrap_or(0)
    }

    /// The verdict in one sentence.
    pub fn verdict(&self) -> String {
        let s = self.b.summary;
        let with_errors = s
            .captures_with_findings
            .iter()
            .filter(|c| c.error_findings > 0)
            .count();
        let counts = format!(
            "{} of {} {} error findings ({} error, {} warning findings in {})",
            thousands(with_errors as u64),
            count(s.captures, "capture", "captures"),
            if with_errors == 1 { "has" } else { "have" },
            thousands(self.sev(Severity::Error)),
            thousands(self.sev(Severity::Warning)),
            count(s.totals.sessions, "session", "sessions")
        );
        match s.patterns.first() {
            Some(p) => {
                let mut c = p.statement.chars();
                let first: String = c
                    .next()
                    .map(|x| x.to_uppercase().chain(c).collect())
                    .unwrap_or_default();
                format!("{first}. {counts}.")
            }
            None => format!("{counts}."),
        }
    }

    /// (name, value) rows describing the archive.
    pub fn archive_rows(&self) -> Vec<(String, String)> {
        let s = self.b.summary;
        let k = &s.totals.packets;
        let mut rows = vec![
            (
                "captures".to_string(),
                format!(
                    "{} ({}), {} with read errors; {} skipped (not captures, duplicates, special files)",
                    thousands(s.captures),
                    human_bytes(s.bytes),
                    thousands(s.captures_with_errors),
                    count(s.skipped_files, "file", "files")
                ),
            ),
            (
                "frames".to_string(),
                format!(
                    "{}: TCP {} (FTP control {}{}, data connections {}{}, after close {}, other {}), not TCP {}",
                    thousands(k.frames),
                    thousands(k.tcp_segments),
                    thousands(k.control_segments),
                    match k.not_sessions.segments {
                        0 => String::new(),
                        n => format!(", not sessions {}", thousands(n)),
                    },
                    thousands(k.data_segments),
                    match k.unannounced_segments {
                        0 => String::new(),
                        n => format!(", unannounced connections {}", thousands(n)),
                    },
                    thousands(k.after_close_segments),
                    thousands(k.other_tcp_segments),
                    thousands(k.skipped.values().sum())
                ),
            ),
            ("FTP sessions".to_string(), thousands(s.totals.sessions)),
        ];
        let mut f = format!(
            "{} error, {} warning, {} info",
            thousands(self.sev(Severity::Error)),
            thousands(self.sev(Severity::Warning)),
            thousands(self.sev(Severity::Info))
        );
        if s.totals.findings_not_kept > 0 {
            f += &format!(
                " ({} beyond the per-capture listing cap, counted only)",
                thousands(s.totals.findings_not_kept)
            );
        }
        rows.push(("findings".to_string(), f));
        if k.flows_evicted > 0 {
            rows.push((
                "flow table".to_string(),
                format!(
                    "{} flows evicted when the table was full (--max-flows)",
                    thousands(k.flows_evicted)
                ),
            ));
        }
        if k.flows_evicted_for_memory > 0 {
            rows.push((
                "memory".to_string(),
                format!(
                    "{} flows evicted to keep live flows under --max-memory-mb",
                    thousands(k.flows_evicted_for_memory)
                ),
            ));
        }
        if k.unnumbered_tcp_segments > 0 {
            rows.push((
                "tcp.stream".to_string(),
                format!(
                    "{} segments without a number (over a million conversations in a capture)",
                    thousands(k.unnumbered_tcp_segments)
                ),
            ));
        }
        rows
    }

    /// The histograms behind the strongest patterns: (mode, feature, rows).
    pub fn histograms(&self) -> Vec<(&'a str, &'a str, Histogram)> {
        let s = self.b.summary;
        let mut out: Vec<(&str, &str, Histogram)> = Vec::new();
        for p in s.patterns.iter().take(3) {
            if out.iter().any(|(m, f, _)| *m == p.mode && *f == p.feature) {
                continue;
            }
            let Some(values) = s
                .totals
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
            let shown = rows.len().min(HISTOGRAM_ROWS);
            let mut h: Histogram = rows[..shown]
                .iter()
                .map(|(v, f, w)| ((*v).clone(), *f, *w))
                .collect();
            if rows.len() > shown {
                let rest = &rows[shown..];
                h.push((
                    format!("{} other values", thousands(rest.len() as u64)),
                    rest.iter().map(|r| r.1).sum(),
                    rest.iter().map(|r| r.2).sum(),
                ));
            }
            out.push((&p.mode, &p.feature, h));
        }
        out
    }

    /// The archive's data setups over time: ((column title, table title),
    /// per period its label and active failed/worked, passive
    /// failed/worked), the periods with no setup left out.
    pub fn time_course(&self) -> (Titles, Vec<(String, [u64; 4])>) {
        let (daily, periods) = crate::batch::timeline::periods(&self.b.summary.totals.series);
        let title = if daily {
            ("day (UTC)", "Data setups by day (UTC)")
        } else {
            ("hour (UTC)", "Data setups by hour (UTC)")
        };
        let rows = periods
            .into_iter()
            .filter(|(_, m)| m.iter().any(|&(f, w)| f + w > 0))
            .map(|(t, m)| {
                let when = t.rfc3339();
                let label = if daily {
                    when[..10].to_string()
                } else {
                    format!("{}:00", &when[..13])
                };
                (label, [m[0].0, m[0].1, m[1].0, m[1].1])
            })
            .collect();
        (title, rows)
    }

    /// Captures with error or warning findings, most errors first.
    pub fn captures_with_findings(&self) -> Vec<&'a CaptureFindings> {
        let mut rows: Vec<&CaptureFindings> =
            self.b.summary.captures_with_findings.iter().collect();
        rows.sort_by(|a, b| {
            (b.error_findings, b.warning_findings, a.index).cmp(&(
                a.error_findings,
                a.warning_findings,
                b.index,
            ))
        });
        rows
    }
}

pub fn render(
    h: &Header,
    b: &BatchSummary<'_>,
    style: &Style,
    out: &mut dyn Write,
) -> io::Result<()> {
    let s = b.summary;
    let v = BatchView::new(b);
    header(h, out)?;
    writeln!(out)?;
    writeln!(out, "Verdict: {}\n", printable(&v.verdict()))?;
    let mut t = table(style);
    for (k, val) in v.archive_rows() {
        t.add_row(vec![k, val]);
    }
    writeln!(out, "Archive\n{t}")?;

    setups(&s.totals.setups, out, style)?;
    patterns(&v, out, style)?;
    time_course(&v, out, style)?;
    if !s.totals.findings_by_rule.is_empty() {
        let mut t = table(style);
        t.set_header(vec!["rule", "findings", "what it means"]);
        for (rule, n) in &s.totals.findings_by_rule {
            let what = crate::rules::Rule::ALL
                .iter()
                .find(|r| r.id() == rule)
                .map_or("", |r| r.summary());
            t.add_row(vec![rule.clone(), thousands(*n), what.to_string()]);
        }
        keep_whole(&mut t, &[], style);
        writeln!(out, "\nFindings by rule\n{t}")?;
    }
    hosts("Servers", "server", &s.totals.servers, true, out, style)?;
    hosts("Clients", "client", &s.totals.clients, false, out, style)?;
    let rows = v.captures_with_findings();
    if !rows.is_empty() {
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
        thousands(s.totals.sessions),
        thousands(v.sev(Severity::Error)),
        thousands(v.sev(Severity::Warning)),
        thousands(v.sev(Severity::Info)),
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
    keep_whole(&mut t, &[], style);
    writeln!(
        out,
        "\nData setups (unknown: no data connection and no reply saying it failed)\n{t}"
    )
}

fn patterns(v: &BatchView<'_>, out: &mut dyn Write, style: &Style) -> io::Result<()> {
    let s = v.b.summary;
    let failed: u64 = s.totals.setups.values().map(|m| m.failed).sum();
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
            printable(&p.statement),
            p.p_value
        )?;
        if !p.same_counts.is_empty() {
            writeln!(
                out,
                "    the same counts: {}",
                printable(&p.same_counts.join(", "))
            )?;
        }
        if let Some(since) = &p.since {
            writeln!(out, "    {}", printable(&since.statement))?;
        }
    }
    for (mode, feature, rows) in v.histograms() {
        let mut t = table(style);
        t.set_header(vec![label(feature), "failed".into(), "worked".into()]);
        for (val, f, w) in rows {
            t.add_row(vec![escape(val.as_bytes()), thousands(f), thousands(w)]);
        }
        writeln!(out, "{mode} setups by {}\n{t}", label(feature))?;
    }
    Ok(())
}

/// The data setups of the archive over time, by hour (or day), the
/// periods with none left out.
fn time_course(v: &BatchView<'_>, out: &mut dyn Write, style: &Style) -> io::Result<()> {
    let (title, rows) = v.time_course();
    if rows.is_empty() {
        return Ok(());
    }
    let mut t = table(style);
    t.set_header(vec![
        title.0.to_string(),
        "active failed".into(),
        "active worked".into(),
        "passive failed".into(),
        "passive worked".into(),
    ]);
    for (label, n) in rows {
        let mut row = vec![label];
        row.extend(n.iter().map(|&x| thousands(x)));
        t.add_row(row);
    }
    writeln!(out, "\n{}\n{t}", title.1)
}

/// A table's column title and its own title.
pub type Titles = (&'static str, &'static str);

/// The software an address served, most sessions first, with counts
/// where there is more than one ("vsftpd 28, unknown 28, GNU inetutils
/// ftpd 4").
fn software_mix(m: &BTreeMap<String, u64>) -> String {
    let mut v: Vec<(&String, &u64)> = m.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    match v.as_slice() {
        [(name, _)] => escape(name.as_bytes()),
        _ => v
            .iter()
            .map(|(name, n)| format!("{} {}", escape(name.as_bytes()), thousands(**n)))
            .collect::<Vec<_>>()
            .join(", "),
    }
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
            row.insert(1, software_mix(&st.software));
        }
        t.add_row(row);
    }
    keep_whole(&mut t, &[], style);
    writeln!(
        out,
        "\n{title}{}\n{t}",
        cut(rows.len(), TOP, "by failed setups and error findings")
    )
}
