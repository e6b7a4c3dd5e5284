//! `probe` results as text, Markdown and HTML (JSON is the serde form of
//! [`ProbeReport`]). One table per family of tests; the cases that came
//! through intact, and those that gave no evidence, are counted in a row
//! each rather than listed, so the few that did not stand out.

use super::page::{Align, Block, Inline, Item, Page, Table};
use super::{html, markdown};
use crate::escape::escape;
use crate::probe::hops::{Direction, Seen, Trace};
use crate::probe::result::{Case, Outcome, ProbeReport};
use crate::rules::Severity;
use std::io::{self, Write};

/// One table row, as every format shows it.
struct Row {
    test: String,
    sent: String,
    arrived: String,
    outcome: String,
    detail: String,
}

fn rows(cases: &[&Case]) -> Vec<Row> {
    let mut out: Vec<Row> = cases
        .iter()
        .filter(|c| !COUNTED.contains(&c.outcome))
        .map(|c| {
            let arrived = match (&c.arrived, &c.data) {
                (Some(a), _) => format!("`{}`", escape(&a.0)),
                (None, Some(d)) => d.clone(),
                (None, None) => c
                    .reply
                    .clone()
                    .map_or("-".into(), |r| format!("reply `{r}`")),
            };
            let detail = detail(None, (c.rule, &c.fields, &c.diff, c.signature), &c.note);
            Row {
                test: c.name.clone(),
                sent: format!("`{}`", escape(&c.sent.0)),
                arrived,
                outcome: c.outcome.name().into(),
                detail,
            }
        })
        .collect();
    for outcome in COUNTED {
        let n = cases.iter().filter(|c| c.outcome == outcome).count();
        if n > 0 {
            out.push(Row {
                test: if n == cases.len() {
                    format!("all {n}")
                } else {
                    format!("{n} other{}", if n == 1 { "" } else { "s" })
                },
                sent: String::new(),
                arrived: String::new(),
                outcome: outcome.name().into(),
                detail: String::new(),
            });
        }
    }
    out
}

/// A change in words: what was seen, the rule, the changed fields (in the
/// fewest words; the byte diff where there are none), the signature and
/// the note.
fn detail(
    seen: Option<String>,
    (rule, fields, diff, signature): (
        Option<crate::rules::Rule>,
        &Option<String>,
        &Option<String>,
        Option<&str>,
    ),
    note: &Option<String>,
) -> String {
    [
        seen,
        rule.map(|r| r.id().to_string()),
        fields.clone().or_else(|| diff.clone()),
        signature.map(|s| format!("signature {s}")),
        note.clone(),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join("; ")
}

/// Outcomes counted in one row rather than listed case by case.
const COUNTED: [Outcome; 2] = [Outcome::Intact, Outcome::NotEvident];

fn summary_lines(r: &ProbeReport) -> Vec<String> {
    let traced = if r.traced_lines > 0 {
        format!(" ({} sent TTL-limited for the traces)", r.traced_lines)
    } else {
        String::new()
    };
    let mut v = vec![
        format!("target: {} ({})", r.target, r.far_end),
        format!(
            "{} commands{traced}, {} reconnect{}, {:.1} s",
            r.commands_sent,
            r.reconnects,
            if r.reconnects == 1 { "" } else { "s" },
            r.duration_secs
        ),
    ];
    if let Some(s) = &r.stopped {
        v.push(format!("stopped early: {s}; the results so far are below"));
    }
    v.extend(r.notes.iter().map(|n| format!("note: {n}")));
    v
}

pub fn render_text(r: &ProbeReport, width: u16, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "{}\n", r.conclusion)?;
    for l in summary_lines(r) {
        writeln!(out, "{l}")?;
    }
    for (f, cases) in r.families() {
        writeln!(out, "\n{} ({} tests)", f.title(), cases.len())?;
        let mut t = super::text::Grid::new(width, false);
        t.set_header(["test", "sent", "arrived / server did", "verdict", "detail"]);
        for row in rows(&cases) {
            t.add_row([row.test, row.sent, row.arrived, row.outcome, row.detail]);
        }
        writeln!(out, "{t}")?;
    }
    for tr in &r.traces {
        writeln!(out, "\n{}\n{}", trace_title(tr), tr.conclusion)?;
        let mut t = super::text::Grid::new(width, false);
        t.set_header(TRACE_HEADS);
        for row in hop_rows(tr) {
            t.add_row(row);
        }
        writeln!(out, "{t}")?;
    }
    Ok(())
}

const TRACE_HEADS: [&str; 5] = ["hop", "router", "quoted", "received as", "change"];

fn trace_title(t: &Trace) -> String {
    format!(
        "trace {}: `{}` ({}, {})",
        match t.direction {
            Direction::ToServer => "to the server",
            Direction::ToClient => "to the client",
        },
        escape(t.line()),
        t.family.title(),
        t.case
    )
}

/// The hop table's rows: hop, router, bytes quoted, the line as received
/// there, what changed.
fn hop_rows(t: &Trace) -> Vec<[String; 5]> {
    t.hops
        .iter()
        .map(|h| {
            let router = match (h.router, h.seen) {
                (Some(r), Seen::FarEnd) => format!("{r} (far end)"),
                (Some(r), _) => r.to_string(),
                (None, _) => "-".into(),
            };
            let quoted = match h.seen {
                Seen::Silent => "no Time Exceeded (filtered or rate-limited)".into(),
                Seen::Unmatched => "a quote of something else".into(),
                Seen::FarEnd => "-".into(),
                _ => format!("{} of {} bytes", h.quoted, h.of),
            };
            let received = h
                .received
                .as_ref()
                .map_or(String::new(), |b| format!("`{}`", escape(&b.0)));
            let what = match (h.seen, &h.received, h.rule) {
                (Seen::Changed, _, _) => None,
                (Seen::FarEnd, Some(_), None) => Some("the far end received it as sent".into()),
                (Seen::FarEnd, Some(_), Some(_)) => Some("the far end received it changed".into()),
                (Seen::FarEnd, None, _) => Some("the far end does not say how it arrived".into()),
                (seen, _, _) => Some(seen.name().to_string()),
            };
            let change = detail(what, (h.rule, &h.fields, &h.diff, h.signature), &h.note);
            [h.hop.to_string(), router, quoted, received, change]
        })
        .collect()
}

/// The Markdown and HTML report: the conclusion, the run, and one table
/// per family of tests.
fn page(r: &ProbeReport) -> Page<'_> {
    let mut b = vec![
        Block::Verdict {
            headline: r.conclusion.clone(),
            rest: String::new(),
            severity: r.altered.then_some(Severity::Error),
        },
        Block::List(
            summary_lines(r)
                .into_iter()
                .map(|l| Item {
                    body: Inline::Message(l),
                    children: Vec::new(),
                })
                .collect(),
        ),
    ];
    for (f, cases) in r.families() {
        b.push(Block::Heading {
            level: 2,
            anchor: None,
            body: Inline::Text(format!("{} ({} tests)", f.title(), cases.len())),
        });
        let heads = ["test", "sent", "arrived / server did", "verdict", "detail"];
        b.push(Block::Table(Table {
            heads: heads.iter().map(|h| (h.to_string(), Align::Left)).collect(),
            rows: rows(&cases)
                .into_iter()
                .map(|row| {
                    vec![
                        Inline::Message(row.test),
                        Inline::Message(row.sent),
                        Inline::Message(row.arrived),
                        Inline::Text(row.outcome),
                        Inline::Message(row.detail),
                    ]
                })
                .collect(),
        }));
    }
    for tr in &r.traces {
        b.push(Block::Heading {
            level: 2,
            anchor: None,
            body: Inline::Message(trace_title(tr)),
        });
        b.push(Block::Para(Inline::Message(tr.conclusion.clone())));
        b.push(Block::Table(Table {
            heads: TRACE_HEADS
                .iter()
                .map(|h| (h.to_string(), Align::Left))
                .collect(),
            rows: hop_rows(tr)
                .into_iter()
                .map(|row| row.into_iter().map(Inline::Message).collect())
                .collect(),
        }));
    }
    Page {
        name: "portmortem probe",
        title: "portmortem probe".into(),
        blocks: b,
        header: &r.header,
    }
}

pub fn render_markdown(r: &ProbeReport, out: &mut dyn Write) -> io::Result<()> {
    markdown::write(&page(r), out)
}

pub fn render_html(r: &ProbeReport, out: &mut dyn Write) -> io::Result<()> {
    html::write(&page(r), out)
}
