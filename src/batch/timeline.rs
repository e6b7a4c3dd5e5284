//! Since when: when the archive's data setups worked and when they failed,
//! from the captures' own timestamps.
//!
//! Two things are kept, both mergeable (each capture's record holds its
//! own; added up in any order they give the same result, so `merge` over
//! shards equals one `batch`):
//!
//! - per value of each feature (as [`super::features`] describes a setup),
//!   the first and the last setup with it that worked and that failed,
//!   each with its capture, frame and time ([`Course`]);
//! - per mode and hour (UTC), the setups that worked and that failed
//!   ([`Bucket`]): the archive's time course.
//!
//! A pattern's onset is stated only where the archive shows it whole:
//! every setup with the value that worked came before every one that
//! failed. The change then lies between the last success and the first
//! failure, and the archive holds no setup with that value (and a known
//! outcome) between them. Where successes and failures interleave, the
//! report says so and dates nothing.

use super::counting::Kind;
use super::words::thousands;
use crate::timestamp::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One data setup's place in the archive: its time, capture (index) and
/// frame (the command or reply that announced it).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
pub struct At {
    /// The setup's time, by the capture's clock.
    pub ts: Timestamp,
    /// The capture's index (as the batch numbers its files).
    pub capture: usize,
    /// The frame of the command or reply that set it up.
    pub frame: u64,
}

/// The first and the last of some setups.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Extent {
    pub first: At,
    pub last: At,
}

impl Extent {
    /// Widens `e` to take in `o`.
    fn widen(e: &mut Option<Extent>, o: Extent) {
        match e {
            None => *e = Some(o),
            Some(x) => {
                x.first = x.first.min(o.first);
                x.last = x.last.max(o.last);
            }
        }
    }
}

/// When the setups with one value of one feature failed and worked.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Course {
    /// `active` or `passive`.
    pub mode: String,
    /// What the value is of (`port_lo`, `server`, `hour`…: as in the patterns).
    pub feature: String,
    /// The value, as the bytes on the wire where it is one (`22_` is a value of
    /// its own).
    pub value: String,
    /// The first and the last failed setup with the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<Extent>,
    /// The first and the last working setup with the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worked: Option<Extent>,
}

/// Courses by (mode, feature, value): what a record gathers and the
/// summary merges.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Courses(BTreeMap<ValueKey, (Option<Extent>, Option<Extent>)>);

/// (mode, feature, value).
type ValueKey = (String, String, String);

/// Per mode (active, passive): (failures, worked): failures are failed
/// transfers and refused commands.
pub type ByMode = [(u64, u64); 2];

impl Courses {
    /// Notes one setup.
    pub fn note(&mut self, mode: &str, feature: &str, value: &str, failed: bool, at: At) {
        let e = self
            .0
            .entry((mode.to_string(), feature.to_string(), value.to_string()))
            .or_default();
        let one = Extent {
            first: at,
            last: at,
        };
        Extent::widen(if failed { &mut e.0 } else { &mut e.1 }, one);
    }

    /// Takes in another capture's courses.
    pub fn add(&mut self, c: &Course) {
        let e = self
            .0
            .entry((c.mode.clone(), c.feature.clone(), c.value.clone()))
            .or_default();
        for (mine, theirs) in [(&mut e.0, c.failed), (&mut e.1, c.worked)] {
            if let Some(t) = theirs {
                Extent::widen(mine, t);
            }
        }
    }

    pub fn into_vec(self) -> Vec<Course> {
        self.0
            .into_iter()
            .map(|((mode, feature, value), (failed, worked))| Course {
                mode,
                feature,
                value,
                failed,
                worked,
            })
            .collect()
    }

    fn get(&self, mode: &str, feature: &str, value: &str) -> (Option<Extent>, Option<Extent>) {
        self.0
            .get(&(mode.to_string(), feature.to_string(), value.to_string()))
            .copied()
            .unwrap_or_default()
    }
}

/// The transfers and refused commands of one mode announced in one hour
/// (UTC).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Bucket {
    /// `active` or `passive`.
    pub mode: String,
    /// The hour's start.
    pub hour: Timestamp,
    /// Failed transfers of this mode in this hour.
    pub failed: u64,
    /// Refused commands of this mode in this hour.
    #[serde(default)]
    pub refused: u64,
    /// Transfers of this mode in this hour that worked.
    pub worked: u64,
}

impl Bucket {
    fn add(&mut self, kind: Kind, n: u64) {
        match kind {
            Kind::Failed => self.failed += n,
            Kind::Refused => self.refused += n,
            Kind::Worked => self.worked += n,
        }
    }
}

const HOUR_NS: i64 = 3600 * Timestamp::NANOS_PER_SEC;

/// Counts one transfer or refused command into a series kept in (mode,
/// hour) order.
pub fn count(series: &mut Vec<Bucket>, mode: &str, ts: Timestamp, kind: Kind) {
    let hour = Timestamp(ts.0.div_euclid(HOUR_NS) * HOUR_NS);
    let at = series.partition_point(|b| (b.mode.as_str(), b.hour) < (mode, hour));
    if series
        .get(at)
        .is_none_or(|b| (b.mode.as_str(), b.hour) != (mode, hour))
    {
        series.insert(
            at,
            Bucket {
                mode: mode.to_string(),
                hour,
                failed: 0,
                refused: 0,
                worked: 0,
            },
        );
    }
    series[at].add(kind, 1);
}

/// Adds another series into `into` (both in (mode, hour) order).
pub fn add_series(into: &mut Vec<Bucket>, from: &[Bucket]) {
    let mut merged: BTreeMap<(String, Timestamp), Bucket> = into
        .drain(..)
        .map(|b| ((b.mode.clone(), b.hour), b))
        .collect();
    for b in from {
        let e = merged
            .entry((b.mode.clone(), b.hour))
            .or_insert_with(|| Bucket {
                mode: b.mode.clone(),
                hour: b.hour,
                failed: 0,
                refused: 0,
                worked: 0,
            });
        e.add(Kind::Failed, b.failed);
        e.add(Kind::Refused, b.refused);
        e.add(Kind::Worked, b.worked);
    }
    into.extend(merged.into_values());
}

/// When a pattern's failures happened, and since when the value fails.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Since {
    /// The first failed setup with the value.
    pub first_failure: At,
    /// The last failed setup with the value.
    pub last_failure: At,
    /// The first working setup with the value, if any.
    pub first_success: Option<At>,
    /// The last working setup with the value, if any.
    pub last_success: Option<At>,
    /// Set when every success with the value came before every failure:
    /// the change lies between `last_success` and `first_failure`.
    pub onset: Option<Onset>,
    /// Set when every failure came before every success: it stopped
    /// failing between `last_failure` and `first_success`.
    pub recovered: bool,
    /// The dating in a sentence, as the reports print it.
    pub statement: String,
}

/// A change the archive shows whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Onset {
    /// Setups with the value that worked, all before the first failure.
    pub worked_before: u64,
    /// Setups with the value that failed, all from the first failure on.
    pub failed_from: u64,
}

/// A pattern's value: (mode, feature, value), and the setups with it
/// that failed and that worked.
pub struct Valued<'a> {
    pub mode: &'a str,
    pub feature: &'a str,
    pub value: &'a str,
    pub failed_with: u64,
    pub worked_with: u64,
    /// What its failures were: "transfers", or "transfers and commands"
    /// where some were refused commands.
    pub noun: &'a str,
}

/// The time course of a pattern's value; `path` names a capture by index.
pub fn since(p: Valued<'_>, courses: &Courses, path: &dyn Fn(usize) -> String) -> Option<Since> {
    let (failed, worked) = courses.get(p.mode, p.feature, p.value);
    let f = failed?;
    let thing = format!(
        "{} {} with {}",
        p.mode,
        p.noun,
        super::words::value(p.feature, p.value)
    );
    let place = |a: At| format!("{} in {} frame {}", a.ts, path(a.capture), a.frame);
    let (onset, recovered, statement) = match worked {
        None => (
            None,
            false,
            format!(
                "every one of the {} {thing} failed, the first at {} and the last at {}: the archive has no working one to date an onset by",
                thousands(p.failed_with),
                place(f.first),
                place(f.last)
            ),
        ),
        Some(w) if w.last < f.first => (
            Some(Onset {
                worked_before: p.worked_with,
                failed_from: p.failed_with,
            }),
            false,
            format!(
                "since {}: before it none of the {thing} failed ({} worked, the last at {}); from it on all {} failed, the first at {}. The change lies between the two: the archive holds none of them in between",
                f.first.ts,
                thousands(p.worked_with),
                place(w.last),
                thousands(p.failed_with),
                place(f.first)
            ),
        ),
        Some(w) if f.last < w.first => (
            None,
            true,
            format!(
                "all {} {thing} failed until {}, and all {} worked from {} on: the failures stopped between the two",
                thousands(p.failed_with),
                place(f.last),
                thousands(p.worked_with),
                place(w.first)
            ),
        ),
        Some(w) => (
            None,
            false,
            format!(
                "{thing} failed from {} to {} and worked from {} to {}: the two interleave, so the archive shows no single onset",
                place(f.first),
                place(f.last),
                place(w.first),
                place(w.last)
            ),
        ),
    };
    Some(Since {
        first_failure: f.first,
        last_failure: f.last,
        first_success: worked.map(|w| w.first),
        last_success: worked.map(|w| w.last),
        onset,
        recovered,
        statement,
    })
}

/// The series for a table or a chart: by hour, or by day (UTC) when it
/// spans more than two days; (start, failed, worked) per mode, every
/// period from the first to the last one with setups (empty ones too).
pub fn periods(series: &[Bucket]) -> (bool, Vec<(Timestamp, ByMode)>) {
    let (Some(lo), Some(hi)) = (
        series.iter().map(|b| b.hour).min(),
        series.iter().map(|b| b.hour).max(),
    ) else {
        return (false, Vec::new());
    };
    let daily = hi - lo > 48 * HOUR_NS;
    let step = if daily { 24 * HOUR_NS } else { HOUR_NS };
    let start = Timestamp(lo.0.div_euclid(step) * step);
    let n = usize::try_from((hi - start) / step).unwrap_or(0) + 1;
    // A series spanning years by mistake (a bad clock) stays drawable.
    let n = n.min(10_000);
    let mut out: Vec<(Timestamp, ByMode)> = (0..n)
        .map(|i| (start + step * i as i64, [(0, 0); 2]))
        .collect();
    for b in series {
        let i = usize::try_from((b.hour - start) / step).unwrap_or(usize::MAX);
        if let Some(slot) = out.get_mut(i) {
            let m = usize::from(b.mode != "active");
            slot.1[m].0 += b.failed + b.refused;
            slot.1[m].1 += b.worked;
        }
    }
    (daily, out)
}

/// Working transfers a capture's record keeps one by one before its first
/// failure (the latest of them): past that, a failure that arrives late
/// (sessions end out of order) may leave the count unsettled.
const KEPT: usize = 1024;

/// When one mode's failures began, as one capture saw it: what dates the
/// archive's failures overall, with no feature needed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ModeCourse {
    /// `active`, `passive`, or `any` (both modes together).
    pub mode: String,
    /// Failures: failed transfers and refused commands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<Extent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worked: Option<Extent>,
    /// Failures (failed transfers and refused commands) in this capture.
    pub failed_count: u64,
    /// Working transfers in this capture.
    pub worked_count: u64,
    /// Working transfers before this capture's first failure (all of them
    /// where it has none), and the last of them.
    pub worked_before: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_worked_before: Option<At>,
    /// The capture's own order left `worked_before` unknown.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unsettled: bool,
}

/// A [`ModeCourse`] while its capture is read.
#[derive(Clone, Debug, Default)]
struct ModeCourseBuilder {
    c: ModeCourse,
    /// The latest working transfers before the first failure so far, in
    /// order, and the latest one let go from that list.
    kept: Vec<At>,
    dropped: Option<At>,
}

impl ModeCourseBuilder {
    fn note(&mut self, kind: Kind, at: At) {
        let one = Extent {
            first: at,
            last: at,
        };
        let first_failure = self.c.failed.map(|f| f.first);
        if kind.is_failure() {
            Extent::widen(&mut self.c.failed, one);
            self.c.failed_count += 1;
            if first_failure.is_none_or(|f| at < f) {
                // Those at or after it did not come before the first
                // failure after all.
                let keep = self.kept.partition_point(|k| *k < at);
                self.c.worked_before -= (self.kept.len() - keep) as u64;
                self.kept.truncate(keep);
                if self.dropped.is_some_and(|d| d >= at) {
                    self.c.unsettled = true;
                }
            }
            return;
        }
        Extent::widen(&mut self.c.worked, one);
        self.c.worked_count += 1;
        if first_failure.is_none_or(|f| at < f) {
            self.c.worked_before += 1;
            let i = self.kept.partition_point(|k| *k < at);
            self.kept.insert(i, at);
            if self.kept.len() > KEPT {
                let d = self.kept.remove(0);
                self.dropped = self.dropped.max(Some(d));
            }
        }
    }

    fn finish(mut self) -> ModeCourse {
        if !self.c.unsettled {
            self.c.last_worked_before = self.kept.last().copied().or(self.dropped);
        }
        self.c
    }
}

/// A capture's [`ModeCourse`]s while it is read.
#[derive(Clone, Debug, Default)]
pub struct ModeCourses(BTreeMap<&'static str, ModeCourseBuilder>);

impl ModeCourses {
    /// Notes one transfer or refused command of `mode`, and of `any`.
    pub fn note(&mut self, mode: &'static str, kind: Kind, at: At) {
        for m in [mode, "any"] {
            let b = self.0.entry(m).or_default();
            b.c.mode = m.to_string();
            b.note(kind, at);
        }
    }

    pub fn into_vec(self) -> Vec<ModeCourse> {
        self.0
            .into_values()
            .map(ModeCourseBuilder::finish)
            .collect()
    }
}

/// Since when a mode's transfers fail, from every capture's record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct FailureOnset {
    /// `active`, `passive`, or `any` (both modes together).
    pub mode: String,
    /// Failed transfers and refused commands.
    pub failures: u64,
    pub first_failure: At,
    pub last_failure: At,
    /// Working transfers in all.
    pub worked: u64,
    /// Working transfers before the first failure, and the last of them;
    /// `None` where the records cannot settle it (see `overlapping`).
    pub worked_before: Option<u64>,
    pub last_worked_before: Option<At>,
    /// Captures (by index), other than the first failure's, whose working
    /// transfers lie on both sides of the first failure: the records do
    /// not say which of them came last before it.
    pub overlapping: Vec<usize>,
    /// The onset in a sentence, as the reports print it.
    pub statement: String,
}

/// Since when each mode's (and both modes') transfers fail, from the
/// records' [`ModeCourse`]s; `path` names a capture by index.
pub fn failure_onsets(courses: &[ModeCourse], path: &dyn Fn(usize) -> String) -> Vec<FailureOnset> {
    let mut by_mode: BTreeMap<&str, Vec<&ModeCourse>> = BTreeMap::new();
    for c in courses {
        by_mode.entry(c.mode.as_str()).or_default().push(c);
    }
    let mut out = Vec::new();
    // Each mode, then both together where there are both.
    let both = by_mode.contains_key("active") && by_mode.contains_key("passive");
    for mode in ["active", "passive", "any"] {
        let Some(cs) = by_mode.get(mode) else {
            continue;
        };
        if mode == "any" && !both {
            continue;
        }
        if let Some(o) = onset(mode, cs, path) {
            out.push(o);
        }
    }
    out
}

fn onset(mode: &str, cs: &[&ModeCourse], path: &dyn Fn(usize) -> String) -> Option<FailureOnset> {
    let first = cs.iter().filter_map(|c| c.failed.map(|f| f.first)).min()?;
    let last = cs.iter().filter_map(|c| c.failed.map(|f| f.last)).max()?;
    let worked: u64 = cs.iter().map(|c| c.worked_count).sum();
    let (mut before, mut last_before, mut settled) = (0u64, None::<At>, true);
    let mut overlapping = Vec::new();
    for c in cs {
        let Some(w) = c.worked else { continue };
        if c.failed.is_some_and(|f| f.first == first) {
            // The first failure's own capture knows what came before it.
            if c.unsettled {
                settled = false;
            } else {
                before += c.worked_before;
                last_before = last_before.max(c.last_worked_before);
            }
        } else if w.last < first {
            before += c.worked_count;
            last_before = last_before.max(Some(w.last));
        } else if w.first < first {
            overlapping.push(w.first.capture);
            settled = false;
            last_before = last_before.max(Some(w.first));
        }
    }
    overlapping.sort_unstable();
    overlapping.dedup();
    let mut o = FailureOnset {
        mode: mode.to_string(),
        failures: cs.iter().map(|c| c.failed_count).sum(),
        first_failure: first,
        last_failure: last,
        worked,
        worked_before: settled.then_some(before),
        last_worked_before: last_before,
        overlapping,
        statement: String::new(),
    };
    o.statement = onset_statement(&o, path);
    Some(o)
}

/// The sentence of a [`FailureOnset`]: the first failure and what
/// bounds it; never "fails since" where transfers went on working.
fn onset_statement(o: &FailureOnset, path: &dyn Fn(usize) -> String) -> String {
    let place = |a: At| format!("{} in {} frame {}", a.ts, path(a.capture), a.frame);
    let (what, of) = match o.mode.as_str() {
        "any" => ("transfers (both modes)".to_string(), String::new()),
        m => (format!("{m} transfers"), format!("{m} ")),
    };
    let first = place(o.first_failure);
    if o.worked == 0 {
        return format!(
            "no {what} worked: {} failed or were refused, the first at {first}, the last at {}; no working one to date an onset by",
            thousands(o.failures),
            place(o.last_failure)
        );
    }
    let rest = |after: u64| {
        let more = o.failures - 1;
        match (more, after) {
            (0, _) => format!(
                "it is the only failure; {} worked after it",
                thousands(after)
            ),
            (_, 0) => format!(
                "from it on every one failed: {} failures, the last at {}",
                thousands(o.failures),
                place(o.last_failure)
            ),
            (_, _) => format!(
                "after it, {} more {} (the last at {}) and {} working",
                thousands(more),
                if more == 1 { "failure" } else { "failures" },
                place(o.last_failure),
                thousands(after)
            ),
        }
    };
    match (o.worked_before, o.last_worked_before) {
        (Some(0), _) | (Some(_), None) => format!(
            "{what}: the first failure, at {first}, came before any working one, so the archive holds nothing earlier to date an onset by; {}",
            rest(o.worked)
        ),
        (Some(n), Some(lw)) => format!(
            "{what}: the first failure is at {first}; before it {} worked and none failed, the last at {}{}; in between, the archive holds neither a working {of}transfer nor a failure; {}",
            thousands(n),
            place(lw),
            if o.failures > 1 {
                ": the failures began between the two"
            } else {
                ""
            },
            rest(o.worked - n)
        ),
        (None, lw) => {
            let names: Vec<String> = o.overlapping.iter().map(|&i| path(i)).collect();
            let seen = lw.map_or_else(String::new, |lw| {
                format!(" (at least one worked before it, at {})", place(lw))
            });
            let why = match names.len() {
                0 => format!(
                    "its capture holds more than {KEPT} working transfers before it in an order its record could not settle"
                ),
                1 => format!("{} holds working transfers on both sides of it", names[0]),
                _ => format!(
                    "{} hold working transfers on both sides of it",
                    names.join(", ")
                ),
            };
            format!(
                "{what}: the first failure is at {first}{seen}, but {why}, so the records do not bound the change exactly; {} failures in all, the last at {}",
                thousands(o.failures),
                place(o.last_failure)
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64, capture: usize, frame: u64) -> At {
        At {
            ts: Timestamp::from_parts(secs, 0),
            capture,
            frame,
        }
    }

    #[test]
    fn courses_and_series_merge_in_any_order() {
        let mut a = Courses::default();
        a.note("active", "port_low_byte", "227", false, at(100, 0, 5));
        a.note("active", "port_low_byte", "227", true, at(200, 0, 9));
        let mut b = Courses::default();
        b.note("active", "port_low_byte", "227", true, at(150, 1, 3));
        let (mut ab, mut ba) = (Courses::default(), Courses::default());
        for c in a.clone().into_vec().iter().chain(&b.clone().into_vec()) {
            ab.add(c);
        }
        for c in b.into_vec().iter().chain(&a.into_vec()) {
            ba.add(c);
        }
        assert_eq!(ab, ba);
        let (f, w) = ab.get("active", "port_low_byte", "227");
        assert_eq!(f.unwrap().first, at(150, 1, 3));
        assert_eq!(f.unwrap().last, at(200, 0, 9));
        assert_eq!(w.unwrap().last, at(100, 0, 5));

        let mut s1 = Vec::new();
        count(
            &mut s1,
            "active",
            Timestamp::from_parts(3600 * 5 + 7, 0),
            Kind::Failed,
        );
        count(
            &mut s1,
            "passive",
            Timestamp::from_parts(10, 0),
            Kind::Worked,
        );
        count(
            &mut s1,
            "active",
            Timestamp::from_parts(3600 * 5 + 9, 0),
            Kind::Worked,
        );
        let mut s2 = Vec::new();
        count(
            &mut s2,
            "active",
            Timestamp::from_parts(3600 * 5, 0),
            Kind::Refused,
        );
        let (mut x, mut y) = (s1.clone(), s2.clone());
        add_series(&mut x, &s2);
        add_series(&mut y, &s1);
        assert_eq!(x, y);
        assert_eq!((x[0].failed, x[0].refused, x[0].worked), (1, 1, 1));
        let (daily, p) = periods(&x);
        assert!(!daily);
        assert_eq!(p.len(), 6);
        assert_eq!(p[5].1[0], (2, 1));
        assert_eq!(p[0].1[1], (0, 1));
    }

    #[test]
    fn a_late_failure_moves_what_came_before_it() {
        // Sessions end out of order: a failure at 50 arrives after
        // successes at 10, 40 and 60.
        let mut m = ModeCourses::default();
        for (secs, kind) in [
            (10, Kind::Worked),
            (60, Kind::Worked),
            (40, Kind::Worked),
            (70, Kind::Failed),
            (50, Kind::Refused),
            (80, Kind::Worked),
        ] {
            m.note("active", kind, at(secs, 0, secs as u64));
        }
        let v = m.into_vec();
        let active = v.iter().find(|c| c.mode == "active").unwrap();
        assert_eq!(active.worked_before, 2);
        assert_eq!(active.last_worked_before, Some(at(40, 0, 40)));
        assert_eq!(active.failed_count, 2);
        assert!(!active.unsettled);
        // `any` holds the same for one mode.
        assert_eq!(v.iter().find(|c| c.mode == "any").unwrap().worked_before, 2);
    }

    #[test]
    fn failures_are_dated_across_captures_in_any_order() {
        // Capture 0: works at 10 and 20; capture 1: works at 30, fails at
        // 40 and 50, works at 60; capture 2: works at 70.
        let course = |c: usize, events: &[(i64, Kind)]| {
            let mut m = ModeCourses::default();
            for &(secs, kind) in events {
                m.note("active", kind, at(secs, c, secs as u64));
            }
            m.into_vec()
        };
        let all = [
            course(0, &[(10, Kind::Worked), (20, Kind::Worked)]),
            course(
                1,
                &[
                    (30, Kind::Worked),
                    (40, Kind::Failed),
                    (50, Kind::Failed),
                    (60, Kind::Worked),
                ],
            ),
            course(2, &[(70, Kind::Worked)]),
        ];
        let path = |i: usize| format!("c{i}.pcap");
        let forward: Vec<ModeCourse> = all.iter().flatten().cloned().collect();
        let backward: Vec<ModeCourse> = all.iter().rev().flatten().cloned().collect();
        let a = failure_onsets(&forward, &path);
        assert_eq!(a, failure_onsets(&backward, &path));
        let o = &a[0];
        assert_eq!((o.failures, o.worked, o.worked_before), (2, 5, Some(3)));
        assert_eq!(o.last_worked_before, Some(at(30, 1, 30)));
        assert!(
            o.statement.contains("the failures began between the two")
                && o.statement.contains("after it, 1 more failure"),
            "{}",
            o.statement
        );
        // A capture whose working transfers straddle the first failure
        // leaves the bound open, and says so.
        let mut overlap = forward.clone();
        overlap.extend(course(3, &[(35, Kind::Worked), (45, Kind::Worked)]));
        let o = &failure_onsets(&overlap, &path)[0];
        assert_eq!(o.worked_before, None);
        assert_eq!(o.overlapping, vec![3]);
        assert!(
            o.statement
                .contains("c3.pcap holds working transfers on both sides")
        );
    }
}
