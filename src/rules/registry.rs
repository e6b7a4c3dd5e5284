//! Every rule this tool reports, in one typed registry: its id (the name in
//! JSON and reports), what evidence it needs, the highest severity it is
//! reported with, and what it proves. `portmortem rules` prints it; the
//! README's rule table is checked against it by a test.

use super::Severity;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The captures a rule needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub enum Needs {
    #[serde(rename = "one capture")]
    OneCapture,
    #[serde(rename = "two captures")]
    TwoCaptures,
    /// Proven from one capture where a reply shows it, confirmed by two.
    #[serde(rename = "one or two captures")]
    Either,
}

impl Needs {
    pub fn name(self) -> &'static str {
        match self {
            Needs::OneCapture => "one capture",
            Needs::TwoCaptures => "two captures",
            Needs::Either => "one or two captures",
        }
    }
}

macro_rules! rules {
    ($( $variant:ident = $id:literal, $needs:ident, $sev:ident, $summary:literal; )*) => {
        /// A rule id.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, schemars::JsonSchema, Deserialize)]
        pub enum Rule {
            $( #[serde(rename = $id)] $variant, )*
        }

        impl Rule {
            /// Every rule, in the order of the documentation.
            pub const ALL: &'static [Rule] = &[ $( Rule::$variant, )* ];

            pub fn id(self) -> &'static str {
                match self { $( Rule::$variant => $id, )* }
            }

            pub fn needs(self) -> Needs {
                match self { $( Rule::$variant => Needs::$needs, )* }
            }

            /// The highest severity the rule is reported with (a finding
            /// may be lower where its evidence is weaker).
            pub fn severity(self) -> Severity {
                match self { $( Rule::$variant => Severity::$sev, )* }
            }

            /// Whether a finding of this rule is established by what has
            /// been seen, so `watch` can say it before the session ends:
            /// a server's reply quoting a damaged line, a data connection
            /// answered or refused at the wrong endpoint. Later packets
            /// may add cases to it (and, rarely, a better-matching data
            /// connection may revise it: `watch` then says so); the rules
            /// about silence, retransmissions or how the session ended
            /// wait for its end.
            pub fn final_when_seen(self) -> bool {
                matches!(
                    self,
                    Rule::PortEchoMismatch
                        | Rule::String227Mangled
                        | Rule::VerbRewritten
                        | Rule::PortSilentlyTruncated
                        | Rule::DataEndpointMismatch
                        | Rule::DataSourceIpMismatch
                )
            }

            /// Whether a finding of this rule rests on something the
            /// capture did not show (no reply, no acknowledgement, no
            /// data connection, a line missing at one tap): a capture that
            /// reports its own drops weakens it.
            pub fn argues_from_absence(self) -> bool {
                matches!(
                    self,
                    Rule::AlgDropSuspected
                        | Rule::SessionStallAfterCtl
                        | Rule::TlsAlgBlind
                        | Rule::TransferFailed
                        | Rule::CommandSwallowed
                        | Rule::ReplySwallowed
                        | Rule::CommandInjected
                        | Rule::ReplyInjected
                )
            }

            /// What a finding of this rule proves.
            pub fn summary(self) -> &'static str {
                match self { $( Rule::$variant => $summary, )* }
            }
        }
    };
}

rules! {
    PortEchoMismatch = "port-echo-mismatch", OneCapture, Error,
        "the server's reply quotes a command that differs from what the client sent (byte diff, fields, device signature)";
    PortSilentlyTruncated = "port-silently-truncated", OneCapture, Error,
        "the server accepted the PORT but connected to a port built from a truncated octet (`22_` read as 22), or says so in its 425";
    PortMangledReceived = "port-mangled-received", OneCapture, Warning,
        "a PORT/EPRT/LPRT with a non-numeric field or wrong field count reached this tap; what the server made of it; the client's own where the tap is next to it";
    String227Mangled = "string-227-mangled", Either, Error,
        "`227` became `22_` outside a PORT (file names, arguments), proven by the server's reply or by the other tap";
    VerbRewritten = "verb-rewritten", Either, Error,
        "the server received a different verb than the client sent (`PASV`→`P@SW`, SMC Barricade)";
    DataEndpointMismatch = "data-endpoint-mismatch", OneCapture, Error,
        "the data connection went elsewhere than announced, and why (control address used, NAT)";
    DataSourceIpMismatch = "data-source-ip-mismatch", OneCapture, Warning,
        "a passive data connection came from a different address than the control connection";
    PasvAddrDiffers = "pasv-addr-differs", OneCapture, Warning,
        "the 227/228 address is not the one the client reached the server at: a configured passive address, a NAT in front of the server, or a rewrite";
    PortAddrDiffers = "port-addr-differs", OneCapture, Warning,
        "the PORT/EPRT/LPRT address is not the one the client's control connection comes from: a NAT without an FTP helper, or a bounce";
    EprtFamilyMismatch = "eprt-family-mismatch", OneCapture, Warning,
        "EPRT names the other address family, or an unusual delimiter";
    PasvReplyUnparseableForAlg = "pasv-reply-unparseable-for-alg", OneCapture, Info,
        "a 227/229 some ALGs cannot parse (no numbers, no parentheses, trailing text)";
    CtlLineSplit = "ctl-line-split", OneCapture, Error,
        "a PORT/EPRT/227/229 line spans TCP segments (Linux conntrack drops it); error when retransmissions follow";
    CtlCmdNotAtSegmentStart = "ctl-cmd-not-at-segment-start", OneCapture, Warning,
        "an address line does not start its segment, so conntrack/libalias never parse it";
    CtlBadTerminator = "ctl-bad-terminator", OneCapture, Warning,
        "bare LF, bare CR, trailing blank after the numbers, or no line end";
    AlgDropSuspected = "alg-drop-suspected", Either, Error,
        "a control segment retransmitted again and again and never acknowledged (or never seen past the device) while everything before it was";
    SessionStallAfterCtl = "session-stall-after-ctl", OneCapture, Warning,
        "after a PORT/PASV the client went idle with no working data connection";
    CaptureLostSight = "capture-lost-sight", OneCapture, Info,
        "the capture stopped seeing a connection after a line (no ACK, no retransmission, no later packet, or bytes missing): what followed is unknown, not absent";
    SystMasked = "syst-masked", Either, Info,
        "the SYST reply is all `X`: Cisco ASA/PIX FTP inspection is in the path";
    MultilineReplyReset = "multiline-reply-reset", OneCapture, Warning,
        "the connection was reset in the middle of a multi-line reply";
    ReplyDesync = "reply-desync", OneCapture, Warning,
        "the server sent a line that is not a reply (an empty line, no three-digit code)";
    TlsAlgBlind = "tls-alg-blind", OneCapture, Warning,
        "the control channel is encrypted and data connections fail";
    TransferFailed = "transfer-failed", OneCapture, Error,
        "a transfer's data connection failed (425/426, a refused or unanswered SYN) and what the capture shows about why: an address a NAT did not translate, the server's own words, nothing visible; error only where two views prove the untranslated address";
    VsftpdBackdoor = "vsftpd-backdoor", OneCapture, Info,
        "a connection to port 6200 that no line announced, on a server whose banner is vsFTPd 2.3.4: the backdoored release's shell port (CVE-2011-2523)";
    TcpGap = "tcp-gap", OneCapture, Warning,
        "control-stream bytes a capture lacks, where they were, which line they cut, and who lost them: the tap (the receiver acknowledged them) or the path (the receiver's ACK stopped at them after later bytes arrived)";
    TcpOverlapConflict = "tcp-overlap-conflict", OneCapture, Warning,
        "two copies of the same stream bytes differ (both kept as evidence); their times and IP headers say whether the capture was edited or merged, or one packet was recorded twice";
    PortOctetMangled = "port-octet-mangled", TwoCaptures, Error,
        "a PORT/EPRT field changed between the taps in a way no NAT mapping explains (227→22_)";
    PasvReplyMangled = "pasv-reply-mangled", TwoCaptures, Error,
        "a 227/229 field changed between the taps in a way no NAT mapping explains";
    AlgRewrite = "alg-rewrite", TwoCaptures, Info,
        "an ALG rewrote an address line consistently with the NAT mapping, and the data connection followed it";
    AlgRewriteInconsistent = "alg-rewrite-inconsistent", TwoCaptures, Error,
        "an ALG rewrote an address line, but not to the NAT address, or the data connection did not follow it";
    AlgNotTranslated = "alg-not-translated", TwoCaptures, Warning,
        "an address line crossed a NAT unchanged: it still names the sender's address from the other side of the NAT";
    SeqOffsetStep = "seq-offset-step", TwoCaptures, Error,
        "the TCP sequence offset between the taps changed; info when a line's length change explains it";
    LineModified = "line-modified", TwoCaptures, Warning,
        "a line changed between the taps in a way no other rule names";
    CommandSwallowed = "command-swallowed", TwoCaptures, Error,
        "a command never reached the server-side tap, and that tap's sequence numbers run on without it";
    ReplySwallowed = "reply-swallowed", TwoCaptures, Error,
        "a reply never reached the client-side tap, and that tap's sequence numbers run on without it";
    CommandInjected = "command-injected", TwoCaptures, Warning,
        "the server received a command the client never sent, in a sequence space with no room for it at the client-side tap";
    ReplyInjected = "reply-injected", TwoCaptures, Error,
        "the client received a reply the server never sent, in a sequence space with no room for it at the server-side tap";
    ModeConverted = "mode-converted", TwoCaptures, Warning,
        "the device converted passive mode to active or back (PASV at one tap, PORT at the other)";
    CaptureLoss = "capture-loss", TwoCaptures, Info,
        "a line is missing from one capture because that tap missed it (the receiver acknowledged its bytes): not the path's doing";
    SeenAtOneTap = "seen-at-one-tap", TwoCaptures, Info,
        "a line is missing from one capture and neither capture shows whether the tap missed it or the path removed or added it";
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// One row of `portmortem rules --format json`.
#[derive(Serialize, schemars::JsonSchema)]
pub struct RuleRow {
    /// The rule's id.
    pub id: Rule,
    /// What it needs: one capture, two captures, or either.
    pub evidence: Needs,
    /// The highest severity it is reported with.
    pub severity: Severity,
    /// What it proves, in one line.
    pub summary: &'static str,
}

/// The registry as rows.
pub fn rows() -> Vec<RuleRow> {
    Rule::ALL
        .iter()
        .map(|&r| RuleRow {
            id: r,
            evidence: r.needs(),
            severity: r.severity(),
            summary: r.summary(),
        })
        .collect()
}

/// The registry as the README's Markdown table.
pub fn markdown_table() -> String {
    let mut s = String::from(
        "| rule | evidence | highest severity | what it proves |\n|---|---|---|---|\n",
    );
    for r in Rule::ALL {
        s.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            r.id(),
            r.needs().name(),
            r.severity().name(),
            r.summary()
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for r in Rule::ALL {
            assert!(seen.insert(r.id()), "{} twice", r.id());
            let json = serde_json::to_string(r).unwrap();
            assert_eq!(json, format!("\"{}\"", r.id()));
            assert_eq!(serde_json::from_str::<Rule>(&json).unwrap(), *r);
        }
    }
}
