//! Known signatures of in-path devices (docs/middleboxes.md).
//!
//! A signature is named only when the bytes match what a public source
//! documents; the reference names that source, so a report reader can
//! check it.

use serde::Serialize;

#[derive(Debug, Serialize, schemars::JsonSchema, PartialEq, Eq)]
pub struct Signature {
    /// A stable id (`checkpoint-ftp-bounce-227`).
    pub id: &'static str,
    /// The device or feature.
    pub device: &'static str,
    /// What it does to the bytes.
    pub behaviour: &'static str,
    /// The public sources that document it.
    pub reference: &'static str,
}

pub static CHECKPOINT_227: Signature = Signature {
    id: "checkpoint-ftp-bounce-227",
    device: "Check Point SmartDefense/IPS \"FTP Bounce\" protection",
    behaviour: "rewrites the digit string 227 to 22_ in place (same length, no TCP sequence change)",
    reference: "raetsel, \"FTP = Fine Testing, Python\", 2007, https://raetsel.wordpress.com/2007/07/22/ftp-fine-testing-python/ (NGX R62); Colasoft nChronos case study TEST227.DAT, https://www.colasoft.com/nchronos/why-network-communication-is-blocked.php",
};

pub static SMC_P_AT_SW: Signature = Signature {
    id: "smc-barricade-pasv",
    device: "SMC Barricade router \"PASV suppression\"",
    behaviour: "rewrites the PASV command to P@SW",
    reference: "http://www.gbnetwork.co.uk/smcftpd/; FileZilla Server ControlSocket.cpp (COMMAND_PASVSMC)",
};

pub static ASA_SYST_MASK: Signature = Signature {
    id: "cisco-asa-mask-syst-reply",
    device: "Cisco ASA/PIX FTP inspection (mask-syst-reply)",
    behaviour: "replaces the SYST reply text with X characters",
    reference: "Cisco ASA configuration guide, FTP inspection: mask-syst-reply",
};

pub static LINUX_CONNTRACK_PARTIAL: Signature = Signature {
    id: "linux-nf-conntrack-ftp-partial",
    device: "Linux nf_conntrack_ftp helper (any Linux NAT/firewall with the FTP helper)",
    behaviour: "drops a PORT/EPRT/227/229 segment it can only partly parse: split lines, bad digits, bare LF",
    reference: "Linux net/netfilter/nf_conntrack_ftp.c, find_pattern() and help(): \"partial matching\" drops",
};

/// Offsets where `sent` has `227` and `seen` has `22_` in its place, when
/// that is the only difference (same length). Empty when it is not the
/// Check Point substitution.
pub fn checkpoint_227_sites(sent: &[u8], seen: &[u8]) -> Vec<usize> {
    if sent.len() != seen.len() || sent == seen {
        return Vec::new();
    }
    let mut sites = Vec::new();
    let mut i = 0;
    while i < sent.len() {
        if sent[i] == seen[i] {
            i += 1;
            continue;
        }
        // A differing byte must be the 7 of a 227 that became _.
        if i >= 2 && &sent[i - 2..=i] == b"227" && &seen[i - 2..=i] == b"22_" {
            sites.push(i - 2);
            i += 1;
        } else {
            return Vec::new();
        }
    }
    sites
}

/// The mangled form of `text` under the 227→22_ rewrite, if it changes it.
pub fn apply_227_rewrite(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = text.to_vec();
    let mut changed = false;
    let mut i = 0;
    while i + 3 <= out.len() {
        if &out[i..i + 3] == b"227" {
            out[i + 2] = b'_';
            changed = true;
            i += 3;
        } else {
            i += 1;
        }
    }
    changed.then_some(out)
}

/// How many of the 65,536 data ports carry the digits `227` when written
/// in a line of this kind (two decimal octets for PORT/LPRT/227/228, one
/// decimal number for EPRT/229): the ports the Check Point substitution
/// hits, counted rather than estimated, so a report's odds fit the line
/// at hand.
pub fn ports_hit_by_227(kind: crate::ftp::address::AddrKind) -> u32 {
    use crate::ftp::address::AddrKind;
    let decimal = matches!(kind, AddrKind::Eprt | AddrKind::Epsv);
    (0..=u16::MAX)
        .filter(|&p| {
            if decimal {
                p.to_string().contains("227")
            } else {
                p >> 8 == 227 || p & 0xff == 227
            }
        })
        .count() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every signature a report can name is explained, with its sources,
    /// in the repository's own docs/middleboxes.md.
    #[test]
    fn every_signature_is_documented() {
        let doc =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/middleboxes.md"))
                .unwrap();
        for s in [
            &CHECKPOINT_227,
            &SMC_P_AT_SW,
            &ASA_SYST_MASK,
            &LINUX_CONNTRACK_PARTIAL,
        ] {
            assert!(doc.contains(&format!("| `{}` |", s.id)), "{}", s.id);
        }
    }

    #[test]
    fn checkpoint_sites() {
        assert_eq!(
            checkpoint_227_sites(b"PORT 1,2,3,4,125,227", b"PORT 1,2,3,4,125,22_"),
            vec![17]
        );
        assert_eq!(
            checkpoint_227_sites(b"RETR a227b227", b"RETR a22_b22_"),
            vec![6, 10]
        );
        assert!(checkpoint_227_sites(b"PORT 1,2,3,4,125,228", b"PORT 1,2,3,4,125,22_").is_empty());
        assert!(checkpoint_227_sites(b"PORT 1,2,3,4,125,227", b"PORT 1,2,3,4,125,227").is_empty());
    }

    #[test]
    fn rewrite() {
        assert_eq!(apply_227_rewrite(b"TEST227.DAT").unwrap(), b"TEST22_.DAT");
        assert_eq!(apply_227_rewrite(b"a2227"), Some(b"a222_".to_vec()));
        assert!(apply_227_rewrite(b"TEST.DAT").is_none());
    }

    #[test]
    fn ports_hit_by_227_are_counted_per_form() {
        use crate::ftp::address::AddrKind;
        // p1 = 227 (256 ports) or p2 = 227 (256), one port both.
        assert_eq!(ports_hit_by_227(AddrKind::Port), 511);
        assert_eq!(ports_hit_by_227(AddrKind::Pasv), 511);
        // 227, x227 (1227…9227), 227x, 227xx, x227x, xx227 … below 65536.
        let n = ports_hit_by_227(AddrKind::Eprt);
        assert!(n > 200 && n < 511, "{n}");
        assert_eq!(n, ports_hit_by_227(AddrKind::Epsv));
    }
}
