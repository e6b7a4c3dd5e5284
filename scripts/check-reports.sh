#!/usr/bin/env bash
# Checks the reports with the tools their readers use (run by .ci/run,
# which installs them): the HTML report in a real browser — headless
# Chromium renders it, the DOM must hold the verdict and the finding, and a
# screenshot is kept to look at — and, in tshark, the evidence pcapng and
# every Wireshark filter the Markdown reports hand out.
# Usage: scripts/check-reports.sh [OUTDIR]   (default target/report-check)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/report-check}
mkdir -p "$out"
cargo build --quiet
pm=target/debug/portmortem
fail() { echo "check-reports: $*" >&2; exit 1; }
# Exit 1 only means "error findings"; anything else is a failure.
run() { "$@" || [ $? -eq 1 ] || fail "$* failed"; }

client=testdata/lab-mangle-inetutils-client.pcap
server=testdata/lab-mangle-inetutils-server.pcap
run $pm compare -f html -o "$out/compare.html" $client $server
run $pm compare -f markdown -o "$out/compare.md" $client $server
run $pm analyze -f html -o "$out/analyze.html" testdata/lab-mangle-vsftpd-client.pcap

browser() {
    local profile
    profile=$(mktemp -d)
    chromium --headless --no-sandbox --disable-gpu --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$profile" --hide-scrollbars "$@" 2>/dev/null
    rm -rf "$profile"
}
run $pm analyze -f html -o "$out/long-lines.html" testdata/hand-long-lines.pcap
run $pm analyze -f html -o "$out/hostile.html" testdata/hand-hostile-bytes.pcap
run $pm batch -f html -o "$out/batch.html" testdata/hand-onset
# Every testdata capture at once: years apart, so the timeline has gaps.
$pm batch -o "$out/archive.html" testdata 2>/dev/null || [ $? -le 2 ] || fail "batch testdata failed"

# A copy of a report with a script that measures it as laid out: how far
# the page scrolls sideways, and how many rule ids, addresses or times
# wrapped.
measure() {
    local page=$1 width=$2
    sed 's#</body>#<script>const d=document.documentElement;const broken=[...document.querySelectorAll("code.id, time")].filter(e=>e.getClientRects().length>1).length;document.body.setAttribute("data-measure",(d.scrollWidth-d.clientWidth)+" "+broken);</script></body>#' \
        "$out/$page.html" > "$out/$page.measure.html"
    browser --window-size="$width,2400" --dump-dom "file://$PWD/$out/$page.measure.html" |
        sed -n 's/.*data-measure="\([^"]*\)".*/\1/p'
}
for r in compare analyze long-lines hostile batch archive; do
    browser --dump-dom "file://$PWD/$out/$r.html" > "$out/$r.dom"
    grep -q 'id="verdict"' "$out/$r.dom" || fail "$r.html: no verdict in the rendered page"
    grep -q 'class="headline"' "$out/$r.dom" || fail "$r.html: the verdict has no headline"
    for w in 1400 400; do
        browser --window-size=$w,2400 --screenshot="$PWD/$out/$r-$w.png" "file://$PWD/$out/$r.html" >/dev/null
        [ -s "$out/$r-$w.png" ] || fail "$r.html: no screenshot at $w px"
        m=$(measure "$r" $w)
        [ "$m" = "0 0" ] || fail "$r.html at $w px: scrolls sideways by ${m% *} px, or ${m#* } rule id(s)/address(es)/time(s) broken mid-token"
    done
done
grep -q 'class="legend"' "$out/compare.dom" || fail "compare.html: the ladder has no legend"
grep -q 'port-octet-mangled' "$out/compare.dom" || fail "compare.html: the finding is not in the page"
grep -q '<mark class="chg">_</mark>' "$out/compare.dom" || fail "compare.html: the changed byte is not marked"
grep -q 'port-silently-truncated' "$out/analyze.dom" || fail "analyze.html: the finding is not in the page"
grep -q 'class="timeline"' "$out/batch.dom" || fail "batch.html: no timeline drawn"
grep -q 'class="tl-legend"' "$out/batch.dom" || fail "batch.html: the timeline has no legend"
grep -q 'class="tl-y"' "$out/batch.dom" || fail "batch.html: the timeline has no scale"
grep -q 'class="gap"' "$out/archive.dom" || fail "archive.html: the years without setups are not drawn as a gap"
grep -q '<a href="https://' "$out/analyze.dom" || fail "analyze.html: the signature's sources are not links"
grep -q 'since 2026-11-03T13:20:01' "$out/batch.dom" || fail "batch.html: the onset is not in the page"

# probe's HTML report, from a probe of `reflect` on loopback.
log=$(mktemp)
$pm reflect --listen 127.0.0.1:0 --quiet 2>"$log" &
reflect_pid=$!
for _ in $(seq 50); do grep -q 'listening on' "$log" && break; sleep 0.1; done
addr=$(sed -n 's/.*listening on //p' "$log")
[ -n "$addr" ] || fail "reflect did not start"
$pm probe --reflector "ftp://$addr" --only shapes,passive --trace -q -f html -o "$out/probe.html" || fail "probe failed"
kill "$reflect_pid"
rm -f "$log"
browser --dump-dom "file://$PWD/$out/probe.html" > "$out/probe.dom"
grep -q 'id="verdict"' "$out/probe.dom" || fail "probe.html: no verdict in the rendered page"
grep -q 'did not damage any test line' "$out/probe.dom" || fail "probe.html: the conclusion is not in the page"
grep -q '<h2>line shapes (5 tests)</h2>' "$out/probe.dom" || fail "probe.html: no table of line shapes"
# The trace of the founding 227 reply (with or without the raw socket it
# needs: without, its section says why it ended).
grep -q '<h2>trace to the client' "$out/probe.dom" || fail "probe.html: no trace of the reply"

# The evidence capture opens in tshark and carries the finding's comments.
# Exit 1: s1 has an error finding (extract keeps the exit codes).
rc=0
$pm extract testdata/lab-mangle-vsftpd-client.pcap -s s1 --with-data -o "$out/evidence.pcapng" 2>/dev/null || rc=$?
[ "$rc" -eq 1 ] || { echo "check-reports: extract exited $rc, want 1" >&2; exit 1; }
# The finding's frames, tshark's numbers in the original: the PORT (13),
# its 200 (14), the RETR (15), the SYN to the wrong port and its RST (16,
# 17) and the 425 (18) - the failed transfer is the same event.
n=$(tshark -r "$out/evidence.pcapng" -Y 'frame.comment contains "port-silently-truncated"' 2>/dev/null | wc -l)
[ "$n" -eq 6 ] || fail "evidence.pcapng: $n frames with the finding's comment, expected 6"
bad=$(tshark -r "$out/evidence.pcapng" -o tcp.check_checksum:TRUE -Y 'tcp.checksum.status == 0' 2>/dev/null | wc -l)
[ "$bad" -eq 0 ] || fail "evidence.pcapng: $bad bad TCP checksums"

# The Community ID of a session is the one tshark computes for its flow.
cid=$($pm analyze -f ndjson testdata/lab-mangle-vsftpd-client.pcap | python3 -c "import json,sys; print(next(l['community_id'] for l in map(json.loads, sys.stdin) if l['type'] == 'session'))" || true)
theirs=$(tshark -r testdata/lab-mangle-vsftpd-client.pcap --enable-protocol communityid -Y 'tcp.port == 21' -T fields -e communityid 2>/dev/null | sort -u)
[ -n "$cid" ] && [ "$cid" = "$theirs" ] || fail "community_id: ours '$cid', tshark's '$theirs'"

# Every filter of every finding shows exactly the finding's frames (all
# of them where the list is whole; those it names where it ends "… (+N)").
checked=0
for cap in testdata/lab-*-client.pcap testdata/lab-*-server.pcap testdata/hand-*.pcap; do
    md=$($pm analyze -f markdown "$cap" 2>/dev/null || true)
    frames=""
    while IFS= read -r line; do
        case "$line" in
        "- **Where:** "*) frames=${line##*frames } ;;
        "- **Wireshark filter:** \`"*)
            filter=${line#*\`}
            filter=${filter%\`}
            got=$(tshark -r "$cap" -Y "$filter" -T fields -e frame.number 2>/dev/null | tr '\n' ' ')
            for f in ${frames//,/ }; do
                # A long list ends "… (+N)": check the frames it names.
                case $f in *[!0-9]*) continue ;; esac
                case " $got " in *" $f "*) ;; *) fail "$cap: filter '$filter' does not show frame $f (shows: $got)" ;; esac
            done
            case $frames in
            *…*) ;;
            *)
                want=$(echo "${frames//,/ }" | tr ' ' '\n' | grep . | sort -n | tr '\n' ' ')
                [ "$(echo "$got" | tr ' ' '\n' | grep . | sort -n | tr '\n' ' ')" = "$want" ] ||
                    fail "$cap: filter '$filter' shows $got, the finding claims $want"
                ;;
            esac
            checked=$((checked + 1))
            ;;
        esac
    done <<< "$md"
done
[ "$checked" -gt 10 ] || fail "only $checked filters checked"
echo "check-reports: HTML rendered in $(chromium --version 2>/dev/null | head -1); evidence and $checked filters checked with $(tshark --version 2>/dev/null | head -1 | cut -d' ' -f1-3); output in $out"
