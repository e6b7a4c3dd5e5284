#!/usr/bin/env python3
"""Analyse every capture under one or more paths with Apache Spark, as
`portmortem batch` does on one machine, and give the same summary.

Usage:
  spark-submit [--archives portmortem.zip#portmortem
                --conf spark.executorEnv.PYTHONPATH=portmortem]
      examples/spark/portmortem_spark.py PATH... [--summary URI]
      [--records URI] [--partitions N]

How it scales:
- The driver lists the files, names only: local paths by the rules of
  `batch` (walked, globbed, sorted, links followed; files that are no
  capture, FIFOs, devices and the same file twice listed as skipped),
  other URIs (`hdfs://`, `s3a://`, `gs://`, `file:`…) through the Hadoop
  FileSystem API of the Spark configuration. Unlike Spark's file sources,
  nothing is left out: hidden (`.x`), underscore (`_x`) and empty files
  are counted as `batch` counts them. Each file's index is its position in
  the sorted list, as in `batch`.
- Paths, not bytes, go to the executors, spread biggest first over the
  tasks (no shuffle). Each executor opens its own files: a local path by
  the library itself, another URI through fsspec (or pyarrow.fs) in
  chunks, so a task holds one capture's live state within the reader's
  memory budget, whatever the file's size.
- Each task streams its records out as Arrow batches (`mapInArrow`) and
  ends with its partial summary: sums, never records. The driver merges
  the partial summaries in a tree (`treeReduce`) and finishes them once:
  it holds one summary, not the archive.
- `--records URI`: the records, written by the executors through Spark
  (any Hadoop URI): one NDJSON part file per task, each ending with its
  summary line, so `portmortem merge URI/part-*` reads them as the
  outputs of `batch --shard` and gives the whole `batch` document.
- `--summary URI`: the summary line (`{"type": "summary", …}`, the last
  line of `batch --format ndjson`), written through the Hadoop
  FileSystem API (to a temporary name, then renamed), so it lands where
  asked in cluster deploy mode too; default: standard output.
- The exit code is `batch`'s: 2 when a capture could not be read, 1 when
  a finding of severity error was made, else 0.

The executors need the portmortem package (and pyarrow, which Spark's
Arrow functions need anyway): ship the wheel as an archive (a wheel is a
zip of the installed package), or a packed environment; see the README.
"""
import argparse
import json
import os
import sys
import urllib.parse

#: Records folded into a task's partial summary at a time.
FOLD = 256


def is_local(uri):
    """A path the library can open itself (no scheme, or `file:`)."""
    scheme = urllib.parse.urlsplit(uri).scheme
    return scheme in ("", "file") or len(scheme) == 1  # `C:` on Windows


def local_path(uri):
    """`file:/a/b` (as Hadoop names local files) or `file:///a/b` as
    `/a/b`; a plain path as it is. Names are taken as they are: Hadoop's
    `Path.toString` does not percent-encode them."""
    if uri.startswith("file:"):
        rest = uri[len("file:"):]
        return rest[2:] if rest.startswith("///") else rest
    return uri


def open_uri(uri):
    """A binary file object for a URI the library cannot open by itself:
    fsspec where installed (s3fs, gcsfs, adlfs… by scheme), else
    pyarrow.fs (s3, gs, hdfs)."""
    try:
        import fsspec
    except ImportError:
        from pyarrow import fs

        scheme = urllib.parse.urlsplit(uri).scheme
        arrow_uri = "s3" + uri[len(scheme):] if scheme in ("s3a", "s3n") else uri
        filesystem, path = fs.FileSystem.from_uri(arrow_uri)
        return filesystem.open_input_stream(path)
    return fsspec.open(uri, "rb").open()


def record(row):
    """The `batch --format ndjson` line of one entry (on an executor)."""
    import portmortem

    if row["line"] is not None:  # settled on the driver (nothing to read)
        return row["line"]
    uri = row["path"]
    if is_local(uri):
        rec = portmortem.batch_record(local_path(uri), index=row["index"], path=uri, explicit=row["explicit"])
    else:
        try:
            f = open_uri(uri)
        except Exception as e:  # the file is counted, as batch counts an unreadable one
            rec = failed(row["index"], uri, f"cannot open: {e}")
        else:
            with f:
                rec = portmortem.batch_record(f, index=row["index"], path=uri, explicit=row["explicit"])
    return json.dumps(rec)


def failed(index, path, message):
    """The record of a capture that could not be opened, as `batch`
    writes one (the library's own record of an unreadable capture)."""
    import portmortem

    rec = portmortem.batch_record(b"", index=index, path=path)
    rec["error"] = f"{path}: {message}"
    return rec


def analyse_partition(batches):
    """mapInArrow: entries in, records out (kind `record`), then the
    task's summary line (kind `summary`, so each records part file is a
    complete `batch` output) and its partial summary (kind `partial`)."""
    import pyarrow as pa

    import portmortem

    schema = pa.schema([("kind", pa.string()), ("line", pa.string())])
    partial, pending = None, []

    def fold():
        nonlocal partial, pending
        if pending:
            p = portmortem.partial_summary(pending)
            partial = p if partial is None else portmortem.merge_partials(partial, p)
            pending = []

    for batch in batches:
        for row in batch.to_pylist():
            line = record(row)
            pending.append(line)
            if len(pending) >= FOLD:
                fold()
            yield pa.RecordBatch.from_pydict({"kind": ["record"], "line": [line]}, schema=schema)
    fold()
    if partial is None:
        partial = portmortem.partial_summary([])
    last = json.dumps(portmortem.finish_summary(partial))
    yield pa.RecordBatch.from_pydict({"kind": ["summary", "partial"], "line": [last, partial]}, schema=schema)


def hadoop(spark, uri):
    """The Hadoop FileSystem and Path of a URI (driver only)."""
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(uri)
    return path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), path


def list_uri(spark, uri):
    """Every file under a URI (a file, a directory walked recursively, or
    a glob), hidden, underscore and empty files included: (uri, size,
    explicit)."""
    fs, path = hadoop(spark, uri)
    statuses = fs.globStatus(path) if any(c in uri for c in "*?[{") else [fs.getFileStatus(path)]
    if statuses is None:
        statuses = []
    found = []
    for st in statuses:
        if st.isFile():
            found.append((st.getPath().toString(), st.getLen(), not any(c in uri for c in "*?[{")))
            continue
        it = fs.listFiles(st.getPath(), True)
        while it.hasNext():
            f = it.next()
            found.append((f.getPath().toString(), f.getLen(), False))
    return found


def plan(spark, paths):
    """Every entry to read, indexed as `batch` indexes them."""
    import portmortem

    local = [p for p in paths if is_local(p) and not p.startswith("file:")]
    remote = [p for p in paths if p not in local]
    if local and remote:
        raise SystemExit("portmortem_spark: give local paths or URIs, not both (indices are of one sorted list)")
    if local:
        for p in local:
            if not any(c in p for c in "*?[") and not os.path.lexists(p):
                raise SystemExit(f"portmortem_spark: {p}: no such file or directory")
        return json.loads(portmortem._portmortem.batch_plan(local))
    found = {}
    for uri in remote:
        for u, size, explicit in list_uri(spark, uri):
            found.setdefault(u, (size, explicit))
    return [
        {"index": i, "path": u, "size": found[u][0], "explicit": found[u][1], "line": None}
        # Sorted as batch sorts paths: component by component (Rust's
        # Path order), so `d/x` comes before `d-y` as batch walks them.
        for i, u in enumerate(sorted(found, key=lambda u: u.split("/")))
    ]


def spread(entries, tasks):
    """Entries over `tasks` lists, biggest first onto the least loaded
    (the longest-processing-time rule, as `batch` orders its workers)."""
    import heapq

    heap = [(0, t) for t in range(tasks)]
    out = [[] for _ in range(tasks)]
    for e in sorted(entries, key=lambda e: (-e["size"], e["index"])):
        load, t = heapq.heappop(heap)
        out[t].append(e)
        heapq.heappush(heap, (load + max(e["size"], 1), t))
    return [b for b in out if b]


def write_uri(spark, uri, text):
    """Writes `text` at a Hadoop URI: to a temporary name beside it, then
    renamed into place."""
    import uuid

    fs, path = hadoop(spark, uri)
    fs.setWriteChecksum(False)  # no `.crc` file beside a local summary
    jvm = spark.sparkContext._jvm
    tmp = jvm.org.apache.hadoop.fs.Path(path.getParent(), "." + path.getName() + "." + uuid.uuid4().hex)
    out = fs.create(tmp, False)
    try:
        out.write(bytearray(text.encode()))
    finally:
        out.close()
    if fs.exists(path):
        fs.delete(path, False)
    if not fs.rename(tmp, path):
        raise SystemExit(f"portmortem_spark: cannot write {uri}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="+", metavar="PATH")
    ap.add_argument("--summary", help="write the summary line here (any Hadoop URI; default: standard output)")
    ap.add_argument("--records", help="write the records (NDJSON part files, `portmortem merge` reads them) under this URI")
    ap.add_argument("--partitions", type=int, default=None, help="tasks (default: twice the default parallelism, at most one per file)")
    args = ap.parse_args(argv)

    from pyspark import StorageLevel
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    import portmortem

    spark = SparkSession.builder.appName("portmortem").getOrCreate()
    sc = spark.sparkContext
    entries = plan(spark, args.paths)
    named = {e["path"] for e in entries}
    for out in (args.summary, args.records):
        if out and out in named:
            raise SystemExit(f"portmortem_spark: {out} is one of the inputs: not written over")
    tasks = max(1, min(len(entries), args.partitions or 2 * sc.defaultParallelism))
    buckets = spread(entries, tasks) or [[]]
    rows = sc.parallelize(buckets, len(buckets)).flatMap(lambda b: b)
    df = spark.createDataFrame(rows, "index long, path string, size long, explicit boolean, line string")
    out = df.mapInArrow(analyse_partition, "kind string, line string").persist(StorageLevel.DISK_ONLY)
    try:
        if args.records:
            out.filter(F.col("kind") != "partial").select("line").write.text(args.records)
        partials = out.filter(F.col("kind") == "partial").select("line").rdd.map(lambda r: r[0])
        partial = partials.treeReduce(portmortem.merge_partials)
    finally:
        out.unpersist()
    line = portmortem.finish_summary(partial)
    text = json.dumps(line) + "\n"
    if args.summary:
        write_uri(spark, args.summary, text)
    else:
        sys.stdout.write(text)
    return line["exit_code"]


if __name__ == "__main__":
    sys.exit(main())
