//! `batch` and `merge`: archives, with a progress bar on a terminal.

use super::{BatchArgs, BatchFormat, BatchReportArgs, MergeArgs};
use crate::batch::discover::EntryKind;
use crate::batch::record::CaptureLine;
use crate::batch::summary::{Skipped, Summary};
use crate::batch::{self, Output};
use crate::header::Header;
use crate::report;
use crate::report::model::{BatchReport, BatchSummary, SummaryLine};
use crate::report::output::{Destination, OutputError};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::io::{self, BufRead, IsTerminal, Write};

/// Writes results as they come and the summary at the end, in one format.
struct Collector<F> {
    format: BatchFormat,
    pretty: bool,
    look: super::Look,
    out: Destination,
    summary: Summary,
    /// Kept only for `--format json` (one document, ordered by index).
    captures: Vec<CaptureLine<F>>,
    skipped: Vec<Skipped>,
    /// Every capture's path and SHA-256, for the Markdown and HTML reports.
    inputs: Vec<report::batch::Input>,
    /// The first write error; later results are still counted.
    failed: Option<io::Error>,
}

impl<F: Serialize> Collector<F> {
    /// Opens the output, which may be none of `inputs`, for `format`
    /// (checked by the command before it started).
    fn new<'a>(
        args: &BatchReportArgs,
        format: BatchFormat,
        inputs: impl IntoIterator<Item = &'a std::path::Path>,
    ) -> Result<Self, OutputError> {
        Ok(Collector {
            format,
            pretty: args.pretty,
            look: args.look,
            out: Destination::create(args.output.as_deref(), inputs)?,
            summary: Summary::default(),
            captures: Vec::new(),
            skipped: Vec::new(),
            inputs: Vec::new(),
            failed: None,
        })
    }

    fn add(&mut self, o: Output<F>) {
        match &o {
            Output::Capture(c) => {
                self.summary.add(&c.record);
                if matches!(self.format, BatchFormat::Markdown | BatchFormat::Html) {
                    self.inputs.push(report::batch::Input {
                        index: c.record.index,
                        path: c.record.path.clone(),
                        sha256: c.record.sha256.clone(),
                    });
                }
            }
            Output::Skipped(_) => self.summary.add_skipped(),
        }
        match self.format {
            BatchFormat::Ndjson if self.failed.is_none() => {
                let r = serde_json::to_writer(&mut self.out, &o)
                    .map_err(io::Error::from)
                    .and_then(|_| self.out.write_all(b"\n"))
                    .and_then(|_| self.out.flush());
                self.failed = r.err();
            }
            BatchFormat::Json => match o {
                Output::Capture(c) => self.captures.push(*c),
                Output::Skipped(s) => self.skipped.push(s),
            },
            _ => {}
        }
    }

    /// Writes the summary (or the document) and returns the exit code.
    fn finish(mut self, command: &'static str, options: BTreeMap<&'static str, String>) -> i32 {
        self.summary.finish();
        self.inputs.sort_by_key(|i| i.index);
        let sum = BatchSummary::new(&self.summary);
        let code = sum.exit_code;
        let written = match (self.failed.take(), self.format) {
            (Some(e), _) => Err(e),
            (None, BatchFormat::Ndjson) => {
                serde_json::to_writer(&mut self.out, &SummaryLine::Summary { summary: sum })
                    .map_err(io::Error::from)
                    .and_then(|_| writeln!(self.out))
            }
            (None, BatchFormat::Json) => {
                let doc = BatchReport::new(
                    Header::new(command, options),
                    &self.captures,
                    &self.skipped,
                    sum,
                );
                crate::report::output::write_json(&mut self.out, &doc, self.pretty)
                    .and_then(|_| writeln!(self.out))
            }
            (None, BatchFormat::Text) => {
                let style = self.look.style(self.out.is_terminal(), false);
                report::batch::render(&Header::new(command, options), &sum, &style, &mut self.out)
            }
            (None, BatchFormat::Markdown) => report::markdown::render_batch(
                &Header::new(command, options),
                &sum,
                &self.inputs,
                &mut self.out,
            ),
            (None, BatchFormat::Html) => report::html::render_batch(
                &Header::new(command, options),
                &sum,
                &self.inputs,
                &mut self.out,
            ),
        };
        if super::delivered(written, self.out) {
            code
        } else {
            report::EXIT_USAGE
        }
    }
}

fn progress_bar(total: u64, files: usize, hidden: bool) -> ProgressBar {
    if hidden || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(st) = ProgressStyle::with_template(
        "{spinner} {prefix} [{bar:12}] {binary_bytes}/{binary_total_bytes} \
         {binary_bytes_per_sec} ETA {eta} {wide_msg}",
    ) {
        pb.set_style(st.progress_chars("=> "));
    }
    pb.set_prefix(format!("0/{files} files"));
    pb
}

pub(super) fn batch_cmd(a: BatchArgs) -> i32 {
    let mut plan = crate::command::BatchPlan::new(&a.analysis.tunables(), a.jobs);
    if a.one_view {
        plan = plan.one_view();
    }
    let opts = plan.options;
    let shard = match a.shard.map(|s| s.resolve(&|k| std::env::var(k).ok())) {
        None => None,
        Some(Ok(s)) => Some(s),
        Some(Err(e)) => {
            eprintln!("portmortem: {}", crate::escape::printable(&e));
            return report::EXIT_USAGE;
        }
    };
    // A path named on the command line that is not there is a mistake in
    // the call, not a capture that could not be read: refused, named.
    if let Some(missing) = a.inputs.iter().find(|i| {
        *i != "-"
            && !batch::discover::is_glob(i)
            && std::path::Path::new(i).symlink_metadata().is_err()
    }) {
        super::warn(format!("batch: {missing}: no such file or directory"));
        return report::EXIT_USAGE;
    }
    let entries = batch::plan(
        &a.inputs,
        &mut || io::stdin().lock().lines().map_while(Result::ok).collect(),
        shard,
    );
    let mut options = plan.changed;
    if let Some(s) = shard {
        options.insert("shard", s.to_string());
    }
    // Every file the batch reads is evidence, whether or not it turns out
    // to be a capture: an output onto one is refused first, whatever
    // else is wrong with the call.
    let read = entries.iter().map(|e| e.path.as_path());
    let format = match a.report.checked_format(read.clone()) {
        Ok(f) => f,
        Err(e) => {
            super::warn(e);
            return report::EXIT_USAGE;
        }
    };
    let mut col = match Collector::new(&a.report, format, read) {
        Ok(c) => c,
        Err(e) => {
            super::warn(format!("cannot write the report: {e}"));
            return report::EXIT_USAGE;
        }
    };
    let total: u64 = entries.iter().map(|e| e.size).sum();
    // A file reached twice is skipped at once: the bar counts files to read.
    let twice: HashSet<usize> = entries
        .iter()
        .filter(|e| matches!(e.kind, EntryKind::Duplicate(_)))
        .map(|e| e.index)
        .collect();
    let files = entries.len() - twice.len();
    let pb = progress_bar(total, files, a.no_progress);
    let (mut done, mut unreadable, mut findings) = (0u64, 0u64, 0u64);
    let res = batch::run(&entries, &opts, &|n| pb.inc(n), &mut |o| {
        if !twice.contains(&o.index()) {
            done += 1;
        }
        if let Output::Capture(c) = &o {
            let r = &c.record;
            findings += r.totals.findings_by_severity.values().sum::<u64>();
            if let Some(e) = &r.error {
                unreadable += 1;
                // Every message names its file.
                let e = if e.contains(r.path.as_str()) {
                    e.to_string()
                } else {
                    format!("{}: {e}", r.path)
                };
                pb.suspend(|| super::warn(e));
            }
        }
        pb.set_prefix(format!("{done}/{files} files"));
        pb.set_message(if unreadable > 0 {
            format!("{findings} findings, {unreadable} unreadable")
        } else {
            format!("{findings} findings")
        });
        col.add(o);
    });
    pb.finish_and_clear();
    if let Err(e) = res {
        super::warn(e);
        return report::EXIT_USAGE;
    }
    col.finish("batch", options)
}

pub(super) fn merge_cmd(a: MergeArgs) -> i32 {
    let read = a.results.iter().map(std::path::PathBuf::as_path);
    let format = match a.report.checked_format(read.clone()) {
        Ok(f) => f,
        Err(e) => {
            super::warn(e);
            return report::EXIT_USAGE;
        }
    };
    let mut sources: Vec<(String, Box<dyn BufRead>)> = Vec::new();
    for p in &a.results {
        let name = p.to_string_lossy().into_owned();
        if name == "-" {
            sources.push((name, Box::new(io::BufReader::new(io::stdin()))));
            continue;
        }
        match std::fs::File::open(p) {
            Ok(f) => sources.push((name, Box::new(io::BufReader::new(f)))),
            Err(e) => {
                super::warn(format!("{name}: cannot open: {e}"));
                return report::EXIT_USAGE;
            }
        }
    }
    let mut col = match Collector::new(&a.report, format, read) {
        Ok(c) => c,
        Err(e) => {
            super::warn(format!("cannot write the report: {e}"));
            return report::EXIT_USAGE;
        }
    };
    if let Err(e) = batch::merge(sources, &mut |o| col.add(o)) {
        super::warn(e);
        return report::EXIT_USAGE;
    }
    col.finish("merge", BTreeMap::new())
}
