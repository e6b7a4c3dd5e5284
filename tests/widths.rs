//! Every text report of testdata (analyze with the dialogues, compare of
//! every client/server pair, batch) laid out at 60, 80, 100, 120 and 200
//! columns: no line wider than the width (a single word wider than the
//! whole line aside: it stands alone, unbroken), and every fact the JSON
//! report gives that a reader copies — a hash, a path, an address, a
//! session id, a rule id, a time — is a whole word of the text, so none
//! was broken across lines or lost.
//!
//! analyze and compare are rendered in the test's own process, once per
//! capture and five times over, from the report the binary would write;
//! batch runs the binary (one archive, six runs).

mod common;

use common::{bin, testdata, testdata_captures};
use portmortem::capture::Source;
use portmortem::command::{AnalyzePlan, ComparePlan, Tunables};
use portmortem::report::text::{Clock, Style, render, render_compare};
use serde_json::Value;
use unicode_width::UnicodeWidthStr;

const WIDTHS: [u16; 5] = [60, 80, 100, 120, 200];

/// The words of a text report: split at spaces and table rules, and
/// shorn of the punctuation a sentence or a list puts around a value.
fn words(text: &str) -> std::collections::HashSet<&str> {
    text.split(|c: char| c.is_whitespace() || "│┆┌┐└┘├┤┬┴┼─═╞╡╪".contains(c))
        .map(|w| w.trim_matches(|c: char| ",;()[]`'\"".contains(c)))
        .map(|w| w.trim_end_matches([':', '.']))
        .filter(|w| !w.is_empty())
        .collect()
}

/// Every line within `width`, or a single word wider than the line.
fn fits(what: &str, text: &str, width: u16) {
    for l in text.lines() {
        let w = l.width();
        assert!(
            w <= usize::from(width) || !l.contains(' '),
            "{what} at {width} columns: a line of {w}:\n{l}\n\n{text}"
        );
    }
}

/// Each fact is a whole word of `text`.
fn holds(what: &str, text: &str, width: u16, facts: &[String]) {
    let ws = words(text);
    for f in facts {
        assert!(
            ws.contains(f.as_str()),
            "{what} at {width} columns: `{f}` (from the JSON report) is not a whole word of the text:\n{text}"
        );
    }
}

fn str_of(v: &Value) -> Option<String> {
    v.as_str().map(str::to_string)
}

/// What a reader copies out of a report, as the JSON gives it: each
/// capture's hash, each session's id and endpoints, each finding's rule.
fn facts(doc: &Value, show: &dyn Fn(usize, &str) -> Option<String>) -> Vec<String> {
    let mut v = Vec::new();
    for c in doc["captures"].as_array().into_iter().flatten() {
        v.extend(str_of(&c["sha256"]));
    }
    for s in doc["sessions"].as_array().into_iter().flatten() {
        v.extend(str_of(&s["id"]));
        v.extend(str_of(&s["client"]));
        v.extend(str_of(&s["server"]));
        let cap = s["capture"].as_u64().unwrap_or(0) as usize;
        v.extend(s["start"].as_str().and_then(|t| show(cap, t)));
    }
    for f in doc["findings"].as_array().into_iter().flatten() {
        v.extend(str_of(&f["rule"]));
        v.extend(str_of(&f["session"]));
    }
    v
}

/// A session's start as the text shows it: its capture's time of day.
fn start_shown<'a>(
    infos: &'a [&'a portmortem::capture::CaptureInfo],
) -> impl Fn(usize, &str) -> Option<String> + 'a {
    move |cap, t| {
        let ts = portmortem::timestamp::Timestamp::parse(t)?;
        let shown = Clock::of(infos.get(cap)?).show(ts);
        // A start on another day than the capture's first is shown with
        // its date: the time is still a whole word.
        Some(shown.rsplit(' ').next()?.to_string())
    }
}

#[test]
fn analyze_reports_fit_every_width() {
    let plan = AnalyzePlan::new(&Tunables::default());
    for name in testdata_captures() {
        let Ok(r) = plan.run(Source::Path(testdata(&name))) else {
            continue;
        };
        let results = vec![r];
        let rep = plan.report(&results);
        let doc = serde_json::to_value(&rep).unwrap();
        let infos: Vec<_> = results.iter().map(|r| &r.info).collect();
        let facts = facts(&doc, &start_shown(&infos));
        for width in WIDTHS {
            let mut out = Vec::new();
            let style = Style {
                color: false,
                width,
                dialogue: true,
            };
            render(&rep, &style, &mut out).unwrap();
            let text = String::from_utf8(out).unwrap();
            fits(&name, &text, width);
            holds(&name, &text, width, &facts);
        }
    }
}

#[test]
fn compare_reports_fit_every_width() {
    let names = testdata_captures();
    let t = Tunables::default();
    let mut pairs = 0;
    for client in &names {
        let Some(stem) = client.strip_suffix("-client.pcap") else {
            continue;
        };
        let server = format!("{stem}-server.pcap");
        if !names.contains(&server) {
            continue;
        }
        let plan = ComparePlan::new(&t, portmortem::compare::Roles::Infer, None).unwrap();
        let cmp = plan
            .run(
                Source::Path(testdata(client)),
                Source::Path(testdata(&server)),
            )
            .unwrap();
        let rep = plan.report(&cmp);
        let doc = serde_json::to_value(&rep).unwrap();
        // Compare's text names sessions by pair (with the endpoints each
        // tap saw) and lists those seen at one tap by id.
        let mut facts: Vec<String> = Vec::new();
        for c in doc["captures"].as_array().into_iter().flatten() {
            facts.extend(str_of(&c["sha256"]));
        }
        for f in doc["findings"].as_array().into_iter().flatten() {
            facts.extend(str_of(&f["rule"]));
            facts.extend(str_of(&f["session"]));
        }
        for p in doc["pairs"].as_array().into_iter().flatten() {
            facts.extend(str_of(&p["client_side_session"]));
            facts.extend(str_of(&p["server_side_session"]));
            for e in ["client_endpoint", "server_endpoint"] {
                facts.extend(str_of(&p[e]["client_side"]));
                facts.extend(str_of(&p[e]["server_side"]));
            }
        }
        for side in ["client_side", "server_side"] {
            for id in doc["unmatched"][side].as_array().into_iter().flatten() {
                facts.extend(str_of(id));
            }
        }
        for width in WIDTHS {
            let mut out = Vec::new();
            let style = Style {
                color: false,
                width,
                dialogue: false,
            };
            render_compare(&rep, &style, &mut out).unwrap();
            let text = String::from_utf8(out).unwrap();
            fits(stem, &text, width);
            holds(stem, &text, width, &facts);
        }
        pairs += 1;
    }
    assert!(pairs >= 20, "only {pairs} client/server pairs in testdata");
}

#[test]
fn batch_reports_fit_every_width() {
    let dir = testdata("");
    let json = bin()
        .args(["batch", "-f", "json", "--no-progress"])
        .arg(&dir)
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&json.stdout).unwrap();
    let s = &doc["summary"];
    // What the archive's text names: its rules, servers, clients, and the
    // captures with findings and those it could not read.
    let mut facts: Vec<String> = Vec::new();
    for key in ["findings_by_rule", "servers", "clients"] {
        for e in s[key].as_array().into_iter().flatten() {
            facts.extend(str_of(&e["key"]));
        }
    }
    for c in s["capture_errors"].as_array().into_iter().flatten() {
        facts.extend(str_of(&c["path"]));
    }
    assert!(facts.len() > 20, "{facts:?}");
    let at = |width: u16| {
        let out = bin()
            .args(["batch", "--no-progress", "--width", &width.to_string()])
            .arg(&dir)
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    // The tables show their top 15 rows: the facts the widest layout
    // shows whole are whole at every width.
    let wide = at(200);
    let shown: Vec<String> = facts
        .iter()
        .filter(|f| words(&wide).contains(f.as_str()))
        .cloned()
        .collect();
    assert!(shown.len() >= 15, "only {shown:?} of {facts:?}");
    for width in WIDTHS {
        let text = if width == 200 {
            wide.clone()
        } else {
            at(width)
        };
        fits("batch", &text, width);
        holds("batch", &text, width, &shown);
    }
}

/// Runs the binary with `args`, its standard output a pseudo-terminal of
/// 80 columns and 0 rows; its exit code and what it wrote there.
fn on_a_terminal_of_80_columns(args: &[&str]) -> (Option<i32>, String) {
    use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
    use rustix::termios::{Winsize, tcsetwinsize};
    use std::io::Read;

    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
    grantpt(&master).unwrap();
    unlockpt(&master).unwrap();
    let name = ptsname(&master, Vec::new()).unwrap();
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(name.to_str().unwrap())
        .unwrap();
    let size = Winsize {
        ws_row: 0,
        ws_col: 80,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    tcsetwinsize(&slave, size).unwrap();
    let mut child = bin()
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("COLUMNS")
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .stdout(slave)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Read until the child's end of the terminal closes (EIO on Linux).
    let mut master = std::fs::File::from(master);
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = master.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    let code = child.wait().unwrap().code();
    (code, String::from_utf8(out).unwrap().replace("\r\n", "\n"))
}

/// On a terminal, reports and help take the terminal's width, even when
/// the terminal knows only its columns: `stty cols 80` under `script`
/// (the issue's own reproduction) and some containers' ptys report 0
/// rows, which the terminal_size crate (and so clap) takes for no size at
/// all, and the report came out 120 columns wide in an 80-column terminal.
#[test]
fn a_terminal_that_knows_only_its_columns_sets_the_width() {
    let (code, text) =
        on_a_terminal_of_80_columns(&["analyze", "testdata/lab-mangle-vsftpd-client.pcap"]);
    assert_eq!(code, Some(1));
    assert!(text.contains("port-silently-truncated"), "{text}");
    fits("analyze on an 80-column terminal", &text, 80);
    // Laid out for 80 columns, not merely within them: the sessions
    // table (96 columns as a grid) is written as records.
    assert!(
        text.contains("\ns1  198.51.100.60:57346 → 203.0.113.10:21  tcp.stream 0"),
        "{text}"
    );
    let (code, help) = on_a_terminal_of_80_columns(&["compare", "--help"]);
    assert_eq!(code, Some(0));
    assert!(help.contains("--clock-offset"), "{help}");
    fits("compare --help on an 80-column terminal", &help, 80);
}
