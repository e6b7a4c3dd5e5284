//! One capture's result in a batch: everything the archive summary is
//! built from (counts, per-host tallies, data-setup histograms), small and
//! mergeable, plus the capture's findings as `analyze` reports them.
//!
//! A record is built while the capture is read, from each session as it
//! ends, so a worker holds the live sessions of one capture and never the
//! finished ones. `merge` reads records back from NDJSON and adds them up
//! exactly as `batch` does.

use super::counting::{self, Counted, Kind, Marks};
use super::features;
use super::timeline::{self, At, Bucket, Course, Courses, ModeCourse, ModeCourses};
use crate::analysis::{CaptureTotals, MAX_FINDINGS};
use crate::ftp::data::Outcome;
use crate::ftp::session::Session;
use crate::rules::{Finding, Severity};
use crate::timestamp::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The clients of some sessions: the smallest few addresses (as text),
/// sorted — enough to name the one client behind a pattern, or count up to
/// [`Clients::NAMED`] of them, exactly, in whatever order records are added.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, schemars::JsonSchema, Deserialize)]
#[serde(transparent)]
pub struct Clients(Vec<String>);

impl Clients {
    /// Clients are counted exactly up to this many ("from more than 8
    /// clients" beyond).
    pub const NAMED: usize = 8;

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn add(&mut self, ip: &str) {
        if let Err(at) = self.0.binary_search_by(|x| x.as_str().cmp(ip)) {
            self.0.insert(at, ip.to_string());
            self.0.truncate(Self::NAMED + 1);
        }
    }

    pub fn merge(&mut self, o: &Clients) {
        for ip in &o.0 {
            self.add(ip);
        }
    }

    /// How many, and whether that is exact (else: more than `NAMED`).
    pub fn count(&self) -> (usize, bool) {
        (self.0.len().min(Self::NAMED), self.0.len() <= Self::NAMED)
    }

    /// The client, when there is exactly one.
    pub fn only(&self) -> Option<&str> {
        match self.0.as_slice() {
            [one] => Some(one),
            _ => None,
        }
    }
}

/// What the transfers (and refused commands) with some value, or of some
/// mode, came to: counted once each, and once per session, since one
/// session's transfers are not independent of each other.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, schemars::JsonSchema, Deserialize)]
pub struct Tally {
    /// Failed transfers.
    pub failed: u64,
    /// Refused commands (a PORT/EPRT/LPRT answered 4xx/5xx).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub refused: u64,
    /// Transfers that worked.
    pub worked: u64,
    /// Sessions with at least one failure (failed transfer or refused
    /// command) counted here.
    #[serde(default)]
    pub failing_sessions: u64,
    /// Sessions with at least one working transfer counted here.
    #[serde(default)]
    pub working_sessions: u64,
    /// The clients of the failing sessions.
    #[serde(default, skip_serializing_if = "Clients::is_empty")]
    pub failing_clients: Clients,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Tally {
    /// Failed transfers and refused commands: what patterns explain.
    pub fn failures(&self) -> u64 {
        self.failed + self.refused
    }

    pub fn add(&mut self, o: &Tally) {
        self.failed += o.failed;
        self.refused += o.refused;
        self.worked += o.worked;
        self.failing_sessions += o.failing_sessions;
        self.working_sessions += o.working_sessions;
        self.failing_clients.merge(&o.failing_clients);
    }

    /// Counts one transfer or refused command (its session is counted by
    /// [`Tally::session`]).
    fn one(&mut self, kind: Kind) {
        match kind {
            Kind::Failed => self.failed += 1,
            Kind::Refused => self.refused += 1,
            Kind::Worked => self.worked += 1,
        }
    }

    /// Counts a session once: it had a failure here, a working transfer
    /// here, or both.
    fn session(&mut self, marks: Marks, client: &str) {
        if marks.failing {
            self.failing_sessions += 1;
            self.failing_clients.add(client);
        }
        self.working_sessions += u64::from(marks.working);
    }
}

/// What one server (or client) did across its sessions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, schemars::JsonSchema, Deserialize)]
pub struct HostStats {
    /// FTP sessions with this host.
    pub sessions: u64,
    /// Transfers that worked.
    pub transfers_worked: u64,
    /// Transfers that failed.
    pub transfers_failed: u64,
    /// PORT/EPRT/LPRT commands the server refused.
    pub commands_refused: u64,
    /// Error findings in them.
    pub error_findings: u64,
    /// Warning findings in them.
    pub warning_findings: u64,
    /// Sessions by the server software their banner names (servers
    /// only; `unknown` where none was recognised). One address can be
    /// several servers: an upgrade, a load balancer, a NAT in front of
    /// many.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(with = "Vec<super::entries::Keyed<super::entries::Count>>")]
    #[serde(with = "super::entries::counts")]
    pub software: BTreeMap<String, u64>,
}

impl HostStats {
    pub fn add(&mut self, o: &HostStats) {
        self.sessions += o.sessions;
        self.transfers_worked += o.transfers_worked;
        self.transfers_failed += o.transfers_failed;
        self.commands_refused += o.commands_refused;
        self.error_findings += o.error_findings;
        self.warning_findings += o.warning_findings;
        for (name, n) in &o.software {
            *self.software.entry(name.clone()).or_default() += n;
        }
    }
}

/// The commands a server refused with one reply code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema, Deserialize)]
pub struct Refusal {
    /// Commands refused with this code.
    pub count: u64,
    /// The first of them (by time, then capture, then frame).
    pub first: At,
    /// The server's reply to that first one (escaped, cut to 100
    /// characters): its reason.
    pub reply: String,
}

impl Refusal {
    fn add(&mut self, o: &Refusal) {
        self.count += o.count;
        if o.first < self.first {
            self.first = o.first;
            self.reply = o.reply.clone();
        }
    }
}

/// The data setups of one mode (active or passive).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, schemars::JsonSchema, Deserialize)]
pub struct ModeStats {
    /// Transfers (setups the client went on to use) that worked (their
    /// data connection was established).
    pub worked: u64,
    /// Transfers that failed (rejected, unanswered, to another endpoint,
    /// a 425, or a hang on an unanswered PORT).
    pub failed: u64,
    /// Transfers whose outcome the capture does not show.
    pub unknown: u64,
    /// PORT/EPRT/LPRT commands the server refused (4xx/5xx): refused
    /// commands, not transfers.
    #[serde(default)]
    pub refused: u64,
    /// Setups no transfer command or data connection followed (and no
    /// hang): not transfers.
    #[serde(default)]
    pub unused: u64,
    /// 227/228/229 replies that answer no PASV/LPSV/EPSV command and led
    /// to no data connection: no setups at all.
    #[serde(default)]
    pub not_setups: u64,
    /// Failed transfers by how they failed.
    #[schemars(with = "Vec<super::entries::Keyed<super::entries::Count>>")]
    #[serde(with = "super::entries::counts")]
    pub failures: BTreeMap<String, u64>,
    /// Refused commands by the reply code that refused them.
    #[serde(default)]
    #[schemars(with = "Vec<super::entries::Keyed<Refusal>>")]
    #[serde(with = "super::entries::keyed")]
    pub refusals: BTreeMap<String, Refusal>,
    /// Sessions with failures (failed transfers or refused commands).
    #[serde(default)]
    pub failing_sessions: u64,
    /// Sessions with working transfers.
    #[serde(default)]
    pub working_sessions: u64,
    /// The clients of the sessions with failures.
    #[serde(default, skip_serializing_if = "Clients::is_empty")]
    pub failing_clients: Clients,
    /// Sessions with refused commands, and their clients.
    #[serde(default)]
    pub refusing_sessions: u64,
    #[serde(default, skip_serializing_if = "Clients::is_empty")]
    pub refusing_clients: Clients,
    /// Feature → value → what the transfers and refused commands with that
    /// value came to (see `features::features`).
    #[schemars(with = "Vec<super::entries::Keyed<super::entries::nested::ValuesIn<Tally>>>")]
    #[serde(with = "super::entries::nested")]
    pub features: BTreeMap<String, BTreeMap<String, Tally>>,
}

impl ModeStats {
    pub fn add(&mut self, o: &ModeStats) {
        self.worked += o.worked;
        self.failed += o.failed;
        self.unknown += o.unknown;
        self.refused += o.refused;
        self.unused += o.unused;
        self.not_setups += o.not_setups;
        for (k, v) in &o.failures {
            *self.failures.entry(k.clone()).or_default() += v;
        }
        for (k, r) in &o.refusals {
            match self.refusals.get_mut(k) {
                Some(mine) => mine.add(r),
                None => {
                    self.refusals.insert(k.clone(), r.clone());
                }
            }
        }
        self.failing_sessions += o.failing_sessions;
        self.working_sessions += o.working_sessions;
        self.failing_clients.merge(&o.failing_clients);
        self.refusing_sessions += o.refusing_sessions;
        self.refusing_clients.merge(&o.refusing_clients);
        for (f, values) in &o.features {
            let mine = self.features.entry(f.clone()).or_default();
            for (v, t) in values {
                mine.entry(v.clone()).or_default().add(t);
            }
        }
    }
}

/// A link type of the capture (LINKTYPE_* value and name), as `analyze`
/// writes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema, Deserialize)]
pub struct LinkType {
    /// The LINKTYPE_ number.
    pub id: u32,
    /// Its name (`ETHERNET`, `LINUX_SLL2`…).
    pub name: String,
}

/// The summary of one input file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, schemars::JsonSchema, Deserialize)]
pub struct CaptureRecord {
    /// Position of the file among all files found (stable across shards);
    /// the findings' `capture` field is this index.
    pub index: usize,
    /// The file's path as found (escaped where not UTF-8).
    pub path: String,
    /// SHA-256 of the bytes read (as stored: compressed bytes for a .gz);
    /// absent with `--no-hash`.
    pub sha256: Option<String>,
    /// Bytes read from the file (as stored).
    pub file_bytes: u64,
    /// `gzip`, `zstd`, `xz`, `bzip2` or `lz4` when the file was compressed.
    pub compression: Option<String>,
    /// The container and its variant (`pcap 2.4 (little-endian, µs)`, `pcapng
    /// 1.0 (little-endian)`).
    pub format: String,
    /// As in `analyze`: `{id, name}`.
    pub link_types: Vec<LinkType>,
    /// The first frame's time.
    pub first_ts: Option<Timestamp>,
    /// The last frame's time.
    pub last_ts: Option<Timestamp>,
    /// Why the file could not be read, or stopped being read.
    pub error: Option<String>,
    /// When the setups with each feature value worked and failed in this
    /// capture (the first and the last of each).
    #[serde(default)]
    pub courses: Vec<Course>,
    /// When each mode's transfers worked and failed in this capture
    /// (`any`: both modes), and what worked before its first failure.
    #[serde(default)]
    pub modes: Vec<ModeCourse>,
    /// A file holding two legs of a device, compared leg against leg as
    /// `analyze` compares them: its legs, and how its sessions were
    /// counted (each once). Absent for any other capture.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legs: Option<super::legs::LegsRead>,
    /// A file whose two legs each carry one direction, read as one view
    /// stitched from both, as `analyze` reads it: how (the capture's
    /// `stitched`). Absent for any other capture.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stitched: Option<String>,
    #[serde(flatten)]
    pub totals: Totals,
}

/// What a capture's record and the archive's summary both count, the
/// summary as the sum of the records.
#[derive(Clone, Debug, Default, PartialEq, Serialize, schemars::JsonSchema, Deserialize)]
pub struct Totals {
    /// Where every frame went (frames read before any error).
    pub packets: crate::engine::Counters,
    /// FTP control sessions found.
    pub sessions: u64,
    /// Findings per severity (listed with their capture or not).
    #[schemars(with = "super::entries::BySeverity")]
    pub findings_by_severity: BTreeMap<Severity, u64>,
    /// Findings per rule, as `[{key: rule id, count}]`.
    #[schemars(with = "Vec<super::entries::Keyed<super::entries::Count>>")]
    #[serde(with = "super::entries::counts")]
    pub findings_by_rule: BTreeMap<String, u64>,
    /// Findings counted but not listed with their capture (over
    /// `analysis::MAX_FINDINGS`).
    pub findings_not_kept: u64,
    /// By server address (ip:port).
    #[schemars(with = "Vec<super::entries::Keyed<HostStats>>")]
    #[serde(with = "super::entries::keyed")]
    pub servers: BTreeMap<String, HostStats>,
    /// By client IP address.
    #[schemars(with = "Vec<super::entries::Keyed<HostStats>>")]
    #[serde(with = "super::entries::keyed")]
    pub clients: BTreeMap<String, HostStats>,
    /// Data setups by mode: `active` (PORT/EPRT/LPRT), `passive`
    /// (227/228/229): what they came to (transfers, refused commands,
    /// unused, not setups), with the histograms of every feature.
    #[schemars(with = "Vec<super::entries::Keyed<ModeStats>>")]
    #[serde(with = "super::entries::keyed")]
    pub setups: BTreeMap<String, ModeStats>,
    /// Transfers with a known outcome and refused commands per mode and
    /// hour (UTC) of their announcement, in (mode, hour) order.
    #[serde(default)]
    pub series: Vec<Bucket>,
}

impl Totals {
    /// Adds another's counts (a record's to the summary's).
    pub fn add(&mut self, o: &Totals) {
        self.packets.add(&o.packets);
        self.sessions += o.sessions;
        for (k, v) in &o.findings_by_severity {
            *self.findings_by_severity.entry(*k).or_default() += v;
        }
        for (k, v) in &o.findings_by_rule {
            *self.findings_by_rule.entry(k.clone()).or_default() += v;
        }
        self.findings_not_kept += o.findings_not_kept;
        for (dst, src) in [
            (&mut self.servers, &o.servers),
            (&mut self.clients, &o.clients),
        ] {
            for (k, v) in src {
                dst.entry(k.clone()).or_default().add(v);
            }
        }
        for (k, v) in &o.setups {
            self.setups.entry(k.clone()).or_default().add(v);
        }
        timeline::add_series(&mut self.series, &o.series);
    }
}

/// A record with its findings: one line of `batch --format ndjson`.
/// `F` is [`Finding`] when writing; `merge` reads findings back as JSON
/// values and passes them through unchanged.
#[derive(Debug, Serialize, schemars::JsonSchema, Deserialize)]
pub struct CaptureLine<F> {
    #[serde(flatten)]
    pub record: CaptureRecord,
    /// The capture's findings, as `analyze` reports them (up to the per-capture
    /// listing cap).
    pub findings: Vec<F>,
}

impl CaptureRecord {
    /// A file that could not be analysed at all.
    pub fn failed(index: usize, path: String, error: String) -> Self {
        CaptureRecord {
            index,
            path,
            error: Some(error),
            ..Default::default()
        }
    }
}

/// Builds a record from sessions as they end.
pub struct Builder {
    rec: CaptureRecord,
    courses: Courses,
    modes: ModeCourses,
    /// With their session's id, to list them in session order.
    findings: Vec<(u32, Finding)>,
}

/// How many a finding counts for in the archive's tallies. One place, so
/// the archive follows wherever `analyze` settles what one finding stands
/// for (today: one per finding, as listed).
fn counted(_f: &Finding) -> u64 {
    1
}

impl Builder {
    pub fn new(index: usize, path: String) -> Self {
        Builder {
            rec: CaptureRecord {
                index,
                path,
                ..Default::default()
            },
            courses: Courses::default(),
            modes: ModeCourses::default(),
            findings: Vec::new(),
        }
    }

    pub fn session(&mut self, s: &Session, findings: Vec<Finding>) {
        let r = &mut self.rec;
        r.totals.sessions += 1;
        let mut host = HostStats {
            sessions: 1,
            ..Default::default()
        };
        for f in &findings {
            let n = counted(f);
            *r.totals.findings_by_severity.entry(f.severity).or_default() += n;
            *r.totals
                .findings_by_rule
                .entry(f.rule.to_string())
                .or_default() += n;
            match f.severity {
                Severity::Error => host.error_findings += n,
                Severity::Warning => host.warning_findings += n,
                Severity::Info => {}
            }
        }
        let client = s.client.ip().to_string();
        // What this session had, per mode and per value: it counts once.
        let mut marks: BTreeMap<(&'static str, &'static str, String), Marks> = BTreeMap::new();
        let mut mode_marks: BTreeMap<&'static str, Marks> = BTreeMap::new();
        for d in &s.data_setups {
            let mode = if d.kind.is_active() {
                "active"
            } else {
                "passive"
            };
            let m = r.totals.setups.entry(mode.to_string()).or_default();
            let at = At {
                ts: d.announced_ts,
                capture: r.index,
                frame: d.announced_frame,
            };
            let kind = match counting::count(s, d) {
                Counted::NotASetup => {
                    m.not_setups += 1;
                    continue;
                }
                Counted::Unused => {
                    m.unused += 1;
                    continue;
                }
                Counted::Transfer(Outcome::Unknown) => {
                    m.unknown += 1;
                    continue;
                }
                Counted::Transfer(Outcome::Worked) => {
                    m.worked += 1;
                    host.transfers_worked += 1;
                    Kind::Worked
                }
                Counted::Transfer(Outcome::Failed(why)) => {
                    m.failed += 1;
                    host.transfers_failed += 1;
                    *m.failures.entry(why.name().to_string()).or_default() += 1;
                    Kind::Failed
                }
                Counted::Refused { code, reply } => {
                    m.refused += 1;
                    host.commands_refused += 1;
                    let one = Refusal {
                        count: 1,
                        first: at,
                        reply,
                    };
                    match m.refusals.get_mut(&code.to_string()) {
                        Some(x) => x.add(&one),
                        None => {
                            m.refusals.insert(code.to_string(), one);
                        }
                    }
                    Kind::Refused
                }
            };
            mode_marks.entry(mode).or_default().note(kind);
            timeline::count(&mut r.totals.series, mode, d.announced_ts, kind);
            self.modes.note(mode, kind, at);
            for (feature, value) in features::features(s, d) {
                self.courses
                    .note(mode, feature, &value, kind.is_failure(), at);
                m.features
                    .entry(feature.to_string())
                    .or_default()
                    .entry(value.clone())
                    .or_default()
                    .one(kind);
                marks.entry((mode, feature, value)).or_default().note(kind);
            }
        }
        for ((mode, feature, value), mk) in marks {
            if let Some(t) = r
                .totals
                .setups
                .get_mut(mode)
                .and_then(|m| m.features.get_mut(feature))
                .and_then(|f| f.get_mut(&value))
            {
                t.session(mk, &client);
            }
        }
        for (mode, mk) in mode_marks {
            if let Some(m) = r.totals.setups.get_mut(mode) {
                if mk.failing {
                    m.failing_sessions += 1;
                    m.failing_clients.add(&client);
                }
                m.working_sessions += u64::from(mk.working);
                if mk.refused {
                    m.refusing_sessions += 1;
                    m.refusing_clients.add(&client);
                }
            }
        }
        r.totals.clients.entry(client).or_default().add(&host);
        host.software = BTreeMap::from([(
            s.server_software
                .as_ref()
                .map_or_else(|| "unknown".to_string(), |x| x.name.to_string()),
            1,
        )]);
        r.totals
            .servers
            .entry(s.server.to_string())
            .or_default()
            .add(&host);
        for f in findings {
            if self.findings.len() < MAX_FINDINGS {
                self.findings.push((s.id, f));
            } else {
                r.totals.findings_not_kept += counted(&f);
            }
        }
    }

    /// Counts findings whose session is not among those handed over (a
    /// session past the budget's share, not kept): counted, not listed
    /// with a session's host.
    pub fn loose(&mut self, findings: impl IntoIterator<Item = Finding>) {
        for f in findings {
            let n = counted(&f);
            let t = &mut self.rec.totals;
            *t.findings_by_severity.entry(f.severity).or_default() += n;
            *t.findings_by_rule.entry(f.rule.to_string()).or_default() += n;
            if self.findings.len() < MAX_FINDINGS {
                self.findings.push((u32::MAX, f));
            } else {
                t.findings_not_kept += n;
            }
        }
    }

    /// Counts sessions analysed but not kept, so not handed over.
    pub fn sessions_not_kept(&mut self, n: u64) {
        self.rec.totals.sessions += n;
    }

    /// Completes the record with the facts about the file; findings are
    /// listed in session order, as `analyze` lists them.
    pub fn finish(mut self, t: CaptureTotals) -> CaptureLine<Finding> {
        let index = self.rec.index;
        let mut findings = crate::analysis::capture_findings(self.findings, &t.info);
        for f in &mut findings {
            f.capture = index;
        }
        let r = &mut self.rec;
        let info = t.info;
        r.sha256 = info.sha256;
        r.file_bytes = info.file_bytes;
        r.compression = info.compression.map(String::from);
        r.format = info.format;
        r.link_types = info
            .link_types
            .iter()
            .map(|l| LinkType {
                id: l.id,
                name: l.name.to_string(),
            })
            .collect();
        r.first_ts = info.first_ts;
        r.last_ts = info.last_ts;
        r.stitched = info.stitched.clone();
        r.error = t.error.map(|e| e.to_string());
        r.totals.packets = t.counters;
        r.courses = self.courses.into_vec();
        r.modes = self.modes.into_vec();
        CaptureLine {
            record: self.rec,
            findings,
        }
    }
}
