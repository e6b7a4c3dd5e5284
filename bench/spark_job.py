#!/usr/bin/env python3
"""Runs examples/spark/portmortem_spark.py on a local cluster, for
bench/goals.py: `spark_job.py WHEEL OUTDIR PATH...`. Prints one JSON line:
the job's exit code, wall seconds, the bytes every task shuffled and read
as input (from Spark's event log), and the peak RSS (VmHWM) of the
largest process of each kind: this driver, its JVM, the executors' JVMs
and their Python workers (all descendants of this process, read from
/proc before the cluster stops)."""
import importlib.util
import json
import os
import re
import shutil
import sys
import time


def peaks():
    """MB of the largest peak RSS per kind of process below this one."""
    procs = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/status") as f:
                st = f.read()
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        hwm = re.search(r"VmHWM:\s+(\d+)", st)
        procs[int(pid)] = (int(re.search(r"PPid:\s+(\d+)", st).group(1)), int(hwm.group(1)) if hwm else 0, cmd)
    me = os.getpid()

    def below(pid):
        for _ in range(64):
            pid = procs.get(pid, (0,))[0]
            if pid == me:
                return True
            if pid <= 1:
                return False
        return False

    out = {"driver (Python)": procs.get(me, (0, 0))[1]}
    for pid, (_, hwm, cmd) in procs.items():
        if not below(pid):
            continue
        if "CoarseGrainedExecutorBackend" in cmd:
            kind = "executor JVM"
        elif "java" in cmd:
            kind = "driver JVM"
        elif "pyspark" in cmd or "python" in cmd:
            kind = "Python worker"
        else:
            continue
        out[kind] = max(out.get(kind, 0), hwm)
    return {k: round(v / 1024) for k, v in out.items()}


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
        .config("spark.eventLog.enabled", "true")
        .config("spark.eventLog.dir", "file://" + out)
        .config("spark.eventLog.compress", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    spec = importlib.util.spec_from_file_location("job", os.path.join(here, "..", "examples", "spark", "portmortem_spark.py"))
    job = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(job)
    t0 = time.perf_counter()
    code = job.main([*paths, "--summary", os.path.join(out, "summary.json"), "--records", os.path.join(out, "records")])
    wall = time.perf_counter() - t0
    rss = peaks()
    app = spark.sparkContext.applicationId
    spark.stop()
    shutil.rmtree(os.path.join(os.environ["SPARK_HOME"], "work", app), ignore_errors=True)
    # Every task's metrics, from Spark's event log.
    shuffle = read = 0
    for name in os.listdir(out):
        if not name.startswith(app):
            continue
        with open(os.path.join(out, name)) as f:
            for line in f:
                e = json.loads(line)
                if e.get("Event") == "SparkListenerTaskEnd":
                    m = e.get("Task Metrics") or {}
                    shuffle += (m.get("Shuffle Write Metrics") or {}).get("Shuffle Bytes Written", 0)
                    read += (m.get("Input Metrics") or {}).get("Bytes Read", 0)
    print(json.dumps({"exit_code": code, "wall": wall, "shuffle_write_bytes": shuffle, "input_bytes": read, "peak_rss_mb": rss}), flush=True)


if __name__ == "__main__":
    main()
