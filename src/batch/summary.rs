//! The archive summary: every record added up, in any order, to the same
//! result — so `merge` over shard outputs equals one `batch` run.

use super::patterns::{self, NoPattern, Pattern};
use super::record::{CaptureRecord, Totals};
use super::timeline::{self, Courses, FailureOnset, ModeCourse};
use crate::rules::Severity;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A file found but not analysed, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema, Deserialize)]
pub struct Skipped {
    /// Its place among all files found (the same numbering as the captures).
    pub index: usize,
    /// The file's path as found.
    pub path: String,
    /// Why it was not read (not a capture, the same file twice, a FIFO, socket
    /// or device, unreadable).
    pub reason: String,
}

/// A capture that could not be read (entirely).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema, Deserialize)]
pub struct CaptureProblem {
    /// The capture's index.
    pub index: usize,
    /// The capture's path.
    pub path: String,
    /// What stopped the reading, with the byte offset.
    pub error: String,
}

/// A capture with error or warning findings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema, Deserialize)]
pub struct CaptureFindings {
    /// The capture's index.
    pub index: usize,
    /// The capture's path.
    pub path: String,
    /// FTP sessions in it.
    pub sessions: u64,
    /// Its error findings.
    pub error_findings: u64,
    /// Its warning findings.
    pub warning_findings: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Summary {
    /// Inputs analysed or attempted (error entries included).
    pub captures: u64,
    /// Captures that could not be read, or not to their end (a read
    /// error: see `capture_errors`). Not findings: those are counted in
    /// `findings_by_severity`. Called `captures_with_errors` before
    /// schema version 3.
    pub captures_with_read_errors: u64,
    /// Files found that are not captures (or the same file twice).
    pub skipped_files: u64,
    /// Bytes of the files as stored.
    pub bytes: u64,
    #[serde(flatten)]
    pub totals: Totals,
    /// Values that explain failures (failed transfers and refused
    /// commands), strongest first.
    pub patterns: Vec<Pattern>,
    /// Modes with failures that no value explains, and why.
    pub no_pattern: Vec<NoPattern>,
    /// Values tried (feature × value, every tested mode): the number of
    /// hypotheses of the patterns' correction.
    pub hypotheses: u64,
    /// Since when each mode's transfers fail (and both modes'), whatever
    /// explains it.
    pub failures_since: Vec<FailureOnset>,
    /// By index.
    pub capture_errors: Vec<CaptureProblem>,
    /// By index.
    pub captures_with_findings: Vec<CaptureFindings>,
    /// Every record's courses, merged: what the patterns are dated by.
    #[serde(skip)]
    courses: Courses,
    /// Every record's mode courses: what the failures are dated by.
    #[serde(skip)]
    modes: Vec<ModeCourse>,
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
        self.modes.extend(r.modes.iter().cloned());
        self.paths.insert(r.index, r.path.clone());
        self.bytes += r.file_bytes;
        self.totals.add(&r.totals);
        if let Some(e) = &r.error {
            self.captures_with_read_errors += 1;
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
        let modes = std::mem::take(&mut self.modes);
        // The captures a statement may name: the patterns' and the
        // failures' bounds, and where each refusal was first seen.
        let named: std::collections::BTreeSet<usize> = courses
            .iter()
            .flat_map(|c| c.failed.iter().chain(&c.worked))
            .chain(modes.iter().flat_map(|c| c.failed.iter().chain(&c.worked)))
            .flat_map(|e| [e.first.capture, e.last.capture])
            .chain(
                modes
                    .iter()
                    .filter_map(|c| c.last_worked_before.map(|a| a.capture)),
            )
            .chain(
                self.totals
                    .setups
                    .values()
                    .flat_map(|m| m.refusals.values().map(|r| r.first.capture)),
            )
            .collect();
        self.paths.retain(|i, _| named.contains(i));
        Partial {
            captures: self.captures,
            captures_with_read_errors: self.captures_with_read_errors,
            skipped_files: self.skipped_files,
            bytes: self.bytes,
            totals: self.totals,
            capture_errors: self.capture_errors,
            captures_with_findings: self.captures_with_findings,
            courses,
            modes,
            paths: self.paths,
        }
    }

    /// Takes in a partial summary: adding records to two summaries and
    /// merging them gives what adding them all to one gives.
    pub fn merge(&mut self, p: Partial) {
        self.captures += p.captures;
        self.captures_with_read_errors += p.captures_with_read_errors;
        self.skipped_files += p.skipped_files;
        self.bytes += p.bytes;
        self.totals.add(&p.totals);
        self.capture_errors.extend(p.capture_errors);
        self.captures_with_findings.extend(p.captures_with_findings);
        for c in &p.courses {
            self.courses.add(c);
        }
        self.modes.extend(p.modes);
        self.paths.extend(p.paths);
    }

    /// A capture's path (escaped) by its index, or "capture N" where the
    /// summary has not seen it.
    pub fn path_of(&self, i: usize) -> String {
        path_in(&self.paths, i)
    }

    /// Orders the lists, finds the patterns and dates the failures.
    pub fn finish(&mut self) {
        self.capture_errors.sort_by_key(|c| c.index);
        self.captures_with_findings.sort_by_key(|c| c.index);
        let search = patterns::find(&self.totals.setups);
        self.patterns = search.patterns;
        self.no_pattern = search.no_pattern;
        self.hypotheses = search.hypotheses;
        let paths = &self.paths;
        let path = |i: usize| path_in(paths, i);
        for p in &mut self.patterns {
            let v = timeline::Valued {
                mode: &p.mode,
                feature: &p.feature,
                value: &p.value,
                failed_with: p.failed_with,
                worked_with: p.worked_with,
                noun: if p.refused_with > 0 {
                    "transfers and commands"
                } else {
                    "transfers"
                },
            };
            p.since = timeline::since(v, &self.courses, &path);
        }
        self.failures_since = timeline::failure_onsets(&self.modes, &path);
    }
}

/// A capture's path (escaped) by its index in `paths`.
fn path_in(paths: &BTreeMap<usize, String>, i: usize) -> String {
    paths.get(&i).map_or_else(
        || format!("capture {i}"),
        |p| crate::escape::escape(p.as_bytes()),
    )
}

/// A [`Summary`] before [`Summary::finish`], as data (see
/// [`Summary::partial`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Partial {
    captures: u64,
    captures_with_read_errors: u64,
    skipped_files: u64,
    bytes: u64,
    totals: Totals,
    capture_errors: Vec<CaptureProblem>,
    captures_with_findings: Vec<CaptureFindings>,
    courses: Vec<super::timeline::Course>,
    /// Every record's mode courses (one to three per capture: what the
    /// failures' onsets need, exactly, in any order of merging).
    modes: Vec<ModeCourse>,
    paths: BTreeMap<usize, String>,
}
