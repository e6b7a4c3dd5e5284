#!/usr/bin/env bash
# Runs `portmortem probe` from the client namespace through real in-path
# devices (the NFQUEUE 227→22_ mangler, the Linux FTP NAT ALG, plain
# routing) against real servers (vsftpd, GNU inetutils ftpd) and against
# `portmortem reflect`, and checks each verdict. Writes the JSON and text
# reports to $OUT (default /tmp/pm-probe) and prints commands sent and
# durations. Needs what make-testdata.sh needs (lab/README.md) and a
# release build (cargo build --release).
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
    topology
    firewall "$fw"
    server "$srv"
    [ "$srv" = inetutils ] && sleep 5 # its banner comes late
    local t0 rc=0
    t0=$(date +%s.%N)
    $CLI "$PM" probe "$@" --format json -o "$OUT/$name.json" -q || rc=$?
    local secs
    secs=$(echo "$(date +%s.%N) - $t0" | bc)
    "$PY" - "$OUT/$name.json" "$check" "$name" "$rc" "$secs" <<'PY' || FAILED=1
import json, sys
path, check, name, rc, secs = sys.argv[1:]
r = json.load(open(path))
c = r["cases"]
bad = [x for x in c if x["outcome"] not in ("intact", "not-evident", "rejected") and
       not (x["outcome"] == "rewritten" and x.get("severity") == "info")]
ok = eval(check)
print(f"[lab] {name}: exit {rc}, {r['commands_sent']} commands, {float(secs):.1f} s, "
      f"{len(bad)} damaged: {sorted(x['name'] for x in bad)[:12]}", file=sys.stderr)
print(f"[lab] {name}: {r['conclusion']}", file=sys.stderr)
if not ok:
    print(f"[lab] {name}: CHECK FAILED: {check}", file=sys.stderr)
    sys.exit(1)
PY
    stop_all
}

# Every damaged case holds "227" in what was sent; every sent "227" in a
# PORT sweep is damaged.
MANGLED='all("227" in x["sent"] for x in bad) and {x["family"] for x in bad if x["value"] == 227} >= {"port-octet-6","port-octet-5"}'

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
}

run_cases all_cases probe_case "$@"
exit $FAILED
