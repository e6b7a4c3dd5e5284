//! `portmortem._portmortem`: the library's documents for Python. Every
//! function returns what the command line writes (JSON or NDJSON text);
//! `portmortem/__init__.py` turns it into Python objects. The analysis
//! runs with the GIL released, so threads (or a Spark executor's tasks)
//! analyse captures in parallel.

use portmortem::analysis;
use portmortem::batch;
use portmortem::capture::input;
use portmortem::capture::{CaptureReader, Source};
use portmortem::command::{AnalyzePlan, BatchPlan, ComparePlan, Tunables};
use portmortem::compare::Roles;
use portmortem::header::Header;
use portmortem::report::model::{self, BatchReport, BatchSummary};
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
fn source(obj: &Bound<'_, PyAny>) -> PyResult<Source> {
    if obj.is_instance_of::<PyBytes>() || obj.is_instance_of::<PyByteArray>() {
        return Ok(Source::Bytes {
            name: "<bytes>".into(),
            bytes: obj.extract::<Vec<u8>>()?,
        });
    }
    obj.extract::<PathBuf>()
        .map(Source::Path)
        .map_err(|_| PyTypeError::new_err("a capture is a path (str or os.PathLike) or bytes"))
}

/// The options a Python caller may give, by the command line's names; the
/// command's plan is made from them by the library, as for the command
/// line.
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

fn error(e: impl std::fmt::Display) -> PyErr {
    PortmortemError::new_err(e.to_string())
}

fn json<T: serde::Serialize>(v: &T) -> PyResult<String> {
    serde_json::to_string(v).map_err(error)
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
    let src = self::source(source)?;
    let plan = AnalyzePlan::new(&tunables(ports, stall_secs, show_passwords, hash));
    let r = py.detach(|| plan.run(src)).map_err(error)?;
    json(&plan.report(std::slice::from_ref(&r)))
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
    let src = self::source(source)?;
    let name = src.name();
    let plan = AnalyzePlan::new(&tunables(ports, stall_secs, show_passwords, hash));
    let out = py.detach(|| -> Result<Vec<u8>, String> {
        let reader =
            CaptureReader::open_source(src, plan.options.hash).map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        let header = Header::new("analyze", plan.changed.clone());
        let mut w = Streamed::begin(&mut out, Shape::Ndjson, &header).map_err(|e| e.to_string())?;
        let mut r =
            analysis::analyze_written(reader, &plan.options, &mut |s, _| w.session(0, &name, s));
        r.place(0);
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
    let (sa, sb) = (source(a)?, source(b)?);
    let roles = if roles_given {
        Roles::Given
    } else {
        Roles::Infer
    };
    let t = tunables(ports, stall_secs, show_passwords, hash);
    let plan = ComparePlan::new(&t, roles, clock_offset).map_err(PyValueError::new_err)?;
    let done = py.detach(|| plan.run(sa, sb)).map_err(error)?;
    json(&plan.report(&done))
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
    let src = self::source(source)?;
    let path = path.unwrap_or_else(|| src.name());
    let plan = BatchPlan::new(&tunables(None, None, false, hash), Some(1));
    let a = plan.options.analysis;
    let out = py.detach(|| {
        let failed = |path: String, msg: String| {
            batch::Output::Capture(Box::new(batch::record::CaptureLine {
                record: batch::record::CaptureRecord::failed(index, path, msg),
                findings: Vec::new(),
            }))
        };
        let opened = match src {
            Source::Path(p) => CaptureReader::open(&p, a.hash),
            Source::Bytes { bytes, .. } => {
                match input::open_reader(
                    path.clone(),
                    Box::new(std::io::Cursor::new(bytes)),
                    a.hash,
                ) {
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
