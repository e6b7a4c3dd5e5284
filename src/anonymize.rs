//! `--anonymize-ips`: addresses replaced consistently, so that a report
//! can leave the company and still be evidence.
//!
//! The mapping is applied where addresses enter the pipeline — the IP
//! headers of every TCP segment, and the text of every FTP line (PORT,
//! 227, EPRT, banners…) before anything reads it — so everything after
//! (sessions, data connections, findings, diffs, comparisons, archives)
//! only ever sees mapped addresses and stays consistent: a PORT still
//! names the address the data connection goes to.
//!
//! Properties:
//! * **Keyed and deterministic**: the same key gives the same mapping
//!   (both captures of a `compare`, every run, every shard).
//! * **Prefix-preserving** per octet (IPv4) or 16-bit group (IPv6): two
//!   addresses that share their first k octets share the first k mapped
//!   octets, so subnets stay subnets.
//! * **Same text length**: an octet keeps its number of digits (a group
//!   its number of hex digits), so no line changes length and every byte
//!   offset in a diff still points at the same byte.
//! * **Class-preserving**: private, loopback, link-local, shared (100.64/10),
//!   multicast and unspecified addresses stay in their class (the rules
//!   that look at "private address in 227" give the same answers).
//!
//! Each octet position and prefix gets its own keyed permutation of the
//! values with the same number of digits (IPv4: a shuffle from a SHA-256
//! stream; IPv6: a keyed Feistel permutation with cycle walking).

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One mapping shared by the engine and its sessions.
pub type Shared = std::sync::Arc<std::sync::Mutex<Anonymizer>>;

pub struct Anonymizer {
    key: Vec<u8>,
    /// Permutation tables per (octet position, original prefix).
    v4: HashMap<(u8, [u8; 3]), [u8; 256]>,
}

/// Tables kept at most; past it the cache starts over (memory stays
/// bounded whatever the number of addresses).
const MAX_TABLES: usize = 1 << 16;

impl Anonymizer {
    /// A key for one run, when the user gave none: the mapping then
    /// differs from run to run (reports are only comparable with a key).
    pub fn random_key() -> Vec<u8> {
        use std::hash::{BuildHasher, Hasher};
        let mut key = vec![0u8; 32];
        let from_os = std::fs::File::open("/dev/urandom")
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut key));
        if from_os.is_err() {
            for chunk in key.chunks_mut(8) {
                let mut h = std::collections::hash_map::RandomState::new().build_hasher();
                h.write_u64(std::process::id() as u64);
                chunk.copy_from_slice(&h.finish().to_le_bytes());
            }
        }
        key
    }

    pub fn new(key: &[u8]) -> Self {
        Anonymizer {
            key: key.to_vec(),
            v4: HashMap::new(),
        }
    }

    fn prf(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update((self.key.len() as u64).to_be_bytes());
        h.update(&self.key);
        for p in parts {
            h.update((p.len() as u64).to_be_bytes());
            h.update(p);
        }
        h.finalize().into()
    }

    pub fn ip(&mut self, ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V4(v) => IpAddr::V4(self.v4(v)),
            IpAddr::V6(v) => IpAddr::V6(self.v6(v)),
        }
    }

    pub fn v4(&mut self, ip: Ipv4Addr) -> Ipv4Addr {
        let o = ip.octets();
        if o[0] == 0 {
            // "This network" (and the unspecified 0.0.0.0 of a 229).
            return ip;
        }
        let mut out = [0u8; 4];
        for i in 0..4 {
            let mut prefix = [0u8; 3];
            prefix[..i].copy_from_slice(&o[..i]);
            out[i] = self.v4_table(i as u8, prefix)[o[i] as usize];
        }
        Ipv4Addr::from(out)
    }

    fn v4_table(&mut self, pos: u8, prefix: [u8; 3]) -> &[u8; 256] {
        if self.v4.len() >= MAX_TABLES && !self.v4.contains_key(&(pos, prefix)) {
            self.v4.clear();
        }
        if !self.v4.contains_key(&(pos, prefix)) {
            let t = self.make_v4_table(pos, prefix);
            self.v4.insert((pos, prefix), t);
        }
        &self.v4[&(pos, prefix)]
    }

    /// A permutation of 0..=255 that keeps every value's digit count and
    /// fixes the values that decide an address's class at this position.
    fn make_v4_table(&self, pos: u8, prefix: [u8; 3]) -> [u8; 256] {
        let fixed = |v: u8| -> bool {
            match pos {
                0 => matches!(v, 0 | 10 | 100 | 127 | 169 | 172 | 192) || v >= 224,
                1 => match prefix[0] {
                    172 => (16..=31).contains(&v),
                    192 => v == 168,
                    169 => v == 254,
                    100 => (64..=127).contains(&v),
                    _ => false,
                },
                _ => false,
            }
        };
        let mut table = [0u8; 256];
        for (v, t) in table.iter_mut().enumerate() {
            *t = v as u8;
        }
        let mut stream = Stream::new(self.prf(&[b"v4", &[pos], &prefix[..pos as usize]]), self);
        for (lo, hi) in [(0u16, 9u16), (10, 99), (100, 255)] {
            let class: Vec<u8> = (lo..=hi).map(|v| v as u8).filter(|&v| !fixed(v)).collect();
            let mut shuffled = class.clone();
            // Fisher–Yates from the keyed stream.
            for i in (1..shuffled.len()).rev() {
                let j = stream.below(i as u32 + 1) as usize;
                shuffled.swap(i, j);
            }
            for (a, b) in class.iter().zip(&shuffled) {
                table[*a as usize] = *b;
            }
        }
        table
    }

    pub fn v6(&mut self, ip: Ipv6Addr) -> Ipv6Addr {
        let g = ip.segments();
        if let Some(v4) = ip.to_ipv4_mapped() {
            // ::ffff:a.b.c.d carries an IPv4 address: map that one.
            return self.v4(v4).to_ipv6_mapped();
        }
        if g[..6].iter().all(|&x| x == 0) && g[6] == 0 {
            // ::, ::1 and the like carry no address worth hiding.
            return ip;
        }
        if g[..6].iter().all(|&x| x == 0) {
            // The deprecated IPv4-compatible ::a.b.c.d: map the IPv4 part.
            let m = self.v4(Ipv4Addr::new(
                (g[6] >> 8) as u8,
                g[6] as u8,
                (g[7] >> 8) as u8,
                g[7] as u8,
            ));
            return m.to_ipv6_compatible();
        }
        let mut out = [0u16; 8];
        for i in 0..8 {
            out[i] = self.v6_group(i as u8, &g[..i], g[i]);
        }
        Ipv6Addr::from(out)
    }

    /// One group: 0 stays 0 (so `::` compression still fits), the first
    /// group keeps the ULA, link-local and multicast ranges, every other
    /// value moves among the values with its number of hex digits *and*
    /// the same number of decimal digits in each of its two bytes, so the
    /// group keeps its length both as hex text (`2001:db8::1`) and as the
    /// decimal bytes of LPRT and 228 (`6,16,32,1,13,184,…`).
    ///
    /// That class is a product of two intervals, high bytes × low bytes
    /// (both digit counts are interval conditions on each byte once the
    /// high byte is known), so a value's rank in it is arithmetic.
    fn v6_group(&self, pos: u8, prefix: &[u16], v: u16) -> u16 {
        if v == 0 || (pos == 0 && v >= 0xfc00) {
            return v;
        }
        let [hi, lo] = v.to_be_bytes();
        let hex = |b: u8| match b {
            0 => (0, 0),
            1..=0xf => (1, 0xf),
            _ => (0x10, 0xff),
        };
        let dec = |b: u8| match b {
            0..=9 => (0, 9),
            10..=99 => (10, 99),
            _ => (100, 255),
        };
        let meet = |a: (u8, u8), b: (u8, u8)| (a.0.max(b.0), a.1.min(b.1));
        let mut his = meet(hex(hi), dec(hi));
        if pos == 0 {
            his.1 = his.1.min(0xfb);
        }
        // With a zero high byte the hex length is the low byte's.
        let los = if hi == 0 {
            meet(hex(lo), dec(lo))
        } else {
            dec(lo)
        };
        let n_lo = u32::from(los.1 - los.0) + 1;
        let n = (u32::from(his.1 - his.0) + 1) * n_lo;
        if n <= 1 {
            return v;
        }
        let bytes: Vec<u8> = prefix.iter().flat_map(|g| g.to_be_bytes()).collect();
        let seed = self.prf(&[b"v6", &[pos], &bytes]);
        let bits = 32 - (n - 1).leading_zeros();
        let bits = bits + bits % 2;
        let mut x = u32::from(hi - his.0) * n_lo + u32::from(lo - los.0);
        // Cycle walking: a permutation of 0..2^bits restricted to 0..n.
        loop {
            x = feistel(&seed, bits, x);
            if x < n {
                let h = his.0 as u32 + x / n_lo;
                let l = los.0 as u32 + x % n_lo;
                return ((h << 8) | l) as u16;
            }
        }
    }

    /// Rewrites the addresses written in an FTP line, in place and at the
    /// same length: dotted IPv4 (`198.51.100.60`), the comma form of PORT
    /// and 227 (`198,51,100,60,…`: the first four of a run of four or more
    /// numbers), LPRT and 228 for both families (`4,4,` + four bytes,
    /// `6,16,` + sixteen), and IPv6 (`2001:db8::1`).
    pub fn text(&mut self, line: &mut [u8]) {
        self.dotted(line);
        self.commas(line);
        self.colons(line);
    }

    fn dotted(&mut self, line: &mut [u8]) {
        for (start, end) in runs(line, |c| c.is_ascii_digit() || c == b'.') {
            let parts = fields(&line[start..end], b'.');
            if parts.len() != 4 {
                continue;
            }
            self.octets(line, start, &parts);
        }
    }

    fn commas(&mut self, line: &mut [u8]) {
        for (start, end) in runs(line, |c| c.is_ascii_digit() || c == b',') {
            let mut parts = fields(&line[start..end], b',');
            let field = |k: usize| &line[start + parts[k].0..start + parts[k].1];
            // LPRT/228: family, address length, the address bytes, port
            // length, port bytes.
            if parts.len() > 2 + 16 && field(0) == b"6" && field(1) == b"16" {
                self.v6_bytes(line, start, &parts[2..18]);
                continue;
            }
            if parts.len() >= 9 && field(0) == b"4" && field(1) == b"4" {
                parts.drain(..2);
            }
            if parts.len() < 4 {
                continue;
            }
            self.octets(line, start, &parts[..4]);
        }
    }

    /// Maps four decimal fields (offsets relative to `base`) as an IPv4
    /// address, if each is a number up to 255.
    fn octets(&mut self, line: &mut [u8], base: usize, parts: &[(usize, usize)]) {
        let Some(o) = decimal_bytes::<4>(line, base, parts) else {
            return;
        };
        let m = self.v4(Ipv4Addr::from(o)).octets();
        for (k, &(a, b)) in parts.iter().enumerate() {
            let s = m[k].to_string();
            if s.len() == b - a {
                line[base + a..base + b].copy_from_slice(s.as_bytes());
            }
        }
    }

    /// Maps sixteen decimal fields (offsets relative to `base`) as an IPv6
    /// address, if each is a byte written without leading zeros.
    fn v6_bytes(&mut self, line: &mut [u8], base: usize, parts: &[(usize, usize)]) {
        let Some(b) = decimal_bytes::<16>(line, base, parts) else {
            return;
        };
        let m = self.v6(Ipv6Addr::from(b)).octets();
        for (k, &(s, e)) in parts.iter().enumerate() {
            let d = m[k].to_string();
            // Always true: the mapping keeps each byte's digit count.
            if d.len() == e - s {
                line[base + s..base + e].copy_from_slice(d.as_bytes());
            }
        }
    }

    fn colons(&mut self, line: &mut [u8]) {
        for (start, end) in runs(line, |c| c.is_ascii_hexdigit() || c == b':') {
            let t = &line[start..end];
            if t.iter().filter(|&&c| c == b':').count() < 2 {
                continue;
            }
            let Some(ip) = std::str::from_utf8(t)
                .ok()
                .and_then(|s| s.parse::<Ipv6Addr>().ok())
            else {
                continue;
            };
            let (old, new) = (ip.segments(), self.v6(ip).segments());
            // Each written group, left of `::` counted from the start and
            // right of it from the end, takes its mapped value in the
            // same number of digits and the same case.
            let text = t.to_vec();
            let groups = fields(&text, b':');
            let split = text.windows(2).position(|w| w == b"::");
            let mut left = 0usize;
            let n_right = split.map_or(0, |p| {
                groups.iter().filter(|g| g.0 > p && g.1 > g.0).count()
            });
            let mut right_seen = 0usize;
            for &(a, b) in &groups {
                if b == a {
                    continue;
                }
                let idx = match split {
                    Some(p) if a > p => {
                        right_seen += 1;
                        8 - n_right + right_seen - 1
                    }
                    _ => {
                        left += 1;
                        left - 1
                    }
                };
                if idx >= 8
                    || u16::from_str_radix(std::str::from_utf8(&text[a..b]).unwrap_or("x"), 16).ok()
                        != Some(old[idx])
                {
                    continue;
                }
                let upper = text[a..b].iter().any(u8::is_ascii_uppercase);
                let mut s = format!("{:x}", new[idx]);
                if upper {
                    s = s.to_uppercase();
                }
                if s.len() == b - a {
                    line[start + a..start + b].copy_from_slice(s.as_bytes());
                }
            }
        }
    }
}

/// `N` decimal fields (offsets relative to `base`) as bytes, if each is a
/// number up to 255 written without leading zeros (those would not survive
/// the mapping at the same length; such text is not an address anyway).
fn decimal_bytes<const N: usize>(
    line: &[u8],
    base: usize,
    parts: &[(usize, usize)],
) -> Option<[u8; N]> {
    let mut out = [0u8; N];
    for (k, &(a, b)) in parts.iter().take(N).enumerate() {
        let t = &line[base + a..base + b];
        let v = std::str::from_utf8(t).ok()?.parse::<u8>().ok()?;
        if t.len() > 1 && t[0] == b'0' {
            return None;
        }
        out[k] = v;
    }
    Some(out)
}

/// Maximal runs of bytes satisfying `f` (start, end).
fn runs(line: &[u8], f: impl Fn(u8) -> bool) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < line.len() {
        if f(line[i]) {
            let s = i;
            while i < line.len() && f(line[i]) {
                i += 1;
            }
            out.push((s, i));
        } else {
            i += 1;
        }
    }
    out
}

/// The fields of `t` between separators (start, end), empty ones included.
fn fields(t: &[u8], sep: u8) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut s = 0;
    for (i, &c) in t.iter().enumerate() {
        if c == sep {
            out.push((s, i));
            s = i + 1;
        }
    }
    out.push((s, t.len()));
    out
}

/// A keyed permutation of 0..2^bits (bits even, at most 16).
fn feistel(seed: &[u8; 32], bits: u32, x: u32) -> u32 {
    let half = bits / 2;
    let mask = (1u32 << half) - 1;
    let (mut l, mut r) = (x >> half, x & mask);
    for round in 0..4u8 {
        let mut h = Sha256::new();
        h.update(seed);
        h.update([round]);
        h.update(r.to_be_bytes());
        let d = h.finalize();
        let f = u32::from_be_bytes([d[0], d[1], d[2], d[3]]) & mask;
        (l, r) = (r, l ^ f);
    }
    (l << half) | r
}

/// Random numbers from a keyed SHA-256 counter stream.
struct Stream<'a> {
    seed: [u8; 32],
    counter: u64,
    buf: Vec<u8>,
    anon: &'a Anonymizer,
}

impl<'a> Stream<'a> {
    fn new(seed: [u8; 32], anon: &'a Anonymizer) -> Self {
        Stream {
            seed,
            counter: 0,
            buf: Vec::new(),
            anon,
        }
    }

    fn u32(&mut self) -> u32 {
        if self.buf.len() < 4 {
            let block = self.anon.prf(&[&self.seed, &self.counter.to_be_bytes()]);
            self.counter += 1;
            self.buf.extend_from_slice(&block);
        }
        let v = u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]);
        self.buf.drain(..4);
        v
    }

    /// Uniform in 0..n (rejection sampling, no modulo bias).
    fn below(&mut self, n: u32) -> u32 {
        let limit = u32::MAX - u32::MAX % n;
        loop {
            let v = self.u32();
            if v < limit {
                return v % n;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ftp::address::is_private;

    fn a() -> Anonymizer {
        Anonymizer::new(b"test key")
    }

    #[test]
    fn consistent_prefix_and_class_preserving() {
        let mut x = a();
        let p = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        let m1 = x.v4(p("198.51.100.60"));
        let m2 = x.v4(p("198.51.100.61"));
        let m3 = x.v4(p("198.51.7.1"));
        assert_ne!(m1, p("198.51.100.60"));
        assert_eq!(m1, a().v4(p("198.51.100.60")), "same key, same mapping");
        assert_ne!(m1, Anonymizer::new(b"other").v4(p("198.51.100.60")));
        assert_eq!(m1.octets()[..3], m2.octets()[..3]);
        assert_eq!(m1.octets()[..2], m3.octets()[..2]);
        assert_ne!(m1.octets()[2], m3.octets()[2]);
        for s in [
            "10.1.2.3",
            "172.20.1.1",
            "192.168.7.9",
            "127.0.0.1",
            "169.254.3.4",
            "100.64.9.9",
        ] {
            let m = x.v4(p(s));
            assert!(is_private(IpAddr::V4(m)), "{s} → {m}");
        }
        for s in ["8.8.8.8", "203.0.113.10", "172.32.1.1", "100.128.0.1"] {
            let m = x.v4(p(s));
            assert!(!is_private(IpAddr::V4(m)), "{s} → {m}");
        }
        // A bijection per position: 256 inputs, 256 outputs.
        let outs: std::collections::HashSet<u8> = (0..=255u8)
            .map(|v| x.v4(Ipv4Addr::new(203, 0, 113, v)).octets()[3])
            .collect();
        assert_eq!(outs.len(), 256);
    }

    #[test]
    fn lines_keep_their_length_and_agree_with_headers() {
        let mut x = a();
        let ip = x.v4("198.51.100.60".parse().unwrap()).octets();
        let mut port = b"PORT 198,51,100,60,125,227\r".to_vec();
        x.text(&mut port);
        assert_eq!(port.len(), 27);
        let want = format!("PORT {},{},{},{},125,227\r", ip[0], ip[1], ip[2], ip[3]);
        assert_eq!(String::from_utf8(port).unwrap(), want);
        // The mangled port octet is not an address octet: untouched.
        let mut bad = b"500 'PORT 198,51,100,60,125,22_': no".to_vec();
        x.text(&mut bad);
        assert!(String::from_utf8_lossy(&bad).ends_with(",125,22_': no"));
        let mut pasv = b"227 Entering Passive Mode (198,51,100,60,4,1).".to_vec();
        x.text(&mut pasv);
        assert!(
            String::from_utf8_lossy(&pasv)
                .contains(&format!("({},{},{},{},4,1)", ip[0], ip[1], ip[2], ip[3]))
        );
        let mut eprt = b"EPRT |1|198.51.100.60|5282|".to_vec();
        x.text(&mut eprt);
        assert_eq!(
            String::from_utf8(eprt).unwrap(),
            format!("EPRT |1|{}.{}.{}.{}|5282|", ip[0], ip[1], ip[2], ip[3])
        );
        // Not addresses: a version, a date, a leading zero.
        for s in [
            &b"vsFTPd 3.0.3"[..],
            b"1.2.3.4.5",
            b"2026-11-24",
            b"010.1.1.1",
        ] {
            let mut t = s.to_vec();
            x.text(&mut t);
            assert_eq!(t, s);
        }
    }

    #[test]
    fn ipv6_keeps_text_shape() {
        let mut x = a();
        let v: Ipv6Addr = "2001:db8::a:1".parse().unwrap();
        let m = x.v6(v);
        let mut t = b"EPRT |2|2001:db8::a:1|5282|".to_vec();
        x.text(&mut t);
        let s = String::from_utf8(t).unwrap();
        assert_eq!(s.len(), 27);
        let inner = &s[8..s.len() - 6];
        assert_eq!(inner.parse::<Ipv6Addr>().unwrap(), m, "{s}");
        assert_eq!(m.segments()[2..6], [0, 0, 0, 0]);
        for s in ["fe80::1", "fd00::5", "::1", "ff02::1"] {
            let ip: Ipv6Addr = s.parse().unwrap();
            assert_eq!(
                is_private(IpAddr::V6(x.v6(ip))),
                is_private(IpAddr::V6(ip)),
                "{s}"
            );
        }
        // A bijection within a class.
        let outs: std::collections::HashSet<u16> = (0x100..0x1000u16)
            .map(|g| {
                x.v6(Ipv6Addr::new(0x2001, 0xdb8, g, 0, 0, 0, 0, 1))
                    .segments()[2]
            })
            .collect();
        assert_eq!(outs.len(), 0xf00);
        assert!(outs.iter().all(|g| (0x100..0x1000).contains(g)));
    }

    #[test]
    fn lprt_and_228_are_mapped_for_both_families() {
        let mut x = a();
        let v4 = x.v4("198.51.100.60".parse().unwrap()).octets();
        let mut l = b"LPRT 4,4,198,51,100,60,2,156,65".to_vec();
        x.text(&mut l);
        assert_eq!(
            String::from_utf8(l).unwrap(),
            format!("LPRT 4,4,{},{},{},{},2,156,65", v4[0], v4[1], v4[2], v4[3])
        );
        let ip: Ipv6Addr = "2001:db8:bbbb:bbbb::1".parse().unwrap();
        let m = x.v6(ip).octets();
        let orig = b"LPRT 6,16,32,1,13,184,187,187,187,187,0,0,0,0,0,0,0,1,2,156,66";
        let mut l = orig.to_vec();
        x.text(&mut l);
        let want: Vec<String> = m.iter().map(u8::to_string).collect();
        assert_eq!(
            String::from_utf8(l.clone()).unwrap(),
            format!("LPRT 6,16,{},2,156,66", want.join(","))
        );
        assert_eq!(l.len(), orig.len());
        let mut r = b"228 Entering Long Passive Mode (6,16,32,1,13,184,187,187,187,187,0,0,0,0,0,0,0,1,2,117,49)".to_vec();
        x.text(&mut r);
        assert!(
            String::from_utf8(r)
                .unwrap()
                .contains(&format!("(6,16,{},2,117,49)", want.join(",")))
        );
    }

    #[test]
    fn ipv4_inside_ipv6_is_mapped_as_ipv4() {
        let mut x = a();
        let v4: Ipv4Addr = "198.51.100.60".parse().unwrap();
        let m = x.v4(v4);
        assert_eq!(x.v6(v4.to_ipv6_mapped()), m.to_ipv6_mapped());
        assert_eq!(x.v6(v4.to_ipv6_compatible()), m.to_ipv6_compatible());
        assert_eq!(x.v6(Ipv6Addr::LOCALHOST), Ipv6Addr::LOCALHOST);
        assert_eq!(x.v6(Ipv6Addr::UNSPECIFIED), Ipv6Addr::UNSPECIFIED);
    }

    #[test]
    fn ipv6_groups_keep_hex_and_decimal_byte_lengths() {
        let x = a();
        let len = |g: u16| {
            let [h, l] = g.to_be_bytes();
            (
                format!("{g:x}").len(),
                h.to_string().len(),
                l.to_string().len(),
            )
        };
        for pos in [0u8, 3] {
            let mut seen = std::collections::HashSet::new();
            for g in 1..=0xffffu16 {
                let m = x.v6_group(pos, &[0x2001, 0xdb8, 7][..pos as usize], g);
                if pos == 0 && g >= 0xfc00 {
                    assert_eq!(m, g);
                    continue;
                }
                assert_eq!(len(m), len(g), "{g:#x} → {m:#x}");
                assert!(seen.insert(m), "not a bijection at {g:#x}");
            }
        }
    }
}
