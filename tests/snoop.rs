//! Sun snoop files as Wireshark writes them (`editcap -F snoop`, its
//! wiretap writer) read with the frames, times and lengths tshark reads:
//! whole, cut by a snaplen, and cut short in the middle of a record, where
//! the frames before the cut are kept and the error names the file and
//! the offset of the record it falls in. Skipped, with the reason printed,
//! where editcap or tshark is missing.

mod common;
use common::testdata;
use portmortem::capture::CaptureReader;
use std::path::Path;
use std::process::Command;

/// (number, time in ns, length on the wire, length captured) of a frame.
type Row = (u64, i64, u32, usize);

fn tshark_rows(path: &Path) -> Vec<Row> {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(path)
        .args([
            "-T",
            "fields",
            "-e",
            "frame.number",
            "-e",
            "frame.time_epoch",
        ])
        .args(["-e", "frame.len", "-e", "frame.cap_len"])
        .output()
        .expect("run tshark");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            let (s, frac) = c[1].split_once('.').unwrap();
            let ns = s.parse::<i64>().unwrap() * 1_000_000_000 + frac.parse::<i64>().unwrap();
            (
                c[0].parse().unwrap(),
                ns,
                c[2].parse().unwrap(),
                c[3].parse().unwrap(),
            )
        })
        .collect()
}

fn our_rows(path: &Path) -> (Vec<Row>, Option<portmortem::capture::CaptureError>, String) {
    let mut r = CaptureReader::open(path, Default::default()).unwrap();
    let mut rows = Vec::new();
    let res = r.for_each(&mut |f| rows.push((f.number, f.ts.0, f.orig_len, f.data.len())));
    (rows, res.err(), r.info().format)
}

fn have(tool: &str) -> bool {
    Command::new(tool).arg("-v").output().is_ok()
}

#[test]
fn wiresharks_own_snoop_files_read_as_tshark_reads_them() {
    if !have("editcap") || !have("tshark") {
        eprintln!("skipped: editcap and tshark are needed");
        return;
    }
    let dir = std::env::temp_dir().join(format!("pm-snoop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut read = 0;
    for (name, snaplen) in [
        ("lab-mangle-inetutils-client.pcap", None),
        ("lab-fw-mangle-span.pcap", None),
        ("lab-fw-alg-server.pcap", Some("60")),
    ] {
        let out = dir.join(format!("{name}.snoop"));
        let mut cmd = Command::new("editcap");
        cmd.args(["-F", "snoop"]);
        if let Some(s) = snaplen {
            cmd.args(["-s", s]);
        }
        assert!(
            cmd.arg(testdata(name))
                .arg(&out)
                .status()
                .unwrap()
                .success()
        );
        let want = tshark_rows(&out);
        assert!(want.len() > 20, "{name}: {} frames", want.len());
        let (ours, err, format) = our_rows(&out);
        assert_eq!(format, "snoop 2 (Ethernet)");
        assert!(err.is_none(), "{name}: {err:?}");
        assert_eq!(ours, want, "{name}");
        if snaplen.is_some() {
            assert!(ours.iter().any(|r| r.3 < r.2 as usize), "{name}: none cut");
        }
        // Cut in the middle of the last record: tshark shows the frames
        // before it, and so do we, with the error at that record.
        let bytes = std::fs::read(&out).unwrap();
        let last = want.last().unwrap();
        let cut = bytes.len() - last.3 / 2 - 2;
        let short = dir.join(format!("{name}.short.snoop"));
        std::fs::write(&short, &bytes[..cut]).unwrap();
        let want_short = tshark_rows(&short);
        assert_eq!(want_short.len(), want.len() - 1, "{name}");
        let (ours, err, _) = our_rows(&short);
        assert_eq!(ours, want_short, "{name}");
        let err = err.expect("a truncation error");
        assert_eq!(err.frames_read, want_short.len() as u64);
        // The last record starts where the whole file's last record does:
        // its header, its bytes padded to four.
        let last_record = bytes.len() - 24 - last.3.div_ceil(4) * 4;
        assert_eq!(err.offset, last_record as u64, "{name}");
        assert!(err.to_string().contains(short.to_str().unwrap()), "{err}");
        read += 1;
    }
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(read, 3);
}
