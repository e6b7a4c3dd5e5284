//! What the capture could see. A rule that argues from absence (no reply,
//! idle, no data connection) first asks here whether the capture was
//! watching the connection after the line in question: a tap drops
//! packets, often several at once, and a capture that went blind shows the
//! same silence as a session that stalled.
//!
//! A live TCP receiver acknowledges data within the delayed-ACK bound
//! (RFC 9293 §3.8.6.3: at most 0.5 s), and a sender retransmits data that
//! is not acknowledged (RFC 6298: after 1 s at first). So the capture saw
//! what followed a line when it holds the peer's ACK of it, a
//! retransmission of it, or any later packet of the connection past the
//! delayed-ACK bound. When none of these is there, and no bytes after the
//! line are known to be missing, the capture lost sight of the connection
//! at that line; and bytes never captured after it (a gap) mean it missed
//! what was said next.

use crate::ftp::line::Line;
use crate::ftp::session::Session;
use crate::reassembly::connection::Side;

/// The delayed-ACK bound of RFC 9293 §3.8.6.3, in nanoseconds.
const DELAYED_ACK_NS: i64 = 500_000_000;

/// Whether the capture watched a connection after one of its lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sight {
    /// The capture saw the connection react to the line: `how` says what.
    Watching { how: &'static str },
    /// The capture stopped seeing the connection at `frame`: `why` names
    /// what was and was not observed.
    Lost { frame: u64, why: String },
}

/// Whether the capture saw what followed `line`, sent by `side`: its
/// acknowledgement or retransmission, or later packets of the connection;
/// and captured every byte either side sent after it.
pub fn after(s: &Session, side: Side, line: &Line) -> Sight {
    let end = line.offset + line.raw_len;
    let frame = line.last_frame();
    // A hole in the sender's stream after the line, or a hole in the
    // peer's stream made certain after it: something said then is missing.
    let sender = s.tcp[side.index()].gaps.iter().filter(|g| g.offset >= end);
    let peer = s.tcp[side.other().index()]
        .gaps
        .iter()
        .filter(|g| g.declared_at_frame > frame);
    if let Some(g) = sender.chain(peer).min_by_key(|g| g.declared_at_frame) {
        return Sight::Lost {
            frame: g.declared_at_frame,
            why: format!(
                "{} byte(s) sent after it were never captured ({})",
                g.len,
                g.reason.describe()
            ),
        };
    }
    let dir = &s.tcp[side.index()];
    if dir.peer_acked.is_some_and(|a| a >= end) {
        return Sight::Watching {
            how: "its acknowledgement was captured",
        };
    }
    if dir
        .retransmissions
        .iter()
        .any(|r| r.offset < end && r.offset + r.len > line.offset)
    {
        return Sight::Watching {
            how: "its retransmissions were captured",
        };
    }
    if s.last_frame > frame && s.last_seen.0 - line.last_ts().0 >= DELAYED_ACK_NS {
        return Sight::Watching {
            how: "later packets of the connection were captured",
        };
    }
    Sight::Lost {
        frame,
        why: format!(
            "the capture holds no acknowledgement of it, no retransmission and no packet of the connection more than 0.5 s after it (the connection's last captured frame is {})",
            s.last_frame
        ),
    }
}

/// Findings that argue from absence, in a capture whose own statistics
/// (pcapng ISBs, read at its end) report `dropped` packets, say so: what
/// the capture shows missing may be what it dropped.
pub fn note_reported_drops(findings: &mut [crate::rules::Finding], dropped: u64) {
    if dropped == 0 {
        return;
    }
    for f in findings
        .iter_mut()
        .filter(|f| f.rule.argues_from_absence() && !proven_absence(f.actor, f.proof.kind))
    {
        let end = f.message.trim_end_matches('.').len();
        f.message.truncate(end);
        f.message.push_str(&format!(
            "; the capture's own statistics report {dropped} packet{} dropped, so what it shows missing may be what it dropped.",
            if dropped == 1 { "" } else { "s" }
        ));
    }
}

/// Whether a finding's absence is proven by sequence numbers or ACKs (a
/// server that sent no byte between two lines, a receiver whose ACK
/// stopped at a hole) rather than by packets not being in the file: a
/// dropped packet cannot fake that, so the capture's own drop count does
/// not weaken it. A finding about the capture's own loss is not one.
fn proven_absence(actor: crate::rules::Actor, proof: crate::rules::ProofKind) -> bool {
    proof == crate::rules::ProofKind::Acks && actor != crate::rules::Actor::Capture
}

#[cfg(test)]
mod tests {
    use super::proven_absence;
    use crate::rules::{Actor, ProofKind};

    #[test]
    fn only_sequence_proof_of_another_than_the_capture_is_proven_absence() {
        assert!(proven_absence(Actor::Server, ProofKind::Acks));
        assert!(proven_absence(Actor::Path, ProofKind::Acks));
        assert!(!proven_absence(Actor::Capture, ProofKind::Acks));
        assert!(!proven_absence(Actor::Unknown, ProofKind::OneView));
        assert!(!proven_absence(Actor::Path, ProofKind::Endpoint));
    }
}
