//! `--format ndjson` for `analyze` and `compare`: one JSON object per
//! line, each with a `type` (`capture`, `session`, `finding`, `pair`,
//! `summary`) and its fields at the top level, so that a SIEM or DuckDB
//! (`read_json_auto`) takes the file as it is. The objects are those of
//! the JSON document (docs/json-schema.md), one per line.

use super::model::{CaptureView, SessionView, Summary};
use crate::rules::Finding;
use serde::Serialize;
use std::io::{self, Write};

#[derive(Serialize)]
struct Event<'a, T: Serialize> {
    #[serde(rename = "type")]
    kind: &'static str,
    /// The capture's path, on every line (so no join is needed).
    capture_path: &'a str,
    #[serde(flatten)]
    body: T,
}

/// Writes one line of type `kind` about the capture at `path`.
pub(crate) fn line<T: Serialize>(
    out: &mut dyn Write,
    kind: &'static str,
    path: &str,
    body: T,
) -> io::Result<()> {
    serde_json::to_writer(
        &mut *out,
        &Event {
            kind,
            capture_path: path,
            body,
        },
    )?;
    out.write_all(b"\n")
}

/// The lines of a report: its captures, sessions, findings (and, for a
/// comparison, its session pairs), then the summary.
pub fn render<P: Serialize>(
    captures: &[CaptureView<'_>],
    sessions: &[SessionView<'_>],
    findings: &[&Finding],
    pairs: &[P],
    summary: &Summary,
    out: &mut dyn Write,
) -> io::Result<()> {
    let path = |i: usize| captures.get(i).map_or("", |c| c.info.path.as_str());
    for c in captures {
        line(out, "capture", &c.info.path, c)?;
    }
    for s in sessions {
        line(out, "session", path(s.capture), s)?;
    }
    for f in findings {
        line(out, "finding", path(f.capture), f)?;
    }
    for p in pairs {
        line(out, "pair", path(0), p)?;
    }
    line(out, "summary", "", summary)
}
