//! Stage 6: two-capture correlation.
//!
//! Two captures taken on both sides of a firewall: the same FTP sessions
//! are found in both (across NAT and proxies), their lines aligned, and
//! every difference classified — what the device in between did, byte by
//! byte, with frames from each capture.

pub mod align;
mod classify;
mod ctx;
pub mod far_acks;
pub mod legs;
pub mod matching;
mod one_tap;
mod reconcile;
pub mod stream;
pub mod views;

use crate::analysis::{self, CaptureResult};
use crate::capture::{CaptureError, Source};
use crate::ftp::address::{AddrKind, Endpoint};
use crate::ftp::data::{ConnResult, DataSetup, Verdict};
use crate::ftp::session::Session;
use crate::reassembly::connection::Side;
use crate::rules::Finding;
use align::{Aligned, Clock, Latency, SeqStep, Status};
use serde::Serialize;
use std::net::SocketAddr;

/// Whether the user said which capture is which.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Roles {
    /// The first path is the client side, the second the server side.
    Given,
    /// Work it out from the captures.
    Infer,
}

/// How to compare: which capture is which, and what is known of the two
/// taps' clocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    pub roles: Roles,
    /// The second capture's clock minus the first's, in nanoseconds, when
    /// the user knows it (`--clock-offset`): taps whose clocks differ by
    /// more than the assumed tolerance and share no TCP connection to
    /// measure it from. A measured offset wins over it.
    pub clock_offset_ns: Option<i64>,
    /// The two views are legs of a file the device itself wrote (Check
    /// Point `fw monitor`): a change between them happened inside it.
    pub written_by_device: bool,
}

impl From<Roles> for Settings {
    fn from(roles: Roles) -> Self {
        Settings {
            roles,
            clock_offset_ns: None,
            written_by_device: false,
        }
    }
}

/// The same endpoint as each tap sees it.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Seen2 {
    /// The address at the client-side tap.
    pub client_side: SocketAddr,
    /// The address at the server-side tap.
    pub server_side: SocketAddr,
    /// Whether they differ (a NAT translated it).
    pub translated: bool,
}

/// How the two taps' TCP connections relate.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct TcpRelation {
    /// Same initial sequence numbers: one TCP connection seen twice (NAT
    /// keeps them). Different: a proxy made a second connection, or the
    /// firewall randomises sequence numbers (Cisco ASA does by default).
    pub same_connection: bool,
    /// Server-side sequence number minus client-side, at the first matched
    /// line, per direction.
    pub seq_offset_to_server: Option<i64>,
    /// The same for server→client.
    pub seq_offset_to_client: Option<i64>,
    /// Where the sequence offset changed between the taps.
    pub steps: Vec<SeqStep>,
}

/// One side of a data setup.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct DataSide {
    /// The form of the announcement (PORT, EPRT, 227, 229…).
    pub kind: AddrKind,
    /// The endpoint announced, as this tap saw it.
    pub announced: Option<Endpoint>,
    /// The announcement cannot be read strictly (`…,22_`): `announced` is
    /// what a lenient parser makes of it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub read_leniently: bool,
    /// What became of the setup at this tap.
    pub verdict: Verdict,
    /// What became of it at this tap, in the word every report uses.
    pub status: crate::ftp::data::Status,
    /// The data connection this tap saw for it, if any.
    pub connection: Option<DataConnView>,
}

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct DataConnView {
    /// Who sent the SYN, as this tap saw it.
    pub initiator: SocketAddr,
    /// Who it was sent to.
    pub acceptor: SocketAddr,
    /// Its first frame at this tap.
    pub first_frame: u64,
    /// How it went at this tap.
    pub result: ConnResult,
}

/// A data setup as each tap saw it.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct DataPair {
    /// Index of the line in `lines`.
    pub line: usize,
    pub client_side: Option<DataSide>,
    pub server_side: Option<DataSide>,
}

#[derive(Clone, Debug, Default, Serialize, schemars::JsonSchema)]
pub struct Counts {
    /// Lines the same at both taps.
    pub identical: usize,
    /// Lines that differ between the taps.
    pub modified: usize,
    /// Lines seen where they were sent, never where they were going.
    pub dropped: usize,
    /// Lines seen where they were received, never where they came from.
    pub injected: usize,
    /// Lines one tap's capture missed (the receiver there acknowledged
    /// them, or that capture was not running): the tap's loss, counted
    /// apart from lines the path dropped or added.
    pub not_captured: usize,
}

/// One session seen at both taps.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct PairReport {
    /// The session's id in the client-side capture.
    pub client_side_session: String,
    /// Its id in the server-side capture.
    pub server_side_session: String,
    /// Why these two sessions are taken to be the same, and how sure.
    pub matched: matching::Match,
    /// The client's and the server's address as each tap saw it.
    pub client_endpoint: Seen2,
    pub server_endpoint: Seen2,
    /// Whether the taps saw one TCP connection, and how the sequence numbers
    /// relate.
    pub tcp: TcpRelation,
    /// The clock offset between the captures, from this pair's lines.
    pub clock: Option<Clock>,
    /// How long client→server lines took between the taps.
    pub latency_to_server: Option<Latency>,
    /// How long server→client lines took between the taps.
    pub latency_to_client: Option<Latency>,
    /// Lines by how they compare.
    pub counts: Counts,
    /// Every line, side by side, in order.
    pub lines: Vec<Aligned>,
    /// Every data setup, as each tap saw it.
    pub data: Vec<DataPair>,
    /// Lines (all identical at both taps) not listed in `lines`, nor their
    /// data setups in `data`: past the memory budget a pair in which
    /// nothing differs is kept as its counts alone. Omitted when 0.
    #[serde(skip_serializing_if = "is_zero")]
    pub lines_not_listed: usize,
    /// Where each tap stood (client side, server side), from the TTLs of
    /// the session's packets there.
    #[serde(skip)]
    pub taps: [crate::rules::attribution::TapPosition; 2],
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl PairReport {
    /// Whether nothing differs between the taps: every line identical,
    /// no sequence step, every data setup with the same verdict at both.
    pub fn plain(&self) -> bool {
        let c = &self.counts;
        c.modified + c.dropped + c.injected + c.not_captured == 0
            && self.tcp.steps.is_empty()
            && self.data.iter().all(|d| {
                matches!((&d.client_side, &d.server_side), (Some(a), Some(b)) if a.verdict == b.verdict)
            })
    }

    /// Keeps a plain pair as its counts alone (see `lines_not_listed`).
    pub fn drop_lines(&mut self) {
        self.lines_not_listed += self.lines.len();
        self.lines = Vec::new();
        self.data = Vec::new();
    }
}

/// Which capture is which.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct SideInfo {
    /// Index (in `captures`) of the client-side and the server-side capture.
    pub client_side: usize,
    /// The server-side capture's index.
    pub server_side: usize,
    /// Whether the sides were worked out from the captures (else given with
    /// --client-side/--server-side).
    pub inferred: bool,
    /// How the sides were told apart, in a sentence.
    pub explanation: String,
    /// How one file was read as the two captures, when it holds both legs
    /// of a device (`legs::LegPair::sentence`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub legs: Option<String>,
}

/// The result of comparing two captures.
pub struct Comparison {
    /// The client-side capture first, then the server-side one.
    pub results: Vec<CaptureResult>,
    pub sides: SideInfo,
    pub pairs: Vec<PairReport>,
    /// Sessions seen at one tap only (ids), per capture.
    pub unmatched: [Vec<String>; 2],
    /// Sessions of each capture (client side, server side) that were
    /// never compared, and why.
    pub not_compared: NotCompared,
    /// Findings from the comparison (single-capture findings stay in
    /// `results`).
    pub findings: Vec<Finding>,
    /// Set when no session matched with confidence: the captures do not
    /// seem to hold the same traffic, and why. Nothing is compared then.
    pub no_common_traffic: Option<String>,
}

/// Sessions never compared, per capture, and why.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct NotCompared {
    /// Client-side sessions never compared.
    pub client_side: u64,
    /// Server-side sessions never compared.
    pub server_side: u64,
    /// Why.
    pub reason: Option<NotComparedReason>,
}

/// Why sessions were not compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum NotComparedReason {
    /// The captures were analysed apart ([`compare_results`]) and these
    /// sessions were past the memory budget, so not kept to compare.
    PastBudget,
    /// Compared as read ([`compare`]): the counterpart ended after the
    /// wait for it was over (capture timestamps out of order by more
    /// than the clock tolerance), when the first of the two was already
    /// set down as seen at one tap.
    WaitEnded,
}

impl NotCompared {
    pub fn is_none(&self) -> bool {
        self.client_side == 0 && self.server_side == 0
    }

    /// The sentence reports print.
    pub fn sentence(&self) -> Option<String> {
        let why = match self.reason? {
            NotComparedReason::PastBudget => {
                "past the memory budget (analysed, their own findings listed, but not kept); \
                 whether the path changed them is unknown. A larger --max-memory-mb compares them"
            }
            NotComparedReason::WaitEnded => {
                "their counterpart at the other tap came after the wait for it had ended \
                 (timestamps out of order); whether the path changed them is unknown"
            }
        };
        (!self.is_none()).then(|| {
            format!(
                "Not compared: {} client-side and {} server-side session(s) {why}.",
                self.client_side, self.server_side
            )
        })
    }
}

/// Compares two captures as they are read, one reader thread each: the
/// sessions of both are matched and compared as they end (see
/// [`stream`]), so every session is compared whatever the size of the
/// captures, and memory follows the sessions waiting for a counterpart.
/// Two captures whose sessions all fit the budget's share for kept
/// sessions are compared whole, as [`compare_results`] does.
pub fn compare(
    a: Source,
    b: Source,
    settings: Settings,
    opts: &analysis::Options,
) -> Result<Comparison, CaptureError> {
    let ra = crate::capture::CaptureReader::open_source(a, opts.hash)?;
    let rb = crate::capture::CaptureReader::open_source(b, opts.hash)?;
    stream::compare_readers(ra, rb, settings, opts)
}

/// A capture holding both legs of a device that carry the same FTP
/// sessions, compared leg against leg ([`legs::find`], then
/// [`compare_legs`]), since that is what the file can prove. None for any
/// other capture (it is read as one: legs that share connections but no
/// FTP session pair nothing), for one that cannot be read twice (a
/// stream), and for one that cannot be read (its analysis says why). The
/// one rule `analyze`, `batch` and the Python package follow.
pub fn legs_compared(
    source: &Source,
    settings: Settings,
    opts: &analysis::Options,
) -> Option<(legs::LegPair, Comparison)> {
    match read_legs(source, settings, opts) {
        Legs::Compared(pair, cmp) => Some((*pair, *cmp)),
        _ => None,
    }
}

/// How a file holding the legs of a device is read ([`read_legs`]).
pub enum Legs {
    /// Two legs carrying both directions, compared as two views.
    Compared(Box<legs::LegPair>, Box<Comparison>),
    /// Two legs carrying one direction each: one view stitched from both,
    /// with these options ([`far_acks::stitched`]).
    Stitched(Box<analysis::Options>),
    /// One capture as it is.
    Plain,
}

/// Reads a file's legs once ([`legs::find`]) and decides how the file is
/// read: the one rule `analyze`, `batch`, Python and Spark follow.
pub fn read_legs(source: &Source, settings: Settings, opts: &analysis::Options) -> Legs {
    let Some(Ok(Some(pair))) = source
        .again()
        .map(|s| legs::find(s, crate::capture::input::HashMode::Off))
    else {
        return Legs::Plain;
    };
    match pair.carry {
        legs::Carry::Both => match compare_legs(source, &pair, settings, opts) {
            Ok(cmp) if !cmp.pairs.is_empty() => Legs::Compared(Box::new(pair), Box::new(cmp)),
            _ => Legs::Plain,
        },
        legs::Carry::OneWay => far_acks::stitched(source, &pair, opts)
            .map_or(Legs::Plain, |o| Legs::Stitched(Box::new(o))),
    }
}

/// Compares the two legs of one file ([`legs::find`]) as two captures:
/// each leg read as a view of its own (frames numbered in the file), so
/// the order in which the file stores the legs does not matter. The file
/// is read twice, so `source` must be one that can be (a path or bytes).
pub fn compare_legs(
    source: &Source,
    pair: &legs::LegPair,
    settings: Settings,
    opts: &analysis::Options,
) -> Result<Comparison, CaptureError> {
    let view = |i: usize| -> Result<crate::capture::CaptureReader, CaptureError> {
        let again = source.again().ok_or_else(|| {
            CaptureError::open(
                &source.name(),
                crate::capture::input::OpenError::Io(std::io::Error::other(
                    "one file read as two legs is read twice, and a stream cannot be",
                )),
            )
        })?;
        // Two legs of one interface share its statistics: the first view
        // reports them.
        let own_stats = i == 0 || pair.legs[0].interface != pair.legs[1].interface;
        Ok(
            crate::capture::CaptureReader::open_source(again, opts.hash)?.view(
                vec![pair.legs[i]],
                pair.names[i].clone(),
                own_stats,
            ),
        )
    };
    // A file the device wrote itself (fw monitor) shows its legs as it
    // saw them: what changed between them, it changed.
    let settings = Settings {
        written_by_device: pair
            .legs
            .iter()
            .all(|l| l.mark == crate::capture::legs::Mark::Fw1),
        ..settings
    };
    let mut c = stream::compare_readers(view(0)?, view(1)?, settings, opts)?;
    // The results come client side first; each view names its leg.
    let client_first = c.results[0].info.view.as_deref() == Some(pair.names[0].as_str());
    let frames = pair.names.clone().map(|n| {
        c.results[0]
            .info
            .legs
            .iter()
            .find(|l| l.name == n)
            .map_or(0, |l| l.frames)
    });
    c.sides.legs = Some(pair.sentence(frames, client_first));
    for p in &mut c.pairs {
        one_clock(p);
    }
    Ok(c)
}

/// Both legs of one file were timed by one clock: the offset between
/// them is none, not an estimate from the lines, and the time a line took
/// from one leg to the other is the device's own latency.
fn one_clock(p: &mut PairReport) {
    if let Some(k) = &mut p.clock {
        k.offset_secs = 0.0;
        k.uncertainty_secs = 0.0;
        p.latency_to_server = align::latency(&p.lines, k, Side::Client);
        p.latency_to_client = align::latency(&p.lines, k, Side::Server);
    }
}

/// Compares two analysed captures, whole.
pub fn compare_results(
    ra: CaptureResult,
    rb: CaptureResult,
    settings: impl Into<Settings>,
) -> Comparison {
    let Settings {
        roles,
        clock_offset_ns,
        written_by_device,
    } = settings.into();
    let matching::Matching { mut matches, clock } =
        matching::match_sessions(&ra.sessions, &rb.sessions, clock_offset_ns);
    let no_common_traffic = refusal(&ra, &rb, &matches, clock);
    if no_common_traffic.is_some() {
        // Refused: nothing is compared.
        matches.clear();
    }
    let sides = sides_of(
        roles,
        &ra.sessions,
        &rb.sessions,
        &matches,
        &no_common_traffic,
    );
    let a_client = sides.a_is_client_side;
    let (cr, sr) = if a_client { (ra, rb) } else { (rb, ra) };
    let views = views::Views::of(cr.info.view.as_deref(), sr.info.view.as_deref())
        .written_by_device(written_by_device);
    let mut pairs = Vec::new();
    let mut findings = Vec::new();
    let mut used = [
        vec![false; cr.sessions.len()],
        vec![false; sr.sessions.len()],
    ];
    for m in matches {
        let (ci, si) = if a_client { (m.a, m.b) } else { (m.b, m.a) };
        let (cs, ss) = (&cr.sessions[ci], &sr.sessions[si]);
        let (report, mut f) = compare_pair(cs, ss, m, (span(&cr), span(&sr)), &views);
        findings.append(&mut f);
        pairs.push(report);
        used[0][ci] = true;
        used[1][si] = true;
    }
    let unmatched = |r: &CaptureResult, used: &[bool]| {
        r.sessions
            .iter()
            .zip(used)
            .filter(|(_, p)| !**p)
            .map(|(s, _)| s.name())
            .collect::<Vec<_>>()
    };
    let unmatched = [unmatched(&cr, &used[0]), unmatched(&sr, &used[1])];
    let not_compared = NotCompared {
        client_side: cr.sessions_not_kept,
        server_side: sr.sessions_not_kept,
        reason: Some(NotComparedReason::PastBudget),
    };
    assemble(
        [cr, sr],
        SideInfo {
            client_side: 0,
            server_side: 1,
            inferred: roles == Roles::Infer,
            explanation: sides.explanation,
            legs: None,
        },
        pairs,
        findings,
        unmatched,
        not_compared,
        no_common_traffic,
    )
}

/// A capture's time span, as far as its information says.
fn span(r: &CaptureResult) -> Span {
    (
        r.info.first_ts.unwrap_or_default(),
        r.info.last_ts.unwrap_or_default(),
    )
}

/// Why the two captures are refused as not the same traffic, if they are:
/// no pair at all, or look-alike pairs only from times that do not
/// overlap.
fn refusal(
    ra: &CaptureResult,
    rb: &CaptureResult,
    matches: &[matching::Match],
    clock: matching::ClockGuess,
) -> Option<String> {
    if matches.is_empty() {
        let ns = |r: &CaptureResult| (span(r).0.0, span(r).1.0);
        Some(matching::why_nothing_matches(
            &ra.sessions,
            &rb.sessions,
            [ns(ra), ns(rb)],
            clock,
        ))
    } else {
        only_look_alikes(matches, span(ra), span(rb), clock)
    }
}

/// Which capture is the client side: as given, inferred from the pairs,
/// or (refused captures) the first.
fn sides_of(
    roles: Roles,
    a: &[Session],
    b: &[Session],
    matches: &[matching::Match],
    refused: &Option<String>,
) -> matching::Sides {
    match (refused, roles) {
        (Some(why), _) => matching::Sides {
            a_is_client_side: true,
            explanation: format!(
                "The two captures do not seem to hold the same traffic: {why}. Nothing was compared; `portmortem analyze` reports each capture on its own."
            ),
            decided: false,
        },
        (None, Roles::Given) => {
            // The user's word, held against what the packets say.
            let evidence = matching::infer_sides(a, b, matches);
            let explanation = if evidence.decided && !evidence.a_is_client_side {
                format!(
                    "as given: the first capture is the client side — but the packets say otherwise ({}); every finding below takes the sides as given, so if the packets are right they read the wrong way round: swap --client-side and --server-side",
                    evidence
                        .explanation
                        .trim_start_matches("inferred: the second capture is the client side (")
                        .trim_end_matches(')')
                )
            } else {
                "as given: the first capture is the client side".into()
            };
            matching::Sides {
                a_is_client_side: true,
                explanation,
                decided: true,
            }
        }
        (None, Roles::Infer) => matching::infer_sides(a, b, matches),
    }
}

/// One pair compared, its findings hedged when the pair is a likeness.
fn compare_pair(
    cs: &Session,
    ss: &Session,
    m: matching::Match,
    (cspan, sspan): (Span, Span),
    views: &views::Views,
) -> (PairReport, Vec<Finding>) {
    let medium = m.evidence == matching::Evidence::SameDialogue;
    let (report, mut f) = pair(cs, ss, m, cspan, sspan, views);
    if medium {
        hedge(&mut f);
    }
    (report, f)
}

/// The comparison from its parts, the captures placed (client side
/// first) and drops the captures report noted on findings that argue
/// from absence.
fn assemble(
    [mut cr, mut sr]: [CaptureResult; 2],
    sides: SideInfo,
    pairs: Vec<PairReport>,
    mut findings: Vec<Finding>,
    unmatched: [Vec<String>; 2],
    not_compared: NotCompared,
    no_common_traffic: Option<String>,
) -> Comparison {
    for (k, r) in [&mut cr, &mut sr].into_iter().enumerate() {
        r.place(k);
    }
    reconcile::reconcile(&mut cr, &mut sr, &pairs, &mut findings);
    for r in [&mut cr, &mut sr] {
        r.findings = crate::rules::merge_cases(std::mem::take(&mut r.findings));
    }
    crate::rules::sight::note_reported_drops(
        &mut findings,
        cr.info.dropped_packets() + sr.info.dropped_packets(),
    );
    Comparison {
        results: vec![cr, sr],
        sides,
        pairs,
        unmatched,
        not_compared,
        findings,
        no_common_traffic,
    }
}

type Span = (crate::timestamp::Timestamp, crate::timestamp::Timestamp);

/// Why the captures are not one dialogue seen twice when every pair is a
/// look-alike (no shared TCP connection, no shared endpoints) and the
/// captures' time ranges do not even overlap: two runs of the same
/// scripted job look alike, and their differences would read as a
/// device's doing.
fn only_look_alikes(
    matches: &[matching::Match],
    a: Span,
    b: Span,
    clock: matching::ClockGuess,
) -> Option<String> {
    let all_medium = matches
        .iter()
        .all(|m| m.evidence == matching::Evidence::SameDialogue);
    // On the first capture's clock (an assumed offset is 0; a measured
    // one comes with certain pairs, so never with look-alikes alone).
    let shift = clock.offset_ns;
    let overlap = a.0 <= b.1 - shift && b.0 - shift <= a.1;
    (all_medium && !overlap).then(|| {
        format!(
            "the only pairs are look-alike dialogues ({} of them, no shared TCP connection or endpoints), and the captures' time ranges do not overlap ({} – {} against {} – {}): two runs of the same job look alike, so they are not taken for one",
            matches.len(),
            a.0,
            a.1,
            b.0,
            b.1
        )
    })
}

/// Findings that rest on a look-alike pair say so, and are at most
/// warnings: the pair itself is a likeness, not a proof.
fn hedge(findings: &mut [Finding]) {
    for f in findings {
        f.severity = f.severity.min(crate::rules::Severity::Warning);
        f.message = format!(
            "if these are the same session (paired on a look-alike dialogue only): {}",
            f.message
        );
    }
}

fn pair(
    cs: &Session,
    ss: &Session,
    matched: matching::Match,
    cspan: Span,
    sspan: Span,
    views: &views::Views,
) -> (PairReport, Vec<Finding>) {
    let mut lines = Vec::new();
    for dir in [Side::Client, Side::Server] {
        let (c, s) = (align::lines_of(cs, dir), align::lines_of(ss, dir));
        // One TCP connection seen twice: its sequence numbers say which
        // line is which; else the lines' text does.
        let same = cs.tcp[dir.index()].seq_base.is_some()
            && cs.tcp[dir.index()].seq_base == ss.tcp[dir.index()].seq_base;
        match same.then(|| align::align_by_seq(dir, &c, &s)).flatten() {
            Some(v) => lines.extend(v),
            None => lines.extend(align::align_direction(dir, c, s)),
        }
    }
    lines.sort_by_key(Aligned::sort_key);
    let clock = align::clock(&lines);
    let latency_to_server = clock
        .as_ref()
        .and_then(|k| align::latency(&lines, k, Side::Client));
    let latency_to_client = clock
        .as_ref()
        .and_then(|k| align::latency(&lines, k, Side::Server));
    let (start, steps) = align::seq_steps(&lines);
    segment_notes(
        &mut lines,
        cs,
        ss,
        clock.as_ref(),
        [&latency_to_server, &latency_to_client],
    );
    let offset_secs = clock.as_ref().map_or(0.0, |k| k.offset_secs);
    let spans = (cspan, sspan);
    // Why each line seen at one tap only is; those that tap's capture
    // missed (and no finding took up as the path's) are its loss, in every
    // count, not lines the path dropped or added.
    let causes = one_tap::causes(&pair_ctx(
        (cs, ss),
        (&lines, &[], &steps),
        offset_secs,
        spans,
        views,
    ));
    let (findings, consumed) = classify::run(&pair_ctx(
        (cs, ss),
        (&lines, &causes, &steps),
        offset_secs,
        spans,
        views,
    ));
    for ((l, c), used) in lines.iter_mut().zip(&causes).zip(consumed) {
        let lacking = if l.client_side.is_some() {
            views::Tap::ServerSide
        } else {
            views::Tap::ClientSide
        };
        if let Some(note) = c.as_ref().and_then(|c| c.not_captured(&views.at(lacking)))
            && !used
        {
            l.status = Status::NotCaptured;
            l.segment_notes.push(note);
        }
    }
    let mut counts = Counts::default();
    for l in &lines {
        match l.status {
            Status::Identical => counts.identical += 1,
            Status::Modified => counts.modified += 1,
            Status::Dropped => counts.dropped += 1,
            Status::Injected => counts.injected += 1,
            Status::NotCaptured => counts.not_captured += 1,
        }
    }
    let offset = |d: Side| start.iter().find(|(x, _)| *x == d).map(|x| x.1);
    let tcp = TcpRelation {
        same_connection: [offset(Side::Client), offset(Side::Server)]
            .iter()
            .all(|o| o.is_none_or(|v| v == 0)),
        seq_offset_to_server: offset(Side::Client),
        seq_offset_to_client: offset(Side::Server),
        steps,
    };
    let data = data_pairs(&lines, cs, ss);
    let report = PairReport {
        client_side_session: cs.name(),
        server_side_session: ss.name(),
        matched,
        client_endpoint: Seen2 {
            client_side: cs.client,
            server_side: ss.client,
            translated: cs.client != ss.client,
        },
        server_endpoint: Seen2 {
            client_side: cs.server,
            server_side: ss.server,
            translated: cs.server != ss.server,
        },
        tcp,
        clock,
        latency_to_server,
        latency_to_client,
        counts,
        lines,
        data,
        lines_not_listed: 0,
        taps: [
            crate::rules::attribution::TapPosition::new(cs.ttl),
            crate::rules::attribution::TapPosition::new(ss.ttl),
        ],
    };
    (report, findings)
}

/// The classifiers' view of one pair.
fn pair_ctx<'a>(
    (cs, ss): (&'a Session, &'a Session),
    (lines, causes, steps): (&'a [Aligned], &'a [Option<one_tap::Cause>], &'a [SeqStep]),
    offset_secs: f64,
    (cspan, sspan): (Span, Span),
    views: &'a views::Views,
) -> ctx::Ctx<'a> {
    ctx::Ctx {
        cs,
        ss,
        cap: [0, 1],
        lines,
        causes,
        steps,
        offset_secs,
        client_capture_span: cspan,
        server_capture_span: sspan,
        views,
    }
}

/// Notes how each line travelled where the taps disagree: split or merged
/// segments, unusual delay, retransmissions at the sender.
fn segment_notes(
    lines: &mut [Aligned],
    cs: &Session,
    ss: &Session,
    clock: Option<&Clock>,
    lat: [&Option<Latency>; 2],
) {
    for l in lines.iter_mut() {
        let dir = l.side();
        let sender = if dir == Side::Client { cs } else { ss };
        let mut notes = Vec::new();
        if let (Some(s), Some(r)) = (l.sent(), l.received()) {
            if s.segments < r.segments {
                notes.push(format!(
                    "split: {} segment(s) at the sender's tap, {} at the receiver's",
                    s.segments, r.segments
                ));
            } else if s.segments > r.segments {
                notes.push(format!(
                    "merged: {} segments at the sender's tap, {} at the receiver's",
                    s.segments, r.segments
                ));
            }
            if let (Some(k), Some(lt)) = (clock, lat[dir.index()].as_ref()) {
                let d = if dir == Side::Client {
                    r.ts.secs_since(s.ts) - k.offset_secs
                } else {
                    r.ts.secs_since(s.ts) + k.offset_secs
                };
                if d > 0.2 && d > align::DELAY_FACTOR * lt.median_secs {
                    notes.push(format!(
                        "delayed: {d:.3} s through the path (median {:.6} s)",
                        lt.median_secs
                    ));
                }
            }
        }
        if let Some(s) = l.sent() {
            let retrans: usize = sender.tcp[dir.index()]
                .retransmissions
                .iter()
                .filter(|r| r.offset < s.offset + s.raw_len.max(1) && r.offset + r.len > s.offset)
                .map(|r| r.retransmission_frames.len())
                .sum();
            if retrans > 0 {
                notes.push(format!("retransmitted {retrans}× at the sender's tap"));
            }
        }
        l.segment_notes = notes;
    }
}

fn data_side(s: &Session, d: &DataSetup) -> DataSide {
    DataSide {
        kind: d.kind,
        announced: d.endpoint,
        read_leniently: d.endpoint.is_some() && d.arg.strict.is_none(),
        verdict: d.verdict,
        status: d.status(),
        connection: d.connection.map(|k| {
            let c = &s.data_conns[k];
            DataConnView {
                initiator: c.initiator,
                acceptor: c.acceptor,
                first_frame: c.first_frame,
                result: c.result(),
            }
        }),
    }
}

/// The data setup announced by a line: a client line by its PORT-type
/// command, a server line by its 227/228/229 reply.
pub(crate) fn setup_of(s: &Session, dir: Side, item: usize) -> Option<&DataSetup> {
    s.data_setups.iter().find(|d| match dir {
        Side::Client => d.kind.is_active() && d.command == Some(item),
        Side::Server => !d.kind.is_active() && d.reply == Some(item),
    })
}

/// The data setups of the address lines, side by side.
fn data_pairs(lines: &[Aligned], cs: &Session, ss: &Session) -> Vec<DataPair> {
    let find =
        |s: &Session, dir: Side, item: usize| setup_of(s, dir, item).map(|d| data_side(s, d));
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let dir = l.side();
        let c = l.client_side.as_ref().and_then(|x| find(cs, dir, x.item));
        let s = l.server_side.as_ref().and_then(|x| find(ss, dir, x.item));
        if c.is_some() || s.is_some() {
            out.push(DataPair {
                line: i,
                client_side: c,
                server_side: s,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_compared_says_why() {
        let n = |reason| NotCompared {
            client_side: 2,
            server_side: 1,
            reason: Some(reason),
        };
        let past = n(NotComparedReason::PastBudget).sentence().unwrap();
        assert!(past.contains("2 client-side and 1 server-side"), "{past}");
        assert!(past.contains("--max-memory-mb"), "{past}");
        let late = n(NotComparedReason::WaitEnded).sentence().unwrap();
        assert!(late.contains("after the wait"), "{late}");
        assert_eq!(NotCompared::default().sentence(), None);
        let none = NotCompared {
            reason: Some(NotComparedReason::WaitEnded),
            ..Default::default()
        };
        assert!(none.is_none() && none.sentence().is_none());
    }
}
