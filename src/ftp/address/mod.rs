//! Address arguments: PORT, EPRT, LPRT and the 227, 228, 229 replies.
//!
//! Each is read twice. The strict reading follows RFC 959/1639/2428 and
//! reports every defect precisely (field, byte offset, kind). The lenient
//! reading is what `sscanf("%u,%u,…")`/`atoi` servers (vsftpd, ProFTPD,
//! Pure-FTPd, FileZilla) and tshark/Zeek/Suricata make of it: digits until
//! the first non-digit, so `22_` reads as 22 — which predicts where such a
//! server will connect.

mod command;
mod extended;
mod reply;

pub use command::{parse_eprt, parse_lprt, parse_port};
pub use reply::{parse_227, parse_228, parse_229};
use serde::Serialize;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An address and port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    pub ip: IpAddr,
    pub port: u16,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ip {
            IpAddr::V4(v4) => write!(f, "{v4}:{}", self.port),
            IpAddr::V6(v6) => write!(f, "[{v6}]:{}", self.port),
        }
    }
}

impl Serialize for Endpoint {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl schemars::JsonSchema for Endpoint {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Endpoint".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "An address and port: `192.0.2.1:21`, or `[2001:db8::1]:21`."
        })
    }
}

/// Which kind of address argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, schemars::JsonSchema)]
pub enum AddrKind {
    #[serde(rename = "PORT")]
    Port,
    #[serde(rename = "EPRT")]
    Eprt,
    #[serde(rename = "LPRT")]
    Lprt,
    #[serde(rename = "227")]
    Pasv,
    #[serde(rename = "228")]
    Lpsv,
    #[serde(rename = "229")]
    Epsv,
}

impl AddrKind {
    pub fn name(self) -> &'static str {
        match self {
            AddrKind::Port => "PORT",
            AddrKind::Eprt => "EPRT",
            AddrKind::Lprt => "LPRT",
            AddrKind::Pasv => "227",
            AddrKind::Lpsv => "228",
            AddrKind::Epsv => "229",
        }
    }
    /// Active mode: the server connects to the announced endpoint.
    pub fn is_active(self) -> bool {
        matches!(self, AddrKind::Port | AddrKind::Eprt | AddrKind::Lprt)
    }

    const ALL: [AddrKind; 6] = [
        AddrKind::Port,
        AddrKind::Eprt,
        AddrKind::Lprt,
        AddrKind::Pasv,
        AddrKind::Lpsv,
        AddrKind::Epsv,
    ];

    /// The command that carries (active) or asks for (passive) this form.
    pub fn verb(self) -> &'static str {
        match self {
            AddrKind::Port => "PORT",
            AddrKind::Eprt => "EPRT",
            AddrKind::Lprt => "LPRT",
            AddrKind::Pasv => "PASV",
            AddrKind::Lpsv => "LPSV",
            AddrKind::Epsv => "EPSV",
        }
    }

    /// The form a command carries or asks for (`verb` upper case).
    pub fn of_verb(verb: &str) -> Option<AddrKind> {
        Self::ALL.into_iter().find(|k| k.verb() == verb)
    }
}

/// One defect found by the strict reading.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Defect {
    /// 1-based field number, when the defect is inside a field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<usize>,
    /// Byte offset in the whole line (0-based).
    pub offset: usize,
    #[serde(flatten)]
    pub kind: DefectKind,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum DefectKind {
    NonDigit {
        /// The byte that is not a digit.
        byte: u8,
    },
    OutOfRange {
        /// The number the field holds.
        value: u64,
        /// The largest the field may hold (255 for an octet).
        max: u64,
    },
    EmptyField,
    FieldCount {
        /// Fields the argument has.
        found: usize,
        /// Fields its form takes.
        expected: usize,
    },
    Space,
    NoNumbers,
    MissingParentheses,
    DotsForCommas,
    BadDelimiter {
        /// The delimiter byte EPRT/EPSV used.
        byte: u8,
    },
    BadProtocol,
    BadAddress,
    /// EPRT names one address family and gives an address of the other.
    FamilyMismatch,
    FamilyLength,
    NonEmptyAddressField,
    TextAfterNumbers {
        /// Bytes of text after the last number.
        len: usize,
    },
}

impl fmt::Display for Defect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The caller names the field (octet 6, field 3…) where it matters.
        match &self.kind {
            DefectKind::NonDigit { byte } => write!(
                f,
                "has non-digit {} at offset {}",
                crate::escape::describe_byte(*byte),
                self.offset
            ),
            DefectKind::OutOfRange { max, .. } => {
                write!(f, "is over {max} (offset {})", self.offset)
            }
            DefectKind::EmptyField => write!(f, "is empty (offset {})", self.offset),
            DefectKind::FieldCount { found, expected } => {
                write!(f, "{found} fields instead of {expected}")
            }
            DefectKind::Space => write!(f, "has a space at offset {}", self.offset),
            DefectKind::NoNumbers => write!(f, "no address numbers found"),
            DefectKind::MissingParentheses => write!(f, "numbers are not in parentheses"),
            DefectKind::DotsForCommas => write!(f, "numbers are separated by dots, not commas"),
            DefectKind::BadDelimiter { byte } => write!(
                f,
                "delimiter {} at offset {} is not allowed",
                crate::escape::describe_byte(*byte),
                self.offset
            ),
            DefectKind::BadProtocol => write!(f, "network protocol field is not 1 or 2"),
            DefectKind::BadAddress => {
                write!(f, "is not a valid address (offset {})", self.offset)
            }
            DefectKind::FamilyMismatch => {
                write!(
                    f,
                    "the address is not of the family the protocol field names (offset {})",
                    self.offset
                )
            }
            DefectKind::FamilyLength => write!(f, "address family and length do not agree"),
            DefectKind::NonEmptyAddressField => {
                write!(
                    f,
                    "229 fields before the port are not empty (offset {})",
                    self.offset
                )
            }
            DefectKind::TextAfterNumbers { len } => {
                write!(f, "{len} characters follow the numbers")
            }
        }
    }
}

/// One numeric field of an address argument.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Field {
    /// Byte offset in the line.
    pub offset: usize,
    pub text: crate::escape::Bytes,
}

/// The two readings of an address argument.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct AddrArg {
    /// The form of the argument (PORT, EPRT, LPRT, 227, 228, 229).
    pub kind: AddrKind,
    /// The endpoint when the strict reading found no defect that affects it.
    pub strict: Option<Endpoint>,
    /// What the strict reading found wrong, each with its field and byte
    /// offset; empty for a well-formed argument.
    pub defects: Vec<Defect>,
    /// What a sscanf/atoi-style reader makes of it.
    pub lenient: Option<Endpoint>,
    /// The numeric fields as written on the wire, in order.
    pub fields: Vec<Field>,
}

impl AddrArg {
    /// An argument with nothing to read: one defect, no endpoint.
    fn unreadable(kind: AddrKind, offset: usize, defect: DefectKind) -> Self {
        AddrArg {
            kind,
            strict: None,
            defects: vec![Defect {
                field: None,
                offset,
                kind: defect,
            }],
            lenient: None,
            fields: vec![],
        }
    }

    /// The field (1-based number and text) containing line offset `off`.
    pub fn field_at(&self, off: usize) -> Option<(usize, &Field)> {
        self.fields
            .iter()
            .enumerate()
            .find(|(_, f)| off >= f.offset && off < f.offset + f.text.0.len().max(1))
            .map(|(i, f)| (i + 1, f))
    }

    /// True for defects that make the endpoint itself unreliable (not just
    /// cosmetic, like missing parentheses).
    pub fn is_corrupt(&self) -> bool {
        self.defects.iter().any(|d| {
            !matches!(
                d.kind,
                DefectKind::MissingParentheses
                    | DefectKind::TextAfterNumbers { .. }
                    | DefectKind::NonEmptyAddressField
            )
        })
    }
}

/// Reads digits like `%u`/atoi: optional leading blanks, then digits up to
/// the first non-digit. Returns (value, bytes consumed) or None.
fn scan_uint(s: &[u8]) -> Option<(u64, usize)> {
    let mut i = 0;
    while i < s.len() && (s[i] == b' ' || s[i] == b'\t') {
        i += 1;
    }
    if i < s.len() && s[i] == b'+' {
        i += 1;
    }
    let start = i;
    let mut v: u64 = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        v = v.saturating_mul(10).saturating_add((s[i] - b'0') as u64);
        i += 1;
    }
    (i > start).then_some((v, i))
}

/// `%u,%u,…` for `n` numbers: returns the values read (fewer than `n` when
/// the scan stopped early).
fn scan_list(s: &[u8], n: usize) -> Vec<u64> {
    let mut out = Vec::new();
    let mut i = 0;
    while out.len() < n {
        let Some((v, used)) = scan_uint(&s[i..]) else {
            break;
        };
        out.push(v);
        i += used;
        if out.len() < n {
            if i < s.len() && s[i] == b',' {
                i += 1;
            } else {
                break;
            }
        }
    }
    out
}

/// vsftpd's reading of a PORT argument (`vsf_sysutil_parse_uchar_string_sep`):
/// split at commas into exactly six fields and `atoi` each, so `22_` reads
/// as 22 in any octet — where sscanf-style readers stop at the first
/// non-digit and reject the line. `arg` is the text after the verb.
pub fn per_field_port(arg: &[u8]) -> Option<Endpoint> {
    let fields: Vec<&[u8]> = arg.split(|&b| b == b',').collect();
    if fields.len() != 6 {
        return None;
    }
    let v: Vec<u64> = fields
        .iter()
        .map(|f| {
            let f = f.trim_ascii_start();
            let f = f.strip_prefix(b"+").unwrap_or(f);
            scan_uint(f).map_or(0, |(v, _)| v)
        })
        .collect();
    v4_port(&v)
}

fn v4_port(v: &[u64]) -> Option<Endpoint> {
    if v.len() < 6 || v.iter().take(6).any(|&x| x > 255) {
        return None;
    }
    Some(Endpoint {
        ip: IpAddr::V4(Ipv4Addr::new(
            v[0] as u8, v[1] as u8, v[2] as u8, v[3] as u8,
        )),
        port: (v[4] as u16) << 8 | v[5] as u16,
    })
}

/// Splits a comma list strictly; `base` is the offset of `s` in the line.
fn strict_fields(
    s: &[u8],
    base: usize,
    expected: usize,
    defects: &mut Vec<Defect>,
) -> (Vec<Field>, Vec<Option<u64>>) {
    let mut fields = Vec::new();
    let mut values = Vec::new();
    let mut start = 0;
    for (idx, part) in s.split(|&b| b == b',').enumerate() {
        let off = base + start;
        let n = idx + 1;
        fields.push(Field {
            offset: off,
            text: part.into(),
        });
        if part.is_empty() {
            defects.push(Defect {
                field: Some(n),
                offset: off,
                kind: DefectKind::EmptyField,
            });
            values.push(None);
        } else if let Some(bad) = part.iter().position(|b| !b.is_ascii_digit()) {
            let byte = part[bad];
            defects.push(Defect {
                field: Some(n),
                offset: off + bad,
                kind: if byte == b' ' {
                    DefectKind::Space
                } else {
                    DefectKind::NonDigit { byte }
                },
            });
            values.push(None);
        } else {
            let v = part.iter().fold(0u64, |a, &b| {
                a.saturating_mul(10).saturating_add((b - b'0') as u64)
            });
            if v > 255 {
                defects.push(Defect {
                    field: Some(n),
                    offset: off,
                    kind: DefectKind::OutOfRange { value: v, max: 255 },
                });
                values.push(None);
            } else {
                values.push(Some(v));
            }
        }
        start += part.len() + 1;
    }
    if fields.len() != expected {
        defects.push(Defect {
            field: None,
            offset: base,
            kind: DefectKind::FieldCount {
                found: fields.len(),
                expected,
            },
        });
    }
    (fields, values)
}

/// Offset of a command's argument: after the verb and one space.
fn arg_start(line: &[u8]) -> Option<usize> {
    line.iter().position(|&b| b == b' ').map(|p| p + 1)
}

/// Flags extra spaces at the start of an argument.
fn leading_spaces(line: &[u8], start: usize, defects: &mut Vec<Defect>) -> usize {
    let mut i = start;
    while i < line.len() && line[i] == b' ' {
        defects.push(Defect {
            field: None,
            offset: i,
            kind: DefectKind::Space,
        });
        i += 1;
    }
    i
}

/// Parses the address argument of a command line, if it has one.
pub fn parse_command(verb: &str, line: &[u8]) -> Option<AddrArg> {
    match verb {
        "PORT" => Some(parse_port(line)),
        "EPRT" => Some(parse_eprt(line)),
        "LPRT" => Some(parse_lprt(line)),
        _ => None,
    }
}

/// Parses the address of a 227/228/229 reply line, if it is one.
pub fn parse_reply(code: u16, line: &[u8]) -> Option<AddrArg> {
    match code {
        227 => Some(parse_227(line)),
        228 => Some(parse_228(line)),
        229 => Some(parse_229(line)),
        _ => None,
    }
}

impl AddrKind {
    /// The line (without its terminator) that announces `ep` in canonical form:
    /// the writing half of the parsers above, so the probe builds its
    /// lines with the code that reads them. None when the form cannot
    /// carry the address (PORT and 227 are IPv4 only). A 229 carries only
    /// the port.
    pub fn emit(self, ep: Endpoint) -> Option<Vec<u8>> {
        let (p1, p2) = (ep.port >> 8, ep.port & 0xff);
        let octets = |ip: IpAddr| -> Vec<String> {
            match ip {
                IpAddr::V4(v4) => v4.octets().iter().map(u8::to_string).collect(),
                IpAddr::V6(v6) => v6.octets().iter().map(u8::to_string).collect(),
            }
        };
        let long = || {
            let o = octets(ep.ip);
            let af = if ep.ip.is_ipv4() { 4 } else { 6 };
            format!("{af},{},{},2,{p1},{p2}", o.len(), o.join(","))
        };
        let v4 = |ip: IpAddr| matches!(ip, IpAddr::V4(_)).then(|| octets(ip).join(","));
        let line = match self {
            AddrKind::Port => format!("PORT {},{p1},{p2}", v4(ep.ip)?),
            AddrKind::Eprt => format!(
                "EPRT |{}|{}|{}|",
                if ep.ip.is_ipv4() { 1 } else { 2 },
                ep.ip,
                ep.port
            ),
            AddrKind::Lprt => format!("LPRT {}", long()),
            AddrKind::Pasv => format!("227 Entering Passive Mode ({},{p1},{p2}).", v4(ep.ip)?),
            AddrKind::Lpsv => format!("228 Entering Long Passive Mode ({})", long()),
            AddrKind::Epsv => format!("229 Entering Extended Passive Mode (|||{}|)", ep.port),
        };
        Some(line.into_bytes())
    }

    /// Reads a line of this kind, without its terminator (the reading half
    /// of [`AddrKind::emit`]).
    pub fn parse(self, line: &[u8]) -> AddrArg {
        match self {
            AddrKind::Port => parse_port(line),
            AddrKind::Eprt => parse_eprt(line),
            AddrKind::Lprt => parse_lprt(line),
            AddrKind::Pasv => parse_227(line),
            AddrKind::Lpsv => parse_228(line),
            AddrKind::Epsv => parse_229(line),
        }
    }
}

/// RFC 1918, CGNAT, loopback, link-local, unspecified: addresses that do
/// not route across the Internet.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || (o[0] == 100 && (64..128).contains(&o[1]))
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    mod emit {
        use super::*;
        use proptest::prelude::*;

        fn endpoint() -> impl Strategy<Value = Endpoint> {
            (any::<bool>(), any::<u32>(), any::<u128>(), any::<u16>()).prop_map(
                |(v4, a, b, port)| Endpoint {
                    ip: if v4 {
                        IpAddr::V4(Ipv4Addr::from(a))
                    } else {
                        IpAddr::V6(Ipv6Addr::from(b))
                    },
                    port,
                },
            )
        }

        proptest! {
            /// parse(emit(x)) == x, strictly and without a defect, for
            /// every form that can carry the address.
            #[test]
            fn parse_reads_what_emit_writes(ep in endpoint()) {
                use AddrKind::*;
                for kind in [Port, Eprt, Lprt, Pasv, Lpsv, Epsv] {
                    let Some(line) = kind.emit(ep) else {
                        prop_assert!(ep.ip.is_ipv6() && matches!(kind, Port | Pasv));
                        continue;
                    };
                    let arg = kind.parse(&line);
                    prop_assert!(arg.defects.is_empty(), "{kind:?} {:?} {:?}", String::from_utf8_lossy(&line), arg.defects);
                    let got = arg.strict.unwrap();
                    if kind == Epsv {
                        prop_assert_eq!(got.port, ep.port);
                    } else {
                        prop_assert_eq!(got, ep);
                    }
                    prop_assert_eq!(arg.lenient, arg.strict);
                }
            }
        }

        #[test]
        fn vsftpd_reads_each_field_with_atoi() {
            let ep = |s: &[u8]| per_field_port(s).map(|e| e.port);
            assert_eq!(ep(b"10,225,1,89,124,22_"), Some(124 * 256 + 22));
            assert_eq!(ep(b"10,225,1,89,22_,73"), Some(22 * 256 + 73));
            assert_eq!(ep(b"10,225,1,89,_,73"), Some(73));
            assert_eq!(ep(b"10,225,1,89,124"), None);
            assert_eq!(ep(b"10,225,1,89,300,1"), None);
            // sscanf-style readers stop at the `_` of octet 5.
            assert_eq!(parse_port(b"PORT 10,225,1,89,22_,73").lenient, None);
        }

        #[test]
        fn the_founding_port_line() {
            let ep = Endpoint {
                ip: "10.225.1.89".parse().unwrap(),
                port: 124 * 256 + 227,
            };
            assert_eq!(
                AddrKind::Port.emit(ep).unwrap(),
                b"PORT 10,225,1,89,124,227"
            );
        }
    }

    fn ep(s: &str) -> Endpoint {
        let (ip, port) = s.rsplit_once(':').unwrap();
        Endpoint {
            ip: ip.trim_matches(|c| c == '[' || c == ']').parse().unwrap(),
            port: port.parse().unwrap(),
        }
    }

    #[test]
    fn valid_port() {
        let a = parse_port(b"PORT 198,51,100,60,125,227");
        assert_eq!(a.strict, Some(ep("198.51.100.60:32227")));
        assert_eq!(a.lenient, a.strict);
        assert!(a.defects.is_empty());
        assert_eq!(a.fields[5].offset, 23);
        assert_eq!(a.field_at(25).unwrap().0, 6);
    }

    #[test]
    fn founding_case_mangled_octet() {
        let a = parse_port(b"PORT 198,51,100,60,125,22_");
        assert_eq!(a.strict, None);
        assert_eq!(
            a.defects,
            vec![Defect {
                field: Some(6),
                offset: 25,
                kind: DefectKind::NonDigit { byte: b'_' }
            }]
        );
        // What vsftpd/ProFTPD/Pure-FTPd and tshark read: 125*256+22.
        assert_eq!(a.lenient, Some(ep("198.51.100.60:32022")));
        assert!(a.is_corrupt());
    }

    #[test]
    fn port_defects() {
        let a = parse_port(b"PORT 10,1,2,300,4,5");
        assert!(matches!(
            a.defects[0].kind,
            DefectKind::OutOfRange { value: 300, .. }
        ));
        assert_eq!(a.lenient, None);
        let a = parse_port(b"PORT 10,1,2,3,4");
        assert!(matches!(
            a.defects[0].kind,
            DefectKind::FieldCount {
                found: 5,
                expected: 6
            }
        ));
        let a = parse_port(b"PORT  10,1,2,3,4,5");
        assert_eq!(a.defects[0].kind, DefectKind::Space);
        assert_eq!(a.defects[0].offset, 5);
        assert!(a.lenient.is_some());
        let a = parse_port(b"PORT 10,1,2,3,4,5 ");
        assert_eq!(a.defects[0].kind, DefectKind::Space);
        assert_eq!(a.lenient, Some(ep("10.1.2.3:1029")));
        let a = parse_port(b"PORT 10,,2,3,4,5");
        assert_eq!(a.defects[0].kind, DefectKind::EmptyField);
        assert_eq!(parse_port(b"PORT").defects[0].kind, DefectKind::NoNumbers);
        // Zero-padded octets are valid.
        assert!(
            parse_port(b"PORT 010,001,001,024,016,002")
                .defects
                .is_empty()
        );
    }

    #[test]
    fn eprt_forms() {
        let a = parse_eprt(b"EPRT |1|132.235.1.2|6275|");
        assert_eq!(a.strict, Some(ep("132.235.1.2:6275")));
        let a = parse_eprt(b"EPRT |2|1080::8:800:200C:417A|5282|");
        assert_eq!(a.strict, Some(ep("[1080::8:800:200c:417a]:5282")));
        let a = parse_eprt(b"EPRT |2|10.0.0.1|5282|");
        assert_eq!(a.defects[0].kind, DefectKind::FamilyMismatch);
        let a = parse_eprt(b"EPRT |1|10.0.0.x|5282|");
        assert_eq!(a.defects[0].kind, DefectKind::BadAddress);
        let a = parse_eprt(b"EPRT |3|10.0.0.1|5282|");
        assert_eq!(a.defects[0].kind, DefectKind::BadProtocol);
        let a = parse_eprt(b"EPRT |1|10.0.0.1|52_2|");
        assert!(matches!(
            a.defects[0].kind,
            DefectKind::NonDigit { byte: b'_' }
        ));
        assert_eq!(a.lenient, Some(ep("10.0.0.1:52")));
        let a = parse_eprt(b"EPRT 1|10.0.0.1|5|");
        assert!(matches!(a.defects[0].kind, DefectKind::BadDelimiter { .. }));
    }

    #[test]
    fn lprt_forms() {
        let a = parse_lprt(b"LPRT 4,4,10,0,0,1,2,4,1");
        assert_eq!(a.strict, Some(ep("10.0.0.1:1025")));
        let a = parse_lprt(b"LPRT 4,5,10,0,0,1,2,4,1");
        assert_eq!(a.strict, None);
        assert!(!a.defects.is_empty());
    }

    #[test]
    fn pasv_replies() {
        let a = parse_227(b"227 Entering Passive Mode (192,168,0,1,195,80).");
        assert_eq!(a.strict, Some(ep("192.168.0.1:50000")));
        assert!(a.defects.is_empty(), "{:?}", a.defects);
        let a = parse_227(b"227 Entering Passive Mode 192,168,0,1,195,80");
        assert_eq!(a.strict, Some(ep("192.168.0.1:50000")));
        assert_eq!(a.defects[0].kind, DefectKind::MissingParentheses);
        assert!(!a.is_corrupt());
        let a = parse_227(b"227 Logout.");
        assert_eq!(a.defects[0].kind, DefectKind::NoNumbers);
        let a = parse_227(b"227 Entering Passiv Mode (1216,256,2,127,127,127)");
        assert!(a.strict.is_none());
        let a = parse_227(b"227 (212,27,40,254,15,161)");
        assert_eq!(a.strict, Some(ep("212.27.40.254:4001")));
        let a = parse_227(b"227 Entering Passive Mode (10.0.0.1.4.1)");
        assert_eq!(a.defects[0].kind, DefectKind::DotsForCommas);
        assert_eq!(a.strict, Some(ep("10.0.0.1:1025")));
        let a = parse_227(b"227 Entering Passive Mode (10,0,0,1,4,22_)");
        assert!(matches!(
            a.defects[0].kind,
            DefectKind::NonDigit { byte: b'_' }
        ));
        assert_eq!(a.lenient, Some(ep("10.0.0.1:1046")));
    }

    #[test]
    fn epsv_and_lpsv_replies() {
        let a = parse_229(b"229 Entering Extended Passive Mode (|||6446|)");
        assert_eq!(a.strict.map(|e| e.port), Some(6446));
        assert!(a.defects.is_empty());
        let a = parse_229(b"229 Entering Extended Passive Mode (!!!6446!)");
        assert_eq!(a.strict.map(|e| e.port), Some(6446));
        let a = parse_229(b"229 Extended (|1|10.0.0.1|6446|)");
        assert_eq!(a.defects[0].kind, DefectKind::NonEmptyAddressField);
        assert_eq!(a.strict, Some(ep("10.0.0.1:6446")));
        let a = parse_228(b"228 Entering Long Passive Mode (4,4,10,0,0,1,2,4,1)");
        assert_eq!(a.strict, Some(ep("10.0.0.1:1025")));
        assert_eq!(a.fields[2].offset, 36);
    }

    #[test]
    fn private_addresses() {
        for p in [
            "10.1.1.1",
            "192.168.0.1",
            "172.16.5.4",
            "100.64.0.1",
            "127.0.0.1",
            "0.0.0.0",
            "fe80::1",
            "fd00::1",
        ] {
            assert!(is_private(p.parse().unwrap()), "{p}");
        }
        for p in ["203.0.113.1", "8.8.8.8", "2001:db8::1"] {
            assert!(!is_private(p.parse().unwrap()), "{p}");
        }
    }
}
