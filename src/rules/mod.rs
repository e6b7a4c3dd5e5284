//! Stage 5: analysis rules.
//!
//! Each rule reads one finished session and states what it can prove, with
//! the rule id from `middlebox-catalogue.md` §9, the frames and the exact
//! bytes. Rules never guess silently: where the evidence only fits a
//! hypothesis, the message says so. The known-signature table names the
//! device where the catalogue does.

mod address;
mod data;
mod echo;
mod segments;
mod server;
pub mod signatures;

use crate::bytes::Bytes;
use crate::diff::ByteDiff;
use crate::ftp::session::Session;
use serde::{Deserialize, Serialize};
use signatures::Signature;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// A piece of evidence: bytes and the frames that carried them.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Evidence {
    /// What these bytes are ("client sent", "server reply quotes"…).
    pub what: String,
    /// The capture the frames belong to, when it is not the finding's own
    /// (the other tap of a comparison).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capture: Option<usize>,
    pub frames: Vec<u64>,
    pub bytes: Bytes,
}

/// The frames of a two-capture finding in the other capture.
#[derive(Clone, Debug, Serialize)]
pub struct Other {
    pub capture: usize,
    pub session: String,
    pub frames: Vec<u64>,
}

/// One finding.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    pub rule: &'static str,
    pub severity: Severity,
    /// Index of the capture (in the report's `captures`).
    pub capture: usize,
    /// The session id (`s1`…), unique within its capture.
    pub session: String,
    /// Frame numbers (1-based, as Wireshark numbers them).
    pub frames: Vec<u64>,
    pub message: String,
    pub evidence: Vec<Evidence>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<ByteDiff>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<&'static Signature>,
    /// For a finding from comparing two captures: where it is in the other.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub other: Option<Other>,
    /// How many occurrences this finding stands for (findings of one rule
    /// with the same cause in one session are merged).
    pub occurrences: usize,
    /// The merge key; findings without one are never merged.
    #[serde(skip)]
    pub(crate) group: Option<String>,
}

impl Finding {
    pub(crate) fn new(
        rule: &'static str,
        severity: Severity,
        s: &Session,
        message: String,
    ) -> Self {
        Finding {
            rule,
            severity,
            capture: 0,
            session: s.name(),
            frames: Vec::new(),
            message,
            evidence: Vec::new(),
            diff: None,
            signature: None,
            other: None,
            occurrences: 1,
            group: None,
        }
    }

    /// Findings with the same rule, session and key are merged into one.
    pub(crate) fn group(mut self, key: impl Into<String>) -> Self {
        self.group = Some(key.into());
        self
    }

    pub(crate) fn evidence(
        mut self,
        what: &str,
        frames: Vec<u64>,
        bytes: impl Into<Bytes>,
    ) -> Self {
        self.frames.extend(&frames);
        self.evidence.push(Evidence {
            what: what.to_string(),
            capture: None,
            frames,
            bytes: bytes.into(),
        });
        self
    }

    /// Evidence from the other capture of a comparison (its frames go to
    /// `other`, which must be set).
    pub(crate) fn other_evidence(
        mut self,
        what: &str,
        frames: Vec<u64>,
        bytes: impl Into<Bytes>,
    ) -> Self {
        if let Some(o) = self.other.as_mut() {
            o.frames.extend(&frames);
            self.evidence.push(Evidence {
                what: what.to_string(),
                capture: Some(o.capture),
                frames,
                bytes: bytes.into(),
            });
        }
        self
    }

    pub(crate) fn frames(mut self, frames: impl IntoIterator<Item = u64>) -> Self {
        self.frames.extend(frames);
        self
    }

    pub(crate) fn normalise(&mut self) {
        let other = self.other.as_mut().map(|o| &mut o.frames);
        for v in std::iter::once(&mut self.frames).chain(other) {
            v.retain(|&f| f > 0);
            v.sort_unstable();
            v.dedup();
        }
    }
}

/// Settings that change what the rules report.
#[derive(Clone, Debug)]
pub struct Config {
    /// Idle time after a data-setup command that counts as a stall.
    pub stall_secs: f64,
    /// Retransmissions without ACK that count as a drop.
    pub drop_retransmissions: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            stall_secs: 20.0,
            drop_retransmissions: 3,
        }
    }
}

/// Every rule id this tool emits, with its default severity and meaning.
pub struct RuleInfo {
    pub id: &'static str,
    pub evidence: &'static str,
    pub summary: &'static str,
}

pub const RULES: &[RuleInfo] = &[
    RuleInfo {
        id: "port-echo-mismatch",
        evidence: "one capture",
        summary: "the server's reply quotes a command that differs from what the client sent",
    },
    RuleInfo {
        id: "port-mangled-received",
        evidence: "one capture",
        summary: "a PORT/EPRT/LPRT with a non-numeric field or wrong field count reached this tap",
    },
    RuleInfo {
        id: "port-silently-truncated",
        evidence: "one capture",
        summary: "the server accepted the PORT but connected to a port built from a truncated octet (22_ read as 22)",
    },
    RuleInfo {
        id: "string-227-mangled",
        evidence: "one capture",
        summary: "227 became 22_ outside a PORT (file names, arguments), proven by the server's reply",
    },
    RuleInfo {
        id: "verb-rewritten",
        evidence: "one capture",
        summary: "the server's reply names a different verb than the client sent (PASV→P@SW)",
    },
    RuleInfo {
        id: "private-addr-in-pasv",
        evidence: "one capture",
        summary: "the 227/228 address differs from the server's address on the control connection",
    },
    RuleInfo {
        id: "private-addr-in-port",
        evidence: "one capture",
        summary: "the PORT/EPRT/LPRT address differs from the client's address on the control connection",
    },
    RuleInfo {
        id: "data-endpoint-mismatch",
        evidence: "one capture",
        summary: "the data connection went to a different endpoint than announced",
    },
    RuleInfo {
        id: "data-source-ip-mismatch",
        evidence: "one capture",
        summary: "a passive data connection came from a different address than the control connection",
    },
    RuleInfo {
        id: "eprt-family-mismatch",
        evidence: "one capture",
        summary: "EPRT names an address family other than the control connection's, or an unusual delimiter",
    },
    RuleInfo {
        id: "pasv-reply-unparseable-for-alg",
        evidence: "one capture",
        summary: "a 227/229 reply that some ALGs cannot parse (no parentheses, no numbers, trailing text)",
    },
    RuleInfo {
        id: "ctl-line-split",
        evidence: "one capture",
        summary: "a PORT/EPRT/227/229 line spans several TCP segments",
    },
    RuleInfo {
        id: "ctl-cmd-not-at-segment-start",
        evidence: "one capture",
        summary: "a PORT/EPRT/227/229 line does not start its TCP segment",
    },
    RuleInfo {
        id: "ctl-bad-terminator",
        evidence: "one capture",
        summary: "a control line ends with a bare LF, bare CR, trailing blank, or nothing",
    },
    RuleInfo {
        id: "alg-drop-suspected",
        evidence: "one capture",
        summary: "a control segment was retransmitted repeatedly and never acknowledged",
    },
    RuleInfo {
        id: "session-stall-after-ctl",
        evidence: "one capture",
        summary: "after a data-setup command the client went idle with no working data connection",
    },
    RuleInfo {
        id: "syst-masked",
        evidence: "one capture",
        summary: "the SYST reply is all X: Cisco ASA/PIX FTP inspection is in the path",
    },
    RuleInfo {
        id: "multiline-reply-reset",
        evidence: "one capture",
        summary: "the connection was reset in the middle of a multi-line reply",
    },
    RuleInfo {
        id: "reply-desync",
        evidence: "one capture",
        summary: "the server sent a line that is not a reply (stray empty line, no code)",
    },
    RuleInfo {
        id: "tls-alg-blind",
        evidence: "one capture",
        summary: "the control channel is encrypted and data connections fail",
    },
    RuleInfo {
        id: "tcp-gap",
        evidence: "one capture",
        summary: "bytes of a control stream were never captured",
    },
    RuleInfo {
        id: "tcp-overlap-conflict",
        evidence: "one capture",
        summary: "two copies of the same control-stream bytes differ",
    },
];

/// Runs every single-capture rule on a session.
pub fn run(s: &Session, cfg: &Config) -> Vec<Finding> {
    let mut out = Vec::new();
    echo::run(s, &mut out);
    address::run(s, &mut out);
    data::run(s, cfg, &mut out);
    segments::run(s, cfg, &mut out);
    server::run(s, &mut out);
    for f in &mut out {
        f.normalise();
    }
    // Earliest first, so a merged group is represented by its first case.
    out.sort_by(|a, b| (a.frames.first(), a.rule).cmp(&(b.frames.first(), b.rule)));
    let mut out = merge_groups(out);
    for f in &mut out {
        f.normalise();
    }
    out
}

/// Merges findings that share a group key: the first keeps its message and
/// evidence, the others add their frames and a count.
fn merge_groups(findings: Vec<Finding>) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::with_capacity(findings.len());
    let mut index: std::collections::HashMap<(&'static str, String), usize> = Default::default();
    for f in findings {
        let Some(key) = f.group.clone() else {
            out.push(f);
            continue;
        };
        match index.get(&(f.rule, key.clone())) {
            Some(&i) => {
                let first = &mut out[i];
                first.occurrences += 1;
                first.frames.extend(f.frames);
                first.severity = first.severity.max(f.severity);
            }
            None => {
                index.insert((f.rule, key), out.len());
                out.push(f);
            }
        }
    }
    for f in &mut out {
        if f.occurrences > 1 {
            f.message.push_str(&format!(
                " The same happened {} more time(s) in this session; all frames are listed.",
                f.occurrences - 1
            ));
        }
    }
    out
}

/// A line quoted inside a message: escaped, capped at 160 bytes, and with
/// its backticks written `\x60`, so that the backticks around a quote
/// always delimit it (reports turn them into code spans).
pub(crate) fn q(b: &[u8]) -> String {
    crate::bytes::escape_short(b, 160).replace('`', "\\x60")
}

/// "octet 6", "field 3 (port)": how a field of an address line is named.
pub(crate) fn field_name(kind: crate::ftp::address::AddrKind, n: usize) -> String {
    use crate::ftp::address::AddrKind::*;
    match kind {
        Port | Pasv => format!("octet {n}"),
        Eprt | Epsv => match n {
            1 => "field 1 (protocol)".into(),
            2 => "field 2 (address)".into(),
            _ => "field 3 (port)".into(),
        },
        Lprt | Lpsv => format!("field {n}"),
    }
}
