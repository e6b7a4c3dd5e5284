//! One capture's result in a batch: everything the archive summary is
//! built from (counts, per-host tallies, data-setup histograms), small and
//! mergeable, plus the capture's findings as `analyze` reports them.
//!
//! A record is built while the capture is read, from each session as it
//! ends, so a worker holds the live sessions of one capture and never the
//! finished ones. `merge` reads records back from NDJSON and adds them up
//! exactly as `batch` does.

use super::features;
use super::timeline::{self, At, Bucket, Course, Courses};
use crate::analysis::{CaptureTotals, MAX_FINDINGS};
use crate::ftp::data::Outcome;
use crate::ftp::session::Session;
use crate::rules::{Finding, Severity};
use crate::timestamp::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Data setups with a known outcome that had some value.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, schemars::JsonSchema, Deserialize,
)]
pub struct Tally {
    pub failed: u64,
    pub worked: u64,
}

impl Tally {
    fn add(&mut self, o: &Tally) {
        self.failed += o.failed;
        self.worked += o.worked;
    }
}

/// What one server (or client) did across its sessions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, schemars::JsonSchema, Deserialize)]
pub struct HostStats {
    pub sessions: u64,
    pub setups_worked: u64,
    pub setups_failed: u64,
    pub error_findings: u64,
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
        self.setups_worked += o.setups_worked;
        self.setups_failed += o.setups_failed;
        self.error_findings += o.error_findings;
        self.warning_findings += o.warning_findings;
        for (name, n) in &o.software {
            *self.software.entry(name.clone()).or_default() += n;
        }
    }
}

/// The data setups of one mode (active or passive).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, schemars::JsonSchema, Deserialize)]
pub struct ModeStats {
    pub worked: u64,
    pub failed: u64,
    pub unknown: u64,
    /// Failed setups by how they failed.
    #[schemars(with = "Vec<super::entries::Keyed<super::entries::Count>>")]
    #[serde(with = "super::entries::counts")]
    pub failures: BTreeMap<String, u64>,
    /// Feature → value → outcomes of the setups with a known outcome that
    /// had that value (see `features::features`).
    #[schemars(with = "Vec<super::entries::Keyed<super::entries::nested::ValuesIn<Tally>>>")]
    #[serde(with = "super::entries::nested")]
    pub features: BTreeMap<String, BTreeMap<String, Tally>>,
}

impl ModeStats {
    pub fn add(&mut self, o: &ModeStats) {
        self.worked += o.worked;
        self.failed += o.failed;
        self.unknown += o.unknown;
        for (k, v) in &o.failures {
            *self.failures.entry(k.clone()).or_default() += v;
        }
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
    pub id: u32,
    pub name: String,
}

/// The summary of one input file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, schemars::JsonSchema, Deserialize)]
pub struct CaptureRecord {
    /// Position of the file among all files found (stable across shards);
    /// the findings' `capture` field is this index.
    pub index: usize,
    pub path: String,
    pub sha256: Option<String>,
    pub file_bytes: u64,
    pub compression: Option<String>,
    pub format: String,
    /// As in `analyze`: `{id, name}`.
    pub link_types: Vec<LinkType>,
    pub first_ts: Option<Timestamp>,
    pub last_ts: Option<Timestamp>,
    /// Why the file could not be read, or stopped being read.
    pub error: Option<String>,
    /// When the setups with each feature value worked and failed in this
    /// capture (the first and the last of each).
    #[serde(default)]
    pub courses: Vec<Course>,
    #[serde(flatten)]
    pub totals: Totals,
}

/// What a capture's record and the archive's summary both count, the
/// summary as the sum of the records.
#[derive(Clone, Debug, Default, PartialEq, Serialize, schemars::JsonSchema, Deserialize)]
pub struct Totals {
    /// Where every frame went (frames read before any error).
    pub packets: crate::engine::Counters,
    pub sessions: u64,
    pub findings_by_severity: BTreeMap<Severity, u64>,
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
    /// (227/228/229), with the histograms of every feature.
    #[schemars(with = "Vec<super::entries::Keyed<ModeStats>>")]
    #[serde(with = "super::entries::keyed")]
    pub setups: BTreeMap<String, ModeStats>,
    /// Data setups with a known outcome per mode and hour (UTC) of
    /// their announcement, in (mode, hour) order.
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
    /// With their session's id, to list them in session order.
    findings: Vec<(u32, Finding)>,
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
            *r.totals.findings_by_severity.entry(f.severity).or_default() += 1;
            *r.totals
                .findings_by_rule
                .entry(f.rule.to_string())
                .or_default() += 1;
            match f.severity {
                Severity::Error => host.error_findings += 1,
                Severity::Warning => host.warning_findings += 1,
                Severity::Info => {}
            }
        }
        for d in &s.data_setups {
            let outcome = d.outcome();
            let mode = if d.kind.is_active() {
                "active"
            } else {
                "passive"
            };
            let m = r.totals.setups.entry(mode.to_string()).or_default();
            let tally = match outcome {
                Outcome::Worked => {
                    m.worked += 1;
                    host.setups_worked += 1;
                    Tally {
                        failed: 0,
                        worked: 1,
                    }
                }
                Outcome::Failed(why) => {
                    m.failed += 1;
                    host.setups_failed += 1;
                    *m.failures.entry(why.name().to_string()).or_default() += 1;
                    Tally {
                        failed: 1,
                        worked: 0,
                    }
                }
                Outcome::Unknown => {
                    m.unknown += 1;
                    continue;
                }
            };
            let failed = tally.failed > 0;
            let at = At {
                ts: d.announced_ts,
                capture: r.index,
                frame: d.announced_frame,
            };
            timeline::count(&mut r.totals.series, mode, d.announced_ts, failed);
            for (feature, value) in features::features(s, d) {
                self.courses.note(mode, feature, &value, failed, at);
                m.features
                    .entry(feature.to_string())
                    .or_default()
                    .entry(value)
                    .or_default()
                    .add(&tally);
            }
        }
        r.totals
            .clients
            .entry(s.client.ip().to_string())
            .or_default()
            .add(&host);
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
                r.totals.findings_not_kept += 1;
            }
        }
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
        r.error = t.error.map(|e| e.to_string());
        r.totals.packets = t.counters;
        r.courses = self.courses.into_vec();
        CaptureLine {
            record: self.rec,
            findings,
        }
    }
}
