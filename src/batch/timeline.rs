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

use super::words::{label, thousands};
use crate::timestamp::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One data setup's place in the archive: its time, capture (index) and
/// frame (the command or reply that announced it).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
pub struct At {
    pub ts: Timestamp,
    pub capture: usize,
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
    pub mode: String,
    pub feature: String,
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<Extent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worked: Option<Extent>,
}

/// Courses by (mode, feature, value): what a record gathers and the
/// summary merges.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Courses(BTreeMap<ValueKey, (Option<Extent>, Option<Extent>)>);

/// (mode, feature, value).
type ValueKey = (String, String, String);

/// Per mode (active, passive): (failed, worked).
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

/// The setups of one mode announced in one hour (UTC).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Bucket {
    pub mode: String,
    /// The hour's start.
    pub hour: Timestamp,
    pub failed: u64,
    pub worked: u64,
}

const HOUR_NS: i64 = 3600 * Timestamp::NANOS_PER_SEC;

/// Counts one setup into a series kept in (mode, hour) order.
pub fn count(series: &mut Vec<Bucket>, mode: &str, ts: Timestamp, failed: bool) {
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
                worked: 0,
            },
        );
    }
    let b = &mut series[at];
    if failed {
        b.failed += 1;
    } else {
        b.worked += 1;
    }
}

/// Adds another series into `into` (both in (mode, hour) order).
pub fn add_series(into: &mut Vec<Bucket>, from: &[Bucket]) {
    let mut merged: BTreeMap<(String, Timestamp), (u64, u64)> = into
        .drain(..)
        .map(|b| ((b.mode, b.hour), (b.failed, b.worked)))
        .collect();
    for b in from {
        let e = merged.entry((b.mode.clone(), b.hour)).or_default();
        e.0 += b.failed;
        e.1 += b.worked;
    }
    into.extend(
        merged
            .into_iter()
            .map(|((mode, hour), (failed, worked))| Bucket {
                mode,
                hour,
                failed,
                worked,
            }),
    );
}

/// When a pattern's failures happened, and since when the value fails.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Since {
    pub first_failure: At,
    pub last_failure: At,
    pub first_success: Option<At>,
    pub last_success: Option<At>,
    /// Set when every success with the value came before every failure:
    /// the change lies between `last_success` and `first_failure`.
    pub onset: Option<Onset>,
    /// Set when every failure came before every success: it stopped
    /// failing between `last_failure` and `first_success`.
    pub recovered: bool,
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
}

/// The time course of a pattern's value; `path` names a capture by index.
pub fn since(p: Valued<'_>, courses: &Courses, path: &dyn Fn(usize) -> String) -> Option<Since> {
    let (failed, worked) = courses.get(p.mode, p.feature, p.value);
    let f = failed?;
    let thing = format!("{} transfers with {} {}", p.mode, label(p.feature), p.value);
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
            slot.1[m].0 += b.failed;
            slot.1[m].1 += b.worked;
        }
    }
    (daily, out)
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
            true,
        );
        count(&mut s1, "passive", Timestamp::from_parts(10, 0), false);
        count(
            &mut s1,
            "active",
            Timestamp::from_parts(3600 * 5 + 9, 0),
            false,
        );
        let mut s2 = Vec::new();
        count(&mut s2, "active", Timestamp::from_parts(3600 * 5, 0), true);
        let (mut x, mut y) = (s1.clone(), s2.clone());
        add_series(&mut x, &s2);
        add_series(&mut y, &s1);
        assert_eq!(x, y);
        assert_eq!((x[0].failed, x[0].worked), (2, 1));
        let (daily, p) = periods(&x);
        assert!(!daily);
        assert_eq!(p.len(), 6);
        assert_eq!(p[5].1[0], (2, 1));
        assert_eq!(p[0].1[1], (0, 1));
    }
}
