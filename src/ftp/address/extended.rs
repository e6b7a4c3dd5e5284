//! The extended form `<d>proto<d>addr<d>port<d>` shared by EPRT and the
//! 229 reply (RFC 2428), any delimiter in 33–126.

use super::*;

/// Shared by EPRT and 229: `<d>f1<d>f2<d>port<d>`. Returns the fields, the
/// strict endpoint (the address may be absent for 229: then the IP is
/// unspecified and the caller substitutes the control peer) and the
/// lenient one.
pub(super) fn parse_extended(
    s: &[u8],
    base: usize,
    defects: &mut Vec<Defect>,
    need_address: bool,
) -> (Vec<Field>, Option<Endpoint>, Option<Endpoint>) {
    let Some(&d) = s.first() else {
        defects.push(Defect {
            field: None,
            offset: base,
            kind: DefectKind::NoNumbers,
        });
        return (vec![], None, None);
    };
    if !(33..=126).contains(&d) || d.is_ascii_digit() {
        defects.push(Defect {
            field: None,
            offset: base,
            kind: DefectKind::BadDelimiter { byte: d },
        });
        return (vec![], None, None);
    }
    let parts: Vec<&[u8]> = s[1..].split(|&b| b == d).collect();
    let mut fields = Vec::new();
    let mut off = base + 1;
    for p in parts.iter().take(3) {
        fields.push(Field {
            offset: off,
            text: (*p).into(),
        });
        off += p.len() + 1;
    }
    // A well-formed argument splits into 3 fields plus an empty remainder.
    if parts.len() != 4 || !parts[3].is_empty() {
        defects.push(Defect {
            field: None,
            offset: base,
            kind: DefectKind::FieldCount {
                found: parts.len().saturating_sub(1),
                expected: 3,
            },
        });
    }
    let proto = parts.first().copied().unwrap_or_default();
    let addr = parts.get(1).copied().unwrap_or_default();
    let port_txt = parts.get(2).copied().unwrap_or_default();
    let family = match proto {
        b"1" => Some(4),
        b"2" => Some(6),
        b"" if !need_address => None,
        _ => {
            defects.push(Defect {
                field: Some(1),
                offset: base + 1,
                kind: DefectKind::BadProtocol,
            });
            None
        }
    };
    let addr_off = base + 2 + proto.len();
    let ip: Option<IpAddr> = if addr.is_empty() && !need_address {
        None
    } else {
        let parsed = std::str::from_utf8(addr)
            .ok()
            .and_then(|t| t.parse::<IpAddr>().ok());
        let kind = match (parsed, family) {
            (Some(IpAddr::V4(_)), Some(4)) | (Some(IpAddr::V6(_)), Some(6)) | (Some(_), None) => {
                None
            }
            (Some(_), Some(_)) => Some(DefectKind::FamilyMismatch),
            (None, _) => Some(DefectKind::BadAddress),
        };
        if let Some(kind) = kind {
            defects.push(Defect {
                field: Some(2),
                offset: addr_off,
                kind,
            });
        }
        parsed
    };
    if !need_address && (!proto.is_empty() || !addr.is_empty()) {
        defects.push(Defect {
            field: None,
            offset: base + 1,
            kind: DefectKind::NonEmptyAddressField,
        });
    }
    let port_off = addr_off + addr.len() + 1;
    let mut strict_port = None;
    if port_txt.is_empty() {
        defects.push(Defect {
            field: Some(3),
            offset: port_off,
            kind: DefectKind::EmptyField,
        });
    } else if let Some(bad) = port_txt.iter().position(|b| !b.is_ascii_digit()) {
        defects.push(Defect {
            field: Some(3),
            offset: port_off + bad,
            kind: DefectKind::NonDigit {
                byte: port_txt[bad],
            },
        });
    } else {
        let v = port_txt.iter().fold(0u64, |a, &b| {
            a.saturating_mul(10).saturating_add((b - b'0') as u64)
        });
        if v > 65535 {
            defects.push(Defect {
                field: Some(3),
                offset: port_off,
                kind: DefectKind::OutOfRange {
                    value: v,
                    max: 65535,
                },
            });
        } else {
            strict_port = Some(v as u16);
        }
    }
    let unspecified = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    let strict = strict_port.map(|port| Endpoint {
        ip: ip.unwrap_or(unspecified),
        port,
    });
    let lenient = scan_uint(port_txt)
        .filter(|(v, _)| *v <= 65535)
        .map(|(v, _)| Endpoint {
            ip: ip.unwrap_or(unspecified),
            port: v as u16,
        });
    (fields, strict, lenient)
}
