#!/usr/bin/env bash
# Runs `portmortem watch -i` live on the client's veth while a real active
# transfer goes through the NFQUEUE 227→22_ mangler to vsftpd, and checks
# that the finding arrives within a second of the session's end and that
# the evidence files are written. Needs what make-testdata.sh needs and a
# build with live capture: cargo build --release --features live.
#
# Usage: sudo lab/watch.sh      (writes to $OUT, default /tmp/pm-watch)
set -euo pipefail

source "$(dirname "$0")/lib.sh"
OUT=${OUT:-/tmp/pm-watch}
PM=${PORTMORTEM:-$HERE/../target/release/portmortem}
rm -rf "$OUT" && mkdir -p "$OUT/evidence"

topology
firewall mangle
server vsftpd
events=$OUT/events.ndjson
: >"$events"
$CLI "$PM" watch -i cli0 --stats-every 5 --evidence-dir "$OUT/evidence" -o "$events" &
WATCH=$!
PIDS+=("$WATCH")
for _ in $(seq 50); do grep -q capture-opened "$events" && break; sleep 0.1; done
grep -q capture-opened "$events" || { log "watch did not start"; exit 1; }

log "client: active transfer to port 32227 (125,227) through the mangler"
$CLI "$PY" "$HERE/ftpclient.py" active || true
done_at=$(date +%s.%N)
found=""
for _ in $(seq 100); do
    if grep -q '"type":"finding"' "$events"; then
        found=$(date +%s.%N)
        break
    fi
    sleep 0.02
done
kill -INT "$WATCH" 2>/dev/null || true
wait "$WATCH" 2>/dev/null || true

"$PY" - "$events" "$OUT/evidence" "$done_at" "${found:-0}" <<'PY'
import json, os, sys
events, evdir, done_at, found = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
ev = [json.loads(l) for l in open(events)]
findings = [e for e in ev if e["type"] == "finding"]
evidence = [e for e in ev if e["type"] == "evidence"]
rules = sorted({f["rule"] for f in findings})
files = sorted(os.listdir(evdir))
latency = found - done_at if found else None
print(f"[lab] watch: findings {rules}; evidence files {files}; "
      f"finding written {latency:.3f} s after the client finished" if latency is not None
      else f"[lab] watch: no finding; events {[e['type'] for e in ev]}", file=sys.stderr)
ok = ("port-silently-truncated" in rules and latency is not None and latency < 1.0
      and any(f.endswith(".pcapng") for f in files) and any(f.endswith(".md") for f in files)
      and ev[-1]["type"] == "capture-closed" and ev[-1]["why"] == "interrupted")
sys.exit(0 if ok else 1)
PY
