"""portmortem: proves where an FTP command or reply was damaged in transit.

The Rust library is the one implementation: every function here returns
the document the command line writes (``analyze --format json``,
``analyze --format ndjson``, ``compare --format json``, ``batch --format
ndjson``, ``merge --format json``), as Python objects, and releases the GIL
while it reads captures. A capture is a path (``str`` or ``os.PathLike``)
or its bytes; pcap and pcapng, plain or gzip, zstd, xz, bzip2 or lz4
(found by content).

A capture that cannot be read at all raises :class:`PortmortemError`,
whose message names the file and the byte offset. A capture that breaks
part-way is not an exception: its document keeps what was read before,
with the error in ``captures[0]["error"]``, as on the command line.
"""

import json
import os
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Union

from . import _portmortem
from ._portmortem import PortmortemError

__all__ = [
    "PortmortemError",
    "analyze",
    "compare",
    "events",
    "batch_record",
    "merge",
    "tables",
    "to_pandas",
    "to_arrow",
    "write_parquet",
]

Capture = Union[str, "os.PathLike[str]", bytes, bytearray]


def analyze(source: Capture, **options: Any) -> Dict[str, Any]:
    """The ``analyze --format json`` document of one capture.

    Options (the command line's): ``ports`` (control ports besides 21),
    ``stall_secs``, ``show_passwords``, ``hash`` (SHA-256 of the bytes
    read, default True).
    """
    return json.loads(_portmortem.analyze(source, **options))


def events(source: Capture, **options: Any) -> Iterator[Dict[str, Any]]:
    """The lines of ``analyze --format ndjson``: a ``session`` as each
    ended, then the ``finding`` lines (each with ``capture_sha256``), the
    ``capture`` and the ``summary``. Options as :func:`analyze`."""
    for line in _portmortem.events(source, **options).splitlines():
        yield json.loads(line)


def compare(a: Capture, b: Capture, **options: Any) -> Dict[str, Any]:
    """The ``compare --format json`` document of two captures of the same
    traffic on both sides of a device. ``roles_given=True``: ``a`` is the
    client side; otherwise the sides are worked out. ``clock_offset``:
    ``b``'s clock minus ``a``'s in seconds, where it is known
    (``--clock-offset``). Other options as :func:`analyze`."""
    return json.loads(_portmortem.compare(a, b, **options))


def batch_record(
    source: Capture,
    index: int = 0,
    path: Optional[str] = None,
    hash: bool = True,
    explicit: bool = True,
) -> Dict[str, Any]:
    """One line of ``batch --format ndjson``: the record of one capture
    (counts, hosts, data setups, findings). ``index`` is its position in
    the archive (records are merged in that order); ``path`` the name it
    goes by (default: the path given, or ``<bytes>``). ``explicit=False``
    (a file found in a directory rather than named): bytes that are no
    capture give a ``skipped`` line, as ``batch`` counts such files."""
    return json.loads(
        _portmortem.batch_record(source, index=index, path=path, hash=hash, explicit=explicit)
    )


def merge(records: Iterable[Dict[str, Any]]) -> Dict[str, Any]:
    """``merge --format json`` of records from :func:`batch_record`: the
    same summary and cross-capture patterns as one ``batch`` over the same
    captures. A record given twice (the same ``index``) is refused."""
    return json.loads(_portmortem.merge([json.dumps(r) for r in records]))


def tables(doc: Dict[str, Any]) -> Dict[str, List[Dict[str, Any]]]:
    """Flat rows of an ``analyze`` (or ``compare``) document, one list per
    table: ``sessions``, ``lines`` (every command and reply), ``data_setups``
    and ``findings``. Each row carries ``capture`` and ``session`` to join
    on; nested values are kept as JSON text."""
    paths = [c.get("path") for c in doc.get("captures", [])]

    def flat(row: Dict[str, Any]) -> Dict[str, Any]:
        return {k: json.dumps(v) if isinstance(v, (dict, list)) else v for k, v in row.items()}

    sessions, lines, setups = [], [], []
    for s in doc.get("sessions", []):
        key = {"capture": s["capture"], "capture_path": paths[s["capture"]], "session": s["id"]}
        sessions.append(flat({**key, **{k: v for k, v in s.items() if k not in ("dialogue", "data_setups", "capture", "id")}}))
        for entry in s.get("dialogue", []):
            lines.append(flat({**key, **entry}))
        for i, d in enumerate(s.get("data_setups", [])):
            setups.append(flat({**key, "setup": i, **d}))
    findings = [flat({"capture_path": paths[f["capture"]] if f["capture"] < len(paths) else None, **f}) for f in doc.get("findings", [])]
    return {"sessions": sessions, "lines": lines, "data_setups": setups, "findings": findings}


def to_pandas(doc: Dict[str, Any]) -> Dict[str, Any]:
    """:func:`tables` as pandas DataFrames (needs ``pandas``)."""
    import pandas as pd

    return {name: pd.DataFrame(rows) for name, rows in tables(doc).items()}


def to_arrow(doc: Dict[str, Any]) -> Dict[str, Any]:
    """:func:`tables` as pyarrow Tables (needs ``pyarrow``)."""
    import pyarrow as pa

    return {name: pa.Table.from_pylist(rows) for name, rows in tables(doc).items()}


def write_parquet(doc: Dict[str, Any], directory: Union[str, "os.PathLike[str]"]) -> List[str]:
    """Writes :func:`tables` as ``sessions.parquet``, ``lines.parquet``,
    ``data_setups.parquet`` and ``findings.parquet`` in ``directory``
    (needs ``pyarrow``); returns their paths. Empty tables are skipped."""
    import pyarrow.parquet as pq

    os.makedirs(directory, exist_ok=True)
    written = []
    for name, table in to_arrow(doc).items():
        if table.num_rows == 0:
            continue
        path = os.path.join(directory, name + ".parquet")
        pq.write_table(table, path)
        written.append(path)
    return written
