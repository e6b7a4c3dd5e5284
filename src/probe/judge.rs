//! What came back, judged: the line as it arrived against the line as
//! sent, named by the classifier, NAT translation told from damage.

use super::result::{Case, Evidence, Outcome};
use super::shape::Shape;
use super::wire::Silence;
use crate::escape::Bytes;
use crate::reassembly::connection::Side;
use crate::rules::rewrite;
use crate::rules::signatures::{self, LINUX_CONNTRACK_PARTIAL};
use crate::rules::{Rule, Severity};
use std::net::IpAddr;

/// A case whose line got no reply.
pub(super) fn silence(mut case: Case, s: Silence, shape: Shape) -> Case {
    case.evidence = Evidence::Silence;
    case.severity = Some(Severity::Error);
    match s {
        Silence::Timeout => {
            case.outcome = Outcome::Dropped;
            case.rule = Some(Rule::AlgDropSuspected);
            let mut note = "no reply: dropped on the way, or the server hangs".to_string();
            if matches!(shape, Shape::Split | Shape::BareLf) {
                note.push_str(&format!(
                    "; the {} drops a PORT it can only partly parse",
                    LINUX_CONNTRACK_PARTIAL.device
                ));
                case.signature = Some(LINUX_CONNTRACK_PARTIAL.id);
            }
            case.note = Some(note);
        }
        Silence::Closed | Silence::Reset => {
            case.outcome = Outcome::Reset;
            case.note = Some(format!(
                "the control connection was {} after this line",
                if s == Silence::Closed {
                    "closed"
                } else {
                    "reset"
                }
            ));
        }
    }
    case
}

/// Sets a case's outcome from what arrived (when the far end says) and,
/// for active cases, where the server connected.
#[allow(clippy::too_many_arguments)]
pub(super) fn judge(
    case: &mut Case,
    dir: Side,
    sent: &[u8],
    arrived: Option<Vec<u8>>,
    evidence: Evidence,
    nat: (IpAddr, IpAddr),
    code: u16,
    connected: Option<(u16, u16)>,
    listening: bool,
) {
    case.evidence = evidence;
    if let Some(a) = arrived {
        let a = as_arrived(evidence, sent, a);
        case.arrived = Some(Bytes(a.clone()));
        match rewrite::classify(dir, sent, &a, nat) {
            None if rewrite::untranslated(dir, sent, nat).is_some() => {
                case.outcome = Outcome::NotTranslated;
                case.rule = Some(Rule::AlgNotTranslated);
                case.severity = Some(Severity::Warning);
                case.note = Some(format!(
                    "the line arrived still naming {}, although across the NAT that host is {}: the ALG did not rewrite it, so the receiver is sent to an address it cannot reach through the NAT",
                    nat.0, nat.1
                ));
            }
            None => case.outcome = Outcome::Intact,
            Some(ch) => {
                case.outcome = Outcome::Rewritten;
                (
                    case.rule,
                    case.severity,
                    case.diff,
                    case.signature,
                    case.fields,
                ) = ch.named();
            }
        }
        return;
    }
    match connected {
        Some((got, want)) if got == want => {
            case.outcome = Outcome::Intact;
            case.evidence = Evidence::DataConnection;
        }
        Some((got, want)) => {
            case.outcome = Outcome::Rewritten;
            case.evidence = Evidence::DataConnection;
            case.severity = Some(Severity::Error);
            case.rule = Some(Rule::PortOctetMangled);
            // Which rewrite makes a lenient server connect there?
            // Read as sscanf-style servers and as vsftpd (per field) do.
            let known = signatures::apply_227_rewrite(sent).filter(|m| {
                let lenient = rewrite::parse_address(dir, m).and_then(|a| a.lenient);
                let per_field = m
                    .strip_prefix(b"PORT ")
                    .and_then(crate::ftp::address::per_field_port);
                [lenient, per_field]
                    .iter()
                    .any(|e| e.is_some_and(|e| e.port == got))
            });
            case.note = Some(format!(
                "the server connected to port {got}, not {want}: it read a different line than was sent{}",
                if known.is_some() {
                    "; exactly where a lenient server connects when 227 becomes 22_ (inferred, not seen)"
                } else {
                    ""
                }
            ));
            if let Some(m) = known {
                case.signature = Some(signatures::CHECKPOINT_227.id);
                case.diff = Some(crate::diff::diff(sent, &m).describe());
            }
        }
        None if code / 100 == 2 && listening => {
            case.outcome = Outcome::NotEvident;
            case.severity = Some(Severity::Warning);
            case.note.get_or_insert_with(|| {
                "the server accepted the line but no data connection reached the probe".into()
            });
        }
        None if code / 100 == 2 => {
            case.outcome = Outcome::NotEvident;
            case.note.get_or_insert_with(|| {
                "the probe could not listen on this port (in use, or below 1024), so where the server connected is unknown".into()
            });
        }
        None => {
            case.outcome = Outcome::Rejected;
        }
    }
}

/// What arrived, as compared with what was sent: servers may upper-case
/// what they quote, which is no change of the path's.
pub(super) fn as_arrived(evidence: Evidence, sent: &[u8], arrived: Vec<u8>) -> Vec<u8> {
    if evidence == Evidence::ServerEcho && arrived.eq_ignore_ascii_case(sent) {
        sent.to_vec()
    } else {
        arrived
    }
}

/// `portmortem-…​.probe` as quoted in a reply, whatever happened inside.
pub(super) fn quoted_name(reply: &[u8]) -> Option<Vec<u8>> {
    let start = reply.windows(11).position(|w| w == b"portmortem-")?;
    let end = reply[start..].windows(6).position(|w| w == b".probe")? + start + 6;
    Some(reply[start..end].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::result::Family;

    fn judged(dir: Side, sent: &[u8], arrived: &[u8], nat: (&str, &str)) -> Case {
        let mut c = Case::new(Family::Shapes, "t".into(), None, sent);
        let nat = (nat.0.parse().unwrap(), nat.1.parse().unwrap());
        judge(
            &mut c,
            dir,
            sent,
            Some(arrived.to_vec()),
            Evidence::Reflector,
            nat,
            200,
            None,
            false,
        );
        c
    }

    #[test]
    fn an_address_line_that_crosses_nat_unchanged_was_not_translated() {
        let nat = ("198.51.100.60", "203.0.113.1");
        let p = b"PORT 198,51,100,60,4,1";
        assert_eq!(
            judged(Side::Client, p, p, nat).outcome,
            Outcome::NotTranslated
        );
        let c = judged(Side::Client, p, b"PORT 203,0,113,1,4,1", nat);
        assert_eq!(
            (c.outcome, c.rule),
            (Outcome::Rewritten, Some(Rule::AlgRewrite))
        );
        assert!(!c.is_damage());
        // Without NAT, or for a 229 (no address), unchanged is intact.
        let same = ("198.51.100.60", "198.51.100.60");
        assert_eq!(judged(Side::Client, p, p, same).outcome, Outcome::Intact);
        let e = b"229 Entering Extended Passive Mode (|||4097|)";
        assert_eq!(
            judged(Side::Server, e, e, ("0.0.0.0", "203.0.113.10")).outcome,
            Outcome::Intact
        );
    }

    #[test]
    fn shapes_write_the_bytes_they_name() {
        let l = b"PORT 1,2,3,4,5,6";
        assert_eq!(Shape::Lowercase.apply(l), b"port 1,2,3,4,5,6\r\n");
        assert_eq!(Shape::BareLf.apply(l), b"PORT 1,2,3,4,5,6\n");
        assert_eq!(Shape::Pipelined.apply(l), b"NOOP\r\nPORT 1,2,3,4,5,6\r\n");
        let s = Shape::Split.apply(l);
        assert_eq!(Shape::Split.parts(&s).concat(), s);
        assert_eq!(Shape::Split.parts(&s).len(), 2);
        assert_eq!(
            quoted_name(b"550 portmortem-22_.probe: No such file"),
            Some(b"portmortem-22_.probe".to_vec())
        );
        assert_eq!(quoted_name(b"550 Could not get file size."), None);
    }
}
