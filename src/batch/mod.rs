//! Archives: many captures analysed in parallel, summed up, and searched
//! for what their failures have in common.
//!
//! Discovery gives every file an index in one sorted list; `--shard K/N`
//! keeps a stable part of it. Workers (a rayon pool of `jobs` threads)
//! take files biggest first, each analysing one capture at a time and
//! keeping only its [`record::CaptureRecord`] and findings, so memory is
//! one capture's live state per worker. Results reach the caller as they
//! finish; a broken file becomes an error record and the batch goes on.

pub mod counting;
pub mod discover;
pub mod entries;
pub mod features;
pub mod legs;
pub mod patterns;
pub mod record;
pub mod summary;
pub mod timeline;
pub mod words;

use crate::analysis::{self, analyze_streaming};
use crate::capture::CaptureReader;
use crate::capture::input::sniff_file;
use crate::rules::Finding;
use discover::{Entry, EntryKind, Shard};
use rayon::iter::{ParallelBridge, ParallelIterator};
use record::{Builder, CaptureLine, CaptureRecord};
use serde::{Deserialize, Serialize};
use summary::Skipped;

/// What a batch is told to do.
#[derive(Clone, Debug)]
pub struct Options {
    pub analysis: analysis::Options,
    /// Worker threads (at least 1).
    pub jobs: usize,
    /// How a capture holding both legs of a device is compared; None
    /// (`--one-view`) reads every capture as one.
    pub legs: Option<Legs>,
}

/// How a capture holding both legs of a device is compared, leg against
/// leg, as `analyze` compares it (the command decides it).
#[derive(Clone, Debug)]
pub struct Legs {
    pub settings: crate::compare::Settings,
    /// The options of each leg's view (two read at once per worker).
    pub analysis: analysis::Options,
}

/// One result, as a worker hands it over.
#[derive(Debug, Serialize, schemars::JsonSchema, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Output<F> {
    Capture(Box<CaptureLine<F>>),
    Skipped(Skipped),
}

impl<F> Output<F> {
    pub fn index(&self) -> usize {
        match self {
            Output::Capture(c) => c.record.index,
            Output::Skipped(s) => s.index,
        }
    }
}

/// The files a batch will read: everything found, cut to one shard.
pub fn plan(
    inputs: &[String],
    stdin_list: &mut dyn FnMut() -> Vec<String>,
    shard: Option<Shard>,
) -> Vec<Entry> {
    let mut entries = discover::discover(inputs, stdin_list);
    if let Some(s) = shard {
        entries.retain(|e| s.contains(&e.path));
    }
    entries
}

/// Analyses `entries` on `opts.jobs` threads. `bytes_read` is called from
/// the workers with the number of bytes just read (for a progress bar);
/// `out` receives every result on the calling thread, in the order they
/// finish.
pub fn run(
    entries: &[Entry],
    opts: &Options,
    bytes_read: &(dyn Fn(u64) + Sync),
    out: &mut dyn FnMut(Output<Finding>),
) -> Result<(), String> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.jobs.max(1))
        .build()
        .map_err(|e| format!("cannot start worker threads: {e}"))?;
    // Biggest first: the long files start early and the small ones fill
    // the gaps at the end (the classic longest-processing-time rule).
    let mut order: Vec<&Entry> = entries.iter().collect();
    order.sort_by(|a, b| b.size.cmp(&a.size).then(a.index.cmp(&b.index)));
    // Bounded, so finished results wait for the writer, not pile up.
    let (tx, rx) = std::sync::mpsc::sync_channel(opts.jobs.max(1) * 4);
    std::thread::scope(|scope| {
        scope.spawn(move || {
            pool.install(|| {
                order.into_iter().par_bridge().for_each_with(tx, |tx, e| {
                    // The receiver lives until every worker is done.
                    let _ = tx.send(process(e, opts, bytes_read));
                })
            })
        });
        for o in rx {
            out(o);
        }
    });
    Ok(())
}

/// Why a file found in a directory is skipped: its first bytes are no
/// capture's (plain or compressed).
pub const NOT_A_CAPTURE: &str = "not a capture (by its first bytes)";

/// One file from start to finish, as a `batch` worker takes it (the
/// Python package's `batch_record` and the Spark job's executors too).
pub fn process(e: &Entry, opts: &Options, bytes_read: &(dyn Fn(u64) + Sync)) -> Output<Finding> {
    let path = e.path.to_string_lossy().into_owned();
    let failed = |msg: String| {
        bytes_read(e.size);
        Output::Capture(Box::new(CaptureLine {
            record: CaptureRecord::failed(e.index, path.clone(), msg),
            findings: Vec::new(),
        }))
    };
    let skipped = |reason: String| {
        bytes_read(e.size);
        Output::Skipped(Skipped {
            index: e.index,
            path: path.clone(),
            reason,
        })
    };
    match &e.kind {
        EntryKind::Problem(msg) => return failed(msg.clone()),
        EntryKind::Duplicate(of) => {
            return skipped(format!("the same file as {}", of.to_string_lossy()));
        }
        EntryKind::Special(what) => {
            return skipped(format!("{what}, not a regular file (not opened)"));
        }
        EntryKind::File => {}
    }
    match sniff_file(&e.path) {
        Err(err) => return failed(format!("cannot read: {err}")),
        Ok(None) if e.explicit => {
            return failed(
                "not a pcap or pcapng file (nor a gzip, zstd, xz, bzip2 or lz4 of one)".into(),
            );
        }
        Ok(None) => return skipped(NOT_A_CAPTURE.into()),
        Ok(Some(_)) => {}
    }
    // A file holding a device's legs is counted as `analyze` reads it:
    // legs compared, or one view stitched from two one-way legs.
    let mut stitched = None;
    if let Some(l) = &opts.legs {
        let source = crate::capture::Source::Path(e.path.clone());
        match crate::compare::read_legs(&source, l.settings, &l.analysis) {
            crate::compare::Legs::Compared(pair, cmp) => {
                bytes_read(e.size);
                return legs::record(*cmp, &pair, e.index, path);
            }
            crate::compare::Legs::Stitched(o) => {
                // The stitching, with the whole capture's options (its
                // budget share, hashing), not one leg's.
                let mut a = opts.analysis.clone();
                a.engine.stitch = o.engine.stitch.clone();
                a.more = o.more.clone();
                stitched = Some(a);
            }
            crate::compare::Legs::Plain => {}
        }
    }
    let analysis = stitched.as_ref().unwrap_or(&opts.analysis);
    let reader = match CaptureReader::open(&e.path, opts.analysis.hash) {
        Ok(r) => r,
        Err(err) => return failed(err.to_string()),
    };
    let mut reported = 0u64;
    let out = record(reader, e.index, path, analysis, &mut |n| {
        bytes_read(n.saturating_sub(reported));
        reported = reported.max(n);
    });
    // After a read error the rest of the file counts as done.
    bytes_read(e.size.saturating_sub(reported));
    out
}

/// The record of one opened capture, as `batch` writes it (`index`: its
/// position in the archive; `path`: the name it goes by). `progress` is
/// told the raw bytes read so far, now and then.
pub fn record(
    reader: CaptureReader,
    index: usize,
    path: String,
    opts: &analysis::Options,
    progress: &mut dyn FnMut(u64),
) -> Output<Finding> {
    let mut builder = Builder::new(index, path);
    let totals = analyze_streaming(reader, opts, progress, &mut |s, f| builder.session(&s, f));
    Output::Capture(Box::new(builder.finish(totals)))
}

/// A line of `batch --format ndjson` as `merge` reads it: findings pass
/// through as JSON values; the summary line is checked, not trusted (the
/// summary is rebuilt from the capture lines).
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum ResultLine {
    Capture(Box<CaptureLine<serde_json::Value>>),
    Skipped(Skipped),
    Summary(SummaryCounts),
}

/// The parts of a summary line `merge` checks against the lines before it.
#[derive(Debug, Deserialize)]
struct SummaryCounts {
    captures: u64,
    skipped_files: u64,
}

/// `total` plus every unsigned integer in `v`; `None` past u64. Every
/// total `merge` computes is a sum of some of these numbers, so while this
/// sum fits, none of them can overflow.
fn add_counts(total: u64, v: &serde_json::Value) -> Option<u64> {
    use serde_json::Value;
    match v {
        Value::Number(n) => total.checked_add(n.as_u64().unwrap_or(0)),
        Value::Array(a) => a.iter().try_fold(total, add_counts),
        Value::Object(o) => o.values().try_fold(total, add_counts),
        _ => Some(total),
    }
}

/// Reads `batch --format ndjson` outputs and hands over their capture and
/// skipped lines. Fails on a line that is not one, on a file without its
/// final summary line (a batch that did not finish) or whose counts do not
/// match it, and on a file seen in two outputs (overlapping shards).
pub fn merge(
    sources: Vec<(String, Box<dyn std::io::BufRead>)>,
    out: &mut dyn FnMut(Output<serde_json::Value>),
) -> Result<(), String> {
    let mut seen: std::collections::HashMap<String, String> = Default::default();
    let mut counted = 0u64;
    for (name, reader) in sources {
        let (mut captures, mut skipped, mut summary) = (0u64, 0u64, None);
        for (i, line) in std::io::BufRead::lines(reader).enumerate() {
            let at = format!("{name}:{}", i + 1);
            let line = line.map_err(|e| format!("{at}: cannot read: {e}"))?;
            if line.trim().is_empty() {
                continue;
            }
            if summary.is_some() {
                return Err(format!("{at}: a line after the summary line"));
            }
            let value: serde_json::Value = serde_json::from_str(&line).map_err(|_| {
                format!(
                    "{at}: not JSON, so not a line of `batch --format ndjson` (a text or Markdown report?); merge reads what `portmortem batch -f ndjson -o FILE.ndjson` writes"
                )
            })?;
            // Counters are summed across lines: refuse input whose numbers
            // could make any total wrap, rather than report a wrong total.
            counted = add_counts(counted, &value).ok_or_else(|| {
                format!(
                    "{at}: counters too large to add up (over 2^64 in all): not a real batch output"
                )
            })?;
            let whole = value.get("summary").is_some() && value.get("type").is_none();
            let parsed: ResultLine = serde_json::from_value(value).map_err(|e| {
                if whole {
                    format!(
                        "{at}: a whole JSON document (`batch -f json`?), not a line of `batch --format ndjson`; merge reads what `portmortem batch -f ndjson -o FILE.ndjson` writes"
                    )
                } else {
                    format!("{at}: not a `batch --format ndjson` line: {e}")
                }
            })?;
            let o = match parsed {
                ResultLine::Summary(s) => {
                    summary = Some(s);
                    continue;
                }
                ResultLine::Capture(c) => {
                    captures += 1;
                    Output::Capture(c)
                }
                ResultLine::Skipped(s) => {
                    skipped += 1;
                    Output::Skipped(s)
                }
            };
            let path = match &o {
                Output::Capture(c) => c.record.path.clone(),
                Output::Skipped(s) => s.path.clone(),
            };
            if let Some(first) = seen.insert(path.clone(), at.clone()) {
                return Err(format!(
                    "{at}: {path} is also at {first} (do the outputs overlap?)"
                ));
            }
            out(o);
        }
        match summary {
            None => {
                return Err(format!(
                    "{name}: no summary line at the end (the batch that wrote it did not finish)"
                ));
            }
            Some(s) if s.captures != captures || s.skipped_files != skipped => {
                return Err(format!(
                    "{name}: the summary line counts {} captures and {} skipped files, \
                     the lines before it {captures} and {skipped}",
                    s.captures, s.skipped_files
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}
