#!/usr/bin/env bash
# Regenerates testdata/lab-*.pcap: real FTP servers (vsftpd, GNU inetutils
# ftpd, pyftpdlib) behind a real in-path device (the Linux FTP NAT ALG, an
# NFQUEUE program that rewrites 227 to 22_ as the founding Check Point did,
# a transparent proxy), captured with tcpdump on both sides of it.
#
#   client ns pm-cli 198.51.100.60 | fw ns pm-fw 198.51.100.1, 203.0.113.1 | server ns pm-srv 203.0.113.10
#
# Needs root, iproute2, nftables, iptables, tcpdump, ethtool, editcap,
# vsftpd, and Python 3 with netfilterqueue, scapy and pyftpdlib (see
# lab/README.md). Usage: lab/make-testdata.sh [CASE...]   (default: all)
set -euo pipefail

source "$(dirname "$0")/lib.sh"
OUT=${OUT:-$HERE/../testdata}

capture() { # $1 = case name
    bg $CLI tcpdump -i cli0 -s 0 -U -n -w "$WORK/$1-client.pcap" 2>/dev/null
    bg $SRV tcpdump -i srv0 -s 0 -U -n -w "$WORK/$1-server.pcap" 2>/dev/null
    sleep 1.5
}

client() {
    $CLI "$PY" "$HERE/ftpclient.py" "$@" || log "client exited with $?"
    sleep 2
}

finish() { # $1 = case name; keeps the pair
    stop_all
    for side in client server; do
        cp "$WORK/$1-$side.pcap" "$OUT/lab-$1-$side.pcap"
    done
    log "wrote lab-$1-{client,server}.pcap"
}

case_run() { # name firewall server client-args...
    local name=$1 fw=$2 srv=$3
    shift 3
    log "== $name: firewall=$fw server=$srv client=$*"
    topology
    firewall "$fw"
    server "$srv"
    capture "$name"
    client "$@"
    finish "$name"
}

# The firewall's own captures (issue #32), all in one run through the
# device: on pm-fw `tcpdump -i any` (Linux cooked v2), the same with
# `-y LINUX_SLL` (v1) and `dumpcap -i fwin -i fwout` (pcapng, one
# interface block per leg); a SPAN of both legs as VLANs 10 and 20 (`span`
# in lib.sh); and the per-interface pair at cli0/srv0 as in every case.
fw_case() { # name firewall server client-args...
    local name=$1 fw=$2 srv=$3
    shift 3
    log "== $name: firewall=$fw server=$srv client=$* (captured on the firewall too)"
    topology
    span
    firewall "$fw"
    server "$srv"
    bg $FW tcpdump -i any -s 0 -U -n -w "$WORK/$name-any.pcap" 2>/dev/null
    bg $FW tcpdump -i any -y LINUX_SLL -s 0 -U -n -w "$WORK/$name-sll.pcap" 2>/dev/null
    bg $FW dumpcap -q -i fwin -i fwout -w "$WORK/$name-legs.pcapng" 2>/dev/null
    bg ip netns exec pm-span tcpdump -i br0 -s 0 -U -n -w "$WORK/$name-span.pcap" 2>/dev/null
    capture "$name"
    client "$@"
    stop_all
    local f
    for f in client.pcap server.pcap any.pcap sll.pcap legs.pcapng span.pcap; do
        cp "$WORK/$name-$f" "$OUT/lab-$name-$f"
        chmod 644 "$OUT/lab-$name-$f" # dumpcap writes 0600
    done
    log "wrote lab-$name-{client,server,any,sll,span}.pcap, lab-$name-legs.pcapng"
}

# A SPAN that mirrors one direction per leg (`span oneway` in lib.sh: what
# the client sends, untagged; what the server sends, VLAN 201), as
# ingress-only port mirroring makes, and the per-interface pair of the
# same run: lab-NAME-{span1,client,server}.pcap.
fw_oneway_case() { # name firewall server client-args...
    local name=$1 fw=$2 srv=$3
    shift 3
    log "== $name: firewall=$fw server=$srv client=$* (a one-direction SPAN)"
    topology
    span oneway
    firewall "$fw"
    server "$srv"
    bg ip netns exec pm-span tcpdump -i br0 -s 0 -U -n -w "$WORK/$name-span1.pcap" 2>/dev/null
    capture "$name"
    client "$@"
    stop_all
    local f
    for f in client.pcap server.pcap span1.pcap; do
        cp "$WORK/$name-$f" "$OUT/lab-$name-$f"
    done
    log "wrote lab-$name-{client,server,span1}.pcap"
}

# The reply direction of `probe --trace` through the kernel FTP NAT helper,
# ICMP only, at the server: the Time Exceeded from the device and from the
# router behind it arrive with the quoted protocol byte rewritten (the
# helper's sequence adjustment, applied to an ICMP error as if it were
# TCP; docs/upstream-linux-nf-seqadj-icmp.md).
trace_icmp() { # name
    log "== $1: chain, firewall=alg, server=reflect, probe --only trace --reflector"
    chain_topology
    firewall alg
    server reflect
    bg $SRV tcpdump -i srv0 -s 0 -U -n -w "$WORK/$1.pcap" icmp 2>/dev/null
    sleep 1.5
    $CLI "${PORTMORTEM:-$HERE/../target/release/portmortem}" probe --only trace \
        --reflector ftp://203.0.113.10 -q -f json -o "$WORK/$1.json" || true
    sleep 1
    stop_all
    cp "$WORK/$1.pcap" "$OUT/lab-$1.pcap"
    log "wrote lab-$1.pcap"
}

all_cases() {
    # The founding case: 227 -> 22_ in front of a lenient server and an echoing one.
    case_run mangle-vsftpd mangle vsftpd active
    case_run mangle-inetutils mangle inetutils active-then-hang --idle 25
    case_run mangle-inetutils-name mangle inetutils retr-name --file TEST227.DAT
    case_run mangle-clean mangle vsftpd active-then-clean --data-port 40000
    # The kernel NAT ALG.
    case_run alg-active alg vsftpd active --data-port 40000
    case_run alg-passive alg vsftpd passive
    case_run alg-eprt alg vsftpd eprt --data-port 40000
    case_run alg-epsv alg vsftpd epsv
    case_run alg-split-port alg vsftpd split-port --data-port 40000
    case_run alg-pipelined-port alg vsftpd pipelined-port --data-port 40000
    case_run mangle-alg mangle-alg vsftpd active-then-hang --idle 25
    # The client's own malformed PORT/EPRT lines through a clean router:
    # nothing in the path to blame.
    case_run sent-malformed-inetutils route inetutils sent-malformed
    case_run sent-malformed-vsftpd route vsftpd sent-malformed
    # A private address announced through a NAT without the FTP helper,
    # to a server that accepts it: its connect times out, 425.
    case_run private-eprt masq vsftpd-promiscuous private-eprt --data-port 40000
    # A proxy-mode firewall: two TCP connections.
    case_run proxy-passive proxy vsftpd passive
    # Single-capture edge cases.
    case_run malformed route vsftpd malformed --data-port 40000
    case_run port-8884 route vsftpd-8884 passive --ctl-port 8884
    case_run pasv-private route pyftpd-masq passive-control-ip
    case_run tls route vsftpd-tls tls
    case_run abort route vsftpd abort
    # On the firewall itself: both legs in one file (four ways), each
    # device, and the per-interface pair of the same run.
    fw_case fw-route route vsftpd port-eprt
    fw_case fw-mangle mangle vsftpd port-eprt
    fw_case fw-alg alg vsftpd port-eprt
    fw_case fw-mangle-alg mangle-alg vsftpd port-eprt
    # A SPAN of one direction per leg: the size change the NAT helper makes
    # shows only in the far end's ACKs; the 227->22_ only in the server's
    # data connection.
    fw_oneway_case fw1-alg alg vsftpd port-eprt
    fw_oneway_case fw1-mangle mangle vsftpd port-eprt
    fw_oneway_case fw1-mangle-alg mangle-alg vsftpd port-eprt
    # Two captures whose clocks differ by a known offset (+3.25 s).
    editcap -F pcap -t 3.25 "$OUT/lab-alg-passive-server.pcap" "$OUT/lab-clock-offset-server.pcap" >/dev/null
    cp "$OUT/lab-alg-passive-client.pcap" "$OUT/lab-clock-offset-client.pcap"
    log "wrote lab-clock-offset-{client,server}.pcap (server clock +3.25 s)"
    trace_icmp trace-icmp-alg
}

mkdir -p "$OUT"
# Every line of all_cases that starts with a runner and the case's name.
run_cases all_cases '^ *[a-z_]+' "$@"
