//! What failures have in common, across a whole archive.
//!
//! What is explained is a *failure*: a transfer that failed or a
//! PORT/EPRT/LPRT the server refused (`counting.rs`). Every transfer and
//! refused command is described by a few features (each octet and port
//! byte as the bytes on the wire, the strings of three characters in the
//! announced address and port, the line's length change where the server
//! quotes it, server, client, server software, hour of day).
//!
//! **Observations are sessions.** One session's transfers share a client,
//! a server, a path and a moment; ten refused PORTs of one scanner are one
//! observation, not ten. So each session counts once among the sessions
//! with failures of a mode (and has a value if any of its failures had
//! it), and once among the sessions with working transfers (has it if any
//! working one had it); a session with both counts in both. A value is a
//! pattern when it covers at least two and at least half of the sessions
//! with failures, is more common among them than among the sessions with
//! working transfers, and a one-sided Fisher exact test of that 2×2 table
//! of sessions, corrected by Holm's step-down method over every value of
//! every feature tried in the archive (both modes), stays at or below
//! [`ALPHA`]. The corrected p, the raw p and the number of values tried
//! are all reported. A mode whose failures come from one session is not
//! tested: one observation shows nothing. Bonferroni and Holm hold under
//! any dependence between the values (an address and its last octet
//! describe the same setups), so the family-wise level is kept.

use super::record::{Clients, ModeStats, Tally};
use super::words::{label, thousands};
use serde::Serialize;
use std::collections::BTreeMap;

/// Family-wise significance level, after Holm's correction.
pub const ALPHA: f64 = 0.01;
/// At most this many patterns are reported per mode.
const MAX_PATTERNS: usize = 10;

/// One value that explains failures.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Pattern {
    /// `active` or `passive`.
    pub mode: String,
    /// What the value is of (`port_lo`: the data port's low byte, `server`,
    /// `client`, `hour`…).
    pub feature: String,
    /// The value that the failures have in common, as on the wire.
    pub value: String,
    /// Failures (failed transfers and refused commands) with this value.
    pub failed_with: u64,
    /// All failures of this mode.
    pub failed: u64,
    /// Of the failures with this value, refused commands.
    pub refused_with: u64,
    /// Of all failures of this mode, refused commands.
    pub refused: u64,
    /// Working transfers with this value.
    pub worked_with: u64,
    /// All working transfers of this mode.
    pub worked: u64,
    /// The test's observations: sessions with failures with this value.
    pub failing_sessions_with: u64,
    /// Sessions with failures of this mode.
    pub failing_sessions: u64,
    /// Sessions with working transfers with this value.
    pub working_sessions_with: u64,
    /// Sessions with working transfers of this mode.
    pub working_sessions: u64,
    /// The clients of the failing sessions with this value (the first
    /// nine by address: counted exactly up to eight).
    pub clients: Clients,
    /// One-sided Fisher exact test on sessions, before correction.
    pub p_raw: f64,
    /// The same after Holm's step-down correction over `hypotheses`
    /// values: what is compared with `alpha`.
    pub p_holm: f64,
    /// The number of values tried (the Holm correction's family).
    pub hypotheses: u64,
    /// The significance threshold `p_holm` is compared with.
    pub alpha: f64,
    /// The pattern in a sentence, as the reports print it.
    pub statement: String,
    /// The test in words: the sessions compared, the corrected and the
    /// raw p, the number of values tried and the threshold.
    pub test: String,
    /// Other values with exactly the same counts (most likely the same
    /// setups), as "feature value".
    pub same_counts: Vec<String>,
    /// When the failures with this value happened, and since when it
    /// fails (where the archive shows it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<super::timeline::Since>,
}

/// A mode with failures but no pattern, and why.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct NoPattern {
    /// `active` or `passive`.
    pub mode: String,
    /// Whether its values were tested at all (they are not with fewer than
    /// two sessions with failures, or no session with a working transfer).
    pub tested: bool,
    /// Why no value explains the mode's failures, as the reports print it.
    pub statement: String,
}

/// Everything the search found and tried.
#[derive(Clone, Debug, Default, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Search {
    /// Values that explain failures, strongest first.
    pub patterns: Vec<Pattern>,
    /// Modes with failures and no pattern.
    pub no_pattern: Vec<NoPattern>,
    /// Values (feature × value, over every tested mode) in the correction.
    pub hypotheses: u64,
}

/// Which feature leads when several have the same counts: the bytes on
/// the wire first, then addresses, then hosts and time.
fn priority(feature: &str) -> usize {
    const ORDER: [&str; 15] = [
        "port_string",
        "port_low_byte",
        "port_high_byte",
        "line_length_change",
        "address_string",
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

/// A value tried: its mode, feature, value, tally and raw p.
struct Tried<'a> {
    mode: &'a str,
    m: &'a ModeStats,
    feature: &'a str,
    value: &'a str,
    t: &'a Tally,
    p: f64,
}

/// Whether a mode's values can be tested: at least two sessions with
/// failures and one with a working transfer.
fn testable(m: &ModeStats) -> bool {
    m.failing_sessions >= 2 && m.working_sessions >= 1
}

/// The search over every mode of the archive.
pub fn find(setups: &BTreeMap<String, ModeStats>) -> Search {
    let mut tried: Vec<Tried> = Vec::new();
    for (mode, m) in setups.iter().filter(|(_, m)| testable(m)) {
        let (fs, ws) = (m.failing_sessions, m.working_sessions);
        for (feature, values) in &m.features {
            for (value, t) in values {
                if t.failing_sessions + t.working_sessions == 0 {
                    continue;
                }
                let p = if t.failing_sessions == 0 {
                    1.0
                } else {
                    upper_tail(
                        fs + ws,
                        t.failing_sessions + t.working_sessions,
                        fs,
                        t.failing_sessions,
                    )
                };
                tried.push(Tried {
                    mode,
                    m,
                    feature,
                    value,
                    t,
                    p,
                });
            }
        }
    }
    let hypotheses = tried.len() as u64;
    let holm = holm(&tried.iter().map(|x| x.p).collect::<Vec<_>>());
    let mut out: Vec<Pattern> = Vec::new();
    for (x, &adjusted) in tried.iter().zip(&holm) {
        let (t, m) = (x.t, x.m);
        let (a, fs, b, ws) = (
            t.failing_sessions,
            m.failing_sessions,
            t.working_sessions,
            m.working_sessions,
        );
        // At least two sessions with failures and half of them, more
        // common there than among the sessions with working transfers.
        if a < 2 || a * 2 < fs || u128::from(a) * u128::from(ws) <= u128::from(b) * u128::from(fs) {
            continue;
        }
        if adjusted > ALPHA {
            continue;
        }
        let mut p = Pattern {
            mode: x.mode.to_string(),
            feature: x.feature.to_string(),
            value: x.value.to_string(),
            failed_with: t.failures(),
            failed: m.failed + m.refused,
            refused_with: t.refused,
            refused: m.refused,
            worked_with: t.worked,
            worked: m.worked,
            failing_sessions_with: a,
            failing_sessions: fs,
            working_sessions_with: b,
            working_sessions: ws,
            clients: t.failing_clients.clone(),
            p_raw: x.p,
            p_holm: adjusted,
            hypotheses,
            alpha: ALPHA,
            statement: String::new(),
            test: String::new(),
            same_counts: Vec::new(),
            since: None,
        };
        p.statement = statement(&p, m);
        p.test = test(&p);
        out.push(p);
    }
    out.sort_by(|a, b| {
        a.p_raw
            .total_cmp(&b.p_raw)
            .then(b.failed_with.cmp(&a.failed_with))
            .then(priority(&a.feature).cmp(&priority(&b.feature)))
            .then_with(|| (&a.mode, &a.feature, &a.value).cmp(&(&b.mode, &b.feature, &b.value)))
    });
    // Values with identical counts in one mode describe the same setups in
    // all likelihood (an address, its last octet, the client that sent
    // it): one pattern names them all.
    let key = |p: &Pattern| {
        (
            p.mode.clone(),
            p.failed_with,
            p.refused_with,
            p.worked_with,
            p.failing_sessions_with,
            p.working_sessions_with,
        )
    };
    let mut grouped: Vec<Pattern> = Vec::new();
    for p in out {
        match grouped.iter_mut().find(|g| key(g) == key(&p)) {
            Some(g) => g
                .same_counts
                .push(super::words::value(&p.feature, &p.value)),
            None => grouped.push(p),
        }
    }
    let mut shown: BTreeMap<String, usize> = BTreeMap::new();
    grouped.retain(|p| {
        let n = shown.entry(p.mode.clone()).or_default();
        *n += 1;
        *n <= MAX_PATTERNS
    });
    let no_pattern = setups
        .iter()
        .filter(|(mode, m)| m.failed + m.refused > 0 && !grouped.iter().any(|p| &p.mode == *mode))
        .map(|(mode, m)| NoPattern {
            mode: mode.clone(),
            tested: testable(m),
            statement: why_none(mode, m, hypotheses),
        })
        .collect();
    Search {
        patterns: grouped,
        no_pattern,
        hypotheses,
    }
}

/// Holm's step-down adjusted p-values, in the order given: the i-th
/// smallest p becomes the largest of (m − j + 1)·p over j ≤ i, at most 1.
fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut out = vec![1.0; m];
    let mut running: f64 = 0.0;
    for (j, &i) in order.iter().enumerate() {
        running = running.max(((m - j) as f64 * p[i]).min(1.0));
        out[i] = running;
    }
    out
}

/// "6 active failures (4 failed transfers, 2 refused commands)", or
/// "failed active transfers" where none was refused.
fn failures_noun(mode: &str, with: u64, of: u64, refused_with: u64, refused: u64) -> String {
    let part = |n: u64, total: u64| {
        if n == total {
            thousands(n)
        } else {
            format!("{} of {}", thousands(n), thousands(total))
        }
    };
    if refused == 0 {
        return format!("failed {mode} transfers");
    }
    if refused == of {
        return format!("refused {mode} commands");
    }
    format!(
        "{mode} failures ({} failed transfers, {} refused commands)",
        part(with - refused_with, of - refused),
        part(refused_with, refused)
    )
}

/// "from 1 client (198.51.100.60)", "from 3 clients", "from more than 8
/// clients".
pub fn from_clients(c: &Clients) -> String {
    format!("from {}", clients_in_words(c))
}

/// "1 client (198.51.100.60)", "3 clients", "more than 8 clients".
pub fn clients_in_words(c: &Clients) -> String {
    if let Some(one) = c.only() {
        return format!("1 client ({one})");
    }
    match c.count() {
        (n, true) => format!("{n} clients"),
        (n, false) => format!("more than {n} clients"),
    }
}

fn statement(p: &Pattern, m: &ModeStats) -> String {
    let noun = failures_noun(&p.mode, p.failed_with, p.failed, p.refused_with, p.refused);
    let who = match (p.failed_with == p.failed, p.failed) {
        (true, 2) => format!("both {noun}"),
        (true, n) => format!("all {} {noun}", thousands(n)),
        (false, n) => format!("{} of {} {noun}", thousands(p.failed_with), thousands(n)),
    };
    let sessions = if p.failing_sessions_with == p.failing_sessions {
        match p.failing_sessions {
            1 => "in 1 session".to_string(),
            n => format!("in {} sessions", thousands(n)),
        }
    } else {
        format!(
            "in {} of the {} sessions with failures",
            thousands(p.failing_sessions_with),
            thousands(p.failing_sessions)
        )
    };
    let (what, be) = phrase(&p.feature, &p.value, m);
    let verb = match (be, p.worked) {
        (true, 1) => "was",
        (true, _) => "were",
        (false, _) => "did",
    };
    let ok = format!(
        "{} of {} working {} {verb}, in {} of {} sessions",
        thousands(p.worked_with),
        thousands(p.worked),
        if p.worked == 1 { "one" } else { "ones" },
        thousands(p.working_sessions_with),
        thousands(p.working_sessions)
    );
    format!(
        "{who}, {sessions} {}, {what}; {ok}",
        from_clients(&p.clients)
    )
}

fn test(p: &Pattern) -> String {
    format!(
        "Fisher's exact test on sessions, {} of {} with {} failures against {} of {} with working transfers: p = {:.1e} after Holm's correction for {} values tried (raw p = {:.1e}; family-wise threshold {})",
        thousands(p.failing_sessions_with),
        thousands(p.failing_sessions),
        p.mode,
        thousands(p.working_sessions_with),
        thousands(p.working_sessions),
        p.p_holm,
        thousands(p.hypotheses),
        p.p_raw,
        p.alpha
    )
}

/// Why a mode with failures has no pattern.
fn why_none(mode: &str, m: &ModeStats, hypotheses: u64) -> String {
    let failures = m.failed + m.refused;
    let what = if m.refused == 0 {
        super::words::count(
            failures,
            &format!("failed {mode} transfer"),
            &format!("failed {mode} transfers"),
        )
    } else if m.failed == 0 {
        super::words::count(
            failures,
            &format!("refused {mode} command"),
            &format!("refused {mode} commands"),
        )
    } else {
        format!(
            "{} ({} failed transfers, {} refused commands)",
            super::words::count(
                failures,
                &format!("{mode} failure"),
                &format!("{mode} failures")
            ),
            thousands(m.failed),
            thousands(m.refused)
        )
    };
    if m.failing_sessions < 2 {
        let of = match m.failing_clients.only() {
            Some(c) => format!(" (client {c})"),
            None => String::new(),
        };
        return if failures == 1 {
            let one = if m.refused == 0 {
                format!("a failed {mode} transfer")
            } else {
                format!("a refused {mode} command")
            };
            format!("its only failure, {one}{of}, is one observation: no value was tested")
        } else {
            format!(
                "the {what} all come from one session{of}: one observation, so no value was tested"
            )
        };
    }
    if m.working_sessions == 0 {
        return format!(
            "no session had a working {mode} transfer to compare the {what} with: no value was tested"
        );
    }
    format!(
        "no value of any feature is shared by at least half of the {} sessions with the {what} and rarer among the {} sessions with working {mode} transfers than chance allows (Fisher's exact test on sessions, Holm-corrected over {} values tried, family-wise threshold {ALPHA})",
        thousands(m.failing_sessions),
        thousands(m.working_sessions),
        thousands(hypotheses)
    )
}

/// Where the announced port's text is, for the commands a mode saw:
/// "PORT octet 5 or 6", "the EPRT port number"…
fn port_place(m: &ModeStats) -> String {
    let seen: Vec<&str> = m
        .features
        .get("command")
        .map(|v| v.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let places: Vec<&str> = seen
        .iter()
        .filter_map(|c| match *c {
            "PORT" => Some("PORT octet 5 or 6"),
            "227" => Some("227 octet 5 or 6"),
            "EPRT" => Some("the EPRT port number"),
            "229" => Some("the 229 port number"),
            "LPRT" => Some("the LPRT port bytes"),
            "228" => Some("the 228 port bytes"),
            _ => None,
        })
        .collect();
    places.join(", ")
}

/// "had data-port low byte 227", "were with server 192.0.2.1:21"…, and
/// whether the verb is "to be" (so the comparison says "ones were", not
/// "ones did").
fn phrase(feature: &str, value: &str, m: &ModeStats) -> (String, bool) {
    match feature {
        "server" => (format!("were with server {value}"), true),
        "client" => (format!("were from client {value}"), true),
        "server_software" => (format!("were with {value} servers"), true),
        "hour_utc" => (
            format!("were announced between {value}:00 and {value}:59 UTC"),
            true,
        ),
        "command" => (format!("were announced with {value}"), true),
        "port_string" => (
            format!(
                "had {} ({})",
                super::words::value(feature, value),
                port_place(m)
            ),
            false,
        ),
        "address_string" => (
            format!("had {}", super::words::value(feature, value)),
            false,
        ),
        "line_length_change" => {
            let n: i64 = value.parse().unwrap_or(0);
            let how = match n {
                0 => "at the length sent".to_string(),
                n if n > 0 => format!("{n} bytes longer than sent"),
                n => format!("{} bytes shorter than sent", -n),
            };
            (format!("were quoted back by the server {how}"), true)
        }
        f => (format!("had {} {value}", label(f)), false),
    }
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

    #[test]
    fn holm_steps_down_and_stays_monotone() {
        // m = 4: 4·0.001, 3·0.01, 2·0.02 → 0.04, then max(…, 1·0.5).
        let p = [0.02, 0.001, 0.5, 0.01];
        let h = holm(&p);
        let want = [0.04, 0.004, 0.5, 0.03];
        for (a, b) in h.iter().zip(want) {
            assert!((a - b).abs() < 1e-12, "{h:?}");
        }
        // Never below an adjusted p of a smaller raw p.
        assert_eq!(holm(&[0.3, 0.2]), vec![0.4, 0.4]);
        assert!(holm(&[]).is_empty());
    }

    /// A mode: (failed transfers, refused, worked, failing sessions,
    /// working sessions, clients of the failing sessions) and values as
    /// (feature, value, failed, worked, failing sessions, working
    /// sessions).
    fn mode(
        all: (u64, u64, u64, u64, u64, &[&str]),
        values: &[(&str, &str, u64, u64, u64, u64)],
    ) -> BTreeMap<String, ModeStats> {
        let mut clients = Clients::default();
        for c in all.5 {
            clients.add(c);
        }
        let mut features: BTreeMap<String, BTreeMap<String, Tally>> = BTreeMap::new();
        for &(f, v, fa, wo, fs, ws) in values {
            features.entry(f.into()).or_default().insert(
                v.into(),
                Tally {
                    failed: fa,
                    worked: wo,
                    failing_sessions: fs,
                    working_sessions: ws,
                    failing_clients: clients.clone(),
                    ..Default::default()
                },
            );
        }
        let m = ModeStats {
            failed: all.0,
            refused: all.1,
            worked: all.2,
            failing_sessions: all.3,
            working_sessions: all.4,
            failing_clients: clients,
            features,
            ..Default::default()
        };
        BTreeMap::from([("active".to_string(), m)])
    }

    #[test]
    fn one_value_explains_the_failures() {
        let s = find(&mode(
            (12, 0, 3040, 12, 300, &["198.51.100.60"]),
            &[
                ("port_low_byte", "227", 12, 0, 12, 0),
                ("port_low_byte", "12", 0, 20, 0, 20),
                ("server", "192.0.2.1:21", 12, 3040, 12, 300),
                ("hour_utc", "14", 7, 1500, 7, 150),
            ],
        ));
        assert_eq!(s.patterns.len(), 1, "{s:?}");
        let p = &s.patterns[0];
        assert_eq!(
            p.statement,
            "all 12 failed active transfers, in 12 sessions from 1 client (198.51.100.60), \
             had data-port low byte 227; 0 of 3,040 working ones did, in 0 of 300 sessions"
        );
        // Four values tried; the corrected p is the raw one times four
        // (it is the smallest).
        assert_eq!(s.hypotheses, 4);
        assert!((p.p_holm - 4.0 * p.p_raw).abs() < 1e-12 * p.p_holm.max(1e-300));
        assert!(
            p.test
                .contains("after Holm's correction for 4 values tried"),
            "{}",
            p.test
        );
        assert!(
            p.test
                .starts_with("Fisher's exact test on sessions, 12 of 12")
        );
    }

    #[test]
    fn one_session_is_one_observation() {
        // The same transfers, once from six sessions, once from one: only
        // the first can be tested.
        let values = |fs: u64| {
            [
                ("port_low_byte", "227", 6, 0, fs, 0),
                ("port_low_byte", "64", 0, 30, 0, 10),
            ]
        };
        let many = find(&mode((6, 0, 30, 6, 10, &["198.51.100.60"]), &values(6)));
        assert_eq!(many.patterns.len(), 1);
        let one = find(&mode((6, 0, 30, 1, 10, &["198.51.100.60"]), &values(1)));
        assert!(one.patterns.is_empty());
        assert_eq!(one.hypotheses, 0);
        assert!(!one.no_pattern[0].tested);
        assert_eq!(
            one.no_pattern[0].statement,
            "the 6 failed active transfers all come from one session (client 198.51.100.60): \
             one observation, so no value was tested"
        );
        // Two sessions: tested, weaker, and short of the threshold.
        let two = find(&mode((6, 0, 30, 2, 10, &["198.51.100.60"]), &values(2)));
        assert!(two.patterns.is_empty(), "{two:?}");
        assert!(two.no_pattern[0].tested);
    }

    #[test]
    fn refused_commands_are_failures_of_their_own_kind() {
        let mut m = mode(
            (4, 2, 25, 6, 15, &["198.51.100.60"]),
            &[("port_low_byte", "227", 4, 0, 6, 0)],
        );
        for t in m
            .values_mut()
            .flat_map(|m| m.features.values_mut())
            .flat_map(|v| v.values_mut())
        {
            t.refused = 2;
        }
        let s = find(&m);
        let p = &s.patterns[0];
        assert_eq!((p.failed_with, p.refused_with), (6, 2));
        assert!(
            p.statement.starts_with(
                "all 6 active failures (4 failed transfers, 2 refused commands), in 6 sessions"
            ),
            "{}",
            p.statement
        );
    }

    #[test]
    fn chance_is_not_a_pattern() {
        // 2 of 3 failing sessions share a value that 30% of the working
        // sessions have too.
        let s = find(&mode(
            (3, 0, 100, 3, 100, &["a", "b", "c"]),
            &[("port_low_byte", "1", 2, 30, 2, 30)],
        ));
        assert!(s.patterns.is_empty());
        assert!(
            s.no_pattern[0]
                .statement
                .starts_with("no value of any feature")
        );
        // No successes to contrast with: nothing can be said.
        let s = find(&mode(
            (5, 0, 0, 5, 0, &["a"]),
            &[("port_low_byte", "227", 5, 0, 5, 0)],
        ));
        assert!(s.patterns.is_empty());
        assert!(!s.no_pattern[0].tested);
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
    }
}
