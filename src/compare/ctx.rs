//! One matched session pair as the classifiers see it, and the words
//! for its two taps.

use super::align::{Aligned, SeqStep};
use super::one_tap::Cause;
use super::views::{Tap, Views};

use crate::ftp::data::DataSetup;
use crate::ftp::session::Session;
use crate::reassembly::connection::Side;
use crate::rules::{Actor, Finding, Other, Rule, Severity};
use crate::timestamp::Timestamp;

/// One matched session pair and what is known about it.
pub struct Ctx<'a> {
    /// The session at the client-side tap and at the server-side tap.
    pub cs: &'a Session,
    pub ss: &'a Session,
    /// Capture indexes of the two taps in the report.
    pub cap: [usize; 2],
    pub lines: &'a [Aligned],
    /// Why each line seen at one tap only was ([`super::one_tap::causes`]).
    pub causes: &'a [Option<Cause>],
    pub steps: &'a [SeqStep],
    /// Server-side clock minus client-side clock.
    pub offset_secs: f64,
    /// First and last timestamps of the server-side and client-side
    /// captures, for lines that fell outside the other capture.
    pub client_capture_span: (Timestamp, Timestamp),
    pub server_capture_span: (Timestamp, Timestamp),
    /// What the report calls the two views (taps, or a file's legs).
    pub views: &'a Views,
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
        let v = self.views;
        let (cv, sv) = (Tap::ClientSide, Tap::ServerSide);
        if let Some(c) = &l.client_side {
            f = f.evidence(&v.at(cv), c.frames.clone(), c.text.clone());
        }
        if let Some(s) = &l.server_side {
            f = f.other_evidence(&v.at(sv), s.frames.clone(), s.text.clone());
        }
        // The path between the taps, on the two taps' views of the line;
        // findings that rest on less say so themselves.
        let views = match (&l.client_side, &l.server_side) {
            (Some(c), Some(s)) => format!(
                "the line {} (frame {}) against the same line {} (frame {})",
                v.at(cv),
                frames_of(Some(c)),
                v.at(sv),
                frames_of(Some(s))
            ),
            (Some(c), None) => format!(
                "the line {} (frame {}) and its absence {}",
                v.at(cv),
                frames_of(Some(c)),
                v.at(sv)
            ),
            (None, Some(s)) => format!(
                "the line {} (frame {}) and its absence {}",
                v.at(sv),
                frames_of(Some(s)),
                v.at(cv)
            ),
            (None, None) => String::new(),
        };
        f.subject = super::reconcile::subject_of(l);
        f.by(Actor::Path, self.views.proof(), views)
    }

    /// The data setup of a line, in the session of the given tap.
    pub(super) fn setup(&self, at_server_tap: bool, dir: Side, item: usize) -> Option<&DataSetup> {
        super::setup_of(if at_server_tap { self.ss } else { self.cs }, dir, item)
    }

    /// Whether the sequence offset between the taps changed in a direction.
    pub(super) fn stepped(&self, dir: Side) -> bool {
        self.steps.iter().any(|s| s.dir == dir)
    }

    /// The session at the server-side tap, or at the client-side one.
    pub(super) fn tap(&self, server_side: bool) -> &Session {
        if server_side { self.ss } else { self.cs }
    }

    /// What to add to a sequence number at the other tap to get the same
    /// byte's at the `server_side` tap, in line `i`'s direction: from the
    /// line seen at both taps nearest before it (past that line's change of
    /// length), else nearest after it, else from the two taps' SYNs. Sure
    /// (the second value) where no line seen at one tap only lies between
    /// that line and line `i`: such a line may have changed the offset by
    /// a length no capture shows.
    pub(super) fn delta_to(&self, server_side: bool, i: usize) -> Option<(u32, bool)> {
        let dir = self.lines[i].dir;
        let pair = |x: &Aligned| {
            let (c, s) = (x.client_side.as_ref()?, x.server_side.as_ref()?);
            let (from, to) = if server_side { (c, s) } else { (s, c) };
            Some((
                to.seq?.wrapping_sub(from.seq?),
                (to.raw_len as u32).wrapping_sub(from.raw_len as u32),
            ))
        };
        // The nearest line seen at both taps, and whether a line seen at
        // one tap only came first.
        let nearest = |it: &mut dyn Iterator<Item = &Aligned>| {
            let mut clear = true;
            for x in it.filter(|x| x.dir == dir) {
                match pair(x) {
                    Some(d) => return Some((d, clear)),
                    None => clear = false,
                }
            }
            None
        };
        let before = nearest(&mut self.lines[..i].iter().rev())
            .map(|((d, len), sure)| (d.wrapping_add(len), sure));
        let after = nearest(&mut self.lines[i + 1..].iter()).map(|((d, _), sure)| (d, sure));
        let syns = || {
            let (to, from) = (self.tap(server_side), self.tap(!server_side));
            Some((
                to.tcp[dir.index()]
                    .isn?
                    .wrapping_sub(from.tcp[dir.index()].isn?),
                false,
            ))
        };
        [before, after]
            .into_iter()
            .flatten()
            .find(|(_, sure)| *sure)
            .or(before)
            .or(after)
            .or_else(syns)
    }

    /// The sequence number of the connection's first byte in direction
    /// `dir`, in the `server_side` tap's sequence space: after the SYN that
    /// tap captured, else after the one the other tap captured where the
    /// taps share sequence numbers.
    pub(super) fn first_seq(&self, server_side: bool, dir: Side) -> Option<u32> {
        if let Some(isn) = self.tap(server_side).tcp[dir.index()].isn {
            return Some(isn.wrapping_add(1));
        }
        // The other tap's SYN counts for this one only where both see the
        // same sequence numbers (one TCP connection, as NAT keeps it; a
        // proxy's two connections share none).
        let other = self.tap(!server_side).tcp[dir.index()].isn?;
        let i = self.lines.iter().position(|l| l.dir == dir)?;
        (self.delta_to(server_side, i)?.0 == 0).then(|| other.wrapping_add(1))
    }

    /// A position in a tap's stream (its own offset, counted from the
    /// first byte it captured), said as the connection's stream offset
    /// (from its ISN, as tshark's relative sequence numbers count less
    /// one), or as the raw sequence number where neither tap captured the
    /// SYN to count from.
    pub(super) fn position(&self, server_side: bool, dir: Side, tap_offset: i64) -> String {
        let st = &self.tap(server_side).tcp[dir.index()];
        let Some(base) = st.seq_base else {
            return format!("offset {tap_offset}");
        };
        let seq = base.wrapping_add(tap_offset as u32);
        match self.first_seq(server_side, dir) {
            Some(first) => format!("offset {}", seq.wrapping_sub(first) as i32),
            None => format!("sequence number {seq}"),
        }
    }
}

pub(super) fn frames_of(v: Option<&super::align::Seen>) -> String {
    v.and_then(|s| s.frames.first())
        .map_or("-".into(), |f| f.to_string())
}
