//! One matched session pair as the classifiers see it, and the words
//! for its two taps.

use super::align::{Aligned, SeqStep};

use crate::ftp::data::DataSetup;
use crate::ftp::session::Session;
use crate::reassembly::connection::Side;
use crate::rules::{Actor, Finding, Other, ProofKind, Rule, Severity};
use crate::timestamp::Timestamp;

/// One matched session pair and what is known about it.
pub struct Ctx<'a> {
    /// The session at the client-side tap and at the server-side tap.
    pub cs: &'a Session,
    pub ss: &'a Session,
    /// Capture indexes of the two taps in the report.
    pub cap: [usize; 2],
    pub lines: &'a [Aligned],
    pub steps: &'a [SeqStep],
    /// Server-side clock minus client-side clock.
    pub offset_secs: f64,
    /// First and last timestamps of the server-side and client-side
    /// captures, for lines that fell outside the other capture.
    pub client_capture_span: (Timestamp, Timestamp),
    pub server_capture_span: (Timestamp, Timestamp),
}

impl Ctx<'_> {
    pub(super) fn finding(&self, rule: Rule, sev: Severity, msg: String, l: &Aligned) -> Finding {
        let mut f = Finding::new(rule, sev, self.cs, msg);
        f.capture = self.cap[0];
        f.other = Some(Other {
            capture: self.cap[1],
            session: self.ss.name(),
            frames: Vec::new(),
        });
        if let Some(c) = &l.client_side {
            f = f.evidence("at the client-side tap", c.frames.clone(), c.text.clone());
        }
        if let Some(s) = &l.server_side {
            f = f.other_evidence("at the server-side tap", s.frames.clone(), s.text.clone());
        }
        // The path between the taps, on the two taps' views of the line;
        // findings that rest on less say so themselves.
        let views = match (&l.client_side, &l.server_side) {
            (Some(c), Some(s)) => format!(
                "the line at the client-side tap (frame {}) against the same line at the server-side tap (frame {})",
                frames_of(Some(c)),
                frames_of(Some(s))
            ),
            (Some(c), None) => format!(
                "the line at the client-side tap (frame {}) and its absence at the server-side tap",
                frames_of(Some(c))
            ),
            (None, Some(s)) => format!(
                "the line at the server-side tap (frame {}) and its absence at the client-side tap",
                frames_of(Some(s))
            ),
            (None, None) => String::new(),
        };
        f.subject = super::reconcile::subject_of(l);
        f.by(Actor::Path, ProofKind::TwoTaps, views)
    }

    /// The data setup of a line, in the session of the given tap.
    pub(super) fn setup(&self, at_server_tap: bool, dir: Side, item: usize) -> Option<&DataSetup> {
        super::setup_of(if at_server_tap { self.ss } else { self.cs }, dir, item)
    }

    /// Whether the sequence offset between the taps changed in a direction.
    pub(super) fn stepped(&self, dir: Side) -> bool {
        self.steps.iter().any(|s| s.dir == dir)
    }
}

pub(super) fn frames_of(v: Option<&super::align::Seen>) -> String {
    v.and_then(|s| s.frames.first())
        .map_or("-".into(), |f| f.to_string())
}

pub(super) fn sent_tap(dir: Side) -> &'static str {
    if dir == Side::Client {
        "client-side tap"
    } else {
        "server-side tap"
    }
}

pub(super) fn recv_tap(dir: Side) -> &'static str {
    if dir == Side::Client {
        "server-side tap"
    } else {
        "client-side tap"
    }
}
