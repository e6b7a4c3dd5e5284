//! Stage 5: analysis rules.
//!
//! Each rule reads one finished session and states what it can prove, with
//! the rule id from the registry (`registry.rs`), the frames and the exact
//! bytes. Rules never guess silently: where the evidence only fits a
//! hypothesis, the message says so. The known-signature table names the
//! device where a public source documents its bytes.

mod address;
pub mod attribution;
mod connections;
mod data;
mod echo;
pub mod registry;
pub mod rewrite;
mod segments;
mod server;
pub mod sight;
pub mod signatures;

use crate::diff::ByteDiff;
use crate::escape::Bytes;
use crate::ftp::session::Session;
use crate::reassembly::connection::Side;
pub use attribution::{Actor, Proof, ProofKind};
pub use registry::{Needs, Rule};
use serde::{Deserialize, Serialize};
use signatures::Signature;

#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    schemars::JsonSchema,
    Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// A piece of evidence: bytes and the frames that carried them.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema, PartialEq, Eq)]
pub struct Evidence {
    /// What these bytes are ("client sent", "server reply quotes"…).
    pub what: String,
    /// The capture the frames belong to, when it is not the finding's own
    /// (the other tap of a comparison).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capture: Option<usize>,
    /// The frames that carried the bytes.
    pub frames: Vec<u64>,
    /// Frames of the line beyond those a line keeps: counted, not listed.
    #[serde(skip_serializing_if = "is_zero")]
    pub frames_not_listed: u64,
    /// The bytes, escaped.
    pub bytes: Bytes,
}

/// One more case of a merged finding, with its own description and bytes
/// (another octet damaged, another offset).
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Occurrence {
    /// Its frames.
    pub frames: Vec<u64>,
    /// What it proves.
    pub message: String,
    /// The bytes behind it.
    pub evidence: Vec<Evidence>,
    /// How the two versions of its line differ.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<ByteDiff>,
    /// Other rules' readings of this case's event.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub related: Vec<Related>,
}

/// The frames of a two-capture finding in the other capture.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Other {
    /// The other capture's index.
    pub capture: usize,
    /// The session's id there.
    pub session: String,
    /// The frames there.
    pub frames: Vec<u64>,
}

/// What a finding compares, as data beside its message, so that findings
/// can be counted and charted without parsing English.
#[derive(Clone, Debug, Default, Serialize, schemars::JsonSchema)]
pub struct Facts {
    /// The line (or argument, or verb) as it was sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent: Option<Bytes>,
    /// The same as it arrived: quoted back by the server, seen at the
    /// other tap, or carried by another copy of the segment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received: Option<Bytes>,
    /// For an address line (`PORT`, `EPRT`, `227`…): the fields the
    /// change touched.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldChange>,
    /// The endpoint the line as sent announces (strictly read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub announced: Option<crate::ftp::address::Endpoint>,
    /// The endpoint the line as received names: strictly read, or as a
    /// lenient (sscanf/atoi) server reads it when it cannot be read
    /// strictly.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received_reads_as: Option<crate::ftp::address::Endpoint>,
    /// Where the data connection actually went, as the capture shows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub used: Option<std::net::SocketAddr>,
    /// For a line split across segments: each segment's frame and bytes
    /// of the line, in order (the message names the first few).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<SegmentPart>,
    /// How many segments carried the line (more than `segments` lists
    /// when a very long line's pieces were capped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segment_count: Option<usize>,
    /// For a `227`→`22_` rewrite of a port: how many of the 65,536 data
    /// ports carry `227` in a line of this kind (the ports it breaks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ports_hit: Option<u32>,
}

/// One segment's part of a line.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct SegmentPart {
    /// The frame.
    pub frame: u64,
    /// Bytes of the line it carried.
    pub bytes: u32,
}

/// One field of an address argument, before and after.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct FieldChange {
    /// 1-based, as in the message (`octet 6` is field 6).
    pub field: usize,
    /// `octet 6`, `field 3 (port)`…
    pub name: String,
    /// Byte offset of the field in the line as sent.
    pub offset: usize,
    pub before: Bytes,
    pub after: Bytes,
}

/// One finding.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Finding {
    /// The rule that found it (`portmortem rules`).
    pub rule: Rule,
    /// `error`, `warning` or `info`.
    pub severity: Severity,
    /// Index of the capture (in the report's `captures`).
    pub capture: usize,
    /// The session id (`s1`…), unique within its capture.
    pub session: String,
    /// The session's client, as the tap saw it (for a comparison: the
    /// client-side tap).
    pub client: std::net::SocketAddr,
    /// The session's server, as the tap saw it.
    pub server: std::net::SocketAddr,
    /// Wireshark's `tcp.stream` of the session's control connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp_stream: Option<u32>,
    /// When its first frame was captured (omitted where the session does
    /// not know that frame's time).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_ts: Option<crate::timestamp::Timestamp>,
    /// Frame numbers (1-based, as Wireshark numbers them).
    pub frames: Vec<u64>,
    /// Frames that carried the line the finding is about beyond those a
    /// line keeps: counted, not listed in `frames`.
    #[serde(skip_serializing_if = "is_zero")]
    pub frames_not_listed: u64,
    /// What it proves, in sentences, every number from the case.
    pub message: String,
    /// The bytes behind it, with their frames.
    pub evidence: Vec<Evidence>,
    /// How the line as sent and as received differ, byte by byte.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<ByteDiff>,
    /// The two versions `diff` compares, and what they mean as addresses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub facts: Option<Facts>,
    /// The device whose documented behaviour this is, where the bytes match
    /// one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<&'static Signature>,
    /// The server's software, as its banner names it (the same object as
    /// the session's `server_software`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_software: Option<crate::ftp::fingerprint::Server>,
    /// For a finding from comparing two captures: where it is in the other.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub other: Option<Other>,
    /// The Community ID flow hash of the session's control connection
    /// (the Corelight/Zeek/Suricata standard), to join a finding with the
    /// same flow in a SIEM.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub community_id: Option<String>,
    /// How many occurrences this finding stands for (findings of one rule
    /// with the same cause in one session are merged).
    pub occurrences: usize,
    /// Every occurrence after the first, each as it was found.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<Occurrence>,
    /// Who changed, dropped or broke what the finding reports.
    pub actor: Actor,
    /// What proves it: the two views compared (or the one view read).
    pub proof: Proof,
    /// Other rules' readings of the same event (the same line), kept as
    /// facts of this finding: one event, one finding, one count.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub related: Vec<Related>,
    /// The merge key; findings without one are never merged.
    #[serde(skip)]
    pub(crate) group: Option<String>,
    /// The line the finding is about (its direction and stream offset,
    /// as the dialogue's entries give them): findings about one line are
    /// one event, folded into one finding. In a comparison, the line at
    /// the client-side tap (else at the server-side tap).
    #[serde(rename = "about", skip_serializing_if = "Option::is_none")]
    pub(crate) subject: Option<Subject>,
}

/// Another rule's reading of the event a finding stands for (a damaged
/// line's consequences: the stalled session, the refused connection, the
/// same line's other defects).
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Related {
    pub rule: Rule,
    pub actor: Actor,
    /// The capture the frames belong to, when it is not the finding's own
    /// (the other tap of a comparison).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capture: Option<usize>,
    /// The frames of that reading (in `capture`, else the finding's own).
    pub frames: Vec<u64>,
    /// As the finding's own `frames_not_listed`.
    #[serde(skip_serializing_if = "is_zero")]
    pub frames_not_listed: u64,
    /// What that rule says of the event, in a sentence.
    pub message: String,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A control line of a session, by its direction and the stream offset of
/// its first byte (as tshark's relative sequence number counts it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, schemars::JsonSchema)]
pub struct Subject {
    /// The sender: `C` (client→server) or `S` (server→client).
    #[serde(serialize_with = "crate::reassembly::connection::serialize_letter")]
    #[schemars(schema_with = "crate::reassembly::connection::letter_schema")]
    pub dir: Side,
    /// Stream offset of the line's first byte.
    pub offset: u64,
}

impl Subject {
    pub(crate) fn of(dir: Side, line: &crate::ftp::line::Line) -> Self {
        Subject {
            dir,
            offset: line.offset,
        }
    }
}

impl Finding {
    pub(crate) fn new(rule: Rule, severity: Severity, s: &Session, message: String) -> Self {
        Finding {
            rule,
            severity,
            capture: 0,
            session: s.name(),
            client: s.client,
            server: s.server,
            tcp_stream: s.tcp_stream,
            first_ts: None,
            frames: Vec::new(),
            frames_not_listed: 0,
            message,
            evidence: Vec::new(),
            diff: None,
            facts: None,
            signature: None,
            server_software: s.server_software.clone(),
            other: None,
            community_id: s.community_id(),
            occurrences: 1,
            also: Vec::new(),
            actor: Actor::Unknown,
            proof: Proof::new(ProofKind::OneView, String::new()),
            related: Vec::new(),
            group: None,
            subject: None,
        }
    }

    /// Says who did it and what proves it.
    pub(crate) fn by(mut self, actor: Actor, kind: ProofKind, text: impl Into<String>) -> Self {
        self.actor = actor;
        self.proof = Proof::new(kind, text);
        self
    }

    /// Says who shaped a line of direction `dir` as this tap saw it: its
    /// sender where the tap is next to it, else cannot tell
    /// ([`attribution::line_origin`]).
    pub(crate) fn by_origin(self, s: &Session, dir: Side) -> Self {
        let (actor, kind, text) = attribution::line_origin(s, dir);
        self.by(actor, kind, text)
    }

    /// Names the line the finding is about.
    pub(crate) fn about(mut self, dir: Side, line: &crate::ftp::line::Line) -> Self {
        self.subject = Some(Subject::of(dir, line));
        let more = u64::from(line.pieces_dropped);
        if more > 0 {
            self.frames_not_listed = self.frames_not_listed.max(more);
            let frames = line.frames();
            for e in self.evidence.iter_mut().filter(|e| e.frames == frames) {
                e.frames_not_listed = more;
            }
        }
        self
    }

    /// Holds the finding to what its actor and proof allow: no error
    /// unless the path is proven by two views ([`attribution::ceiling`]),
    /// and no device signature without such a proof.
    pub(crate) fn settle(&mut self) {
        self.severity = self
            .severity
            .min(attribution::ceiling(self.actor, self.proof.kind));
        if !self.proof.kind.compares_two_views() || self.actor != Actor::Path {
            self.signature = None;
        }
    }

    /// Findings with the same rule, session and key are merged into one.
    pub(crate) fn group(mut self, key: impl Into<String>) -> Self {
        self.group = Some(key.into());
        self
    }

    pub(crate) fn evidence(
        mut self,
        what: &str,
        frames: Vec<u64>,
        bytes: impl Into<Bytes>,
    ) -> Self {
        self.frames.extend(&frames);
        self.evidence.push(Evidence {
            what: what.to_string(),
            capture: None,
            frames,
            frames_not_listed: 0,
            bytes: bytes.into(),
        });
        self
    }

    /// Evidence from the other capture of a comparison (its frames go to
    /// `other`, which must be set).
    pub(crate) fn other_evidence(
        mut self,
        what: &str,
        frames: Vec<u64>,
        bytes: impl Into<Bytes>,
    ) -> Self {
        if let Some(o) = self.other.as_mut() {
            o.frames.extend(&frames);
            self.evidence.push(Evidence {
                what: what.to_string(),
                capture: Some(o.capture),
                frames,
                frames_not_listed: 0,
                bytes: bytes.into(),
            });
        }
        self
    }

    /// Sets what the finding compares: `sent` (a line, argument or verb
    /// sent by `dir`) and how it was `received`, `d` being their diff;
    /// for an address line also which fields changed and the endpoints.
    pub(crate) fn compared(&mut self, dir: Side, sent: &[u8], received: &[u8], d: ByteDiff) {
        let (a, b) = (
            rewrite::parse_address(dir, sent),
            rewrite::parse_address(dir, received),
        );
        let mut fields: Vec<FieldChange> = Vec::new();
        if let Some(a) = &a {
            for e in &d.edits {
                let Some((n, f)) = a.field_at(e.offset) else {
                    continue;
                };
                if fields.iter().any(|x| x.field == n) {
                    continue;
                }
                // The same field of the received line, else the same bytes.
                let after = match b.as_ref().and_then(|b| b.fields.get(n - 1)) {
                    Some(g) => g.text.clone(),
                    None => {
                        let end = (f.offset + f.text.0.len()).min(received.len());
                        Bytes(received.get(f.offset..end).unwrap_or_default().to_vec())
                    }
                };
                fields.push(FieldChange {
                    field: n,
                    name: field_name(a.kind, n),
                    offset: f.offset,
                    before: f.text.clone(),
                    after,
                });
            }
        }
        self.facts = Some(Facts {
            sent: Some(Bytes(sent.to_vec())),
            received: Some(Bytes(received.to_vec())),
            fields,
            announced: a.and_then(|a| a.strict),
            received_reads_as: b.and_then(|b| b.strict.or(b.lenient)),
            ..Facts::default()
        });
        self.diff = Some(d);
    }

    /// Sets the facts of a data connection that went elsewhere than the
    /// `line` announcing it said (`announced`): it went to `used`.
    pub(crate) fn went_to(
        mut self,
        line: &[u8],
        announced: Option<crate::ftp::address::Endpoint>,
        used: std::net::SocketAddr,
    ) -> Self {
        let facts = self.facts.get_or_insert_default();
        facts.sent = Some(Bytes(line.to_vec()));
        facts.announced = announced;
        facts.used = Some(used);
        self
    }

    pub(crate) fn frames(mut self, frames: impl IntoIterator<Item = u64>) -> Self {
        self.frames.extend(frames);
        self
    }

    /// Sets `first_ts` from the session the frames belong to.
    pub(crate) fn stamp(&mut self, s: &Session) {
        self.first_ts = self.frames.first().and_then(|&f| s.time_of(f));
    }

    pub(crate) fn normalise(&mut self) {
        let other = self.other.as_mut().map(|o| &mut o.frames);
        for v in std::iter::once(&mut self.frames).chain(other) {
            v.retain(|&f| f > 0);
            v.sort_unstable();
            v.dedup();
        }
    }
}

/// Settings that change what the rules report.
#[derive(Clone, Debug)]
pub struct Config {
    /// Idle time after a data-setup command that counts as a stall.
    pub stall_secs: f64,
    /// Retransmissions without ACK that count as a drop.
    pub drop_retransmissions: usize,
    /// Whether a session's cases of one rule are merged into one finding
    /// ([`merge_cases`]). A comparison merges only after it has folded
    /// each case into the event its line is part of: merged first, the
    /// cases of two lines would fold into the first line's event.
    pub merge_cases: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            stall_secs: 20.0,
            drop_retransmissions: 3,
            merge_cases: true,
        }
    }
}

/// Runs every single-capture rule on a session.
pub fn run(s: &Session, cfg: &Config) -> Vec<Finding> {
    let mut out = Vec::new();
    echo::run(s, &mut out);
    address::run(s, &mut out);
    data::run(s, cfg, &mut out);
    segments::run(s, cfg, &mut out);
    server::run(s, &mut out);
    connections::run(s, &mut out);
    for f in &mut out {
        f.normalise();
        f.settle();
    }
    // Earliest first, so a merged group is represented by its first case.
    out.sort_by(|a, b| (a.frames.first(), a.rule).cmp(&(b.frames.first(), b.rule)));
    let out = one_event_one_finding(out);
    let mut out = if cfg.merge_cases {
        merge_cases(out)
    } else {
        out
    };
    for f in &mut out {
        f.normalise();
        f.stamp(s);
    }
    out
}

/// The findings of a live session's snapshot that are established
/// already ([`Rule::final_when_seen`]).
pub fn established(s: &Session, cfg: &Config) -> Vec<Finding> {
    let mut out = run(s, cfg);
    out.retain(|f| f.rule.final_when_seen());
    out
}

/// Folds the findings about one line into one: the one that says most
/// (highest severity, then a path proven by two views, then the rule
/// listed first) stands for the event, the others become its `related`
/// facts. A damaged PORT that also stalled the session is one event, not
/// two errors.
pub(crate) fn one_event_one_finding(findings: Vec<Finding>) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::with_capacity(findings.len());
    let mut index: std::collections::HashMap<(String, Subject), usize> = Default::default();
    for f in findings {
        let Some(subject) = f.subject else {
            out.push(f);
            continue;
        };
        let key = (f.session.clone(), subject);
        match index.get(&key) {
            Some(&i) => {
                let cur = &mut out[i];
                if outranks(&f, cur) {
                    let old = std::mem::replace(cur, f);
                    absorb(cur, old);
                } else {
                    absorb(cur, f);
                }
            }
            None => {
                index.insert(key, out.len());
                out.push(f);
            }
        }
    }
    out
}

/// Whether `a` should stand for an event rather than `b`.
pub(crate) fn outranks(a: &Finding, b: &Finding) -> bool {
    let rank = |f: &Finding| {
        (
            f.severity,
            f.actor == Actor::Path && f.proof.kind.compares_two_views(),
            std::cmp::Reverse(Rule::ALL.iter().position(|r| *r == f.rule)),
        )
    };
    rank(a) > rank(b)
}

/// Adds `fold` (and what `fold` had folded) to `keep`'s related facts.
fn absorb(keep: &mut Finding, fold: Finding) {
    let at = fold.capture;
    absorb_from(keep, fold, at);
}

/// [`absorb`] of a finding of capture `at`, which may be the other tap
/// of a comparison: its frames are then listed as that capture's.
pub(crate) fn absorb_from(keep: &mut Finding, fold: Finding, at: usize) {
    let own = at == keep.capture;
    if own {
        keep.frames.extend(&fold.frames);
        keep.frames.sort_unstable();
        keep.frames.dedup();
    } else if let Some(o) = keep.other.as_mut().filter(|o| o.capture == at) {
        o.frames.extend(&fold.frames);
        o.frames.sort_unstable();
        o.frames.dedup();
    }
    // A tap's own finding folded into a comparison's is of that tap, even
    // the tap the comparison's finding is placed at.
    let of_one_tap = keep.other.is_some() && fold.other.is_none();
    let capture = (!own || of_one_tap).then_some(at);
    keep.related.push(Related {
        rule: fold.rule,
        actor: fold.actor,
        capture,
        frames: fold.frames,
        frames_not_listed: fold.frames_not_listed,
        message: fold.message,
    });
    keep.related.extend(fold.related.into_iter().map(|mut r| {
        if r.capture.is_none() {
            r.capture = capture;
        }
        r
    }));
}

/// Merges findings that share a group key: the first keeps its message and
/// evidence; each other one adds its frames and stays, described as it
/// was, in `also`.
pub(crate) fn merge_cases(findings: Vec<Finding>) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::with_capacity(findings.len());
    // The session too: a capture's findings are merged again after a
    // comparison folded their cases ([`Config::merge_cases`]).
    let mut index: std::collections::HashMap<(Rule, String, String), usize> = Default::default();
    // Findings this call merged into (one merged before says so already).
    let mut grew = std::collections::HashSet::new();
    for f in findings {
        let Some(key) = f.group.clone() else {
            out.push(f);
            continue;
        };
        let key = (f.rule, f.session.clone(), key);
        match index.get(&key) {
            Some(&i) => {
                grew.insert(i);
                let first = &mut out[i];
                first.occurrences += 1;
                first.frames.extend(&f.frames);
                first.severity = first.severity.max(f.severity);
                first.also.push(Occurrence {
                    frames: f.frames,
                    message: f.message,
                    evidence: f.evidence,
                    diff: f.diff,
                    related: f.related,
                });
            }
            None => {
                index.insert(key, out.len());
                out.push(f);
            }
        }
    }
    for i in grew {
        let f = &mut out[i];
        f.message.push_str(&format!(
            " The same rule found {} more case(s) in this session: one finding of {} cases, each below with its frames.",
            f.occurrences - 1,
            f.occurrences
        ));
    }
    out
}

/// A line quoted inside a message: escaped, capped at 160 bytes, and with
/// its backticks written `\x60`, so that the backticks around a quote
/// always delimit it (reports turn them into code spans).
pub(crate) fn q(b: &[u8]) -> String {
    crate::escape::escape_short(b, 160).replace('`', "\\x60")
}

/// A control line quoted inside a message, as [`q`] does, with its true
/// length: a line longer than the line cap says how many bytes it really
/// had beyond the quote, not how many were kept.
pub(crate) fn ql(l: &crate::ftp::line::Line) -> String {
    q_more(&l.bytes.0, l.overlong_bytes)
}

/// Bytes quoted as [`q`] does, when `more` bytes followed them that were
/// counted but not kept.
pub(crate) fn q_more(b: &[u8], more: u64) -> String {
    const SHOWN: usize = 160;
    let total = b.len() as u64 + more;
    if total <= SHOWN as u64 {
        return q(b);
    }
    format!(
        "{}…(+{} bytes)",
        q(&b[..SHOWN.min(b.len())]),
        total - SHOWN as u64
    )
}

/// "octet 6", "field 3 (port)": how a field of an address line is named.
pub(crate) fn field_name(kind: crate::ftp::address::AddrKind, n: usize) -> String {
    use crate::ftp::address::AddrKind::*;
    match kind {
        Port | Pasv => format!("octet {n}"),
        Eprt | Epsv => match n {
            1 => "field 1 (protocol)".into(),
            2 => "field 2 (address)".into(),
            _ => "field 3 (port)".into(),
        },
        Lprt | Lpsv => format!("field {n}"),
    }
}
