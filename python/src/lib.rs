//! `portmortem._portmortem`: the library's documents for Python. Every
//! function returns what the command line writes (JSON or NDJSON text);
//! `portmortem/__init__.py` turns it into Python objects. The analysis
//! runs with the GIL released, so threads (or a Spark executor's tasks)
//! analyse captures in parallel.

use portmortem::analysis::{self, CaptureResult};
use portmortem::batch;
use portmortem::capture::input::{self, HashMode};
use portmortem::capture::{CaptureError, CaptureReader};
use portmortem::compare as cmp;
use portmortem::report::model::{self, BatchReport, BatchSummary, Header};
use portmortem::report::stream::{Shape, Streamed};
use pyo3::create_exception;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes};
use std::collections::BTreeMap;
use std::path::PathBuf;

create_exception!(
    _portmortem,
    PortmortemError,
    PyValueError,
    "A capture could not be read (the message names the file and the byte offset), or records could not be merged."
);

/// A capture given as a path or as its bytes (gzip, zstd, xz, bzip2 and
/// lz4 included, as on the command line).
enum Source {
    Path(PathBuf),
    Bytes(Vec<u8>),
}

impl Source {
    fn from_py(obj: &Bound<'_, PyAny>) -> PyResult<Self> {
        if obj.is_instance_of::<PyBytes>() || obj.is_instance_of::<PyByteArray>() {
            return Ok(Source::Bytes(obj.extract::<Vec<u8>>()?));
        }
        obj.extract::<PathBuf>()
            .map(Source::Path)
            .map_err(|_| PyTypeError::new_err("a capture is a path (str or os.PathLike) or bytes"))
    }

    fn name(&self) -> String {
        match self {
            Source::Path(p) => p.to_string_lossy().into_owned(),
            Source::Bytes(_) => "<bytes>".into(),
        }
    }

    fn open(self, hash: HashMode) -> Result<CaptureReader, CaptureError> {
        match self {
            Source::Path(p) => CaptureReader::open(&p, hash),
            Source::Bytes(b) => CaptureReader::from_reader(
                "<bytes>".into(),
                Box::new(std::io::Cursor::new(b)),
                hash,
            ),
        }
    }
}

/// The analysis options a Python caller may give (the command line's
/// names), and the report's record of those that differ from the default.
struct Opts {
    analysis: analysis::Options,
    changed: BTreeMap<&'static str, String>,
}

fn opts(
    ports: Option<Vec<u16>>,
    stall_secs: Option<f64>,
    show_passwords: bool,
    hash: bool,
) -> Opts {
    let mut o = analysis::Options::default();
    let mut changed = BTreeMap::new();
    if let Some(p) = ports {
        changed.insert(
            "port",
            p.iter().map(u16::to_string).collect::<Vec<_>>().join(","),
        );
        o.engine.ports = p;
    }
    if let Some(s) = stall_secs {
        changed.insert("stall_secs", s.to_string());
        o.rules.stall_secs = s;
    }
    if show_passwords {
        changed.insert("show_passwords", "true".into());
        o.show_passwords = true;
    }
    o.hash = if hash {
        HashMode::Concurrent
    } else {
        HashMode::Off
    };
    if !hash {
        changed.insert("hash", "off".into());
    }
    Opts {
        analysis: o,
        changed,
    }
}

fn error(e: impl std::fmt::Display) -> PyErr {
    PortmortemError::new_err(e.to_string())
}

fn json<T: serde::Serialize>(v: &T) -> PyResult<String> {
    serde_json::to_string(v).map_err(error)
}

/// One capture analysed and kept (sessions and findings), as `analyze`.
fn analyse(src: Source, o: &analysis::Options) -> Result<CaptureResult, CaptureError> {
    let reader = src.open(o.hash)?;
    Ok(analysis::analyze_reader(reader, o, &mut |_| {}))
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
    let src = Source::from_py(source)?;
    let o = opts(ports, stall_secs, show_passwords, hash);
    let r = py.detach(|| analyse(src, &o.analysis)).map_err(error)?;
    json(&model::analyze_report(std::slice::from_ref(&r), o.changed))
}

/// `analyze --format ndjson` of one capture: a line per session as it
/// ended, then the findings (with the capture's SHA-256), the capture
/// and the summary.
#[pyfunction]
#[pyo3(signature = (source, *, ports=None, stall_secs=None, show_passwords=false, hash=true))]
fn events(
    py: Python<'_>,
    source: &Bound<'_, PyAny>,
    ports: Option<Vec<u16>>,
    stall_secs: Option<f64>,
    show_passwords: bool,
    hash: bool,
) -> PyResult<String> {
    let src = Source::from_py(source)?;
    let name = src.name();
    let o = opts(ports, stall_secs, show_passwords, hash);
    let out = py.detach(|| -> Result<Vec<u8>, String> {
        let reader = src.open(o.analysis.hash).map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        let header = Header::new("analyze", o.changed.clone());
        let mut w = Streamed::begin(&mut out, Shape::Ndjson, &header).map_err(|e| e.to_string())?;
        let mut r =
            analysis::analyze_written(reader, &o.analysis, &mut |s, _| w.session(0, &name, s));
        r.findings.iter_mut().for_each(|f| f.capture = 0);
        let results = [r];
        let summary = model::summary(&results);
        w.finish(&results, &summary).map_err(|e| e.to_string())?;
        Ok(out)
    });
    String::from_utf8(out.map_err(error)?).map_err(error)
}

/// `compare --format json` of two captures (client side first when
/// `roles_given`, else worked out from the captures).
#[pyfunction]
#[pyo3(signature = (a, b, *, roles_given=false, ports=None, stall_secs=None, show_passwords=false, hash=true))]
#[allow(clippy::too_many_arguments)]
fn compare(
    py: Python<'_>,
    a: &Bound<'_, PyAny>,
    b: &Bound<'_, PyAny>,
    roles_given: bool,
    ports: Option<Vec<u16>>,
    stall_secs: Option<f64>,
    show_passwords: bool,
    hash: bool,
) -> PyResult<String> {
    let (sa, sb) = (Source::from_py(a)?, Source::from_py(b)?);
    let o = opts(ports, stall_secs, show_passwords, hash);
    let roles = if roles_given {
        cmp::Roles::Given
    } else {
        cmp::Roles::Infer
    };
    let done = py
        .detach(|| {
            let (ra, rb) = std::thread::scope(|scope| {
                let ha = scope.spawn(|| analyse(sa, &o.analysis));
                let rb = analyse(sb, &o.analysis);
                (ha.join(), rb)
            });
            let ra = ra.map_err(|_| "the reader thread failed".to_string())?;
            let (ra, rb) = (
                ra.map_err(|e| e.to_string())?,
                rb.map_err(|e| e.to_string())?,
            );
            Ok::<_, String>(cmp::compare_results(ra, rb, roles))
        })
        .map_err(error)?;
    json(&model::compare_report(&done, o.changed))
}

/// One line of `batch --format ndjson`: the record of one capture, with
/// `index` its position in the archive (what `merge` orders by). With
/// `explicit=False` (a file found in a directory, not named), content
/// that is not a capture is a `skipped` line, as `batch` counts it.
#[pyfunction]
#[pyo3(signature = (source, *, index=0, path=None, hash=true, explicit=true))]
fn batch_record(
    py: Python<'_>,
    source: &Bound<'_, PyAny>,
    index: usize,
    path: Option<String>,
    hash: bool,
    explicit: bool,
) -> PyResult<String> {
    let src = Source::from_py(source)?;
    let path = path.unwrap_or_else(|| src.name());
    let o = opts(None, None, false, hash);
    let mut a = o.analysis;
    if hash {
        // As batch does: each record hashes its own bytes as it reads.
        a.hash = HashMode::Inline;
    }
    let out = py.detach(|| {
        let failed = |path: String, msg: String| {
            batch::Output::Capture(Box::new(batch::record::CaptureLine {
                record: batch::record::CaptureRecord::failed(index, path, msg),
                findings: Vec::new(),
            }))
        };
        let opened = match src {
            Source::Path(p) => CaptureReader::open(&p, a.hash),
            Source::Bytes(b) => {
                match input::open_reader(path.clone(), Box::new(std::io::Cursor::new(b)), a.hash) {
                    Err(input::OpenError::NotACapture(_) | input::OpenError::Empty)
                        if !explicit =>
                    {
                        return batch::Output::Skipped(batch::summary::Skipped {
                            index,
                            path,
                            reason: batch::NOT_A_CAPTURE.into(),
                        });
                    }
                    Err(e) => return failed(path, e.to_string()),
                    Ok(o) => CaptureReader::from_opened(o),
                }
            }
        };
        match opened {
            Ok(reader) => batch::record(reader, index, path, &a, &mut |_| {}),
            Err(e) => failed(path, e.to_string()),
        }
    });
    json(&out)
}

/// `merge --format json` of `batch --format ndjson` lines (each a capture
/// or a skipped file, as `batch_record` gives them): the same document as
/// one `batch --format json` over the same files.
#[pyfunction]
fn merge(py: Python<'_>, lines: Vec<String>) -> PyResult<String> {
    let doc = py.detach(|| -> Result<String, String> {
        let mut outputs: Vec<batch::Output<serde_json::Value>> = Vec::new();
        // One source per record, each ending with the summary line merge
        // checks a complete output by.
        let sources: Vec<(String, Box<dyn std::io::BufRead>)> = lines
            .into_iter()
            .enumerate()
            .map(|(i, l)| {
                let (captures, skipped) = match serde_json::from_str::<serde_json::Value>(&l) {
                    Ok(v) if v["type"] == "skipped" => (0, 1),
                    _ => (1, 0),
                };
                let text = format!(
                    "{l}\n{{\"type\":\"summary\",\"captures\":{captures},\"skipped_files\":{skipped}}}\n"
                );
                let src: Box<dyn std::io::BufRead> = Box::new(std::io::Cursor::new(text.into_bytes()));
                (format!("record {i}"), src)
            })
            .collect();
        batch::merge(sources, &mut |o| outputs.push(o))?;
        let mut summary = batch::summary::Summary::default();
        let (mut captures, mut skipped) = (Vec::new(), Vec::new());
        for o in &outputs {
            match o {
                batch::Output::Capture(c) => {
                    summary.add(&c.record);
                    captures.push(&**c);
                }
                batch::Output::Skipped(s) => {
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
    doc.map_err(error)
}

#[pymodule]
fn _portmortem(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("PortmortemError", m.py().get_type::<PortmortemError>())?;
    m.add_function(wrap_pyfunction!(analyze, m)?)?;
    m.add_function(wrap_pyfunction!(events, m)?)?;
    m.add_function(wrap_pyfunction!(compare, m)?)?;
    m.add_function(wrap_pyfunction!(batch_record, m)?)?;
    m.add_function(wrap_pyfunction!(merge, m)?)?;
    Ok(())
}
