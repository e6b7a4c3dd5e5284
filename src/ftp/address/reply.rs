//! The server's passive replies: 227 (RFC 959), 228 (RFC 1639) and 229
//! (RFC 2428).

use super::extended::parse_extended;
use super::*;

/// `227 Entering Passive Mode (h1,h2,h3,h4,p1,p2).` — the numbers are
/// found as RFC 1123 says: from the first digit after the code.
pub fn parse_227(line: &[u8]) -> AddrArg {
    let mut defects = Vec::new();
    let text_start = 4.min(line.len());
    let Some(first) = line[text_start..].iter().position(u8::is_ascii_digit) else {
        return AddrArg::unreadable(AddrKind::Pasv, line.len(), DefectKind::NoNumbers);
    };
    let a = text_start + first;
    // The numeric run: digits, commas and anything up to `)` or the end.
    let rest = &line[a..];
    let close = rest.iter().position(|&b| b == b')');
    let run_end = close.unwrap_or_else(|| {
        rest.iter()
            .position(|b| !(b.is_ascii_digit() || *b == b',' || *b == b'.'))
            .unwrap_or(rest.len())
    });
    let run = &rest[..run_end];
    if a == 0 || line[a - 1] != b'(' || close.is_none() {
        defects.push(Defect {
            field: None,
            offset: a,
            kind: DefectKind::MissingParentheses,
        });
    }
    let commas = run.iter().filter(|&&b| b == b',').count();
    let dots = run.iter().filter(|&&b| b == b'.').count();
    let (fields, values) = if commas == 0 && dots > 0 {
        defects.push(Defect {
            field: None,
            offset: a,
            kind: DefectKind::DotsForCommas,
        });
        let replaced: Vec<u8> = run
            .iter()
            .map(|&b| if b == b'.' { b',' } else { b })
            .collect();
        strict_fields(&replaced, a, 6, &mut defects)
    } else {
        strict_fields(run, a, 6, &mut defects)
    };
    let after = close.map_or(run_end, |c| c + 1);
    let trailing = rest.len() - after.min(rest.len());
    if trailing > 1 {
        defects.push(Defect {
            field: None,
            offset: a + after,
            kind: DefectKind::TextAfterNumbers { len: trailing },
        });
    }
    let corrupt = defects.iter().any(|d| {
        !matches!(
            d.kind,
            DefectKind::MissingParentheses
                | DefectKind::TextAfterNumbers { .. }
                | DefectKind::DotsForCommas
        )
    });
    let strict = if corrupt {
        None
    } else {
        let v: Vec<u64> = values.into_iter().flatten().collect();
        v4_port(&v)
    };
    let lenient_src: Vec<u8> = if commas == 0 && dots > 0 {
        rest.iter()
            .map(|&b| if b == b'.' { b',' } else { b })
            .collect()
    } else {
        rest.to_vec()
    };
    AddrArg {
        kind: AddrKind::Pasv,
        strict,
        defects,
        lenient: v4_port(&scan_list(&lenient_src, 6)),
        fields,
    }
}

/// `228 Entering Long Passive Mode (af,hal,h…,pal,p1,p2)`.
pub fn parse_228(line: &[u8]) -> AddrArg {
    let open = line.iter().position(|&b| b == b'(');
    let close = line.iter().rposition(|&b| b == b')');
    match (open, close) {
        (Some(o), Some(c)) if c > o => {
            // Reuse the LPRT reader on a synthetic "LPRT <numbers>" line,
            // then shift offsets back.
            let mut synth = b"LPRT ".to_vec();
            synth.extend_from_slice(&line[o + 1..c]);
            let mut arg = parse_lprt(&synth);
            let shift = o + 1;
            for f in &mut arg.fields {
                f.offset = f.offset - 5 + shift;
            }
            for d in &mut arg.defects {
                d.offset = d.offset.saturating_sub(5) + shift;
            }
            arg.kind = AddrKind::Lpsv;
            arg
        }
        _ => AddrArg::unreadable(AddrKind::Lpsv, line.len(), DefectKind::MissingParentheses),
    }
}

/// `229 Entering Extended Passive Mode (|||port|)`. The IP of the result is
/// unspecified (0.0.0.0) unless the server put one in: the data connection
/// goes to the control connection's server address.
pub fn parse_229(line: &[u8]) -> AddrArg {
    let mut defects = Vec::new();
    let Some(o) = line.iter().position(|&b| b == b'(') else {
        return AddrArg::unreadable(AddrKind::Epsv, line.len(), DefectKind::MissingParentheses);
    };
    let inner_end = line[o..].iter().position(|&b| b == b')').map(|c| o + c);
    if inner_end.is_none() {
        defects.push(Defect {
            field: None,
            offset: o,
            kind: DefectKind::MissingParentheses,
        });
    }
    let inner = &line[o + 1..inner_end.unwrap_or(line.len())];
    let (fields, strict, lenient) = parse_extended(inner, o + 1, &mut defects, false);
    AddrArg {
        kind: AddrKind::Epsv,
        strict: if defects
            .iter()
            .any(|d| !matches!(d.kind, DefectKind::NonEmptyAddressField))
        {
            None
        } else {
            strict
        },
        defects,
        lenient,
        fields,
    }
}
