//! The archive summary of `batch` and `merge` for people: what every
//! format says ([`BatchView`]) and the text rendering. The Markdown and
//! HTML page (`page/batch.rs`) says the same from the same view, in the
//! same order.
//!
//! Tables are cut to the rows that matter most (the JSON output has them
//! all) and say so when they are.

use super::model::BatchSummary;
use super::text::{Style, header, human_bytes, table};
use super::wording::capitalized;
use crate::batch::patterns::clients_in_words;
use crate::batch::record::{HostStats, ModeStats};
use crate::batch::summary::CaptureFindings;
use crate::batch::words::{self, count, label, thousands};
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

/// A feature's histogram as shown: (value, failures, worked) rows, the
/// values with the most failures first, the rest summed in a last row.
pub type Histogram = Vec<(String, u64, u64)>;

/// A table as every format shows it: its title, column heads and rows
/// (cells in our words, escaped where they come from outside).
pub struct Rows {
    pub title: String,
    pub heads: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

/// The heading over the data setups, with what its words mean.
pub const SETUPS_TITLE: &str = "Data setups (a transfer is a setup the client went on to use; unknown: \
     no data connection seen and no reply saying it failed)";
/// The heading over the patterns, with what they count.
pub const PATTERNS_TITLE: &str = "Patterns in the failures (failures: failed transfers and refused \
     commands; observations: sessions)";
/// The heading over the failures' onsets.
pub const SINCE_TITLE: &str = "Failures since when (whatever explains them)";

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

    /// A moment as precisely as the archive's time course is shown: the
    /// day (`2026-11-03`) where it spans days, else the minute
    /// (`2026-11-03 13:20 UTC`).
    fn when(&self, t: crate::timestamp::Timestamp) -> String {
        let (daily, _) = crate::batch::timeline::periods(&self.b.summary.totals.series);
        let s = t.rfc3339();
        if daily {
            s[..10].to_string()
        } else {
            format!("{} {} UTC", &s[..10], &s[11..16])
        }
    }

    /// The verdict in one sentence: the strongest pattern and since when
    /// it fails; else the failures no value explains; then the findings.
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
        if let Some(p) = s.patterns.first() {
            let since = p
                .since
                .as_ref()
                .and_then(|since| since.onset.map(|o| (since, o)))
                .map_or_else(String::new, |(since, o)| {
                    format!(
                        " — since {}: before it, {} with it worked",
                        self.when(since.first_failure.ts),
                        count(o.worked_before, "transfer", "transfers")
                    )
                });
            return format!("{}{since}. {counts}.", capitalized(&p.statement));
        }
        let failures: Vec<String> = s
            .totals
            .setups
            .iter()
            .filter(|(_, m)| m.failed + m.refused > 0)
            .map(|(mode, m)| failures_in_words(mode, m))
            .collect();
        if failures.is_empty() {
            return format!("{}.", capitalized(&counts));
        }
        let first = s
            .failures_since
            .iter()
            .map(|o| o.first_failure.ts)
            .min()
            .map_or_else(String::new, |t| format!(", the first on {}", self.when(t)));
        let why = if s.no_pattern.iter().any(|n| n.tested) {
            "no value of any feature explains them"
        } else {
            "too few sessions with failures to test any value"
        };
        format!(
            "{}{first}; {why}. {counts}.",
            capitalized(&failures.join(" and "))
        )
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
                    thousands(s.captures_with_read_errors),
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

    /// The transfers of each mode, and how they failed; None without any
    /// data setup.
    pub fn setups(&self) -> Option<Rows> {
        let m = &self.b.summary.totals.setups;
        if m.is_empty() {
            return None;
        }
        let rows = m
            .iter()
            .map(|(mode, s)| {
                let how: Vec<String> = s
                    .failures
                    .iter()
                    .map(|(k, n)| format!("{} {}", thousands(*n), words::failure(k)))
                    .collect();
                vec![
                    mode.clone(),
                    thousands(s.worked + s.failed + s.unknown),
                    thousands(s.worked),
                    thousands(s.failed),
                    thousands(s.unknown),
                    how.join(", "),
                ]
            })
            .collect();
        Some(Rows {
            title: SETUPS_TITLE.to_string(),
            heads: vec![
                "mode",
                "transfers",
                "worked",
                "failed",
                "unknown",
                "how they failed",
            ],
            rows,
        })
    }

    /// What the setups came to besides transfers: refused commands (with
    /// the server's reasons and how many sessions and clients they come
    /// from), setups nobody used, replies that set nothing up.
    pub fn setup_notes(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (mode, m) in &self.b.summary.totals.setups {
            if m.refused > 0 {
                out.push(refused_in_words(mode, m, &|i| self.b.summary.path_of(i)));
            }
            if m.unused > 0 {
                out.push(format!(
                    "Not used: {} {mode} {} that no transfer command or data connection followed (nor a hang): not transfers.",
                    thousands(m.unused),
                    if m.unused == 1 { "setup" } else { "setups" }
                ));
            }
            if m.not_setups > 0 {
                out.push(format!(
                    "Not setups: {} 227/228/229 {} that {} no PASV/LPSV/EPSV of the capture and led to no data connection.",
                    thousands(m.not_setups),
                    if m.not_setups == 1 { "reply" } else { "replies" },
                    if m.not_setups == 1 { "answers" } else { "answer" }
                ));
            }
        }
        out
    }

    /// Why the modes with failures have no pattern, one sentence each.
    pub fn no_pattern(&self) -> Vec<String> {
        self.b
            .summary
            .no_pattern
            .iter()
            .map(|n| format!("{}: {}.", capitalized(&n.mode), n.statement))
            .collect()
    }

    /// Since when the failures of each mode (and of both) happen.
    pub fn failures_since(&self) -> Vec<String> {
        self.b
            .summary
            .failures_since
            .iter()
            .map(|o| format!("{}.", capitalized(&o.statement)))
            .collect()
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
                .map(|(v, t)| (v, t.failures(), t.worked))
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

    /// The archive's transfers over time: ((column title, table title),
    /// per period its label and active failures/worked, passive
    /// failures/worked), the periods with none left out.
    pub fn time_course(&self) -> (Titles, Vec<(String, [u64; 4])>) {
        let (daily, periods) = crate::batch::timeline::periods(&self.b.summary.totals.series);
        let title = if daily {
            ("day (UTC)", "Transfers and refused commands by day (UTC)")
        } else {
            ("hour (UTC)", "Transfers and refused commands by hour (UTC)")
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

    /// Findings per rule, with what each rule means.
    pub fn findings_by_rule(&self) -> Vec<(String, u64, &'static str)> {
        self.b
            .summary
            .totals
            .findings_by_rule
            .iter()
            .map(|(rule, n)| {
                let what = crate::rules::Rule::ALL
                    .iter()
                    .find(|r| r.id() == rule)
                    .map_or("", |r| r.summary());
                (rule.clone(), *n, what)
            })
            .collect()
    }

    /// The servers' and the clients' tables, most failures first, cut to
    /// [`TOP`] rows.
    pub fn hosts(&self) -> Vec<Rows> {
        let t = &self.b.summary.totals;
        [
            ("Servers", "server", &t.servers, true),
            ("Clients", "client", &t.clients, false),
        ]
        .into_iter()
        .filter(|(_, _, m, _)| !m.is_empty())
        .map(|(title, what, m, software)| hosts(title, what, m, software))
        .collect()
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

/// "6 failed active transfers", "11 refused active commands, all from one
/// session", "2 failed active transfers and 3 refused active commands".
fn failures_in_words(mode: &str, m: &ModeStats) -> String {
    let mut parts = Vec::new();
    if m.failed > 0 {
        parts.push(count(
            m.failed,
            &format!("failed {mode} transfer"),
            &format!("failed {mode} transfers"),
        ));
    }
    if m.refused > 0 {
        parts.push(count(
            m.refused,
            &format!("refused {mode} command"),
            &format!("refused {mode} commands"),
        ));
    }
    let sessions = match m.failing_sessions {
        1 if m.failed + m.refused > 1 => ", all from one session".to_string(),
        1 => String::new(),
        n => format!(" in {} sessions", thousands(n)),
    };
    format!("{}{sessions}", parts.join(" and "))
}

/// The refused commands of a mode in one sentence: how many, from how many
/// sessions and clients, and the server's reasons by reply code (the
/// first reply of each, with where it is).
fn refused_in_words(mode: &str, m: &ModeStats, path: &dyn Fn(usize) -> String) -> String {
    let sessions = match m.refusing_sessions {
        1 if m.refused > 1 => "all from one session".to_string(),
        1 => "from one session".to_string(),
        n => format!("from {} sessions", thousands(n)),
    };
    let clients = match m.refusing_clients.only() {
        Some(c) => format!("of client {c}"),
        None => format!("of {}", clients_in_words(&m.refusing_clients)),
    };
    let reasons: Vec<String> = m
        .refusals
        .iter()
        .map(|(code, r)| {
            format!(
                "{} × {code} (the first answered the command in {} frame {}: `{}`)",
                thousands(r.count),
                path(r.first.capture),
                r.first.frame,
                r.reply
            )
        })
        .collect();
    format!(
        "Refused commands: {} {mode} {} the server answered 4xx/5xx (not transfers), {sessions} {clients}: {}.",
        thousands(m.refused),
        if m.refused == 1 {
            "command"
        } else {
            "commands"
        },
        reasons.join("; ")
    )
}

fn hosts(title: &str, what: &'static str, m: &BTreeMap<String, HostStats>, software: bool) -> Rows {
    let mut rows: Vec<(&String, &HostStats)> = m.iter().collect();
    let failures = |h: &HostStats| h.transfers_failed + h.commands_refused;
    rows.sort_by(|a, b| {
        (failures(b.1), b.1.error_findings, b.1.sessions, a.0).cmp(&(
            failures(a.1),
            a.1.error_findings,
            a.1.sessions,
            b.0,
        ))
    });
    let mut heads = vec![
        what,
        "sessions",
        "transfers worked",
        "failed",
        "refused commands",
        "error findings",
        "warnings",
    ];
    if software {
        heads.insert(1, "software");
    }
    let total = rows.len();
    let rows = rows
        .into_iter()
        .take(TOP)
        .map(|(h, st)| {
            let mut row = vec![
                escape(h.as_bytes()),
                thousands(st.sessions),
                thousands(st.transfers_worked),
                thousands(st.transfers_failed),
                thousands(st.commands_refused),
                thousands(st.error_findings),
                thousands(st.warning_findings),
            ];
            if software {
                row.insert(1, software_mix(&st.software));
            }
            row
        })
        .collect();
    Rows {
        title: format!(
            "{title}{}",
            cut(total, TOP, "by failures and error findings")
        ),
        heads,
        rows,
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
    header(h, style, out)?;
    writeln!(out)?;
    writeln!(out, "{}\n", wrapped("Verdict: ", "", &v.verdict(), style))?;
    let mut t = table(style);
    for (k, val) in v.archive_rows() {
        t.add_row(vec![k, val]);
    }
    writeln!(out, "Archive\n{t}")?;

    match v.setups() {
        None => writeln!(out, "\nNo data setups (PORT/EPRT/227/229…) seen.")?,
        Some(r) => rows(&r, out, style)?,
    }
    for note in v.setup_notes() {
        writeln!(out, "{}", wrapped("", "  ", &note, style))?;
    }
    patterns(&v, out, style)?;
    let since = v.failures_since();
    if !since.is_empty() {
        writeln!(out, "\n{SINCE_TITLE}")?;
        for line in since {
            writeln!(out, "{}", wrapped("  • ", "    ", &line, style))?;
        }
    }
    time_course(&v, out, style)?;
    let by_rule = v.findings_by_rule();
    if !by_rule.is_empty() {
        let mut t = table(style);
        t.set_header(vec!["rule", "findings", "what it means"]);
        for (rule, n, what) in by_rule {
            t.add_row(vec![rule, thousands(n), what.to_string()]);
        }
        writeln!(out, "\nFindings by rule\n{t}")?;
    }
    for r in v.hosts() {
        rows(&r, out, style)?;
    }
    let caps = v.captures_with_findings();
    if !caps.is_empty() {
        let mut t = table(style);
        t.set_header(vec!["capture", "sessions", "errors", "warnings"]);
        for c in caps.iter().take(TOP) {
            t.add_row(vec![
                escape(c.path.as_bytes()),
                thousands(c.sessions),
                thousands(c.error_findings),
                thousands(c.warning_findings),
            ]);
        }
        let title = format!(
            "Captures with error or warning findings{}",
            cut(caps.len(), TOP, "by error findings")
        );
        writeln!(out, "\n{}\n{t}", wrapped("", "", &title, style))?;
    }
    if !s.capture_errors.is_empty() {
        let mut t = table(style);
        t.set_header(vec!["capture", "error"]);
        for c in s.capture_errors.iter().take(TOP * 4) {
            t.add_row(vec![escape(c.path.as_bytes()), escape(c.error.as_bytes())]);
        }
        let title = format!(
            "Captures that could not be read (completely){}",
            cut(s.capture_errors.len(), TOP * 4, "in path order")
        );
        writeln!(out)?;
        style.para(out, &title, "", "    ")?;
        writeln!(out, "{t}")?;
    }
    let summary = format!(
        "Summary: {} capture(s), {} session(s), {} error, {} warning, {} info finding(s); exit code {}.",
        thousands(s.captures),
        thousands(s.totals.sessions),
        thousands(v.sev(Severity::Error)),
        thousands(v.sev(Severity::Warning)),
        thousands(v.sev(Severity::Info)),
        b.exit_code
    );
    writeln!(out)?;
    style.para(out, &summary, "", "    ")
}

/// `text` (our words, with bytes from outside already escaped) wrapped to
/// the style's width, the first line after `first`, the others after
/// `rest`, never broken inside a word (a URL, a hyphenated word).
fn wrapped(first: &str, rest: &str, text: &str, style: &Style) -> String {
    style.fill(&printable(text), first, rest)
}

/// A [`Rows`] table under its title.
fn rows(r: &Rows, out: &mut dyn Write, style: &Style) -> io::Result<()> {
    let mut t = table(style);
    t.set_header(r.heads.clone());
    for row in &r.rows {
        t.add_row(row.clone());
    }
    writeln!(out, "\n{}\n{t}", wrapped("", "", &r.title, style))
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

fn patterns(v: &BatchView<'_>, out: &mut dyn Write, style: &Style) -> io::Result<()> {
    let s = v.b.summary;
    if s.patterns.is_empty() {
        let none = v.no_pattern();
        if !none.is_empty() {
            writeln!(out, "\nPatterns")?;
        }
        for line in none {
            writeln!(out, "{}", wrapped("  • ", "    ", &line, style))?;
        }
        return Ok(());
    }
    writeln!(out, "\n{}", wrapped("", "", PATTERNS_TITLE, style))?;
    for p in &s.patterns {
        writeln!(out, "{}", wrapped("  • ", "    ", &p.statement, style))?;
        writeln!(out, "{}", wrapped("    ", "    ", &p.test, style))?;
        if !p.same_counts.is_empty() {
            let same = format!("the same counts: {}", p.same_counts.join(", "));
            writeln!(out, "{}", wrapped("    ", "    ", &same, style))?;
        }
        if let Some(since) = &p.since {
            writeln!(out, "{}", wrapped("    ", "    ", &since.statement, style))?;
        }
    }
    for line in v.no_pattern() {
        writeln!(out, "{}", wrapped("  • ", "    ", &line, style))?;
    }
    for (mode, feature, rows) in v.histograms() {
        let mut t = table(style);
        t.set_header(vec![label(feature), "failures".into(), "worked".into()]);
        for (val, f, w) in rows {
            t.add_row(vec![escape(val.as_bytes()), thousands(f), thousands(w)]);
        }
        writeln!(out, "{mode} setups by {}\n{t}", label(feature))?;
    }
    Ok(())
}

/// The transfers of the archive over time, by hour (or day), the periods
/// with none left out.
fn time_course(v: &BatchView<'_>, out: &mut dyn Write, style: &Style) -> io::Result<()> {
    let (title, rows) = v.time_course();
    if rows.is_empty() {
        return Ok(());
    }
    let mut t = table(style);
    t.set_header(vec![
        title.0.to_string(),
        "active failures".into(),
        "active worked".into(),
        "passive failures".into(),
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
