//! The page of `batch` and `merge`: everything the text summary says
//! (`report/batch.rs`, from the same [`BatchView`]), in the same order,
//! plus the inputs with their hashes and the time course drawn.

use super::*;
use crate::report::batch::{PATTERNS_TITLE, Rows, SINCE_TITLE};

/// A [`Rows`] table under its heading; numbers to the right.
fn rows_block(r: Rows, b: &mut Vec<Block>) {
    b.push(h2(&r.title));
    let heads: Vec<(&str, Align)> = r
        .heads
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let numeric = r.rows.iter().all(|row| {
                row.get(i)
                    .is_some_and(|c| c.chars().all(|x| x.is_ascii_digit() || x == ','))
            });
            (
                *h,
                if numeric && i > 0 {
                    Align::Right
                } else {
                    Align::Left
                },
            )
        })
        .collect();
    let rows = r
        .rows
        .into_iter()
        .map(|row| row.into_iter().map(Inline::Text).collect())
        .collect();
    b.push(table(&heads, rows));
}

/// `batch`'s (and `merge`'s) summary of an archive.
pub fn batch<'a>(hd: &'a Header, bs: &BatchSummary<'_>, inputs: &[Input]) -> Page<'a> {
    use Align::*;
    let s = bs.summary;
    let v = BatchView::new(bs);
    let errors = s
        .totals
        .findings_by_severity
        .get(&Severity::Error)
        .is_some_and(|&n| n > 0);
    let mut b = vec![Block::Verdict {
        headline: v.verdict(),
        rest: String::new(),
        severity: errors.then_some(Severity::Error),
    }];
    let mut rows = tool_rows(hd);
    rows.extend(
        v.archive_rows()
            .into_iter()
            .map(|(k, val)| (k, Inline::Text(val))),
    );
    b.push(Block::Facts(rows));
    match v.setups() {
        Some(r) => rows_block(r, &mut b),
        None => b.push(para("No data setups (PORT/EPRT/227/229…) seen.")),
    }
    for note in v.setup_notes() {
        b.push(Block::Para(Inline::Message(note)));
    }
    if s.patterns.is_empty() {
        let none = v.no_pattern();
        if !none.is_empty() {
            b.push(h2("Patterns"));
            for line in none {
                b.push(para(line));
            }
        }
    } else {
        b.push(h2(PATTERNS_TITLE));
        b.push(Block::List(
            s.patterns
                .iter()
                .map(|p| {
                    let mut children = vec![Inline::text(p.test.clone())];
                    if !p.same_counts.is_empty() {
                        children.push(Inline::text(format!(
                            "the same counts: {}",
                            p.same_counts.join(", ")
                        )));
                    }
                    children.extend(p.since.iter().map(|s| Inline::text(s.statement.clone())));
                    Item {
                        body: Inline::text(p.statement.clone()),
                        children,
                    }
                })
                .collect(),
        ));
        for line in v.no_pattern() {
            b.push(para(line));
        }
        for (mode, feature, hist) in v.histograms() {
            let by = format!("{mode} setups by {}", label(feature));
            let rows = hist
                .into_iter()
                .map(|(val, f, w)| {
                    vec![
                        Inline::Code(val, Code::Bytes),
                        Inline::text(thousands(f)),
                        Inline::text(thousands(w)),
                    ]
                })
                .collect();
            b.push(table(
                &[(&by, Left), ("failures", Right), ("worked", Right)],
                rows,
            ));
        }
    }
    let since = v.failures_since();
    if !since.is_empty() {
        b.push(h2(SINCE_TITLE));
        b.push(Block::List(
            since
                .into_iter()
                .map(|line| Item {
                    body: Inline::text(line),
                    children: Vec::new(),
                })
                .collect(),
        ));
    }
    let (title, course) = v.time_course();
    if !course.is_empty() {
        b.push(h2(title.1));
        b.push(Block::Drawn(vec![Block::Timeline(Timeline {
            periods: course
                .iter()
                .map(|(label, n)| (label.clone(), n[0] + n[2], n[1] + n[3]))
                .collect(),
        })]));
        let rows = course
            .into_iter()
            .map(|(label, n)| {
                let mut row = vec![Inline::text(label)];
                row.extend(n.iter().map(|&x| Inline::text(thousands(x))));
                row
            })
            .collect();
        b.push(table(
            &[
                (title.0, Left),
                ("active failures", Right),
                ("active worked", Right),
                ("passive failures", Right),
                ("passive worked", Right),
            ],
            rows,
        ));
    }
    let by_rule = v.findings_by_rule();
    if !by_rule.is_empty() {
        b.push(h2("Findings by rule"));
        let rows = by_rule
            .into_iter()
            .map(|(rule, n, what)| {
                vec![
                    Inline::Code(rule, Code::Id),
                    Inline::text(thousands(n)),
                    Inline::text(what),
                ]
            })
            .collect();
        b.push(table(
            &[("Rule", Left), ("Findings", Right), ("What it means", Left)],
            rows,
        ));
    }
    for r in v.hosts() {
        rows_block(r, &mut b);
    }
    let path = |p: &str| Inline::Code(crate::escape::escape(p.as_bytes()), Code::Long);
    let caps = v.captures_with_findings();
    if !caps.is_empty() {
        b.push(h2("Captures with error or warning findings"));
        let rows = caps
            .iter()
            .map(|c| {
                vec![
                    path(&c.path),
                    Inline::text(thousands(c.sessions)),
                    Inline::text(thousands(c.error_findings)),
                    Inline::text(thousands(c.warning_findings)),
                ]
            })
            .collect();
        b.push(table(
            &[
                ("Capture", Left),
                ("Sessions", Right),
                ("Errors", Right),
                ("Warnings", Right),
            ],
            rows,
        ));
    }
    if !inputs.is_empty() {
        b.push(h2("Inputs"));
        let rows = inputs
            .iter()
            .map(|i| {
                vec![
                    Inline::text(i.index.to_string()),
                    path(&i.path),
                    i.sha256
                        .as_deref()
                        .map_or(Inline::text("not computed"), |x| {
                            Inline::Code(x.into(), Code::Long)
                        }),
                ]
            })
            .collect();
        b.push(table(
            &[("#", Right), ("Capture", Left), ("SHA-256", Left)],
            rows,
        ));
    }
    if !s.capture_errors.is_empty() {
        b.push(h2("Captures that could not be read"));
        let rows = s
            .capture_errors
            .iter()
            .map(|c| vec![path(&c.path), Inline::text(&c.error)])
            .collect();
        b.push(table(&[("Capture", Left), ("Error", Left)], rows));
    }
    Page {
        name: "portmortem report: archive",
        title: format!("FTP forensic report: {} captures", thousands(s.captures)),
        blocks: b,
        header: hd,
    }
}
