//! `portmortem watch`: the pipeline as a stream of typed events, for a
//! capture that does not end (`tcpdump -U -w - | portmortem watch -`).
//!
//! The engine is the one `analyze` runs; what differs is when things are
//! said. A session's findings are written the moment the session ends —
//! closed, reset, or silent for `idle_timeout` (by the capture's clock,
//! and while no packets arrive, by the wall clock) — instead of once at
//! the end of a file, so a stall is reported while the capture goes on.
//! Sessions start and end as events too, and statistics come every
//! `stats_every`. Memory is the engine's (flows, budget) plus nothing per
//! ended session: `watch` keeps no session after its events are written.

use crate::analysis::Options;
use crate::capture::{CaptureError, CaptureInfo, CaptureReader, Frame};
use crate::engine::{Counters, Engine, SessionSink, SessionStart};
use crate::ftp::session::{EndReason, Session};
use crate::rules::{self, Finding, Severity};
use crate::timestamp::Timestamp;
use serde::Serialize;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// One thing `watch` has to say. Serialized with a `type` tag, one per
/// NDJSON line; every event has a timestamp (`ts`).
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Event<'a> {
    /// Reading began (of the input, or of one file of a directory).
    CaptureOpened {
        ts: Timestamp,
        path: &'a str,
        /// For a file of a followed directory: the stream frame number of
        /// its frame 1 (frame numbers run on across the files).
        #[serde(skip_serializing_if = "Option::is_none")]
        first_frame: Option<u64>,
    },
    /// A file of a followed directory was rotated away before it was read.
    CaptureMissed { ts: Timestamp, path: &'a str },
    /// The evidence of a failing session was written (or could not be).
    Evidence {
        ts: Timestamp,
        session: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        pcapng: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        markdown: Option<String>,
        packets: u64,
        /// Frames of the session that had already left the buffer.
        incomplete: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    SessionStarted {
        ts: Timestamp,
        session: String,
        client: SocketAddr,
        server: SocketAddr,
        frame: u64,
    },
    Finding {
        ts: Timestamp,
        client: SocketAddr,
        server: SocketAddr,
        #[serde(flatten)]
        finding: &'a Finding,
    },
    SessionEnded {
        ts: Timestamp,
        session: String,
        client: SocketAddr,
        server: SocketAddr,
        end_reason: EndReason,
        commands: usize,
        replies: usize,
        data_connections: usize,
        findings: usize,
    },
    /// Every `stats_every`, and at the end.
    Stats {
        ts: Timestamp,
        #[serde(flatten)]
        counters: &'a Counters,
        sessions_live: u64,
        findings: u64,
        /// Heap in use, where the binary measures it.
        #[serde(skip_serializing_if = "Option::is_none")]
        heap_bytes: Option<usize>,
        /// Live capture: what libpcap received and dropped.
        #[serde(skip_serializing_if = "Option::is_none")]
        capture_drops: Option<CaptureDrops>,
    },
    /// Reading stopped: end of input, a read error, or a signal.
    CaptureClosed {
        ts: Timestamp,
        path: &'a str,
        why: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        sha256: Option<&'a str>,
    },
}

/// Where events go. NDJSON and the terminal line writer write as they go;
/// a sink that needs the whole run (a document) would collect.
pub trait Sink {
    fn event(&mut self, e: &Event<'_>) -> io::Result<()>;
}

#[cfg(feature = "live")]
type CaptureDrops = live::Drops;
/// Without live capture there are no capture drops to report.
#[cfg(not(feature = "live"))]
type CaptureDrops = ();

/// One JSON object per line, flushed per event (a SIEM tails it).
pub struct NdjsonSink<W: Write>(pub W);

impl<W: Write> Sink for NdjsonSink<W> {
    fn event(&mut self, e: &Event<'_>) -> io::Result<()> {
        serde_json::to_writer(&mut self.0, e)?;
        self.0.write_all(b"\n")?;
        self.0.flush()
    }
}

/// One readable line per finding, session end and summary (a terminal).
pub struct TextSink<W: Write>(pub W);

impl<W: Write> Sink for TextSink<W> {
    fn event(&mut self, e: &Event<'_>) -> io::Result<()> {
        let line = match e {
            Event::CaptureOpened {
                path,
                first_frame: None,
                ..
            } => format!("watching {}", crate::bytes::printable(path)),
            Event::CaptureMissed { path, .. } => format!(
                "missed {}: rotated away before it was read",
                crate::bytes::printable(path)
            ),
            Event::Finding {
                ts,
                client,
                server,
                finding,
            } => format!(
                "{ts} {} {client} → {server} {} {}: {}",
                finding.session,
                finding.severity.name(),
                finding.rule,
                crate::bytes::printable(&finding.message)
            ),
            Event::SessionEnded {
                ts,
                session,
                end_reason,
                findings,
                ..
            } if *findings > 0 => format!(
                "{ts} {session} ended ({}), {findings} finding{}",
                serde_json::to_value(end_reason)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                if *findings == 1 { "" } else { "s" }
            ),
            Event::CaptureClosed { why, error, .. } => match error {
                Some(e) => format!("stopped: {why}: {}", crate::bytes::printable(e)),
                None => format!("stopped: {why}"),
            },
            Event::Stats {
                counters,
                sessions_live,
                findings,
                ..
            } => format!(
                "{} frames, {} sessions ({sessions_live} live), {findings} findings",
                counters.frames, counters.sessions
            ),
            _ => return Ok(()),
        };
        writeln!(self.0, "{line}")?;
        self.0.flush()
    }
}

/// How `watch` paces itself.
#[derive(Clone, Debug)]
pub struct WatchOptions {
    /// A session silent this long is ended (and its findings written).
    pub idle_timeout: Duration,
    /// Statistics this often (wall clock); None for only at the end.
    pub stats_every: Option<Duration>,
    /// Where to write the evidence of failing sessions, if anywhere.
    pub evidence: Option<EvidenceOptions>,
}

/// The flight recorder: the packets of every session with a warning or an
/// error, as pcapng with the findings as comments, and its Markdown report.
#[derive(Clone, Debug)]
pub struct EvidenceOptions {
    pub dir: std::path::PathBuf,
    /// Bytes of recent frames kept to cut evidence from.
    pub buffer_bytes: usize,
    /// Keyed address mapping (as `--anonymize-key`).
    pub anonymize_key: Option<Vec<u8>>,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            // vsftpd's idle_session_timeout: a server drops such a session.
            idle_timeout: Duration::from_secs(300),
            stats_every: Some(Duration::from_secs(60)),
            evidence: None,
        }
    }
}

/// What a run ended with.
pub struct Outcome {
    pub findings: u64,
    /// Files of a followed directory rotated away unread, or unreadable.
    pub files_missed: u64,
    pub files_failed: u64,
    pub errors: u64,
    /// Set when the input stopped with an error.
    pub error: Option<CaptureError>,
    /// Set when the sink could not be written (the run stopped there).
    pub write_error: Option<io::Error>,
}

/// A frame copied out of the reader, to cross to the engine's thread.
struct OwnedFrame {
    number: u64,
    ts: Timestamp,
    linktype: u32,
    data: Vec<u8>,
    orig_len: u32,
    interface: u32,
}

enum Msg {
    Frame(OwnedFrame),
    /// A file of a followed directory: reading begins; its frame 1 is
    /// stream frame `first_frame`.
    FileOpened {
        path: String,
        first_frame: u64,
    },
    /// A file of a followed directory was read (to its end or an error).
    FileDone {
        path: String,
        error: Option<CaptureError>,
        sha256: Option<String>,
    },
    /// A file listed earlier was gone (rotated away) before it was read.
    FileMissed {
        path: String,
    },
    /// The input ended; a file's info (its hash) when it was a file.
    End(Option<CaptureError>, Option<Box<CaptureInfo>>),
}

/// What `watch` reads.
pub enum Source {
    /// A capture file or stream (`-`).
    Capture(CaptureReader),
    /// A directory a ring buffer writes (tcpdump `-G`/`-C`/`-W`, dumpcap
    /// `-b`): its captures in order, as one stream.
    Dir(std::path::PathBuf),
    /// An interface, through libpcap (`watch -i`).
    #[cfg(feature = "live")]
    Live(live::Live),
}

impl Source {
    fn name(&self) -> String {
        match self {
            Source::Capture(r) => r.name().to_string(),
            Source::Dir(d) => d.to_string_lossy().into_owned(),
            #[cfg(feature = "live")]
            Source::Live(l) => l.name.clone(),
        }
    }

    /// Reads until the input ends or `stop` is set, sending every frame.
    fn pump(self, tx: &mpsc::SyncSender<Msg>, stop: &AtomicBool) {
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
            // Not a capture (a checksum file, a partial copy): skipped.
            if !matches!(crate::capture::input::sniff_file(p), Ok(Some(_))) {
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

impl OwnedFrame {
    fn of(f: &Frame<'_>) -> OwnedFrame {
        OwnedFrame {
            number: f.number,
            ts: f.ts,
            linktype: f.linktype,
            data: f.data.to_vec(),
            orig_len: f.orig_len,
            interface: f.interface,
        }
    }
}

/// Live capture through libpcap.
#[cfg(feature = "live")]
pub mod live {
    use super::{Msg, OwnedFrame};
    use crate::capture::{CaptureError, CaptureErrorKind};
    use crate::timestamp::Timestamp;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex, mpsc};

    /// libpcap's counters, as `pcap_stats` gives them.
    #[derive(Clone, Copy, Debug, Default, serde::Serialize)]
    pub struct Drops {
        pub received: u32,
        pub dropped_by_kernel: u32,
        pub dropped_by_interface: u32,
    }

    /// An open interface.
    pub struct Live {
        pub name: String,
        cap: pcap::Capture<pcap::Active>,
        /// Updated by the reading thread about once a second.
        pub drops: Arc<Mutex<Option<Drops>>>,
    }

    impl Live {
        /// Opens `iface` with a BPF `filter` (default: TCP only, so data
        /// connections are seen too). Says when the privilege is missing.
        pub fn open(iface: &str, filter: &str) -> Result<Live, String> {
            let cap = pcap::Capture::from_device(iface)
                .and_then(|c| c.snaplen(65535).immediate_mode(true).timeout(250).open())
                .map_err(|e| {
                    let s = e.to_string();
                    if s.contains("ermission") || s.contains("not permitted") {
                        format!(
                            "cannot capture on {iface}: {s} (live capture needs root or CAP_NET_RAW: sudo setcap cap_net_raw+ep $(command -v portmortem))"
                        )
                    } else {
                        format!("cannot capture on {iface}: {s}")
                    }
                })?;
            let mut cap = cap;
            cap.filter(filter, true)
                .map_err(|e| format!("bad filter `{filter}`: {e}"))?;
            Ok(Live {
                name: format!("interface {iface}"),
                cap,
                drops: Arc::new(Mutex::new(None)),
            })
        }

        pub(super) fn pump(mut self, tx: &mpsc::SyncSender<Msg>, stop: &AtomicBool) {
            let linktype = self.cap.get_datalink().0 as u32;
            let mut n = 0u64;
            let mut last_stats = std::time::Instant::now();
            let error = loop {
                if stop.load(Ordering::Relaxed) {
                    break None;
                }
                if last_stats.elapsed().as_secs() >= 1 {
                    last_stats = std::time::Instant::now();
                    if let Ok(st) = self.cap.stats() {
                        *self.drops.lock().unwrap_or_else(|e| e.into_inner()) = Some(Drops {
                            received: st.received,
                            dropped_by_kernel: st.dropped,
                            dropped_by_interface: st.if_dropped,
                        });
                    }
                }
                match self.cap.next_packet() {
                    Ok(p) => {
                        n += 1;
                        let h = p.header;
                        // time_t and suseconds_t are narrower on some targets.
                        #[allow(clippy::unnecessary_cast)]
                        let (secs, micros) = (h.ts.tv_sec as i64, h.ts.tv_usec as i64);
                        let frame = OwnedFrame {
                            number: n,
                            ts: Timestamp::from_parts(secs, micros.saturating_mul(1000)),
                            linktype,
                            data: p.data.to_vec(),
                            orig_len: h.len,
                            interface: 0,
                        };
                        if tx.send(Msg::Frame(frame)).is_err() {
                            break None;
                        }
                    }
                    Err(pcap::Error::TimeoutExpired) => {}
                    Err(e) => {
                        break Some(CaptureError {
                            path: self.name.clone(),
                            kind: CaptureErrorKind::Io(e.to_string()),
                            frames_read: n,
                            offset: 0,
                            compressed: false,
                        });
                    }
                }
            };
            let _ = tx.send(Msg::End(error, None));
        }
    }
}

/// The sessions the engine hands over, turned into events.
struct Emitter<'a> {
    opts: &'a Options,
    sink: &'a mut dyn Sink,
    /// Failing sessions whose evidence is written once the frame that
    /// ended them is in the buffer.
    pending: Vec<(Session, Vec<Finding>)>,
    recorder: bool,
    findings: u64,
    errors: u64,
    live: u64,
    failed: Option<io::Error>,
}

impl Emitter<'_> {
    fn emit(&mut self, e: &Event<'_>) {
        if self.failed.is_none()
            && let Err(err) = self.sink.event(e)
        {
            self.failed = Some(err);
        }
    }
}

impl SessionSink for Emitter<'_> {
    fn started(&mut self, s: &SessionStart) {
        self.live += 1;
        self.emit(&Event::SessionStarted {
            ts: s.ts,
            session: format!("s{}", s.id),
            client: s.client,
            server: s.server,
            frame: s.frame,
        });
    }

    fn session(&mut self, mut s: Session) {
        self.live = self.live.saturating_sub(1);
        if !self.opts.show_passwords {
            s.redact_passwords();
        }
        let findings = rules::run(&s, &self.opts.rules);
        for f in &findings {
            self.findings += 1;
            if f.severity == Severity::Error {
                self.errors += 1;
            }
            self.emit(&Event::Finding {
                ts: s.end,
                client: s.client,
                server: s.server,
                finding: f,
            });
        }
        let fails = findings.iter().any(|f| f.severity > Severity::Info);
        self.emit(&Event::SessionEnded {
            ts: s.end,
            session: s.name(),
            client: s.client,
            server: s.server,
            end_reason: s.end_reason,
            commands: s.commands.len(),
            replies: s.replies.len(),
            data_connections: s.data_conns.len(),
            findings: findings.len(),
        });
        if self.recorder && fails {
            self.pending.push((s, findings));
        }
    }
}

/// Recent frames with the `tcp.stream` the engine gave them, up to a
/// byte budget: what the evidence of a session is cut from.
struct Recorder {
    opts: EvidenceOptions,
    source: String,
    frames: std::collections::VecDeque<(OwnedFrame, Option<u32>)>,
    bytes: usize,
    /// Frames and record bytes (16-byte pcap record header each) of the
    /// whole stream so far, for the report's description of it.
    seen_frames: u64,
    seen_bytes: u64,
}

impl Recorder {
    fn push(&mut self, f: OwnedFrame, stream: Option<u32>) {
        self.seen_frames += 1;
        self.seen_bytes += f.data.len() as u64 + 16;
        self.bytes += f.data.len() + 64;
        self.frames.push_back((f, stream));
        while self.bytes > self.opts.buffer_bytes
            && let Some((old, _)) = self.frames.pop_front()
        {
            self.bytes -= old.data.len() + 64;
        }
    }

    /// Writes `s`'s pcapng and Markdown report; the event says where.
    fn write(&self, opts: &Options, s: Session, findings: Vec<Finding>) -> Event<'static> {
        // 2026-11-24T04-29-18.157015000Z-s1.pcapng: sorts by time, no
        // colon (Windows shares), the session last.
        let stamp = s.start.rfc3339().replace(':', "-");
        let file = |ext: &str| self.opts.dir.join(format!("{stamp}-{}.{ext}", s.name()));
        let incomplete = self
            .frames
            .front()
            .is_some_and(|(f, _)| f.number > s.first_frame);
        let sel = crate::extract::Selection {
            sessions: vec![s.name()],
            with_data: true,
            anonymize_key: self.opts.anonymize_key.clone(),
            show_passwords: opts.show_passwords,
        };
        let pcap_path = file("pcapng");
        let md_path = file("md");
        let refs: Vec<&Finding> = findings.iter().collect();
        let written = (|| -> Result<u64, String> {
            let mut out = crate::report::output::Destination::create(Some(&pcap_path), [])
                .map_err(|e| e.to_string())?;
            let mut frames = self.frames.iter().map(|(f, st)| (f.as_frame(), *st));
            let w =
                crate::extract::write_session(&s, &refs, &self.source, &mut frames, &sel, &mut out)
                    .map_err(|e| e.to_string())?;
            out.commit().map_err(|e| e.to_string())?;
            Ok(w.packets)
        })();
        let name = s.name();
        let md = (|| -> Result<(), String> {
            let result = crate::analysis::CaptureResult {
                info: crate::capture::CaptureInfo {
                    path: self.source.clone(),
                    sha256: None,
                    file_bytes: self.seen_bytes,
                    compression: None,
                    format: "stream followed by watch (bytes and frames up to this session's end)"
                        .into(),
                    link_types: Vec::new(),
                    sections: 0,
                    interfaces: 0,
                    frames: self.seen_frames,
                    first_ts: Some(s.start),
                    last_ts: Some(s.end),
                },
                counters: Counters::default(),
                error: None,
                sessions: vec![s],
                findings,
                sessions_not_kept: 0,
                findings_not_kept: 0,
            };
            let results = [result];
            let mut rep = crate::report::model::analyze_report(&results, Default::default());
            rep.header.command = "watch";
            let mut out = crate::report::output::Destination::create(Some(&md_path), [])
                .map_err(|e| e.to_string())?;
            crate::report::markdown::render(&rep, &mut out).map_err(|e| e.to_string())?;
            if incomplete {
                writeln!(
                    out,
                    "\nThe evidence capture lacks the session's first frames: they had left watch's buffer (--evidence-buffer-mb)."
                )
                .map_err(|e| e.to_string())?;
            }
            out.commit().map_err(|e| e.to_string())
        })();
        let error = match (&written, &md) {
            (Err(e), _) | (_, Err(e)) => Some(e.clone()),
            _ => None,
        };
        Event::Evidence {
            ts: wall_now(),
            session: name,
            pcapng: written
                .is_ok()
                .then(|| pcap_path.to_string_lossy().into_owned()),
            markdown: md.is_ok().then(|| md_path.to_string_lossy().into_owned()),
            packets: *written.as_ref().unwrap_or(&0),
            incomplete,
            error,
        }
    }
}

impl OwnedFrame {
    fn as_frame(&self) -> Frame<'_> {
        Frame {
            number: self.number,
            ts: self.ts,
            linktype: self.linktype,
            data: &self.data,
            orig_len: self.orig_len,
            interface: self.interface,
        }
    }
}

/// Writes the evidence of the sessions that ended failing.
fn flush_evidence(em: &mut Emitter<'_>, rec: Option<&Recorder>) {
    let Some(rec) = rec else { return };
    for (s, fs) in std::mem::take(&mut em.pending) {
        let e = rec.write(em.opts, s, fs);
        em.emit(&e);
    }
}

/// Frames queued between the reader and the engine.
const QUEUE: usize = 4096;
/// How often the engine looks at the clocks when no frame comes.
const TICK: Duration = Duration::from_millis(250);

/// Follows a capture stream until it ends or `stop` is set, writing events
/// to `sink`. The reader runs in its own thread, so a signal ends the run
/// even while the input is silent.
pub fn run(
    source: Source,
    opts: &Options,
    wopts: &WatchOptions,
    sink: &mut dyn Sink,
    stop: &Arc<AtomicBool>,
) -> Outcome {
    let path = source.name();
    #[cfg(feature = "live")]
    let drops = match &source {
        Source::Live(l) => Some(l.drops.clone()),
        _ => None,
    };
    let (tx, rx) = mpsc::sync_channel::<Msg>(QUEUE);
    let reader_stop = stop.clone();
    let handle = std::thread::spawn(move || source.pump(&tx, &reader_stop));
    let mut recorder = wopts.evidence.clone().map(|o| Recorder {
        opts: o,
        source: path.clone(),
        frames: std::collections::VecDeque::new(),
        bytes: 0,
        seen_frames: 0,
        seen_bytes: 0,
    });
    let mut em = Emitter {
        opts,
        sink,
        pending: Vec::new(),
        recorder: recorder.is_some(),
        findings: 0,
        errors: 0,
        live: 0,
        failed: None,
    };
    let drops_now = || -> Option<CaptureDrops> {
        #[cfg(feature = "live")]
        return drops
            .as_ref()
            .and_then(|d| *d.lock().unwrap_or_else(|e| e.into_inner()));
        #[cfg(not(feature = "live"))]
        None
    };
    let wall_start = Instant::now();
    em.emit(&Event::CaptureOpened {
        ts: wall_now(),
        path: &path,
        first_frame: None,
    });
    let mut engine = Engine::new(opts.engine.clone());
    let idle_ns = i64::try_from(wopts.idle_timeout.as_nanos()).unwrap_or(i64::MAX);
    // The capture's clock, and when (wall clock) it last moved.
    let mut clock: Option<(Timestamp, Instant)> = None;
    let mut last_expiry = Timestamp(i64::MIN);
    let mut next_stats = wopts.stats_every.map(|d| wall_start + d);
    let (mut why, mut error, mut info) = ("end of input", None, None);
    let mut finished = false;
    let (mut files_missed, mut files_failed) = (0u64, 0u64);
    loop {
        if stop.load(Ordering::Relaxed) {
            why = "interrupted";
            break;
        }
        if em.failed.is_some() {
            why = "the output could not be written";
            break;
        }
        match rx.recv_timeout(TICK) {
            Ok(Msg::Frame(f)) => {
                engine.frame(&f.as_frame(), &mut em);
                if clock.is_none_or(|(t, _)| f.ts > t) {
                    clock = Some((f.ts, Instant::now()));
                }
                if let Some(r) = recorder.as_mut() {
                    r.push(f, engine.last_stream());
                }
                flush_evidence(&mut em, recorder.as_ref());
            }
            Ok(Msg::End(e, i)) => {
                if e.is_some() {
                    why = "read error";
                }
                error = e;
                info = i;
                finished = true;
                break;
            }
            Ok(Msg::FileOpened { path, first_frame }) => em.emit(&Event::CaptureOpened {
                ts: wall_now(),
                path: &path,
                first_frame: Some(first_frame),
            }),
            Ok(Msg::FileDone {
                path,
                error,
                sha256,
            }) => {
                em.emit(&Event::CaptureClosed {
                    ts: wall_now(),
                    path: &path,
                    why: if error.is_some() {
                        "read error"
                    } else {
                        "end of file"
                    },
                    error: error.as_ref().map(|e| e.to_string()),
                    sha256: sha256.as_deref(),
                });
                files_failed += u64::from(error.is_some());
            }
            Ok(Msg::FileMissed { path }) => {
                files_missed += 1;
                em.emit(&Event::CaptureMissed {
                    ts: wall_now(),
                    path: &path,
                })
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        // Now by the capture's clock, advanced by the wall clock while no
        // packet comes (a live stream that went quiet).
        if let Some((t, at)) = clock {
            let now = t + i64::try_from(at.elapsed().as_nanos()).unwrap_or(i64::MAX);
            if now - last_expiry >= 1_000_000_000 {
                engine.expire_idle(now, idle_ns, &mut em);
                last_expiry = now;
                flush_evidence(&mut em, recorder.as_ref());
            }
        }
        if let Some(at) = next_stats
            && Instant::now() >= at
        {
            stats(&mut em, &engine.counters, drops_now());
            next_stats = wopts.stats_every.map(|d| at + d);
        }
    }
    let reason = if error.is_some() {
        EndReason::ReadError
    } else {
        EndReason::CaptureEnd
    };
    engine.finish(reason, &mut em);
    flush_evidence(&mut em, recorder.as_ref());
    stats(&mut em, &engine.counters, drops_now());
    let sha = info.as_ref().and_then(|i| i.sha256.clone());
    em.emit(&Event::CaptureClosed {
        ts: wall_now(),
        path: &path,
        why,
        error: error.as_ref().map(|e| e.to_string()),
        sha256: sha.as_deref(),
    });
    // A reader blocked on a silent input is left to the process's exit.
    if finished {
        let _ = handle.join();
    }
    Outcome {
        findings: em.findings,
        files_missed,
        files_failed,
        errors: em.errors,
        error,
        write_error: em.failed,
    }
}

fn stats(em: &mut Emitter<'_>, counters: &Counters, capture_drops: Option<CaptureDrops>) {
    let (findings, live) = (em.findings, em.live);
    em.emit(&Event::Stats {
        ts: wall_now(),
        counters,
        sessions_live: live,
        findings,
        heap_bytes: crate::mem::heap_in_use(),
        capture_drops,
    });
}

fn wall_now() -> Timestamp {
    Timestamp(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)),
    )
}
