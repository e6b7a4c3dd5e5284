//! The page of `batch` and `merge`: the archive's verdict, its counts,
//! the patterns its failures share, and the captures with findings.

use super::*;

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
    if !s.patterns.is_empty() {
        b.push(h2("Patterns in the failures"));
        b.push(Block::List(
            s.patterns
                .iter()
                .map(|p| Item {
                    body: Inline::text(format!("{} (Fisher p = {:.1e})", p.statement, p.p_value)),
                    children: p
                        .since
                        .iter()
                        .map(|s| Inline::text(s.statement.clone()))
                        .collect(),
                })
                .collect(),
        ));
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
                &[(&by, Left), ("failed", Right), ("worked", Right)],
                rows,
            ));
        }
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
                ("active failed", Right),
                ("active worked", Right),
                ("passive failed", Right),
                ("passive worked", Right),
            ],
            rows,
        ));
    }
    if !s.totals.findings_by_rule.is_empty() {
        b.push(h2("Findings by rule"));
        let rows = s
            .totals
            .findings_by_rule
            .iter()
            .map(|(rule, n)| {
                vec![
                    Inline::Code(rule.clone(), Code::Id),
                    Inline::text(thousands(*n)),
                ]
            })
            .collect();
        b.push(table(&[("Rule", Left), ("Findings", Right)], rows));
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
