//! Text output: tables for people at a terminal.
//!
//! Renders the same [`Report`] as the JSON output. Every byte from a
//! capture is already escaped there; colour is used only on a terminal and
//! never when NO_COLOR is set. Everything is laid out in the reader's
//! width without breaking a value ([`layout`]); times are shown as the
//! date once per capture and then times of day ([`Clock`]).

mod compare;
pub mod layout;

pub use super::clock::Clock;
use super::model::{Entry, Report, SessionView};
use super::wording::{aligned, capped, frame_list, limits_hit, wire_name};
use crate::compare::views::Views;
use crate::escape::escape;
use crate::rules::{Finding, Severity};
use crate::timestamp::Timestamp;
pub use compare::render_compare;
pub use layout::{Cell, Grid, Tint, fill};
use std::fmt::Write as _;
use std::io::{self, Write};

pub struct Style {
    pub color: bool,
    /// The width every line keeps within (a word longer than a line
    /// aside: see [`layout`]).
    pub width: u16,
    /// Print every session's dialogue.
    pub dialogue: bool,
}

impl Style {
    /// The style for an output: `--width` if given, else the reader's
    /// (see [`super::text_width`]).
    pub fn for_output(color: bool, to_terminal: bool, dialogue: bool, width: Option<u16>) -> Self {
        Style {
            color,
            width: width.unwrap_or_else(|| super::text_width(to_terminal)),
            dialogue,
        }
    }

    /// `text` wrapped to the width, its first line after `first` and the
    /// others after `rest`.
    pub fn fill(&self, text: &str, first: &str, rest: &str) -> String {
        fill(text, usize::from(self.width), first, rest)
    }

    /// Writes `text` as a paragraph: its first line after `first`, the
    /// others after `rest`.
    pub fn para(&self, out: &mut dyn Write, text: &str, first: &str, rest: &str) -> io::Result<()> {
        writeln!(out, "{}", self.fill(text, first, rest))
    }
}

/// A table laid out in the style's width.
pub(super) fn table(style: &Style) -> Grid {
    Grid::new(style.width, style.color)
}

fn sev_cell(s: Severity) -> Cell {
    Cell::new(s.name()).tinted(Some(match s {
        Severity::Error => Tint::Error,
        Severity::Warning => Tint::Warning,
        Severity::Info => Tint::Info,
    }))
}

/// The Sessions table's columns.
pub(super) const SESSIONS_HEADER: [&str; 9] = [
    "id",
    "client → server",
    "tcp.stream",
    "frames",
    "start",
    "cmds",
    "data setups",
    "server",
    "end",
];

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
    /// When the session started: shown by its capture's [`Clock`].
    start: Timestamp,
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
            start: s.start,
            text: text.into_boxed_str(),
            ends,
            capped: capped(s),
        }
    }

    /// The cells kept as text: every column but the start.
    const CELLS: usize = 8;

    /// The index of the session's capture.
    pub fn capture(&self) -> usize {
        self.capture
    }

    fn texts(&self) -> impl Iterator<Item = &str> {
        let starts = std::iter::once(0).chain(self.ends);
        starts
            .zip(self.ends)
            .map(|(a, b)| self.text.get(a as usize..b as usize).unwrap_or(""))
    }

    /// The row's cells, its start shown by `clock`.
    fn cells(&self, clock: Clock) -> Vec<String> {
        let mut v: Vec<String> = self.texts().map(str::to_string).collect();
        v.insert(4, clock.show(self.start));
        v
    }

    fn id(&self) -> &str {
        self.texts().next().unwrap_or("")
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
    header(&r.header, style, out)?;
    for (ci, c) in r.captures.iter().enumerate() {
        let ss: Vec<&SessionRow> = rows.iter().filter(|s| s.capture == ci).collect();
        let fs: Vec<&Finding> = r
            .findings
            .iter()
            .copied()
            .filter(|f| f.capture == ci)
            .collect();
        writeln!(out)?;
        let title = format!("Capture {}", c.number + 1);
        if not_a_capture(c) {
            unread(&title, c, style, out)?;
            continue;
        }
        capture_section(&title, c, &ss, &fs, style, out)?;
        let clock = Clock::of(c.info);
        sessions(&ss, clock, style, out)?;
        match c.not_listed.findings() {
            n if n > 0 && fs.is_empty() => writeln!(
                out,
                "No findings listed ({n} left out by the options above)."
            )?,
            _ => findings(&fs, &Views::taps(), style, out)?,
        }
        if style.dialogue {
            for s in r.sessions.iter().filter(|s| s.capture == ci) {
                dialogue(s, clock, style, out)?;
            }
        }
    }
    summary_line(&r.summary, style, out)
}

/// A capture that could not be opened as one (no such file, not a
/// capture): there is nothing to summarise, only why.
fn not_a_capture(c: &super::model::CaptureView<'_>) -> bool {
    c.error
        .is_some_and(|e| matches!(e.kind, crate::capture::CaptureErrorKind::Open(_)))
}

/// The one line said of a capture that could not be opened.
fn unread(
    title: &str,
    c: &super::model::CaptureView<'_>,
    style: &Style,
    out: &mut dyn Write,
) -> io::Result<()> {
    let why = c.error.map(|e| e.kind.to_string()).unwrap_or_default();
    let text = format!(
        "{title}: {} — not read: {}",
        escape(c.info.path.as_bytes()),
        crate::escape::printable(&why)
    );
    style.para(out, &text, "", "    ")
}

pub(super) fn header(
    h: &crate::header::Header,
    style: &Style,
    out: &mut dyn Write,
) -> io::Result<()> {
    writeln!(
        out,
        "{} {} · {} · times in {}",
        h.tool.name, h.tool.version, h.command, h.time_zone
    )?;
    if !h.options.is_empty() {
        let o: Vec<String> = h.options.iter().map(|(k, v)| format!("{k}={v}")).collect();
        style.para(out, &format!("options: {}", o.join(", ")), "", "    ")?;
    }
    Ok(())
}

fn summary_line(sum: &super::model::Summary, style: &Style, out: &mut dyn Write) -> io::Result<()> {
    let n = |s| sum.findings_by_severity.get(&s).copied().unwrap_or(0);
    writeln!(out)?;
    let text = format!(
        "Summary: {}, {} session(s), {} error, {} warning, {} info finding(s); exit code {}.",
        sum.captures_counted(),
        sum.sessions,
        n(Severity::Error),
        n(Severity::Warning),
        n(Severity::Info),
        sum.exit_code
    );
    style.para(out, &text, "", "    ")
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
    style.para(
        out,
        &format!("{title}: {}", escape(c.info.path.as_bytes())),
        "",
        "    ",
    )?;
    let mut t = table(style);
    let lt: Vec<String> = c
        .info
        .link_types
        .iter()
        .map(|l| format!("{} ({})", l.name, l.id))
        .collect();
    t.add_row([
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
    t.add_row([
        "format".to_string(),
        format!("{}; link types: {}", c.info.format, lt.join(", ")),
    ]);
    let span = match (c.info.first_ts, c.info.last_ts) {
        (Some(a), Some(b)) => format!(", {}", Clock::of(c.info).span(a, b)),
        _ => String::new(),
    };
    t.add_row([
        "frames".to_string(),
        format!("{}{span}", c.info.frame_count),
    ]);
    if let Some(legs) = super::wording::legs(c.info) {
        t.add_row(vec!["legs".to_string(), legs]);
    }
    if let Some(d) = super::wording::duplicates(c.info) {
        t.add_row(vec!["duplicates".to_string(), d]);
    }
    if let Some(d) = super::wording::inside_device(c.info) {
        t.add_row(vec!["inside device".to_string(), d]);
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
    t.add_row([
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
        t.add_row(["not TCP".to_string(), sk.join(", ")]);
    }
    if let Some(loss) = super::wording::interface_loss(c.info) {
        t.add_row(["capture loss".to_string(), loss]);
    }
    let capped = ss.iter().filter(|s| s.capped).map(|s| s.id());
    let limits = limits_hit(c, capped);
    if !limits.is_empty() {
        t.add_row(["limits hit".to_string(), limits.join("; ")]);
    }
    // The capture's own counts stay whole; what the listing hides is
    // said beside them.
    let hidden = c.not_listed;
    let sessions = c.session_count as u64 + c.sessions_not_kept + hidden.sessions;
    t.add_row([
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
    t.add_row([
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
        t.add_row([
            Cell::new("READ ERROR").tinted(Some(Tint::Error)),
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

fn sessions(
    ss: &[&SessionRow],
    clock: Clock,
    style: &Style,
    out: &mut dyn Write,
) -> io::Result<()> {
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
        t.set_header(SESSIONS_HEADER);
        t.bare(&[1]);
        for s in part {
            t.add_row(s.cells(clock));
        }
        writeln!(out, "{t}")?;
    }
    Ok(())
}

/// `views`: what a comparison's findings call the two captures.
fn findings(fs: &[&Finding], views: &Views, style: &Style, out: &mut dyn Write) -> io::Result<()> {
    if fs.is_empty() {
        writeln!(out, "No findings.")?;
        return Ok(());
    }
    writeln!(out, "Findings")?;
    let mut t = table(style);
    t.set_header(["#", "severity", "rule", "session", "frames"]);
    t.bare(&[1, 2]);
    for (n, f) in fs.iter().enumerate() {
        t.add_row([
            Cell::new(n + 1),
            sev_cell(f.severity),
            Cell::new(f.rule),
            Cell::new(&f.session),
            Cell::new(finding_frames(f)),
        ]);
    }
    writeln!(out, "{t}")?;
    let indent = "    ";
    for (n, f) in fs.iter().enumerate() {
        writeln!(out)?;
        let title = format!(
            "[{}] {} {} ({}, frames {}{})",
            n + 1,
            f.severity.name().to_uppercase(),
            f.rule,
            f.session,
            finding_frames(f),
            f.other
                .as_ref()
                .map(|o| {
                    let other = match views.are_legs() {
                        true => views.name(Views::of_capture(o.capture)),
                        false => "server-side".into(),
                    };
                    if o.frames.is_empty() {
                        // Never an empty frame list: the line is not there.
                        format!("; {other} {}, no frame of it", o.session)
                    } else {
                        format!("; {other} {}, frames {}", o.session, frames_text(&o.frames))
                    }
                })
                .unwrap_or_default()
        );
        style.para(out, &title, "", indent)?;
        style.para(out, &f.message, indent, indent)?;
        style.para(out, &super::wording::attribution(f), indent, indent)?;
        evidence_lines(&f.evidence, indent, style, out)?;
        if let Some(d) = &f.diff {
            style.para(out, &format!("diff: {}", d.describe()), indent, indent)?;
            if let Some(first) = f.evidence.first()
                && let Some(lines) = aligned(&first.bytes.0, d)
            {
                let lead = format!("{indent}      ");
                for l in window(lines, usize::from(style.width) - lead.len()) {
                    writeln!(out, "{lead}{l}")?;
                }
            }
        }
        if let Some(sig) = f.signature {
            let text = format!(
                "known signature: {} — {} ({})",
                sig.device, sig.behaviour, sig.reference
            );
            style.para(out, &text, indent, "              ")?;
        }
        for r in &f.related {
            style.para(out, &super::wording::related(f, r, views), indent, indent)?;
        }
        for (k, o) in f.also.iter().enumerate() {
            style.para(
                out,
                &format!("case {} (frames {}):", k + 2, frames_text(&o.frames)),
                indent,
                indent,
            )?;
            style.para(out, &o.message, indent, indent)?;
            evidence_lines(&o.evidence, indent, style, out)?;
        }
    }
    Ok(())
}

/// Both versions of a line and the carets under its changes, cut to
/// `room` columns around the first change when they are wider (the
/// carets must stay under their bytes, so these lines are not wrapped).
fn window((a, b, marks): (String, String, String), room: usize) -> [String; 3] {
    let len = a.chars().count();
    if len <= room || room < 8 {
        return [a, b, marks];
    }
    let first = marks.find('^').unwrap_or(0);
    // Two columns for the ellipses; the change a quarter in.
    let keep = room - 2;
    let start = first.saturating_sub(keep / 4).min(len - keep);
    let cut = |s: &str| -> String {
        let body: String = s.chars().skip(start).take(keep).collect();
        let head = if start > 0 { "…" } else { "" };
        let tail = if start + keep < len { "…" } else { "" };
        format!("{head}{body}{tail}")
    };
    let m: String = marks
        .chars()
        .chain(std::iter::repeat(' '))
        .take(len)
        .collect();
    let pad = if start > 0 { " " } else { "" };
    let mk: String = m.chars().skip(start).take(keep).collect();
    [cut(&a), cut(&b), format!("{pad}{}", mk.trim_end())]
}

/// A finding's evidence, one aligned entry each, the bytes wrapped under
/// themselves.
fn evidence_lines(
    evidence: &[crate::rules::Evidence],
    indent: &str,
    style: &Style,
    out: &mut dyn Write,
) -> io::Result<()> {
    let w = evidence.iter().map(|e| e.what.len()).max().unwrap_or(0);
    let width = usize::from(style.width);
    let under = format!("{indent}  ");
    for e in evidence {
        let lead = format!(
            "{indent}{:w$}  frame {:<10} ",
            e.what,
            crate::report::wording::frame_list_more(&e.frames, 12, e.frames_not_listed)
        );
        let bytes = evidence_text(&e.bytes.0);
        let lead_w = lead.chars().count();
        if lead_w + layout::longest_word(&bytes).min(24) <= width {
            // The bytes beside what they are, hanging under themselves
            // when there is room for their words there.
            let hang = if lead_w + layout::longest_word(&bytes) <= width {
                " ".repeat(lead_w)
            } else {
                under.clone()
            };
            style.para(out, &bytes, &lead, &hang)?;
        } else {
            // A long list of frames: what and where, then the bytes under.
            let what = format!(
                "{}, frame {}:",
                e.what,
                crate::report::wording::frame_list_more(&e.frames, 12, e.frames_not_listed)
            );
            style.para(out, &what, indent, &under)?;
            style.para(out, &bytes, &under, &under)?;
        }
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

fn dialogue(
    s: &SessionView<'_>,
    clock: Clock,
    style: &Style,
    out: &mut dyn Write,
) -> io::Result<()> {
    let title = format!(
        "Dialogue {} ({} → {}), from {}; +s: seconds since then",
        s.id,
        s.client,
        s.server,
        clock.show(s.start)
    );
    style.para(out, &title, "", "    ")?;
    let mut t = table(style);
    t.set_header(["frame", "+s", "dir", "line", "pairs with"]);
    t.bare(&[2, 3, 4]);
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
