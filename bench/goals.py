#!/usr/bin/env python3
"""portmortem against the physical limit, per shape of capture (issue #13).

One command builds (once, in --workdir) or is pointed at the workloads and
prints, for each, CPU and wall medians of interleaved rounds against
`cat FILE > /dev/null` (the cost of reading the file), tcpdump's BPF pass
on port 21 (`tcpdump -r F -w /dev/null 'tcp port 21'`) and tshark on a
slice (its time scaled by frames), with peak RSS; then growth tables
showing time and memory against input size.

Workloads:
  bulk      the 1 GB capture of bench/run.py (bulk FTP-data, HTTPS, DNS
            and 300 real FTP control sessions), `analyze --no-hash`
  sessions  20,000 short real FTP sessions (make_capture.py --sessions),
            `analyze --no-hash -f json` (sessions written as they end)
  compare   `compare --no-hash` of the bulk file with itself, and of the
            20,000 sessions with themselves, against one `analyze`; and at
            1k, 10k, 20k and 100k sessions, with the pairs it compared
  sha256    `analyze` with its SHA-256 against `--no-hash` and against
            `openssl dgst -sha256` (the fastest SHA-256 here)
  watch     `watch` of the bulk file against `analyze` of it
  legs      a capture taken on a device, both legs in one file (make_legs.py:
            6,000 sessions through a 227→22_ mangler, ~40 MB): `analyze`
            of it (the legs compared) against `analyze --one-view` of the
            same bytes plus compare's own cost (`compare` of the two legs
            written apart, less `analyze` of each), issue #32's goal
  spark     (with --spark WHEEL) examples/spark/portmortem_spark.py in
            `local-cluster[2,1,1024]` (two 1 GB executors, a 1 GB driver,
            the package shipped as the wheel) on a many-sessions capture
            of ~500 MB, against `batch -j2`: the same summary, the peak
            RSS of the largest process, and the bytes Spark shuffled

Last, each goal of issue #23 against its figure.

CPU time (user + system of the command alone, from wait4) is stable on a
shared machine; wall time is not, so every ratio is the median of the
per-round ratios of commands run back to back in the same round. Peak
RSS comes from one run under GNU time (a child forked from Python would
report Python's pages).

Usage: bench/goals.py [--workdir DIR] [--rounds 7] [--quick] [--legs-only] [--spark WHEEL [--spark-only]]
  --quick: fewer rounds, no 100k-session file (a smoke run)
  --spark WHEEL: also the Spark job (needs pyspark, pyarrow and Java);
    --spark-only: nothing else
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
sys.path.insert(0, HERE)
from run import BIN, GNU_TIME, ROOT, cpu_name, peak_rss  # noqa: E402


def once(argv):
    """(cpu seconds, wall seconds) of one run of argv, output discarded."""
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, _, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    return ru.ru_utime + ru.ru_stime, wall


def warm(*paths):
    for path in paths:
        with open(path, "rb") as f:
            while f.read(1 << 24):
                pass


def rounds(cmds, n):
    """Runs the named commands interleaved, one of each per round, after a
    warm-up round; returns {name: [(cpu, wall), ...]}."""
    for _, argv in cmds:
        once(argv)
    got = {name: [] for name, _ in cmds}
    for _ in range(n):
        for name, argv in cmds:
            got[name].append(once(argv))
    return got


def med(xs):
    return statistics.median(xs)


def ratio(got, a, b, i):
    """Median over rounds of a's time over b's (i: 0 CPU, 1 wall)."""
    return med(x[i] / y[i] for x, y in zip(got[a], got[b]) if y[i] > 0)


def make(out, *args):
    if os.path.exists(out + ".info"):
        with open(out + ".info") as f:
            return json.load(f)
    print("building %s..." % out, file=sys.stderr)
    r = subprocess.run([sys.executable, os.path.join(HERE, "make_capture.py"), out, *args], check=True, capture_output=True, text=True)
    info = dict(kv.split("=") for kv in r.stdout.split())
    with open(out + ".info", "w") as f:
        json.dump(info, f)
    return info


def frames_of(path):
    """Frames in a classic pcap (record headers walked, payload skipped)."""
    n = 0
    with open(path, "rb") as f:
        f.seek(24)
        while True:
            h = f.read(16)
            if len(h) < 16:
                return n
            f.seek(int.from_bytes(h[8:12], "little"), 1)
            n += 1


def first_frames(src, dst, count):
    """The first `count` frames of src as dst (editcap), once."""
    if not os.path.exists(dst):
        subprocess.run(["editcap", "-r", src, dst, "1-%d" % count], check=True)
    return dst


def table(title, got, base, rss, notes=()):
    print()
    print("### " + title)
    print()
    print("| command | CPU s | wall s | CPU × %s | wall × %s | peak RSS |" % (base, base))
    print("|---|---:|---:|---:|---:|---:|")
    for name in got:
        cpu = med(c for c, _ in got[name])
        wall = med(w for _, w in got[name])
        print("| %s | %.3f | %.3f | %.2f | %.2f | %s |" % (
            name, cpu, wall, ratio(got, name, base, 0), ratio(got, name, base, 1),
            "%.0f MB" % rss[name] if rss.get(name) is not None else "n/a"))
    for n in notes:
        print()
        print(n)


def tshark_scaled(path, slice_frames, total_frames, workdir, tag):
    """tshark -Y ftp on the first slice_frames frames, scaled to the whole
    file by frames: tshark takes minutes and gigabytes on the whole."""
    if not shutil.which("tshark") or not shutil.which("editcap"):
        return None
    part = first_frames(path, os.path.join(workdir, "%s-slice.pcap" % tag), slice_frames)
    warm(part)
    cpu, wall = once(["tshark", "-r", part, "-Y", "ftp"])
    k = total_frames / slice_frames
    return cpu * k, wall * k, slice_frames


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workdir", default=os.path.join(ROOT, "target", "bench"))
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--spark", metavar="WHEEL", help="also run the Spark job, shipping this wheel")
    ap.add_argument("--spark-only", action="store_true")
    ap.add_argument("--legs-only", action="store_true", help="only the two-legs workload")
    args = ap.parse_args()
    if args.legs_only:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
        os.makedirs(args.workdir, exist_ok=True)
        legs(args.workdir, 3 if args.quick else args.rounds)
        return
    if args.spark_only:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
        os.makedirs(args.workdir, exist_ok=True)
        spark(args.spark, args.workdir)
        return
    n = 3 if args.quick else args.rounds

    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    os.makedirs(args.workdir, exist_ok=True)
    w = args.workdir
    big = os.path.join(w, "big.pcap")
    binfo = make(big, "--gb", "1.0")
    many = os.path.join(w, "sessions.pcap")
    make(many, "--sessions", "20000", "--corrupt", "0", "--gb", "0.02")
    bframes = int(binfo["frames"])
    mframes = frames_of(many)

    print("# portmortem against the limit (bench/goals.py)")
    print()
    print("%s; %s, %d cores; files in the page cache; medians of %d interleaved rounds after a warm-up." % (
        time.strftime("%Y-%m-%d"), cpu_name(), os.cpu_count(), n))

    # Bulk.
    warm(big)
    cmds = [
        ("`cat F > /dev/null`", ["cat", big]),
        ("`tcpdump -r F -w /dev/null 'tcp port 21'`", ["tcpdump", "-r", big, "-w", "/dev/null", "tcp port 21"]),
        ("`openssl dgst -sha256 F`", ["openssl", "dgst", "-sha256", big]),
        ("`portmortem analyze --no-hash F`", [BIN, "analyze", "--no-hash", big]),
        ("`portmortem analyze --no-hash -f json -o /dev/null F`", [BIN, "analyze", "--no-hash", "-f", "json", "-o", "/dev/null", big]),
        ("`portmortem analyze F` (SHA-256)", [BIN, "analyze", big]),
        ("`portmortem watch --no-hash -o /dev/null F`", [BIN, "watch", "--no-hash", "-o", "/dev/null", big]),
        ("`portmortem compare --no-hash F F`", [BIN, "compare", "--no-hash", big, big]),
    ]
    got = rounds(cmds, n)
    bulk = got
    rss = {name: peak_rss(argv) for name, argv in cmds}
    notes = []
    ts = tshark_scaled(big, 100000, bframes, w, "big")
    if ts:
        notes.append("tshark -r F -Y ftp, timed on the first %d frames and scaled to %d: %.1f s CPU, %.1f s wall (%.0f× cat)." % (
            ts[2], bframes, ts[0], ts[1], ts[0] / med(c for c, _ in got["`cat F > /dev/null`"])))
    an = "`portmortem analyze --no-hash F`"
    notes.append("compare over one analyze: %.2f× wall, %.2f× CPU; the SHA-256 over --no-hash: %.2f× wall, %.2f× CPU." % (
        ratio(got, "`portmortem compare --no-hash F F`", an, 1), ratio(got, "`portmortem compare --no-hash F F`", an, 0),
        ratio(got, "`portmortem analyze F` (SHA-256)", an, 1), ratio(got, "`portmortem analyze F` (SHA-256)", an, 0)))
    table("Bulk: %s, %.2f GB, %d frames, %s FTP sessions" % (os.path.basename(big), os.path.getsize(big) / 1e9, bframes, binfo["ftp_sessions"]),
          got, "`cat F > /dev/null`", rss, notes)

    # Many sessions.
    warm(many)
    cmds = [
        ("`cat F > /dev/null`", ["cat", many]),
        ("`tcpdump -r F -w /dev/null 'tcp port 21'`", ["tcpdump", "-r", many, "-w", "/dev/null", "tcp port 21"]),
        ("`portmortem analyze --no-hash -f json -o /dev/null F`", [BIN, "analyze", "--no-hash", "-f", "json", "-o", "/dev/null", many]),
        ("`portmortem analyze --no-hash F` (text)", [BIN, "analyze", "--no-hash", many]),
        ("`portmortem compare --no-hash -f json -o /dev/null F F`", [BIN, "compare", "--no-hash", "-f", "json", "-o", "/dev/null", many, many]),
    ]
    got = rounds(cmds, n)
    many_got = got
    rss = {name: peak_rss(argv) for name, argv in cmds}
    many_rss = rss
    js = "`portmortem analyze --no-hash -f json -o /dev/null F`"
    cmp_ = "`portmortem compare --no-hash -f json -o /dev/null F F`"
    notes = ["JSON: %.1f µs a session (CPU); compare over one analyze: %.2f× wall, %.2f× CPU." % (
        med(c for c, _ in got[js]) / 20000 * 1e6, ratio(got, cmp_, js, 1), ratio(got, cmp_, js, 0))]
    ts = tshark_scaled(many, 50000, mframes, w, "sessions")
    if ts:
        notes.append("tshark -r F -Y ftp, timed on the first %d frames and scaled to %d: %.1f s CPU, %.1f s wall." % (ts[2], mframes, ts[0], ts[1]))
    table("Many sessions: %s, %.0f MB, %d frames, 20,000 FTP sessions" % (os.path.basename(many), os.path.getsize(many) / 1e6, mframes),
          got, "`cat F > /dev/null`", rss, notes)

    # Growth: bulk slices.
    print()
    print("### Growth: slices of the bulk file (`analyze --no-hash`)")
    print()
    print("| share | frames | MB | CPU s | CPU × cat | ns a frame | peak RSS |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for share in (8, 4, 2, 1):
        k = bframes // share
        part = big if share == 1 else first_frames(big, os.path.join(w, "big-1of%d.pcap" % share), k)
        warm(part)
        got = rounds([("cat", ["cat", part]), ("pm", [BIN, "analyze", "--no-hash", part])], n)
        cpu = med(c for c, _ in got["pm"])
        print("| 1/%d | %d | %.0f | %.3f | %.2f | %.0f | %.0f MB |" % (
            share, k, os.path.getsize(part) / 1e6, cpu, ratio(got, "pm", "cat", 0), cpu / k * 1e9,
            peak_rss([BIN, "analyze", "--no-hash", part]) or 0))

    # Growth: session counts.
    print()
    print("### Growth: session count (`analyze --no-hash -f json -o /dev/null`; text for RSS beside)")
    print()
    print("| sessions | MB | CPU s | µs a session | CPU × cat | peak RSS (JSON) | peak RSS (text) |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for count in (1000, 10000, 20000) + (() if args.quick else (100000,)):
        path = many if count == 20000 else os.path.join(w, "sessions-%dk.pcap" % (count // 1000))
        make(path, "--sessions", str(count), "--corrupt", "0", "--gb", "%g" % (0.02 * count / 20000))
        warm(path)
        js = [BIN, "analyze", "--no-hash", "-f", "json", "-o", "/dev/null", path]
        got = rounds([("cat", ["cat", path]), ("pm", js)], n)
        cpu = med(c for c, _ in got["pm"])
        print("| %d | %.0f | %.3f | %.1f | %.2f | %.0f MB | %.0f MB |" % (
            count, os.path.getsize(path) / 1e6, cpu, cpu / count * 1e6, ratio(got, "pm", "cat", 0),
            peak_rss(js) or 0, peak_rss([BIN, "analyze", "--no-hash", path]) or 0))
    # Growth: compare at session counts, every session compared?
    print()
    print("### Growth: `compare --no-hash -f ndjson F F` at session counts")
    print()
    print("| sessions | CPU s | × one analyze (CPU) | wall × | pairs | the rest | peak RSS |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for count in (1000, 10000, 20000) + (() if args.quick else (100000,)):
        path = many if count == 20000 else os.path.join(w, "sessions-%dk.pcap" % (count // 1000))
        cm = [BIN, "compare", "--no-hash", "-f", "ndjson", "-o", "/dev/null", path, path]
        an = [BIN, "analyze", "--no-hash", "-f", "json", "-o", "/dev/null", path]
        got = rounds([("an", an), ("cm", cm)], max(1, n // 2))
        pairs, nc = pair_count([BIN, "compare", "--no-hash", "-f", "ndjson", path, path])
        print("| %d | %.3f | %.2f | %.2f | %d | %s | %.0f MB |" % (
            count, med(c for c, _ in got["cm"]), ratio(got, "cm", "an", 0), ratio(got, "cm", "an", 1),
            pairs, nc, peak_rss(cm) or 0))
    if not GNU_TIME:
        print("(peak RSS needs GNU time: apt-get install time)")

    # Against the goals of issue #23.
    cat_b = "`cat F > /dev/null`"
    an_b = "`portmortem analyze --no-hash -f json -o /dev/null F`"
    pm_js = "`portmortem analyze --no-hash -f json -o /dev/null F`"
    cm_js = "`portmortem compare --no-hash -f json -o /dev/null F F`"
    rows = [
        ("bulk `analyze --no-hash -f json -o /dev/null` vs `cat` (CPU)", ratio(bulk, an_b, cat_b, 0), 1.0),
        ("the same vs tcpdump's port-21 pass (CPU)", ratio(bulk, an_b, "`tcpdump -r F -w /dev/null 'tcp port 21'`", 0), 1.0),
        ("`analyze` with SHA-256 vs `openssl dgst -sha256` (wall)", ratio(bulk, "`portmortem analyze F` (SHA-256)", "`openssl dgst -sha256 F`", 1), 1.05),
        ("`watch` vs `analyze` on the same file (CPU)", ratio(bulk, "`portmortem watch --no-hash -o /dev/null F`", "`portmortem analyze --no-hash F`", 0), 1.3),
        ("20,000 sessions, `analyze -f json` vs `cat` (CPU)", ratio(many_got, pm_js, cat_b, 0), 3.0),
        ("20,000 sessions, compare with itself vs one analyze (CPU)", ratio(many_got, cm_js, pm_js, 0), 2.6),
        ("20,000 sessions, compare with itself vs one analyze (wall)", ratio(many_got, cm_js, pm_js, 1), 1.3),
    ]
    print()
    print("### Against the goals")
    print()
    print("| workload | now | goal | met |")
    print("|---|---:|---:|---|")
    for name, now, goal in rows:
        print("| %s | %.2f× | ≤ %.2f× | %s |" % (name, now, goal, "yes" if now <= goal else "**no**"))
    rss_cm = many_rss.get(cm_js)
    if rss_cm is not None:
        print("| 20,000 sessions, compare peak RSS | %.0f MB | ≤ 268 MB (256 MiB) | %s |" % (
            rss_cm, "yes" if rss_cm <= 268 else "**no**"))
    legs_now = legs(w, n)
    print("| one file of two legs, `analyze` vs `analyze --one-view` + compare's own cost (CPU) | %.2f× | ≤ 1.20× | %s |" % (
        legs_now, "yes" if legs_now <= 1.2 else "**no**"))
    if args.spark:
        spark(args.spark, w)


def legs(w, n):
    """Issue #32's goal: reading a two-leg capture costs at most 1.2× an
    analyze of the same bytes plus compare's own cost. Prints the table
    and returns the CPU ratio."""
    one = os.path.join(w, "legs.pcap")
    stem = os.path.splitext(one)[0]
    if not os.path.exists(stem + "-b.pcap"):
        print("building %s..." % one, file=sys.stderr)
        subprocess.run([sys.executable, os.path.join(HERE, "make_legs.py"), one, "--sessions", "6000"],
                       check=True, capture_output=True)
    a, b = stem + "-a.pcap", stem + "-b.pcap"
    warm(one, a, b)
    cmds = [
        ("`cat F > /dev/null`", ["cat", one]),
        ("`portmortem analyze --no-hash F` (legs compared)", [BIN, "analyze", "--no-hash", one]),
        ("`portmortem analyze --no-hash --one-view F`", [BIN, "analyze", "--no-hash", "--one-view", one]),
        ("`portmortem compare --no-hash A B` (the legs apart)", [BIN, "compare", "--no-hash", a, b]),
        ("`portmortem analyze --no-hash A`", [BIN, "analyze", "--no-hash", a]),
        ("`portmortem analyze --no-hash B`", [BIN, "analyze", "--no-hash", b]),
    ]
    got = rounds(cmds, n)
    rss = {name: peak_rss(argv) for name, argv in cmds}
    names = [c[0] for c in cmds]

    def per_round(i):
        # analyze of the legs against analyze of the same bytes as one
        # capture plus what compare costs beyond reading its two captures.
        out = []
        for r in range(n):
            t = {k: got[k][r][i] for k in names}
            own = t[names[3]] - t[names[4]] - t[names[5]]
            base = t[names[2]] + max(own, 0.0)
            if base > 0:
                out.append(t[names[1]] / base)
        return med(out)

    cpu, wall = per_round(0), per_round(1)
    table("One file, two legs (%s, %.0f MB; A and B: its legs written apart)" % (
        os.path.basename(one), os.path.getsize(one) / 1e6), got, names[0], rss, [
        "analyze of the legs over analyze --one-view of the same bytes plus compare's own cost "
        "(compare A B − analyze A − analyze B): %.2f× CPU, %.2f× wall (goal ≤ 1.2×); "
        "over compare of the legs apart: %.2f× CPU." % (cpu, wall, ratio(got, names[1], names[3], 0))])
    return cpu


def spark(wheel, w):
    """The Spark job on a local cluster against `batch -j2` on a
    ~500 MB many-sessions capture."""
    path = os.path.join(w, "sessions-500mb.pcap")
    make(path, "--sessions", "20000", "--corrupt", "6", "--gb", "0.5")
    warm(path)
    t0 = time.perf_counter()
    b = subprocess.run([BIN, "batch", "-j2", "-f", "json", path], capture_output=True, check=False)
    batch_wall = time.perf_counter() - t0
    batch_rss = peak_rss([BIN, "batch", "-j2", "-f", "json", "-o", "/dev/null", path])
    want = json.loads(b.stdout)["summary"]
    out = os.path.join(w, "spark-out")
    argv = [sys.executable, os.path.join(HERE, "spark_job.py"), wheel, out, path]
    t0 = time.perf_counter()
    r = subprocess.run(argv, capture_output=True, check=False, text=True)
    total_wall = time.perf_counter() - t0
    lines = [l for l in r.stdout.splitlines() if l.startswith("{")]
    if not lines:
        print("\nSpark: the job did not finish:\n" + r.stderr[-2000:])
        return
    m = json.loads(lines[-1])
    with open(os.path.join(out, "summary.json")) as f:
        got = json.load(f)
    got.pop("type", None)
    peaks = m["peak_rss_mb"]
    rss = max(peaks.values())
    print()
    print("### Spark: %s, %.0f MB, local-cluster[2,1,1024]" % (os.path.basename(path), os.path.getsize(path) / 1e6))
    print()
    print("| | wall s | peak RSS (largest process) | shuffled | same summary as batch |")
    print("|---|---:|---:|---:|---|")
    print("| `portmortem batch -j2` | %.2f | %s | — | — |" % (batch_wall, "%.0f MB" % batch_rss if batch_rss else "?"))
    print("| Spark job (exit %d) | %.1f (%.1f with the cluster's start and stop) | %s | %d bytes | %s |" % (
        m["exit_code"], m["wall"], total_wall, "%.0f MB" % rss if rss else "?", m["shuffle_write_bytes"],
        "yes" if got == want else "**no**"))
    print()
    print("Peak RSS by process (largest of each kind, MB): %s. Spark read %d bytes as stage input (the path rows), "
          "shuffled %d; `batch` exit %d." % (", ".join("%s %d" % kv for kv in sorted(peaks.items())),
                                             m["input_bytes"], m["shuffle_write_bytes"], b.returncode))


def pair_count(argv):
    """Pairs a compare reported (NDJSON, streamed), and its sessions seen
    at one tap only and not compared, as 'client/server'."""
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    pairs, rest = 0, "?"
    for line in p.stdout:
        if line.startswith(b'{"type":"pair"'):
            pairs += 1
        elif line.startswith(b'{"type":"comparison"'):
            u = json.loads(line)["unmatched"]
            nc = u.get("not_compared", {})
            rest = "%d/%d one tap, %d/%d not compared" % (
                len(u["client_side"]), len(u["server_side"]),
                nc.get("client_side", 0), nc.get("server_side", 0))
    p.wait()
    return pairs, rest


if __name__ == "__main__":
    main()
