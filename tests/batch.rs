//! `batch` and `merge` on real captures: the public corpus and testdata,
//! a synthetic archive of lab captures where one octet value explains the
//! failures, broken files in the middle, shards merged back together, and
//! a capture with far more FTP connections than the flow table holds.

mod common;
use common::*;
use etherparse::PacketBuilder;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::Stdio;

/// `batch` with `args`; returns (exit code, stdout, stderr).
fn batch(args: &[&str]) -> (i32, String, String) {
    let out = bin().arg("batch").args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn batch_json(args: &[&str]) -> (i32, Value) {
    let mut a = vec!["-f", "json"];
    a.extend_from_slice(args);
    let (code, out, err) = batch(&a);
    let doc = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    (code, doc)
}

fn files_under(dir: &Path) -> usize {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter(|e| e.as_ref().unwrap().file_type().is_file())
        .count()
}

fn sum(doc: &Value, list: &str, field: &str) -> u64 {
    doc[list]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c[field].as_u64().unwrap())
        .sum()
}

#[test]
fn every_file_of_the_corpus_is_accounted_for_and_totals_add_up() {
    if !have_public_corpus("every_file_of_the_corpus_is_accounted_for_and_totals_add_up") {
        return;
    }
    let td = testdata("");
    let public = public_dir();
    let (code, doc) = batch_json(&[td.to_str().unwrap(), public.to_str().unwrap()]);
    // hand-truncated.pcap is truncated on purpose: exit 2, and an entry.
    assert_eq!(code, 2);
    let caps = doc["captures"].as_array().unwrap();
    let skipped = doc["skipped"].as_array().unwrap();
    assert_eq!(
        caps.len() + skipped.len(),
        files_under(&td) + files_under(&public)
    );
    // The manifest and summaries of the corpus are the only non-captures.
    for s in skipped {
        let p = s["path"].as_str().unwrap();
        assert!(p.ends_with(".tsv") || p.ends_with(".md"), "{p}");
    }
    let s = &doc["summary"];
    assert_eq!(s["captures"].as_u64().unwrap() as usize, caps.len());
    assert_eq!(s["skipped_files"].as_u64().unwrap() as usize, skipped.len());
    assert_eq!(
        s["sessions"].as_u64().unwrap(),
        sum(&doc, "captures", "sessions")
    );
    assert_eq!(
        s["bytes"].as_u64().unwrap(),
        sum(&doc, "captures", "file_bytes")
    );
    let frames: u64 = caps
        .iter()
        .map(|c| c["packets"]["frames"].as_u64().unwrap())
        .sum();
    assert_eq!(s["packets"]["frames"].as_u64().unwrap(), frames);
    // Findings listed = findings counted, rule by rule.
    let mut listed: BTreeMap<String, u64> = BTreeMap::new();
    for c in caps {
        for f in c["findings"].as_array().unwrap() {
            assert_eq!(f["capture"], c["index"]);
            *listed
                .entry(f["rule"].as_str().unwrap().into())
                .or_default() += 1;
        }
    }
    // Keyed maps are arrays of {key, …} (no data as object keys).
    let counted: BTreeMap<String, u64> = s["findings_by_rule"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["key"].as_str().unwrap().into(),
                e["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(listed, counted);
    // Indexes follow the sorted paths.
    let idx: Vec<u64> = caps.iter().map(|c| c["index"].as_u64().unwrap()).collect();
    assert!(idx.windows(2).all(|w| w[0] < w[1]));
    let errors: Vec<&str> = s["capture_errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert!(errors.len() == 1 && errors[0].ends_with("hand-truncated.pcap"));
    assert_eq!(doc["summary"]["exit_code"], 2);
}

/// What batch says about each capture is what analyze says: same sessions,
/// same findings with the same session ids and frames.
#[test]
fn batch_findings_equal_analyze_findings() {
    // Every capture batch reads: the archives under testdata too.
    let td = testdata("");
    let names: Vec<String> = walkdir::WalkDir::new(&td)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            e.path()
                .strip_prefix(&td)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| {
            [".pcap", ".pcapng", ".snoop", ".bin", ".pcap.gz"]
                .iter()
                .any(|x| n.ends_with(x))
        })
        .collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let (_, a) = analyze(&refs, &[]);
    // A capture by its path under testdata (archives hold files of one name).
    let rel = |path: &str| {
        path.rsplit_once("testdata/")
            .map_or(path, |(_, r)| r)
            .to_string()
    };
    let key = |path: &str, f: &Value| {
        format!(
            "{} {} {} {} {}",
            rel(path),
            f["rule"],
            f["session"],
            f["frames"],
            f["message"]
        )
    };
    let mut from_analyze: Vec<String> = a["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let c = f["capture"].as_u64().unwrap() as usize;
            key(a["captures"][c]["path"].as_str().unwrap(), f)
        })
        .collect();
    let (_, b) = batch_json(&[testdata("").to_str().unwrap()]);
    let mut from_batch: Vec<String> = Vec::new();
    for c in b["captures"].as_array().unwrap() {
        for f in c["findings"].as_array().unwrap() {
            from_batch.push(key(c["path"].as_str().unwrap(), f));
        }
        let name = rel(c["path"].as_str().unwrap());
        if c.get("legs").is_some() || c.get("stitched").is_some() {
            // A file of two legs: `analyze` of it alone compares its legs,
            // or stitches two one-way legs into one view (of several
            // files, each is read as one); batch says what that reading
            // says (tests/legs_counts.rs has its counts).
            from_analyze.retain(|k| !k.starts_with(&format!("{name} ")));
            let (_, one) = analyze(&[name.as_str()], &[]);
            for f in one["findings"].as_array().unwrap() {
                from_analyze.push(key(&name, f));
            }
            continue;
        }
        if let Some(ac) = a["captures"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| rel(x["path"].as_str().unwrap()) == name)
        {
            assert_eq!(ac["session_count"], c["sessions"], "{name:?}");
            assert_eq!(ac["sha256"], c["sha256"], "{name:?}");
            assert_eq!(ac["packets"], c["packets"], "{name:?}");
        }
    }
    from_analyze.sort();
    from_batch.sort();
    assert!(!from_batch.is_empty());
    let only_a: Vec<&String> = from_analyze
        .iter()
        .filter(|k| !from_batch.contains(k))
        .collect();
    let only_b: Vec<&String> = from_batch
        .iter()
        .filter(|k| !from_analyze.contains(k))
        .collect();
    assert!(
        only_a.is_empty() && only_b.is_empty(),
        "only in analyze: {only_a:#?}\nonly in batch: {only_b:#?}"
    );
    assert_eq!(from_analyze.len(), from_batch.len());
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// An archive of real lab sessions, as rotated and compressed files under
/// nested directories: 15 clean sessions (20 working PORTs with low bytes
/// 64 and 65) and 6 sessions whose PORT low byte 227 became 22_ on the way
/// (vsftpd connected to the wrong port, inetutils echoed the line, the
/// Linux ALG dropped it).
fn synthetic_archive(name: &str) -> std::path::PathBuf {
    let root = temp_dir(name);
    let read = |n: &str| std::fs::read(testdata(n)).unwrap();
    for i in 0..10 {
        let dir = root.join(format!("day{}", i % 3));
        std::fs::create_dir_all(&dir).unwrap();
        let clean = read("lab-mangle-clean-client.pcap");
        if i % 2 == 0 {
            std::fs::write(dir.join(format!("clean-{i}.pcap.gz")), gzip(&clean)).unwrap();
        } else {
            std::fs::write(dir.join(format!("rotated.{i}")), &clean).unwrap();
        }
    }
    for i in 0..5 {
        let active = read("lab-alg-active-client.pcap");
        std::fs::write(root.join(format!("day1/active-{i}")), active).unwrap();
    }
    for (i, n) in [
        "lab-mangle-vsftpd-client.pcap",
        "lab-mangle-inetutils-client.pcap",
        "lab-mangle-alg-client.pcap",
    ]
    .iter()
    .enumerate()
    {
        for k in 0..2 {
            std::fs::write(root.join(format!("day{k}/bad-{i}.pcap")), read(n)).unwrap();
        }
    }
    std::fs::write(root.join("day0/README.txt"), b"rotated captures\n").unwrap();
    root
}

#[test]
fn the_pattern_statement_names_the_octet_that_explains_the_failures() {
    let root = synthetic_archive("pattern");
    let (code, text, _) = batch(&[root.to_str().unwrap()]);
    assert_eq!(code, 1, "{text}");
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    // The six bad sessions all used data port 125·256+227: the strings
    // 125 and 227 of the port, its high and its low byte have the same
    // counts, and one pattern names them all. inetutils refused its
    // PORT: a refused command, not a failed transfer; the ALG's drop hung
    // the session on the PORT: a failed transfer.
    assert_contains(
        &flat,
        &[
            "all 6 active failures (4 failed transfers, 2 refused commands), in 6 sessions from 1 client (198.51.100.60), had the digit string 125 in the announced port (PORT octet 5 or 6); 0 of 25 working ones did, in 0 of 15 sessions",
            "the same counts: the digit string 227 in the announced port, data-port low byte 227, data-port high byte 125",
            "21 (",
            "1 file skipped (not captures, duplicates, special files)",
            "2 command never answered, 2 connection to a different endpoint",
            "Refused commands: 2 active commands the server answered 4xx/5xx (not transfers), from 2 sessions of client 198.51.100.60",
        ],
    );
    let (_, doc) = batch_json(&[root.to_str().unwrap()]);
    let p = &doc["summary"]["patterns"][0];
    assert_eq!(p["feature"], "port_string");
    assert_eq!(
        (
            p["failed_with"].as_u64(),
            p["refused_with"].as_u64(),
            p["failed"].as_u64()
        ),
        (Some(6), Some(2), Some(6))
    );
    assert_eq!(
        (p["worked_with"].as_u64(), p["worked"].as_u64()),
        (Some(0), Some(25))
    );
    // The ticket formats lead with the same statement.
    let (_, md, _) = batch(&["-f", "markdown", root.to_str().unwrap()]);
    assert_contains(
        &md,
        &[
            "**Verdict:** All 6 active failures (4 failed transfers, 2 refused commands), in 6 sessions",
            "| active setups by string in the announced port | failures | worked |",
            "## Inputs",
        ],
    );
    let (_, html, _) = batch(&["-f", "html", root.to_str().unwrap()]);
    assert!(html.contains("All 6 active failures (4 failed transfers, 2 refused commands)"));
    let active = by_key(&doc["summary"]["setups"], "active");
    let h = by_key(&active["features"], "port_low_byte")["values"].clone();
    assert_eq!(by_key(&h, "227")["failed"], 4);
    assert_eq!(by_key(&h, "227")["refused"], 2);
    assert_eq!(by_key(&h, "227")["failing_sessions"], 6);
    // inetutils quoted the line it received: same length as sent (227 →
    // 22_ in place), the line length change a feature of its own.
    let echo = by_key(&active["features"], "line_length_change")["values"].clone();
    assert_eq!(by_key(&echo, "0")["refused"], 2);
    assert_eq!(
        by_key(&h, "64")["worked"].as_u64().unwrap() + by_key(&h, "65")["worked"].as_u64().unwrap(),
        25
    );
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn a_broken_file_in_the_middle_does_not_stop_the_batch() {
    let root = temp_dir("broken");
    let good = std::fs::read(testdata("lab-mangle-clean-client.pcap")).unwrap();
    std::fs::write(root.join("a-good.pcap"), &good).unwrap();
    std::fs::write(root.join("b-truncated.pcap"), &good[..good.len() - 30]).unwrap();
    let mut gz = gzip(&good);
    let n = gz.len();
    gz.truncate(n * 2 / 3);
    std::fs::write(root.join("c-broken.pcap.gz"), gz).unwrap();
    std::fs::write(root.join("d-huge-record.pcap"), {
        let mut v = good[..24].to_vec();
        record(&mut v, 0, &[0; 60]);
        v.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f]);
        v
    })
    .unwrap();
    std::fs::write(root.join("e-not-a-capture.txt"), b"notes").unwrap();
    std::os::unix::fs::symlink(root.join("missing-target"), root.join("f-dangling")).unwrap();
    std::fs::write(root.join("g-good.pcap"), &good).unwrap();
    let (code, doc) = batch_json(&[root.to_str().unwrap(), "-j", "2"]);
    assert_eq!(code, 2);
    let caps = doc["captures"].as_array().unwrap();
    let by_name = |n: &str| {
        caps.iter()
            .find(|c| c["path"].as_str().unwrap().ends_with(n))
            .unwrap_or_else(|| panic!("no entry for {n}: {doc:#}"))
    };
    for n in ["a-good.pcap", "g-good.pcap"] {
        assert!(by_name(n)["error"].is_null(), "{n}");
        assert_eq!(by_name(n)["sessions"], 1, "{n}");
    }
    for (n, says) in [
        ("b-truncated.pcap", "truncated"),
        ("c-broken.pcap.gz", "decompressed"),
        ("d-huge-record.pcap", "limit"),
        ("f-dangling", "no such file"),
    ] {
        let e = by_name(n)["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{n}"));
        assert!(e.to_lowercase().contains(says), "{n}: {e}");
    }
    // What was read before the error is kept.
    assert_eq!(by_name("b-truncated.pcap")["sessions"], 1);
    assert_eq!(
        doc["skipped"][0]["reason"],
        "not a capture (by its first bytes)"
    );
    assert_eq!(doc["summary"]["captures_with_read_errors"], 4);
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn shards_merged_equal_one_run() {
    let root = synthetic_archive("shards");
    let td = testdata("");
    let inputs = [root.to_str().unwrap(), td.to_str().unwrap()];
    let (_, whole) = batch_json(&inputs);
    let dir = temp_dir("shard-out");
    let mut parts = Vec::new();
    for k in 1..=3 {
        let shard = format!("{k}/3");
        let (_, out, _) = batch(&[&["-f", "ndjson", "--shard", &shard][..], &inputs[..]].concat());
        let p = dir.join(format!("part{k}.ndjson"));
        std::fs::write(&p, out).unwrap();
        parts.push(p);
    }
    let out = bin()
        .args(["merge", "-f", "json"])
        .args(&parts)
        .output()
        .unwrap();
    let merged: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(merged["command"], "merge");
    for k in ["captures", "skipped", "summary"] {
        assert_eq!(whole[k], merged[k], "{k} differs");
    }
    // Every shard got some of the files.
    for p in &parts {
        assert!(std::fs::read_to_string(p).unwrap().lines().count() > 3);
    }
    // A shard output cut short (a run that died) or given twice is refused.
    let text = std::fs::read_to_string(&parts[0]).unwrap();
    let cut = dir.join("cut.ndjson");
    std::fs::write(&cut, text.lines().take(2).collect::<Vec<_>>().join("\n")).unwrap();
    for bad in [vec![&parts[0], &cut], vec![&parts[0], &parts[0]]] {
        let out = bin().arg("merge").args(bad).output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(out.stdout.is_empty() || !String::from_utf8_lossy(&out.stderr).is_empty());
    }
    std::fs::remove_dir_all(root).unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

/// `--shard auto` as a Slurm job array (indices 1-3) and as a Kubernetes
/// Indexed Job (0-2) would run it: the merged outputs equal one run.
#[test]
fn shard_auto_from_slurm_and_kubernetes_merges_to_one_run() {
    let td = testdata("");
    let inputs = [td.to_str().unwrap()];
    let (_, whole) = batch_json(&inputs);
    let dir = temp_dir("shard-auto");
    // Per runner, each task's environment.
    type Tasks = Vec<Vec<(&'static str, String)>>;
    let runners: [(&str, Tasks); 2] = [
        (
            "slurm",
            (1..=3)
                .map(|i| {
                    vec![
                        ("SLURM_ARRAY_TASK_ID", i.to_string()),
                        ("SLURM_ARRAY_TASK_COUNT", "3".to_string()),
                        ("SLURM_ARRAY_TASK_MIN", "1".to_string()),
                    ]
                })
                .collect(),
        ),
        (
            "k8s",
            (0..3)
                .map(|i| {
                    vec![
                        ("JOB_COMPLETION_INDEX", i.to_string()),
                        ("JOB_COMPLETIONS", "3".to_string()),
                    ]
                })
                .collect(),
        ),
    ];
    for (name, runs) in runners {
        let mut parts = Vec::new();
        for (i, vars) in runs.iter().enumerate() {
            let out = bin()
                .args(["batch", "-f", "ndjson", "--shard", "auto"])
                .args(inputs)
                .env_remove("SLURM_ARRAY_TASK_ID")
                .env_remove("JOB_COMPLETION_INDEX")
                .envs(vars.iter().map(|(k, v)| (k, v)))
                .output()
                .unwrap();
            // Exit 2: testdata holds broken captures on purpose.
            assert!(
                !out.stdout.is_empty(),
                "{name} {i}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let p = dir.join(format!("{name}-{i}.ndjson"));
            std::fs::write(&p, &out.stdout).unwrap();
            parts.push(p);
        }
        let out = bin()
            .args(["merge", "-f", "json"])
            .args(&parts)
            .output()
            .unwrap();
        let merged: Value = serde_json::from_slice(&out.stdout).unwrap();
        for k in ["captures", "skipped", "summary"] {
            assert_eq!(whole[k], merged[k], "{name}: {k} differs");
        }
    }
    // Without a job runner's variables, `auto` says what it looked for.
    let out = bin()
        .args(["batch", "--shard", "auto"])
        .args(inputs)
        .env_remove("SLURM_ARRAY_TASK_ID")
        .env_remove("JOB_COMPLETION_INDEX")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("SLURM_ARRAY_TASK_ID"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn ndjson_streams_a_line_per_capture_then_the_summary() {
    let td = testdata("");
    let (_, out, _) = batch(&["-f", "ndjson", td.to_str().unwrap()]);
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let last = lines.last().unwrap();
    assert_eq!(last["type"], "summary");
    let caps = lines.iter().filter(|l| l["type"] == "capture").count();
    assert_eq!(last["captures"].as_u64().unwrap() as usize, caps);
    assert_eq!(
        caps,
        files_under(&td) - lines.iter().filter(|l| l["type"] == "skipped").count()
    );
}

#[test]
fn file_lists_on_stdin_and_globs() {
    let td = testdata("");
    let glob = format!("{}/lab-mangle-*-client.pcap", td.display());
    let (_, doc) = batch_json(&[&glob]);
    assert_eq!(doc["captures"].as_array().unwrap().len(), 5);
    let mut child = bin()
        .args(["batch", "-f", "json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let list = format!(
        "{}\n\n{}\n{}/no-such-file.pcap\n",
        td.join("lab-tls-client.pcap").display(),
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("Cargo.toml")
            .display(),
        td.display()
    );
    child
        .stdin
        .take()
        .unwrap()
        .write_all(list.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let caps = doc["captures"].as_array().unwrap();
    assert_eq!(caps.len(), 3);
    // Named explicitly, a file that is not a capture is an error entry.
    let errs: Vec<&str> = caps.iter().filter_map(|c| c["error"].as_str()).collect();
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(errs.iter().any(|e| e.contains("not a pcap")));
    assert!(errs.iter().any(|e| e.contains("no such file")));
}

/// 20,000 FTP control connections that never close, in a capture read with
/// a flow table of 500: the table evicts, counts and reports, every
/// session is still accounted for, and the run finishes.
#[test]
fn far_more_connections_than_the_flow_table_holds() {
    let root = temp_dir("flows");
    let mut v = pcap_header();
    let srv = [203, 0, 113, 10];
    let eth = || PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let mut t = 0u32;
    for i in 0..20_000u32 {
        let cli = [198, 51, 100, 1 + (i % 200) as u8];
        let port = 10_000 + (i / 200) as u16;
        let mut push = |b: etherparse::PacketBuilderStep<etherparse::TcpHeader>, p: &[u8]| {
            let mut out = Vec::new();
            b.write(&mut out, p).unwrap();
            record(&mut v, t / 100, &out);
            t += 1;
        };
        push(
            eth().ipv4(cli, srv, 64).tcp(port, 21, 1000, 1000).syn(),
            &[],
        );
        push(
            eth()
                .ipv4(srv, cli, 64)
                .tcp(21, port, 5000, 1000)
                .syn()
                .ack(1001),
            &[],
        );
        push(
            eth()
                .ipv4(srv, cli, 64)
                .tcp(21, port, 5001, 1000)
                .ack(1001)
                .psh(),
            b"220 hi\r\n",
        );
        push(
            eth()
                .ipv4(cli, srv, 64)
                .tcp(port, 21, 1001, 1000)
                .ack(5009)
                .psh(),
            b"USER a\r\n",
        );
    }
    let cap = root.join("many.pcap");
    std::fs::write(&cap, v).unwrap();
    let (code, doc) = batch_json(&[cap.to_str().unwrap(), "--max-flows", "500"]);
    assert_eq!(code, 0);
    let c = &doc["captures"][0];
    assert_eq!(c["sessions"], 20_000);
    assert!(c["packets"]["flows_evicted"].as_u64().unwrap() >= 19_000);
    assert_eq!(c["packets"]["frames"], 80_000);
    let (_, text, _) = batch(&[cap.to_str().unwrap(), "--max-flows", "500"]);
    assert_contains(&text, &["flows evicted when the table was full"]);
    std::fs::remove_dir_all(root).unwrap();
}

/// An archive rotated hourly where a device starts rewriting `227` to
/// `22_` at 13:20 (lab/handmade.py, `onset_archive`): batch dates the
/// onset between the last working and the first failed transfer with low
/// byte 227, each named by capture and frame (checked with tshark:
/// frames 18 and 186 of the 13:00 file are the PORTs at 13:00:01.18 and
/// 13:20:01.18), and the hourly series adds up.
#[test]
fn batch_dates_the_onset_of_a_rewrite() {
    let dir = testdata("hand-onset");
    let (code, doc) = batch_json(&[dir.to_str().unwrap()]);
    assert_eq!(code, 1);
    let s = &doc["summary"];
    // The string 227 of the port leads; the low byte has the same counts.
    let p = &s["patterns"][0];
    assert_eq!(
        (&p["feature"], &p["value"]),
        (&"port_string".into(), &"227".into())
    );
    assert_eq!(p["same_counts"][0], "data-port low byte 227");
    assert_eq!(
        (p["failed_with"].as_u64(), p["worked_with"].as_u64()),
        (Some(8), Some(10))
    );
    let since = &p["since"];
    assert_eq!(since["onset"]["worked_before"], 10);
    assert_eq!(since["onset"]["failed_from"], 8);
    let path_of = |at: &Value| {
        let i = at["capture"].as_u64().unwrap();
        let c = doc["captures"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["index"].as_u64() == Some(i))
            .unwrap();
        c["path"].as_str().unwrap().to_string()
    };
    for (at, frame, ts) in [
        (&since["last_success"], 18, "2026-11-03T13:00:01.180000000Z"),
        (
            &since["first_failure"],
            186,
            "2026-11-03T13:20:01.180000000Z",
        ),
    ] {
        assert!(path_of(at).ends_with("tap-20261103-1300.pcap"), "{at}");
        assert_eq!(at["frame"], frame);
        assert_eq!(at["ts"], ts);
    }
    assert_eq!(
        since["last_failure"]["ts"],
        "2026-11-03T15:40:01.180000000Z"
    );
    let text = since["statement"].as_str().unwrap();
    assert!(
        text.starts_with("since 2026-11-03T13:20:01.180000000Z"),
        "{text}"
    );
    // The series: an hour per file, 12 setups each; failures from 13:00.
    let series = s["series"].as_array().unwrap();
    let failed: Vec<u64> = series
        .iter()
        .map(|b| b["failed"].as_u64().unwrap())
        .collect();
    assert_eq!(failed, [0, 0, 0, 2, 3, 3]);
    assert!(
        series
            .iter()
            .all(|b| b["failed"].as_u64().unwrap() + b["worked"].as_u64().unwrap() == 12)
    );
    // Shards merge to the same dates and series.
    let out = temp_dir("onset-shards");
    let mut parts = Vec::new();
    for k in 1..=2 {
        let (_, lines, _) = batch(&[
            "-f",
            "ndjson",
            "--shard",
            &format!("{k}/2"),
            dir.to_str().unwrap(),
        ]);
        let part = out.join(format!("{k}.ndjson"));
        std::fs::write(&part, lines).unwrap();
        parts.push(part);
    }
    let merged = bin()
        .args(["merge", "-f", "json"])
        .args(&parts)
        .output()
        .unwrap();
    let merged: Value = serde_json::from_slice(&merged.stdout).unwrap();
    assert_eq!(merged["summary"]["patterns"], s["patterns"]);
    assert_eq!(merged["summary"]["series"], s["series"]);
    // The text report says it, and tabulates the hours.
    let (_, text, _) = batch(&[dir.to_str().unwrap()]);
    assert_contains(
        &text,
        &[
            "since 2026-11-03T13:20:01.180000000Z",
            "Transfers and refused commands by hour (UTC)",
            "2026-11-03T13:00",
        ],
    );
}

/// The entry of a keyed array (`[{key, …}]`) with key `k`.
fn by_key(v: &Value, k: &str) -> Value {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .find(|e| e["key"] == k)
        .unwrap_or_else(|| panic!("no {k} in {v}"))
        .clone()
}

/// The founding case as an archive shows it (lab/handmade.py,
/// `founding_archive`): after six clean days, every PORT with the digit
/// string 227 fails, as octet 6 and as octet 5 — one pattern, dated to the
/// day. tshark shows the bounds: frame 198 of the 12-07 file is `PORT
/// 198,51,100,60,156,227` at 03:05:00.18, answered by a SYN from port 20
/// to 39958 (156·256+22) and 425; frame 978 of the 12-06 file is `PORT
/// 198,51,100,61,227,95` at 16:05:00.18, whose transfer worked; frame 156
/// of the 12-07 file (`PORT 198,51,100,62,196,42`, 02:05:00.36) is the
/// last transfer that worked before the first failure.
#[test]
fn the_founding_pattern_is_one_digit_string_dated_to_the_day() {
    let dir = testdata("hand-founding");
    let (code, doc) = batch_json(&[dir.to_str().unwrap()]);
    assert_eq!(code, 1);
    let s = &doc["summary"];
    let p = &s["patterns"][0];
    assert_eq!(
        (&p["feature"], &p["value"]),
        (&"port_string".into(), &"227".into())
    );
    let n = |k: &str| p[k].as_u64().unwrap();
    assert_eq!(
        [
            n("failed_with"),
            n("failed"),
            n("worked_with"),
            n("worked"),
            n("failing_sessions_with"),
            n("failing_sessions"),
            n("working_sessions_with"),
            n("working_sessions")
        ],
        [6, 6, 12, 426, 6, 6, 12, 216]
    );
    assert!(p["p_holm"].as_f64().unwrap() <= 0.01);
    assert!(p["p_holm"].as_f64().unwrap() >= p["p_raw"].as_f64().unwrap());
    assert_eq!(p["hypotheses"], s["hypotheses"]);
    // Octet 6 alone covers only half: it is no pattern of its own.
    assert!(
        s["patterns"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["feature"] != "port_low_byte" && p["feature"] != "port_high_byte"),
        "{:#}",
        s["patterns"]
    );
    let since = &p["since"];
    assert_eq!(since["onset"]["worked_before"], 12);
    assert_eq!(since["onset"]["failed_from"], 6);
    let file = |at: &Value| {
        let i = at["capture"].as_u64().unwrap();
        let c = doc["captures"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["index"].as_u64() == Some(i))
            .unwrap();
        let p = c["path"].as_str().unwrap();
        p[p.len() - 20..].to_string()
    };
    for (at, name, frame, ts) in [
        (
            &since["first_failure"],
            "tap-2026-12-07.pcap.gz",
            198,
            "2026-12-07T03:05:00.180000000Z",
        ),
        (
            &since["last_success"],
            "tap-2026-12-06.pcap.gz",
            978,
            "2026-12-06T16:05:00.180000000Z",
        ),
    ] {
        assert!(name.ends_with(&file(at)), "{at}");
        assert_eq!(
            (at["frame"].as_u64(), at["ts"].as_str()),
            (Some(frame), Some(ts))
        );
    }
    // Since when the active transfers fail, whatever explains it.
    let active = &s["failures_since"][0];
    assert_eq!(active["mode"], "active");
    assert_eq!(active["first_failure"], since["first_failure"]);
    assert!("tap-2026-12-07.pcap.gz".ends_with(&file(&active["last_worked_before"])));
    assert_eq!(active["last_worked_before"]["frame"], 156);
    assert_eq!(
        (active["worked_before"].as_u64(), active["worked"].as_u64()),
        (Some(294), Some(426))
    );
    // Every format says it.
    let verdict = "All 6 failed active transfers, in 6 sessions from 2 clients, had the digit string \
                   227 in the announced port (PORT octet 5 or 6); 12 of 426 working ones did, in 12 of \
                   216 sessions — since 2026-12-07: before it, 12 transfers with it worked.";
    let (_, text, _) = batch(&["--no-progress", dir.to_str().unwrap()]);
    assert!(
        text.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .contains(verdict),
        "{text}"
    );
    for f in ["markdown", "html"] {
        let (_, page, _) = batch(&["-f", f, dir.to_str().unwrap()]);
        assert!(page.contains(verdict), "{f}: {page}");
        assert!(
            page.contains("after Holm&#39;s correction")
                || page.contains("after Holm's correction"),
            "{f}"
        );
    }
}

/// A scanner among working transfers (lab/handmade.py, `scanner_archive`):
/// eleven PORTs for ports below 1024 refused by wu-ftpd in one session
/// (tshark: frames 602–642 of the 12-22 file, each answered `500 Illegal
/// PORT Command.`) are refused commands from one session, not failed
/// transfers; with four unrelated failures, no value is a pattern.
#[test]
fn a_scanners_refused_ports_are_one_session_and_no_pattern() {
    let dir = testdata("hand-scanner");
    let (_, doc) = batch_json(&[dir.to_str().unwrap()]);
    let s = &doc["summary"];
    let active = by_key(&s["setups"], "active");
    let n = |k: &str| active[k].as_u64().unwrap();
    assert_eq!(
        [
            n("worked"),
            n("failed"),
            n("refused"),
            n("refusing_sessions"),
            n("failing_sessions")
        ],
        [56, 4, 11, 1, 5]
    );
    assert_eq!(
        active["refusing_clients"],
        serde_json::json!(["192.0.2.99"])
    );
    let r = by_key(&active["refusals"], "500");
    assert_eq!(
        (r["count"].as_u64(), r["first"]["frame"].as_u64()),
        (Some(11), Some(602))
    );
    assert_eq!(r["reply"], "500 Illegal PORT Command.");
    assert!(
        s["patterns"].as_array().unwrap().is_empty(),
        "{:#}",
        s["patterns"]
    );
    assert_eq!(s["no_pattern"][0]["tested"], true);
    // wu-ftpd's server counts refused commands, not failed transfers.
    let wu = by_key(&s["servers"], "203.0.113.12:21");
    assert_eq!(
        (
            wu["transfers_failed"].as_u64(),
            wu["commands_refused"].as_u64()
        ),
        (Some(0), Some(11))
    );
    let refused = "Refused commands: 11 active commands the server answered 4xx/5xx (not transfers), \
                   all from one session of client 192.0.2.99: 11 × 500 (the first answered the command in";
    let (_, text, _) = batch(&["--no-progress", dir.to_str().unwrap()]);
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert_contains(
        &flat,
        &[
            refused,
            "frame 602: `500 Illegal PORT Command.`)",
            "Verdict: 4 failed active transfers and 11 refused active commands in 5 sessions, the first on 2026-12-21; no value of any feature explains them.",
            "no value of any feature is shared by at least half of the 5 sessions",
        ],
    );
    assert!(!flat.contains("wu-ftpd servers"), "{text}");
    // The page says what the text says: setups, refusals, patterns, hosts.
    for f in ["markdown", "html"] {
        let (_, page, _) = batch(&["-f", f, dir.to_str().unwrap()]);
        let flat = page.split_whitespace().collect::<Vec<_>>().join(" ");
        assert_contains(
            &flat,
            &[
                "Refused commands: 11 active commands",
                "500 Illegal PORT Command.",
                "no value of any feature is shared",
                "Data setups",
                "Servers",
                "Clients",
                "192.0.2.99",
                "Failures since when",
            ],
        );
    }
}

/// Failures with nothing in common (lab/handmade.py,
/// `scattered_archive`): no pattern, but the failures are dated: the
/// first on the fourth day, bounded by the last transfer that worked
/// (tshark, the 01-13 file: frame 78 is `PORT 198,51,100,74,165,163` at
/// 01:25:20.18, whose connection the client resets, then 425; frame 36 is
/// `PORT 198,51,100,73,173,138` at 00:02:00.36, whose transfer worked).
#[test]
fn failures_no_value_explains_are_still_dated() {
    let dir = testdata("hand-scattered");
    let (_, doc) = batch_json(&[dir.to_str().unwrap()]);
    let s = &doc["summary"];
    assert!(s["patterns"].as_array().unwrap().is_empty());
    let o = &s["failures_since"][0];
    assert_eq!(
        (o["mode"].as_str(), o["failures"].as_u64()),
        (Some("active"), Some(5))
    );
    assert!(
        o["first_failure"]["ts"]
            .as_str()
            .unwrap()
            .starts_with("2027-01-13")
    );
    assert!(
        o["last_worked_before"]["ts"].as_str().unwrap()
            < o["first_failure"]["ts"].as_str().unwrap()
    );
    assert!(
        o["statement"]
            .as_str()
            .unwrap()
            .contains("the failures began between the two")
    );
    let (_, text, _) = batch(&["--no-progress", dir.to_str().unwrap()]);
    assert_contains(
        &text.split_whitespace().collect::<Vec<_>>().join(" "),
        &[
            "5 failed active transfers in 5 sessions, the first on 2027-01-13; no value of any feature explains them",
        ],
    );
}

/// The same transfers from six sessions and from one (lab/handmade.py,
/// `strength_archives`): sessions are the observations, so six sessions
/// make a pattern and one makes none.
#[test]
fn one_session_is_one_observation() {
    let (_, many) = batch_json(&[testdata("hand-strength/many").to_str().unwrap()]);
    let (_, one) = batch_json(&[testdata("hand-strength/one").to_str().unwrap()]);
    for d in [&many, &one] {
        let a = by_key(&d["summary"]["setups"], "active");
        assert_eq!(
            (a["failed"].as_u64(), a["worked"].as_u64()),
            (Some(6), Some(94))
        );
    }
    let p = &many["summary"]["patterns"][0];
    assert_eq!(
        (
            p["failing_sessions_with"].as_u64(),
            p["failing_sessions"].as_u64()
        ),
        (Some(6), Some(6))
    );
    assert!(p["p_holm"].as_f64().unwrap() <= 0.01);
    assert!(one["summary"]["patterns"].as_array().unwrap().is_empty());
    let none = &one["summary"]["no_pattern"][0];
    assert_eq!(none["tested"], false);
    assert_eq!(
        none["statement"],
        "the 6 failed active transfers all come from one session (client 198.51.100.60): one observation, so no value was tested"
    );
    assert_eq!(one["summary"]["hypotheses"], 0);
}

/// A `227 Logout.` after the client's FIN, with no PASV before it
/// (lab/handmade.py, `logout_227`), announces nothing: no setup, no
/// failure.
#[test]
fn a_227_that_answers_no_pasv_is_no_setup() {
    let (code, doc) = batch_json(&[testdata("hand-logout").to_str().unwrap()]);
    assert_eq!(code, 0);
    let p = by_key(&doc["summary"]["setups"], "passive");
    let n = |k: &str| p[k].as_u64().unwrap();
    assert_eq!(
        [n("worked"), n("failed"), n("unknown"), n("not_setups")],
        [1, 0, 0, 1]
    );
    assert!(
        doc["summary"]["failures_since"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

/// Adding the records up in any order, or in two parts merged, gives the
/// same summary: patterns, their p-values and dates, the failures'
/// onsets, every count.
#[test]
fn the_order_of_the_captures_changes_no_statistic() {
    use portmortem::batch::record::CaptureLine;
    use portmortem::batch::summary::Summary;
    use proptest::prelude::*;
    let dirs = ["hand-founding", "hand-scanner", "hand-onset", "hand-logout"];
    let args: Vec<String> = dirs
        .iter()
        .map(|d| testdata(d).to_string_lossy().into_owned())
        .collect();
    let mut a = vec!["-f", "ndjson"];
    a.extend(args.iter().map(String::as_str));
    let (_, out, _) = batch(&a);
    let records: Vec<CaptureLine<Value>> = out
        .lines()
        .filter(|l| l.contains(r#""type":"capture""#))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(records.len() > 15);
    let summary = |order: &[usize]| {
        let mut s = Summary::default();
        for &i in order {
            s.add(&records[i].record);
        }
        s.finish();
        serde_json::to_value(&s).unwrap()
    };
    let first = summary(&(0..records.len()).collect::<Vec<_>>());
    assert!(!first["patterns"].as_array().unwrap().is_empty());
    let n = records.len();
    // Partial summaries of two parts, merged (as the Spark job's tasks
    // are), give the same too.
    let merged = |order: &[usize], cut: usize| {
        let mut whole = Summary::default();
        for part in [&order[..cut], &order[cut..]] {
            let mut s = Summary::default();
            for &i in part {
                s.add(&records[i].record);
            }
            whole.merge(s.partial());
        }
        whole.finish();
        serde_json::to_value(&whole).unwrap()
    };
    proptest!(ProptestConfig::with_cases(24), |(
        order in Just((0..n).collect::<Vec<usize>>()).prop_shuffle(),
        cut in 0..n,
    )| {
        prop_assert_eq!(&summary(&order), &first);
        prop_assert_eq!(&merged(&order, cut), &first);
    });
}

/// batch and merge take their format from -o's extension, as analyze and
/// compare do (batch -o report.html wrote plain text before).
#[test]
fn the_output_format_comes_from_the_extension() {
    let d = tempfile::tempdir().unwrap();
    let onset = testdata("hand-onset");
    let out = |name: &str| d.path().join(name);
    // NDJSON first: merge reads it.
    for (name, start) in [
        ("a.ndjson", "{\"type\":"),
        ("a.md", "# "),
        ("a.html", "<!DOCTYPE html>"),
        ("a.json", "{"),
        ("a.txt", "portmortem "),
    ] {
        let r = bin()
            .arg("batch")
            .arg("-o")
            .arg(out(name))
            .arg(&onset)
            .output()
            .unwrap();
        assert_eq!(r.status.code(), Some(1), "{name}");
        let text = std::fs::read_to_string(out(name)).unwrap();
        assert!(
            text.starts_with(start),
            "{name}: {}",
            &text[..80.min(text.len())]
        );
        let r = bin()
            .args(["merge", "-o"])
            .arg(out(&format!("m-{name}")))
            .arg(out("a.ndjson"))
            .output()
            .unwrap();
        assert_eq!(r.status.code(), Some(1), "merge {name}");
        let merged = std::fs::read_to_string(out(&format!("m-{name}"))).unwrap();
        assert!(merged.starts_with(start), "merge {name}");
    }
    let r = bin()
        .arg("batch")
        .arg("-o")
        .arg(out("a.csv"))
        .arg(&onset)
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(2));
    assert!(!out("a.csv").exists());
}
