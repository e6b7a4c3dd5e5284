//! `portmortem._portmortem`: the library's documents for Python. Every
//! function returns what the command line writes (JSON or NDJSON text);
//! `portmortem/__init__.py` turns it into Python objects. The analysis
//! runs with the GIL released, so threads (or a Spark executor's tasks)
//! analyse captures in parallel.
//!
//! A capture is a path, a bytes-like object or a binary file object;
//! buffers and file objects are read in chunks, as a file is, never copied
//! whole.

use portmortem::analysis;
use portmortem::batch::{self, Output, discover, record::CaptureLine, summary};
use portmortem::capture::{CaptureError, CaptureReader, Source, input};
use portmortem::command::{AnalyzePlan, BatchPlan, ComparePlan, Tunables, tables};
use portmortem::compare::Roles;
use portmortem::header::Header;
use portmortem::report::model::{self, BatchReport, BatchSummary, SummaryLine};
use portmortem::report::stream::{Shape, Streamed};
use portmortem::rules::Finding;
use pyo3::exceptions::{PyIsADirectoryError, PyOSError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};
use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

/// Bytes taken from a Python buffer or file object at a time.
const CHUNK: usize = 1 << 20;

/// The exception classes of `portmortem.errors` (an importable module, so
/// they pickle: multiprocessing, joblib, Dask and Spark re-raise them).
fn errors(py: Python<'_>, name: &str) -> PyResult<Py<PyAny>> {
    Ok(py.import("portmortem.errors")?.getattr(name)?.unbind())
}

/// `CaptureError(message, path, offset, frames_read)`.
fn capture_error(e: &CaptureError) -> PyErr {
    Python::attach(|py| {
        match errors(py, "CaptureError")
            .and_then(|c| c.call1(py, (e.to_string(), e.path.clone(), e.offset, e.frames_read)))
        {
            Ok(v) => PyErr::from_value(v.into_bound(py)),
            Err(e) => e,
        }
    })
}

/// `PortmortemError(message)`, or one of its subclasses.
fn error_of(class: &str, msg: impl std::fmt::Display) -> PyErr {
    let msg = msg.to_string();
    Python::attach(
        |py| match errors(py, class).and_then(|c| c.call1(py, (msg,))) {
            Ok(v) => PyErr::from_value(v.into_bound(py)),
            Err(e) => e,
        },
    )
}

fn json<T: serde::Serialize>(v: &T) -> PyResult<String> {
    serde_json::to_string(v).map_err(|e| error_of("PortmortemError", e))
}

/// Reads a Python buffer (bytes, bytearray, memoryview, mmap…) through
/// a memoryview of it, a chunk at a time, taking the GIL for each copy:
/// the buffer is held (a bytearray cannot be resized meanwhile) but never
/// copied whole.
struct BufferReader {
    view: Py<PyAny>,
    pos: usize,
    len: usize,
}

impl BufferReader {
    /// A memoryview of bytes over `obj`, if it has the buffer protocol.
    fn new(obj: &Bound<'_, PyAny>) -> Option<Self> {
        let view = obj
            .py()
            .import("builtins")
            .ok()?
            .getattr("memoryview")
            .ok()?;
        let mut view = view.call1((obj,)).ok()?;
        if view.getattr("format").ok()?.extract::<String>().ok()? != "B"
            || view.getattr("ndim").ok()?.extract::<usize>().ok()? != 1
        {
            view = view.call_method1("cast", ("B",)).ok()?;
        }
        let len = view.len().ok()?;
        Some(BufferReader {
            view: view.unbind(),
            pos: 0,
            len,
        })
    }
}

impl Read for BufferReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = (self.len - self.pos).min(out.len()).min(CHUNK);
        if n == 0 {
            return Ok(0);
        }
        Python::attach(|py| {
            let slice =
                pyo3::types::PySlice::new(py, self.pos as isize, (self.pos + n) as isize, 1);
            let chunk = self
                .view
                .bind(py)
                .get_item(slice)
                .and_then(|c| c.call_method0("tobytes"))
                .map_err(|e| io::Error::other(e.to_string()))?;
            let b = chunk
                .cast::<PyBytes>()
                .map_err(|_| io::Error::other("a buffer slice gave no bytes"))?
                .as_bytes();
            out[..b.len()].copy_from_slice(b);
            self.pos += b.len();
            Ok(b.len())
        })
    }
}

/// Reads a binary file object (`open(…, "rb")`, `io.BytesIO`, an fsspec
/// or pyarrow stream) through its `read`, a chunk at a time.
struct FileReader {
    file: Py<PyAny>,
}

impl Read for FileReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        Python::attach(|py| {
            let want = out.len().min(CHUNK);
            let got = self
                .file
                .call_method1(py, "read", (want,))
                .map_err(|e| io::Error::other(e.to_string()))?;
            let got = got.bind(py);
            let bytes = got.cast::<PyBytes>().map_err(|_| {
                io::Error::other(
                    "read() gave no bytes: open the file in binary mode (\"rb\")".to_string(),
                )
            })?;
            let b = bytes.as_bytes();
            if b.len() > want {
                return Err(io::Error::other("read(n) gave more than n bytes"));
            }
            out[..b.len()].copy_from_slice(b);
            Ok(b.len())
        })
    }
}

/// A reader the Python side can stop: an iterator dropped half-way ends
/// its analysis at the next read instead of reading to the end.
struct Stoppable {
    inner: Box<dyn Read + Send>,
    stop: Arc<AtomicBool>,
}

impl Read for Stoppable {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.stop.load(Ordering::Relaxed) {
            return Err(io::Error::other("stopped: the iterator was closed"));
        }
        self.inner.read(out)
    }
}

/// A capture given as a path, a bytes-like object or a binary file
/// object. `arg` names the argument in errors. A path that is not there
/// raises `FileNotFoundError` here, at the call.
fn source(arg: &str, obj: &Bound<'_, PyAny>) -> PyResult<Source> {
    if obj.is_instance_of::<PyString>() || obj.hasattr("__fspath__")? {
        let path: PathBuf = obj.extract()?;
        return match std::fs::metadata(&path) {
            Ok(m) if m.is_dir() => Err(PyIsADirectoryError::new_err((
                21,
                "a directory, not a capture (portmortem.batch reads directories)",
                path.to_string_lossy().into_owned(),
            ))),
            Ok(_) => Ok(Source::Path(path)),
            // OSError(errno, …) is FileNotFoundError, PermissionError… by
            // its errno, as open() raises them.
            Err(e) => Err(PyOSError::new_err((
                e.raw_os_error().unwrap_or(0),
                strerror(&e),
                path.to_string_lossy().into_owned(),
            ))),
        };
    }
    if let Some(r) = BufferReader::new(obj) {
        return Ok(Source::Reader {
            name: "<bytes>".into(),
            reader: Box::new(r),
        });
    }
    if obj.hasattr("read")? {
        let name = obj
            .getattr("name")
            .ok()
            .and_then(|n| n.extract::<String>().ok())
            .unwrap_or_else(|| "<stream>".into());
        return Ok(Source::Reader {
            name,
            reader: Box::new(FileReader {
                file: obj.clone().unbind(),
            }),
        });
    }
    Err(PyTypeError::new_err(format!(
        "{arg}: a capture is a path (str or os.PathLike), a bytes-like object or a binary \
         file object, not {}",
        obj.get_type().name()?
    )))
}

/// An I/O error's message without Rust's ` (os error N)`.
fn strerror(e: &io::Error) -> String {
    let s = e.to_string();
    match s.rfind(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// The options a Python caller may give, by the command line's names; the
/// command's plan is made from them by the library, as for the command
/// line. `portmortem/__init__.py` checks their values and names the
/// argument that is wrong.
fn tunables(
    ports: Option<Vec<u16>>,
    stall_secs: Option<f64>,
    show_passwords: bool,
    hash: bool,
) -> Tunables {
    let d = Tunables::default();
    Tunables {
        ports: ports.unwrap_or_default(),
        stall_secs: stall_secs.unwrap_or(d.stall_secs),
        show_passwords,
        hash,
        ..d
    }
}

/// `analyze --format json --pretty` of one capture, as compact JSON text.
#[pyfunction]
#[pyo3(signature = (source, *, ports=None, stall_secs=None, show_passwords=false, hash=true))]
fn analyze(
    py: Python<'_>,
    source: &Bound<'_, PyAny>,
    ports: Option<Vec<u16>>,
    stall_secs: Option<f64>,
    show_passwords: bool,
    hash: bool,
) -> PyResult<String> {
    let src = self::source("source", source)?;
    let mut plan = AnalyzePlan::new(&tunables(ports, stall_secs, show_passwords, hash));
    // A capture holding both legs of a device: its legs compared, as
    // the command line's analyze does; legs of one direction each read
    // as one stitched view.
    let (legs, src) = py.detach(|| (plan.legs(&src), src));
    if let Some((cplan, cmp)) = legs {
        return json(&cplan.report(&cmp));
    }
    let (_, src) = py.detach(|| (plan.stitch_legs(&src), src));
    let r = py.detach(|| plan.run(src)).map_err(|e| capture_error(&e))?;
    json(&plan.report(std::slice::from_ref(&r)))
}

/// Lines handed from a worker thread to a Python iterator as they are
/// written. Dropping the iterator stops the worker at its next read.
#[pyclass(module = "portmortem._portmortem")]
struct Lines {
    rx: Mutex<Receiver<Result<String, String>>>,
    stop: Arc<AtomicBool>,
    /// How many results the iterator will give before its last line
    /// (`batch_lines`: files found), where known.
    #[pyo3(get)]
    total: Option<usize>,
}

#[pymethods]
impl Lines {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<String>> {
        let got = py.detach(|| {
            let rx = self.rx.lock().unwrap_or_else(|e| e.into_inner());
            rx.recv()
        });
        match got {
            Ok(Ok(line)) => Ok(Some(line)),
            Ok(Err(e)) => Err(error_of("PortmortemError", e)),
            Err(_) => Ok(None),
        }
    }

    /// Stops the worker (also done when the iterator is dropped).
    fn close(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Drop for Lines {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// An `io::Write` that sends each complete line over a channel.
struct LineSender {
    tx: SyncSender<Result<String, String>>,
    pending: Vec<u8>,
}

impl Write for LineSender {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(b);
        while let Some(end) = self.pending.iter().position(|&c| c == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let text = String::from_utf8_lossy(&line[..end]).into_owned();
            self.tx
                .send(Ok(text))
                .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "iterator closed"))?;
        }
        Ok(b.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Lines in flight between a worker and its iterator.
const IN_FLIGHT: usize = 64;

/// `analyze --format ndjson` of one capture, as an iterator of lines: a
/// line per session as it ends, then the findings (with the capture's
/// SHA-256), the capture and the summary. The capture is opened here, so
/// a file that cannot be opened raises at the call.
#[pyfunction]
#[pyo3(signature = (source, *, ports=None, stall_secs=None, show_passwords=false, hash=true))]
fn events(
    py: Python<'_>,
    source: &Bound<'_, PyAny>,
    ports: Option<Vec<u16>>,
    stall_secs: Option<f64>,
    show_passwords: bool,
    hash: bool,
) -> PyResult<Lines> {
    let src = self::source("source", source)?;
    let name = src.name();
    let plan = AnalyzePlan::new(&tunables(ports, stall_secs, show_passwords, hash));
    let stop = Arc::new(AtomicBool::new(false));
    let inner: Box<dyn Read + Send> = match src {
        Source::Path(p) => Box::new(
            std::fs::File::open(&p)
                .map_err(|e| capture_error(&CaptureError::open(&name, e.into())))?,
        ),
        Source::Bytes { bytes, .. } => Box::new(io::Cursor::new(bytes)),
        Source::Reader { reader, .. } => reader,
    };
    let stoppable = Box::new(Stoppable {
        inner,
        stop: stop.clone(),
    });
    let reader = py
        .detach(|| CaptureReader::from_reader(name.clone(), stoppable, plan.options.hash))
        .map_err(|e| capture_error(&e))?;
    let (tx, rx) = sync_channel(IN_FLIGHT);
    std::thread::spawn(move || {
        let mut out = LineSender {
            tx: tx.clone(),
            pending: Vec::new(),
        };
        let header = Header::new("analyze", plan.changed.clone());
        let Ok(mut w) = Streamed::begin(&mut out, Shape::Ndjson, &header) else {
            return;
        };
        let mut r =
            analysis::analyze_written(reader, &plan.options, &mut |s, _| w.session(0, &name, s));
        r.place(0);
        let results = [r];
        let summary = model::summary(&results);
        if let Err(e) = w.finish(&results, &summary) {
            let _ = tx.send(Err(e.to_string()));
        }
    });
    Ok(Lines {
        rx: Mutex::new(rx),
        stop,
        total: None,
    })
}

/// `compare --format json` of two captures (client side first when
/// `roles_given`, else worked out from the captures).
#[pyfunction]
#[pyo3(signature = (a, b, *, roles_given=false, clock_offset=None, ports=None, stall_secs=None, show_passwords=false, hash=true))]
#[allow(clippy::too_many_arguments)]
fn compare(
    py: Python<'_>,
    a: &Bound<'_, PyAny>,
    b: &Bound<'_, PyAny>,
    roles_given: bool,
    clock_offset: Option<f64>,
    ports: Option<Vec<u16>>,
    stall_secs: Option<f64>,
    show_passwords: bool,
    hash: bool,
) -> PyResult<String> {
    let (sa, sb) = (source("a", a)?, source("b", b)?);
    let roles = if roles_given {
        Roles::Given
    } else {
        Roles::Infer
    };
    let t = tunables(ports, stall_secs, show_passwords, hash);
    let plan = ComparePlan::new(&t, roles, clock_offset)
        .map_err(|e| PyValueError::new_err(format!("clock_offset: {e}")))?;
    let done = py
        .detach(|| plan.run(sa, sb))
        .map_err(|e| capture_error(&e))?;
    json(&plan.report(&done))
}

/// One line of `batch --format ndjson`: the record of one capture, with
/// `index` its position in the archive (what `merge` orders by), as a
/// `batch` worker makes it. With `explicit=False` (a file found in a
/// directory, not named), content that is not a capture is a `skipped`
/// line, as `batch` counts it.
#[pyfunction]
#[pyo3(signature = (source, *, index=0, path=None, explicit=true, ports=None, stall_secs=None, hash=true))]
#[allow(clippy::too_many_arguments)]
fn batch_record(
    py: Python<'_>,
    source: &Bound<'_, PyAny>,
    index: usize,
    path: Option<String>,
    explicit: bool,
    ports: Option<Vec<u16>>,
    stall_secs: Option<f64>,
    hash: bool,
) -> PyResult<String> {
    let src = self::source("source", source)?;
    let name = path.unwrap_or_else(|| src.name());
    let plan = BatchPlan::new(&tunables(ports, stall_secs, false, hash), Some(1));
    let a = plan.options.analysis.clone();
    let out = py.detach(|| match src {
        // A file: exactly what a `batch` worker does with it.
        Source::Path(p) => {
            let e = discover::Entry {
                index,
                size: std::fs::metadata(&p).map_or(0, |m| m.len()),
                path: p,
                explicit,
                kind: discover::EntryKind::File,
            };
            let mut o = batch::process(&e, &plan.options, &|_| {});
            rename(&mut o, name);
            o
        }
        other => {
            let failed = |msg: String| {
                Output::Capture(Box::new(CaptureLine {
                    record: batch::record::CaptureRecord::failed(index, name.clone(), msg),
                    findings: Vec::new(),
                }))
            };
            let reader: Box<dyn Read + Send> = match other {
                Source::Bytes { bytes, .. } => Box::new(io::Cursor::new(bytes)),
                Source::Reader { reader, .. } => reader,
                Source::Path(_) => unreachable!("matched above"),
            };
            match input::open_reader(name.clone(), reader, a.hash) {
                Err(input::OpenError::NotACapture(_) | input::OpenError::Empty) if !explicit => {
                    Output::Skipped(summary::Skipped {
                        index,
                        path: name.clone(),
                        reason: batch::NOT_A_CAPTURE.into(),
                    })
                }
                Err(e) => failed(CaptureError::open(&name, e).to_string()),
                Ok(o) => match CaptureReader::from_opened(o) {
                    Ok(reader) => batch::record(reader, index, name.clone(), &a, &mut |_| {}),
                    Err(e) => failed(e.to_string()),
                },
            }
        }
    });
    json(&out)
}

/// A record keeps the name the caller gave (a Spark job's URI), not the
/// path it was read by.
fn rename(o: &mut Output<Finding>, name: String) {
    match o {
        Output::Capture(c) => c.record.path = name,
        Output::Skipped(s) => s.path = name,
    }
}

/// What `batch` would read under `paths`, as `batch` finds it (walked,
/// globbed, sorted, links followed, duplicates and special files named):
/// a JSON list of `{index, path, size, explicit, line}`, where `line` is
/// already the result (a `skipped` or failed line) of an entry that needs
/// no reading, and null for a file to read.
#[pyfunction]
fn batch_plan(py: Python<'_>, paths: Vec<String>) -> PyResult<String> {
    let entries = py.detach(|| batch::plan(&paths, &mut Vec::new, None));
    let plan = BatchPlan::new(&Tunables::default(), Some(1));
    let rows: Vec<serde_json::Value> = entries
        .iter()
        .map(|e| {
            let line = match e.kind {
                discover::EntryKind::File => None,
                _ => Some(batch::process(e, &plan.options, &|_| {})),
            };
            serde_json::json!({
                "index": e.index,
                "path": e.path.to_string_lossy(),
                "size": e.size,
                "explicit": e.explicit,
                "line": line.map(|l| serde_json::to_value(&l).unwrap_or_default()),
            })
        })
        .collect();
    json(&rows)
}

/// Runs `batch` over `paths` on a worker thread: the receiver gets every
/// result as it finishes (the GIL is not needed to wait for it).
fn spawn_batch(
    paths: Vec<String>,
    plan: BatchPlan,
    stop: Arc<AtomicBool>,
) -> (usize, Receiver<Output<Finding>>) {
    let entries = batch::plan(&paths, &mut Vec::new, None);
    let total = entries.len();
    let (tx, rx) = sync_channel(IN_FLIGHT);
    std::thread::spawn(move || {
        let _ = batch::run(&entries, &plan.options, &|_| {}, &mut |o| {
            if !stop.load(Ordering::Relaxed) {
                let _ = tx.send(o);
            }
        });
    });
    (total, rx)
}

/// `batch --format json` over files, directories and globs, with the
/// command line's rules for finding captures; `progress(done, total)` is
/// called (with the GIL) after each file.
#[pyfunction]
#[pyo3(signature = (paths, *, jobs=None, progress=None, ports=None, stall_secs=None, hash=true))]
fn batch_document(
    py: Python<'_>,
    paths: Vec<String>,
    jobs: Option<usize>,
    progress: Option<Py<PyAny>>,
    ports: Option<Vec<u16>>,
    stall_secs: Option<f64>,
    hash: bool,
) -> PyResult<String> {
    let plan = BatchPlan::new(&tunables(ports, stall_secs, false, hash), jobs);
    let changed = plan.changed.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let (total, rx) = py.detach(|| spawn_batch(paths, plan, stop.clone()));
    // Stops the workers' hand-over if this call ends early (an exception
    // from the progress callback, KeyboardInterrupt).
    struct Stop(Arc<AtomicBool>);
    impl Drop for Stop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    let _stop = Stop(stop);
    let mut sum = summary::Summary::default();
    let (mut captures, mut skipped) = (Vec::new(), Vec::new());
    let mut done = 0usize;
    let rx = Mutex::new(rx);
    while let Ok(o) = py.detach(|| rx.lock().unwrap_or_else(|e| e.into_inner()).recv()) {
        match o {
            Output::Capture(c) => {
                sum.add(&c.record);
                captures.push(*c);
            }
            Output::Skipped(s) => {
                sum.add_skipped();
                skipped.push(s);
            }
        }
        done += 1;
        if let Some(p) = &progress {
            p.call1(py, (done, total))?;
        }
        py.check_signals()?;
    }
    sum.finish();
    json(&BatchReport::new(
        Header::new("batch", changed),
        &captures,
        &skipped,
        BatchSummary::new(&sum),
    ))
}

/// `batch --format ndjson` over files, directories and globs, as an
/// iterator of lines: one per file as it finishes, then the summary.
#[pyfunction]
#[pyo3(signature = (paths, *, jobs=None, ports=None, stall_secs=None, hash=true))]
fn batch_lines(
    py: Python<'_>,
    paths: Vec<String>,
    jobs: Option<usize>,
    ports: Option<Vec<u16>>,
    stall_secs: Option<f64>,
    hash: bool,
) -> PyResult<Lines> {
    let plan = BatchPlan::new(&tunables(ports, stall_secs, false, hash), jobs);
    let stop = Arc::new(AtomicBool::new(false));
    let (total, rx) = py.detach(|| spawn_batch(paths, plan, stop.clone()));
    let (tx, lines) = sync_channel(IN_FLIGHT);
    std::thread::spawn(move || {
        let mut sum = summary::Summary::default();
        for o in rx {
            match &o {
                Output::Capture(c) => sum.add(&c.record),
                Output::Skipped(_) => sum.add_skipped(),
            }
            let line = serde_json::to_string(&o).map_err(|e| e.to_string());
            if tx.send(line).is_err() {
                return;
            }
        }
        sum.finish();
        let last = SummaryLine::Summary {
            summary: BatchSummary::new(&sum),
        };
        let _ = tx.send(serde_json::to_string(&last).map_err(|e| e.to_string()));
    });
    Ok(Lines {
        rx: Mutex::new(lines),
        stop,
        total: Some(total),
    })
}

/// The results of `batch --format ndjson` lines (capture and skipped
/// lines; summary lines are checked by count) for `merge`.
fn read_outputs(lines: Vec<String>) -> Result<Vec<Output<serde_json::Value>>, String> {
    let mut outputs = Vec::new();
    // One source per record, each ending with the summary line merge
    // checks a complete output by.
    let sources: Vec<(String, Box<dyn io::BufRead>)> = lines
        .into_iter()
        .enumerate()
        .filter(|(_, l)| !is_summary(l))
        .map(|(i, l)| {
            let (captures, skipped) = match serde_json::from_str::<serde_json::Value>(&l) {
                Ok(v) if v["type"] == "skipped" => (0, 1),
                _ => (1, 0),
            };
            let text = format!(
                "{l}\n{{\"type\":\"summary\",\"captures\":{captures},\"skipped_files\":{skipped}}}\n"
            );
            let src: Box<dyn io::BufRead> = Box::new(io::Cursor::new(text.into_bytes()));
            (format!("record {i}"), src)
        })
        .collect();
    batch::merge(sources, &mut |o| outputs.push(o))?;
    Ok(outputs)
}

fn is_summary(line: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(line).is_ok_and(|v| v["type"] == "summary")
}

/// `merge --format json` of `batch --format ndjson` lines (each a capture
/// or a skipped file, as `batch_record` gives them; summary lines are
/// left out): the same document as one `batch --format json` over the
/// same files.
#[pyfunction]
fn merge(py: Python<'_>, lines: Vec<String>) -> PyResult<String> {
    let doc = py.detach(|| -> Result<String, String> {
        let outputs = read_outputs(lines)?;
        let mut summary = summary::Summary::default();
        let (mut captures, mut skipped) = (Vec::new(), Vec::new());
        for o in &outputs {
            match o {
                Output::Capture(c) => {
                    summary.add(&c.record);
                    captures.push(&**c);
                }
                Output::Skipped(s) => {
                    summary.add_skipped();
                    skipped.push(s);
                }
            }
        }
        summary.finish();
        let doc = BatchReport::new(
            Header::new("merge", BTreeMap::new()),
            captures,
            skipped,
            BatchSummary::new(&summary),
        );
        serde_json::to_string(&doc).map_err(|e| e.to_string())
    });
    doc.map_err(|e| error_of("MergeError", e))
}

/// The partial summary of `batch --format ndjson` lines (capture and
/// skipped lines): sums, not records, to merge with others
/// ([`summary_merge`]) in any order and finish once
/// ([`summary_finish`]). The same file given twice is refused.
#[pyfunction]
fn summary_partial(py: Python<'_>, lines: Vec<String>) -> PyResult<String> {
    py.detach(|| -> Result<String, String> {
        let mut sum = summary::Summary::default();
        for o in read_outputs(lines)? {
            match o {
                Output::Capture(c) => sum.add(&c.record),
                Output::Skipped(_) => sum.add_skipped(),
            }
        }
        serde_json::to_string(&sum.partial()).map_err(|e| e.to_string())
    })
    .map_err(|e| error_of("MergeError", e))
}

fn partial_of(text: &str) -> Result<summary::Summary, String> {
    let p: summary::Partial = serde_json::from_str(text)
        .map_err(|e| format!("not a partial summary (portmortem.summary_partial): {e}"))?;
    let mut s = summary::Summary::default();
    s.merge(p);
    Ok(s)
}

/// Two partial summaries as one.
#[pyfunction]
fn summary_merge(py: Python<'_>, a: String, b: String) -> PyResult<String> {
    py.detach(|| -> Result<String, String> {
        let mut s = partial_of(&a)?;
        s.merge(
            serde_json::from_str(&b)
                .map_err(|e| format!("not a partial summary (portmortem.summary_partial): {e}"))?,
        );
        serde_json::to_string(&s.partial()).map_err(|e| e.to_string())
    })
    .map_err(|e| error_of("MergeError", e))
}

/// A partial summary finished: the last line of `batch --format ndjson`
/// (`{"type": "summary", …}`), with the patterns found and dated, and the
/// exit code `batch` would give.
#[pyfunction]
fn summary_finish(py: Python<'_>, partial: String) -> PyResult<String> {
    py.detach(|| -> Result<String, String> {
        let mut s = partial_of(&partial)?;
        s.finish();
        let line = SummaryLine::Summary {
            summary: BatchSummary::new(&s),
        };
        serde_json::to_string(&line).map_err(|e| e.to_string())
    })
    .map_err(|e| error_of("MergeError", e))
}

/// The tables' Arrow schemas (`portmortem.schema()`), generated from the
/// JSON Schema of the `analyze` document.
#[pyfunction]
fn tables_schema() -> PyResult<String> {
    tables::text().map_err(|e| error_of("PortmortemError", e))
}

#[pymodule]
fn _portmortem(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<Lines>()?;
    m.add_function(wrap_pyfunction!(analyze, m)?)?;
    m.add_function(wrap_pyfunction!(events, m)?)?;
    m.add_function(wrap_pyfunction!(compare, m)?)?;
    m.add_function(wrap_pyfunction!(batch_record, m)?)?;
    m.add_function(wrap_pyfunction!(batch_plan, m)?)?;
    m.add_function(wrap_pyfunction!(batch_document, m)?)?;
    m.add_function(wrap_pyfunction!(batch_lines, m)?)?;
    m.add_function(wrap_pyfunction!(merge, m)?)?;
    m.add_function(wrap_pyfunction!(summary_partial, m)?)?;
    m.add_function(wrap_pyfunction!(summary_merge, m)?)?;
    m.add_function(wrap_pyfunction!(summary_finish, m)?)?;
    m.add_function(wrap_pyfunction!(tables_schema, m)?)?;
    Ok(())
}
