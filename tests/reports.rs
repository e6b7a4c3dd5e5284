//! Reports for a ticket: Markdown and HTML on the founding case, nothing
//! from a capture read as markup, byte-identical runs, the evidence
//! pcapng (re-read with pcap-parser), and --anonymize-ips.

mod common;
use common::*;
use etherparse::PacketBuilder;
use pcap_parser::pcapng::{Block, OptionCode};
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{PcapBlockOwned, PcapError, PcapNGReader};
use std::path::{Path, PathBuf};
use std::process::Command;

const CLIENT: &str = "lab-mangle-inetutils-client.pcap";
const SERVER: &str = "lab-mangle-inetutils-server.pcap";

fn out(args: &[&str]) -> (i32, Vec<u8>) {
    let o = bin().args(args).output().unwrap();
    (o.status.code().unwrap_or(-1), o.stdout)
}

fn text(args: &[&str]) -> String {
    String::from_utf8(out(args).1).unwrap()
}

fn td(name: &str) -> String {
    testdata(name).to_string_lossy().into_owned()
}

#[test]
fn markdown_tells_the_founding_case_verdict_first() {
    let md = text(&["compare", "-f", "markdown", &td(CLIENT), &td(SERVER)]);
    let verdict = md.lines().find(|l| l.starts_with("**Verdict:**")).unwrap();
    assert_contains(
        verdict,
        &[
            "`PORT 198,51,100,60,125,227`",
            "`PORT 198,51,100,60,125,22_`",
            "port-octet-mangled",
            "Check Point",
        ],
    );
    // The verdict comes before any table.
    assert!(md.find("**Verdict:**").unwrap() < md.find("| Tool |").unwrap());
    assert_contains(
        &md,
        &[
            "| 1 | **error** | `port-octet-mangled` |",
            "`tcp.stream eq 0 && frame.number in {17, 18}`",
            "filter `tcp.stream eq 0 && frame.number in {24, 25}`",
            "**Who:** the path — proof (two-taps): the line at the client-side tap (frame 17) against the same line at the server-side tap (frame 24).",
            "**Same event:** at the client-side tap, port-echo-mismatch (frames 17, 18)",
            "**Same event:** at the server-side tap, port-mangled-received (frames 24, 25)",
            "at the client-side tap  PORT 198,51,100,60,125,227\nat the server-side tap  PORT 198,51,100,60,125,22_\n                                                 ^",
            "| Client-side capture |",
            "SHA-256 | `c70594593bb7f85bd875fff9314d6d16a27d4c501b4cdf90f80d03180d5e2948`",
            "| Time zone | UTC |",
        ],
    );
    let md = text(&[
        "analyze",
        "-f",
        "markdown",
        &td("lab-mangle-vsftpd-client.pcap"),
    ]);
    // The data connection's stream joins the control connection's.
    assert_contains(
        &md,
        &["`(tcp.stream eq 0 || tcp.stream eq 1) && frame.number in {13, 14, 15, 16, 17, 18}`"],
    );
}

#[test]
fn html_is_self_contained_with_a_ladder_and_marked_bytes() {
    let html = text(&["compare", "-f", "html", &td(CLIENT), &td(SERVER)]);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_contains(
        &html,
        &[
            "id=\"verdict\"",
            "port-octet-mangled",
            "<svg",
            ">firewall</text>",
            "<mark class=\"chg\">7</mark>",
            "<mark class=\"chg\">_</mark>",
            "class=\"bad\"",
        ],
    );
    for bad in ["<script", "<link", "<img", "src=", "url(http", "@import"] {
        assert!(!html.contains(bad), "{bad}");
    }
    // Nothing is fetched: the only outside addresses are the SVG
    // namespace (never fetched) and the links to the sources a signature
    // cites, which a reader may follow.
    assert_eq!(
        html.matches("=\"http").count(),
        html.matches("=\"http://www.w3.org/2000/svg\"").count()
            + html.matches("<a href=\"http").count()
    );
    assert!(
        html.contains("<a href=\"https://raetsel.wordpress.com/"),
        "the sources are links"
    );
    let html = text(&[
        "analyze",
        "-f",
        "html",
        &td("lab-mangle-vsftpd-client.pcap"),
    ]);
    assert_contains(&html, &["class=\"databad\"", "32022", "refused"]);
}

/// A session whose banner and reply carry markup, backticks and pipes.
fn hostile_capture(dir: &Path) -> PathBuf {
    let mut v = pcap_header();
    let (c, s) = ([198, 51, 100, 7], [203, 0, 113, 9]);
    let eth = || PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let mut t = 0;
    let mut push = |b: etherparse::PacketBuilderStep<etherparse::TcpHeader>, p: &[u8]| {
        let mut f = Vec::new();
        b.write(&mut f, p).unwrap();
        record(&mut v, t, &f);
        t += 1;
    };
    push(eth().ipv4(c, s, 64).tcp(40000, 21, 100, 1000).syn(), b"");
    push(
        eth()
            .ipv4(s, c, 64)
            .tcp(21, 40000, 500, 1000)
            .syn()
            .ack(101),
        b"",
    );
    let banner = b"220 <script>alert(1)</script> | `x` **y** [z](http://evil)\r\n";
    push(
        eth()
            .ipv4(s, c, 64)
            .tcp(21, 40000, 501, 1000)
            .ack(101)
            .psh(),
        banner,
    );
    let cmd = b"PORT 198,51,100,7,12,3<b>\r\n";
    push(
        eth()
            .ipv4(c, s, 64)
            .tcp(40000, 21, 101, 1000)
            .ack(501 + banner.len() as u32)
            .psh(),
        cmd,
    );
    let reply = b"500 'PORT 198,51,100,7,12,3<b>': command not understood\r\n";
    push(
        eth()
            .ipv4(s, c, 64)
            .tcp(21, 40000, 501 + banner.len() as u32, 1000)
            .ack(101 + cmd.len() as u32)
            .psh(),
        reply,
    );
    let p = dir.join("hostile.pcap");
    std::fs::write(&p, v).unwrap();
    p
}

/// Markdown with its code spans and fenced blocks taken out: what a
/// renderer reads as markup.
fn outside_code(md: &str) -> String {
    let mut out = String::new();
    let mut fenced = false;
    for line in md.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let b = line.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'`' {
                let n = b[i..].iter().take_while(|&&c| c == b'`').count();
                let fence = &line[i..i + n];
                match line[i + n..].find(fence) {
                    Some(end) => {
                        i += n + end + n;
                        continue;
                    }
                    None => {
                        out.push_str(fence);
                        i += n;
                        continue;
                    }
                }
            }
            out.push(b[i] as char);
            i += 1;
        }
        out.push('\n');
    }
    out
}

#[test]
fn nothing_from_a_capture_becomes_markup() {
    let dir = temp_dir("hostile");
    let cap = hostile_capture(&dir);
    let cap = cap.to_str().unwrap();
    let md = text(&["analyze", "-f", "markdown", "--dialogue", cap]);
    let html = text(&["analyze", "-f", "html", cap]);
    // HTML: escaped everywhere.
    for bad in ["<script>", "3<b>", "href=\"http"] {
        assert!(!html.contains(bad), "{bad} in the HTML");
    }
    assert!(html.contains("&lt;script&gt;") && html.contains("3&lt;b&gt;"));
    // Markdown: quoted lines sit in code spans; outside them nothing can
    // open a tag or a link.
    assert!(md.contains("`PORT 198,51,100,7,12,3<b>`"), "{md}");
    let plain = outside_code(&md);
    for bad in ["<script", "3<b>", "](http"] {
        assert!(!plain.contains(bad), "{bad} outside code:\n{plain}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn reports_are_byte_identical_from_run_to_run() {
    let runs = |args: &[&str]| {
        let a = out(args);
        let b = out(args);
        assert_eq!(a, b, "{args:?}");
        assert!(!a.1.is_empty());
    };
    for f in ["text", "json", "markdown", "html"] {
        runs(&[
            "analyze",
            "-f",
            f,
            &td(CLIENT),
            &td("lab-mangle-vsftpd-client.pcap"),
        ]);
        runs(&["compare", "-f", f, &td(CLIENT), &td(SERVER)]);
        runs(&["batch", "-j", "2", "-f", f, &td("")]);
    }
    runs(&[
        "compare",
        "-f",
        "json",
        "--anonymize-ips",
        "--anonymize-key",
        "k",
        &td(CLIENT),
        &td(SERVER),
    ]);
}

/// A packet of a pcapng file: its bytes and its comments.
type Packet = (Vec<u8>, Vec<String>);

/// Every block of a pcapng file: (interfaces, packets).
fn read_pcapng(path: &Path) -> (usize, Vec<Packet>) {
    let f = std::fs::File::open(path).unwrap();
    let mut r = PcapNGReader::new(65536, f).unwrap();
    let (mut ifaces, mut packets) = (0, Vec::new());
    loop {
        match r.next() {
            Ok((n, block)) => {
                match block {
                    PcapBlockOwned::NG(Block::InterfaceDescription(_)) => ifaces += 1,
                    PcapBlockOwned::NG(Block::EnhancedPacket(e)) => {
                        let comments = e
                            .options
                            .iter()
                            .filter(|o| o.code == OptionCode::Comment)
                            .map(|o| String::from_utf8(o.value[..o.len as usize].to_vec()).unwrap())
                            .collect();
                        packets.push((e.data[..e.caplen as usize].to_vec(), comments));
                    }
                    _ => {}
                }
                r.consume(n);
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::Incomplete(_)) => r.refill().unwrap(),
            Err(e) => panic!("{e:?}"),
        }
    }
    (ifaces, packets)
}

#[test]
fn extract_writes_a_small_pcapng_with_the_findings_as_comments() {
    let dir = temp_dir("extract");
    let ev = dir.join("evidence.pcapng");
    let o = bin()
        .args([
            "extract",
            &td("lab-mangle-vsftpd-client.pcap"),
            "-s",
            "s1",
            "--with-data",
            "-o",
        ])
        .arg(&ev)
        .output()
        .unwrap();
    // Exit codes hold for extract too: s1 has an error finding.
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let (ifaces, packets) = read_pcapng(&ev);
    assert_eq!(ifaces, 1);
    // Every TCP frame of streams 0 and 1: all but the two ARP frames and
    // the one after the session.
    let want = std::fs::read_to_string(testdata("tshark-tcp-streams.tsv"))
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("lab-mangle-vsftpd-client.pcap\t"))
        .count();
    assert_eq!(packets.len(), want);
    assert_eq!(
        packets[0].1[0],
        format!("frame 3 of {}", td("lab-mangle-vsftpd-client.pcap"))
    );
    let flagged: Vec<&Vec<String>> = packets
        .iter()
        .map(|p| &p.1)
        .filter(|c| c.len() > 1)
        .collect();
    // The truncation's four frames, and the RETR and its 425, which the
    // failed transfer names too.
    assert_eq!(flagged.len(), 6);
    assert!(flagged[0][1].starts_with(
        "portmortem port-silently-truncated (error, session s1): The client announced"
    ));
    // The evidence file alone tells the same story.
    let (_, doc) = {
        let o = bin()
            .args(["analyze", "-f", "json"])
            .arg(&ev)
            .output()
            .unwrap();
        (
            o.status.code(),
            serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap(),
        )
    };
    assert_eq!(rules(&doc), vec!["port-silently-truncated".to_string()]);
    // Unknown sessions are refused by name.
    let o = bin()
        .args([
            "extract",
            &td("lab-mangle-vsftpd-client.pcap"),
            "-s",
            "s9",
            "-o",
        ])
        .arg(dir.join("x.pcapng"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no session s9 in this capture (it has: s1)")
    );
    assert!(!dir.join("x.pcapng").exists());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn evidence_and_reports_hide_passwords_and_addresses() {
    let dir = temp_dir("anon");
    let ev = dir.join("evidence.pcapng");
    let key = ["--anonymize-ips", "--anonymize-key", "ticket-4711"];
    let o = bin()
        .args(["extract", &td(CLIENT), "-s", "s1", "-o"])
        .arg(&ev)
        .args(key)
        .output()
        .unwrap();
    // s1 has an error finding: exit 1, as for analyze.
    assert_eq!(o.status.code(), Some(1));
    let raw = std::fs::read(&ev).unwrap();
    let has = |needle: &[u8]| raw.windows(needle.len()).any(|w| w == needle);
    assert!(!has(b"lab@example.org"), "password in the evidence");
    assert!(has(b"PASS ***************"));
    for ip in [
        &[198u8, 51, 100, 60][..],
        &[203, 0, 113, 10],
        b"198,51,100,60",
        b"198.51.100.60",
    ] {
        assert!(!has(ip), "address {ip:?} in the evidence");
    }
    // The evidence re-analysed shows the same mapped addresses as the report.
    let (_, report) = {
        let o = bin()
            .args(["analyze", "-f", "json"])
            .args(key)
            .arg(td(CLIENT))
            .output()
            .unwrap();
        (
            0,
            serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap(),
        )
    };
    let o = bin()
        .args(["analyze", "-f", "json"])
        .arg(&ev)
        .output()
        .unwrap();
    let again: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        report["sessions"][0]["client"],
        again["sessions"][0]["client"]
    );
    assert_eq!(
        report["sessions"][0]["server"],
        again["sessions"][0]["server"]
    );
    assert_eq!(rules(&report), rules(&again));
    // A compare with the same key maps both captures alike; every report
    // format leaves the real addresses out.
    for f in ["text", "json", "markdown", "html"] {
        let (c, s) = (td(CLIENT), td(SERVER));
        let s = text(
            &[
                &["compare", "-f", f][..],
                &key[..],
                &[c.as_str(), s.as_str()][..],
            ]
            .concat(),
        );
        for ip in [
            "198.51.100.60",
            "198,51,100,60",
            "203.0.113.10",
            "203,0,113,10",
        ] {
            assert!(!s.contains(ip), "{f}: {ip}");
        }
        assert!(s.contains("port-octet-mangled"), "{f}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn anonymized_analysis_finds_exactly_the_same() {
    let names = testdata_captures();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let (_, plain) = analyze(&refs, &[]);
    let (_, anon) = analyze(&refs, &["--anonymize-ips", "--anonymize-key", "k"]);
    let key = |d: &serde_json::Value| -> Vec<String> {
        d["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                format!(
                    "{} {} {} {}",
                    f["capture"], f["rule"], f["session"], f["frames"]
                )
            })
            .collect()
    };
    assert_eq!(key(&plain), key(&anon));
    assert_eq!(plain["summary"]["sessions"], anon["summary"]["sessions"]);
}

#[test]
fn the_readme_rule_table_is_the_registry() {
    let readme =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .unwrap();
    let table = portmortem::rules::registry::markdown_table();
    assert!(
        readme.contains(&table),
        "README's rule table differs from `portmortem rules -f markdown`:\n{table}"
    );
    let out = run(&["rules", "-f", "json"]);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        rows.as_array().unwrap().len(),
        portmortem::rules::Rule::ALL.len()
    );
    for id in [
        "port-octet-mangled",
        "alg-rewrite",
        "seq-offset-step",
        "command-swallowed",
        "capture-loss",
    ] {
        assert!(
            rows.as_array().unwrap().iter().any(|r| r["id"] == id),
            "{id}"
        );
    }
}

#[test]
fn csv_has_a_row_per_finding_that_a_csv_reader_reads_back() {
    let out = run(&[
        "analyze",
        "-f",
        "csv",
        &td("lab-mangle-vsftpd-client.pcap"),
        &td("hand-hostile-bytes.pcap"),
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    let (_, doc) = analyze(
        &["lab-mangle-vsftpd-client.pcap", "hand-hostile-bytes.pcap"],
        &[],
    );
    let n = doc["findings"].as_array().unwrap().len();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), n + 1, "{text}");
    assert!(lines[0].starts_with("capture,sha256,session,tcp_stream,community_id,"));
    // A quoted field with commas and quotes stays one field.
    let hostile = lines
        .iter()
        .find(|l| l.contains("port-mangled-received"))
        .unwrap();
    assert!(hostile.contains("\"this tap saw `PORT 198,51,100,60,1\\x60<img src=x>,7`"));
}

#[test]
fn completions_and_man_page_are_generated() {
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let out = run(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            text.contains("compare") && text.contains("--format"),
            "{shell}"
        );
    }
    let out = run(&["man"]);
    let man = String::from_utf8(out.stdout).unwrap();
    assert!(man.contains(".TH portmortem 1"), "{man}");
    assert!(man.contains("analyze"));
}

#[test]
fn read_like_tshark_and_format_from_the_extension() {
    let d = temp_dir("ext");
    let cap = td("lab-mangle-vsftpd-client.pcap");
    for (name, starts) in [
        ("r.json", "{"),
        ("r.html", "<!DOCTYPE html>"),
        ("r.md", "# FTP forensic report"),
        ("r.csv", "capture,sha256,"),
        ("r.ndjson", "{\"type\":\"session\""),
        ("r.log", "#separator"),
        ("r.txt", "portmortem "),
    ] {
        let out = d.join(name);
        let r = run(&["analyze", "-r", &cap, "-o", out.to_str().unwrap()]);
        assert_eq!(r.status.code(), Some(1), "{name}");
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(
            text.starts_with(starts),
            "{name}: {}",
            &text[..60.min(text.len())]
        );
    }
    // -f wins over the extension.
    let out = d.join("x.html");
    run(&["analyze", "-f", "json", &cap, "-o", out.to_str().unwrap()]);
    assert!(std::fs::read_to_string(&out).unwrap().starts_with('{'));
}

#[test]
fn colour_only_when_asked_or_on_a_terminal() {
    let cap = td("lab-mangle-vsftpd-client.pcap");
    let esc = |args: &[&str]| {
        let out = run(args);
        out.stdout.contains(&0x1b)
    };
    assert!(!esc(&["analyze", &cap]), "a pipe is not a terminal");
    assert!(esc(&["analyze", "--color", "always", &cap]));
    assert!(!esc(&["analyze", "--color", "never", &cap]));
}

/// `--session`, `-q` and `--min-severity` trim what is listed, in every
/// format; the summary and the exit code stay those of the whole analysis,
/// and the options say the report is trimmed.
#[test]
fn a_report_can_be_trimmed_and_says_so() {
    let files = [
        td("lab-mangle-vsftpd-client.pcap"),
        td("hand-address-forms.pcap"),
        td("hand-tuple-reuse.pcap"),
    ];
    let args = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = vec!["analyze".into(), "--no-hash".into()];
        v.extend(extra.iter().map(|s| s.to_string()));
        v.extend(files.iter().cloned());
        v
    };
    let json = |extra: &[&str]| -> (i32, serde_json::Value) {
        let a = args(extra);
        let r = run(&a.iter().map(String::as_str).collect::<Vec<_>>());
        (
            r.status.code().unwrap(),
            serde_json::from_slice(&r.stdout).unwrap(),
        )
    };
    let (code, whole) = json(&["-f", "json"]);
    assert_eq!(whole["sessions"].as_array().unwrap().len(), 4);
    for pretty in [&[][..], &["--pretty"][..]] {
        let mut extra = vec!["-f", "json", "-q", "--min-severity", "error"];
        extra.extend(pretty);
        let (c, doc) = json(&extra);
        assert_eq!(c, code, "the exit code is the whole analysis's");
        assert_eq!(doc["summary"], whole["summary"], "{pretty:?}");
        assert_eq!(doc["options"]["findings_only"], "true");
        assert_eq!(doc["options"]["min_severity"], "error");
        let sessions = doc["sessions"].as_array().unwrap();
        assert_eq!(sessions.len(), 1, "{pretty:?}: {sessions:?}");
        assert_eq!(sessions[0]["capture"], 0);
        let findings = doc["findings"].as_array().unwrap();
        assert!(findings.iter().all(|f| f["severity"] == "error"));
        assert!(!findings.is_empty());
        let c0 = &doc["captures"][0];
        assert_eq!(c0["session_count"], 1);
        // JSON keeps every capture: findings index them.
        assert_eq!(doc["captures"].as_array().unwrap().len(), 3);
        // `--session 2` (also `s2`): the second session of the capture
        // that has two.
        let mut extra = vec!["-f", "json", "--session", "2"];
        extra.extend(pretty);
        let (_, doc) = json(&extra);
        let ids: Vec<_> = doc["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["capture"].clone(), s["id"].clone()))
            .collect();
        assert_eq!(ids, vec![(2.into(), "s2".into())], "{pretty:?}");
        assert_eq!(doc["options"]["session"], "s2");
    }
    // Text: only the capture with an error finding is shown.
    let a = args(&["-q", "--min-severity", "error"]);
    let r = run(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let text = String::from_utf8_lossy(&r.stdout);
    assert!(text.contains("lab-mangle-vsftpd-client.pcap"), "{text}");
    assert!(!text.contains("hand-address-forms.pcap"), "{text}");
    assert!(!text.contains("hand-tuple-reuse.pcap"), "{text}");
    let r = run(&["analyze", "--session", "x", &files[0]]);
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("not a session id"));
}

/// Tables never break an address or a timestamp mid-word, however narrow
/// the terminal: each session's endpoints and start appear whole.
#[test]
fn tables_keep_addresses_and_timestamps_whole() {
    for name in [
        "lab-mangle-vsftpd-client.pcap",
        "hand-address-forms.pcap",
        "hand-tuple-reuse.pcap",
    ] {
        let (_, doc) = analyze(&[name], &[]);
        for width in ["80", "100", "120"] {
            let out = bin()
                .args(["analyze", "--color", "never", &td(name)])
                .env("COLUMNS", width)
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            for s in doc["sessions"].as_array().unwrap() {
                // The start as people read it: its time of day, to the
                // µs these pcaps carry (the date is the capture's).
                let start = &s["start"].as_str().unwrap()[11..26];
                for v in [
                    s["client"].as_str().unwrap(),
                    s["server"].as_str().unwrap(),
                    start,
                ] {
                    assert!(
                        text.contains(v),
                        "{name} at {width} columns: {v} is broken:\n{text}"
                    );
                }
            }
        }
    }
}

/// On a terminal, text reports take the terminal's width (no `$COLUMNS`
/// needed); through a pipe they keep 120. The terminal is a pty from
/// util-linux `script`.
#[test]
fn text_reports_take_the_terminals_width() {
    if Command::new("script").arg("--version").output().is_err() {
        println!("skipped: util-linux `script` is not installed (no pty to test with)");
        return;
    }
    let widest = |text: &[u8]| {
        String::from_utf8_lossy(text)
            .lines()
            .map(|l| l.trim_end_matches('\r').chars().count())
            .max()
            .unwrap_or(0)
    };
    let capture = td("lab-mangle-vsftpd-client.pcap");
    for cols in [80, 100, 150] {
        let out = Command::new("script")
            .args(["-q", "-e", "-c"])
            .arg(format!(
                "stty rows 40 cols {cols}; '{}' analyze --color never '{capture}'",
                env!("CARGO_BIN_EXE_portmortem")
            ))
            .arg("/dev/null")
            .env_remove("COLUMNS")
            .output()
            .unwrap();
        let w = widest(&out.stdout);
        assert!(
            w <= cols && w + 10 > cols,
            "{cols} columns: widest line {w}"
        );
    }
    let piped = bin()
        .args(["analyze", "--color", "never", &capture])
        .env_remove("COLUMNS")
        .output()
        .unwrap();
    // Piped with no width given, the report keeps within 120 columns
    // and breaks no word (issue #22: "tcp.strea / m").
    let text = String::from_utf8_lossy(&piped.stdout);
    let w = widest(&piped.stdout);
    assert!(w <= 120 && w > 100, "{text}");
    assert_contains(&text, &["tcp.stream", "vsftpd"]);
}

#[test]
fn the_text_report_lists_every_session_of_a_long_capture() {
    let dir = temp_dir("many-sessions");
    let path = many_sessions(&dir, 1001);
    let p = path.to_str().unwrap();
    // A session budget far below the count: the text table keeps rows, not
    // sessions, so it still lists all of them, a thousand per table.
    let t = text(&["analyze", "--no-hash", "--max-sessions", "10", p]);
    assert_contains(
        &t,
        &["Sessions 1–1000 of 1001", "Sessions 1001–1001 of 1001"],
    );
    assert!(
        t.contains("│ s1001 "),
        "{}",
        &t[t.len().saturating_sub(3000)..]
    );
    assert!(!t.contains("not kept"), "nothing was left out");
    let sessions_row = t.lines().find(|l| l.contains(" sessions ")).unwrap();
    assert!(sessions_row.contains("1001"), "{sessions_row}");
    // The JSON document says the same count.
    let (_, doc) = analyze(&[p], &["--no-hash"]);
    assert_eq!(doc["sessions"].as_array().unwrap().len(), 1001);
    let _ = std::fs::remove_dir_all(&dir);
}
