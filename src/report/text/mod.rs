//! Text output: tables for people at a terminal.
//!
//! Renders the same [`Report`] as the JSON output. Every byte from a
//! capture is already escaped there; colour is used only on a terminal and
//! never when NO_COLOR is set.

mod compare;

use super::model::{Entry, Report, SessionView};
use super::wording::{aligned, capped, frame_list, limits_hit, wire_name};
use crate::escape::escape;
use crate::rules::{Finding, Severity};
use comfy_table::{Attribute, Cell, Color, ContentArrangement, Table, presets};
pub(crate) use compare::lines_not_listed;
pub use compare::render_compare;
use std::fmt::Write as _;
use std::io::{self, Write};

pub struct Style {
    pub color: bool,
    /// Width to wrap tables to when not on a terminal.
    pub width: u16,
    /// The width is the reader's (`$COLUMNS`, a terminal): tables keep
    /// within it. Otherwise a table grows past it rather than cut a word.
    pub fit: bool,
    /// Print every session's dialogue.
    pub dialogue: bool,
}

impl Style {
    /// The style for an output: its width and whether that width is the
    /// reader's (`$COLUMNS`, a terminal) come from one look at both.
    pub fn for_output(color: bool, to_terminal: bool, dialogue: bool) -> Self {
        let given = super::text_width_given(to_terminal);
        Style {
            color,
            width: super::width_or_default(given),
            fit: given.is_some(),
            dialogue,
        }
    }
}

pub(super) fn table(style: &Style) -> Table {
    let mut t = Table::new();
    t.load_style(presets::UTF8_FULL_CONDENSED);
    t.set_content_arrangement(ContentArrangement::Dynamic);
    if style.color {
        // Asked for (--color always) or on a terminal: style even when
        // comfy-table sees no terminal.
        t.enforce_styling();
    } else {
        t.force_no_tty();
    }
    if t.width().is_none() || !style.color {
        t.set_width(style.width);
    }
    t
}

/// Keeps words whole in a table: comfy-table wraps at spaces where it
/// can, but inside a word when a column is narrower than it. The columns
/// in `always` (addresses, timestamps) get at least their longest word;
/// then the others, shortest longest-word first, while the reader's width
/// allows (`style.fit`) — without one, every column whose longest word is
/// at most [`LONG_WORD`] long (a path or a dialogue line may still wrap),
/// and the table grows past the width rather than cut "tcp.stream" in
/// two. Call once the rows are in.
pub(super) fn keep_whole(t: &mut Table, always: &[usize], style: &Style) {
    let n = t.column_count();
    let longest: Vec<usize> = (0..n)
        .map(|i| {
            t.header()
                .into_iter()
                .chain(t.row_iter())
                .filter_map(|r| r.cell_iter().nth(i))
                .flat_map(|c| {
                    c.content()
                        .split_whitespace()
                        .map(|w| w.chars().count())
                        .collect::<Vec<_>>()
                })
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| (!always.contains(&i), longest[i], i));
    // Borders (n + 1) and each column's padding (2); a column left free
    // still takes a character or so.
    let mut used = 4 * n + 1;
    for i in order {
        let w = longest[i] + 2;
        let kept = always.contains(&i)
            || if style.fit {
                used + w - 3 <= usize::from(style.width)
            } else {
                longest[i] <= LONG_WORD
            };
        if !kept {
            continue;
        }
        used += w.saturating_sub(3);
        if let (Some(c), Ok(w)) = (t.column_mut(i), u16::try_from(w)) {
            c.set_constraint(comfy_table::ColumnConstraint::LowerBoundary(
                comfy_table::Width::Fixed(w),
            ));
        }
    }
}

/// The longest word [`keep_whole`] keeps whole in a column not named.
const LONG_WORD: usize = 32;

fn sev_cell(s: Severity, style: &Style) -> Cell {
    let c = Cell::new(s.name());
    if !style.color {
        return c;
    }
    match s {
        Severity::Error => c.fg(Color::Red).add_attribute(Attribute::Bold),
        Severity::Warning => c.fg(Color::Yellow),
        Severity::Info => c.fg(Color::Cyan),
    }
}

fn frames_text(v: &[u64]) -> String {
    frame_list(v, 12)
}

/// A finding's frames, with those its line had beyond the ones kept.
fn finding_frames(f: &Finding) -> String {
    crate::report::wording::frame_list_more(&f.frames, 12, f.frames_not_listed)
}

pub(super) fn human_bytes(n: u64) -> String {
    match n {
        0..1024 => format!("{n} B"),
        1024..1_048_576 => format!("{:.1} KiB", n as f64 / 1024.0),
        1_048_576..1_073_741_824 => format!("{:.1} MiB", n as f64 / 1_048_576.0),
        _ => format!("{:.1} GiB", n as f64 / 1_073_741_824.0),
    }
}

pub fn render(r: &Report<'_>, style: &Style, out: &mut dyn Write) -> io::Result<()> {
    let rows: Vec<SessionRow> = r.sessions.iter().map(SessionRow::of).collect();
    render_rows(r, &rows, style, out)
}

/// A session as the sessions table shows it: all the text report needs of
/// a session it does not print the dialogue of, so `analyze` can keep
/// this instead of the session (about 15 KB). The cells are one string
/// (about 250 bytes a row in all, 25 MB for 100,000 sessions) rather
/// than a string each, whose allocations would triple that.
pub struct SessionRow {
    capture: usize,
    text: Box<str>,
    /// Where each cell ends in `text`; the first cell is the session id.
    ends: [u32; SessionRow::CELLS],
    /// Kept less than it carried (named under "limits hit").
    capped: bool,
}

impl SessionRow {
    pub fn of(s: &SessionView<'_>) -> Self {
        let cmds = s
            .dialogue
            .iter()
            .filter(|e| e.dir == crate::reassembly::connection::Side::Client)
            .count();
        let setups: Vec<String> = s
            .data_setups
            .iter()
            .map(super::model::SetupView::label)
            .collect();
        let mut setup_txt = setups
            .iter()
            .take(4)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        if setups.len() > 4 {
            let _ = write!(setup_txt, " … ({} in all)", setups.len());
        }
        let mut srv = s
            .server_software
            .map(|x| x.name.to_string())
            .unwrap_or_default();
        if let Some(tls) = s.tls {
            let _ = write!(
                srv,
                "{}TLS from frame {}",
                if srv.is_empty() { "" } else { "; " },
                tls.started_frame.unwrap_or(0)
            );
        }
        let cells: [String; Self::CELLS] = [
            s.id.clone(),
            format!(
                "{} → {}{}",
                s.client,
                s.server,
                if s.detection == crate::ftp::session::Detection::Banner {
                    " (banner)"
                } else {
                    ""
                }
            ),
            s.tcp_stream.map(|n| n.to_string()).unwrap_or_default(),
            format!("{}–{}", s.first_frame, s.last_frame),
            s.start.to_string(),
            cmds.to_string(),
            setup_txt,
            srv,
            wire_name(&s.end_reason),
        ];
        let mut text = String::new();
        let mut ends = [0; Self::CELLS];
        for (cell, end) in cells.iter().zip(&mut ends) {
            text.push_str(cell);
            *end = u32::try_from(text.len()).unwrap_or(u32::MAX);
        }
        SessionRow {
            capture: s.capture,
            text: text.into_boxed_str(),
            ends,
            capped: capped(s),
        }
    }

    const CELLS: usize = 9;

    /// The index of the session's capture.
    pub fn capture(&self) -> usize {
        self.capture
    }

    fn cells(&self) -> impl Iterator<Item = &str> {
        let starts = std::iter::once(0).chain(self.ends);
        starts
            .zip(self.ends)
            .map(|(a, b)| self.text.get(a as usize..b as usize).unwrap_or(""))
    }

    fn id(&self) -> &str {
        self.cells().next().unwrap_or("")
    }
}

/// [`render`] with the sessions table made of `rows` (the dialogues, when
/// asked for, still come from the report's sessions).
pub fn render_rows(
    r: &Report<'_>,
    rows: &[SessionRow],
    style: &Style,
    out: &mut dyn Write,
) -> io::Result<()> {
    header(&r.header, out)?;
    for (ci, c) in r.captures.iter().enumerate() {
        let ss: Vec<&SessionRow> = rows.iter().filter(|s| s.capture == ci).collect();
        let fs: Vec<&Finding> = r
            .findings
            .iter()
            .copied()
            .filter(|f| f.capture == ci)
            .collect();
        writeln!(out)?;
        capture_section(&format!("Capture {}", ci + 1), c, &ss, &fs, style, out)?;
        sessions(&ss, style, out)?;
        match c.not_listed.findings() {
            n if n > 0 && fs.is_empty() => writeln!(
                out,
                "No findings listed ({n} left out by the options above)."
            )?,
            _ => findings(&fs, style, out)?,
        }
        if style.dialogue {
            for s in r.sessions.iter().filter(|s| s.capture == ci) {
                dialogue(s, style, out)?;
            }
        }
    }
    summary_line(&r.summary, out)
}

pub(super) fn header(h: &crate::header::Header, out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "{} {} · {} · times in {}",
        h.tool.name, h.tool.version, h.command, h.time_zone
    )?;
    if !h.options.is_empty() {
        let o: Vec<String> = h.options.iter().map(|(k, v)| format!("{k}={v}")).collect();
        writeln!(out, "options: {}", o.join(", "))?;
    }
    Ok(())
}

fn summary_line(sum: &super::model::Summary, out: &mut dyn Write) -> io::Result<()> {
    let n = |s| sum.findings_by_severity.get(&s).copied().unwrap_or(0);
    writeln!(out)?;
    writeln!(
        out,
        "Summary: {} capture(s), {} session(s), {} error, {} warning, {} info finding(s); exit code {}.",
        sum.captures,
        sum.sessions,
        n(Severity::Error),
        n(Severity::Warning),
        n(Severity::Info),
        sum.exit_code
    )
}

/// The summary table of one capture.
fn capture_section(
    title: &str,
    c: &super::model::CaptureView<'_>,
    ss: &[&SessionRow],
    fs: &[&Finding],
    style: &Style,
    out: &mut dyn Write,
) -> io::Result<()> {
    writeln!(out, "{title}: {}", escape(c.info.path.as_bytes()))?;
    let mut t = table(style);
    let lt: Vec<String> = c
        .info
        .link_types
        .iter()
        .map(|l| format!("{} ({})", l.name, l.id))
        .collect();
    t.add_row(vec![
        "file".to_string(),
        format!(
            "{}{}{}, sha256 {}",
            human_bytes(c.info.file_bytes),
            c.info
                .compression
                .map(|z| format!(" {z}"))
                .unwrap_or_default(),
            // Reading stops at an error: the size and the hash are of the
            // bytes read, not of the whole file.
            if c.error.is_some() {
                " read up to the error"
            } else {
                ""
            },
            c.info.sha256.as_deref().unwrap_or("not computed")
        ),
    ]);
    t.add_row(vec![
        "format".to_string(),
        format!("{}; link types: {}", c.info.format, lt.join(", ")),
    ]);
    let span = match (c.info.first_ts, c.info.last_ts) {
        (Some(a), Some(b)) => format!(", {a} – {b}"),
        _ => String::new(),
    };
    t.add_row(vec![
        "frames".to_string(),
        format!("{}{span}", c.info.frame_count),
    ]);
    if let Some(legs) = super::wording::legs(c.info) {
        t.add_row(vec!["legs".to_string(), legs]);
    }
    if let Some(d) = super::wording::duplicates(c.info) {
        t.add_row(vec!["duplicates".to_string(), d]);
    }
    let p = c.packets;
    let not_sessions = match p.not_sessions.segments {
        0 => String::new(),
        n => format!(", not sessions {n}"),
    };
    let unannounced = match p.unannounced_segments {
        0 => String::new(),
        n => format!(", unannounced connections {n}"),
    };
    t.add_row(vec![
        "TCP segments".to_string(),
        format!(
            "{} (FTP control {}{not_sessions}, data connections {}{unannounced}, after close {}, other {})",
            p.tcp_segments,
            p.control_segments,
            p.data_segments,
            p.after_close_segments,
            p.other_tcp_segments
        ),
    ]);
    if let Some(n) = super::wording::not_sessions(&p.not_sessions) {
        t.add_row(vec!["not sessions".to_string(), n]);
    }
    if !p.skipped.is_empty() {
        let sk: Vec<String> = p
            .skipped
            .iter()
            .map(|(k, v)| format!("{} {v}", k.name()))
            .collect();
        t.add_row(vec!["not TCP".to_string(), sk.join(", ")]);
    }
    if let Some(loss) = super::wording::interface_loss(c.info) {
        t.add_row(vec!["capture loss".to_string(), loss]);
    }
    let capped = ss.iter().filter(|s| s.capped).map(|s| s.id());
    let limits = limits_hit(c, capped);
    if !limits.is_empty() {
        t.add_row(vec!["limits hit".to_string(), limits.join("; ")]);
    }
    // The capture's own counts stay whole; what the listing hides is
    // said beside them.
    let hidden = c.not_listed;
    let sessions = c.session_count as u64 + c.sessions_not_kept + hidden.sessions;
    t.add_row(vec![
        "sessions".to_string(),
        if hidden.sessions > 0 {
            format!("{sessions} ({} listed here)", sessions - hidden.sessions)
        } else {
            sessions.to_string()
        },
    ]);
    let mut counts = [0u64; 3];
    for f in fs {
        counts[f.severity as usize] += 1;
    }
    let not_shown = c.finding_count.saturating_sub(fs.len());
    t.add_row(vec![
        "findings".to_string(),
        if not_shown > 0 {
            format!("{not_shown} not reported here (`portmortem analyze` reports them)")
        } else {
            let mut f = format!(
                "{} error, {} warning, {} info",
                counts[2] + hidden.error,
                counts[1] + hidden.warning,
                counts[0] + hidden.info
            );
            if hidden.findings() > 0 {
                let _ = write!(
                    f,
                    " ({} error, {} warning, {} info not listed here)",
                    hidden.error, hidden.warning, hidden.info
                );
            }
            f
        },
    ]);
    if let Some(e) = c.error {
        t.add_row(vec![
            Cell::new("READ ERROR").fg(if style.color {
                Color::Red
            } else {
                Color::Reset
            }),
            // The message names the file: escaped like capture bytes.
            Cell::new(crate::escape::printable(&if e.frames_read == 0 {
                e.to_string()
            } else {
                format!("{e} — the results below cover what was read before it")
            })),
        ]);
    }
    writeln!(out, "{t}")?;
    Ok(())
}

/// Sessions per table: laying out a table holds every cell of it several
/// times over (a table of tens of thousands of sessions held most of a
/// run's memory and time), so a long list comes as consecutive tables of
/// this many rows.
const ROWS_PER_TABLE: usize = 1000;

fn sessions(ss: &[&SessionRow], style: &Style, out: &mut dyn Write) -> io::Result<()> {
    if ss.is_empty() {
        writeln!(out, "No FTP control session found.")?;
        return Ok(());
    }
    for (k, part) in ss.chunks(ROWS_PER_TABLE).enumerate() {
        if ss.len() <= ROWS_PER_TABLE {
            writeln!(out, "Sessions")?;
        } else {
            let first = k * ROWS_PER_TABLE + 1;
            let last = first + part.len() - 1;
            writeln!(out, "Sessions {first}–{last} of {}", ss.len())?;
        }
        let mut t = table(style);
        t.set_header(vec![
            "id",
            "client → server",
            "tcp.stream",
            "frames",
            "start",
            "cmds",
            "data setups",
            "server",
            "end",
        ]);
        for s in part {
            t.add_row(s.cells());
        }
        // Addresses and timestamps are never broken mid-word.
        keep_whole(&mut t, &[1, 4], style);
        writeln!(out, "{t}")?;
    }
    Ok(())
}

fn findings(fs: &[&Finding], style: &Style, out: &mut dyn Write) -> io::Result<()> {
    if fs.is_empty() {
        writeln!(out, "No findings.")?;
        return Ok(());
    }
    writeln!(out, "Findings")?;
    let mut t = table(style);
    t.set_header(vec!["#", "severity", "rule", "session", "frames"]);
    for (n, f) in fs.iter().enumerate() {
        t.add_row(vec![
            Cell::new(n + 1),
            sev_cell(f.severity, style),
            Cell::new(f.rule),
            Cell::new(&f.session),
            Cell::new(finding_frames(f)),
        ]);
    }
    keep_whole(&mut t, &[], style);
    writeln!(out, "{t}")?;
    let width = style.width as usize;
    let indent = "    ";
    for (n, f) in fs.iter().enumerate() {
        writeln!(out)?;
        writeln!(
            out,
            "[{}] {} {} ({}, frames {}{})",
            n + 1,
            f.severity.name().to_uppercase(),
            f.rule,
            f.session,
            finding_frames(f),
            f.other
                .as_ref()
                .map(|o| if o.frames.is_empty() {
                    // Never an empty frame list: the line is not there.
                    format!("; server-side {}, no frame of it", o.session)
                } else {
                    format!(
                        "; server-side {}, frames {}",
                        o.session,
                        frames_text(&o.frames)
                    )
                })
                .unwrap_or_default()
        )?;
        let opts = textwrap::Options::new(width.saturating_sub(1))
            .initial_indent(indent)
            .subsequent_indent(indent);
        writeln!(out, "{}", textwrap::fill(&f.message, opts.clone()))?;
        writeln!(
            out,
            "{}",
            textwrap::fill(&super::wording::attribution(f), opts.clone())
        )?;
        evidence_lines(&f.evidence, indent, out)?;
        if let Some(d) = &f.diff {
            writeln!(out, "{indent}diff: {}", d.describe())?;
            if let Some(first) = f.evidence.first()
                && let Some((a, b, marks)) = aligned(&first.bytes.0, d)
            {
                writeln!(
                    out,
                    "{indent}      {a}\n{indent}      {b}\n{indent}      {marks}"
                )?;
            }
        }
        if let Some(sig) = f.signature {
            let opts = textwrap::Options::new(width.saturating_sub(1))
                .initial_indent(indent)
                .subsequent_indent("              ");
            let text = format!(
                "signature: {} — {} ({})",
                sig.device, sig.behaviour, sig.reference
            );
            writeln!(out, "{}", textwrap::fill(&text, opts))?;
        }
        for r in &f.related {
            writeln!(
                out,
                "{}",
                textwrap::fill(&super::wording::related(f, r), opts.clone())
            )?;
        }
        for (k, o) in f.also.iter().enumerate() {
            let opts = textwrap::Options::new(width.saturating_sub(1))
                .initial_indent(indent)
                .subsequent_indent(indent);
            writeln!(
                out,
                "{indent}case {} (frames {}):",
                k + 2,
                frames_text(&o.frames)
            )?;
            writeln!(out, "{}", textwrap::fill(&o.message, opts))?;
            evidence_lines(&o.evidence, indent, out)?;
        }
    }
    Ok(())
}

/// A finding's evidence, one aligned line each.
fn evidence_lines(
    evidence: &[crate::rules::Evidence],
    indent: &str,
    out: &mut dyn Write,
) -> io::Result<()> {
    let w = evidence.iter().map(|e| e.what.len()).max().unwrap_or(0);
    for e in evidence {
        writeln!(
            out,
            "{indent}{:w$}  frame {:<10} {}",
            e.what,
            crate::report::wording::frame_list_more(&e.frames, 12, e.frames_not_listed),
            evidence_text(&e.bytes.0)
        )?;
    }
    Ok(())
}

/// Evidence bytes for a terminal: escaped, and cut after a screenful (the
/// JSON report has them all).
fn evidence_text(b: &[u8]) -> String {
    const SHOWN: usize = 240;
    if b.len() <= SHOWN {
        return escape(b);
    }
    format!(
        "{}…({} more bytes of evidence in the JSON report)",
        escape(&b[..SHOWN]),
        b.len() - SHOWN
    )
}

fn dialogue(s: &SessionView<'_>, style: &Style, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "Dialogue {} ({} → {})", s.id, s.client, s.server)?;
    let mut t = table(style);
    t.set_header(vec!["frame", "+s", "dir", "line", "pairs with"]);
    for e in &s.dialogue {
        t.add_row(entry_row(e, s));
    }
    writeln!(out, "{t}")
}

fn entry_row(e: &Entry<'_>, s: &SessionView<'_>) -> Vec<String> {
    let mut flags = Vec::new();
    if e.split {
        flags.push("split".to_string());
    }
    if e.after_gap {
        flags.push("after gap".to_string());
    } else if e.follows_gap {
        flags.push("follows a gap".to_string());
    }
    if e.reply_unseen {
        flags.push("reply not captured?".to_string());
    }
    if e.bytes_not_kept > 0 {
        flags.push(format!("+{} bytes not kept", e.bytes_not_kept));
    }
    if e.frames_not_listed > 0 {
        flags.push(format!("+{} frames not listed", e.frames_not_listed));
    }
    if !e.telnet.is_empty() {
        flags.push(crate::ftp::line::telnet_description(
            e.telnet.iter().map(|t| t.0.as_slice()),
        ));
    }
    if e.telnet_not_recorded > 0 {
        flags.push(format!(
            "+{} Telnet commands not recorded",
            e.telnet_not_recorded
        ));
    }
    let signal_only = e.text.0.is_empty() && !e.telnet.is_empty();
    let term = match e.terminator {
        _ if signal_only => "",
        crate::ftp::line::Terminator::CrLf => "",
        crate::ftp::line::Terminator::Lf => " [LF]",
        crate::ftp::line::Terminator::Cr => " [CR]",
        crate::ftp::line::Terminator::None => " [no line end]",
        crate::ftp::line::Terminator::Gap => " [gap]",
    };
    vec![
        frames_text(&e.frames),
        format!("{:.3}", e.ts.secs_since(s.start)),
        if e.dir == crate::reassembly::connection::Side::Client {
            "C>".into()
        } else {
            "<S".into()
        },
        format!(
            "{}{term}{}",
            e.text,
            if flags.is_empty() {
                String::new()
            } else {
                format!(" ({})", flags.join(", "))
            }
        ),
        // By frame, as everywhere else a reader looks a line up (the
        // JSON's `pairs_with` is the entry's position).
        e.pairs_with
            .and_then(|p| s.dialogue.get(p).filter(|x| x.n == p))
            .and_then(|x| x.frames.first())
            .map(|f| format!("frame {f}"))
            .unwrap_or_default(),
    ]
}

#[cfg(test)]
mod tests {
    #[test]
    fn carets_under_changed_bytes() {
        let d = crate::diff::diff(b"PORT 1,227\r", b"PORT 1,22_\r");
        let (a, b, m) = super::aligned(b"PORT 1,227\r", &d).unwrap();
        assert_eq!(a, "PORT 1,227\\r");
        assert_eq!(b, "PORT 1,22_\\r");
        assert_eq!(m, "         ^");
    }
}
