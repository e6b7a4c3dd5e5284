//! Who did what a finding reports, and what proves it.
//!
//! A firewall team reads a finding for *who*: the client, the server, the
//! path between two views (a device or the network), the capture itself
//! (the tap), or nobody the evidence can name. A device may be blamed only
//! on a difference between two views of the same bytes — two taps, two
//! legs of one capture, a line as sent and the server's echo of it, an
//! endpoint announced and the one connected, a sender's sequence numbers
//! or a receiver's ACKs against the bytes seen. A line that leaves its
//! sender already malformed is the sender's.
//!
//! The severity a finding may carry follows from these two fields
//! ([`ceiling`]), and a device signature is named only on a proof that
//! compares two views ([`ProofKind::compares_two_views`]): both are
//! enforced in one place, [`super::Finding::settle`], for every finding.

use super::Severity;
use crate::ftp::session::Session;
use crate::reassembly::connection::Side;
use serde::{Deserialize, Serialize};

/// Who changed, dropped or broke what a finding reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Actor {
    /// The client: a line as it left the client, its choice of endpoint,
    /// its reaction.
    Client,
    /// The server: its replies, how its parser read a line, where it
    /// connected.
    Server,
    /// The path between two views of the same bytes: a device (firewall,
    /// ALG, proxy) or the network between them.
    Path,
    /// The capture: bytes the tap did not record, copies it holds twice,
    /// an edited file. Not the network's doing.
    Capture,
    /// The evidence does not tell who; the proof names the candidates.
    Unknown,
}

impl Actor {
    /// The id used in JSON and CSV.
    pub fn name(self) -> &'static str {
        match self {
            Actor::Client => "client",
            Actor::Server => "server",
            Actor::Path => "path",
            Actor::Capture => "capture",
            Actor::Unknown => "unknown",
        }
    }

    /// The sender of a line in direction `dir`.
    pub fn sender(dir: Side) -> Actor {
        match dir {
            Side::Client => Actor::Client,
            Side::Server => Actor::Server,
        }
    }
}

/// What a finding's verdict rests on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ProofKind {
    /// The same bytes seen at two taps (`compare`).
    TwoTaps,
    /// The same bytes seen on two legs (interfaces, VLANs, inspection
    /// points) of one capture.
    TwoLegs,
    /// The line as this tap saw it against the server's reply quoting it.
    Echo,
    /// The endpoint a line announced against the endpoint the data
    /// connection went to (or the one the server names in its reply).
    Endpoint,
    /// A sender's sequence numbers or a receiver's ACKs against the bytes
    /// this tap saw.
    Acks,
    /// The line as it left its sender: the tap is next to the sender (its
    /// packets carry an initial TTL / hop limit), or two taps show it the
    /// same.
    AtSender,
    /// A party's own reply says what happened (a 425 naming the port it
    /// tried, a 500 refusing a line).
    Reply,
    /// One view only: what the finding states is this capture's reading
    /// of the bytes, not a proven difference.
    OneView,
}

impl ProofKind {
    pub fn name(self) -> &'static str {
        match self {
            ProofKind::TwoTaps => "two-taps",
            ProofKind::TwoLegs => "two-legs",
            ProofKind::Echo => "echo",
            ProofKind::Endpoint => "endpoint",
            ProofKind::Acks => "acks",
            ProofKind::AtSender => "at-sender",
            ProofKind::Reply => "reply",
            ProofKind::OneView => "one-view",
        }
    }

    /// Whether the proof is a difference between two views of the same
    /// bytes: the only ground on which the path (and a device by its
    /// signature) may be blamed.
    pub fn compares_two_views(self) -> bool {
        matches!(
            self,
            ProofKind::TwoTaps
                | ProofKind::TwoLegs
                | ProofKind::Echo
                | ProofKind::Endpoint
                | ProofKind::Acks
        )
    }
}

/// What proves a finding: the kind of evidence and, in words with frame
/// numbers, the views it compares.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Proof {
    pub kind: ProofKind,
    /// The views compared (or the one view read), with their frames.
    pub text: String,
}

impl Proof {
    pub fn new(kind: ProofKind, text: impl Into<String>) -> Self {
        Proof {
            kind,
            text: text.into(),
        }
    }
}

/// The highest severity a finding by `actor` on a proof of `kind` may
/// carry: an error only where the path is proven, by a difference between
/// two views, to have changed or dropped something. Whatever else a
/// capture shows (a sender's malformed line, a server's refusal, a
/// reading of one view) is at most a warning.
pub fn ceiling(actor: Actor, kind: ProofKind) -> Severity {
    if actor == Actor::Path && kind.compares_two_views() {
        Severity::Error
    } else {
        Severity::Warning
    }
}

/// TTL / hop-limit values hosts start with (Linux and most Unix 64,
/// Windows 128, network gear and Solaris 255): a packet still carrying one
/// has crossed no router since it left its sender.
pub fn is_initial_ttl(ttl: u8) -> bool {
    matches!(ttl, 64 | 128 | 255)
}

/// Where a capture's tap stood, relative to the two ends of a connection,
/// as the TTL of each end's packets at the tap shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TapPosition {
    /// The first packet's TTL from the client and from the server.
    pub ttl: [Option<u8>; 2],
}

impl TapPosition {
    pub fn new(ttl: [Option<u8>; 2]) -> Self {
        TapPosition { ttl }
    }

    /// Whether no router lies between `side`'s host and the tap (its
    /// packets carry an initial TTL), if the capture saw its packets.
    pub fn next_to(self, side: Side) -> Option<bool> {
        self.ttl[side.index()].map(is_initial_ttl)
    }

    /// Whether the tap is next to `side` and not next to the other end:
    /// the capture is that side's view.
    pub fn on_side_of(self, side: Side) -> bool {
        self.next_to(side) == Some(true) && self.next_to(side.other()) == Some(false)
    }

    /// How the position was inferred, for `side`'s host: "the client's
    /// packets carry TTL 64 at this tap, an initial value: no router lies
    /// between the client and the tap".
    pub fn how(self, side: Side) -> Option<String> {
        let who = match side {
            Side::Client => "client",
            Side::Server => "server",
        };
        let ttl = self.ttl[side.index()]?;
        Some(if is_initial_ttl(ttl) {
            format!(
                "the {who}'s packets carry TTL {ttl} at this tap, an initial value: no router lies between the {who} and the tap"
            )
        } else {
            format!(
                "the {who}'s packets carry TTL {ttl} at this tap, not an initial value (64, 128, 255): they crossed at least one router before it"
            )
        })
    }
}

/// Who shaped a line as this tap saw it: its sender, where the tap is next
/// to the sender (its packets carry an initial TTL); otherwise this one
/// view cannot tell the sender from a device between it and the tap.
pub fn line_origin(s: &Session, dir: Side) -> (Actor, ProofKind, String) {
    let tap = TapPosition::new(s.ttl);
    let who = match dir {
        Side::Client => "client",
        Side::Server => "server",
    };
    match (tap.next_to(dir), tap.how(dir)) {
        (Some(true), Some(how)) => (
            Actor::sender(dir),
            ProofKind::AtSender,
            format!("the line as it left the {who}: {how}"),
        ),
        (_, how) => (
            Actor::Unknown,
            ProofKind::OneView,
            format!(
                "this tap's view of the line only{}; whether the {who} sent it so or a device between the {who} and this tap changed it, a capture next to the {who} tells",
                how.map(|h| format!(" ({h})")).unwrap_or_default()
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_path_on_two_views_is_an_error() {
        for kind in [
            ProofKind::TwoTaps,
            ProofKind::TwoLegs,
            ProofKind::Echo,
            ProofKind::Endpoint,
            ProofKind::Acks,
        ] {
            assert_eq!(ceiling(Actor::Path, kind), Severity::Error, "{kind:?}");
            assert_eq!(ceiling(Actor::Client, kind), Severity::Warning);
        }
        for kind in [ProofKind::AtSender, ProofKind::Reply, ProofKind::OneView] {
            assert_eq!(ceiling(Actor::Path, kind), Severity::Warning, "{kind:?}");
        }
        for a in [Actor::Server, Actor::Capture, Actor::Unknown] {
            assert_eq!(ceiling(a, ProofKind::TwoTaps), Severity::Warning);
        }
    }

    #[test]
    fn tap_position_from_ttl() {
        let client_side = TapPosition::new([Some(64), Some(63)]);
        assert!(client_side.on_side_of(Side::Client));
        assert!(!client_side.on_side_of(Side::Server));
        assert!(client_side.how(Side::Client).unwrap().contains("no router"));
        assert!(
            client_side
                .how(Side::Server)
                .unwrap()
                .contains("at least one router")
        );
        let server_side = TapPosition::new([Some(118), Some(255)]);
        assert!(server_side.on_side_of(Side::Server));
        // Loopback or one LAN: next to both, the side of neither.
        let both = TapPosition::new([Some(64), Some(128)]);
        assert!(!both.on_side_of(Side::Client) && !both.on_side_of(Side::Server));
        assert_eq!(
            TapPosition::new([None, Some(64)]).next_to(Side::Client),
            None
        );
    }
}
