//! The report for people as a document — the verdict, headings,
//! paragraphs, lists, tables, byte diffs and dialogue diagrams — built
//! from the model by one walk per command, and written by two syntaxes:
//! `markdown.rs` and `html.rs`. So both say the same, in the same order;
//! the HTML page also draws the diagrams ([`Block::Drawn`]), which
//! Markdown, having no pictures, leaves out.

mod batch;
pub mod ladder;

pub use batch::batch;

use super::batch::{BatchView, Input};
use super::clock::Clock;
use super::model::{
    BatchSummary, CaptureView, CompareReport, Report, SessionView, SetupView, Summary,
};
use super::wording::{
    capitalized, capped, frame_list, limits_hit, session_filter, verdict_parts, wire_name,
};
use crate::batch::words::{label, thousands};
use crate::compare::align::{Seen, Status};
use crate::compare::views::{Tap, Views};
use crate::diff::ByteDiff;
use crate::header::Header;
use crate::reassembly::connection::Side;
use crate::rules::{Finding, Severity};
pub use ladder::{Arrow, Ladder};

/// `text` cut into its runs of plain text and its http(s) URLs (true),
/// in order, for [`Inline::Cited`].
pub fn cited(text: &str) -> Vec<(&str, bool)> {
    let mut finder = linkify::LinkFinder::new();
    finder.kinds(&[linkify::LinkKind::Url]);
    finder
        .spans(text)
        .map(|s| {
            let url = s.kind().is_some()
                && (s.as_str().starts_with("https://") || s.as_str().starts_with("http://"));
            (s.as_str(), url)
        })
        .collect()
}

/// How a code span may wrap on a narrow page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    /// Bytes from the wire: never broken inside a token.
    Bytes,
    /// A rule id, an address, a timestamp: never broken at all.
    Id,
    /// A path or a hash: may break anywhere.
    Long,
    /// A Wireshark filter: breaks at its spaces.
    Filter,
}

/// Text within a block.
#[derive(Clone, Debug)]
pub enum Inline {
    /// Our own words (escaped by each syntax).
    Text(String),
    Code(String, Code),
    /// One of our messages: lines quoted between backticks become code.
    Message(String),
    Strong(String),
    Sev(Severity),
    /// A link to a heading's anchor (Markdown shows the text only).
    Link {
        anchor: String,
        text: String,
    },
    /// Our own words citing sources: each http(s) URL in it becomes a
    /// link. Never for text from a capture (a report must not turn a
    /// URL an attacker sent into something to click).
    Cited(String),
    Seq(Vec<Inline>),
}

impl Inline {
    fn text(s: impl Into<String>) -> Self {
        Inline::Text(s.into())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

pub struct Table {
    pub heads: Vec<(String, Align)>,
    pub rows: Vec<Vec<Inline>>,
}

/// A list item, with items under it.
pub struct Item {
    pub body: Inline,
    pub children: Vec<Inline>,
}

pub enum Block {
    /// A headline and the rest of its sentence (see
    /// [`verdict_parts`]), coloured by the worst severity.
    Verdict {
        headline: String,
        rest: String,
        severity: Option<Severity>,
    },
    Heading {
        level: u8,
        anchor: Option<String>,
        body: Inline,
    },
    Para(Inline),
    List(Vec<Item>),
    Table(Table),
    /// Names and values, as the head of a report.
    Facts(Vec<(String, Inline)>),
    /// Two versions of a line (`first`, then as `second` says), the
    /// changed bytes marked.
    Diff {
        first: String,
        second: String,
        bytes: Vec<u8>,
        diff: ByteDiff,
    },
    /// What explains the diagrams.
    Legend(&'static str),
    Ladder(Ladder),
    /// Failures (failed transfers and refused commands) and working
    /// transfers per period, as bars (batch).
    Timeline(Timeline),
    /// Blocks only a page that draws shows (a heading over diagrams).
    Drawn(Vec<Block>),
}

/// A time course to draw: per period, its label and (failures, working
/// transfers).
pub struct Timeline {
    pub periods: Vec<(String, u64, u64)>,
}

/// A whole report.
pub struct Page<'a> {
    /// The document's title (HTML's `<title>`).
    pub name: &'static str,
    /// Its first heading.
    pub title: String,
    pub blocks: Vec<Block>,
    pub header: &'a Header,
}

fn frames(v: &[u64]) -> String {
    frame_list(v, 20)
}

/// A finding's frames, with those its line had beyond the ones kept.
fn finding_frames(f: &Finding) -> String {
    crate::report::wording::frame_list_more(&f.frames, 20, f.frames_not_listed)
}

fn h2(s: &str) -> Block {
    Block::Heading {
        level: 2,
        anchor: None,
        body: Inline::text(s),
    }
}

fn para(s: impl Into<String>) -> Block {
    Block::Para(Inline::Text(s.into()))
}

fn table(heads: &[(&str, Align)], rows: Vec<Vec<Inline>>) -> Block {
    Block::Table(Table {
        heads: heads.iter().map(|(h, a)| (h.to_string(), *a)).collect(),
        rows,
    })
}

fn verdict(findings: &[&Finding], summary: &Summary, names: &[&str]) -> Block {
    let (headline, rest) = verdict_parts(findings, summary, names);
    Block::Verdict {
        headline,
        rest,
        severity: findings.iter().map(|f| f.severity).max(),
    }
}

/// The first rows of every report's head: the tool and the time zone.
fn tool_rows(hd: &Header) -> Vec<(String, Inline)> {
    vec![
        (
            "Tool".to_string(),
            Inline::Seq(vec![
                Inline::text(format!("{} {} (", hd.tool.name, hd.tool.version)),
                Inline::Code(hd.command.into(), Code::Id),
                Inline::text(")"),
            ]),
        ),
        ("Time zone".to_string(), Inline::text(hd.time_zone)),
    ]
}

/// The head of a report: the tool, the options and each capture.
fn facts(hd: &Header, caps: &[(&str, &CaptureView<'_>)], ss: &[SessionView<'_>]) -> Block {
    let mut rows = tool_rows(hd);
    let opts: Vec<String> = hd.options.iter().map(|(k, v)| format!("{k}={v}")).collect();
    rows.push((
        "Options".into(),
        if opts.is_empty() {
            Inline::text("defaults")
        } else {
            Inline::Code(opts.join(", "), Code::Long)
        },
    ));
    for (n, (title, c)) in caps.iter().enumerate() {
        let i = c.info;
        let mut row = vec![
            Inline::Code(crate::escape::escape(i.path.as_bytes()), Code::Long),
            Inline::text(format!(
                " — {} bytes{}, {}, {} frames",
                i.file_bytes,
                i.compression.map(|z| format!(" {z}")).unwrap_or_default(),
                i.format,
                i.frame_count
            )),
        ];
        // Each end of the span whole on its line: a time is never wrapped.
        if let (Some(a), Some(b)) = (i.first_ts, i.last_ts) {
            let clock = Clock::of(i);
            row.extend([
                Inline::text(", "),
                Inline::Code(format!("{} {}", a.date_text(), clock.show(a)), Code::Id),
                Inline::text(" – "),
                Inline::Code(clock.show(b), Code::Id),
            ]);
        }
        rows.push((title.to_string(), Inline::Seq(row)));
        rows.push((
            "SHA-256".into(),
            i.sha256
                .as_deref()
                .map_or(Inline::text("not computed"), |s| {
                    Inline::Code(s.into(), Code::Long)
                }),
        ));
        if let Some(e) = c.error {
            rows.push(("Read error".into(), Inline::text(e.to_string())));
        }
        if let Some(legs) = super::wording::legs(i) {
            rows.push(("Legs".into(), Inline::text(legs)));
        }
        if let Some(d) = super::wording::duplicates(i) {
            rows.push(("Duplicates".into(), Inline::text(d)));
        }
        if let Some(d) = super::wording::inside_device(i) {
            rows.push(("Inside the device".into(), Inline::text(d)));
        }
        if let Some(loss) = super::wording::interface_loss(i) {
            rows.push(("Capture loss".into(), Inline::text(loss)));
        }
        if let Some(n) = super::wording::not_sessions(&c.packets.not_sessions) {
            rows.push(("Not sessions".into(), Inline::text(n)));
        }
        let capped = ss.iter().filter(|s| s.capture == n && capped(s));
        let limits = limits_hit(c, capped.map(|s| s.id.as_str()));
        if !limits.is_empty() {
            rows.push(("Limits hit".into(), Inline::Message(limits.join("; "))));
        }
    }
    Block::Facts(rows)
}

/// The findings table, then each finding: its message, where it is, its
/// evidence and the diff of the two versions of its line.
/// `views`: what a comparison's findings call the two captures.
fn findings(
    fs: &[&Finding],
    ss: &[SessionView<'_>],
    names: &[&str],
    views: &Views,
    out: &mut Vec<Block>,
) {
    if fs.is_empty() {
        out.push(para("No findings."));
        return;
    }
    let name = |i: usize| names.get(i).copied().unwrap_or("");
    let filter =
        |cap, s: &str, fr: &[u64]| Inline::Code(session_filter(ss, cap, s, fr), Code::Filter);
    let rows = fs
        .iter()
        .enumerate()
        .map(|(n, f)| {
            vec![
                Inline::Link {
                    anchor: format!("f{}", n + 1),
                    text: (n + 1).to_string(),
                },
                Inline::Sev(f.severity),
                Inline::Code(f.rule.id().into(), Code::Id),
                Inline::text(format!("{} {}", name(f.capture), f.session)),
                Inline::text(finding_frames(f)),
                filter(f.capture, &f.session, &f.frames),
            ]
        })
        .collect();
    use Align::*;
    out.push(table(
        &[
            ("#", Right),
            ("Severity", Left),
            ("Rule", Left),
            ("Where", Left),
            ("Frames", Left),
            ("Wireshark filter", Left),
        ],
        rows,
    ));
    for (n, f) in fs.iter().enumerate() {
        out.push(Block::Heading {
            level: 3,
            anchor: Some(format!("f{}", n + 1)),
            body: Inline::Seq(vec![
                Inline::text(format!("{}. ", n + 1)),
                Inline::Code(f.rule.id().into(), Code::Id),
                Inline::text(" "),
                Inline::Sev(f.severity),
            ]),
        });
        out.push(Block::Para(Inline::Message(capitalized(&f.message))));
        let item = |label: &str, rest: Vec<Inline>| Item {
            body: Inline::Seq(
                [vec![Inline::Strong(label.into()), Inline::text(" ")], rest].concat(),
            ),
            children: Vec::new(),
        };
        let mut items = vec![
            item(
                "Who:",
                vec![Inline::Message(
                    super::wording::attribution(f)
                        .trim_start_matches("who: ")
                        .to_string(),
                )],
            ),
            item(
                "Where:",
                vec![Inline::text(format!(
                    "{} session {}, frames {}",
                    name(f.capture),
                    f.session,
                    finding_frames(f)
                ))],
            ),
            item(
                "Wireshark filter:",
                vec![filter(f.capture, &f.session, &f.frames)],
            ),
        ];
        if let Some(o) = &f.other {
            // Never an empty frame list or filter: the line is not there.
            let at = if o.frames.is_empty() {
                vec![Inline::text(format!(
                    "{} session {}, no frame of it",
                    name(o.capture),
                    o.session
                ))]
            } else {
                vec![
                    Inline::text(format!(
                        "{} session {}, frames {}; filter ",
                        name(o.capture),
                        o.session,
                        frames(&o.frames)
                    )),
                    filter(o.capture, &o.session, &o.frames),
                ]
            };
            let label = format!("{}:", capitalized(&views.at(Views::of_capture(o.capture))));
            items.push(item(
                if views.are_legs() {
                    &label
                } else {
                    "At the other tap:"
                },
                at,
            ));
        }
        if let Some(sig) = f.signature {
            items.push(item(
                "Known signature:",
                vec![Inline::Cited(format!(
                    "{} — {} ({})",
                    sig.device, sig.behaviour, sig.reference
                ))],
            ));
        }
        if f.occurrences > 1 {
            items.push(item(
                "Occurrences:",
                vec![Inline::text(f.occurrences.to_string())],
            ));
        }
        for r in &f.related {
            items.push(item(
                "Same event:",
                vec![Inline::Message(
                    super::wording::related(f, r, views)
                        .trim_start_matches("same event, ")
                        .to_string(),
                )],
            ));
        }
        out.push(Block::List(items));
        if !f.also.is_empty() {
            let cases = f.also.iter().enumerate().map(|(k, o)| Item {
                body: Inline::Seq(vec![
                    Inline::Strong(format!("Case {}", k + 2)),
                    Inline::text(format!(" (frames {}): ", frames(&o.frames))),
                    Inline::Message(capitalized(&o.message)),
                ]),
                children: o
                    .evidence
                    .iter()
                    .map(|e| {
                        Inline::Seq(vec![
                            Inline::text(format!("{}, frames {}: ", e.what, frames(&e.frames))),
                            Inline::Code(e.bytes.to_string(), Code::Bytes),
                        ])
                    })
                    .collect(),
            });
            out.push(Block::List(cases.collect()));
        }
        if !f.evidence.is_empty() {
            let rows = f
                .evidence
                .iter()
                .map(|e| {
                    vec![
                        Inline::text(&e.what),
                        Inline::text(name(e.capture.unwrap_or(f.capture))),
                        Inline::text(crate::report::wording::frame_list_more(
                            &e.frames,
                            20,
                            e.frames_not_listed,
                        )),
                        Inline::Code(e.bytes.to_string(), Code::Bytes),
                    ]
                })
                .collect();
            out.push(table(
                &[
                    ("Evidence", Left),
                    ("Capture", Left),
                    ("Frames", Left),
                    ("Bytes", Left),
                ],
                rows,
            ));
        }
        if let (Some(d), Some(first)) = (&f.diff, f.evidence.first()) {
            out.push(Block::Diff {
                first: first.what.clone(),
                second: f
                    .evidence
                    .get(1)
                    .map_or("changed to", |e| e.what.as_str())
                    .to_string(),
                bytes: first.bytes.0.clone(),
                diff: d.clone(),
            });
            out.push(Block::Para(Inline::Seq(vec![
                Inline::text("Diff: "),
                Inline::Message(d.describe()),
            ])));
        }
    }
}

fn sessions(
    ss: &[SessionView<'_>],
    caps: &[CaptureView<'_>],
    names: &[&str],
    out: &mut Vec<Block>,
) {
    if ss.is_empty() {
        out.push(para("No FTP control session found."));
        return;
    }
    let rows = ss
        .iter()
        .map(|s| {
            let setups: Vec<String> = s.data_setups.iter().map(SetupView::label).collect();
            vec![
                Inline::text(names.get(s.capture).copied().unwrap_or("")),
                Inline::text(&s.id),
                Inline::Seq(vec![
                    Inline::Code(s.client.clone(), Code::Id),
                    Inline::text(" → "),
                    Inline::Code(s.server.clone(), Code::Id),
                ]),
                Inline::text(s.tcp_stream.map(|n| n.to_string()).unwrap_or_default()),
                Inline::text(format!("{}–{}", s.first_frame, s.last_frame)),
                // The date is in the capture's row of the head.
                Inline::Code(
                    caps.get(s.capture)
                        .map_or_else(|| s.start.to_string(), |c| Clock::of(c.info).show(s.start)),
                    Code::Id,
                ),
                Inline::text(
                    s.dialogue
                        .iter()
                        .filter(|e| e.dir == Side::Client)
                        .count()
                        .to_string(),
                ),
                Inline::text(setups.join(", ")),
                Inline::text(s.server_software.map_or("", |x| x.name)),
                Inline::text(wire_name(&s.end_reason)),
            ]
        })
        .collect();
    use Align::*;
    out.push(table(
        &[
            ("Capture", Left),
            ("Session", Left),
            ("Client → server", Left),
            ("tcp.stream", Right),
            ("Frames", Left),
            ("Start", Left),
            ("Commands", Right),
            ("Data setups", Left),
            ("Server", Left),
            ("End", Left),
        ],
        rows,
    ));
}

/// `analyze`'s report.
pub fn analyze<'a>(r: &'a Report<'_>) -> Page<'a> {
    // Numbered by their place among the inputs, as JSON numbers them.
    let names: Vec<String> = r
        .captures
        .iter()
        .map(|c| format!("capture {}", c.number + 1))
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut b = vec![verdict(&r.findings, &r.summary, &names)];
    let caps: Vec<(&str, &CaptureView<'_>)> = names.iter().copied().zip(&r.captures).collect();
    b.push(facts(&r.header, &caps, &r.sessions));
    b.push(h2("Findings"));
    let hidden: u64 = r.captures.iter().map(|c| c.not_listed.findings()).sum();
    if hidden > 0 && r.findings.is_empty() {
        b.push(para(format!(
            "No findings listed ({hidden} left out by the report's options)."
        )));
    } else {
        findings(&r.findings, &r.sessions, &names, &Views::taps(), &mut b);
    }
    let mut drawn = vec![h2("Dialogues"), Block::Legend(ladder::LEGEND_ONE)];
    for s in &r.sessions {
        drawn.push(Block::Heading {
            level: 3,
            anchor: None,
            body: Inline::text(format!(
                "Session {} — {} → {}{}",
                s.id,
                s.client,
                s.server,
                s.tcp_stream
                    .map(|n| format!(" (tcp.stream {n})"))
                    .unwrap_or_default()
            )),
        });
        drawn.push(Block::Ladder(ladder::session(s, &r.findings)));
    }
    b.push(Block::Drawn(drawn));
    b.push(h2("Sessions"));
    sessions(&r.sessions, &r.captures, &names, &mut b);
    Page {
        name: "portmortem report",
        title: "FTP forensic report".into(),
        blocks: b,
        header: &r.header,
    }
}

/// `compare`'s report.
pub fn compare<'a>(r: &'a CompareReport<'_>) -> Page<'a> {
    let views = r.views();
    let both = [Tap::ClientSide, Tap::ServerSide];
    let owned = both.map(|t| views.capture_name(t));
    let names = owned.each_ref().map(String::as_str);
    let mut b = vec![match r.no_common_traffic {
        Some(_) => Block::Verdict {
            headline: r.sides.explanation.clone(),
            rest: String::new(),
            severity: None,
        },
        None => verdict(&r.findings, &r.summary, &names),
    }];
    let titles = both.map(|t| views.title(t));
    let caps: Vec<(&str, &CaptureView<'_>)> =
        titles.iter().map(String::as_str).zip(&r.captures).collect();
    b.push(facts(&r.header, &caps, &r.sessions));
    if let Some(legs) = &r.sides.legs {
        b.push(para(legs));
    }
    b.push(para(&r.sides.explanation));
    if let Some(s) = r.unmatched.not_compared.sentence() {
        b.push(para(s));
    }
    let (between, own): (Vec<&Finding>, Vec<&Finding>) =
        r.findings.iter().partition(|f| f.other.is_some());
    b.push(h2(&capitalized(&format!(
        "differences between {}",
        views.both()
    ))));
    match r.differences_not_listed.findings() {
        n if n > 0 && between.is_empty() => b.push(para(format!(
            "No findings listed ({n} left out by the report's options)."
        ))),
        _ => findings(&between, &r.sessions, &names, &views, &mut b),
    }
    if !r.pairs.is_empty() {
        b.push(h2("Dialogues through the firewall"));
        b.push(Block::Drawn(vec![Block::Legend(ladder::LEGEND_TWO)]));
    }
    for p in &r.pairs {
        b.push(Block::Heading {
            level: 3,
            anchor: None,
            body: Inline::text(format!(
                "Session {} (client side) = {} (server side)",
                p.client_side_session, p.server_side_session
            )),
        });
        // The facts the text report gives, in its words.
        b.push(Block::List(
            crate::report::pair::facts(p, &views)
                .into_iter()
                .map(|f| Item {
                    body: Inline::Message(capitalized(&f)),
                    children: Vec::new(),
                })
                .collect(),
        ));
        if p.lines_not_listed > 0 {
            b.push(para(crate::report::pair::lines_not_listed(
                p.lines_not_listed,
            )));
            continue;
        }
        b.push(Block::Drawn(vec![Block::Ladder(ladder::pair(p, r))]));
        let side = |x: &Option<Seen>| match x {
            Some(s) => (
                Inline::text(frames(&s.frames)),
                Inline::Code(s.text.to_string(), Code::Bytes),
            ),
            None => (Inline::text(""), Inline::text("—")),
        };
        let rows: Vec<Vec<Inline>> = p
            .lines
            .iter()
            .filter(|l| l.status != Status::Identical)
            .map(|l| {
                let (cf, ct) = side(&l.client_side);
                let (sf, st) = side(&l.server_side);
                let dir = if l.dir == Side::Client { "→" } else { "←" };
                vec![
                    Inline::text(dir),
                    Inline::text(wire_name(&l.status)),
                    cf,
                    ct,
                    sf,
                    st,
                ]
            })
            .collect();
        if !rows.is_empty() {
            use Align::*;
            b.push(table(
                &[
                    ("Dir", Left),
                    ("Status", Left),
                    ("Client-side frames", Left),
                    ("Client side", Left),
                    ("Server-side frames", Left),
                    ("Server side", Left),
                ],
                rows,
            ));
        }
        if !p.data.is_empty() {
            use crate::report::pair::data_side;
            let rows = p
                .data
                .iter()
                .map(|d| {
                    vec![
                        Inline::text((d.line + 1).to_string()),
                        Inline::Message(data_side(&d.client_side)),
                        Inline::Message(data_side(&d.server_side)),
                    ]
                })
                .collect();
            use Align::*;
            b.push(para(format!(
                "Data connections, as each {} saw them:",
                views.word()
            )));
            let heads = both.map(|t| capitalized(&views.heading(t)));
            b.push(table(
                &[("Line", Right), (&heads[0], Left), (&heads[1], Left)],
                rows,
            ));
        }
    }
    if let Some(text) = crate::report::pair::one_tap(r) {
        b.push(para(text));
    }
    if !own.is_empty() {
        b.push(h2("Each capture's own findings"));
        findings(&own, &r.sessions, &names, &views, &mut b);
    }
    b.push(h2("Sessions"));
    sessions(&r.sessions, &r.captures, &names, &mut b);
    Page {
        name: "portmortem report: both sides of the firewall",
        title: "FTP forensic report: both sides of the firewall".into(),
        blocks: b,
        header: &r.header,
    }
}
