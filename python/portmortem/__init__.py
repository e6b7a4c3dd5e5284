"""portmortem: proves where an FTP command or reply was damaged in transit.

The Rust library is the one implementation: every function here returns
the document the command line writes (``analyze --format json``,
``analyze --format ndjson``, ``compare --format json``, ``batch --format
json``/``ndjson``, ``merge --format json``) as Python objects, and
releases the GIL while it reads captures.

A capture is a path (``str`` or ``os.PathLike``), a bytes-like object
(``bytes``, ``bytearray``, ``memoryview``, ``mmap``) or a binary file
object (``open(p, "rb")``, ``io.BytesIO``, an fsspec or pyarrow stream);
buffers and file objects are read in chunks, never copied whole. pcap and
pcapng, plain or gzip, zstd, xz, bzip2 or lz4, found by content.

Errors (:mod:`portmortem.errors`, all picklable): a path that is not
there raises :class:`FileNotFoundError`; a capture that cannot be opened
raises :class:`CaptureError` (with ``path`` and ``offset``); a capture
that breaks part-way raises nothing, its document keeps what was read
before, with the error in ``captures[0]["error"]``, as on the command
line. A wrong argument raises :class:`TypeError` or :class:`ValueError`
naming it.

Tables (:func:`tables`, :func:`to_arrow`, :func:`to_pandas`,
:func:`write_parquet`): ``captures``, ``sessions``, ``lines``,
``data_setups``, ``data_connections`` and ``findings``, each with one
Arrow schema (:func:`schema`) generated from the JSON Schema of the
report, so every file has every column with the same type.
"""

import json
import math
import os
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Union

from . import _portmortem
from .errors import CaptureError, MergeError, PortmortemError

__version__: str = _portmortem.__version__

__all__ = [
    "__version__",
    "PortmortemError",
    "CaptureError",
    "MergeError",
    "analyze",
    "events",
    "compare",
    "batch",
    "batch_records",
    "batch_record",
    "merge",
    "partial_summary",
    "merge_partials",
    "finish_summary",
    "schema",
    "tables",
    "to_arrow",
    "to_pandas",
    "write_parquet",
]

Capture = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, Any]
Paths = Union[str, "os.PathLike[str]", Iterable[Union[str, "os.PathLike[str]"]]]


def _ports(ports: Optional[Sequence[int]]) -> Optional[List[int]]:
    if ports is None:
        return None
    if isinstance(ports, (int, str, bytes)):
        raise TypeError(f"ports: a list of TCP ports, not {type(ports).__name__}")
    out = []
    for p in ports:
        if isinstance(p, bool) or not isinstance(p, int) or not 1 <= p <= 65535:
            raise ValueError(f"ports: {p!r} is not a TCP port (1-65535)")
        out.append(p)
    return out


def _seconds(name: str, v: Optional[float], signed: bool = False) -> Optional[float]:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError(f"{name}: a number of seconds, not {type(v).__name__}")
    if not math.isfinite(v) or (v < 0 and not signed):
        raise ValueError(f"{name}: {v!r} is not a {'finite' if signed else 'non-negative'} number of seconds")
    return float(v)


def _jobs(jobs: Optional[int]) -> Optional[int]:
    if jobs is None:
        return None
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs: {jobs!r} is not a number of threads (1 or more)")
    return jobs


def _not_a_path_in_bytes(source: Any, e: CaptureError) -> None:
    """``analyze(b"/x.pcap")`` reads the bytes as a capture: say so where
    they name a file instead."""
    if isinstance(source, (bytes, bytearray)) and len(source) < 4096:
        try:
            named = os.path.exists(os.fsdecode(bytes(source)))
        except (ValueError, UnicodeDecodeError):
            named = False
        if named:
            raise TypeError(
                "source: bytes are read as a capture's content; to read the file they name, "
                "pass a str or os.PathLike (os.fsdecode(b))"
            ) from e


def analyze(
    source: Capture,
    *,
    ports: Optional[Sequence[int]] = None,
    stall_secs: Optional[float] = None,
    show_passwords: bool = False,
    hash: bool = True,
) -> Dict[str, Any]:
    """The ``analyze --format json`` document of one capture.

    ``ports``: control ports besides 21 (``--port``); ``stall_secs``:
    seconds of silence after a command that count as a stall (default
    20); ``show_passwords``: keep ``PASS`` arguments (redacted by
    default); ``hash``: the SHA-256 of the bytes read (default True).
    """
    try:
        text = _portmortem.analyze(
            source, ports=_ports(ports), stall_secs=_seconds("stall_secs", stall_secs),
            show_passwords=bool(show_passwords), hash=bool(hash),
        )
    except CaptureError as e:
        _not_a_path_in_bytes(source, e)
        raise
    return json.loads(text)


def events(
    source: Capture,
    *,
    ports: Optional[Sequence[int]] = None,
    stall_secs: Optional[float] = None,
    show_passwords: bool = False,
    hash: bool = True,
) -> Iterator[Dict[str, Any]]:
    """The lines of ``analyze --format ndjson``, each as soon as it is
    written: a ``session`` as each ends (while the capture is still being
    read), then the ``finding`` lines (each with ``capture_sha256``), the
    ``capture`` and the ``summary``. The capture is opened at the call (a
    missing file raises here, not at the first ``next``); closing the
    iterator early stops the reading. Options as :func:`analyze`."""
    lines = _portmortem.events(
        source, ports=_ports(ports), stall_secs=_seconds("stall_secs", stall_secs),
        show_passwords=bool(show_passwords), hash=bool(hash),
    )
    return (json.loads(line) for line in lines)


def compare(
    a: Capture,
    b: Capture,
    *,
    roles_given: bool = False,
    clock_offset: Optional[float] = None,
    ports: Optional[Sequence[int]] = None,
    stall_secs: Optional[float] = None,
    show_passwords: bool = False,
    hash: bool = True,
) -> Dict[str, Any]:
    """The ``compare --format json`` document of two captures of the same
    traffic on both sides of a device. ``roles_given=True``: ``a`` is the
    client side; otherwise the sides are worked out. ``clock_offset``:
    ``b``'s clock minus ``a``'s in seconds, where it is known
    (``--clock-offset``). Other options as :func:`analyze`."""
    return json.loads(
        _portmortem.compare(
            a, b, roles_given=bool(roles_given),
            clock_offset=_seconds("clock_offset", clock_offset, signed=True),
            ports=_ports(ports), stall_secs=_seconds("stall_secs", stall_secs),
            show_passwords=bool(show_passwords), hash=bool(hash),
        )
    )


def _path_list(paths: Paths, name: str = "paths") -> List[str]:
    if isinstance(paths, (str, os.PathLike)):
        return [os.fspath(paths)]
    if isinstance(paths, (bytes, bytearray)):
        raise TypeError(f"{name}: paths are str or os.PathLike, not bytes")
    try:
        return [os.fspath(p) for p in paths]
    except TypeError as e:
        raise TypeError(f"{name}: a path or an iterable of paths ({e})") from None


def _missing(paths: List[str]) -> None:
    """A path named that is not there is a mistake in the call (as on the
    command line): raised, named. Globs are expanded by the library."""
    for p in paths:
        if not any(c in p for c in "*?[") and not os.path.lexists(p):
            raise FileNotFoundError(2, "No such file or directory", p)


def batch(
    paths: Paths,
    *,
    jobs: Optional[int] = None,
    progress: Union[bool, Callable[[int, int], Any], None] = None,
    ports: Optional[Sequence[int]] = None,
    stall_secs: Optional[float] = None,
    hash: bool = True,
) -> Dict[str, Any]:
    """The ``batch --format json`` document of every capture under
    ``paths`` (files, directories walked recursively, quoted globs), found
    by the command line's rules: files that are no capture are listed as
    skipped, FIFOs and devices are never opened, the same file twice is
    read once; every file has an index in one list sorted by path.

    ``jobs``: worker threads (default: every core). ``progress``: a
    callable ``progress(done, total)`` called after each file, or True
    for a line on standard error. Other options as :func:`analyze`. For
    the records one at a time as they finish, see :func:`batch_records`.
    """
    names = _path_list(paths)
    _missing(names)
    report = progress
    if progress is True:
        import sys

        def report(done: int, total: int) -> None:
            sys.stderr.write(f"\rportmortem: {done}/{total} files")
            if done == total:
                sys.stderr.write("\n")
    elif progress is not None and progress is not False and not callable(progress):
        raise TypeError("progress: a callable progress(done, total), True or None")
    return json.loads(
        _portmortem.batch_document(
            names, jobs=_jobs(jobs), progress=report or None, ports=_ports(ports),
            stall_secs=_seconds("stall_secs", stall_secs), hash=bool(hash),
        )
    )


def batch_records(
    paths: Paths,
    *,
    jobs: Optional[int] = None,
    ports: Optional[Sequence[int]] = None,
    stall_secs: Optional[float] = None,
    hash: bool = True,
) -> Iterator[Dict[str, Any]]:
    """The lines of ``batch --format ndjson``, each as its file finishes
    (in the order they finish): a ``capture`` or ``skipped`` record per
    file, then the ``summary``. Options as :func:`batch`."""
    names = _path_list(paths)
    _missing(names)
    lines = _portmortem.batch_lines(
        names, jobs=_jobs(jobs), ports=_ports(ports),
        stall_secs=_seconds("stall_secs", stall_secs), hash=bool(hash),
    )
    return (json.loads(line) for line in lines)


def batch_record(
    source: Capture,
    *,
    index: int = 0,
    path: Optional[str] = None,
    explicit: bool = True,
    ports: Optional[Sequence[int]] = None,
    stall_secs: Optional[float] = None,
    hash: bool = True,
) -> Dict[str, Any]:
    """One line of ``batch --format ndjson``: the record of one capture
    (counts, hosts, data setups, findings), made as a ``batch`` worker
    makes it. ``index`` is its position in the archive (records are
    merged in that order); ``path`` the name it goes by (default: the
    path given, the file object's ``name``, or ``<bytes>``).
    ``explicit=False`` (a file found in a directory rather than named):
    content that is no capture gives a ``skipped`` line, as ``batch``
    counts such files. Other options as :func:`analyze`."""
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise ValueError(f"index: {index!r} is not a position (0 or more)")
    if path is not None and not isinstance(path, str):
        raise TypeError(f"path: a str, not {type(path).__name__}")
    return json.loads(
        _portmortem.batch_record(
            source, index=index, path=path, explicit=bool(explicit), ports=_ports(ports),
            stall_secs=_seconds("stall_secs", stall_secs), hash=bool(hash),
        )
    )


def _lines(records: Iterable[Union[Dict[str, Any], str]]) -> List[str]:
    return [r if isinstance(r, str) else json.dumps(r) for r in records]


def merge(records: Iterable[Union[Dict[str, Any], str]]) -> Dict[str, Any]:
    """``merge --format json`` of records (from :func:`batch_record` or
    :func:`batch_records`, as dicts or NDJSON lines; summary lines are
    left out): the same summary and cross-capture patterns as one
    ``batch`` over the same captures. The same file twice raises
    :class:`MergeError`."""
    return json.loads(_portmortem.merge(_lines(records)))


def partial_summary(records: Iterable[Union[Dict[str, Any], str]]) -> str:
    """The summary of some records as a partial state (JSON text): sums,
    courses and the few paths they name, never the records, so partial
    summaries of an archive's parts merge (:func:`merge_partials`, in any
    order: a Spark ``treeReduce``) into exactly what one ``batch`` over
    all of it sums up, in the memory of one summary."""
    return _portmortem.summary_partial(_lines(records))


def merge_partials(a: str, b: str) -> str:
    """Two partial summaries (:func:`partial_summary`) as one."""
    return _portmortem.summary_merge(a, b)


def finish_summary(partial: str) -> Dict[str, Any]:
    """A partial summary finished: the last line of ``batch --format
    ndjson`` (``{"type": "summary", …}``), with the patterns found and
    dated and the ``exit_code`` ``batch`` would give."""
    return json.loads(_portmortem.summary_finish(partial))


# ---------------------------------------------------------------- tables

_TABLES: Optional[List[Dict[str, Any]]] = None


def _declared() -> List[Dict[str, Any]]:
    global _TABLES
    if _TABLES is None:
        _TABLES = json.loads(_portmortem.tables_schema())
    return _TABLES


def _arrow_type(t: Any, staging: bool = False):
    """The pyarrow type of a declared type; ``staging``: timestamps as
    text (the document's RFC 3339), cast once the table is built."""
    import pyarrow as pa

    if isinstance(t, str):
        return {
            "int64": pa.int64(),
            "uint64": pa.uint64(),
            "float64": pa.float64(),
            "bool": pa.bool_(),
            "string": pa.string(),
            "timestamp_ns_utc": pa.string() if staging else pa.timestamp("ns", tz="UTC"),
        }[t]
    (kind, inner), = t.items()
    if kind == "list":
        return pa.list_(_arrow_field(inner, staging))
    if kind == "struct":
        return pa.struct([_arrow_field(f, staging) for f in inner])
    if kind == "map":
        return pa.map_(pa.string(), _arrow_field(inner, staging))
    raise PortmortemError(f"unknown declared type {kind!r}")


def _arrow_field(f: Dict[str, Any], staging: bool = False):
    import pyarrow as pa

    meta = {"description": f["description"]} if f.get("description") and not staging else None
    return pa.field(f["name"], _arrow_type(f["type"], staging), nullable=f["nullable"], metadata=meta)


def schema(table: Optional[str] = None):
    """The Arrow schema of one table (``captures``, ``sessions``,
    ``lines``, ``data_setups``, ``data_connections``, ``findings``), or a
    dict of all six (needs ``pyarrow``). Every file :func:`write_parquet`
    writes has exactly these columns and types; each field's
    ``description`` is in its metadata."""
    import pyarrow as pa

    out = {t["name"]: pa.schema([_arrow_field(f) for f in t["fields"]]) for t in _declared()}
    if table is None:
        return out
    if table not in out:
        raise ValueError(f"table: {table!r} is none of {', '.join(out)}")
    return out[table]


def _unknown(value: Any, t: Any, at: str) -> Optional[str]:
    """The first key of ``value`` its declared type has no column for."""
    if value is None or isinstance(t, str):
        return None
    (kind, inner), = t.items()
    if kind == "struct" and isinstance(value, dict):
        fields = {f["name"]: f["type"] for f in inner}
        for k, v in value.items():
            if k not in fields:
                return f"{at}.{k}"
            u = _unknown(v, fields[k], f"{at}.{k}")
            if u:
                return u
    elif kind == "list" and isinstance(value, list):
        for v in value:
            u = _unknown(v, inner["type"], f"{at}[]")
            if u:
                return u
    elif kind == "map" and isinstance(value, dict):
        for k, v in value.items():
            u = _unknown(v, inner["type"], f"{at}.{k}")
            if u:
                return u
    return None


def tables(doc: Dict[str, Any]) -> Dict[str, List[Dict[str, Any]]]:
    """Rows of an ``analyze`` (or ``compare``) document, one list per
    table: ``captures``, ``sessions``, ``lines`` (every command and
    reply), ``data_setups``, ``data_connections`` and ``findings``. Each
    row starts with the keys that join the tables: ``capture`` (the
    capture's SHA-256, or its path where hashing was off; for each leg of
    one file compared leg against leg, followed by `` leg `` and the
    leg's name, so the two views' rows stay apart),
    ``capture_path``, ``session``, and ``setup``/``connection`` (the
    position in the session's list). Values stay as the document has them
    (lists and objects nested, timestamps as RFC 3339 text); a field no
    table declares raises :class:`PortmortemError` rather than being
    dropped. A comparison's own parts (``pairs``, ``unmatched``,
    ``sides``) are not tables: read them from the document."""
    if not isinstance(doc, dict) or "sessions" not in doc or "captures" not in doc:
        kind = doc.get("command") if isinstance(doc, dict) else type(doc).__name__
        raise ValueError(
            f"doc: an analyze or compare document (with captures and sessions), not {kind!r}; "
            "a batch document's records are its 'captures' (or use portmortem.batch_records)"
        )
    caps = doc["captures"]
    # One file read as two legs is two captures of one SHA-256: each
    # leg's rows keep their own key, or its sessions (both `s1`) and
    # findings would join the other leg's.
    keys = [
        (c.get("sha256") or c.get("path")) + (" leg " + c["view"] if c.get("view") else "")
        if (c.get("sha256") or c.get("path")) is not None
        else None
        for c in caps
    ]
    paths = [c.get("path") for c in caps]

    def capture_keys(i: Any) -> Dict[str, Any]:
        ok = isinstance(i, int) and 0 <= i < len(caps)
        return {"capture": keys[i] if ok else None, "capture_path": paths[i] if ok else None}

    out: Dict[str, List[Dict[str, Any]]] = {}
    for t in _declared():
        name, rows_from, key_names, left_out = t["name"], t["rows"], t["keys"], set(t["left_out"])
        own = [k for k in key_names if k not in ("capture", "capture_path", "session")]
        rows: List[Dict[str, Any]] = []
        if rows_from == ["captures"]:
            for i, c in enumerate(caps):
                rows.append({"capture": keys[i], **c})
        elif rows_from == ["findings"]:
            for f in doc.get("findings", []):
                rows.append({**capture_keys(f.get("capture")), **{k: v for k, v in f.items() if k not in left_out}})
        elif rows_from == ["sessions"]:
            for s in doc["sessions"]:
                key = {**capture_keys(s.get("capture")), "session": s.get("id")}
                rows.append({**key, **{k: v for k, v in s.items() if k not in left_out}})
        elif rows_from[0] == "sessions" and len(rows_from) == 2:
            for s in doc["sessions"]:
                key = {**capture_keys(s.get("capture")), "session": s.get("id")}
                for i, item in enumerate(s.get(rows_from[1], [])):
                    pos = {own[0]: i} if own else {}
                    rows.append({**key, **pos, **item})
        else:
            raise PortmortemError(f"table {name}: rows from {rows_from} are not known to this package")
        struct = {"struct": t["fields"]}
        for r in rows:
            u = _unknown(r, struct, name)
            if u:
                raise PortmortemError(
                    f"{u}: a field the table's schema does not declare (a document from another "
                    f"version of portmortem than this package, {__version__}?)"
                )
        out[name] = rows
    return out


def to_arrow(doc: Dict[str, Any]) -> Dict[str, Any]:
    """:func:`tables` as pyarrow Tables, each with its declared
    :func:`schema` (needs ``pyarrow``): timestamps ``timestamp[ns, UTC]``,
    lists and objects as lists and structs, integers ``int64`` with nulls
    where a value is absent."""
    import pyarrow as pa

    out = {}
    rows = tables(doc)
    for t in _declared():
        staging = pa.schema([_arrow_field(f, staging=True) for f in t["fields"]])
        table = pa.Table.from_pylist(rows[t["name"]], schema=staging)
        out[t["name"]] = table.cast(schema(t["name"]))
    return out


def _pandas_types(pd):
    import pyarrow as pa

    nullable = {
        pa.int64(): pd.Int64Dtype(),
        pa.uint64(): pd.UInt64Dtype(),
        pa.bool_(): pd.BooleanDtype(),
        pa.float64(): pd.Float64Dtype(),
        pa.string(): pd.StringDtype(),
    }
    return nullable.get


def to_pandas(doc: Dict[str, Any]) -> Dict[str, Any]:
    """:func:`to_arrow` as pandas DataFrames (needs ``pandas`` and
    ``pyarrow``): integers and booleans as pandas' nullable ``Int64`` and
    ``boolean`` (never floats), timestamps ``datetime64[ns, UTC]``, lists
    and structs as Python lists and dicts."""
    import pandas as pd

    mapper = _pandas_types(pd)
    return {name: t.to_pandas(types_mapper=mapper, maps_as_pydicts="strict") for name, t in to_arrow(doc).items()}


def _ours(directory: str) -> bool:
    """Whether an existing ``directory`` holds nothing but tables this
    package writes (so replacing it destroys nothing else)."""
    names = {t["name"] for t in _declared()}
    for entry in os.listdir(directory):
        base = entry[: -len(".parquet")] if entry.endswith(".parquet") else entry
        if base not in names:
            return False
    return True


def _swap(new: str, old: str) -> None:
    """Puts directory ``new`` where ``old`` is: at once where the system
    can exchange two paths (Linux renameat2), else by moving ``old`` aside
    for the moment between two renames."""
    import shutil

    if os.path.lexists(old):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            exchange = 2  # RENAME_EXCHANGE
            at = -100  # AT_FDCWD
            if libc.renameat2(at, os.fsencode(new), at, os.fsencode(old), exchange) == 0:
                shutil.rmtree(new)
                return
        except (AttributeError, OSError):
            pass
        aside = new + ".old"
        os.rename(old, aside)
        os.rename(new, old)
        shutil.rmtree(aside)
    else:
        os.rename(new, old)


def write_parquet(
    doc: Dict[str, Any],
    directory: Union[str, "os.PathLike[str]"],
    *,
    mode: str = "replace",
) -> List[str]:
    """Writes the six tables as Parquet with their declared
    :func:`schema` (needs ``pyarrow``), every table even when empty, and
    returns the paths written.

    ``mode="replace"`` (default): ``directory/<table>.parquet``; the
    directory is replaced as a whole (written beside it, then swapped in),
    so no file of an earlier run survives and a reader never sees half of
    one.

    ``mode="append"``: one dataset for many captures,
    ``directory/<table>/capture=<SHA-256>/part-0.parquet`` (hive-style:
    DuckDB ``read_parquet('dir/lines/*/*.parquet', hive_partitioning =
    true)``, ``spark.read.parquet('dir/lines')``,
    ``pandas.read_parquet('dir/lines')``); a capture written again
    replaces its own partitions and no other.

    An existing ``directory`` that holds anything else is refused.
    """
    import tempfile

    import pyarrow.parquet as pq

    if mode not in ("replace", "append"):
        raise ValueError(f"mode: {mode!r} is neither 'replace' nor 'append'")
    directory = os.path.abspath(os.fspath(directory))
    if os.path.exists(directory) and not (os.path.isdir(directory) and _ours(directory)):
        raise PortmortemError(
            f"{directory}: exists and holds more than portmortem's tables: not replaced "
            "(write to a new or empty directory)"
        )
    arrow = to_arrow(doc)
    parent = os.path.dirname(directory)
    os.makedirs(parent, exist_ok=True)
    written = []
    if mode == "replace":
        tmp = tempfile.mkdtemp(prefix="." + os.path.basename(directory) + ".", dir=parent)
        try:
            for name, table in arrow.items():
                pq.write_table(table, os.path.join(tmp, name + ".parquet"))
            _swap(tmp, directory)
        except BaseException:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return [os.path.join(directory, name + ".parquet") for name in arrow]
    import urllib.parse

    import pyarrow.compute as pc

    for cap in arrow["captures"].column("capture").to_pylist():
        if not cap:
            raise PortmortemError("mode='append': a capture without a key")
    os.makedirs(directory, exist_ok=True)
    for name, table in arrow.items():
        tdir = os.path.join(directory, name)
        os.makedirs(tdir, exist_ok=True)
        for cap in arrow["captures"].column("capture").to_pylist():
            part = table.filter(pc.equal(table["capture"], cap)).drop_columns(["capture"])
            final = os.path.join(tdir, "capture=" + urllib.parse.quote(cap, safe=""))
            tmp = tempfile.mkdtemp(prefix=".capture.", dir=tdir)
            try:
                pq.write_table(part, os.path.join(tmp, "part-0.parquet"))
                _swap(tmp, final)
            except BaseException:
                import shutil

                shutil.rmtree(tmp, ignore_errors=True)
                raise
            written.append(os.path.join(final, "part-0.parquet"))
    return written
