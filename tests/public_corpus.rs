//! Every capture of the public corpus (../shared/captures/public): the
//! binary never panics and gives a result or a clean error; and the FTP
//! lines found agree with what tshark 4.0 decoded (tshark-ftp-lines.tsv)
//! wherever tshark's per-segment view is not wrong. tshark dissects each
//! TCP segment alone, so where a line spans segments it shows fragments;
//! those rows are checked to be pieces of our reassembled line instead.

mod common;
use common::*;
use portmortem::analysis::{Options, analyze_path};
use portmortem::ftp::line::Line;
use std::collections::{BTreeMap, HashSet};
use std::path::Path;

#[test]
fn every_public_capture_gives_a_result_or_a_clean_error() {
    if !have_public_corpus("every_public_capture_gives_a_result_or_a_clean_error") {
        return;
    }
    for p in corpus_files() {
        let out = bin()
            .args(["analyze", "-f", "json"])
            .arg(&p)
            .output()
            .unwrap();
        let code = out.status.code();
        assert!(
            matches!(code, Some(0..=2)),
            "{}: exit {code:?} (a panic?)\n{}",
            p.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{}: not JSON: {e}", p.display()));
        let cap = &doc["captures"][0];
        if code == Some(2) {
            let msg = cap["error"]["message"].as_str().unwrap_or_default();
            assert!(
                msg.contains(&*p.to_string_lossy()),
                "{}: error does not name the file: {msg}",
                p.display()
            );
        } else {
            assert!(cap["error"].is_null());
            assert!(cap["sha256"].as_str().unwrap().len() == 64);
            // Every frame is accounted for.
            let k = &cap["packets"];
            let skipped: u64 = k["skipped"]
                .as_object()
                .unwrap()
                .values()
                .map(|v| v.as_u64().unwrap())
                .sum();
            assert_eq!(
                k["frames"].as_u64().unwrap(),
                k["tcp_segments"].as_u64().unwrap() + skipped,
                "{}",
                p.display()
            );
            let tcp = k["tcp_segments"].as_u64().unwrap();
            let parts: u64 = [
                "control_segments",
                "data_segments",
                "other_tcp_segments",
                "after_close_segments",
            ]
            .iter()
            .map(|f| k[*f].as_u64().unwrap())
            .sum::<u64>()
                + k["not_sessions"]["segments"].as_u64().unwrap_or(0)
                + k["unannounced_segments"].as_u64().unwrap_or(0);
            assert_eq!(
                tcp,
                parts,
                "{}: TCP segments not all accounted for",
                p.display()
            );
        }
    }
}

/// One FTP line as tshark saw it.
struct Row {
    frame: u64,
    dir: String,
    /// The line's bytes (a prefix when tshark's output was cut).
    bytes: Vec<u8>,
    cut: bool,
}

/// Undoes the TSV's escaping: `\r`, `\n`, `\t` and `\xNN` are escapes;
/// a backslash is otherwise itself (the TSV does not double it, so the
/// NetBSD banner's `…/\` before CRLF reads `/\\r\n`); other characters
/// are Latin-1.
fn unescape_tsv(s: &str) -> Vec<u8> {
    let c: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        if c[i] == '\\' && i + 1 < c.len() {
            match c[i + 1] {
                'r' => out.push(b'\r'),
                'n' => out.push(b'\n'),
                't' => out.push(b'\t'),
                'x' if i + 3 < c.len()
                    && c[i + 2].is_ascii_hexdigit()
                    && c[i + 3].is_ascii_hexdigit() =>
                {
                    let h: String = c[i + 2..i + 4].iter().collect();
                    out.push(u8::from_str_radix(&h, 16).unwrap_or(b'?'));
                    i += 4;
                    continue;
                }
                _ => {
                    out.push(b'\\');
                    i += 1;
                    continue;
                }
            }
            i += 2;
            continue;
        }
        out.push(c[i] as u32 as u8);
        i += 1;
    }
    out
}

fn tshark_rows() -> BTreeMap<String, Vec<Row>> {
    let tsv = std::fs::read_to_string(public_dir().join("tshark-ftp-lines.tsv")).unwrap();
    let mut by_file: BTreeMap<String, Vec<Row>> = BTreeMap::new();
    for line in tsv.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        let raw = f[14];
        let (raw, cut) = match raw.find("...(+") {
            Some(i) => (&raw[..i], true),
            None => (raw, false),
        };
        by_file.entry(f[0].to_string()).or_default().push(Row {
            frame: f[1].parse().unwrap(),
            dir: f[8].to_string(),
            bytes: unescape_tsv(raw),
            cut,
        });
    }
    by_file
}

#[derive(Default, Debug)]
struct Tally {
    agree: usize,
    tshark_fragment: usize,
    disagree: Vec<String>,
    missing_in_tshark: Vec<String>,
}

fn compare(path: &Path, rows: &[Row], tally: &mut Tally) {
    let res = analyze_path(path, &Options::default()).unwrap();
    // Our lines, per direction, with the frames that carried them.
    let mut ours: Vec<(&'static str, &Line)> = Vec::new();
    let mut encrypted_from: Vec<(u16, u64)> = Vec::new();
    for s in res.sessions.iter().filter(|s| s.server.port() == 21) {
        for c in &s.commands {
            ours.push(("C", &c.line));
        }
        for r in &s.replies {
            for l in &r.lines {
                ours.push(("S", l));
            }
        }
        if let Some(f) = s.tls.as_ref().and_then(|t| t.started_frame) {
            encrypted_from.push((s.client.port(), f));
        }
    }
    let name = path.file_name().unwrap().to_string_lossy();
    let mut seen: HashSet<(u64, Vec<u8>)> = HashSet::new();
    for row in rows {
        let cands: Vec<&Line> = ours
            .iter()
            .filter(|(d, l)| *d == row.dir && l.pieces.iter().any(|p| p.frame == row.frame))
            .map(|(_, l)| *l)
            .collect();
        let exact = cands.iter().any(|l| {
            let w = l.wire();
            l.frames() == [row.frame]
                && if row.cut {
                    w.starts_with(&row.bytes)
                } else {
                    w == row.bytes
                }
        });
        if exact {
            tally.agree += 1;
            seen.insert((row.frame, row.bytes.clone()));
            continue;
        }
        // tshark shows the part of a multi-segment line that this segment
        // carried: check it is a piece of our line.
        let fragment = cands.iter().any(|l| {
            let w = l.wire();
            l.segment_count() > 1
                && w.windows(row.bytes.len().max(1))
                    .any(|x| x == row.bytes.as_slice())
        });
        // A line too long to keep whole (content capped, pieces capped):
        // the row lies within its span of frames.
        let overlong = ours.iter().any(|(d, l)| {
            *d == row.dir
                && (l.overlong_bytes > 0 || l.pieces_dropped > 0)
                && l.first_frame() <= row.frame
                && row.frame <= l.last_frame()
        });
        if fragment || overlong {
            tally.tshark_fragment += 1;
            continue;
        }
        tally.disagree.push(format!(
            "{name} frame {} {}: tshark `{}`, ours {:?}",
            row.frame,
            row.dir,
            portmortem::escape::escape_short(&row.bytes, 100),
            cands
                .iter()
                .map(|l| portmortem::escape::escape_short(&l.wire(), 100))
                .collect::<Vec<_>>()
        ));
    }
    // Our single-segment lines should all be in tshark's view too.
    let rows_by_frame: HashSet<(u64, &str)> =
        rows.iter().map(|r| (r.frame, r.dir.as_str())).collect();
    for (d, l) in &ours {
        if l.segment_count() != 1 || l.after_gap || !l.telnet.is_empty() {
            continue;
        }
        if !rows_by_frame.contains(&(l.first_frame(), *d)) {
            tally.missing_in_tshark.push(format!(
                "{name} frame {} {d}: ours `{}`",
                l.first_frame(),
                portmortem::escape::escape_short(&l.wire(), 100)
            ));
        }
    }
}

#[test]
fn ftp_lines_agree_with_tshark_where_tshark_is_right() {
    if !have_public_corpus("ftp_lines_agree_with_tshark_where_tshark_is_right") {
        return;
    }
    let rows = tshark_rows();
    let mut tally = Tally::default();
    let mut files = 0;
    for (rel, rs) in &rows {
        let p = public_dir().join(rel);
        compare(&p, rs, &mut tally);
        files += 1;
    }
    eprintln!(
        "{files} captures: {} lines agree, {} tshark rows are fragments of lines that span segments",
        tally.agree, tally.tshark_fragment
    );
    assert!(tally.agree > 5000, "{tally:?}");
    assert!(
        tally.disagree.is_empty(),
        "{} disagreements:\n{}",
        tally.disagree.len(),
        tally
            .disagree
            .iter()
            .take(80)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        tally.missing_in_tshark.is_empty(),
        "{} lines tshark does not show:\n{}",
        tally.missing_in_tshark.len(),
        tally
            .missing_in_tshark
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
