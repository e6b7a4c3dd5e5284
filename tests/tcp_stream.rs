//! `tcp.stream` numbers as Wireshark gives them: every TCP frame of the
//! testdata captures against tshark's numbers (lab/tshark-streams.sh
//! wrote them), and every FTP line of the public corpus against the
//! tcp.stream column of the corpus's own tshark table.

mod common;
use common::*;
use portmortem::capture::CaptureReader;
use portmortem::decode::decode;
use portmortem::engine::streams::StreamIds;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// Our `tcp.stream` for every TCP frame of a capture.
fn our_streams(path: &Path) -> BTreeMap<u64, u32> {
    let mut ids = StreamIds::default();
    let mut out = BTreeMap::new();
    let Ok(mut r) = CaptureReader::open(path, Default::default()) else {
        return out;
    };
    let _ = r.for_each(&mut |f| {
        let missing = f.orig_len.saturating_sub(f.data.len() as u32);
        if let Ok(seg) = decode(f.linktype, f.data, missing)
            && let Some(id) = ids.id(&seg, f.number)
        {
            out.insert(f.number, id);
        }
    });
    out
}

/// (file → frame → tcp.stream) from a TSV with those columns.
fn table(path: &Path, file_col: &str) -> HashMap<String, BTreeMap<u64, u32>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let col = |name: &str| head.iter().position(|h| *h == name).unwrap();
    let (f, fr, st) = (col(file_col), col("frame"), col("tcp_stream"));
    let mut out: HashMap<String, BTreeMap<u64, u32>> = HashMap::new();
    for l in lines {
        let c: Vec<&str> = l.split('\t').collect();
        if let (Ok(frame), Ok(stream)) = (c[fr].parse(), c[st].parse()) {
            out.entry(c[f].to_string())
                .or_default()
                .insert(frame, stream);
        }
    }
    out
}

#[test]
fn every_tcp_frame_of_testdata_has_tsharks_stream_number() {
    let want = table(&testdata("tshark-tcp-streams.tsv"), "file");
    assert!(want.len() > 40);
    for (file, frames) in &want {
        let ours = our_streams(&testdata(file));
        for (frame, stream) in frames {
            assert_eq!(ours.get(frame), Some(stream), "{file} frame {frame}");
        }
        assert_eq!(ours.len(), frames.len(), "{file}: TCP frames");
    }
}

#[test]
fn ftp_lines_of_the_public_corpus_have_tsharks_stream_numbers() {
    if !have_public_corpus("ftp_lines_of_the_public_corpus_have_tsharks_stream_numbers") {
        return;
    }
    let want = table(&public_dir().join("tshark-ftp-lines.tsv"), "local_path");
    let mut checked = 0;
    for (file, frames) in &want {
        let ours = our_streams(&public_dir().join(file));
        for (frame, stream) in frames {
            assert_eq!(ours.get(frame), Some(stream), "{file} frame {frame}");
            checked += 1;
        }
    }
    assert!(checked > 5000, "{checked}");
}

#[test]
fn reports_carry_the_stream_of_sessions_and_data_connections() {
    let (_, doc) = analyze(&["lab-mangle-vsftpd-client.pcap"], &[]);
    let want = table(&testdata("tshark-tcp-streams.tsv"), "file");
    let frames = &want["lab-mangle-vsftpd-client.pcap"];
    let s = session(&doc, "s1");
    let first = s["first_frame"].as_u64().unwrap();
    assert_eq!(
        s["tcp_stream"].as_u64(),
        frames.get(&first).map(|&n| n as u64)
    );
    let dc = &s["data_connections"][0];
    let f = dc["first_frame"].as_u64().unwrap();
    assert_eq!(dc["tcp_stream"].as_u64(), frames.get(&f).map(|&n| n as u64));
    assert_ne!(s["tcp_stream"], dc["tcp_stream"]);
}
