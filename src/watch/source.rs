//! What `watch` reads: a capture file or stream, a directory a ring
//! buffer writes, or (with the `live` feature) an interface. Each is read
//! in its own thread and handed over frame by frame.

use super::queue::{Msg, Tx};
use crate::capture::{CaptureReader, Frame};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

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
    pub(super) fn pump(self, tx: &Tx, stop: &Arc<AtomicBool>) {
        match self {
            Source::Capture(mut reader) => {
                let res = reader.for_each(&mut |f: &Frame<'_>| {
                    let _ = tx.frame(f, f.number);
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

/// How often the newest file is looked at for more bytes.
const TAIL_POLL: Duration = Duration::from_millis(10);
/// How often the directory is listed, to see whether the writer moved on.
const DIR_POLL: Duration = Duration::from_millis(100);

/// A capture file the ring buffer's writer may still be writing. At its
/// end it waits for more, so a finding in the newest file is said as its
/// packets are written, not at the next rotation; it ends once the writer
/// has moved on (a newer file is in the directory) or `stop` is set, after
/// one last read for what was written just before. A record cut at the
/// end waits for its rest in the meantime.
struct Tail {
    file: std::fs::File,
    dir: std::path::PathBuf,
    me: std::path::PathBuf,
    stop: Arc<AtomicBool>,
    listed: Instant,
}

impl Tail {
    fn moved_on(&mut self) -> bool {
        if self.stop.load(Ordering::Relaxed) {
            return true;
        }
        if self.listed.elapsed() < DIR_POLL {
            return false;
        }
        self.listed = Instant::now();
        captures_in(&self.dir).last() != Some(&self.me)
    }
}

impl std::io::Read for Tail {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let n = self.file.read(buf)?;
            if n > 0 {
                return Ok(n);
            }
            if self.moved_on() {
                return self.file.read(buf);
            }
            std::thread::sleep(TAIL_POLL);
        }
    }
}

/// Reads the files of `dir` in order as one stream, the newest as it
/// grows (see [`Tail`]). Frame numbers run on across files; session state
/// carries over, so a session spanning two files is one session. When
/// `stop` is set, every file still unread is read to its current end
/// before the stream ends; a file that went away before it could be read
/// is said ([`Msg::FileMissed`]), never passed over in silence.
fn follow(dir: &std::path::Path, tx: &Tx, stop: &Arc<AtomicBool>) {
    use std::collections::BTreeSet;
    let mut done: BTreeSet<std::path::PathBuf> = BTreeSet::new();
    let mut seen: BTreeSet<std::path::PathBuf> = BTreeSet::new();
    let mut offset = 0u64;
    // Bounded memory over days: names older than this many are forgotten
    // (they sort before anything new anyway).
    const REMEMBER: usize = 100_000;
    loop {
        // Read after the flag: a file written before it was set is read.
        let stopping = stop.load(Ordering::Relaxed);
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
        for p in &files {
            seen.insert(p.clone());
            if done.contains(p) {
                continue;
            }
            done.insert(p.clone());
            read_any = true;
            read_file(p, dir, stop, tx, &mut offset);
        }
        if done.len() > REMEMBER {
            let drop_n = done.len() - REMEMBER;
            let old: Vec<_> = done.iter().take(drop_n).cloned().collect();
            for p in old {
                done.remove(&p);
                seen.remove(&p);
            }
        }
        if stopping {
            break;
        }
        if !read_any {
            std::thread::sleep(DIR_POLL);
        }
    }
    let _ = tx.send(Msg::End(None, None));
}

/// Reads one file of the directory (following it while it is the newest),
/// its frames numbered on from `offset`.
fn read_file(
    p: &std::path::Path,
    dir: &std::path::Path,
    stop: &Arc<AtomicBool>,
    tx: &Tx,
    offset: &mut u64,
) {
    use crate::capture::CaptureError;
    use crate::capture::input::{HashMode, OpenError, open_reader};
    let path = p.to_string_lossy().into_owned();
    // A file that could not be opened is closed at once, with why.
    let failed = |e: CaptureError| {
        let _ = tx.send(Msg::FileDone {
            path: path.clone(),
            error: Some(e),
            sha256: None,
        });
    };
    let file = match std::fs::File::open(p) {
        Ok(f) => f,
        Err(_) if !p.exists() => {
            let _ = tx.send(Msg::FileMissed { path });
            return;
        }
        Err(e) => return failed(CaptureError::open(&path, OpenError::Io(e))),
    };
    let tail = Tail {
        file,
        dir: dir.to_path_buf(),
        me: p.to_path_buf(),
        stop: stop.clone(),
        listed: Instant::now(),
    };
    let opened = match open_reader(path.clone(), Box::new(tail), HashMode::Inline) {
        // Not a capture (a checksum file, a partial copy), or left empty
        // when the writer moved on: not part of the stream.
        Err(OpenError::NotACapture(_) | OpenError::Empty) => return,
        Err(e) => return failed(CaptureError::open(&path, e)),
        Ok(o) => CaptureReader::from_opened(o),
    };
    let mut reader = match opened {
        Ok(r) => r,
        Err(e) => return failed(e),
    };
    let _ = tx.send(Msg::FileOpened {
        path: path.clone(),
        first_frame: *offset + 1,
    });
    let mut last = 0;
    let res = reader.for_each(&mut |f: &Frame<'_>| {
        last = f.number;
        let _ = tx.frame(f, f.number + *offset);
    });
    *offset += last;
    let _ = tx.send(Msg::FileDone {
        path,
        error: res.err(),
        sha256: reader.info().sha256,
    });
}
