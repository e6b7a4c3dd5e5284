//! What a report lists of an analysis: `--session`, `--findings-only` and
//! `--min-severity`. The analysis, the summary and the exit code are
//! whole; only the listing is trimmed, and the header's options say so,
//! so that no reader takes a trimmed report for the whole story.

use crate::rules::{Finding, Severity};
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default)]
pub struct Trim {
    /// Session ids (`s1`…) to list; empty for all.
    pub sessions: Vec<String>,
    /// Only sessions (and, in documents that allow it, captures) with a
    /// finding that is listed.
    pub findings_only: bool,
    pub min_severity: Option<Severity>,
}

impl Trim {
    /// A session id as the user may give it: `s3` or `3`.
    pub fn session_id(arg: &str) -> Result<String, String> {
        let n = arg.strip_prefix('s').unwrap_or(arg);
        match n.parse::<u32>() {
            Ok(n) if n > 0 => Ok(format!("s{n}")),
            _ => Err(format!("not a session id: {arg:?} (give s1, s2… or 1, 2…)")),
        }
    }

    pub fn is_off(&self) -> bool {
        self.sessions.is_empty() && !self.findings_only && self.min_severity.is_none()
    }

    /// Whether a finding is listed.
    pub fn finding(&self, f: &Finding) -> bool {
        self.min_severity.is_none_or(|m| f.severity >= m)
            && (self.sessions.is_empty() || self.sessions.contains(&f.session))
    }

    /// Whether session `id`, with these findings (its own, or more:
    /// others are ignored), is listed.
    pub fn session<'a>(&self, id: &str, findings: impl IntoIterator<Item = &'a Finding>) -> bool {
        (self.sessions.is_empty() || self.sessions.iter().any(|s| s == id))
            && (!self.findings_only
                || findings
                    .into_iter()
                    .any(|f| f.session == id && self.finding(f)))
    }

    /// Trims one capture's listing: its findings, and its sessions.
    pub fn apply(&self, r: &mut crate::analysis::CaptureResult) {
        if self.is_off() {
            return;
        }
        let all = &r.findings;
        let before = r.sessions.len();
        r.sessions.retain(|s| self.session(&s.name(), all));
        r.not_listed.sessions += (before - r.sessions.len()) as u64;
        let hidden = &mut r.not_listed;
        r.findings.retain(|f| {
            let keep = self.finding(f);
            if !keep {
                hidden.count(f);
            }
            keep
        });
    }

    /// Whether a finding of a comparison is listed: `--session` names
    /// its session at either tap.
    fn compared_finding(&self, f: &Finding) -> bool {
        self.min_severity.is_none_or(|m| f.severity >= m)
            && (self.sessions.is_empty()
                || self.sessions.contains(&f.session)
                || f.other
                    .as_ref()
                    .is_some_and(|o| self.sessions.contains(&o.session)))
    }

    /// Trims `compare`'s listing: its findings; the session pairs and the
    /// sessions `--session` names at either tap (every capture's `s3`, as
    /// in `analyze`), and with `-q` only those a listed finding is about.
    /// What is left out is counted on its capture; the summary and the
    /// exit code stay those of the whole comparison.
    pub fn apply_compare(&self, r: &mut crate::report::model::CompareReport<'_>) {
        if self.is_off() {
            return;
        }
        let (listed, hidden): (Vec<&Finding>, Vec<&Finding>) = r
            .findings
            .iter()
            .copied()
            .partition(|f| self.compared_finding(f));
        for f in hidden {
            match r.captures.get_mut(f.capture) {
                Some(c) if f.other.is_none() => c.not_listed.count(f),
                _ => r.differences_not_listed.count(f),
            }
        }
        // Whether session `id` of capture `ci` is listed.
        let keep = |ci: usize, id: &str| {
            (self.sessions.is_empty() || self.sessions.iter().any(|s| s == id))
                && (!self.findings_only
                    || listed.iter().any(|f| {
                        (f.capture == ci && f.session == id)
                            || f.other
                                .as_ref()
                                .is_some_and(|o| o.capture == ci && o.session == id)
                    }))
        };
        r.pairs
            .retain(|p| keep(0, &p.client_side_session) || keep(1, &p.server_side_session));
        let before: Vec<usize> = (0..r.captures.len())
            .map(|ci| r.sessions.iter().filter(|s| s.capture == ci).count())
            .collect();
        r.sessions.retain(|s| keep(s.capture, &s.id));
        for (ci, n) in before.into_iter().enumerate() {
            let after = r.sessions.iter().filter(|s| s.capture == ci).count();
            if let Some(c) = r.captures.get_mut(ci) {
                c.not_listed.sessions += (n - after) as u64;
                c.session_count = after;
                c.finding_count = listed
                    .iter()
                    .filter(|f| f.capture == ci && f.other.is_none())
                    .count();
            }
        }
        r.unmatched.client_side.retain(|id| keep(0, id));
        r.unmatched.server_side.retain(|id| keep(1, id));
        r.findings = listed;
    }

    /// The session ids asked for that name no session of any capture
    /// (`seen`: the ids the captures have), as an error naming both.
    pub fn unknown_sessions(&self, seen: &std::collections::BTreeSet<u32>) -> Option<String> {
        let missing: Vec<&str> = self
            .sessions
            .iter()
            .filter(|id| {
                id.strip_prefix('s')
                    .and_then(|n| n.parse::<u32>().ok())
                    .is_none_or(|n| !seen.contains(&n))
            })
            .map(String::as_str)
            .collect();
        if missing.is_empty() {
            return None;
        }
        let have = match (seen.first(), seen.last()) {
            (Some(a), Some(b)) if a == b => format!("the captures have s{a}"),
            (Some(a), Some(b)) if (b - a + 1) as usize == seen.len() => {
                format!("the captures have s{a}–s{b}")
            }
            (Some(_), Some(_)) => format!(
                "the captures have {}",
                seen.iter()
                    .map(|n| format!("s{n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            _ => "the captures have no FTP session".to_string(),
        };
        Some(format!("no session {}: {have}", missing.join(", ")))
    }

    /// The trim as report options (non-default values only).
    pub fn options(&self, m: &mut BTreeMap<&'static str, String>) {
        if !self.sessions.is_empty() {
            m.insert("session", self.sessions.join(","));
        }
        if self.findings_only {
            m.insert("findings_only", "true".into());
        }
        if let Some(s) = self.min_severity {
            m.insert("min_severity", s.name().into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_with_or_without_the_s() {
        assert_eq!(Trim::session_id("3").unwrap(), "s3");
        assert_eq!(Trim::session_id("s12").unwrap(), "s12");
        assert!(Trim::session_id("s0").is_err());
        assert!(Trim::session_id("x1").is_err());
        assert!(Trim::session_id("").is_err());
    }
}
