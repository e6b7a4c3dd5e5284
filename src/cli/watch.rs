//! `watch` on the command line.

use super::{Analysis, warn};
use crate::capture::CaptureReader;
use crate::report;
use crate::watch::{self, NdjsonSink, Sink, Source, TextSink, WatchOptions};
use clap::{Args, ValueEnum};
use std::io::IsTerminal;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[derive(Args)]
pub(super) struct WatchArgs {
    /// The capture stream: `-` (standard input, e.g. `tcpdump -U -w - |
    /// portmortem watch -`) or a file being written.
    #[arg(
        value_name = "CAPTURE",
        default_value = "-",
        conflicts_with_all = ["interface", "dir"]
    )]
    input: PathBuf,
    /// Follow a directory a ring buffer writes (tcpdump -G/-C/-W, dumpcap
    /// -b): its captures in order as one stream, the newest followed as it
    /// grows; at SIGINT/SIGTERM every file is read to its current end, and
    /// files rotated away unread are reported.
    #[arg(long, value_name = "DIR", conflicts_with = "interface")]
    dir: Option<PathBuf>,
    /// Capture live on this interface (libpcap; needs root or
    /// CAP_NET_RAW, and a build with `--features live`).
    #[arg(short, long, value_name = "IFACE")]
    interface: Option<String>,
    /// BPF filter for live capture.
    #[arg(
        long,
        value_name = "BPF",
        default_value = "tcp",
        requires = "interface"
    )]
    filter: String,
    /// Events as NDJSON or one readable line per finding [default: from
    /// the -o file's extension (.ndjson, .jsonl, .txt), else text on a
    /// terminal and NDJSON otherwise].
    #[arg(short, long, value_enum)]
    format: Option<WatchFormat>,
    /// Write events here instead of standard output (appended, as a log).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Seconds of silence after which a session is ended and its findings
    /// written (by the capture's clock; by the wall clock while no packet
    /// arrives). At least --stall-secs + 1, so a stall can be seen.
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    idle_timeout: u64,
    /// Seconds between statistics events (0: only at the end).
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    stats_every: u64,
    /// For every session with a warning or an error, write its packets
    /// (control and data connections, findings as comments, passwords
    /// masked) as pcapng and its Markdown report here.
    #[arg(long, value_name = "DIR")]
    evidence_dir: Option<PathBuf>,
    /// MiB of recent frames kept to cut the evidence from.
    #[arg(
        long,
        value_name = "MIB",
        default_value_t = 64,
        requires = "evidence_dir"
    )]
    evidence_buffer_mb: usize,
    /// Run this shell command for every warning or error finding, with
    /// the finding's event (one JSON line) on its standard input.
    #[arg(long, value_name = "CMD")]
    exec: Option<String>,
    /// Seconds an --exec command may run before it is killed.
    #[arg(long, value_name = "SECS", default_value_t = 30, requires = "exec")]
    exec_timeout: u64,
    /// Write only findings of this severity or higher (the counts, the
    /// hooks, the evidence and the exit code stay those of every finding).
    #[arg(
        long,
        value_enum,
        value_name = "SEVERITY",
        help_heading = "Trim the report"
    )]
    min_severity: Option<super::SeverityArg>,
    #[command(flatten)]
    analysis: Analysis,
}

/// The capture to follow: an interface (with `--features live`) or a
/// file/stream.
fn open_source(a: &WatchArgs, opts: &crate::analysis::Options) -> Result<Source, String> {
    if let Some(iface) = &a.interface {
        #[cfg(feature = "live")]
        return crate::watch::live::Live::open(iface, &a.filter).map(Source::Live);
        #[cfg(not(feature = "live"))]
        return Err(format!(
            "live capture on {iface} needs a build with `--features live` (libpcap); or pipe tcpdump: tcpdump -i {iface} -U -w - tcp | portmortem watch -"
        ));
    }
    if let Some(d) = &a.dir {
        if !d.is_dir() {
            return Err(format!("{} is not a directory", d.display()));
        }
        return Ok(Source::Dir(d.clone()));
    }
    CaptureReader::open(&a.input, opts.hash)
        .map(|r| Source::Capture(Box::new(r)))
        .map_err(|e| e.to_string())
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum WatchFormat {
    /// One JSON object per event (`portmortem schema watch`).
    Ndjson,
    /// One readable line per finding and per status change.
    Text,
}

impl WatchFormat {
    fn of(f: super::Format) -> Option<Self> {
        match f {
            super::Format::Ndjson => Some(WatchFormat::Ndjson),
            super::Format::Text => Some(WatchFormat::Text),
            _ => None,
        }
    }
}

pub(super) fn watch_cmd(a: WatchArgs) -> i32 {
    // The format the call names (-f, else -o's extension), checked before
    // anything is opened; without either it depends on where events go.
    let named = match (a.format, a.output.as_deref()) {
        (None, None) => None,
        (None, Some(o)) if o.extension().is_none() || o.as_os_str() == "-" => None,
        (flag, output) => match super::chosen(flag, output, WatchFormat::of, "ndjson or text") {
            Ok(f) => Some(f),
            Err(e) => {
                warn(e);
                return report::EXIT_USAGE;
            }
        },
    };
    let opts = crate::command::AnalyzePlan::new(&a.analysis.tunables()).options;
    let source = match open_source(&a, &opts) {
        Ok(s) => s,
        Err(e) => {
            warn(e);
            return report::EXIT_USAGE;
        }
    };
    // Events are a log: appended, and written as they come (a temporary
    // file renamed at the end would hide them until then).
    // SIGHUP (log rotation) reopens the events file.
    let hup = Arc::new(AtomicBool::new(false));
    let (out, tty): (Box<dyn std::io::Write>, bool) = match &a.output {
        Some(p) if p.as_os_str() != "-" => {
            if let Err(e) = crate::report::output::refuse_inputs(p, [a.input.as_path()]) {
                warn(format!("cannot write the events: {e}"));
                return report::EXIT_USAGE;
            }
            match LogFile::open(p.clone(), hup.clone()) {
                Ok(f) => (Box::new(f), false),
                Err(e) => {
                    warn(format!("cannot open {}: {e}", p.display()));
                    return report::EXIT_USAGE;
                }
            }
        }
        _ => {
            let tty = std::io::stdout().is_terminal();
            (Box::new(std::io::stdout()), tty)
        }
    };
    let format = named.unwrap_or(if tty {
        WatchFormat::Text
    } else {
        WatchFormat::Ndjson
    });
    let mut sink: Box<dyn Sink> = match format {
        WatchFormat::Ndjson => Box::new(NdjsonSink(out)),
        WatchFormat::Text => {
            let mut out = out;
            // A trimmed stream says so before anything else.
            if let Some(m) = a.min_severity
                && let Err(e) = writeln!(
                    out,
                    "only findings of severity {} or higher are shown (the counts are of all)",
                    m.severity().name()
                )
            {
                warn(format!("cannot write the events: {e}"));
                return report::EXIT_USAGE;
            }
            Box::new(TextSink(out))
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    // SIGINT and SIGTERM: end the sessions, write the summary, exit.
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register(sig, stop.clone());
    }
    let _ = signal_hook::flag::register(signal_hook::consts::SIGHUP, hup);
    let evidence = match &a.evidence_dir {
        None => None,
        Some(d) => {
            if !d.is_dir() {
                warn(format!("{} is not a directory", d.display()));
                return report::EXIT_USAGE;
            }
            Some(watch::EvidenceOptions {
                dir: d.clone(),
                buffer_bytes: a.evidence_buffer_mb.max(1) << 20,
                // The events' mapping, so the evidence's addresses match.
                anonymize_key: opts.engine.anonymize_key.clone(),
            })
        }
    };
    let wopts = WatchOptions {
        evidence,
        exec: a
            .exec
            .clone()
            .map(|c| (c, Duration::from_secs(a.exec_timeout.max(1)))),
        idle_timeout: Duration::from_secs(a.idle_timeout),
        stats_every: (a.stats_every > 0).then(|| Duration::from_secs(a.stats_every)),
        min_severity: a.min_severity.map(super::SeverityArg::severity),
    };
    let r = watch::run(source, &opts, &wopts, sink.as_mut(), &stop);
    if let Some(e) = &r.write_error
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        warn(format!("cannot write the events: {e}"));
        return report::EXIT_USAGE;
    }
    if let Some(e) = &r.error {
        warn(e);
        return report::EXIT_USAGE;
    }
    if r.files_missed + r.files_failed > 0 {
        warn(format!(
            "{} rotated away before {} read, {} unreadable",
            crate::batch::words::count(r.files_missed, "file", "files"),
            if r.files_missed == 1 {
                "it was"
            } else {
                "they were"
            },
            r.files_failed
        ));
        return report::EXIT_USAGE;
    }
    if r.errors > 0 {
        report::EXIT_FINDINGS
    } else {
        report::EXIT_OK
    }
}

/// The events file: appended to, and reopened at the same path after
/// SIGHUP, so logrotate can move it away (as syslog daemons do).
struct LogFile {
    path: PathBuf,
    file: std::fs::File,
    hup: Arc<AtomicBool>,
}

impl LogFile {
    fn open(path: PathBuf, hup: Arc<AtomicBool>) -> std::io::Result<LogFile> {
        let file = Self::append(&path)?;
        Ok(LogFile { path, file, hup })
    }

    fn append(path: &std::path::Path) -> std::io::Result<std::fs::File> {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
    }
}

impl Write for LogFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.hup.swap(false, Ordering::Relaxed) {
            self.file.flush()?;
            self.file = Self::append(&self.path)?;
        }
        self.file.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}
