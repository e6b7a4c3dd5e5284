//! The archive summary: every record added up, in any order, to the same
//! result — so `merge` over shard outputs equals one `batch` run.

use super::patterns::{self, Pattern};
use super::record::{CaptureRecord, Totals};
use super::timeline::{self, Courses};
use crate::rules::Severity;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A file found but not analysed, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema, Deserialize)]
pub struct Skipped {
    pub index: usize,
    pub path: String,
    pub reason: String,
}

/// A capture that could not be read (entirely).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema, Deserialize)]
pub struct CaptureProblem {
    pub index: usize,
    pub path: String,
    pub error: String,
}

/// A capture with error or warning findings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema, Deserialize)]
pub struct CaptureFindings {
    pub index: usize,
    pub path: String,
    pub sessions: u64,
    pub error_findings: u64,
    pub warning_findings: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Summary {
    /// Inputs analysed or attempted (error entries included).
    pub captures: u64,
    pub captures_with_errors: u64,
    /// Files found that are not captures (or the same file twice).
    pub skipped_files: u64,
    /// Bytes of the files as stored.
    pub bytes: u64,
    #[serde(flatten)]
    pub totals: Totals,
    /// Values that explain failed data setups, strongest first.
    pub patterns: Vec<Pattern>,
    /// By index.
    pub capture_errors: Vec<CaptureProblem>,
    /// By index.
    pub captures_with_findings: Vec<CaptureFindings>,
    /// Every record's courses, merged: what the patterns are dated by.
    #[serde(skip)]
    courses: Courses,
    /// Captures by index, to name where a pattern's setups are.
    #[serde(skip)]
    paths: BTreeMap<usize, String>,
}

impl Summary {
    pub fn add(&mut self, r: &CaptureRecord) {
        self.captures += 1;
        for c in &r.courses {
            self.courses.add(c);
        }
        self.paths.insert(r.index, r.path.clone());
        self.bytes += r.file_bytes;
        self.totals.add(&r.totals);
        if let Some(e) = &r.error {
            self.captures_with_errors += 1;
            self.capture_errors.push(CaptureProblem {
                index: r.index,
                path: r.path.clone(),
                error: e.clone(),
            });
        }
        let n = |s| r.totals.findings_by_severity.get(&s).copied().unwrap_or(0);
        if n(Severity::Error) + n(Severity::Warning) > 0 {
            self.captures_with_findings.push(CaptureFindings {
                index: r.index,
                path: r.path.clone(),
                sessions: r.totals.sessions,
                error_findings: n(Severity::Error),
                warning_findings: n(Severity::Warning),
            });
        }
    }

    pub fn add_skipped(&mut self) {
        self.skipped_files += 1;
    }

    /// What this summary has added up, as data another summary can take
    /// in ([`Summary::merge`]): a Spark task's share of an archive, say.
    /// It holds no record, only sums, the per-value courses and the paths
    /// they name, so partial summaries merged in a tree cost the size of
    /// a summary, not of the archive.
    pub fn partial(mut self) -> Partial {
        let courses = std::mem::take(&mut self.courses).into_vec();
        let named: std::collections::BTreeSet<usize> = courses
            .iter()
            .flat_map(|c| c.failed.iter().chain(&c.worked))
            .flat_map(|e| [e.first.capture, e.last.capture])
            .collect();
        self.paths.retain(|i, _| named.contains(i));
        Partial {
            captures: self.captures,
            captures_with_errors: self.captures_with_errors,
            skipped_files: self.skipped_files,
            bytes: self.bytes,
            totals: self.totals,
            capture_errors: self.capture_errors,
            captures_with_findings: self.captures_with_findings,
            courses,
            paths: self.paths,
        }
    }

    /// Takes in a partial summary: adding records to two summaries and
    /// merging them gives what adding them all to one gives.
    pub fn merge(&mut self, p: Partial) {
        self.captures += p.captures;
        self.captures_with_errors += p.captures_with_errors;
        self.skipped_files += p.skipped_files;
        self.bytes += p.bytes;
        self.totals.add(&p.totals);
        self.capture_errors.extend(p.capture_errors);
        self.captures_with_findings.extend(p.captures_with_findings);
        for c in &p.courses {
            self.courses.add(c);
        }
        self.paths.extend(p.paths);
    }

    /// Orders the lists and finds the patterns.
    pub fn finish(&mut self) {
        self.capture_errors.sort_by_key(|c| c.index);
        self.captures_with_findings.sort_by_key(|c| c.index);
        self.patterns = self
            .totals
            .setups
            .iter()
            .flat_map(|(mode, m)| patterns::find(mode, m))
            .collect();
        let path = |i: usize| {
            self.paths.get(&i).map_or_else(
                || format!("capture {i}"),
                |p| crate::escape::escape(p.as_bytes()),
            )
        };
        for p in &mut self.patterns {
            let v = timeline::Valued {
                mode: &p.mode,
                feature: &p.feature,
                value: &p.value,
                failed_with: p.failed_with,
                worked_with: p.worked_with,
            };
            p.since = timeline::since(v, &self.courses, &path);
        }
    }
}

/// A [`Summary`] before [`Summary::finish`], as data (see
/// [`Summary::partial`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Partial {
    captures: u64,
    captures_with_errors: u64,
    skipped_files: u64,
    bytes: u64,
    totals: Totals,
    capture_errors: Vec<CaptureProblem>,
    captures_with_findings: Vec<CaptureFindings>,
    courses: Vec<super::timeline::Course>,
    paths: BTreeMap<usize, String>,
}
