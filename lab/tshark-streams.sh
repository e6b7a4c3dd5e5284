#!/usr/bin/env bash
# Writes tshark's view of testdata/: tshark-tcp-streams.tsv, for every TCP
# frame of every capture, the tcp.stream tshark gives it (the reference
# tests/tcp_stream.rs checks portmortem's numbering against), and
# tshark-legs.tsv (below). ICMP errors are left out: tshark numbers the
# TCP header they quote, portmortem does not count them as TCP frames.
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

# And testdata/tshark-legs.tsv: for every TCP frame of the firewall's own
# captures (lab-fw-*: both legs in one file) and of their per-interface
# pairs, where tshark says it was seen (pcapng interface, Linux cooked
# packet type and interface index, 802.1Q VLAN id) and what identifies
# the packet across legs and files (addresses, TTL, raw sequence numbers,
# length, TCP checksum).
legs=testdata/tshark-legs.tsv
cols="frame.number frame.time_epoch frame.interface_id frame.interface_name sll.pkttype sll.ifindex vlan.id
      ip.src ip.dst ip.ttl tcp.srcport tcp.dstport tcp.flags tcp.seq_raw tcp.ack_raw tcp.len tcp.checksum tcp.stream"
printf 'file\tframe\ttime_epoch\tinterface_id\tinterface_name\tsll_pkttype\tsll_ifindex\tvlan_id\tip_src\tip_dst\tttl\tsport\tdport\ttcp_flags\tseq_raw\tack_raw\ttcp_len\ttcp_checksum\ttcp_stream\n' > "$legs"
for f in testdata/lab-fw-*; do
    # fw monitor files have their own table (below).
    case "$f" in *.snoop) continue ;; esac
    tshark -r "$f" -Y 'tcp && !icmp' -T fields $(printf -- '-e %s ' $cols) 2>/dev/null \
        | awk -v f="$(basename "$f")" '{ print f "\t" $0 }' >> "$legs"
done
echo "$(($(wc -l < "$legs") - 1)) frames in $legs"

# And testdata/tshark-span1.tsv: every TCP frame of the one-direction SPAN
# captures (lab-fw1-*-span1.pcap, `fw_oneway_case`) as tshark reads it:
# the leg (VLAN id, none for the untagged client leg), raw sequence and
# ACK numbers, length, and the FTP command or reply code it carries.
span1=testdata/tshark-span1.tsv
cols="frame.number vlan.id ip.src ip.dst tcp.srcport tcp.dstport tcp.flags tcp.seq_raw tcp.ack_raw tcp.len
      ftp.request.command ftp.request.arg ftp.response.code"
printf 'file\tframe\tvlan_id\tip_src\tip_dst\tsport\tdport\ttcp_flags\tseq_raw\tack_raw\ttcp_len\tcommand\targ\treply_code\n' > "$span1"
for f in testdata/lab-fw1-*-span1.pcap; do
    tshark -r "$f" -Y 'tcp && !icmp' -T fields $(printf -- '-e %s ' $cols) 2>/dev/null \
        | awk -v f="$(basename "$f")" '{ print f "\t" $0 }' >> "$span1"
done
echo "$(($(wc -l < "$span1") - 1)) frames in $span1"

# And testdata/tshark-fw1.tsv: every frame of the Check Point fw monitor
# files (lab/fwmonitor.py) as tshark reads them with the FW-1 dissector
# (-o eth.interpret_as_fw1_monitor:TRUE): the interface and inspection
# point of each, and the same packet columns as tshark-legs.tsv.
fw1=testdata/tshark-fw1.tsv
cols="frame.number frame.time_epoch fw1.interface fw1.direction
      ip.src ip.dst ip.ttl tcp.srcport tcp.dstport tcp.flags tcp.seq_raw tcp.ack_raw tcp.len tcp.checksum tcp.stream"
printf 'file\tframe\ttime_epoch\tfw1_interface\tfw1_direction\tip_src\tip_dst\tttl\tsport\tdport\ttcp_flags\tseq_raw\tack_raw\ttcp_len\ttcp_checksum\ttcp_stream\n' > "$fw1"
for f in testdata/*.snoop; do
    tshark -o eth.interpret_as_fw1_monitor:TRUE -r "$f" -T fields $(printf -- '-e %s ' $cols) 2>/dev/null \
        | awk -v f="$(basename "$f")" '{ print f "\t" $0 }' >> "$fw1"
done
echo "$(($(wc -l < "$fw1") - 1)) frames in $fw1"
