#!/usr/bin/env bash
# Runs `portmortem probe` from the client namespace through real in-path
# devices (the NFQUEUE 227→22_ mangler, the Linux FTP NAT ALG, plain
# routing) against real servers (vsftpd, GNU inetutils ftpd) and against
# `portmortem reflect`, and checks each verdict. Writes the JSON and text
# reports to $OUT (default /tmp/pm-probe) and prints commands sent and
# durations. Needs what make-testdata.sh needs (lab/README.md) and a
# release build (cargo build --release).
#
# The trace-* cases run `probe --trace` over a routed chain with a plain
# router on each side of the device (lib.sh chain_topology).
#
# Usage: lab/probe.sh [CASE...]   (default: all)
set -euo pipefail

source "$(dirname "$0")/lib.sh"
OUT=${OUT:-/tmp/pm-probe}
PM=${PORTMORTEM:-$HERE/../target/release/portmortem}
FAILED=0
mkdir -p "$OUT"

# name firewall server probe-args... ; then a Python expression over the
# report `r` (dict) and its cases `c` (list) that must hold.
probe_case() {
    local name=$1 fw=$2 srv=$3 check=$4
    shift 4
    log "== $name: firewall=$fw server=$srv probe $*"
    ${TOPOLOGY:-topology}
    firewall "$fw"
    server "$srv"
    [ "$srv" = inetutils ] && sleep 5 # its banner comes late
    local t0 rc=0
    t0=$(date +%s%N)
    $CLI "$PM" probe "$@" --format json -o "$OUT/$name.json" -q || rc=$?
    local secs
    secs=$((($(date +%s%N) - t0) / 1000000))e-3
    "$PY" - "$OUT/$name.json" "$check" "$name" "$rc" "$secs" <<'PY' || FAILED=1
import json, sys
path, check, name, rc, secs = sys.argv[1:]
r = json.load(open(path))
c = r["cases"]
t = r["traces"]
between = [x.get("between") for x in t]
bad = [x for x in c if x["outcome"] not in ("intact", "not-evident", "rejected") and
       not (x["outcome"] == "rewritten" and x.get("severity") == "info")]
ok = eval(check)
print(f"[lab] {name}: exit {rc}, {r['commands_sent']} commands, {float(secs):.1f} s, "
      f"{len(bad)} damaged: {sorted(x['name'] for x in bad)[:12]}", file=sys.stderr)
print(f"[lab] {name}: {r['conclusion']}", file=sys.stderr)
if t:
    print(f"[lab] {name}: {r['traced_lines']} lines TTL-limited, hops {[len(x['hops']) for x in t]}, "
          f"between {between}, {float(secs) / len(t):.2f} s a traced line", file=sys.stderr)
if not ok:
    print(f"[lab] {name}: CHECK FAILED: {check}", file=sys.stderr)
    sys.exit(1)
PY
    stop_all
}

# Every damaged case holds "227" in what was sent; every sent "227" in a
# PORT sweep is damaged.
MANGLED='all("227" in x["sent"] for x in bad) and {x["family"] for x in bad if x["value"] == 227} >= {"port-octet-6","port-octet-5"}'

# probe --trace over the routed chain (client, r1, device, r2, server):
# the device is hop 2 each way, so a rewrite there is placed between hops
# 2 and 3 in both directions; the founding lines when nothing else is run.
TO_SERVER='[x["between"] for x in t if x["direction"] == "to-server"]'
TO_CLIENT='[x.get("between") for x in t if x["direction"] == "to-client"]'

all_cases() {
    probe_case mangle-vsftpd mangle vsftpd "$MANGLED" ftp://203.0.113.10
    probe_case mangle-inetutils mangle inetutils "$MANGLED"' and any(x["family"] == "names" for x in bad)' ftp://203.0.113.10
    probe_case mangle-reflect mangle reflect "$MANGLED"' and len([x for x in bad if x["family"] == "names"]) == 4' --reflector ftp://203.0.113.10
    # The kernel helper drops a PORT it can only partly parse: split, and
    # (measured here) bare-LF terminated.
    ALG_DROPS='sorted(x["name"] for x in bad) == ["bare LF terminator", "split across two TCP segments"] and all(x["signature"] == "linux-nf-conntrack-ftp-partial" for x in bad)'
    probe_case alg-vsftpd alg vsftpd "$ALG_DROPS" ftp://203.0.113.10
    # …and, with a reflector to show it, leaves a PORT that follows another
    # command in the same segment untranslated.
    probe_case alg-reflect alg reflect 'sorted(x["name"] for x in bad) == ["after another command in one segment", "bare LF terminator", "split across two TCP segments"] and sum(x.get("rule") == "alg-rewrite" for x in c) >= 768' --reflector ftp://203.0.113.10
    probe_case clean-vsftpd route vsftpd 'not bad and r["altered"] is False' ftp://203.0.113.10
    probe_case clean-reflect route reflect 'not bad and all(x["outcome"] == "intact" for x in c)' --reflector ftp://203.0.113.10
    TOPOLOGY=chain_topology probe_case trace-mangle-reflect mangle-both reflect "$TO_SERVER"' == [[2, 3]] * 2 and '"$TO_CLIENT"' == [[2, 3]] and rc == "1"' --only trace --reflector ftp://203.0.113.10
    TOPOLOGY=chain_topology probe_case trace-mangle-vsftpd mangle vsftpd "$TO_SERVER"' == [[2, 3]] * 2 and rc == "1"' --only trace ftp://203.0.113.10
    # The helper translates PORT at the device; the 227 reply it leaves
    # as it is (the server is not behind the NAT).
    TOPOLOGY=chain_topology probe_case trace-alg-reflect alg reflect "$TO_SERVER"' == [[2, 3]] * 2 and all(h.get("rule") == "alg-rewrite" for x in t for h in x["hops"] if h["seen"] == "changed") and '"$TO_CLIENT"' == [None] and rc == "0"' --only trace --reflector ftp://203.0.113.10
    TOPOLOGY=chain_topology probe_case trace-clean-reflect route reflect 'all(x.get("between") is None and x["reached"] == 4 for x in t) and len(t) == 3 and rc == "0"' --only trace --reflector ftp://203.0.113.10
    # The helper drops a bare-LF PORT: traced, it is quoted by hops 1 and 2
    # and then gets no reply (the split PORT is two segments: not traced).
    TOPOLOGY=chain_topology probe_case trace-alg-vsftpd alg vsftpd '[(x["case"], x["between"], x.get("no_reply")) for x in t] == [("bare LF terminator", [2, 3], 3)] and rc == "1"' --trace --only shapes ftp://203.0.113.10
    # The same with the reflector (what tests/trace.rs runs).
    TOPOLOGY=chain_topology probe_case trace-alg-shapes alg reflect '[(x["between"], x.get("no_reply")) for x in t if x["case"] == "bare LF terminator"] == [([2, 3], 3)] and rc == "1"' --trace --only shapes --reflector ftp://203.0.113.10
    # The founding path: the mangler writes 22_, the helper behind it
    # drops what it cannot parse, the session hangs; traced, both PORTs
    # stop at the device.
    TOPOLOGY=chain_topology probe_case trace-mangle-alg-vsftpd mangle-alg vsftpd '[(x["between"], x.get("no_reply")) for x in t] == [([2, 3], 3)] * 2 and rc == "1"' --only trace ftp://203.0.113.10
    # After the whole plan: each kind of altered line traced once.
    TOPOLOGY=chain_topology probe_case trace-mangle-plan mangle-both reflect 'len(t) >= 3 and all(b == [2, 3] for b in between)' --trace --reflector ftp://203.0.113.10
}



run_cases all_cases probe_case "$@"
exit $FAILED
