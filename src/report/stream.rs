//! `analyze`'s JSON (compact, the default) and NDJSON written as the
//! analysis goes: each session when it ends, so that memory holds the
//! live sessions and the findings, not every session of the file. The
//! objects are those of the whole document (`--pretty` builds that, in
//! session order, and holds everything until the end).
//!
//! JSON: the header's fields, `sessions` (in the order they ended; sort by
//! `id`), then `captures`, `findings` (in session order) and `summary`.
//! NDJSON: a `session` line as each ends; once every capture is read, its
//! `finding` lines (each with the capture's SHA-256, known only then) and
//! its `capture` line; then the `summary`.

use super::model::{self, Summary};
use super::ndjson::Line;
use super::output::write_json;
use crate::analysis::CaptureResult;
use crate::ftp::session::Session;
use crate::header::Header;
use crate::rules::Finding;
use std::io::{self, Write};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    Json,
    Ndjson,
}

pub struct Streamed<'w> {
    out: &'w mut dyn Write,
    shape: Shape,
    sessions: u64,
    /// Sessions written per capture (its `session_count`: a trimmed
    /// report lists fewer than the analysis had).
    listed: Vec<usize>,
    /// Each session is serialized here, then written at once: serde_json
    /// writes token by token, and through `dyn Write` each token would be
    /// a call into the destination.
    buf: Vec<u8>,
    /// The first write that failed: the analysis goes on (its exit code
    /// is still wanted), nothing more is written.
    failed: Option<io::Error>,
}

impl<'w> Streamed<'w> {
    /// Starts the report (JSON: the header, and the `sessions` array open).
    pub fn begin(out: &'w mut dyn Write, shape: Shape, header: &Header) -> io::Result<Self> {
        if shape == Shape::Json {
            let mut h = serde_json::to_vec(header)?;
            // The header is an object: its closing brace comes at the end.
            h.pop();
            out.write_all(&h)?;
            out.write_all(b",\"sessions\":[")?;
        }
        Ok(Streamed {
            out,
            shape,
            sessions: 0,
            listed: Vec::new(),
            buf: Vec::with_capacity(1 << 16),
            failed: None,
        })
    }

    /// A session of capture `capture` (at `path`) as it ended.
    pub fn session(&mut self, capture: usize, path: &str, s: &Session) {
        if self.failed.is_some() {
            return;
        }
        let view = model::session_view(capture, s);
        let buf = &mut self.buf;
        buf.clear();
        let r = match self.shape {
            Shape::Json => {
                if self.sessions > 0 {
                    buf.push(b',');
                }
                serde_json::to_writer(&mut *buf, &view).map_err(io::Error::from)
            }
            Shape::Ndjson => Line::Session {
                capture_path: path,
                session: &view,
            }
            .write(&mut *buf),
        };
        self.sessions += 1;
        if self.listed.len() <= capture {
            self.listed.resize(capture + 1, 0);
        }
        self.listed[capture] += 1;
        if let Err(e) = r.and_then(|_| self.out.write_all(&self.buf)) {
            self.failed = Some(e);
        }
    }

    /// Ends the report with the captures (their findings' `capture` set to
    /// their position), the findings and the summary.
    pub fn finish(self, results: &[CaptureResult], summary: &Summary) -> io::Result<()> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let out = self.out;
        let mut captures: Vec<_> = results.iter().map(model::capture_view).collect();
        for (i, c) in captures.iter_mut().enumerate() {
            c.session_count = self.listed.get(i).copied().unwrap_or(0);
        }
        match self.shape {
            Shape::Json => {
                out.write_all(b"],\"captures\":")?;
                write_json(out, &captures, false)?;
                out.write_all(b",\"findings\":")?;
                let findings: Vec<&Finding> = results.iter().flat_map(|r| &r.findings).collect();
                write_json(out, &findings, false)?;
                out.write_all(b",\"summary\":")?;
                write_json(out, summary, false)?;
                out.write_all(b"}")
            }
            Shape::Ndjson => {
                for (c, r) in captures.iter().zip(results) {
                    let capture_path = &c.info.path;
                    for f in &r.findings {
                        Line::Finding {
                            capture_path,
                            capture_sha256: c.info.sha256.as_deref(),
                            finding: f,
                        }
                        .write(&mut *out)?;
                    }
                    Line::Capture {
                        capture_path,
                        capture: c,
                    }
                    .write(&mut *out)?;
                }
                Line::Summary {
                    capture_path: "",
                    summary,
                }
                .write(&mut *out)
            }
        }
    }
}
