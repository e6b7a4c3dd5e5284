#!/usr/bin/env python3
"""Analyse every capture under a path with Apache Spark, as
`portmortem batch` does on one machine.

Each capture is read by an executor (Spark's `binaryFile` source: local
paths, HDFS, S3 through the user's Spark configuration, recursively) and
turned into its record
with `portmortem.batch_record` — the Rust library, with the GIL released,
so a task costs what one `batch` worker costs. Records are gathered in a
tree reduce and merged on the driver with `portmortem.merge`, which is
exact: the summary and the cross-capture patterns are those one `batch`
over the same files gives (tests: python/tests/test_spark.py).

Each file's index is its position in the sorted list of every path found,
as `batch` numbers them; files that are not captures are counted as
skipped, as `batch` counts them.

Usage:
  spark-submit examples/spark/portmortem_spark.py PATH [--summary OUT.json]
      [--records OUT_DIR] [--partitions N]

PATH is anything Spark's `binaryFile` source reads (a directory, a glob,
`hdfs://…`, `s3a://…`); like every Spark file source it leaves out names
starting with `_` or `.`, which `batch` would read. `--records` writes the per-capture records as
NDJSON text files (one line per capture, the lines of `batch --format
ndjson`). The summary document goes to `--summary` or standard output.

Captures are read whole into an executor's memory (the source gives
bytes, at most 2 GiB a file); give executors room for the largest one.
"""
import argparse
import json
import sys


def record(index, path, data):
    # Imported on the executor: the package must be installed there.
    import portmortem

    return portmortem.batch_record(bytes(data), index=index, path=path, explicit=False)


def local_path(uri):
    """`file:/a/b` as `/a/b`, so records name local files as `batch` does."""
    return uri[len("file:"):] if uri.startswith("file:") else uri


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("path")
    ap.add_argument("--summary", help="write the merged document here (default: standard output)")
    ap.add_argument("--records", help="write the per-capture records (NDJSON) under this directory")
    ap.add_argument("--partitions", type=int, default=None, help="spread the captures over this many tasks")
    args = ap.parse_args(argv)

    from pyspark.sql import SparkSession
    import portmortem

    spark = SparkSession.builder.appName("portmortem").getOrCreate()
    sc = spark.sparkContext
    files = spark.read.format("binaryFile").option("recursiveFileLookup", "true").load(args.path)
    # Indices from the sorted paths: only the names are read for this.
    paths = sorted(local_path(r.path) for r in files.select("path").collect())
    index = sc.broadcast({p: i for i, p in enumerate(paths)})
    rows = files.select("path", "content").rdd
    if args.partitions:
        rows = rows.repartition(args.partitions)
    records = rows.map(lambda r: record(index.value[local_path(r.path)], local_path(r.path), r.content)).cache()
    if args.records:
        records.map(json.dumps).saveAsTextFile(args.records)
    gathered = records.map(lambda r: [r]).treeReduce(lambda a, b: a + b) if paths else []
    doc = portmortem.merge(gathered)
    text = json.dumps(doc) + "\n"
    if args.summary:
        with open(args.summary, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
