//! The report document (JSON schema version 1; see docs/json-schema.md).

use crate::analysis::{CaptureResult, NotListed};
use crate::capture::{CaptureError, CaptureInfo};
use crate::compare::NotCompared;
use crate::engine::Counters;
use crate::escape::Bytes;
use crate::ftp::data::{DataConn, DataSetup, Failure, Status};
use crate::ftp::fingerprint::Server;
use crate::ftp::line::{Line, Terminator};
use crate::ftp::session::{Detection, EndReason, Session, SessionCaps, Tls};
use crate::header::Header;
use crate::reassembly::DirStats;
use crate::reassembly::connection::Lifecycle;
use crate::reassembly::connection::Side;
use crate::rules::{Finding, Severity};
use crate::timestamp::Timestamp;
use serde::Serialize;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// The whole report.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Report<'a> {
    #[serde(flatten)]
    pub header: Header,
    /// Each capture read, in the order given.
    pub captures: Vec<CaptureView<'a>>,
    /// Every FTP control session listed, with its dialogue, data setups and
    /// data connections.
    pub sessions: Vec<SessionView<'a>>,
    /// Every finding listed, capture by capture, in session order.
    pub findings: Vec<&'a Finding>,
    /// Totals over every capture, whatever the listing left out, and the exit
    /// code.
    pub summary: Summary,
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct CaptureView<'a> {
    /// The capture's place among the command's inputs (0-based), which
    /// reports for people number it by (`Capture 3`) even when `-q`
    /// leaves captures before it out; JSON keeps every capture, so its
    /// position is this.
    #[serde(skip)]
    pub number: usize,
    #[serde(flatten)]
    pub info: &'a CaptureInfo,
    /// Where every frame went.
    pub packets: &'a Counters,
    /// Why reading stopped before the end, if it did; what was read before is
    /// reported.
    pub error: Option<&'a CaptureError>,
    /// Sessions listed (see `not_listed` and `sessions_not_kept` for the
    /// others).
    pub session_count: usize,
    /// Findings listed.
    pub finding_count: usize,
    /// Sessions analysed (their findings are listed) but not kept in
    /// full, over `--max-sessions`.
    pub sessions_not_kept: u64,
    /// Findings counted in the summary but not listed, over the
    /// per-capture limit.
    pub findings_not_kept: u64,
    /// Sessions and findings of this capture that `--session`,
    /// `--min-severity` or `--findings-only` left out of the listing
    /// (`session_count` and `finding_count` count what is listed).
    #[serde(skip_serializing_if = "NotListed::is_none")]
    pub not_listed: NotListed,
}

#[derive(Serialize, schemars::JsonSchema, Default)]
pub struct Summary {
    /// Captures named.
    pub captures: usize,
    /// Captures that could not be read, or not to their end (a read
    /// error; see each capture's `error`). Not findings: those are counted
    /// in `findings_by_severity`. Called `captures_with_errors` before
    /// schema version 3.
    pub captures_with_read_errors: usize,
    /// FTP sessions found, listed or not.
    pub sessions: usize,
    /// Findings per severity, listed or not.
    #[schemars(with = "crate::batch::entries::BySeverity")]
    pub findings_by_severity: BTreeMap<Severity, usize>,
    /// `[{key: rule id, count}]`, as in `batch`.
    #[schemars(with = "Vec<crate::batch::entries::Keyed<crate::batch::entries::Count>>")]
    #[serde(with = "crate::batch::entries::counts")]
    pub findings_by_rule: BTreeMap<String, u64>,
    /// The exit code: 0 no error finding, 1 at least one, 2 a capture could not
    /// be read (completely), or for compare unrelated captures.
    pub exit_code: i32,
    /// Set (to 2) when the two captures compared are the two legs of one
    /// file (a capture taken on the device): `captures` counts the file
    /// once and `sessions` each session once, seen on one leg or both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legs: Option<usize>,
}

impl Summary {
    /// The captures as every format for people counts them: `1 capture
    /// (one file, two legs)` for the legs of one file, else `N
    /// capture(s)`.
    pub fn captures_counted(&self) -> String {
        match self.legs {
            Some(2) => format!("{} capture (one file, two legs)", self.captures),
            Some(n) => format!("{} capture (one file, {n} legs)", self.captures),
            None => format!("{} capture(s)", self.captures),
        }
    }

    /// Two legs of one file compared: one capture, each session once (as
    /// the client-side leg saw it, and those seen on the server-side leg
    /// only), whatever it could not read counted once.
    fn one_file(&mut self, c: &crate::compare::Comparison) {
        let kept = |r: &CaptureResult| {
            r.sessions.len() + r.sessions_not_kept as usize + r.sessions_written as usize
        };
        self.legs = Some(c.results.len());
        self.captures = 1;
        self.captures_with_read_errors = self.captures_with_read_errors.min(1);
        self.sessions = c.results.first().map_or(0, kept) + c.unmatched[1].len();
    }
}

/// One entry of a session's dialogue, commands and replies in capture order.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Entry<'a> {
    /// Position in the dialogue.
    pub n: usize,
    /// The sender: `C` (client→server) or `S` (server→client) in JSON.
    #[serde(serialize_with = "crate::reassembly::connection::serialize_letter")]
    #[schemars(schema_with = "crate::reassembly::connection::letter_schema")]
    pub dir: Side,
    /// The frames that carried it.
    pub frames: Vec<u64>,
    /// When its first frame was captured.
    pub ts: Timestamp,
    /// A command's verb, upper-cased (`PORT`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verb: Option<&'a str>,
    /// A reply's code (`227`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
    /// The line (for a multi-line reply, every line followed by its own
    /// line end as the wire had it, but the last).
    // Borrowed from the session but for a joined reply: a report writes
    // every line of every session.
    pub text: Cow<'a, Bytes>,
    /// How the line ended (`cr-lf`, `lf`, `cr`, `none`, or `gap`: cut by bytes
    /// the capture missed); for a multi-line reply, its last line's.
    pub terminator: Terminator,
    /// For a command: `n` of its final reply; for a reply: `n` of the
    /// command it answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pairs_with: Option<usize>,
    /// Stream offset of the first byte.
    pub offset: u64,
    /// The line came in more than one TCP segment.
    #[serde(skip_serializing_if = "is_false")]
    pub split: bool,
    /// The line starts right after bytes the capture missed: its start may be
    /// lost.
    #[serde(skip_serializing_if = "is_false")]
    pub after_gap: bool,
    /// Bytes right before this line were never captured.
    #[serde(skip_serializing_if = "is_false")]
    pub follows_gap: bool,
    /// A command without a reply whose reply may lie in bytes the capture
    /// missed (not known to be unanswered).
    #[serde(skip_serializing_if = "is_false")]
    pub reply_unseen: bool,
    /// Telnet commands (IAC …) removed from the line, as sent.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub telnet: Vec<Bytes>,
    /// Bytes past the line cap: `text` is the line's start.
    #[serde(skip_serializing_if = "is_zero")]
    pub bytes_not_kept: u64,
    /// Frames that carried the line but are not in `frames`.
    #[serde(skip_serializing_if = "is_zero")]
    pub frames_not_listed: u64,
    /// Telnet commands removed but not in `telnet`.
    #[serde(skip_serializing_if = "is_zero")]
    pub telnet_not_recorded: u64,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A count per sender.
#[derive(Serialize, schemars::JsonSchema)]
#[schemars(rename = "PerSide_{T}")]
pub struct PerSide<T> {
    /// From the client.
    pub client: T,
    /// From the server.
    pub server: T,
}

/// A data setup, with its command and reply named by dialogue position.
#[derive(Serialize, schemars::JsonSchema)]
pub struct SetupView<'a> {
    /// `n` of the PORT/EPRT/LPRT or PASV/EPSV/LPSV command.
    pub command_entry: Option<usize>,
    /// `n` of the reply (to PORT…, or the 227/228/229 itself).
    pub reply_entry: Option<usize>,
    #[serde(flatten)]
    pub setup: &'a DataSetup,
    /// What became of it, in the one word every format uses
    /// (`connected`, `wrong-endpoint`, `cannot-open`, `no-connection`,
    /// `not-captured`…).
    pub status: Status,
    /// `worked`, `failed` or `unknown`: the status's class.
    pub outcome: &'static str,
    /// How it failed (`rejected`, `no-reply`, `refused`…): the status of
    /// a failed setup.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<&'static str>,
}

impl SetupView<'_> {
    /// `PORT connected`, `PASV not-captured`…: the setup in a sessions
    /// table, in every format the same word as JSON's `status`.
    pub fn label(&self) -> String {
        format!("{} {}", self.setup.kind.name(), self.status.name())
    }
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct TcpView<'a> {
    /// The client→server direction.
    pub client: &'a DirStats,
    /// The server→client direction.
    pub server: &'a DirStats,
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct SessionView<'a> {
    /// The index of its capture (in `captures`).
    pub capture: usize,
    /// Its id, `s1`… in the order sessions were detected, unique within its
    /// capture.
    pub id: String,
    /// The client's address and port.
    pub client: String,
    /// The server's address and port.
    pub server: String,
    /// Wireshark's `tcp.stream` of the control connection (`null` past
    /// the conversation-table limit).
    pub tcp_stream: Option<u32>,
    /// The Community ID flow hash of the control connection.
    pub community_id: Option<String>,
    /// How it was found: by its port, or by its 220 banner on another.
    pub detection: Detection,
    /// When its first packet was captured.
    pub start: Timestamp,
    /// When its last packet was captured.
    pub end: Timestamp,
    /// Its first frame.
    pub first_frame: u64,
    /// Its last frame.
    pub last_frame: u64,
    /// Its control connection's packets, per sender.
    pub packets: PerSide<u64>,
    /// TTL (hop limit) of the first packet from each side.
    pub ttl: PerSide<Option<u8>>,
    /// Its TCP handshake and teardown frames.
    pub lifecycle: &'a Lifecycle,
    /// How it ended.
    pub end_reason: EndReason,
    /// The server's 220 banner, escaped.
    pub banner: Option<&'a Bytes>,
    /// The server software its banner names, where known.
    pub server_software: Option<&'a Server>,
    /// Commands and replies in capture order.
    pub dialogue: Vec<Entry<'a>>,
    /// Each PORT/EPRT/LPRT and 227/228/229, with what became of it.
    pub data_setups: Vec<SetupView<'a>>,
    /// Each data connection of the session.
    pub data_connections: &'a [DataConn],
    /// Where TLS began, when the session used AUTH TLS.
    pub tls: Option<&'a Tls>,
    /// What the capture saw of the control connection's TCP, per direction.
    pub tcp: TcpView<'a>,
    /// What was not kept of it, past the caps.
    pub limits: &'a SessionCaps,
}

fn line_entry<'a>(n: usize, dir: Side, l: &'a Line) -> Entry<'a> {
    Entry {
        n,
        dir,
        frames: l.frames(),
        ts: l.first_ts(),
        verb: None,
        code: None,
        text: Cow::Borrowed(&l.bytes),
        terminator: l.terminator,
        pairs_with: None,
        offset: l.offset,
        split: l.segment_count() > 1,
        after_gap: l.after_gap,
        follows_gap: l.follows_gap,
        reply_unseen: false,
        telnet: l.telnet.iter().map(|t| t.bytes.clone()).collect(),
        bytes_not_kept: l.overlong_bytes,
        frames_not_listed: u64::from(l.pieces_dropped),
        telnet_not_recorded: u64::from(l.telnet_dropped),
    }
}

/// Commands and replies merged in capture order (by the frame that
/// completed a command and the frame that began a reply), with the
/// dialogue position of every command and every reply.
pub fn dialogue(s: &Session) -> (Vec<Entry<'_>>, Vec<usize>, Vec<usize>) {
    let mut order: Vec<(u64, u8, usize)> = Vec::new();
    for (i, c) in s.commands.iter().enumerate() {
        order.push((c.line.last_frame(), 0, i));
    }
    for (i, r) in s.replies.iter().enumerate() {
        order.push((r.first().first_frame(), 1, i));
    }
    order.sort_unstable();
    let mut pos_cmd = vec![0usize; s.commands.len()];
    let mut pos_rep = vec![0usize; s.replies.len()];
    for (n, &(_, kind, i)) in order.iter().enumerate() {
        if kind == 0 {
            pos_cmd[i] = n;
        } else {
            pos_rep[i] = n;
        }
    }
    let entries = order
        .iter()
        .enumerate()
        .map(|(n, &(_, kind, i))| {
            if kind == 0 {
                let c = &s.commands[i];
                let mut e = line_entry(n, Side::Client, &c.line);
                e.verb = c.verb.as_deref();
                e.pairs_with = s.reply_of[i].map(|r| pos_rep[r]);
                e.reply_unseen = s.reply_unseen.get(i).copied().unwrap_or(false);
                e
            } else {
                let r = &s.replies[i];
                let mut e = line_entry(n, Side::Server, r.first());
                if r.lines.len() > 1 {
                    e.frames = r.frames();
                    e.text = Cow::Owned(r.joined());
                    e.terminator = r.last().terminator;
                    e.split = r.lines.iter().any(|l| l.segment_count() > 1);
                    e.bytes_not_kept = r.lines.iter().map(|l| l.overlong_bytes).sum();
                    e.frames_not_listed = r.lines.iter().map(|l| u64::from(l.pieces_dropped)).sum();
                }
                e.code = r.code;
                e.pairs_with = s.command_of[i].map(|c| pos_cmd[c]);
                e
            }
        })
        .collect();
    (entries, pos_cmd, pos_rep)
}

pub fn session_view(capture: usize, s: &Session) -> SessionView<'_> {
    let (dialogue, pos_cmd, pos_rep) = dialogue(s);
    SessionView {
        capture,
        id: s.name(),
        client: s.client.to_string(),
        server: s.server.to_string(),
        tcp_stream: s.tcp_stream,
        community_id: s.community_id(),
        detection: s.detection,
        start: s.start,
        end: s.end,
        first_frame: s.first_frame,
        last_frame: s.last_frame,
        packets: PerSide {
            client: s.packets[0],
            server: s.packets[1],
        },
        ttl: PerSide {
            client: s.ttl[0],
            server: s.ttl[1],
        },
        lifecycle: &s.lifecycle,
        end_reason: s.end_reason,
        banner: s.banner.as_ref(),
        server_software: s.server_software.as_ref(),
        dialogue,
        data_setups: s
            .data_setups
            .iter()
            .map(|d| SetupView {
                command_entry: d.command.map(|i| pos_cmd[i]),
                reply_entry: d.reply.map(|i| pos_rep[i]),
                setup: d,
                status: d.status(),
                outcome: d.outcome().name(),
                failure: d.outcome().failure().map(Failure::name),
            })
            .collect(),
        data_connections: &s.data_conns,
        tls: s.tls.as_ref(),
        tcp: TcpView {
            client: &s.tcp[0],
            server: &s.tcp[1],
        },
        limits: &s.limits,
    }
}

pub fn summary<'a>(results: impl IntoIterator<Item = &'a CaptureResult>) -> Summary {
    let mut sum = Summary::default();
    let mut worst = None;
    for r in results {
        sum.captures += 1;
        sum.captures_with_read_errors += usize::from(r.error.is_some());
        sum.sessions +=
            r.sessions.len() + r.sessions_not_kept as usize + r.sessions_written as usize;
        for f in &r.findings {
            *sum.findings_by_severity.entry(f.severity).or_default() += 1;
            *sum.findings_by_rule.entry(f.rule.id().into()).or_default() += 1;
            worst = worst.max(Some(f.severity));
        }
    }
    sum.exit_code = if sum.captures_with_read_errors > 0 {
        super::EXIT_USAGE
    } else {
        super::exit_code_of(worst)
    };
    sum
}

/// Builds the report for `analyze`. `results` must have their findings'
/// `capture` set to their position.
pub fn analyze_report<'a>(
    results: &'a [CaptureResult],
    options: BTreeMap<&'static str, String>,
) -> Report<'a> {
    Report {
        header: Header::new("analyze", options),
        captures: numbered(results),
        sessions: results
            .iter()
            .enumerate()
            .flat_map(|(i, r)| r.sessions.iter().map(move |s| session_view(i, s)))
            .collect(),
        findings: results.iter().flat_map(|r| r.findings.iter()).collect(),
        summary: summary(results),
    }
}

/// The report for `compare`.
#[derive(Serialize, schemars::JsonSchema)]
pub struct CompareReport<'a> {
    #[serde(flatten)]
    pub header: Header,
    /// The client-side capture first, then the server-side one.
    pub captures: Vec<CaptureView<'a>>,
    /// Which capture is which side, and how that was decided.
    pub sides: &'a crate::compare::SideInfo,
    /// Each session seen at both taps, compared line by line.
    pub pairs: Vec<&'a crate::compare::PairReport>,
    /// Sessions seen at one tap only, and sessions not compared.
    pub unmatched: Unmatched<'a>,
    /// Why the captures do not seem to hold the same traffic, when no
    /// session matched (then nothing is compared and no finding reported).
    pub no_common_traffic: Option<&'a str>,
    /// Sessions of both captures, as `analyze` reports them.
    pub sessions: Vec<SessionView<'a>>,
    /// Findings from the comparison, then each capture's own.
    pub findings: Vec<&'a Finding>,
    /// Findings from the comparison that `--session`, `--min-severity` or
    /// `--findings-only` left out of the listing (each capture's own are
    /// counted in its `not_listed`). Omitted when none.
    #[serde(skip_serializing_if = "NotListed::is_none")]
    pub differences_not_listed: NotListed,
    /// Totals over both captures and the comparison, whatever the listing left
    /// out, and the exit code.
    pub summary: Summary,
}

impl CompareReport<'_> {
    /// What the report calls its two views: two taps, or the two legs
    /// of one file (each capture read as one leg).
    pub fn views(&self) -> crate::compare::views::Views {
        let view = |k: usize| self.captures.get(k).and_then(|c| c.info.view.as_deref());
        crate::compare::views::Views::of(view(0), view(1))
    }
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct Unmatched<'a> {
    /// Ids of client-side sessions with no counterpart at the server-side tap.
    pub client_side: Vec<&'a str>,
    /// Ids of server-side sessions with no counterpart at the client-side tap.
    pub server_side: Vec<&'a str>,
    /// Sessions never compared, so whether the path changed them is
    /// unknown, and why. Omitted when none.
    #[serde(skip_serializing_if = "NotCompared::is_none")]
    pub not_compared: NotCompared,
}

/// Every result's view, numbered by its place.
fn numbered(results: &[CaptureResult]) -> Vec<CaptureView<'_>> {
    let mut v: Vec<CaptureView<'_>> = results.iter().map(capture_view).collect();
    for (i, c) in v.iter_mut().enumerate() {
        c.number = i;
    }
    v
}

pub fn capture_view(r: &CaptureResult) -> CaptureView<'_> {
    CaptureView {
        number: 0,
        info: &r.info,
        packets: &r.counters,
        error: r.error.as_ref(),
        session_count: r.sessions.len() + r.sessions_written as usize,
        finding_count: r.findings.len(),
        sessions_not_kept: r.sessions_not_kept,
        findings_not_kept: r.findings_not_kept,
        not_listed: r.not_listed,
    }
}

pub fn compare_report<'a>(
    c: &'a crate::compare::Comparison,
    options: BTreeMap<&'static str, String>,
) -> CompareReport<'a> {
    let mut summary = summary(&c.results);
    if c.sides.legs.is_some() {
        summary.one_file(c);
    }
    let unrelated = c.no_common_traffic.is_some();
    if unrelated {
        // Two unrelated captures: a finding of either one would read as a
        // result of the comparison. `analyze` gives them.
        summary.findings_by_severity.clear();
        summary.findings_by_rule.clear();
        summary.exit_code = super::EXIT_USAGE;
    }
    for f in &c.findings {
        *summary.findings_by_severity.entry(f.severity).or_default() += 1;
        *summary
            .findings_by_rule
            .entry(f.rule.id().into())
            .or_default() += 1;
    }
    if summary.exit_code == super::EXIT_OK {
        summary.exit_code = super::exit_code(&c.findings);
    }
    CompareReport {
        header: Header::new("compare", options),
        captures: numbered(&c.results),
        sides: &c.sides,
        pairs: c.pairs.iter().collect(),
        unmatched: Unmatched {
            client_side: c.unmatched[0].iter().map(String::as_str).collect(),
            server_side: c.unmatched[1].iter().map(String::as_str).collect(),
            not_compared: c.not_compared,
        },
        no_common_traffic: c.no_common_traffic.as_deref(),
        sessions: c
            .results
            .iter()
            .enumerate()
            .flat_map(|(i, r)| r.sessions.iter().map(move |s| session_view(i, s)))
            .collect(),
        findings: c
            .findings
            .iter()
            .chain(
                c.results
                    .iter()
                    .filter(|_| !unrelated)
                    .flat_map(|r| r.findings.iter()),
            )
            .collect(),
        differences_not_listed: NotListed::default(),
        summary,
    }
}

/// The summary of `batch` and `merge`, with the exit code.
#[derive(Serialize, schemars::JsonSchema)]
pub struct BatchSummary<'a> {
    #[serde(flatten)]
    pub summary: &'a crate::batch::summary::Summary,
    /// The exit code: 0 no error finding, 1 at least one, 2 a capture could not
    /// be read (completely).
    pub exit_code: i32,
}

impl<'a> BatchSummary<'a> {
    /// As for `analyze`: 2 when a capture could not be read (completely),
    /// else 1 when an error-severity finding exists, else 0.
    pub fn new(summary: &'a crate::batch::summary::Summary) -> Self {
        let exit_code = if summary.captures_with_read_errors > 0 {
            super::EXIT_USAGE
        } else if summary
            .totals
            .findings_by_severity
            .get(&Severity::Error)
            .is_some_and(|&n| n > 0)
        {
            super::EXIT_FINDINGS
        } else {
            super::EXIT_OK
        };
        BatchSummary { summary, exit_code }
    }
}

/// The last line of `batch --format ndjson` (after the lines of
/// [`crate::batch::Output`]): `{"type": "summary", …}`.
#[derive(Serialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum SummaryLine<'a> {
    Summary {
        #[serde(flatten)]
        summary: BatchSummary<'a>,
    },
}

/// `batch --format json` and `merge --format json`: every capture's line
/// (by index), the files skipped, and the summary.
#[derive(Serialize, schemars::JsonSchema)]
pub struct BatchReport<'a, F: Serialize> {
    #[serde(flatten)]
    pub header: Header,
    /// Every capture's record and findings, by index.
    pub captures: Vec<&'a crate::batch::record::CaptureLine<F>>,
    /// Files found that were not read, by index.
    pub skipped: Vec<&'a crate::batch::summary::Skipped>,
    /// What the whole archive adds up to.
    pub summary: BatchSummary<'a>,
}

impl<'a, F: Serialize> BatchReport<'a, F> {
    /// The document, captures and skipped files in index order whatever
    /// order they finished in.
    pub fn new(
        header: Header,
        captures: impl IntoIterator<Item = &'a crate::batch::record::CaptureLine<F>>,
        skipped: impl IntoIterator<Item = &'a crate::batch::summary::Skipped>,
        summary: BatchSummary<'a>,
    ) -> Self {
        let mut captures: Vec<_> = captures.into_iter().collect();
        captures.sort_by_key(|c| c.record.index);
        let mut skipped: Vec<_> = skipped.into_iter().collect();
        skipped.sort_by_key(|s| s.index);
        BatchReport {
            header,
            captures,
            skipped,
            summary,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_file_of_two_legs_is_counted_as_one_capture() {
        let mut s = Summary {
            captures: 2,
            ..Summary::default()
        };
        assert_eq!(s.captures_counted(), "2 capture(s)");
        s.captures = 1;
        s.legs = Some(2);
        assert_eq!(s.captures_counted(), "1 capture (one file, two legs)");
    }
}
