"""The Python package gives what the command line gives, on the testdata
captures (run by .ci/run after `pip install ./python`)."""
import glob
import gzip
import json
import os
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

    def test_events_are_the_ndjson_lines(self):
        ev = list(portmortem.events(INETUTILS))
        want = [json.loads(l) for l in cli("analyze", "-f", "ndjson", INETUTILS).splitlines()]
        self.assertEqual(ev, want)
        self.assertEqual(ev[-1]["type"], "summary")
        self.assertEqual({e["rule"] for e in ev if e["type"] == "finding"}, {"port-echo-mismatch", "session-stall-after-ctl"})

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
        self.assertNotIn("session-stall-after-ctl", [f["rule"] for f in doc["findings"]])
        with self.assertRaises(TypeError):
            portmortem.analyze(INETUTILS, no_such_option=1)


class Errors(unittest.TestCase):
    def test_unreadable_captures_raise_with_the_file_and_offset(self):
        with self.assertRaises(portmortem.PortmortemError) as e:
            portmortem.analyze("/nonexistent/capture.pcap")
        self.assertIn("/nonexistent/capture.pcap", str(e.exception))
        with self.assertRaises(portmortem.PortmortemError) as e:
            portmortem.analyze(b"hello world, not a capture")
        self.assertIn("offset 0", str(e.exception))
        with self.assertRaises(TypeError):
            portmortem.analyze(42)

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


class Tables(unittest.TestCase):
    def test_tables_have_one_row_per_session_line_setup_and_finding(self):
        doc = portmortem.analyze(VSFTPD)
        t = portmortem.tables(doc)
        self.assertEqual(len(t["sessions"]), len(doc["sessions"]))
        self.assertEqual(len(t["lines"]), sum(len(s["dialogue"]) for s in doc["sessions"]))
        self.assertEqual(len(t["findings"]), len(doc["findings"]))
        self.assertEqual(t["findings"][0]["session"], "s1")

    def test_parquet_loads_in_duckdb(self):
        try:
            import duckdb  # noqa: F401
            import pyarrow  # noqa: F401
        except ImportError as e:
            self.skipTest(f"needs duckdb and pyarrow: {e}")
        import duckdb

        with tempfile.TemporaryDirectory() as d:
            written = portmortem.write_parquet(portmortem.analyze(INETUTILS), d)
            self.assertEqual(sorted(os.path.basename(p) for p in written), ["data_setups.parquet", "findings.parquet", "lines.parquet", "sessions.parquet"])
            rules = dict(duckdb.sql(f"select rule, count(*) from '{d}/findings.parquet' group by 1").fetchall())
            self.assertEqual(rules, {"port-echo-mismatch": 1, "session-stall-after-ctl": 1})


if __name__ == "__main__":
    unittest.main()
