//! What failed data setups have in common, across a whole archive.
//!
//! Every PORT/EPRT/LPRT and 227/228/229 with a known outcome is described
//! by a few features (each octet and port byte as the bytes on the wire,
//! server, client, server software, hour of day). For each value the
//! failed and the working setups that had it are counted; a value is a
//! pattern when it covers at least half of the failures and far fewer of
//! the successes than chance allows (one-sided Fisher exact test,
//! Bonferroni-corrected over every value tried). That is how "every failed
//! transfer had data-port low byte 227" surfaces by itself — and just as
//! well for any other value or field.

use super::record::ModeStats;
use super::words::{label, thousands};
use serde::Serialize;

/// "had data-port low byte 227", "were with server 192.0.2.1:21"…, and
/// whether the verb is "to be" (so the comparison says "ones were", not
/// "ones did").
fn phrase(feature: &str, value: &str) -> (String, bool) {
    match feature {
        "server" => (format!("were with server {value}"), true),
        "client" => (format!("were from client {value}"), true),
        "server_software" => (format!("were with {value} servers"), true),
        "hour_utc" => (
            format!("were announced between {value}:00 and {value}:59 UTC"),
            true,
        ),
        "command" => (format!("were announced with {value}"), true),
        f => (format!("had {} {value}", label(f)), false),
    }
}

/// One value that explains failures.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Pattern {
    /// `active` or `passive`.
    pub mode: String,
    pub feature: String,
    pub value: String,
    /// Failed setups with this value, and all failed setups.
    pub failed_with: u64,
    pub failed: u64,
    /// Working setups with this value, and all working setups.
    pub worked_with: u64,
    pub worked: u64,
    /// One-sided Fisher exact test, before the correction for the number
    /// of values tried.
    pub p_value: f64,
    pub statement: String,
    /// Other values with exactly the same counts (most likely the same
    /// setups), as "feature value".
    pub same_counts: Vec<String>,
    /// When the failures with this value happened, and since when it
    /// fails (where the archive shows it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<super::timeline::Since>,
}

/// Which feature leads when several have the same counts: the bytes on
/// the wire first, then addresses, then hosts and time.
fn priority(feature: &str) -> usize {
    const ORDER: [&str; 12] = [
        "port_low_byte",
        "port_high_byte",
        "address_octet_1",
        "address_octet_2",
        "address_octet_3",
        "address_octet_4",
        "address",
        "command",
        "server_software",
        "server",
        "client",
        "hour_utc",
    ];
    ORDER
        .iter()
        .position(|&f| f == feature)
        .unwrap_or(ORDER.len())
}

/// At most this many patterns are reported per mode.
const MAX_PATTERNS: usize = 10;
/// Family-wise significance after the Bonferroni correction.
const ALPHA: f64 = 0.01;

/// The values that explain the failures of one mode, strongest first.
pub fn find(mode: &str, m: &ModeStats) -> Vec<Pattern> {
    let (failed, worked) = (m.failed, m.worked);
    if failed < 2 || worked == 0 {
        return Vec::new();
    }
    let mut tried = 0u64;
    let mut out = Vec::new();
    for (feature, values) in &m.features {
        for (value, t) in values {
            if t.failed == 0 {
                continue;
            }
            tried += 1;
            // At least half of the failures, at least two of them, and
            // more common among failures than among successes.
            if t.failed < 2
                || t.failed * 2 < failed
                || u128::from(t.failed) * u128::from(worked)
                    <= u128::from(t.worked) * u128::from(failed)
            {
                continue;
            }
            let p = upper_tail(failed + worked, t.failed + t.worked, failed, t.failed);
            out.push(Pattern {
                mode: mode.to_string(),
                feature: feature.clone(),
                value: value.clone(),
                failed_with: t.failed,
                failed,
                worked_with: t.worked,
                worked,
                p_value: p,
                statement: statement(mode, feature, value, t.failed, failed, t.worked, worked),
                same_counts: Vec::new(),
                since: None,
            });
        }
    }
    out.retain(|p| p.p_value * tried as f64 <= ALPHA);
    out.sort_by(|a, b| {
        a.p_value
            .total_cmp(&b.p_value)
            .then(b.failed_with.cmp(&a.failed_with))
            .then(priority(&a.feature).cmp(&priority(&b.feature)))
            .then_with(|| (&a.feature, &a.value).cmp(&(&b.feature, &b.value)))
    });
    // Values with identical counts describe the same setups in all
    // likelihood (an address, its last octet, the client that sent it):
    // one pattern names them all.
    let mut grouped: Vec<Pattern> = Vec::new();
    for p in out {
        match grouped
            .iter_mut()
            .find(|g| (g.failed_with, g.worked_with) == (p.failed_with, p.worked_with))
        {
            Some(g) => g
                .same_counts
                .push(format!("{} {}", label(&p.feature), p.value)),
            None => grouped.push(p),
        }
    }
    grouped.truncate(MAX_PATTERNS);
    grouped
}

fn statement(
    mode: &str,
    feature: &str,
    value: &str,
    failed_with: u64,
    failed: u64,
    worked_with: u64,
    worked: u64,
) -> String {
    let who = match (failed_with == failed, failed) {
        (true, 2) => format!("both failed {mode} transfers"),
        (true, _) => format!("all {} failed {mode} transfers", thousands(failed)),
        (false, _) => format!(
            "{} of {} failed {mode} transfers",
            thousands(failed_with),
            thousands(failed)
        ),
    };
    let (what, be) = phrase(feature, value);
    let ok = if worked == 1 {
        let verb = if be { "was" } else { "did" };
        format!("{worked_with} of 1 successful one {verb}")
    } else {
        let verb = if be { "were" } else { "did" };
        format!(
            "{} of {} successful ones {verb}",
            thousands(worked_with),
            thousands(worked)
        )
    };
    format!("{who} {what}; {ok}")
}

/// ln(n!), exact by summation for small n and by Stirling's series beyond
/// (relative error below 1e-12 there).
fn ln_factorial(n: u64) -> f64 {
    if n < 64 {
        return (2..=n).map(|k| (k as f64).ln()).sum();
    }
    let x = n as f64;
    x * x.ln() - x + 0.5 * (2.0 * std::f64::consts::PI * x).ln() + 1.0 / (12.0 * x)
        - 1.0 / (360.0 * x * x * x)
}

fn ln_choose(n: u64, k: u64) -> f64 {
    ln_factorial(n) - ln_factorial(k) - ln_factorial(n - k)
}

/// P(X ≥ k) for X hypergeometric: `n` draws from `total` items of which
/// `marked` are marked. Past the mean the terms only shrink, so the sum
/// stops once they no longer change it.
fn upper_tail(total: u64, marked: u64, n: u64, k: u64) -> f64 {
    let hi = marked.min(n);
    let lo = k.max((n + marked).saturating_sub(total));
    let denom = ln_choose(total, n);
    let mut sum = 0.0;
    for x in lo..=hi {
        let term = (ln_choose(marked, x) + ln_choose(total - marked, n - x) - denom).exp();
        sum += term;
        if term < sum * 1e-17 {
            break;
        }
    }
    sum.min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::record::Tally;
    use std::collections::BTreeMap;

    #[test]
    fn hypergeometric_tail() {
        // 2 draws from 4 items, 2 marked: P(both marked) = 1/6.
        assert!((upper_tail(4, 2, 2, 2) - 1.0 / 6.0).abs() < 1e-12);
        assert!((upper_tail(4, 2, 2, 0) - 1.0).abs() < 1e-12);
        // Stirling branch agrees with the exact sum where they meet.
        let exact: f64 = (2..=100u64).map(|k| (k as f64).ln()).sum();
        assert!((ln_factorial(100) - exact).abs() < 1e-9);
        // 12 of 12 failures with a value no success had: astronomically
        // unlikely by chance.
        assert!(upper_tail(3052, 12, 12, 12) < 1e-30);
    }

    fn mode(failed: u64, worked: u64, values: &[(&str, &str, u64, u64)]) -> ModeStats {
        let mut features: BTreeMap<String, BTreeMap<String, Tally>> = BTreeMap::new();
        for &(f, v, fa, wo) in values {
            features.entry(f.into()).or_default().insert(
                v.into(),
                Tally {
                    failed: fa,
                    worked: wo,
                },
            );
        }
        ModeStats {
            failed,
            worked,
            features,
            ..Default::default()
        }
    }

    #[test]
    fn one_value_explains_the_failures() {
        let m = mode(
            12,
            3040,
            &[
                ("port_low_byte", "227", 12, 0),
                ("port_low_byte", "12", 0, 20),
                ("server", "192.0.2.1:21", 12, 3040),
                ("hour_utc", "14", 7, 1500),
            ],
        );
        let p = find("active", &m);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(
            p[0].statement,
            "all 12 failed active transfers had data-port low byte 227; 0 of 3,040 successful ones did"
        );
    }

    #[test]
    fn statements_agree_with_their_verb() {
        let m = mode(4, 500, &[("server_software", "GNU inetutils ftpd", 4, 0)]);
        let p = find("active", &m);
        assert_eq!(
            p[0].statement,
            "all 4 failed active transfers were with GNU inetutils ftpd servers; 0 of 500 successful ones were"
        );
        // One success can only stand out against many failures.
        let m = mode(300, 1, &[("client", "198.51.100.60", 300, 0)]);
        let p = find("passive", &m);
        assert_eq!(
            p[0].statement,
            "all 300 failed passive transfers were from client 198.51.100.60; 0 of 1 successful one was"
        );
    }

    #[test]
    fn chance_is_not_a_pattern() {
        // 2 of 3 failures share a value that 30% of successes have too.
        let m = mode(3, 100, &[("port_low_byte", "1", 2, 30)]);
        assert!(find("active", &m).is_empty());
        // No successes to contrast with: nothing can be said.
        let m = mode(5, 0, &[("port_low_byte", "227", 5, 0)]);
        assert!(find("active", &m).is_empty());
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
    }
}
