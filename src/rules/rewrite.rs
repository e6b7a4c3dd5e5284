//! What happened to one line between where it was sent and where it
//! arrived: the one classifier behind `compare` (a line at two taps) and
//! `probe` (a line the probe wrote and the bytes the reflector or the
//! server's echo says arrived), so the two cannot disagree about the same
//! damage (docs/middleboxes.md).

use crate::diff::{ByteDiff, diff};
use crate::ftp::address::{self, AddrArg, AddrKind, Endpoint};
use crate::ftp::message::{reply_head, verb_of};
use crate::reassembly::connection::Side;
use crate::rules::signatures::{self, ASA_SYST_MASK, CHECKPOINT_227, SMC_P_AT_SW, Signature};
use crate::rules::{Rule, Severity, field_name, q};
use std::net::IpAddr;

/// A line that did not arrive as it was sent.
#[derive(Clone, Debug)]
pub struct Change {
    pub rule: Rule,
    pub severity: Severity,
    pub diff: ByteDiff,
    pub signature: Option<&'static Signature>,
    pub what: What,
}

/// The kind of change, with the facts each kind is described by.
#[derive(Clone, Debug)]
pub enum What {
    /// A command's verb changed (SMC's `PASV`→`P@SW`).
    Verb,
    /// The digit string 227 became 22_ outside an address argument.
    String227 { sites: usize },
    /// A SYST reply's text replaced by X (Cisco ASA mask-syst-reply).
    SystMasked,
    /// Something else changed.
    Other,
    /// An address argument changed.
    Address(AddressChange),
}

/// An address argument that changed, read at both ends.
#[derive(Clone, Debug)]
pub struct AddressChange {
    pub kind: AddrKind,
    /// The changed numeric fields, e.g. "octet 6 `227`→`22_`".
    pub fields: String,
    pub sent: Option<Endpoint>,
    pub received: Option<Endpoint>,
    /// What a lenient (sscanf/atoi) server makes of what arrived.
    pub lenient: Option<Endpoint>,
    /// Offsets of the 227→22_ substitutions (empty when it is not that).
    pub sites: Vec<usize>,
    /// The address became the other NAT address, or stayed, and nothing
    /// arrived corrupt: what a NAT ALG does.
    pub nat_consistent: bool,
    /// How an ALG rewrote it: the numbers only, or the whole line.
    pub style: &'static str,
}

/// An address argument in a command (client side) or reply (server side).
pub fn parse_address(dir: Side, text: &[u8]) -> Option<AddrArg> {
    match dir {
        Side::Client => address::parse_command(&verb_of(text)?, text),
        Side::Server => address::parse_reply(reply_head(text)?.code, text),
    }
}

/// Classifies `sent` → `received` (a line sent by `dir`). `nat` is the
/// address the line's sender has on the sending side and on the receiving
/// side of the device (equal when there is no NAT). None when identical.
pub fn classify(dir: Side, sent: &[u8], received: &[u8], nat: (IpAddr, IpAddr)) -> Option<Change> {
    if sent == received {
        return None;
    }
    let d = diff(sent, received);
    if let (Some(pa), Some(pb)) = (parse_address(dir, sent), parse_address(dir, received)) {
        return Some(address_change(sent, received, pa, pb, nat, d));
    }
    let sites = signatures::checkpoint_227_sites(sent, received);
    let verbs = match dir {
        Side::Client => (verb_of(sent), verb_of(received)),
        Side::Server => (None, None),
    };
    let (rule, severity, what, signature) = if let (Some(va), Some(vb)) = &verbs
        && va != vb
    {
        let smc = va == "PASV" && vb == "P@SW";
        (
            Rule::VerbRewritten,
            Severity::Error,
            What::Verb,
            smc.then_some(&SMC_P_AT_SW),
        )
    } else if !sites.is_empty() {
        (
            Rule::String227Mangled,
            Severity::Error,
            What::String227 { sites: sites.len() },
            Some(&CHECKPOINT_227),
        )
    } else if dir == Side::Server
        && reply_head(sent).is_some_and(|h| h.code == 215)
        && received.len() > 4
        && received[4..].iter().all(|&c| c == b'X')
    {
        (
            Rule::SystMasked,
            Severity::Info,
            What::SystMasked,
            Some(&ASA_SYST_MASK),
        )
    } else {
        (Rule::LineModified, Severity::Warning, What::Other, None)
    };
    Some(Change {
        rule,
        severity,
        diff: d,
        signature,
        what,
    })
}

fn address_change(
    a: &[u8],
    b: &[u8],
    pa: AddrArg,
    pb: AddrArg,
    (orig_ip, nat_ip): (IpAddr, IpAddr),
    d: ByteDiff,
) -> Change {
    let kind = pa.kind;
    let sent = pa.strict.or(pa.lenient);
    let received = pb.strict.or(pb.lenient);
    let sites = signatures::checkpoint_227_sites(a, b);
    let fields = pa
        .fields
        .iter()
        .zip(&pb.fields)
        .enumerate()
        .filter(|(_, (x, y))| x.text != y.text)
        .map(|(n, (x, y))| {
            format!(
                "{} `{}`→`{}`",
                field_name(kind, n + 1),
                q(&x.text.0),
                q(&y.text.0)
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let unspecified = |e: Option<Endpoint>| e.is_some_and(|e| e.ip.is_unspecified());
    // Without a NAT between the two views (the sender's address the same
    // on both sides) there is no mapping for a rewrite to be consistent
    // with: an identity mapping (X → X) explains nothing.
    let natted = orig_ip != nat_ip;
    let nat_consistent = natted
        && !pb.is_corrupt()
        && sites.is_empty()
        && match (sent, received) {
            (Some(x), Some(y)) => {
                (x.ip == y.ip
                    || (x.ip == orig_ip && y.ip == nat_ip)
                    || unspecified(sent) && unspecified(received))
                    && (x.ip != y.ip || x.port != y.port)
            }
            _ => false,
        };
    let style = if outside_numbers(a, &pa) == outside_numbers(b, &pb) {
        "numbers only (netfilter, ASA, IPVS style)"
    } else {
        "whole line regenerated (libalias, ftp-proxy style)"
    };
    let mangled = !sites.is_empty() || (!nat_consistent && d.same_length);
    let (rule, severity) = if mangled && kind.is_active() {
        (Rule::PortOctetMangled, Severity::Error)
    } else if mangled {
        (Rule::PasvReplyMangled, Severity::Error)
    } else if nat_consistent {
        (Rule::AlgRewrite, Severity::Info)
    } else {
        (Rule::AlgRewriteInconsistent, Severity::Error)
    };
    Change {
        rule,
        severity,
        diff: d,
        signature: (!sites.is_empty()).then_some(&CHECKPOINT_227),
        what: What::Address(AddressChange {
            kind,
            fields,
            sent,
            received,
            lenient: pb.lenient,
            sites,
            nat_consistent,
            style,
        }),
    }
}

/// The endpoint of an address line that crossed a NAT unchanged: it
/// still names `nat.0`, the sender's address on its own side, although
/// across the NAT that host is `nat.1`. None without a NAT in between, or
/// for a line naming another address (or none, as a 229 does).
pub fn untranslated(dir: Side, line: &[u8], nat: (IpAddr, IpAddr)) -> Option<Endpoint> {
    if nat.0 == nat.1 {
        return None;
    }
    parse_address(dir, line)?
        .strict
        .filter(|e| e.ip == nat.0 && !e.ip.is_unspecified())
}

/// What a change is called where a probe reports it (a case, a hop):
/// rule, severity, byte diff, signature and the changed address fields.
pub type Named = (
    Option<Rule>,
    Option<Severity>,
    Option<String>,
    Option<&'static str>,
    Option<String>,
);

impl Change {
    pub fn named(&self) -> Named {
        let fields = match &self.what {
            What::Address(ac) => Some(ac.fields.clone()),
            _ => None,
        };
        (
            Some(self.rule),
            Some(self.severity),
            Some(self.diff.describe()),
            self.signature.map(|s| s.id),
            fields,
        )
    }

    /// An in-place mangling (not a NAT rewrite) of an address argument.
    pub fn is_mangling(&self) -> bool {
        matches!(self.rule, Rule::PortOctetMangled | Rule::PasvReplyMangled)
    }
}

/// The text of a line outside its numeric fields (to tell a numbers-only
/// rewrite from a regenerated line).
fn outside_numbers(text: &[u8], arg: &AddrArg) -> Vec<u8> {
    let (Some(first), Some(last)) = (arg.fields.first(), arg.fields.last()) else {
        return text.to_vec();
    };
    let end = (last.offset + last.text.0.len()).min(text.len());
    let mut v = text[..first.offset.min(text.len())].to_vec();
    v.extend_from_slice(&text[end..]);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONE: (IpAddr, IpAddr) = (
        IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1)),
        IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1)),
    );

    #[test]
    fn the_founding_rewrite_is_a_port_octet_mangling() {
        let c = classify(
            Side::Client,
            b"PORT 10,225,1,89,124,227",
            b"PORT 10,225,1,89,124,22_",
            NONE,
        )
        .unwrap();
        assert_eq!(c.rule, Rule::PortOctetMangled);
        assert_eq!(c.signature, Some(&CHECKPOINT_227));
        let What::Address(a) = c.what else { panic!() };
        assert_eq!(a.fields, "octet 6 `227`→`22_`");
        assert_eq!(a.lenient.unwrap().port, 124 * 256 + 22);
    }

    #[test]
    fn a_nat_rewrite_to_the_mapped_address_is_consistent() {
        let nat = (
            "198.51.100.60".parse().unwrap(),
            "203.0.113.1".parse().unwrap(),
        );
        let c = classify(
            Side::Client,
            b"PORT 198,51,100,60,156,64",
            b"PORT 203,0,113,1,156,64",
            nat,
        )
        .unwrap();
        assert_eq!(c.rule, Rule::AlgRewrite);
        let What::Address(a) = c.what else { panic!() };
        assert!(a.nat_consistent);
        assert_eq!(a.style, "numbers only (netfilter, ASA, IPVS style)");
    }

    #[test]
    fn an_address_line_naming_the_pre_nat_address_is_untranslated() {
        let nat = (
            "198.51.100.60".parse().unwrap(),
            "203.0.113.1".parse().unwrap(),
        );
        let p = b"PORT 198,51,100,60,4,1";
        assert_eq!(untranslated(Side::Client, p, nat).unwrap().port, 1025);
        assert!(untranslated(Side::Client, b"PORT 203,0,113,1,4,1", nat).is_none());
        assert!(untranslated(Side::Client, p, (nat.0, nat.0)).is_none());
        let e = b"229 Entering Extended Passive Mode (|||4097|)";
        assert!(untranslated(Side::Server, e, ("0.0.0.0".parse().unwrap(), nat.1)).is_none());
    }

    #[test]
    fn file_names_verbs_and_identity() {
        let c = classify(Side::Client, b"SIZE F227.BIN", b"SIZE F22_.BIN", NONE).unwrap();
        assert_eq!(c.rule, Rule::String227Mangled);
        let c = classify(Side::Client, b"PASV", b"P@SW", NONE).unwrap();
        assert_eq!(
            (c.rule, c.signature),
            (Rule::VerbRewritten, Some(&SMC_P_AT_SW))
        );
        assert!(classify(Side::Client, b"NOOP", b"NOOP", NONE).is_none());
        let c = classify(Side::Client, b"NOOP", b"NOOQ", NONE).unwrap();
        assert_eq!(c.rule, Rule::VerbRewritten);
        let c = classify(Side::Client, b"CWD a", b"CWD b", NONE).unwrap();
        assert_eq!(c.rule, Rule::LineModified);
    }

    #[test]
    fn numbers_only_versus_regenerated() {
        let a = b"227 Entering Passive Mode (10,0,0,1,4,1).";
        let b = b"227 Entering Passive Mode (203,0,113,1,4,1).";
        let c = b"227 Entering Passive Mode (203,0,113,1,4,1)";
        let pa = address::parse_227(a);
        assert_eq!(
            outside_numbers(a, &pa),
            outside_numbers(b, &address::parse_227(b))
        );
        assert_ne!(
            outside_numbers(a, &pa),
            outside_numbers(c, &address::parse_227(c))
        );
        let p = address::parse_port(b"PORT 1,2,3,4,5,6");
        assert_eq!(outside_numbers(b"PORT 1,2,3,4,5,6", &p), b"PORT ");
    }
}
