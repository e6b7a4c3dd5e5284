//! What `watch` reads: a capture file or stream, a directory a ring
//! buffer writes, or (with the `live` feature) an interface. Each is read
//! in its own thread and handed over frame by frame.

use super::queue::{Msg, OwnedFrame};
use crate::capture::{CaptureReader, Frame};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// What `watch` reads.
pub enum Source {
    /// A capture file or stream (`-`); boxed, as the reader is large
    /// beside the other sources.
    Capture(Box<CaptureReader>),
    /// A directory a ring buffer writes (tcpdump `-G`/`-C`/`-W`, dumpcap
    /// `-b`): its captures in order, as one stream.
    Dir(std::path::PathBuf),
    /// An interface, through libpcap (`watch -i`).
    #[cfg(feature = "live")]
    Live(super::live::Live),
}

impl Source {
    pub(super) fn name(&self) -> String {
        match self {
            Source::Capture(r) => r.name().to_string(),
            Source::Dir(d) => d.to_string_lossy().into_owned(),
            #[cfg(feature = "live")]
            Source::Live(l) => l.name.clone(),
        }
    }

    /// Reads until the input ends or `stop` is set, sending every frame.
    pub(super) fn pump(self, tx: &mpsc::SyncSender<Msg>, stop: &AtomicBool) {
        match self {
            Source::Capture(mut reader) => {
                let res = reader.for_each(&mut |f: &Frame<'_>| {
                    let _ = tx.send(Msg::Frame(OwnedFrame::of(f)));
                });
                let _ = tx.send(Msg::End(res.err(), Some(Box::new(reader.info()))));
            }
            Source::Dir(d) => follow(&d, tx, stop),
            #[cfg(feature = "live")]
            Source::Live(l) => l.pump(tx, stop),
        }
    }
}

/// The captures in `dir`, oldest first (by modification time, then name:
/// tcpdump's `-C` numbering and `-G` timestamps both sort that way).
fn captures_in(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<(std::time::SystemTime, std::path::PathBuf)> = rd
        .filter_map(|e| {
            let e = e.ok()?;
            let m = e.metadata().ok()?;
            if !m.is_file() {
                return None;
            }
            Some((m.modified().ok()?, e.path()))
        })
        .collect();
    v.sort();
    v.into_iter().map(|(_, p)| p).collect()
}

/// Reads the files of `dir` in order as one stream. A file is read once a
/// newer one exists (the writer has moved on); the newest is left while it
/// may still grow. Frame numbers run on across files; session state
/// carries over, so a session spanning two files is one session.
fn follow(dir: &std::path::Path, tx: &mpsc::SyncSender<Msg>, stop: &AtomicBool) {
    use std::collections::BTreeSet;
    let mut done: BTreeSet<std::path::PathBuf> = BTreeSet::new();
    let mut seen: BTreeSet<std::path::PathBuf> = BTreeSet::new();
    let mut offset = 0u64;
    // Bounded memory over days: names older than this many are forgotten
    // (they sort before anything new anyway).
    const REMEMBER: usize = 100_000;
    while !stop.load(Ordering::Relaxed) {
        let files = captures_in(dir);
        let present: BTreeSet<&std::path::PathBuf> = files.iter().collect();
        for p in seen
            .iter()
            .filter(|p| !done.contains(*p) && !present.contains(p))
        {
            let _ = tx.send(Msg::FileMissed {
                path: p.to_string_lossy().into_owned(),
            });
        }
        seen.retain(|p| present.contains(p) || done.contains(p));
        let mut read_any = false;
        for (i, p) in files.iter().enumerate() {
            seen.insert(p.clone());
            if done.contains(p) || i + 1 == files.len() || stop.load(Ordering::Relaxed) {
                continue;
            }
            done.insert(p.clone());
            read_any = true;
            let path = p.to_string_lossy().into_owned();
            // Not a capture (a checksum file, a partial copy): skipped. A
            // file that cannot be read (or is gone) goes on to `open`,
            // which says so.
            if matches!(crate::capture::input::sniff_file(p), Ok(None)) {
                continue;
            }
            let mut reader = match CaptureReader::open(p, crate::capture::input::HashMode::Inline) {
                Ok(r) => r,
                Err(_) if !p.exists() => {
                    let _ = tx.send(Msg::FileMissed { path });
                    continue;
                }
                Err(e) => {
                    let _ = tx.send(Msg::FileDone {
                        path,
                        error: Some(e),
                        sha256: None,
                    });
                    continue;
                }
            };
            let _ = tx.send(Msg::FileOpened {
                path: path.clone(),
                first_frame: offset + 1,
            });
            let mut last = 0;
            let res = reader.for_each(&mut |f: &Frame<'_>| {
                let mut o = OwnedFrame::of(f);
                o.number += offset;
                last = f.number;
                let _ = tx.send(Msg::Frame(o));
            });
            offset += last;
            let _ = tx.send(Msg::FileDone {
                path,
                error: res.err(),
                sha256: reader.info().sha256,
            });
        }
        if done.len() > REMEMBER {
            let drop_n = done.len() - REMEMBER;
            let old: Vec<_> = done.iter().take(drop_n).cloned().collect();
            for p in old {
                done.remove(&p);
                seen.remove(&p);
            }
        }
        if !read_any {
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    let _ = tx.send(Msg::End(None, None));
}
