"""The Spark job (examples/spark/portmortem_spark.py) on a local cluster
(`local-cluster[2,1,1024]`: two executor JVMs of 1 GB, each with its own
Python workers) gives what one `batch` over the same files gives, with the
package reaching the executors only as the shipped wheel.

Needs pyspark, Java, and PORTMORTEM_WHEEL (the wheel .ci/run builds);
the executors' Python must not have portmortem installed (.ci/run
installs it for the tests in a directory of its own, on PYTHONPATH, which
this test takes out of the executors' environment). Skipped, with the
reason, where one is missing."""
import glob
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
WHEEL = os.environ.get("PORTMORTEM_WHEEL", "")

missing = [
    why
    for why, absent in [
        ("pyspark (pip install pyspark)", importlib.util.find_spec("pyspark") is None),
        ("pyarrow", importlib.util.find_spec("pyarrow") is None),
        ("Java 17+", shutil.which("java") is None),
        ("PORTMORTEM_WHEEL, the built wheel (.ci/run sets it)", not os.path.isfile(WHEEL)),
    ]
    if absent
]


def spark_view(schema):
    """The declared Arrow schema as Spark reads its Parquet: uint64 as
    decimal(20,0) (Spark has no unsigned types), timestamp[ns] as bigint
    (with spark.sql.legacy.parquet.nanosAsLong: Spark has no nanosecond
    timestamps)."""
    import pyarrow as pa

    def t(ty):
        if ty == pa.uint64():
            return pa.decimal128(20, 0)
        if pa.types.is_timestamp(ty):
            return pa.int64()
        if pa.types.is_list(ty):
            return pa.list_(pa.field(ty.value_field.name, t(ty.value_type), ty.value_field.nullable))
        if pa.types.is_map(ty):
            return pa.map_(ty.key_type, pa.field(ty.item_field.name, t(ty.item_type), ty.item_field.nullable))
        if pa.types.is_struct(ty):
            return pa.struct([pa.field(f.name, t(f.type), f.nullable) for f in ty])
        return ty

    return pa.schema([pa.field(f.name, t(f.type), f.nullable) for f in schema])


def batch(*paths):
    r = subprocess.run([PM, "batch", "-f", "json", *paths], capture_output=True, check=False)
    return r.returncode, json.loads(r.stdout)


@unittest.skipIf(missing, "needs " + ", ".join(missing))
class LocalCluster(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        import pyspark
        from pyspark.sql import SparkSession

        cls.tmp = tempfile.mkdtemp(prefix="portmortem-spark-")
        # A wheel is a zip of the installed package: shipped as an archive,
        # unpacked in each executor's working directory, put on its path.
        shipped = os.path.join(cls.tmp, "portmortem.zip")
        shutil.copy(WHEEL, shipped)
        os.environ["PYSPARK_PYTHON"] = sys.executable
        os.environ.setdefault("SPARK_HOME", os.path.dirname(pyspark.__file__))
        # The package the tests import stays with the driver.
        os.environ.pop("PYTHONPATH", None)
        cls.spark = (
            SparkSession.builder.master("local-cluster[2,1,1024]")
            .appName("portmortem-test")
            .config("spark.ui.enabled", "false")
            .config("spark.driver.memory", "1g")
            .config("spark.archives", shipped + "#portmortem")
            .config("spark.executorEnv.PYTHONPATH", "portmortem")
            # Spark reads no Parquet timestamp in nanoseconds but as
            # nanoseconds since 1970 (bigint).
            .config("spark.sql.legacy.parquet.nanosAsLong", "true")
            # The dataset's partition values (capture=<SHA-256>) are text.
            .config("spark.sql.sources.partitionColumnTypeInference.enabled", "false")
            .getOrCreate()
        )
        cls.spark.sparkContext.setLogLevel("ERROR")
        spec = importlib.util.spec_from_file_location("portmortem_spark", JOB)
        cls.job = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(cls.job)

    @classmethod
    def tearDownClass(cls):
        app = cls.spark.sparkContext.applicationId
        cls.spark.stop()
        # local-cluster's executors work under SPARK_HOME/work.
        shutil.rmtree(os.path.join(os.environ["SPARK_HOME"], "work", app), ignore_errors=True)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_executors_import_the_shipped_wheel(self):
        where = self.spark.sparkContext.parallelize(range(4), 4).map(lambda _: __import__("portmortem").__file__).collect()
        for w in where:
            # <executor's working directory>/portmortem/portmortem/__init__.py
            self.assertRegex(w, r"/work/app-[^/]+/\d+/portmortem/portmortem/__init__\.py$")

    def run_job(self, *args):
        return self.job.main(list(args))

    def test_the_job_equals_one_batch_and_merge_reads_its_records(self):
        """With hidden, underscore and empty files beside the captures,
        which Spark's file sources would leave out and batch counts."""
        archive = os.path.join(self.tmp, "archive")
        shutil.copytree(TD, archive)
        shutil.copy(os.path.join(TD, "lab-mangle-vsftpd-client.pcap"), os.path.join(archive, ".hidden.pcap"))
        shutil.copy(os.path.join(TD, "lab-mangle-inetutils-client.pcap"), os.path.join(archive, "_under.pcap"))
        open(os.path.join(archive, "empty.pcap"), "wb").close()
        code, want = batch(archive)
        summary = os.path.join(self.tmp, "out", "summary.json")
        records = os.path.join(self.tmp, "out", "records")
        got = self.run_job(archive, "--summary", summary, "--records", records)
        self.assertEqual(got, code)
        self.assertEqual(code, 2)  # hand-truncated.pcap cannot be read whole
        with open(summary) as f:
            line = json.load(f)
        self.assertEqual(line.pop("type"), "summary")
        self.assertEqual(line, want["summary"])
        self.assertEqual(line["captures"] + line["skipped_files"], sum(len(f) for _, _, f in os.walk(archive)))
        parts = sorted(glob.glob(os.path.join(records, "part-*")))
        merged = subprocess.run([PM, "merge", "-f", "json", *parts], capture_output=True, check=False)
        doc = json.loads(merged.stdout)
        for k in ("captures", "skipped", "summary"):
            self.assertEqual(doc[k], want[k], k)
        # The summary is written through Hadoop: not over an existing input.
        with self.assertRaises(SystemExit):
            self.run_job(archive, "--summary", os.path.join(archive, "hand-truncated.pcap"))

    def test_uris_are_listed_by_hadoop_and_read_by_the_executors(self):
        """`file:` URIs take the path of any other Hadoop URI (listing
        through the FileSystem API, reading through pyarrow/fsspec on the
        executors): the same summary, with files named by URI."""
        code, want = batch(TD)
        out = os.path.join(self.tmp, "uri-summary.json")
        got = self.run_job("file://" + TD, "--summary", "file://" + out)
        self.assertEqual(got, code)
        with open(out) as f:
            line = json.load(f)
        line.pop("type")
        text = json.dumps(line).replace("file:" + TD, TD)
        self.assertEqual(json.loads(text), want["summary"])

    def test_other_uris_are_read_in_chunks_through_a_file_object(self):
        import portmortem

        path = os.path.join(TD, "lab-mangle-vsftpd-client.pcap")
        with self.job.open_uri("file://" + path) as f:
            rec = portmortem.batch_record(f, index=3, path="s3a://bucket/x.pcap")
        want = portmortem.batch_record(path, index=3, path="s3a://bucket/x.pcap")
        self.assertEqual(rec, want)

    def test_a_parquet_dataset_of_every_capture_reads_as_one(self):
        """Spark reads the tables of every testdata capture, appended into
        one dataset, with mergeSchema off: the declared schema, and every
        non-null value counted."""
        import portmortem
        from pyspark.sql import functions as F
        from pyspark.sql.pandas.types import from_arrow_schema

        ds = os.path.join(self.tmp, "dataset")
        want = {}
        for path in sorted(glob.glob(os.path.join(TD, "*.pcap*"))):
            doc = portmortem.analyze(path)
            portmortem.write_parquet(doc, ds, mode="append")
            want[doc["captures"][0]["sha256"]] = portmortem.tables(doc)
        for name, schema in portmortem.schema().items():
            df = (
                self.spark.read.option("mergeSchema", "false")
                .option("basePath", os.path.join(ds, name))
                .parquet(os.path.join(ds, name))
            )
            declared = from_arrow_schema(spark_view(schema), prefer_timestamp_ntz=False)
            got = {f.name: f.dataType.simpleString() for f in df.schema.fields}
            exp = {f.name: f.dataType.simpleString() for f in declared.fields}
            self.assertEqual(got, exp, name)
            rows = [r for t in want.values() for r in t[name]]
            self.assertEqual(df.count(), len(rows), name)
            counts = df.select([F.count(F.col(c)).alias(c) for c in df.columns if c != "capture"]).collect()[0].asDict()
            for c, n in counts.items():
                self.assertEqual(n, sum(1 for r in rows if r.get(c) is not None), f"{name}.{c}")


if __name__ == "__main__":
    unittest.main()
