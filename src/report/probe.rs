//! `probe` results as text, Markdown and HTML (JSON is the serde form of
//! [`ProbeReport`]). One table per family of tests; the cases that came
//! through intact, and those that gave no evidence, are counted in a row
//! each rather than listed, so the few that did not stand out.

use super::page::{Align, Block, Inline, Item, Page, Table};
use super::{html, markdown};
use crate::escape::escape;
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
            // The changed fields say it in the fewest words; the byte diff
            // where there are none.
            let detail = [
                c.rule.map(|r| r.id().to_string()),
                c.fields.clone().or_else(|| c.diff.clone()),
                c.signature.map(|s| format!("signature {s}")),
                c.note.clone(),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("; ");
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

/// Outcomes counted in one row rather than listed case by case.
const COUNTED: [Outcome; 2] = [Outcome::Intact, Outcome::NotEvident];

fn summary_lines(r: &ProbeReport) -> Vec<String> {
    let mut v = vec![
        format!("target: {} ({})", r.target, r.far_end),
        format!(
            "{} commands, {} reconnect{}, {:.1} s",
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
        let mut t = super::text::table(&super::text::Style {
            color: false,
            width,
            fit: true,
            dialogue: false,
        });
        t.set_header(["test", "sent", "arrived / server did", "verdict", "detail"]);
        for row in rows(&cases) {
            t.add_row([row.test, row.sent, row.arrived, row.outcome, row.detail]);
        }
        writeln!(out, "{t}")?;
    }
    Ok(())
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
