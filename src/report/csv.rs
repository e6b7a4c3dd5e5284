//! `--format csv`: one row per finding, for a spreadsheet or a SIEM that
//! takes CSV. RFC 4180 quoting (the csv crate); bytes from the capture are
//! escaped as everywhere, so a message never carries a raw control byte.

use super::model::{CaptureView, SessionView};
use crate::rules::Finding;
use std::io::{self, Write};

/// Writes one row per finding of `findings` (with the captures and
/// sessions they refer to).
pub fn render(
    captures: &[CaptureView<'_>],
    sessions: &[SessionView<'_>],
    findings: &[&Finding],
    out: &mut dyn Write,
) -> io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "capture",
        "sha256",
        "session",
        "tcp_stream",
        "community_id",
        "client",
        "server",
        "rule",
        "severity",
        "actor",
        "proof",
        "frames",
        "other_capture_frames",
        "message",
        "proof_text",
    ])?;
    for f in findings {
        let c = captures.get(f.capture);
        let s = super::wording::session_of(sessions, f.capture, &f.session);
        let frames = |v: &[u64]| v.iter().map(u64::to_string).collect::<Vec<_>>().join(" ");
        w.write_record([
            c.map(|c| crate::escape::printable(&c.info.path))
                .unwrap_or_default(),
            c.and_then(|c| c.info.sha256.clone()).unwrap_or_default(),
            f.session.clone(),
            s.and_then(|s| s.tcp_stream)
                .map(|t| t.to_string())
                .unwrap_or_default(),
            f.community_id.clone().unwrap_or_default(),
            s.map(|s| s.client.clone()).unwrap_or_default(),
            s.map(|s| s.server.clone()).unwrap_or_default(),
            f.rule.id().to_string(),
            f.severity.name().to_string(),
            f.actor.name().to_string(),
            f.proof.kind.name().to_string(),
            frames(&f.frames),
            f.other
                .as_ref()
                .map(|o| frames(&o.frames))
                .unwrap_or_default(),
            // Messages quote capture bytes escaped already.
            f.message.clone(),
            f.proof.text.clone(),
        ])?;
    }
    w.flush()
}
