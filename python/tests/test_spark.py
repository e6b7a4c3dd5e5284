"""The Spark job (examples/spark/portmortem_spark.py) in local mode gives
what one `batch` over the same files gives. Skipped, with the reason,
where pyspark or Java is missing."""
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TD = os.path.join(ROOT, "testdata")
PM = os.environ.get("PORTMORTEM_BIN", os.path.join(ROOT, "target", "debug", "portmortem"))
JOB = os.path.join(ROOT, "examples", "spark", "portmortem_spark.py")


@unittest.skipUnless(importlib.util.find_spec("pyspark") and shutil.which("java"), "needs pyspark and Java (pip install pyspark; a JRE 17+)")
class SparkLocal(unittest.TestCase):
    def test_the_spark_job_equals_one_batch(self):
        want = json.loads(subprocess.run([PM, "batch", "-f", "json", TD], capture_output=True, check=False).stdout)
        os.environ["PYSPARK_PYTHON"] = sys.executable
        from pyspark.sql import SparkSession

        spark = SparkSession.builder.master("local[2]").appName("portmortem-test").config("spark.ui.enabled", "false").getOrCreate()
        spark.sparkContext.setLogLevel("ERROR")
        spec = importlib.util.spec_from_file_location("portmortem_spark", JOB)
        job = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(job)
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "summary.json")
            records = os.path.join(d, "records")
            self.assertEqual(job.main([TD, "--summary", out, "--records", records]), 0)
            with open(out) as f:
                got = json.load(f)
            lines = []
            for name in sorted(os.listdir(records)):
                if name.startswith("part-"):
                    with open(os.path.join(records, name)) as f:
                        lines += [json.loads(l) for l in f if l.strip()]
        for k in ("captures", "skipped", "summary"):
            self.assertEqual(got[k], want[k], k)
        # One NDJSON record per file found, captures and skipped alike.
        self.assertEqual(len(lines), len(want["captures"]) + len(want["skipped"]))


if __name__ == "__main__":
    unittest.main()
