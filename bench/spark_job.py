#!/usr/bin/env python3
"""Runs examples/spark/portmortem_spark.py on a local cluster, for
bench/goals.py: `spark_job.py WHEEL OUTDIR PATH...`. Prints one JSON line:
the job's exit code, wall seconds, and the bytes every stage shuffled and
read as input, from Spark's own status store. Run it under GNU time for
the peak RSS of the largest process (the driver's JVM, an executor's JVM
or a Python worker: all are its descendants)."""
import importlib.util
import json
import os
import shutil
import sys
import time


def main():
    wheel, out, paths = sys.argv[1], sys.argv[2], sys.argv[3:]
    import pyspark
    from pyspark.sql import SparkSession

    here = os.path.dirname(os.path.abspath(__file__))
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    shipped = os.path.join(out, "portmortem.zip")
    shutil.copy(wheel, shipped)
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ.setdefault("SPARK_HOME", os.path.dirname(pyspark.__file__))
    os.environ.pop("PYTHONPATH", None)
    spark = (
        SparkSession.builder.master("local-cluster[2,1,1024]")
        .appName("portmortem-bench")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", "1g")
        .config("spark.archives", shipped + "#portmortem")
        .config("spark.executorEnv.PYTHONPATH", "portmortem")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    spec = importlib.util.spec_from_file_location("job", os.path.join(here, "..", "examples", "spark", "portmortem_spark.py"))
    job = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(job)
    t0 = time.perf_counter()
    code = job.main([*paths, "--summary", os.path.join(out, "summary.json"), "--records", os.path.join(out, "records")])
    wall = time.perf_counter() - t0
    store = spark.sparkContext._jsc.sc().statusStore()
    stages = store.stageList(None)
    shuffle = sum(stages.get(i).shuffleWriteBytes() for i in range(stages.size()))
    read = sum(stages.get(i).inputBytes() for i in range(stages.size()))
    app = spark.sparkContext.applicationId
    spark.stop()
    shutil.rmtree(os.path.join(os.environ["SPARK_HOME"], "work", app), ignore_errors=True)
    print(json.dumps({"exit_code": code, "wall": wall, "shuffle_write_bytes": shuffle, "input_bytes": read}))


if __name__ == "__main__":
    main()
