#!/usr/bin/env python3
"""Checks that `--format ndjson` loads into DuckDB as it is, the way a SIEM
pipeline or a notebook takes it (run by .ci/run, which installs duckdb):
the findings DuckDB counts per rule are those of the JSON document."""
import collections
import json
import os
import subprocess
import sys
import tempfile

import duckdb

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
PM = os.path.join(ROOT, "target", "debug", "portmortem")
TD = os.path.join(ROOT, "testdata")


def out(args, ok=(0, 1)):
    # Exit 1 only means "error findings".
    r = subprocess.run([PM] + args, capture_output=True)
    if r.returncode not in ok:
        sys.exit(f"check-ndjson: {args} failed: {r.stderr.decode()}")
    return r.stdout


cases = [
    ["analyze"] + [os.path.join(TD, n) for n in
                   ["lab-mangle-vsftpd-client.pcap", "lab-mangle-inetutils-client.pcap",
                    "hand-two-mangled.pcap", "hand-hostile-bytes.pcap"]],
    ["compare", os.path.join(TD, "lab-mangle-vsftpd-client.pcap"),
     os.path.join(TD, "lab-mangle-vsftpd-server.pcap")],
    # One file per run: watch reads one stream.
    ["watch", os.path.join(TD, "lab-mangle-inetutils-client.pcap")],
]
checked = 0
with tempfile.TemporaryDirectory() as d:
    for args in cases:
        path = os.path.join(d, "events.ndjson")
        with open(path, "wb") as f:
            f.write(out([args[0], "-f", "ndjson"] + args[1:]))
        # watch's events of a file are checked against analyze's document.
        doc = json.loads(out(["analyze" if args[0] == "watch" else args[0], "-f", "json"] + args[1:]))
        want = collections.Counter(f["rule"] for f in doc["findings"])
        # watch may say a finding again, revised, as later frames add to
        # the same event, or withdraw it: what a SIEM counts is the last
        # word on each, the findings that are not revisions less the
        # withdrawn ones.
        cols = duckdb.sql(f"select * from read_json_auto('{path}')").columns
        first_word = "not coalesce(revises_earlier, false)" if "revises_earlier" in cols else "true"
        got = dict(duckdb.sql(
            f"select rule, count(*) filter (where type = 'finding' and {first_word})"
            f" - count(*) filter (where type = 'finding-withdrawn')"
            f" from read_json_auto('{path}') where type in ('finding', 'finding-withdrawn')"
            f" group by 1 having count(*) filter (where type = 'finding' and {first_word})"
            f" - count(*) filter (where type = 'finding-withdrawn') > 0"
        ).fetchall())
        if got != dict(want):
            sys.exit(f"check-ndjson: {args[0]}: DuckDB counts {got}, the JSON document {dict(want)}")
        types = dict(duckdb.sql(f"select type, count(*) from read_json_auto('{path}') group by 1").fetchall())
        if args[0] == "watch":
            if types.get("session-ended", 0) != len(doc["sessions"]) or types.get("capture-closed") != 1:
                sys.exit(f"check-ndjson: watch: event types {types}")
        elif types.get("session", 0) != len(doc["sessions"]) or types.get("summary") != 1:
            sys.exit(f"check-ndjson: {args[0]}: event types {types}")
        elif args[0] == "compare" and (types.get("comparison") != 1 or types.get("pair", 0) != len(doc["pairs"])):
            sys.exit(f"check-ndjson: compare: event types {types}")
        # One type per field across every line: a field DuckDB can only
        # type as JSON holds values of different types on different lines.
        rel = duckdb.sql(f"select * from read_json_auto('{path}')")
        mixed = [c for c, t in zip(rel.columns, rel.dtypes) if str(t) == "JSON"]
        if mixed:
            sys.exit(f"check-ndjson: {args[0]}: fields with values of different types: {mixed}")
        facts = duckdb.sql(
            f"select count(*) from read_json_auto('{path}') where type = 'finding' and facts is not null"
        ).fetchall()[0][0]
        if args[0] != "watch" and facts == 0:
            sys.exit(f"check-ndjson: {args[0]}: no finding carries its facts")
        checked += sum(want.values())
    # batch's lines (what merge reads): records, skipped files, the summary.
    path = os.path.join(d, "batch.ndjson")
    with open(path, "wb") as f:
        # 2: testdata holds captures made unreadable on purpose.
        f.write(out(["batch", "-f", "ndjson", TD], ok=(0, 1, 2)))
    rel = duckdb.sql(f"select * from read_json_auto('{path}')")
    mixed = [c for c, t in zip(rel.columns, rel.dtypes) if str(t) == "JSON"]
    if mixed:
        sys.exit(f"check-ndjson: batch: fields with values of different types: {mixed}")
print(f"check-ndjson: {checked} findings read back through DuckDB {duckdb.__version__}")
