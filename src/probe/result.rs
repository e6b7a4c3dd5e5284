//! What a probe run found: one [`Case`] per test line, grouped by
//! [`Family`], and the conclusion a ticket can quote.

use crate::escape::Bytes;
pub use crate::probe::family::Family;
use crate::probe::hops::Trace;
use crate::rules::{Rule, Severity};
use serde::Serialize;

/// What happened to one test line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Arrived as sent (or the server acted exactly on what was sent).
    Intact,
    /// Arrived changed.
    Rewritten,
    /// An address line that crossed NAT unchanged while the far end sees
    /// the probe at another address: the ALG missed it, and the server
    /// gets an address it cannot reach.
    NotTranslated,
    /// No reply: dropped on the way.
    Dropped,
    /// The server refused it; nothing shows whether it arrived changed.
    Rejected,
    /// The control connection was closed or reset after it.
    Reset,
    /// The far end gave no evidence either way.
    NotEvident,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Intact => "intact",
            Outcome::Rewritten => "rewritten",
            Outcome::NotTranslated => "not translated",
            Outcome::Dropped => "dropped",
            Outcome::Rejected => "rejected",
            Outcome::Reset => "connection reset",
            Outcome::NotEvident => "no evidence",
        }
    }
}

/// How the outcome is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Evidence {
    /// The reflector's exact report of the bytes it received.
    Reflector,
    /// The server quoted the line in its reply.
    ServerEcho,
    /// Where the data connection opened.
    DataConnection,
    /// No reply came.
    Silence,
    None,
}

/// One test line and what became of it.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Case {
    /// The test family it belongs to.
    pub family: Family,
    /// The test, in words (`octet 6 = 227`).
    pub name: String,
    /// The swept value, in sweeps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<u8>,
    /// The bytes written, terminator included.
    pub sent: Bytes,
    /// What happened to the line: intact, rewritten, not translated, dropped,
    /// connection reset, rejected, or no evidence.
    pub outcome: Outcome,
    /// How the probe learnt what arrived.
    pub evidence: Evidence,
    /// What arrived, when the far end says (without terminator).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arrived: Option<Bytes>,
    /// The rule that names the change, as `compare` would.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<Rule>,
    /// How serious the change is, as `compare` would rate it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    /// The change, byte by byte, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    /// The changed numeric fields of an address argument.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<String>,
    /// The id of the device signature the change matches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<&'static str>,
    /// The server's reply (escaped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
    /// What happened to the data connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// What else to know about this test.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Case {
    pub fn new(family: Family, name: String, value: Option<u8>, sent: &[u8]) -> Case {
        Case {
            family,
            name,
            value,
            sent: Bytes(sent.to_vec()),
            outcome: Outcome::NotEvident,
            evidence: Evidence::None,
            arrived: None,
            rule: None,
            severity: None,
            diff: None,
            fields: None,
            signature: None,
            reply: None,
            data: None,
            note: None,
        }
    }

    /// Damage the path did: a change worse than a consistent NAT rewrite,
    /// a drop or a reset.
    pub fn is_damage(&self) -> bool {
        match self.outcome {
            Outcome::Rewritten => self.severity.is_some_and(|s| s > Severity::Info),
            Outcome::Dropped | Outcome::Reset | Outcome::NotTranslated => true,
            _ => false,
        }
    }
}

/// A whole run.
#[derive(Serialize, schemars::JsonSchema)]
pub struct ProbeReport {
    /// The tool, the schema version and the options, as in every document.
    pub header: crate::header::Header,
    /// `ftp://user@host:port` (never the password).
    pub target: String,
    /// `server` (an ordinary FTP server) or `reflector`.
    pub far_end: &'static str,
    /// Commands sent in all, test lines and logins.
    pub commands_sent: usize,
    /// Times the probe reconnected after a dropped line or a reset.
    pub reconnects: usize,
    /// Seconds the run took.
    pub duration_secs: f64,
    /// Why the run ended early, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    /// What else to know about the run.
    pub notes: Vec<String>,
    /// What the run found, in one paragraph.
    pub conclusion: String,
    /// Whether the path altered any test line (exit code 1).
    pub altered: bool,
    /// No test line showed how it arrived: the run proves nothing either
    /// way (exit code 3).
    pub no_evidence: bool,
    /// Every test line, with what became of it.
    pub cases: Vec<Case>,
    /// `--trace`: where on the path each traced line changed.
    pub traces: Vec<crate::probe::hops::Trace>,
    /// Lines sent TTL-limited for the traces (counted in
    /// `commands_sent` too).
    pub traced_lines: usize,
}

impl ProbeReport {
    pub fn families(&self) -> Vec<(Family, Vec<&Case>)> {
        Family::ALL
            .iter()
            .map(|&f| (f, self.cases.iter().filter(|c| c.family == f).collect()))
            .filter(|(_, v): &(Family, Vec<&Case>)| !v.is_empty())
            .collect()
    }
}

/// The one-paragraph conclusion: which inputs the path damaged, how, and
/// what that does to real transfers; then where each traced line changed.
pub fn conclusion(cases: &[Case], traces: &[Trace]) -> String {
    let mut s = if cases.is_empty() && !traces.is_empty() {
        String::new()
    } else {
        of_cases(cases)
    };
    for t in traces {
        if !s.is_empty() {
            s.push(' ');
        }
        let mut c = t.conclusion.clone();
        if let Some(first) = c.get(..1) {
            c = first.to_lowercase() + &c[1..];
        }
        s.push_str(&format!("Traced {} ({}): {c}", t.case, t.family.place()));
    }
    s
}

fn of_cases(cases: &[Case]) -> String {
    let damaged: Vec<&Case> = cases.iter().filter(|c| c.is_damage()).collect();
    let nat = |c: &&Case| c.outcome == Outcome::Rewritten && !c.is_damage();
    let mut parts = Vec::new();
    let intact = cases
        .iter()
        .filter(|c| c.outcome == Outcome::Intact)
        .count();
    if damaged.is_empty() && intact == 0 {
        // Nothing came back to judge by: that is no evidence, not a clean
        // path.
        return format!(
            "No evidence either way: none of the {} showed how it arrived (the server neither quotes nor acts on them; a reflector would tell).",
            lines(cases.len(), "test line")
        );
    }
    if damaged.is_empty() {
        parts.push(format!(
            "the path did not damage any test line that showed how it arrived ({intact} of {} arrived or were acted on as sent)",
            cases.len()
        ));
    }
    let rewritten: Vec<&&Case> = damaged
        .iter()
        .filter(|c| c.outcome == Outcome::Rewritten)
        .collect();
    if !rewritten.is_empty() {
        let mut places: Vec<Family> = rewritten.iter().map(|c| c.family).collect();
        places.dedup();
        let place_text = places
            .iter()
            .map(|f| f.place())
            .collect::<Vec<_>>()
            .join(", ");
        let checkpoint = crate::rules::signatures::CHECKPOINT_227.id;
        if rewritten.iter().all(|c| c.signature == Some(checkpoint)) {
            parts.push(format!(
                "the path rewrites the digit string 227 to 22_ (in {place_text}; {})",
                lines(rewritten.len(), "test line")
            ));
        } else {
            let values: Vec<String> = rewritten.iter().map(|c| c.name.clone()).collect();
            parts.push(format!(
                "the path rewrites {} (in {place_text}: {})",
                lines(rewritten.len(), "test line"),
                short_list(&values)
            ));
        }
    }
    let untranslated: Vec<String> = damaged
        .iter()
        .filter(|c| c.outcome == Outcome::NotTranslated)
        .map(|c| format!("{} {}", c.family.place(), c.name))
        .collect();
    if !untranslated.is_empty() {
        parts.push(format!(
            "{} crossed the NAT without being rewritten, so the receiver was given an address it cannot reach: {}",
            lines(untranslated.len(), "address line"),
            short_list(&untranslated)
        ));
    }
    let lost: Vec<String> = damaged
        .iter()
        .filter(|c| matches!(c.outcome, Outcome::Dropped | Outcome::Reset))
        .map(|c| format!("{} ({})", c.name, c.outcome.name()))
        .collect();
    if !lost.is_empty() {
        parts.push(format!(
            "{} got no reply or lost the connection: {}",
            lines(lost.len(), "test line"),
            short_list(&lost)
        ));
    }
    let nats = cases.iter().filter(nat).count();
    if nats > 0 {
        parts.push(format!(
            "{} had the address rewritten consistently with the NAT mapping, as an FTP ALG does (not damage)",
            lines(nats, "test line")
        ));
    }
    // The octet sweeps: what a random active data port risks.
    let bad = |f: Family| {
        let v: Vec<&Case> = cases.iter().filter(|c| c.family == f).collect();
        (v.iter().filter(|c| c.is_damage()).count(), v.len())
    };
    let ((b6, n6), (b5, n5)) = (bad(Family::PortOctet6), bad(Family::PortOctet5));
    if n6 == 256 && n5 == 256 {
        let ok = (256 - b6) * (256 - b5);
        let fail = 65536 - ok;
        let passed = cases
            .iter()
            .filter(|c| {
                matches!(c.family, Family::PortOctet5 | Family::PortOctet6)
                    && (c.outcome == Outcome::Intact || nat(c))
            })
            .count();
        let how = if nats > 0 {
            "arrived intact or NAT-rewritten"
        } else {
            "passed intact"
        };
        parts.push(match (65536 + fail / 2).checked_div(fail) {
            Some(one_in) => format!(
                "{passed} of the 512 PORT octet values {how}; an active transfer with a random data port fails with probability {fail}/65536 (about 1 in {one_in})"
            ),
            None => format!(
                "{passed} of the 512 PORT octet values {how} and none was damaged: no active data port is at risk"
            ),
        });
    }
    let unknown = cases
        .iter()
        .filter(|c| c.outcome == Outcome::NotEvident)
        .count();
    if unknown > 0 {
        parts.push(format!(
            "{} gave no evidence either way (the server neither quotes nor acts on them; a reflector would tell)",
            lines(unknown, "test line")
        ));
    }
    let mut s = parts.join("; ");
    if let Some(c) = s.get(..1) {
        s = c.to_uppercase() + &s[1..];
    }
    s.push('.');
    s
}

/// "1 test line", "2 test lines".
fn lines(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

fn short_list(v: &[String]) -> String {
    const SHOWN: usize = 8;
    let mut s = v.iter().take(SHOWN).cloned().collect::<Vec<_>>().join(", ");
    if v.len() > SHOWN {
        s.push_str(&format!(" and {} more", v.len() - SHOWN));
    }
    s
}
