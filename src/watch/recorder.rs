//! The flight recorder: recent frames, and the evidence (pcapng and
//! Markdown report) of every session that ends failing, cut from them.

use super::queue::OwnedFrame;
use super::{Emitter, EvidenceOptions, event::Event};
use crate::analysis::Options;
use crate::engine::Counters;
use crate::ftp::session::Session;
use crate::rules::Finding;
use crate::timestamp::Timestamp;
use std::io::Write;

/// Recent frames with the `tcp.stream` the engine gave them, up to a
/// byte budget: what the evidence of a session is cut from.
pub(super) struct Recorder {
    opts: EvidenceOptions,
    source: String,
    frames: std::collections::VecDeque<(OwnedFrame, Option<u32>)>,
    bytes: usize,
    /// Frames and record bytes (16-byte pcap record header each) of the
    /// whole stream so far, for the report's description of it.
    seen_frames: u64,
    seen_bytes: u64,
}

/// What a buffered frame costs beside its bytes (its header fields and the
/// queue's slot), counted against the buffer's budget.
const FRAME_OVERHEAD: usize = 64;

impl Recorder {
    pub(super) fn new(opts: EvidenceOptions, source: String) -> Recorder {
        Recorder {
            opts,
            source,
            frames: std::collections::VecDeque::new(),
            bytes: 0,
            seen_frames: 0,
            seen_bytes: 0,
        }
    }

    pub(super) fn push(&mut self, f: OwnedFrame, stream: Option<u32>) {
        self.seen_frames += 1;
        self.seen_bytes += f.data.len() as u64 + 16;
        self.bytes += f.data.len() + FRAME_OVERHEAD;
        self.frames.push_back((f, stream));
        while self.bytes > self.opts.buffer_bytes
            && let Some((old, _)) = self.frames.pop_front()
        {
            self.bytes -= old.data.len() + FRAME_OVERHEAD;
        }
    }

    /// Writes `s`'s pcapng and Markdown report; the event says where.
    fn write(&self, opts: &Options, s: Session, findings: Vec<Finding>) -> Event<'static> {
        // 2026-11-24T04-29-18.157015000Z-s1.pcapng: sorts by time, no
        // colon (Windows shares), the session last.
        let stamp = s.start.rfc3339().replace(':', "-");
        let file = |ext: &str| self.opts.dir.join(format!("{stamp}-{}.{ext}", s.name()));
        let incomplete = self
            .frames
            .front()
            .is_some_and(|(f, _)| f.number > s.first_frame);
        let sel = crate::extract::Selection {
            sessions: vec![s.name()],
            with_data: true,
            anonymize_key: self.opts.anonymize_key.clone(),
            show_passwords: opts.show_passwords,
        };
        let pcap_path = file("pcapng");
        let md_path = file("md");
        let refs: Vec<&Finding> = findings.iter().collect();
        let written = (|| -> Result<u64, String> {
            let mut out = crate::report::output::Destination::create(Some(&pcap_path), [])
                .map_err(|e| e.to_string())?;
            let mut frames = self.frames.iter().map(|(f, st)| (f.as_frame(), *st));
            let w =
                crate::extract::write_session(&s, &refs, &self.source, &mut frames, &sel, &mut out)
                    .map_err(|e| e.to_string())?;
            out.commit().map_err(|e| e.to_string())?;
            Ok(w.packets)
        })();
        let name = s.name();
        let md = (|| -> Result<(), String> {
            let result = crate::analysis::CaptureResult {
                info: crate::capture::CaptureInfo {
                    path: self.source.clone(),
                    sha256: None,
                    file_bytes: self.seen_bytes,
                    compression: None,
                    format: "stream followed by watch (bytes and frames up to this session's end)"
                        .into(),
                    link_types: Vec::new(),
                    sections: 0,
                    interfaces: 0,
                    frame_count: self.seen_frames,
                    first_ts: Some(s.start),
                    last_ts: Some(s.end),
                    ts_digits: 9,
                    interface_stats: Vec::new(),
                    legs: Vec::new(),
                    duplicates: 0,
                    inside_device: 0,
                    view: None,
                    stitched: None,
                },
                counters: Counters::default(),
                error: None,
                sessions: vec![s],
                findings,
                sessions_not_kept: 0,
                sessions_written: 0,
                findings_not_kept: 0,
                not_listed: Default::default(),
            };
            let results = [result];
            let mut rep = crate::report::model::analyze_report(&results, Default::default());
            rep.header.command = "watch";
            let mut out = crate::report::output::Destination::create(Some(&md_path), [])
                .map_err(|e| e.to_string())?;
            crate::report::markdown::render(&rep, &mut out).map_err(|e| e.to_string())?;
            if incomplete {
                writeln!(
                    out,
                    "\nThe evidence capture lacks the session's first frames: they had left watch's buffer (--evidence-buffer-mb)."
                )
                .map_err(|e| e.to_string())?;
            }
            out.commit().map_err(|e| e.to_string())
        })();
        let error = match (&written, &md) {
            (Err(e), _) | (_, Err(e)) => Some(e.clone()),
            _ => None,
        };
        Event::Evidence {
            ts: Timestamp::now(),
            session: name,
            pcapng: written
                .is_ok()
                .then(|| pcap_path.to_string_lossy().into_owned()),
            markdown: md.is_ok().then(|| md_path.to_string_lossy().into_owned()),
            packets: *written.as_ref().unwrap_or(&0),
            incomplete,
            error,
        }
    }
}

/// Writes the evidence of the sessions that ended failing.
pub(super) fn flush_evidence(em: &mut Emitter<'_>) {
    for (s, fs) in std::mem::take(&mut em.pending) {
        let Some(rec) = em.recorder.as_ref() else {
            return;
        };
        let e = rec.write(em.opts, s, fs);
        em.emit(&e);
    }
}
