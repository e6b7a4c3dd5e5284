"""The Python package gives what the command line gives, on the testdata
captures (run by .ci/run after `pip install ./python`)."""
import glob
import gzip
import importlib.util
import inspect
import io
import json
import os
import pickle
import subprocess
import tempfile
import threading
import unittest

import portmortem

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TD = os.path.join(ROOT, "testdata")
PM = os.environ.get("PORTMORTEM_BIN", os.path.join(ROOT, "target", "debug", "portmortem"))
VSFTPD = os.path.join(TD, "lab-mangle-vsftpd-client.pcap")
INETUTILS = os.path.join(TD, "lab-mangle-inetutils-client.pcap")


def cli(*args):
    r = subprocess.run([PM, *args], capture_output=True, check=False)
    assert r.returncode in (0, 1, 2), r.stderr
    return r.stdout


def by_id(doc):
    doc["sessions"].sort(key=lambda s: (s["capture"], int(s["id"][1:])))
    return doc


class SameAsTheCommandLine(unittest.TestCase):
    def test_analyze_equals_the_cli_on_every_testdata_capture(self):
        names = sorted(glob.glob(os.path.join(TD, "*.pcap*")))
        self.assertGreater(len(names), 20)
        for path in names:
            want = by_id(json.loads(cli("analyze", "-f", "json", path)))
            self.assertEqual(by_id(portmortem.analyze(path)), want, path)

    def test_one_plan_per_command_gives_the_same_bytes(self):
        """Both front doors build the library's plan: every testdata pair
        compared from Python is the command line's document byte for byte,
        its header (the options that changed) included."""
        pairs = sorted(
            p[: -len("-client.pcap")]
            for p in glob.glob(os.path.join(TD, "*-client.pcap"))
            if os.path.exists(p.replace("-client.pcap", "-server.pcap"))
        )
        self.assertGreater(len(pairs), 20)
        for base in pairs:
            a, b = base + "-client.pcap", base + "-server.pcap"
            want = cli("compare", "-f", "json", "--show-passwords", "--stall-secs", "7", a, b)
            got = portmortem._portmortem.compare(a, b, show_passwords=True, stall_secs=7.0)
            self.assertEqual(got.encode(), want.rstrip(b"\n"), base)
        want = json.loads(cli("analyze", "-f", "json", "--pretty", "--show-passwords", "--port", "2121", VSFTPD))
        got = portmortem.analyze(VSFTPD, show_passwords=True, ports=[2121])
        self.assertEqual(got, want)
        self.assertEqual(got["options"], {"show_passwords": "on", "port": "2121"})

    def test_bytes_in_memory_and_compressed(self):
        with open(VSFTPD, "rb") as f:
            data = f.read()
        from_path = portmortem.analyze(VSFTPD)
        for blob in (data, bytearray(data), gzip.compress(data)):
            doc = portmortem.analyze(blob)
            self.assertEqual(doc["captures"][0]["path"], "<bytes>")
            self.assertEqual(doc["findings"], from_path["findings"])
        # The hash is of the bytes read, compressed or not, as on the CLI.
        self.assertEqual(portmortem.analyze(data)["captures"][0]["sha256"], from_path["captures"][0]["sha256"])

    def test_file_objects_and_buffers_equal_the_path(self):
        from_path = portmortem.analyze(VSFTPD)
        with open(VSFTPD, "rb") as f:
            data = f.read()
            f.seek(0)
            from_file = portmortem.analyze(f)
        self.assertEqual(from_file["captures"][0]["path"], VSFTPD)
        for src in (io.BytesIO(data), memoryview(data), io.BytesIO(gzip.compress(data))):
            doc = portmortem.analyze(src)
            self.assertEqual(doc["findings"], from_path["findings"], type(src))
            self.assertEqual(doc["sessions"], from_path["sessions"], type(src))
        self.assertEqual(portmortem.analyze(io.BytesIO(data))["captures"][0]["sha256"], from_path["captures"][0]["sha256"])
        with self.assertRaises(portmortem.CaptureError):
            portmortem.analyze(io.StringIO("text is no capture"))

    def test_events_come_as_sessions_end(self):
        """The first session arrives while the rest is still being read:
        a capture that never ends (a pipe fed slowly) still yields it."""
        r, w = os.pipe()
        with open(VSFTPD, "rb") as f:
            data = f.read()
        os.write(w, data)  # the whole capture, but the pipe stays open
        stream = os.fdopen(r, "rb", buffering=0)
        ev = portmortem.events(stream)
        got = []
        done = threading.Event()

        def first():
            got.append(next(ev))
            done.set()

        t = threading.Thread(target=first, daemon=True)
        t.start()
        self.assertTrue(done.wait(30), "no event before the end of the capture")
        os.close(w)
        rest = list(ev)
        self.assertEqual(got[0]["type"], "session")
        self.assertEqual(rest[-1]["type"], "summary")
        stream.close()

    def test_batch_equals_the_cli(self):
        want = json.loads(cli("batch", "-f", "json", TD))
        seen = []
        got = portmortem.batch(TD, jobs=2, progress=lambda done, total: seen.append((done, total)))
        self.assertEqual(got, want)
        self.assertEqual(seen[-1], (len(want["captures"]) + len(want["skipped"]),) * 2)
        lines = list(portmortem.batch_records([TD]))
        self.assertEqual(lines[-1]["type"], "summary")
        self.assertEqual(portmortem.merge(lines[:-1])["summary"], want["summary"])
        # A file that is no capture, found in a directory, is skipped, not failed.
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "notes.log"), "w") as f:
                f.write("not a capture")
            rec = portmortem.batch_record(os.path.join(d, "notes.log"), explicit=False)
            self.assertEqual(rec["type"], "skipped")
            rec = portmortem.batch_record(os.path.join(d, "notes.log"))
            self.assertIn("not a pcap", rec["error"])
        with self.assertRaises(FileNotFoundError):
            portmortem.batch("/nonexistent/archive")

    def test_partial_summaries_merge_to_one_batch(self):
        paths = sorted(glob.glob(os.path.join(TD, "*.pcap*")))
        want = json.loads(cli("batch", "-f", "json", *paths))
        records = [portmortem.batch_record(p, index=i) for i, p in enumerate(paths)]
        parts = [portmortem.partial_summary(records[i::3]) for i in range(3)]
        merged = portmortem.merge_partials(portmortem.merge_partials(parts[2], parts[0]), parts[1])
        line = portmortem.finish_summary(merged)
        self.assertEqual(line.pop("type"), "summary")
        self.assertEqual(line, want["summary"])
        # A partial holds sums, not records: far smaller than its records.
        self.assertLess(len(merged), len(json.dumps(records)) / 4)

    def test_events_are_the_ndjson_lines(self):
        ev = list(portmortem.events(INETUTILS))
        want = [json.loads(l) for l in cli("analyze", "-f", "ndjson", INETUTILS).splitlines()]
        self.assertEqual(ev, want)
        self.assertEqual(ev[-1]["type"], "summary")
        # One event: the stall that followed the damaged PORT is a related
        # fact of the echo finding.
        found = [e for e in ev if e["type"] == "finding"]
        self.assertEqual({e["rule"] for e in found}, {"port-echo-mismatch"})
        self.assertIn("session-stall-after-ctl", [r["rule"] for e in found for r in e.get("related", [])])

    def test_compare_equals_the_cli(self):
        a, b = VSFTPD, os.path.join(TD, "lab-mangle-vsftpd-server.pcap")
        want = json.loads(cli("compare", "-f", "json", a, b))
        self.assertEqual(portmortem.compare(a, b), want)

    def test_merged_records_equal_one_batch(self):
        paths = sorted(glob.glob(os.path.join(TD, "*.pcap*")))
        want = json.loads(cli("batch", "-f", "json", *paths))
        records = [portmortem.batch_record(p, index=i) for i, p in enumerate(paths)]
        records.reverse()  # merge orders by index, whatever it is given
        got = portmortem.merge(records)
        for k in ("captures", "skipped", "summary"):
            self.assertEqual(got[k], want[k], k)
        with self.assertRaises(portmortem.PortmortemError):
            portmortem.merge([records[0], records[0]])

    def test_options_change_the_result_and_are_recorded(self):
        doc = portmortem.analyze(INETUTILS, stall_secs=100.0, hash=False)
        self.assertEqual(doc["options"]["stall_secs"], "100")
        self.assertIsNone(doc["captures"][0]["sha256"])
        said = [f["rule"] for f in doc["findings"]] + [r["rule"] for f in doc["findings"] for r in f.get("related", [])]
        self.assertNotIn("session-stall-after-ctl", said)
        with self.assertRaises(TypeError):
            portmortem.analyze(INETUTILS, no_such_option=1)


class Errors(unittest.TestCase):
    def test_unreadable_captures_raise_with_the_file_and_offset(self):
        with self.assertRaises(FileNotFoundError) as e:
            portmortem.analyze("/nonexistent/capture.pcap")
        self.assertEqual(e.exception.filename, "/nonexistent/capture.pcap")
        # Raised at the call, not at the first next().
        with self.assertRaises(FileNotFoundError):
            portmortem.events("/nonexistent/capture.pcap")
        with self.assertRaises(portmortem.CaptureError) as e:
            portmortem.analyze(b"hello world, not a capture")
        self.assertIn("offset 0", str(e.exception))
        self.assertEqual((e.exception.path, e.exception.offset), ("<bytes>", 0))
        with self.assertRaises(TypeError) as e:
            portmortem.analyze(42)
        self.assertIn("source", str(e.exception))
        with self.assertRaises(TypeError) as e:
            portmortem.analyze(VSFTPD.encode())  # bytes are content, not a path
        self.assertIn("os.PathLike", str(e.exception))

    def test_every_exception_pickles(self):
        errors = [
            portmortem.PortmortemError("x"),
            portmortem.MergeError("y"),
            portmortem.CaptureError("z: truncated at byte offset 9", "z", 9, 3),
        ]
        try:
            portmortem.analyze(b"not a capture at all")
        except portmortem.CaptureError as e:
            errors.append(e)
        try:
            portmortem.merge([{"type": "nonsense"}])
        except portmortem.MergeError as e:
            errors.append(e)
        for e in errors:
            back = pickle.loads(pickle.dumps(e))
            self.assertIs(type(back), type(e))
            self.assertEqual(back.args, e.args)
            self.assertEqual(vars(back), vars(e))
            self.assertIsInstance(back, portmortem.PortmortemError)

    def test_arguments_are_checked_and_named(self):
        for kwargs, name in [
            ({"ports": [70000]}, "ports"),
            ({"ports": 21}, "ports"),
            ({"stall_secs": -1}, "stall_secs"),
            ({"stall_secs": float("nan")}, "stall_secs"),
        ]:
            with self.assertRaises((TypeError, ValueError)) as e:
                portmortem.analyze(VSFTPD, **kwargs)
            self.assertIn(name, str(e.exception))
        with self.assertRaises(ValueError) as e:
            portmortem.batch(TD, jobs=0)
        self.assertIn("jobs", str(e.exception))
        with self.assertRaises(ValueError) as e:
            portmortem.compare(VSFTPD, VSFTPD, clock_offset=float("inf"))
        self.assertIn("clock_offset", str(e.exception))
        sig = inspect.signature(portmortem.analyze)
        self.assertEqual(list(sig.parameters), ["source", "ports", "stall_secs", "show_passwords", "hash"])
        self.assertEqual(sig.parameters["hash"].annotation, bool)
        self.assertRegex(portmortem.__version__, r"^\d+\.\d+\.\d+")

    def test_a_truncated_capture_keeps_what_was_read(self):
        doc = portmortem.analyze(os.path.join(TD, "hand-truncated.pcap"))
        self.assertIn("truncated", doc["captures"][0]["error"]["message"])
        self.assertGreater(doc["captures"][0]["frame_count"], 0)


class Threads(unittest.TestCase):
    def test_the_gil_is_released_while_analysing(self):
        # Four threads analyse at once; each must get the same document.
        want = portmortem.analyze(VSFTPD, hash=False)
        out = []
        threads = [threading.Thread(target=lambda: out.append(portmortem.analyze(VSFTPD, hash=False))) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(out, [want] * 4)


def needs(*modules):
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    return unittest.skipIf(missing, f"needs {', '.join(missing)} (pip install {' '.join(missing)})")


def normal(value, t):
    """A value of a declared type as plain Python, nulls left out, so the
    document's rows and what a reader gives back compare: timestamps as
    integer nanoseconds, maps as dicts."""
    import datetime

    import pyarrow as pa

    if value is None:
        return None
    if t == "timestamp_ns_utc":
        if isinstance(value, str):
            return pa.scalar(value).cast(pa.timestamp("ns", tz="UTC")).value
        if hasattr(value, "value"):  # pandas.Timestamp
            return int(value.value)
        return round((value - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)) / datetime.timedelta(microseconds=1)) * 1000
    if isinstance(t, str):
        return value
    (kind, inner), = t.items()
    if kind == "struct":
        types = {f["name"]: f["type"] for f in inner}
        out = {k: normal(v, types[k]) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not None}
    if kind == "list":
        return [normal(v, inner["type"]) for v in value]
    if kind == "map":
        pairs = value.items() if isinstance(value, dict) else value
        return {k: normal(v, inner["type"]) for k, v in pairs}
    raise AssertionError(kind)


def declared():
    return json.loads(portmortem._portmortem.tables_schema())


class Tables(unittest.TestCase):
    def test_tables_have_one_row_per_session_line_setup_and_finding(self):
        doc = portmortem.analyze(VSFTPD)
        t = portmortem.tables(doc)
        self.assertEqual(len(t["captures"]), 1)
        self.assertEqual(len(t["sessions"]), len(doc["sessions"]))
        self.assertEqual(len(t["lines"]), sum(len(s["dialogue"]) for s in doc["sessions"]))
        self.assertEqual(len(t["data_setups"]), sum(len(s["data_setups"]) for s in doc["sessions"]))
        self.assertEqual(len(t["findings"]), len(doc["findings"]))
        self.assertEqual(t["findings"][0]["session"], "s1")
        self.assertEqual(t["findings"][0]["capture"], doc["captures"][0]["sha256"])
        # A field no table declares is an error, never dropped.
        doc["sessions"][0]["dialogue"][0]["new_field"] = 1
        with self.assertRaises(portmortem.PortmortemError) as e:
            portmortem.tables(doc)
        self.assertIn("lines.new_field", str(e.exception))
        with self.assertRaises(ValueError):
            portmortem.tables(json.loads(cli("batch", "-f", "json", VSFTPD)))

    def test_the_legs_of_one_file_stay_apart_and_count_once(self):
        legs = os.path.join(TD, "lab-fw-alg-any.pcap")
        doc = portmortem.analyze(legs)
        self.assertEqual(doc["command"], "compare")
        self.assertEqual((doc["summary"]["captures"], doc["summary"]["sessions"], doc["summary"]["legs"]), (1, 1, 2))
        t = portmortem.tables(doc)
        # Two views of one file: their rows keep apart, each with its leg.
        self.assertEqual([c["view"] for c in t["captures"]], ["ifindex 2", "ifindex 3"])
        self.assertEqual(len({c["capture"] for c in t["captures"]}), 2)
        self.assertEqual(len({(s["capture"], s["session"]) for s in t["sessions"]}), len(doc["sessions"]))
        for c in t["captures"]:
            self.assertEqual([l["frames"] for l in c["legs"]], [47, 47])
        # batch counts the file as analyze does: one session, its legs named.
        rec = portmortem.batch_record(legs)
        self.assertEqual(rec["sessions"], 1)
        self.assertEqual(rec["legs"]["client_side"]["name"], "ifindex 2")
        self.assertEqual(rec["findings_by_rule"], doc["summary"]["findings_by_rule"])

    @needs("pyarrow", "pandas")
    def test_pandas_keeps_integers_and_times(self):
        doc = portmortem.analyze(INETUTILS)
        lines = portmortem.to_pandas(doc)["lines"]
        self.assertEqual(str(lines["code"].dtype), "Int64")
        self.assertEqual(str(lines["pairs_with"].dtype), "Int64")
        self.assertEqual(str(lines["ts"].dtype), "datetime64[ns, UTC]")
        self.assertEqual(list(lines["frames"][0]), doc["sessions"][0]["dialogue"][0]["frames"])
        self.assertEqual(lines["verb"].dropna().tolist()[:2], ["USER", "PASS"])

    @needs("pyarrow", "duckdb")
    def test_every_capture_in_one_dataset_with_every_value(self):
        """Parquet of every testdata capture, read back by DuckDB as one
        dataset: each file has the declared schema, and every non-null
        value of every row is there, equal."""
        import duckdb
        import pyarrow.parquet as pq

        names = sorted(glob.glob(os.path.join(TD, "*.pcap*")))
        by_capture = {}  # identical files are one capture (one SHA-256)
        with tempfile.TemporaryDirectory() as d:
            ds = os.path.join(d, "ds")
            for path in names:
                doc = portmortem.analyze(path)
                portmortem.write_parquet(doc, ds, mode="append")
                by_capture[doc["captures"][0]["sha256"]] = portmortem.tables(doc)
            # One file compared leg against leg is a partition per leg.
            partitions = sum(len({c["capture"] for c in t["captures"]}) for t in by_capture.values())
            want = {t["name"]: [r for c in by_capture.values() for r in c[t["name"]]] for t in declared()}
            # A capture written again replaces its own partition.
            portmortem.write_parquet(portmortem.analyze(names[0]), ds, mode="append")
            for t in declared():
                name = t["name"]
                schema = portmortem.schema(name)
                files = glob.glob(os.path.join(ds, name, "*", "*.parquet"))
                self.assertEqual(len(files), partitions, name)
                for f in files:
                    got = pq.read_schema(f).remove_metadata()
                    self.assertTrue(got.equals(schema.remove(0).remove_metadata()), f"{f}: {got}")
                rel = duckdb.sql(f"select * from read_parquet('{ds}/{name}/*/*.parquet', hive_partitioning = true)")
                self.assertEqual(set(rel.columns), {f["name"] for f in t["fields"]}, name)
                got_rows = rel.arrow()
                got_rows = got_rows.to_pylist() if hasattr(got_rows, "to_pylist") else got_rows.read_all().to_pylist()
                struct = {"struct": t["fields"]}
                key = lambda r: json.dumps(r, sort_keys=True)
                got = sorted((normal(r, struct) for r in got_rows), key=key)
                exp = sorted((normal(r, struct) for r in want[name]), key=key)
                self.assertEqual(len(got), len(exp), name)
                for g, w in zip(got, exp):
                    self.assertEqual(g, w, name)
            # The examples: columns a first row lacked are there.
            failures = duckdb.sql(f"select count(failure) from read_parquet('{ds}/data_setups/*/*.parquet')").fetchall()[0][0]
            self.assertEqual(failures, sum(1 for r in want["data_setups"] if r.get("failure")))
            self.assertGreater(failures, 0)

    @needs("pyarrow")
    def test_write_parquet_replaces_the_whole_directory(self):
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "tables")
            written = portmortem.write_parquet(portmortem.analyze(VSFTPD), out)
            self.assertEqual(sorted(os.path.basename(p) for p in written), sorted(t["name"] + ".parquet" for t in declared()))
            import pyarrow.parquet as pq

            portmortem.write_parquet(portmortem.analyze(os.path.join(TD, "hand-truncated.pcap")), out)
            # This run's findings only, never the last run's beside them.
            self.assertEqual(pq.read_table(os.path.join(out, "findings.parquet")).num_rows,
                             len(portmortem.analyze(os.path.join(TD, "hand-truncated.pcap"))["findings"]))
            cap = pq.read_table(os.path.join(out, "captures.parquet")).to_pylist()[0]
            self.assertIn("truncated", cap["error"]["message"])
            self.assertEqual(sorted(os.listdir(d)), ["tables"])
            # A directory holding anything else is not replaced.
            with open(os.path.join(d, "mine.txt"), "w") as f:
                f.write("keep")
            with self.assertRaises(portmortem.PortmortemError):
                portmortem.write_parquet(portmortem.analyze(VSFTPD), d)
            self.assertTrue(os.path.exists(os.path.join(d, "mine.txt")))


if __name__ == "__main__":
    unittest.main()
