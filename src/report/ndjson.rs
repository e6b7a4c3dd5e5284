//! `--format ndjson` for `analyze` and `compare`: one JSON object per
//! line, each with a `type` (`capture`, `session`, `finding`, `pair`,
//! `comparison`, `summary`) and its fields at the top level, so that a SIEM or DuckDB
//! (`read_json_auto`) takes the file as it is. The objects are those of
//! the JSON document, one per line; `portmortem schema report-lines`
//! describes them.

use super::model::{CaptureView, CompareReport, SessionView, Summary, Unmatched};
use crate::compare::PairReport;
use crate::rules::Finding;
use serde::Serialize;
use std::io::{self, Write};

/// One line. Every line names its capture (`capture_path`, empty for the
/// summary), so no join is needed.
#[derive(Serialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Line<'a> {
    Capture {
        /// The path of the capture the line is about (empty for the summary;
        /// for compare's lines, the client-side capture).
        capture_path: &'a str,
        #[serde(flatten)]
        capture: &'a CaptureView<'a>,
    },
    Session {
        /// The path of the capture the line is about (empty for the summary;
        /// for compare's lines, the client-side capture).
        capture_path: &'a str,
        #[serde(flatten)]
        session: &'a SessionView<'a>,
    },
    /// A finding, self-contained: with its capture's SHA-256 too (when
    /// hashed), so a SIEM event proves which file it came from.
    Finding {
        /// The path of the capture the line is about (empty for the summary;
        /// for compare's lines, the client-side capture).
        capture_path: &'a str,
        /// The SHA-256 of the capture the finding is in (when hashed), so the
        /// event proves which file it came from.
        #[serde(skip_serializing_if = "Option::is_none")]
        capture_sha256: Option<&'a str>,
        #[serde(flatten)]
        finding: &'a Finding,
    },
    /// `compare`: one session seen at both taps.
    Pair {
        /// The path of the capture the line is about (empty for the summary;
        /// for compare's lines, the client-side capture).
        capture_path: &'a str,
        #[serde(flatten)]
        pair: &'a PairReport,
    },
    /// `compare`, after its pairs: which capture is which, the sessions
    /// seen at one tap only or never compared, and why nothing was
    /// compared when the captures do not hold the same traffic.
    Comparison {
        /// The path of the capture the line is about (empty for the summary;
        /// for compare's lines, the client-side capture).
        capture_path: &'a str,
        /// Which capture is which side, and how that was decided.
        sides: &'a crate::compare::SideInfo,
        /// Sessions seen at one tap only, and sessions not compared.
        unmatched: &'a Unmatched<'a>,
        /// Why the captures do not seem to hold the same traffic, when nothing
        /// was compared.
        no_common_traffic: Option<&'a str>,
    },
    Summary {
        /// The path of the capture the line is about (empty for the summary;
        /// for compare's lines, the client-side capture).
        capture_path: &'a str,
        #[serde(flatten)]
        summary: &'a Summary,
    },
}

impl Line<'_> {
    /// Writes the line and its line end.
    pub fn write(&self, out: &mut dyn Write) -> io::Result<()> {
        serde_json::to_writer(&mut *out, self)?;
        out.write_all(b"\n")
    }
}

/// The lines of a report: its captures, sessions, findings (and, for a
/// comparison, its session pairs and what the comparison says of them),
/// then the summary.
pub fn render(
    captures: &[CaptureView<'_>],
    sessions: &[SessionView<'_>],
    findings: &[&Finding],
    compare: Option<&CompareReport<'_>>,
    summary: &Summary,
    out: &mut dyn Write,
) -> io::Result<()> {
    let path = |i: usize| captures.get(i).map_or("", |c| c.info.path.as_str());
    let sha = |i: usize| captures.get(i).and_then(|c| c.info.sha256.as_deref());
    for c in captures {
        let capture_path = &c.info.path;
        Line::Capture {
            capture_path,
            capture: c,
        }
        .write(out)?;
    }
    for s in sessions {
        let capture_path = path(s.capture);
        Line::Session {
            capture_path,
            session: s,
        }
        .write(out)?;
    }
    for f in findings {
        Line::Finding {
            capture_path: path(f.capture),
            capture_sha256: sha(f.capture),
            finding: f,
        }
        .write(out)?;
    }
    if let Some(c) = compare {
        for p in &c.pairs {
            Line::Pair {
                capture_path: path(0),
                pair: p,
            }
            .write(out)?;
        }
        Line::Comparison {
            capture_path: path(0),
            sides: c.sides,
            unmatched: &c.unmatched,
            no_common_traffic: c.no_common_traffic,
        }
        .write(out)?;
    }
    Line::Summary {
        capture_path: "",
        summary,
    }
    .write(out)
}
