#!/usr/bin/env bash
# Writes testdata/tshark-tcp-streams.tsv: for every TCP frame of every
# capture in testdata/, the tcp.stream tshark gives it (the reference
# tests/tcp_stream.rs checks portmortem's numbering against). ICMP errors
# are left out: tshark numbers the TCP header they quote, portmortem does
# not count them as TCP frames.
set -euo pipefail
cd "$(dirname "$0")/.."
out=testdata/tshark-tcp-streams.tsv
printf 'file\tframe\ttcp_stream\n' > "$out"
for f in testdata/*.pcap testdata/*.pcapng testdata/*.bin; do
    # A truncated file makes tshark fail after printing what it read.
    { tshark -r "$f" -Y '!icmp' -T fields -e frame.number -e tcp.stream 2>/dev/null || true; } \
        | awk -v f="$(basename "$f")" -F'\t' '$2 != "" { print f "\t" $1 "\t" $2 }' >> "$out"
done
echo "$(($(wc -l < "$out") - 1)) frames in $out"
