//! Hostile input: random bytes, truncated and bit-flipped captures, and
//! random FTP control streams cut into random segments, reordered,
//! duplicated and partly lost. The pipeline must never panic, must account
//! for every frame, and every finding must point at frames that exist.

mod common;
use common::*;
use etherparse::PacketBuilder;
use portmortem::analysis::{CaptureResult, Options, analyze_reader};
use portmortem::capture::CaptureReader;
use portmortem::capture::input::open_reader;
use portmortem::compare::Roles;
use proptest::prelude::*;

fn analyze_bytes(bytes: Vec<u8>) -> Option<CaptureResult> {
    let opened = open_reader(
        "mem".into(),
        Box::new(std::io::Cursor::new(bytes)),
        portmortem::capture::input::HashMode::Inline,
    )
    .ok()?;
    let reader = CaptureReader::from_opened(opened).ok()?;
    Some(analyze_reader(reader, &Options::default(), &mut |_| {}))
}

fn check(r: &CaptureResult) {
    let k = &r.counters;
    let skipped: u64 = k.skipped.values().sum();
    assert_eq!(
        k.frames,
        k.tcp_segments + skipped,
        "{k:?} {:?} info {:?}",
        r.error,
        r.info.frame_count
    );

    assert_eq!(
        k.tcp_segments,
        k.control_segments
            + k.data_segments
            + k.other_tcp_segments
            + k.after_close_segments
            + k.not_sessions.segments
            + k.unannounced_segments
    );
    // Frames keep their numbers in the file: those set aside (a
    // duplicate, a fw monitor copy inside the device) are not analysed
    // but numbered.
    assert_eq!(
        r.info.frame_count,
        k.frames + r.info.duplicates + r.info.inside_device
    );
    for f in &r.findings {
        for fr in &f.frames {
            assert!(
                *fr >= 1 && *fr <= r.info.frame_count,
                "finding {} names frame {fr} of {}",
                f.rule,
                r.info.frame_count
            );
        }
        attributed(f);
    }
    // The reports render without panicking.
    let results = std::slice::from_ref(r);
    let rep = portmortem::report::model::analyze_report(results, Default::default());
    serde_json::to_vec(&rep).unwrap();
    let mut text = Vec::new();
    portmortem::report::text::render(
        &rep,
        &portmortem::report::text::Style {
            color: false,
            width: 100,
            dialogue: true,
        },
        &mut text,
    )
    .unwrap();
    let mut md = Vec::new();
    portmortem::report::markdown::render(&rep, &mut md).unwrap();
    let mut html = Vec::new();
    portmortem::report::html::render(&rep, &mut html).unwrap();
    // Whatever the capture held, no tag of its own reaches the HTML.
    let html = String::from_utf8(html).unwrap();
    assert!(!html.contains("<script"), "{html}");
}

fn small_testdata() -> Vec<Vec<u8>> {
    [
        "lab-mangle-inetutils-client.pcap",
        "hand-multi-section.pcapng",
        "hand-founding-echo.bin",
        "lab-fw-mangle-fwmon.snoop",
    ]
    .iter()
    .map(|n| std::fs::read(testdata(n)).unwrap())
    .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_records_after_a_valid_header(records in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..30)) {
        let mut v = pcap_header();
        for (i, r) in records.iter().enumerate() {
            record(&mut v, i as u32, r);
        }
        if let Some(r) = analyze_bytes(v) {
            check(&r);
        }
    }

    /// A snoop file (as `fw monitor` writes) of random records, some with
    /// an FW-1 header of a random point and interface before random bytes,
    /// each with random lengths in its record header.
    #[test]
    fn random_snoop_records_after_a_valid_header(records in proptest::collection::vec((any::<u8>(), any::<[u8; 3]>(), proptest::collection::vec(any::<u8>(), 0..120), any::<[u32; 3]>(), any::<bool>()), 0..30)) {
        let mut v = b"snoop\0\0\0".to_vec();
        v.extend_from_slice(&[0, 0, 0, 2, 0, 0, 0, 4]);
        for (point, name, body, lens, honest) in &records {
            let mut data = vec![b"iIoOeEx"[usize::from(*point) % 7], 0];
            data.extend_from_slice(&[b'e', b't', name[0] % 3 + b'0', 0, 0, 0, name[1], 0, 0, 0]);
            data.extend_from_slice(&[8, 0]);
            data.extend_from_slice(body);
            let pad = usize::from(name[2] % 8);
            let (orig, incl, rec) = if *honest {
                let n = data.len() as u32;
                (n, n, 24 + n + pad as u32)
            } else {
                (lens[0] % 70_000, lens[1] % 300, lens[2] % 400)
            };
            for n in [orig, incl, rec, 0, 1_700_000_000, lens[0] % 2_000_000] {
                v.extend_from_slice(&n.to_be_bytes());
            }
            v.extend_from_slice(&data);
            v.extend(std::iter::repeat_n(0u8, pad));
        }
        if let Some(r) = analyze_bytes(v) {
            check(&r);
        }
    }

    #[test]
    fn random_bytes_anywhere(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Some(r) = analyze_bytes(bytes) {
            check(&r);
        }
    }

    #[test]
    fn truncated_and_bit_flipped_real_captures(which in 0usize..4, cut in any::<prop::sample::Index>(), flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8)) {
        let mut data = small_testdata().swap_remove(which);
        let n = cut.index(data.len() + 1);
        data.truncate(n.max(4));
        for (i, x) in flips {
            if data.len() > 24 {
                let k = 24 + i.index(data.len() - 24);
                data[k] ^= x;
            }
        }
        if let Some(r) = analyze_bytes(data) {
            check(&r);
        }
    }
}

/// A plausible or hostile control line.
fn ftp_line() -> impl Strategy<Value = Vec<u8>> {
    let octet = prop_oneof![(0u16..400).prop_map(|n| n.to_string()), "[0-9_xO ]{0,4}"];
    prop_oneof![
        proptest::collection::vec(octet, 1..8)
            .prop_map(|o| format!("PORT {}\r\n", o.join(",")).into_bytes()),
        Just(b"PASV\r\n".to_vec()),
        "(USER|PASS|RETR|STOR|CWD|AUTH|EPRT|EPSV|NOOP|TYPE) [ -~]{0,30}\r\n"
            .prop_map(String::into_bytes),
        "2[0-9]{2}[ -][ -~]{0,40}\r\n".prop_map(String::into_bytes),
        "227 Entering Passive Mode \\(([0-9,_]{0,30})\\)\\.\r\n".prop_map(String::into_bytes),
        "500 '[ -~]{0,40}': command not understood\\.\r\n".prop_map(String::into_bytes),
        "229 \\(\\|\\|\\|[0-9]{0,6}\\|\\)\r\n".prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 0..40),
        Just(vec![0xff, 0xf4, 0xff, 0xf2]),
        Just(b"AUTH TLS\r\n".to_vec()),
        Just(b"234 go\r\n\x16\x03\x01\x00\x05hello".to_vec()),
    ]
}

#[derive(Debug, Clone)]
struct Seg {
    from_client: bool,
    seq_off: u32,
    data: Vec<u8>,
}

/// Every finding says who did it and what proves it, and is held to it:
/// a device signature and an error only where the path is proven by a
/// difference between two views of the same bytes.
fn attributed(f: &portmortem::rules::Finding) {
    use portmortem::rules::{Actor, Severity};
    let proven = f.actor == Actor::Path && f.proof.kind.compares_two_views();
    assert!(
        f.signature.is_none() || proven,
        "{} names {:?} on {:?}/{:?}: {}",
        f.rule,
        f.signature.map(|s| s.id),
        f.actor,
        f.proof.kind,
        f.message
    );
    assert!(
        f.severity < Severity::Error || proven,
        "{} is an error on {:?}/{:?}: {}",
        f.rule,
        f.actor,
        f.proof.kind,
        f.message
    );
    assert!(
        !f.proof.text.is_empty(),
        "{} has no proof: {}",
        f.rule,
        f.message
    );
    for r in &f.related {
        assert!(!r.message.is_empty());
    }
}

/// Builds a capture of one control connection whose two streams are cut
/// into segments, then reordered, duplicated and thinned.
fn capture_of(
    client: Vec<Vec<u8>>,
    server: Vec<Vec<u8>>,
    cuts: Vec<usize>,
    shuffle: Vec<(usize, usize)>,
    drop: Vec<usize>,
    isn: (u32, u32),
    ttl: (u8, u8),
) -> Vec<u8> {
    let mut segs = Vec::new();
    for (from_client, lines) in [(true, client), (false, server)] {
        let stream: Vec<u8> = lines.concat();
        let mut off = 0usize;
        let mut k = 0;
        while off < stream.len() {
            let len = 1 + cuts.get(k).copied().unwrap_or(40) % 60;
            let end = (off + len).min(stream.len());
            segs.push(Seg {
                from_client,
                seq_off: off as u32,
                data: stream[off..end].to_vec(),
            });
            off = end;
            k += 1;
        }
    }
    for (a, b) in shuffle {
        if !segs.is_empty() {
            let (a, b) = (a % segs.len(), b % segs.len());
            segs.swap(a, b);
            if a % 4 == 0 {
                let d = segs[a].clone();
                segs.push(d);
            }
        }
    }
    for d in drop {
        if segs.len() > 2 {
            let i = d % segs.len();
            segs.remove(i);
        }
    }
    let c = [198, 51, 100, 60];
    let s = [203, 0, 113, 10];
    let mut v = pcap_header();
    let mut frames = Vec::new();
    let mut push = |b: etherparse::PacketBuilderStep<etherparse::TcpHeader>, payload: &[u8]| {
        let mut out = Vec::new();
        b.write(&mut out, payload).unwrap();
        frames.push(out);
    };
    let eth = || PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    push(
        eth().ipv4(c, s, ttl.0).tcp(40000, 21, isn.0, 1000).syn(),
        &[],
    );
    push(
        eth()
            .ipv4(s, c, ttl.1)
            .tcp(21, 40000, isn.1, 1000)
            .syn()
            .ack(isn.0.wrapping_add(1)),
        &[],
    );
    for g in &segs {
        let (src, dst, sp, dp, base, peer, hops) = if g.from_client {
            (c, s, 40000, 21, isn.0, isn.1, ttl.0)
        } else {
            (s, c, 21, 40000, isn.1, isn.0, ttl.1)
        };
        push(
            eth()
                .ipv4(src, dst, hops)
                .tcp(sp, dp, base.wrapping_add(1).wrapping_add(g.seq_off), 1000)
                .ack(peer.wrapping_add(1))
                .psh(),
            &g.data,
        );
    }
    for (i, f) in frames.iter().enumerate() {
        record(&mut v, i as u32, f);
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_control_streams(
        client in proptest::collection::vec(ftp_line(), 0..12),
        server in proptest::collection::vec(ftp_line(), 0..12),
        cuts in proptest::collection::vec(any::<usize>(), 0..40),
        shuffle in proptest::collection::vec((any::<usize>(), any::<usize>()), 0..6),
        drop in proptest::collection::vec(any::<usize>(), 0..3),
        isn in (any::<u32>(), any::<u32>()),
        ttl in (prop::sample::select(vec![64u8, 63, 128, 117, 255, 250]), prop::sample::select(vec![64u8, 63, 128, 117, 255, 250])),
    ) {
        let cap = capture_of(client, server, cuts, shuffle, drop, isn, ttl);
        let r = analyze_bytes(cap.clone()).expect("valid capture");
        prop_assert!(r.error.is_none());
        prop_assert_eq!(r.sessions.len(), 1);
        check(&r);
        // The evidence pcap of the session, passwords masked and addresses
        // mapped, is written whole and reads back as the same packets.
        let path = std::env::temp_dir().join(format!("portmortem-prop-{}.pcap", std::process::id()));
        std::fs::write(&path, &cap).unwrap();
        let sel = portmortem::extract::Selection {
            sessions: vec!["s1".into()],
            with_data: true,
            anonymize_key: Some(b"k".to_vec()),
            show_passwords: false,
        };
        let mut out = Vec::new();
        let w = portmortem::extract::extract(&path, &r, &sel, &mut out).unwrap();
        std::fs::remove_file(&path).unwrap();
        let back = analyze_bytes(out).expect("evidence reads back");
        prop_assert_eq!(back.counters.frames, w.packets);
        prop_assert_eq!(back.counters.frames, r.counters.control_segments + r.counters.after_close_segments);
    }

    /// A PORT and the server's answer to it (accepted, refused, or
    /// quoted back changed or not), with any TTLs: whatever the rules
    /// make of it, no signature and no error rest on less than a
    /// difference between two views.
    #[test]
    fn attribution_holds_on_echoed_and_malformed_ports(
        octets in proptest::collection::vec(0u16..300, 6),
        mangle in proptest::collection::vec((0usize..6, prop::sample::select(vec!["22_", "_", "2x7", "227"])), 0..2),
        echo_mangle in proptest::collection::vec((0usize..6, prop::sample::select(vec!["22_", "_", "227"])), 0..2),
        answer in 0u8..3,
        ttl in (prop::sample::select(vec![64u8, 63, 128, 117, 255]), prop::sample::select(vec![64u8, 63, 128, 117, 255])),
    ) {
        let with = |changes: &[(usize, &str)], base: &[String]| {
            let mut o = base.to_vec();
            for (i, t) in changes {
                o[*i] = (*t).to_string();
            }
            o.join(",")
        };
        let base: Vec<String> = octets.iter().map(u16::to_string).collect();
        let sent = with(&mangle, &base);
        let arrived = with(&echo_mangle, &sent.split(',').map(str::to_string).collect::<Vec<_>>());
        let reply = match answer {
            0 => "200 PORT command successful.\r\n".to_string(),
            1 => format!("500 'PORT {arrived}': command not understood.\r\n"),
            _ => "501 Illegal PORT command.\r\n".to_string(),
        };
        let cap = capture_of(
            vec![b"USER a\r\n".to_vec(), format!("PORT {sent}\r\n").into_bytes(), b"NOOP\r\n".to_vec()],
            vec![b"220 hi\r\n".to_vec(), b"331 pw\r\n".to_vec(), reply.into_bytes(), b"200 ok\r\n".to_vec()],
            vec![200],
            vec![],
            vec![],
            (1000, 2000),
            ttl,
        );
        let r = analyze_bytes(cap).expect("valid capture");
        check(&r);
    }

    #[test]
    fn in_order_streams_reassemble_exactly(
        client in proptest::collection::vec("(USER|NOOP|PWD|PORT) [a-z0-9,]{0,20}\r\n", 1..10),
        cuts in proptest::collection::vec(any::<usize>(), 0..40),
        isn in (any::<u32>(), any::<u32>()),
    ) {
        let lines: Vec<Vec<u8>> = client.iter().map(|l| l.clone().into_bytes()).collect();
        let cap = capture_of(lines, vec![], cuts, vec![], vec![], isn, (64, 64));
        let r = analyze_bytes(cap).unwrap();
        let got: Vec<String> = r.sessions[0]
            .commands
            .iter()
            .map(|c| format!("{}\r\n", String::from_utf8_lossy(&c.line.bytes.0)))
            .collect();
        prop_assert_eq!(got, client);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    /// Address mapping of arbitrary line bytes never panics and never
    /// changes a line's length (offsets in diffs stay valid).
    #[test]
    fn anonymizing_any_line_keeps_its_length(line in proptest::collection::vec(prop_oneof![
        Just(b','), Just(b'.'), Just(b':'), Just(b'|'), Just(b' '), b'0'..=b'9', b'a'..=b'f', any::<u8>()
    ], 0..120)) {
        let mut a = portmortem::anonymize::Anonymizer::new(b"k");
        let mut t = line.clone();
        a.text(&mut t);
        prop_assert_eq!(t.len(), line.len());
        // Mapping is a function: the same input gives the same output.
        let mut u = line.clone();
        portmortem::anonymize::Anonymizer::new(b"k").text(&mut u);
        prop_assert_eq!(t, u);
    }
}

/// A line longer than the line cap, spread over more segments than a line
/// lists, with more Telnet commands than it records: every cut is counted
/// on the line and on the session, and the next line is read intact.
#[test]
fn caps_on_one_line_are_counted_and_reported() {
    let mut long = b"SITE ".to_vec();
    long.extend(std::iter::repeat_n(b'A', 20_000));
    long.extend(b"\xff\xf1".repeat(100));
    long.extend(b"\r\n");
    let lines = vec![b"USER x\r\n".to_vec(), long, b"QUIT\r\n".to_vec()];
    // Segments of 1..=60 bytes: the long line spans several hundred.
    let cap = capture_of(lines, vec![], vec![59], vec![], vec![], (7, 9), (64, 64));
    let r = analyze_bytes(cap.clone()).unwrap();
    let s = &r.sessions[0];
    let l = &s.commands[1].line;
    assert_eq!(l.bytes.0.len(), portmortem::ftp::line::MAX_LINE);
    assert!(l.bytes.0.starts_with(b"SITE AAAA"));
    assert_eq!(
        l.overlong_bytes,
        20_005 - portmortem::ftp::line::MAX_LINE as u64
    );
    assert!(l.pieces_dropped > 0);
    assert_eq!(l.telnet.len() + l.telnet_dropped as usize, 100);
    assert!(l.telnet_dropped > 0);
    assert_eq!(s.commands[2].line.bytes.0, b"QUIT");
    let c = &s.limits.lines;
    assert_eq!(c.lines_cut, 1);
    assert_eq!(c.line_bytes_not_kept, l.overlong_bytes);
    assert_eq!(c.line_frames_not_listed, u64::from(l.pieces_dropped));
    assert_eq!(c.telnet_commands_not_recorded, u64::from(l.telnet_dropped));
    assert!(s.limits.any());

    // The report says so: on the capture, and on the line in the JSON.
    let dir = temp_dir("caps");
    let path = dir.join("caps.pcap");
    std::fs::write(&path, &cap).unwrap();
    let out = run(&["analyze", "--no-hash", path.to_str().unwrap()]);
    assert_contains(
        &String::from_utf8_lossy(&out.stdout),
        &["limits hit", "sessions s1 kept less than they carried"],
    );
    let out = run(&["analyze", "--no-hash", "-f", "json", path.to_str().unwrap()]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let e = entry(&doc, "s1", "SITE");
    assert_eq!(e["bytes_not_kept"], l.overlong_bytes);
    assert_eq!(e["frames_not_listed"], u64::from(l.pieces_dropped));
    assert_eq!(e["telnet_not_recorded"], u64::from(l.telnet_dropped));
    assert_eq!(session(&doc, "s1")["limits"]["lines_cut"], 1);
    for format in ["markdown", "html"] {
        let out = run(&["analyze", "--no-hash", "-f", format, path.to_str().unwrap()]);
        assert_contains(
            &String::from_utf8_lossy(&out.stdout),
            &["Limits hit", "sessions s1 kept less than they carried"],
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Many sessions at once, each holding a lot: with a small memory budget
/// the least recently active are evicted, counted and reported, and every
/// frame is still accounted for.
#[test]
fn the_memory_budget_evicts_and_reports() {
    let line = [b"SITE ".as_slice(), &[b'x'; 995], b"\r\n"].concat();
    let mut v = pcap_header();
    let s = [203, 0, 113, 10];
    let mut seqs = [1000u32; 60];
    let mut t = 0;
    for round in 0..30 {
        for (i, seq) in seqs.iter_mut().enumerate() {
            let c = [198, 51, 100, i as u8 + 1];
            let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
                .ipv4(c, s, 64)
                .tcp(40000, 21, *seq, 1000);
            let mut out = Vec::new();
            if round == 0 {
                b.syn().write(&mut out, &[]).unwrap();
                *seq += 1;
            } else {
                b.psh().write(&mut out, &line).unwrap();
                *seq += line.len() as u32;
            }
            record(&mut v, t, &out);
            t += 1;
        }
    }
    let r = analyze_bytes(v.clone()).unwrap();
    assert_eq!(r.counters.flows_evicted_for_memory, 0);
    assert_eq!(r.sessions.len(), 60);

    let dir = temp_dir("budget");
    let path = dir.join("budget.pcap");
    std::fs::write(&path, &v).unwrap();
    // The whole document (--pretty) keeps sessions within the budget; the
    // streamed one writes each as it ends and keeps none.
    let streamed = run(&[
        "analyze",
        "--no-hash",
        "-f",
        "json",
        "--max-memory-mb",
        "1",
        path.to_str().unwrap(),
    ]);
    let doc: serde_json::Value = serde_json::from_slice(&streamed.stdout).unwrap();
    let c = &doc["captures"][0];
    assert_eq!(c["sessions_not_kept"], 0, "{c}");
    assert_eq!(c["session_count"], c["packets"]["sessions"], "{c}");
    assert_eq!(
        doc["sessions"].as_array().unwrap().len(),
        c["session_count"]
    );
    let out = run(&[
        "analyze",
        "--no-hash",
        "-f",
        "json",
        "--pretty",
        "--max-memory-mb",
        "1",
        path.to_str().unwrap(),
    ]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let c = &doc["captures"][0];
    let evicted = c["packets"]["flows_evicted_for_memory"].as_u64().unwrap();
    assert!(evicted > 0, "{c}");
    assert!(c["sessions_not_kept"].as_u64().unwrap() > 0, "{c}");
    let kept: usize = doc["sessions"].as_array().unwrap().len();
    assert!(kept > 0);
    // Evicted sessions end as such; every frame is still counted.
    assert_eq!(c["packets"]["frames"], 1800);
    assert_eq!(c["packets"]["control_segments"], 1800);
    assert_eq!(doc["options"]["max_memory_mb"], "1");
    let out = run(&[
        "analyze",
        "--no-hash",
        "--max-memory-mb",
        "1",
        path.to_str().unwrap(),
    ]);
    assert_contains(
        &String::from_utf8_lossy(&out.stdout),
        &["flows evicted to keep live flows under --max-memory-mb"],
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The input proptest once shrank to: one bit flipped in a timestamp of
/// hand-multi-section.pcapng put a data-connection window past `i64::MAX`.
#[test]
fn a_bit_flipped_timestamp_does_not_overflow_time_windows() {
    let mut data = std::fs::read(testdata("hand-multi-section.pcapng")).unwrap();
    data[1304] ^= 1;
    check(&analyze_bytes(data).expect("the capture opens"));
}

/// A little-endian pcap rewritten as pcapng whose interface counts time in
/// whole seconds (`if_tsresol` 0), with frame `n`'s 64-bit timestamp
/// `ts(n)`: any value a corrupt or hostile file can hold.
fn with_timestamps(pcap: &[u8], ts: &dyn Fn(u64) -> u64) -> Vec<u8> {
    let block = |v: &mut Vec<u8>, kind: u32, body: &[u8]| {
        let mut body = body.to_vec();
        body.resize(body.len().next_multiple_of(4), 0);
        let len = (body.len() + 12) as u32;
        v.extend_from_slice(&kind.to_le_bytes());
        v.extend_from_slice(&len.to_le_bytes());
        v.extend_from_slice(&body);
        v.extend_from_slice(&len.to_le_bytes());
    };
    let mut v = Vec::new();
    let mut shb = 0x1a2b3c4du32.to_le_bytes().to_vec();
    shb.extend_from_slice(&[1, 0, 0, 0]);
    shb.extend_from_slice(&(-1i64).to_le_bytes());
    block(&mut v, 0x0a0d0d0a, &shb);
    let mut idb = vec![1, 0, 0, 0];
    idb.extend_from_slice(&65535u32.to_le_bytes());
    idb.extend_from_slice(&[9, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    block(&mut v, 1, &idb);
    let (mut at, mut n) = (24, 0u64);
    while at + 16 <= pcap.len() {
        let caplen = u32::from_le_bytes(pcap[at + 8..at + 12].try_into().unwrap()) as usize;
        let Some(data) = pcap.get(at + 16..at + 16 + caplen) else {
            break;
        };
        n += 1;
        let t = ts(n);
        let mut epb = 0u32.to_le_bytes().to_vec();
        epb.extend_from_slice(&((t >> 32) as u32).to_le_bytes());
        epb.extend_from_slice(&(t as u32).to_le_bytes());
        epb.extend_from_slice(&(caplen as u32).to_le_bytes());
        epb.extend_from_slice(&(caplen as u32).to_le_bytes());
        epb.extend_from_slice(data);
        block(&mut v, 6, &epb);
        at += 16 + caplen;
    }
    v
}

/// Timestamps at the ends of the range, jumping between them or running
/// backwards, in analyze and in compare (whose clock offsets and
/// tolerances are sums and differences of them).
#[test]
fn extreme_timestamps_do_not_overflow() {
    let patterns: [(&str, &dyn Fn(u64) -> u64); 4] = [
        ("all at the end of time", &|_| u64::MAX),
        ("jumping between both ends", &|n| {
            if n % 2 == 0 { 0 } else { u64::MAX }
        }),
        ("running backwards from the end", &|n| u64::MAX - n),
        ("near i64::MAX ns", &|n| {
            (i64::MAX as u64 / 1_000_000_000) - 3 + n % 5
        }),
    ];
    for pair in [
        "lab-mangle-inetutils",
        "lab-alg-active",
        "lab-proxy-passive",
    ] {
        let a = std::fs::read(testdata(&format!("{pair}-client.pcap"))).unwrap();
        let b = std::fs::read(testdata(&format!("{pair}-server.pcap"))).unwrap();
        for (what, ts) in &patterns {
            for (name, pa, pb) in [("a", &a, &b), ("b", &a, &a)] {
                let ra = analyze_bytes(with_timestamps(pa, ts)).expect(what);
                check(&ra);
                // One side with sane times against the other at the extremes.
                let rb = analyze_bytes(pb.clone()).expect(name);
                let c = portmortem::compare::compare_results(ra, rb, Roles::Infer);
                let rep = portmortem::report::model::compare_report(&c, Default::default());
                serde_json::to_vec(&rep).unwrap();
                portmortem::report::markdown::render_compare(&rep, &mut Vec::new()).unwrap();
                portmortem::report::html::render_compare(&rep, &mut Vec::new()).unwrap();
            }
        }
    }
}
