//! The client's address commands: PORT (RFC 959), LPRT (RFC 1639) and
//! EPRT (RFC 2428).

use super::extended::parse_extended;
use super::*;

/// `PORT h1,h2,h3,h4,p1,p2` (the whole command line).
pub fn parse_port(line: &[u8]) -> AddrArg {
    let mut defects = Vec::new();
    let Some(a) = arg_start(line) else {
        return AddrArg::unreadable(AddrKind::Port, line.len(), DefectKind::NoNumbers);
    };
    let a = leading_spaces(line, a, &mut defects);
    let arg = &line[a..];
    let (fields, values) = strict_fields(arg, a, 6, &mut defects);
    let strict = if defects.is_empty() {
        let v: Vec<u64> = values.into_iter().flatten().collect();
        v4_port(&v)
    } else {
        None
    };
    AddrArg {
        kind: AddrKind::Port,
        strict,
        defects,
        lenient: v4_port(&scan_list(arg, 6)),
        fields,
    }
}

/// `LPRT af,hal,h1…,pal,p1,p2` (RFC 1639).
pub fn parse_lprt(line: &[u8]) -> AddrArg {
    let mut defects = Vec::new();
    let a = arg_start(line)
        .map(|a| leading_spaces(line, a, &mut defects))
        .unwrap_or(line.len());
    let arg = &line[a.min(line.len())..];
    let count = arg.split(|&b| b == b',').count();
    let (fields, values) = strict_fields(arg, a, count, &mut defects);
    let parse = |v: &[u64]| -> Option<Endpoint> {
        let (af, hal) = (*v.first()?, *v.get(1)? as usize);
        let ip = match (af, hal) {
            (4, 4) => IpAddr::V4(Ipv4Addr::new(
                *v.get(2)? as u8,
                *v.get(3)? as u8,
                *v.get(4)? as u8,
                *v.get(5)? as u8,
            )),
            (6, 16) => {
                let mut o = [0u8; 16];
                for (k, b) in o.iter_mut().enumerate() {
                    *b = *v.get(2 + k)? as u8;
                }
                IpAddr::V6(Ipv6Addr::from(o))
            }
            _ => return None,
        };
        let pal = *v.get(2 + hal)? as usize;
        if pal != 2 || v.len() != 2 + hal + 1 + pal || v.iter().any(|&x| x > 255) {
            return None;
        }
        Some(Endpoint {
            ip,
            port: (v[3 + hal] as u16) << 8 | v[4 + hal] as u16,
        })
    };
    let strict_vals: Vec<u64> = values.iter().map(|v| v.unwrap_or(u64::MAX)).collect();
    let strict = if defects.is_empty() {
        parse(&strict_vals)
    } else {
        None
    };
    if defects.is_empty() && strict.is_none() {
        defects.push(Defect {
            field: None,
            offset: a,
            kind: DefectKind::FamilyLength,
        });
    }
    AddrArg {
        kind: AddrKind::Lprt,
        strict,
        defects,
        lenient: parse(&scan_list(arg, 21)),
        fields,
    }
}

/// `EPRT <d>proto<d>addr<d>port<d>` (RFC 2428).
pub fn parse_eprt(line: &[u8]) -> AddrArg {
    let mut defects = Vec::new();
    let a = arg_start(line)
        .map(|a| leading_spaces(line, a, &mut defects))
        .unwrap_or(line.len());
    let arg = &line[a.min(line.len())..];
    let (fields, strict_ep, lenient) = parse_extended(arg, a, &mut defects, true);
    AddrArg {
        kind: AddrKind::Eprt,
        strict: if defects.is_empty() { strict_ep } else { None },
        defects,
        lenient,
        fields,
    }
}
