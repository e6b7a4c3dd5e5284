#!/usr/bin/env python3
"""portmortem benchmark: throughput, packets/s and peak RSS, side by side
with `cat` (the cost of reading) and `tshark -Y ftp` (the usual tool).

Builds (once, in --workdir) a >= 1 GB capture of mostly bulk TCP and DNS
with 300 real FTP control sessions from the lab, 6 of them corrupted
(227 -> 22_); the same traffic rotated into ~200 files for `batch`; and a
capture of a million FTP connections that never close (flow-table worst
case). Every figure is the median of at least --runs runs (more for
short ones, until 3 s were measured) after a warm-up run, with the files
in the page cache; peak RSS comes from GNU time. Also checks that the analysis
found exactly what was put in.

Usage: bench/run.py [--gb 1.0] [--workdir DIR] [--runs 5] [--no-tshark]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BIN = os.path.join(ROOT, "target", "release", "portmortem")


GNU_TIME = shutil.which("time", path="/usr/bin:/bin")


def run(cmd):
    """Seconds of one run, timed from here without any wrapper (GNU time
    adds ~15 ms a run, which would shrink the speed-up of short runs)."""
    argv = cmd if isinstance(cmd, list) else ["sh", "-c", cmd]
    t0 = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - t0


def peak_rss(cmd):
    """Peak RSS in MB of one run, or None without GNU time. It has to be
    GNU time: wait4() from here would report this Python process's own
    peak, which a forked child inherits until exec."""
    if not GNU_TIME:
        return None
    argv = cmd if isinstance(cmd, list) else ["sh", "-c", cmd]
    rss_file = os.path.join(os.environ.get("TMPDIR", "/tmp"), "portmortem-bench-rss.%d" % os.getpid())
    subprocess.run([GNU_TIME, "-f", "%M", "-o", rss_file] + argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    with open(rss_file) as f:
        rss = int(f.read().split()[-1]) / 1024.0
    os.remove(rss_file)
    return rss


def measure(cmds, runs):
    """Median seconds and peak RSS of each command: the warm-up run gives
    the peak RSS, then at least `runs` timed rounds, and more (up to 40)
    until 3 s were measured, because a run of 0.15 s varies by tens of
    percent on a shared machine. Several commands run interleaved, one of
    each per round, so a slow spell of the machine hits them alike and
    their ratio stays fair."""
    rss = [peak_rss(cmd) for cmd in cmds]
    secs = [[] for _ in cmds]
    while len(secs[0]) < runs or (sum(secs[0]) < 3.0 and len(secs[0]) < 40):
        for cmd, out in zip(cmds, secs):
            out.append(run(cmd))
    return [(statistics.median(out), r) for out, r in zip(secs, rss)], secs


def make(args, out, *extra):
    r = subprocess.run([sys.executable, os.path.join(HERE, "make_capture.py"), out, "--gb", str(args.gb), *extra], check=True, capture_output=True, text=True)
    info = dict(kv.split("=") for kv in r.stdout.split())
    with open(out + ".info", "w") as f:
        json.dump(info, f)
    return info


def load_info(path):
    with open(path + ".info") as f:
        return json.load(f)


def size_of(path):
    if os.path.isdir(path):
        return sum(os.path.getsize(os.path.join(path, n)) for n in os.listdir(path) if n.endswith(".pcap"))
    return os.path.getsize(path)


def warm(path):
    files = [os.path.join(path, n) for n in os.listdir(path)] if os.path.isdir(path) else [path]
    for f in files:
        with open(f, "rb") as fh:
            while fh.read(1 << 24):
                pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gb", type=float, default=1.0)
    ap.add_argument("--workdir", default=os.path.join(ROOT, "target", "bench"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--no-tshark", action="store_true")
    args = ap.parse_args()

    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    os.makedirs(args.workdir, exist_ok=True)
    big = os.path.join(args.workdir, "big.pcap")
    split = os.path.join(args.workdir, "split")
    conns = os.path.join(args.workdir, "connections.pcap")
    if not os.path.exists(big + ".info"):
        print("building %s (%.1f GB)..." % (big, args.gb), file=sys.stderr)
        make(args, big)
    if not os.path.exists(split + ".info"):
        print("building %s..." % split, file=sys.stderr)
        make(args, split, "--split", "200")
    if not os.path.exists(conns + ".info"):
        print("building %s..." % conns, file=sys.stderr)
        r = subprocess.run([sys.executable, os.path.join(HERE, "make_capture.py"), conns, "--connections", "1000000"], check=True, capture_output=True, text=True)
        with open(conns + ".info", "w") as f:
            json.dump(dict(kv.split("=") for kv in r.stdout.split()), f)
    info, sinfo, cinfo = load_info(big), load_info(split), load_info(conns)
    frames, sframes, cframes = int(info["frames"]), int(sinfo["frames"]), int(cinfo["frames"])

    # What the analysis must find: every spliced session, and exactly the
    # corrupted ones with error findings.
    out = subprocess.run([BIN, "analyze", "--no-hash", "-f", "json", big], capture_output=True, check=False).stdout
    doc = json.loads(out)
    failing = {f["session"] for f in doc["findings"] if f["severity"] == "error"}
    ok = len(doc["sessions"]) == int(info["ftp_sessions"]) and len(failing) == int(info["corrupted_sessions"])
    print("check: %d FTP sessions found (%s put in), %d with error findings (%s corrupted): %s" % (len(doc["sessions"]), info["ftp_sessions"], len(failing), info["corrupted_sessions"], "OK" if ok else "MISMATCH"))

    rows = []

    speedups = []

    def rows_of(named_cmds, path, nframes, runs=args.runs):
        """Measures the commands interleaved on one input; returns the
        seconds of every round, per command."""
        warm(path)
        mb = size_of(path) / 1e6
        stats, rounds = measure([c for _, c in named_cmds], runs)
        for (name, _), (secs, rss) in zip(named_cmds, stats):
            rows.append((name, secs, mb / secs, nframes / secs, rss))
            print("  %-46s %6.2f s" % (name, secs), file=sys.stderr)
        return rounds

    rows_of([("cat FILE > /dev/null", "cat %s > /dev/null" % big)], big, frames)
    rows_of([("portmortem analyze --no-hash FILE", [BIN, "analyze", "--no-hash", big])], big, frames)
    rows_of([("portmortem analyze FILE (SHA-256 beside)", [BIN, "analyze", big])], big, frames)
    # watch: the same file as a stream on standard input, events to a pipe.
    rows_of([("portmortem watch --no-hash - < FILE", "%s watch --no-hash --stats-every 0 - < %s > /dev/null" % (BIN, big))], big, frames)
    if not args.no_tshark and shutil.which("tshark"):
        rows_of([("tshark -r FILE -Y ftp", "tshark -r %s -Y ftp > /dev/null" % big)], big, frames, runs=1)
    for label, flags in (("without hashing", ["--no-hash"]), ("with SHA-256 inline", [])):
        tag = "--no-hash " if flags else ""
        what = "(%s files)" % sinfo["files"] if flags else "(SHA-256 inline)"
        one, two = rows_of([("portmortem batch %s-j%d DIR %s" % (tag, j, what), [BIN, "batch", *flags, "-j", str(j), split]) for j in (1, 2)], split, sframes)
        # The median of the per-round ratios: each round ran both back to
        # back, so a slow spell of the machine cancels out.
        speedups.append((label, statistics.median(a / b for a, b in zip(one, two))))
    rows_of([("portmortem batch -j1 1M-connections capture", [BIN, "batch", "-j", "1", conns])], conns, cframes, runs=1)
    # The memory bound: the same million connections under two budgets.
    for mb in (256, 64):
        rows_of([("portmortem analyze --max-memory-mb %d 1M-connections" % mb,
                  [BIN, "analyze", "--no-hash", "-f", "json", "-o", "/dev/null", "--max-memory-mb", str(mb), conns])],
                conns, cframes, runs=1)
    # watch keeps nothing per ended session: memory over a stream of a
    # million connections that never close (idle ones expire by the
    # capture's clock) against analyze's default budget above.
    rows_of([("portmortem watch --idle-timeout 60 1M-connections",
              "%s watch --no-hash --stats-every 0 --idle-timeout 60 - < %s > /dev/null" % (BIN, conns))],
            conns, cframes, runs=1)
    # A day of FTP traffic, time-compressed (a session every 2 s of capture
    # time, 1 in 50 abandoned, 1 in 250 broken): watch's memory must not
    # grow with the hours followed. Same table, plus a growth table.
    day_rows = []
    for hours in (3, 6, 12, 24):
        day = os.path.join(args.workdir, "day-%dh.pcap" % hours)
        if not os.path.exists(day + ".info"):
            print("building %s..." % day, file=sys.stderr)
            with open(day, "wb") as f:
                r = subprocess.run([sys.executable, os.path.join(HERE, "day_stream.py"), "--hours", str(hours)], stdout=f, stderr=subprocess.PIPE, text=True, check=True)
            with open(day + ".info", "w") as f:
                json.dump(dict(kv.split("=") for kv in r.stderr.split()), f)
        dinfo = load_info(day)
        cmd = "%s watch --no-hash --stats-every 0 - < %s" % (BIN, day)
        warm(day)
        rss = peak_rss(cmd + " > /dev/null")
        events = subprocess.run(["sh", "-c", cmd], capture_output=True, check=False).stdout.decode().splitlines()
        last = [json.loads(l) for l in events if '"type":"stats"' in l][-1]
        found = sum(1 for l in events if '"type":"finding"' in l)
        day_rows.append((hours, int(dinfo["sessions"]), size_of(day) / 1e6, rss, last.get("heap_bytes"), found))
        print("  watch, %2d h of capture: %s" % (hours, "%.0f MB" % rss if rss else "n/a"), file=sys.stderr)

    # compare costs two analyses plus matching: 20,000 sessions with themselves.
    many = os.path.join(args.workdir, "sessions.pcap")
    if not os.path.exists(many + ".info"):
        print("building %s..." % many, file=sys.stderr)
        make(args, many, "--sessions", "20000", "--corrupt", "0", "--gb", "0.02")
    minfo = load_info(many)
    rows_of([("portmortem analyze --no-hash -f json 20k sessions", [BIN, "analyze", "--no-hash", "-f", "json", "-o", "/dev/null", many]),
             ("portmortem compare --no-hash -f json 20k x 20k", [BIN, "compare", "--no-hash", "-f", "json", "-o", "/dev/null", many, many])],
            many, int(minfo["frames"]), runs=3)

    print()
    print("File: %s, %.2f GB, %d frames, %s FTP sessions (%s corrupted); %s files of it for batch." % (os.path.basename(big), size_of(big) / 1e9, frames, info["ftp_sessions"], info["corrupted_sessions"], sinfo["files"]))
    print("CPU: %s, %d cores; files in the page cache; median of at least %d runs after a warm-up." % (cpu_name(), os.cpu_count(), args.runs))
    print()
    print("| command | seconds | MB/s | packets/s | peak RSS |")
    print("|---|---:|---:|---:|---:|")
    for name, secs, mbs, pps, rss in rows:
        print("| `%s` | %.2f | %s | %s | %s |" % (name, secs, fmt(mbs), fmt(pps), "%.0f MB" % rss if rss is not None else "n/a"))
    if not GNU_TIME:
        print("(peak RSS needs GNU time: apt-get install time)")
    for label, ratio in speedups:
        print("batch speed-up, 2 jobs over 1 %s: %.2fx" % (label, ratio))
    print()
    print("watch over a day of FTP (bench/day_stream.py, time-compressed; heap in use at the end, from the last `stats` event):")
    print()
    print("| capture time | sessions | MB | peak RSS | heap at end | findings |")
    print("|---:|---:|---:|---:|---:|---:|")
    for hours, sessions, mb, rss, heap, found in day_rows:
        print("| %d h | %d | %.0f | %s | %s | %d |" % (hours, sessions, mb, "%.1f MB" % rss if rss is not None else "n/a", "%.2f MB" % (heap / 1e6) if heap else "n/a", found))
    sys.exit(0 if ok else 1)


def fmt(x):
    return "{:,.0f}".format(x)


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    main()
