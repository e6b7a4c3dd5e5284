//! Loss injection (issue #21): every capture is damaged the ways taps
//! damage captures, and the damaged capture may not say more than the
//! intact one.
//!
//! Variants of each capture:
//! - a burst of 3, 10, 100 or 1,000 consecutive frames removed (a busy
//!   tap drops several at once);
//! - one direction of one connection removed from some point on;
//! - the capture cut at a frame (it ended early);
//! - every connection kept to its first N bytes of payload each way
//!   (sampled traces), N = 0, 64, 512.
//!
//! Variants of each testdata pair (client side, server side):
//! - a burst of 3, 10 or 100 frames lost at one tap, and the same moment
//!   lost at both taps (two taps on one busy machine lose together);
//! - each short segment (a command or reply) lost at both taps, with what
//!   either captured in the millisecond after it.
//!
//! Asserted for each: no warning or error of a rule the intact capture
//! does not raise at that severity or above, and every error of the
//! intact capture is still an error where the variant keeps every frame
//! from its session's first to the finding's last (to the session's last
//! for a rule that argues from silence): the way to pass is to see
//! better, not to say less.
//!
//! `cargo test` runs a deterministic sample over testdata/ (a few hundred
//! variants). The whole run, over testdata and the public corpus:
//!
//! ```sh
//! PORTMORTEM_LOSS=full cargo test --release --test loss -- --nocapture
//! ```
//!
//! New captures join by being put in testdata/ (or the corpus).

mod common;
use common::*;
use portmortem::rules::{Finding, Severity};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// A classic pcap's frames: (header + data) slices and the link type.
struct Pcap {
    header: Vec<u8>,
    frames: Vec<Vec<u8>>,
    link: u32,
    little: bool,
    /// Nanosecond timestamps (pcap's magic says µs or ns).
    nanos: bool,
}

/// A pcapng capture (or a compressed one) as a classic pcap of the same
/// frames, so it is damaged the same ways: nanosecond timestamps, one link
/// type (None where its interfaces differ, or it cannot be read). What a
/// pcapng holds besides frames (interface statistics, comments) is not
/// carried over; the intact and damaged versions both lack it.
fn as_classic(bytes: &[u8]) -> Option<Vec<u8>> {
    use portmortem::capture::CaptureReader;
    use portmortem::capture::input::HashMode;
    let mut r = CaptureReader::from_reader(
        "loss".into(),
        Box::new(std::io::Cursor::new(bytes.to_vec())),
        HashMode::Off,
    )
    .ok()?;
    let mut link = None;
    let mut mixed = false;
    let mut out = Vec::new();
    r.for_each(&mut |f| {
        mixed |= link.is_some_and(|l| l != f.linktype);
        link = Some(f.linktype);
        let ns = f.ts.0.max(0) as u64;
        for v in [
            (ns / 1_000_000_000) as u32,
            (ns % 1_000_000_000) as u32,
            f.data.len() as u32,
            f.orig_len,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(f.data);
    })
    .ok()?;
    let link = link.filter(|_| !mixed)?;
    let mut pcap = Vec::new();
    for v in [0xa1b2_3c4du32, 0x0004_0002, 0, 0, 0x0004_0000, link] {
        pcap.extend_from_slice(&v.to_le_bytes());
    }
    // The version is two u16s (2, 4): written above as one little-endian
    // word, 0x0004_0002.
    pcap.extend_from_slice(&out);
    Some(pcap)
}

fn read_pcap(bytes: &[u8]) -> Option<Pcap> {
    if bytes.len() < 24 {
        return None;
    }
    let magic = u32::from_le_bytes(bytes[..4].try_into().ok()?);
    let (little, nanos) = match magic {
        0xa1b2_c3d4 => (true, false),
        0xa1b2_3c4d => (true, true),
        0xd4c3_b2a1 => (false, false),
        0x4d3c_b2a1 => (false, true),
        _ => return None,
    };
    let u32_at = |b: &[u8], at: usize| -> u32 {
        let a: [u8; 4] = b[at..at + 4].try_into().unwrap();
        if little {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    let link = u32_at(bytes, 20) & 0x0fff_ffff;
    let mut frames = Vec::new();
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let caplen = u32_at(bytes, at + 8) as usize;
        let end = at + 16 + caplen;
        if end > bytes.len() {
            break;
        }
        frames.push(bytes[at..end].to_vec());
        at = end;
    }
    Some(Pcap {
        header: bytes[..24].to_vec(),
        frames,
        link,
        little,
        nanos,
    })
}

impl Pcap {
    /// Frame `i`'s capture time in nanoseconds.
    fn ns(&self, i: usize) -> u64 {
        let f = &self.frames[i];
        let word = |at: usize| {
            let a: [u8; 4] = f[at..at + 4].try_into().unwrap();
            u64::from(if self.little {
                u32::from_le_bytes(a)
            } else {
                u32::from_be_bytes(a)
            })
        };
        word(0) * 1_000_000_000 + word(4) * if self.nanos { 1 } else { 1_000 }
    }

    fn with(&self, keep: &dyn Fn(usize) -> bool) -> Vec<u8> {
        let mut out = self.header.clone();
        for (i, f) in self.frames.iter().enumerate() {
            if keep(i) {
                out.extend_from_slice(f);
            }
        }
        out
    }

    /// The TCP four-tuple direction, sequence number and payload length
    /// of frame `i`, where it is Ethernet or raw IP carrying TCP.
    fn tcp(&self, i: usize) -> Option<(Dir, u32, usize)> {
        use etherparse::{NetSlice, SlicedPacket, TransportSlice};
        let data = &self.frames[i][16..];
        let p = match self.link {
            1 => SlicedPacket::from_ethernet(data).ok()?,
            101 | 228 | 229 | 12 | 14 => SlicedPacket::from_ip(data).ok()?,
            _ => return None,
        };
        let (src, dst) = match p.net? {
            NetSlice::Ipv4(v4) => (
                v4.header().source().to_vec(),
                v4.header().destination().to_vec(),
            ),
            NetSlice::Ipv6(v6) => (
                v6.header().source().to_vec(),
                v6.header().destination().to_vec(),
            ),
            _ => return None,
        };
        let TransportSlice::Tcp(t) = p.transport? else {
            return None;
        };
        Some((
            (src, t.source_port(), dst, t.destination_port()),
            t.sequence_number(),
            t.payload().len(),
        ))
    }
}

/// One direction of a TCP connection: source address and port,
/// destination address and port.
type Dir = (Vec<u8>, u16, Vec<u8>, u16);

/// One damaged version: a name and the frames (0-based) it keeps.
struct Variant {
    name: String,
    keep: Vec<bool>,
}

fn variants(p: &Pcap, sample: bool) -> Vec<Variant> {
    let n = p.frames.len();
    let mut v = Vec::new();
    let every = |count: usize| (n / count.max(1)).max(1);
    // Bursts.
    for burst in [3usize, 10, 100, 1000] {
        if burst >= n {
            continue;
        }
        let step = if sample { every(16) } else { every(40) };
        let mut start = 0;
        while start + burst <= n {
            let keep = (0..n).map(|i| i < start || i >= start + burst).collect();
            v.push(Variant {
                name: format!("frames {}–{} lost", start + 1, start + burst),
                keep,
            });
            start += step;
        }
    }
    // Cut early.
    let step = if sample { every(24) } else { every(60) };
    let mut cut = 1;
    while cut < n {
        v.push(Variant {
            name: format!("cut after frame {cut}"),
            keep: (0..n).map(|i| i < cut).collect(),
        });
        cut += step;
    }
    // One direction of one connection gone from some point on.
    let tuples: Vec<_> = (0..n).map(|i| p.tcp(i)).collect();
    let mut dirs: Vec<Dir> = Vec::new();
    for t in tuples.iter().flatten() {
        if !dirs.contains(&t.0) {
            dirs.push(t.0.clone());
        }
    }
    let max_dirs = if sample { 8 } else { 16 };
    for d in dirs.iter().take(max_dirs) {
        let idx: Vec<usize> = (0..n)
            .filter(|&i| tuples[i].as_ref().is_some_and(|t| &t.0 == d))
            .collect();
        for frac in [0usize, 1, 2] {
            let from = idx[idx.len() * frac / 3];
            v.push(Variant {
                name: format!(
                    "{}:{} → {}:{} gone from frame {}",
                    fmt_ip(&d.0),
                    d.1,
                    fmt_ip(&d.2),
                    d.3,
                    from + 1
                ),
                keep: (0..n)
                    .map(|i| i < from || tuples[i].as_ref().is_none_or(|t| &t.0 != d))
                    .collect(),
            });
        }
    }
    // Sampled traces: each direction kept to its first N payload bytes.
    for limit in [0u64, 64, 512] {
        let mut first: HashMap<&Dir, u32> = HashMap::new();
        let keep = (0..n)
            .map(|i| match &tuples[i] {
                Some((d, seq, len)) if *len > 0 => {
                    let base = *first.entry(d).or_insert(*seq);
                    u64::from(seq.wrapping_sub(base)) < limit
                }
                _ => true,
            })
            .collect();
        v.push(Variant {
            name: format!("each direction kept to its first {limit} payload bytes"),
            keep,
        });
    }
    v
}

fn fmt_ip(b: &[u8]) -> String {
    match b.len() {
        4 => std::net::Ipv4Addr::from(<[u8; 4]>::try_from(b).unwrap()).to_string(),
        16 => std::net::Ipv6Addr::from(<[u8; 16]>::try_from(b).unwrap()).to_string(),
        _ => "?".into(),
    }
}

/// The highest severity of each rule the capture raises: a rule folded
/// into another finding of the same event (`related`) counts as raised
/// at that finding's severity.
fn worst(fs: &[Finding]) -> HashMap<&'static str, Severity> {
    let mut m = HashMap::new();
    for f in fs {
        for rule in std::iter::once(f.rule).chain(f.related.iter().map(|r| r.rule)) {
            let e = m.entry(rule.id()).or_insert(f.severity);
            *e = (*e).max(f.severity);
        }
    }
    m
}

/// New findings that are true of the damaged capture, with why: the
/// test fails on any other.
const KNOWN: &[(&str, &str, &str)] = &[
    (
        "pair-mode",
        "reply-injected",
        "the proxy converted PASV to PORT and made up the 227; with the PASV or the PORT lost at a tap the conversion cannot be named, and what is left is true: the server-side stream holds no 227",
    ),
    (
        "hand-overlap-conflict.pcap",
        "port-mangled-received",
        "two copies of the PORT segment differ (227 and 22_); with the 227 copy lost, the tap saw only the 22_ one, so 'this tap saw a mangled PORT' is true of what it captured",
    ),
    (
        "hand-edited-capture.pcap",
        "port-mangled-received",
        "the same two copies, the 22_ one spliced in from an older file: with the 227 copy lost, what is left is a capture holding only the 22_ line, and 'this tap saw a mangled PORT' is true of it",
    ),
    (
        "lab-fw-mangle-legs.pcapng",
        "tcp-overlap-conflict",
        "this test rewrites a pcapng as classic pcap, which keeps no interface: the two legs are one, read as one capture (as analyze --one-view reads the pcapng). dumpcap wrote the fwout leg (the 22_ copies) after the fwin leg's FIN, so intact those copies are read as after the close; with fwin frames lost they join the stream, and two copies of the same bytes that differ (227 on fwin, 22_ on fwout) are what the file holds. The pcapng itself is read leg by leg (tests/legs.rs)",
    ),
    (
        "lab-fw-mangle-legs.pcapng",
        "port-mangled-received",
        "as above: with the fwin copy of the line lost, the file's only copy left in the stream is fwout's `22_`, so 'this tap saw a mangled PORT' is true of what it captured",
    ),
    (
        "lab-fw-mangle-fwmon.snoop",
        "port-mangled-received",
        "this test rewrites the fw monitor file as classic pcap of the frames it hands on (points i and O), which keeps no FW-1 interface: the two legs are one capture. With fwin's `i` copy of the line lost, the only copy left is fwout's `O`, `22_`, so 'this tap saw a mangled PORT' is true of what it captured. The snoop itself is read leg by leg (tests/legs.rs)",
    ),
];

fn known(name: &str, rule: &str) -> bool {
    KNOWN.iter().any(|(n, r, _)| *n == name && *r == rule)
}

/// The intact capture's error `f` is lost when no error of its rule in
/// the damaged version's `found` is on one of its frames (`want`, in the
/// damaged version's numbering).
fn lost_error(
    name: &str,
    variant: &str,
    f: &Finding,
    found: &[Finding],
    want: &BTreeSet<u64>,
) -> Option<String> {
    let kept = found.iter().any(|g| {
        (g.rule == f.rule || g.related.iter().any(|r| r.rule == f.rule))
            && g.severity == Severity::Error
            && g.frames.iter().any(|k| want.contains(k))
    });
    (!kept).then(|| {
        format!(
            "{name} ({variant}): lost the error {} on frames {:?}",
            f.rule.id(),
            f.frames
        )
    })
}

/// Rules whose evidence is what did not happen after their frames.
const SILENCE: &[&str] = &["session-stall-after-ctl", "alg-drop-suspected"];

/// What a variant said that the intact capture does not support, and the
/// intact errors it lost though it kept their frames.
fn judge(
    name: &str,
    intact: &[Finding],
    first_frame: &HashMap<String, (u64, u64)>,
    v: &Variant,
    p: &Pcap,
) -> Vec<String> {
    let r = analyze_bytes(name, p.with(&|i| v.keep[i]));
    let base = worst(intact);
    let mut bad = Vec::new();
    for f in &r.findings {
        if f.severity >= Severity::Warning
            && base.get(f.rule.id()).is_none_or(|&s| s < f.severity)
            && !known(name, f.rule.id())
        {
            bad.push(format!(
                "{name} ({}): new {} {}: {}",
                v.name,
                f.severity.name(),
                f.rule.id(),
                f.message.chars().take(300).collect::<String>()
            ));
        }
    }
    // Errors whose frames (the session's first to the finding's last) the
    // variant kept whole must stay errors. Frames renumber: the variant's
    // frame for an original one is the count of kept frames up to it.
    let renumber: Vec<u64> = v
        .keep
        .iter()
        .scan(0u64, |k, &kept| {
            *k += u64::from(kept);
            Some(*k)
        })
        .collect();
    for f in intact.iter().filter(|f| f.severity == Severity::Error) {
        let Some(&last) = f.frames.iter().max() else {
            continue;
        };
        let (from, end) = first_frame.get(&f.session).copied().unwrap_or((1, last));
        // A rule that argues from silence rests on everything after its
        // line too: the packets that show the capture was watching.
        let last = if SILENCE.contains(&f.rule.id()) {
            end.max(last)
        } else {
            last
        };
        let whole = (from..=last).all(|k| v.keep.get(k as usize - 1).copied().unwrap_or(false));
        if !whole {
            continue;
        }
        let want: BTreeSet<u64> = f.frames.iter().map(|&k| renumber[k as usize - 1]).collect();
        bad.extend(lost_error(name, &v.name, f, &r.findings, &want));
    }
    bad
}

/// `work` over `items` on both cores (each thread takes every other
/// item), with the variants counted and the false statements of all.
fn on_both_cores<T: Sync>(
    items: &[T],
    work: impl Fn(&T) -> (usize, Vec<String>) + Sync,
) -> (usize, Vec<String>) {
    std::thread::scope(|sc| {
        let hs: Vec<_> = (0..2)
            .map(|k| {
                let work = &work;
                sc.spawn(move || {
                    items.iter().skip(k).step_by(2).map(work).fold(
                        (0, Vec::new()),
                        |(n, mut b), (m, c)| {
                            b.extend(c);
                            (n + m, b)
                        },
                    )
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().unwrap())
            .fold((0, Vec::new()), |(n, mut b), (m, c)| {
                b.extend(c);
                (n + m, b)
            })
    })
}

/// One capture through its variants.
fn run_one(path: &PathBuf, sample: bool) -> (usize, Vec<String>) {
    let mut count = 0;
    let mut bad = Vec::new();
    let Ok(bytes) = std::fs::read(path) else {
        return (0, Vec::new());
    };
    let (bytes, p) = match read_pcap(&bytes) {
        Some(p) => (bytes, p),
        None => match as_classic(&bytes) {
            Some(c) => {
                let p = read_pcap(&c).expect("a classic pcap just written");
                (c, p)
            }
            None => {
                skipped(path);
                return (0, Vec::new());
            }
        },
    };
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let intact = analyze_bytes(&name, bytes.clone());
    let first_frame: HashMap<String, (u64, u64)> = intact
        .sessions
        .iter()
        .map(|s| (s.name(), (s.first_frame, s.last_frame)))
        .collect();
    for v in variants(&p, sample) {
        count += 1;
        bad.extend(judge(&name, &intact.findings, &first_frame, &v, &p));
    }
    (count, bad)
}

/// A capture the test cannot damage (mixed link types, unreadable) is
/// said, not passed over.
fn skipped(path: &Path) {
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr().lock(),
        "loss injection: {} skipped (mixed link types or unreadable)",
        path.display()
    );
}

fn report(count: usize, bad: &[String]) {
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr().lock(),
        "loss injection: {count} variants, {} statements the intact capture does not support",
        bad.len()
    );
    assert!(
        bad.is_empty(),
        "{} of {count} variants:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

/// What one damaged pair keeps: per tap (client side, server side), the
/// frames kept.
struct TwoTap {
    name: String,
    keep: [Vec<bool>; 2],
}

/// The frames of `p` captured outside `[from, to]` (nanoseconds).
fn outside(p: &Pcap, from: u64, to: u64) -> Vec<bool> {
    (0..p.frames.len())
        .map(|i| {
            let t = p.ns(i);
            t < from || t > to
        })
        .collect()
}

/// Damage at two taps: a burst at one tap; a burst at both at the same
/// moment (two taps on one busy machine lose together); each short
/// segment (a command or reply) lost at both taps with what either
/// captured in the millisecond after it.
fn two_tap_variants(taps: [&Pcap; 2], sample: bool) -> Vec<TwoTap> {
    let all = |p: &Pcap| vec![true; p.frames.len()];
    let mut v = Vec::new();
    for (k, side) in ["client", "server"].into_iter().enumerate() {
        let (p, q) = (taps[k], taps[1 - k]);
        let n = p.frames.len();
        for burst in [3usize, 10, 100] {
            if burst >= n {
                continue;
            }
            let step = (n / if sample { 6 } else { 30 }).max(1);
            let mut start = 0;
            while start + burst <= n {
                let lost: Vec<bool> = (0..n).map(|i| i < start || i >= start + burst).collect();
                let both = outside(q, p.ns(start), p.ns(start + burst - 1));
                let what = format!("{side}-tap frames {}–{}", start + 1, start + burst);
                let (alone, together) = if k == 0 {
                    ([lost.clone(), all(q)], [lost, both])
                } else {
                    ([all(q), lost.clone()], [both, lost])
                };
                v.push(TwoTap {
                    name: format!("{what} lost at that tap"),
                    keep: alone,
                });
                v.push(TwoTap {
                    name: format!("{what} lost at both taps at once"),
                    keep: together,
                });
                start += step;
            }
        }
    }
    let [c, s] = taps;
    let lines: Vec<usize> = (0..c.frames.len())
        .filter(|&i| c.tcp(i).is_some_and(|(_, _, len)| len > 0 && len < 400))
        .collect();
    let step = if sample { (lines.len() / 12).max(1) } else { 1 };
    for &i in lines.iter().step_by(step) {
        let (from, to) = (c.ns(i), c.ns(i) + 1_000_000);
        v.push(TwoTap {
            name: format!(
                "the segment of client-tap frame {} lost at both taps",
                i + 1
            ),
            keep: [outside(c, from, to), outside(s, from, to)],
        });
    }
    v
}

/// What a damaged pair's comparison said that the intact one does not
/// support, and the intact comparison's errors it lost though both taps
/// kept every frame of the session.
fn judge_pair(
    name: &str,
    intact: &portmortem::compare::Comparison,
    v: &TwoTap,
    taps: [&Pcap; 2],
) -> Vec<String> {
    use portmortem::compare::{Roles, compare_results};
    let damaged = |k: usize| analyze_bytes(name, taps[k].with(&|i| v.keep[k][i]));
    let r = compare_results(damaged(0), damaged(1), Roles::Given);
    let base = worst(&intact.findings);
    let mut bad = Vec::new();
    for f in &r.findings {
        if f.severity >= Severity::Warning
            && base.get(f.rule.id()).is_none_or(|&s| s < f.severity)
            && !known(name, f.rule.id())
        {
            bad.push(format!(
                "{name} ({}): new {} {}: {}",
                v.name,
                f.severity.name(),
                f.rule.id(),
                f.message.chars().take(300).collect::<String>()
            ));
        }
    }
    let span = |capture: usize, session: &str| {
        intact.results[capture]
            .sessions
            .iter()
            .find(|s| s.name() == session)
            .map(|s| (s.first_frame, s.last_frame))
    };
    let kept_whole = |capture: usize, session: &str| {
        span(capture, session).is_some_and(|(a, b)| {
            (a..=b).all(|k| {
                v.keep[capture]
                    .get(k as usize - 1)
                    .copied()
                    .unwrap_or(false)
            })
        })
    };
    let renumber = |capture: usize, frame: u64| -> u64 {
        v.keep[capture][..frame as usize]
            .iter()
            .filter(|k| **k)
            .count() as u64
    };
    for f in intact
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
    {
        let Some(other) = &f.other else { continue };
        if !kept_whole(f.capture, &f.session) || !kept_whole(other.capture, &other.session) {
            continue;
        }
        let want: BTreeSet<u64> = f.frames.iter().map(|&k| renumber(f.capture, k)).collect();
        bad.extend(lost_error(name, &v.name, f, &r.findings, &want));
    }
    bad
}

/// One testdata pair through its two-tap variants.
fn run_pair(name: &String, sample: bool) -> (usize, Vec<String>) {
    use portmortem::compare::{Roles, compare_results};
    let read = |side: &str| std::fs::read(testdata(&format!("{name}-{side}.pcap"))).unwrap();
    let (cb, sb) = (read("client"), read("server"));
    let (Some(c), Some(s)) = (read_pcap(&cb), read_pcap(&sb)) else {
        return (0, Vec::new());
    };
    let intact = compare_results(
        analyze_bytes(name, cb),
        analyze_bytes(name, sb),
        Roles::Given,
    );
    let (mut count, mut bad) = (0, Vec::new());
    for v in two_tap_variants([&c, &s], sample) {
        count += 1;
        bad.extend(judge_pair(name, &intact, &v, [&c, &s]));
    }
    (count, bad)
}

#[test]
fn frames_lost_at_one_or_both_taps_add_no_warning_or_error() {
    let full = std::env::var("PORTMORTEM_LOSS").is_ok_and(|v| v == "full");
    let (count, bad) = on_both_cores(&pair_names(), |n| run_pair(n, !full));
    report(count, &bad);
}

fn testdata_paths() -> Vec<PathBuf> {
    testdata_captures().iter().map(|n| testdata(n)).collect()
}

#[test]
fn lost_frames_add_no_warning_or_error() {
    let full = std::env::var("PORTMORTEM_LOSS").is_ok_and(|v| v == "full");
    let mut paths = testdata_paths();
    if full && have_public_corpus("lost_frames_add_no_warning_or_error (the corpus part)") {
        paths.extend(corpus_files());
    }
    let (count, bad) = on_both_cores(&paths, |p| run_one(p, !full));
    report(count, &bad);
}

#[test]
fn the_variants_are_what_they_say() {
    let bytes = std::fs::read(testdata("hand-two-pasv.pcap")).unwrap();
    let p = read_pcap(&bytes).unwrap();
    let vs = variants(&p, true);
    let n = p.frames.len();
    let burst = vs.iter().find(|v| v.name == "frames 1–3 lost").unwrap();
    assert_eq!(burst.keep.iter().filter(|k| !**k).count(), 3);
    let cut = vs.iter().find(|v| v.name == "cut after frame 1").unwrap();
    assert_eq!(cut.keep.iter().filter(|k| **k).count(), 1);
    let none = vs
        .iter()
        .find(|v| v.name.ends_with("first 0 payload bytes"))
        .unwrap();
    // Handshakes and ACKs stay; every segment with payload goes.
    assert!(none.keep.iter().any(|k| *k) && none.keep.iter().any(|k| !*k));
    assert!(vs.iter().any(|v| v.name.contains("gone from frame")));
    assert!(vs.len() > 20 && n > 40);
    // A pcapng joins as the classic pcap of its frames.
    let ng = std::fs::read(testdata("hand-isb-stall.pcapng")).unwrap();
    assert!(read_pcap(&ng).is_none());
    let c = read_pcap(&as_classic(&ng).unwrap()).unwrap();
    assert!(c.nanos && c.little && c.frames.len() > 10);
}
