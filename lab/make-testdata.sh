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

HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-$HERE/../testdata}
WORK=$(mktemp -d /tmp/pm-lab.XXXXXX)
PY=${PYTHON:-python3}
CLI="ip netns exec pm-cli"
FW="ip netns exec pm-fw"
SRV="ip netns exec pm-srv"
PIDS=()

log() { echo "[lab] $*" >&2; }

stop_all() {
    for p in "${PIDS[@]:-}"; do
        [ -n "$p" ] && kill -INT "$p" 2>/dev/null || true
    done
    sleep 0.5
    for p in "${PIDS[@]:-}"; do
        [ -n "$p" ] && kill -KILL "$p" 2>/dev/null || true
    done
    PIDS=()
    for ns in pm-cli pm-fw pm-srv; do ip netns del "$ns" 2>/dev/null || true; done
}
trap 'stop_all; rm -rf "$WORK"' EXIT

bg() {
    "$@" &
    PIDS+=($!)
    disown $! # no "Killed" job notices when it is stopped
}

topology() {
    stop_all
    ip netns add pm-cli
    ip netns add pm-fw
    ip netns add pm-srv
    ip link add cli0 netns pm-cli type veth peer name fwin netns pm-fw
    ip link add fwout netns pm-fw type veth peer name srv0 netns pm-srv
    $CLI ip addr add 198.51.100.60/24 dev cli0
    $FW ip addr add 198.51.100.1/24 dev fwin
    $FW ip addr add 203.0.113.1/24 dev fwout
    $SRV ip addr add 203.0.113.10/24 dev srv0
    for x in "pm-cli cli0" "pm-fw fwin" "pm-fw fwout" "pm-srv srv0"; do
        set -- $x
        ip netns exec "$1" ip link set lo up
        ip netns exec "$1" ip link set "$2" up
        # Real segment boundaries and checksums in the captures.
        ip netns exec "$1" ethtool -K "$2" tso off gso off gro off tx off rx off >/dev/null 2>&1 || true
    done
    $CLI ip route add default via 198.51.100.1
    $SRV ip route add default via 203.0.113.1
    $FW sysctl -qw net.ipv4.ip_forward=1
}

nat_alg() {
    $FW nft -f - <<'EOF'
table ip lab {
    ct helper ftp-std {
        type "ftp" protocol tcp;
    }
    chain pre {
        type filter hook prerouting priority 0; policy accept;
        tcp dport 21 ct helper set "ftp-std"
    }
    chain post {
        type nat hook postrouting priority 100; policy accept;
        oifname "fwout" masquerade
    }
}
EOF
}

firewall() {
    case "$1" in
    route) ;;
    alg) nat_alg ;;
    mangle | mangle-alg)
        $FW iptables -A FORWARD -p tcp --dport 21 -j NFQUEUE --queue-num 0
        bg $FW "$PY" "$HERE/mangler.py"
        sleep 2
        if [ "$1" = mangle-alg ]; then nat_alg; fi
        ;;
    proxy)
        $FW iptables -t nat -A PREROUTING -i fwin -p tcp --dport 21 -j REDIRECT --to-ports 2121
        $FW iptables -t nat -A POSTROUTING -o fwout -j MASQUERADE
        bg $FW "$PY" "$HERE/proxy.py" 2121
        sleep 1
        ;;
    *) echo "unknown firewall mode $1" >&2; exit 1 ;;
    esac
}

ROOT=$WORK/ftproot
mkdir -p "$ROOT"
echo "hello from the lab" >"$ROOT/hello.txt"
chmod -R a+rX "$WORK"

vsftpd_conf() { # $1 = listen port, $2 = extra lines
    cat >"$WORK/vsftpd.conf" <<EOF
listen=YES
listen_ipv6=NO
listen_address=203.0.113.10
listen_port=$1
anonymous_enable=YES
anon_root=$ROOT
no_anon_password=YES
local_enable=NO
write_enable=NO
port_enable=YES
pasv_enable=YES
pasv_min_port=50000
pasv_max_port=50010
connect_from_port_20=YES
seccomp_sandbox=NO
isolate=NO
isolate_network=NO
background=NO
ftpd_banner=portmortem lab vsFTPd
$2
EOF
}

server() {
    case "$1" in
    vsftpd)
        vsftpd_conf 21 ""
        bg $SRV vsftpd "$WORK/vsftpd.conf"
        ;;
    vsftpd-8884)
        vsftpd_conf 8884 ""
        bg $SRV vsftpd "$WORK/vsftpd.conf"
        ;;
    vsftpd-tls)
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=lab \
            -keyout "$WORK/key.pem" -out "$WORK/cert.pem" >/dev/null 2>&1
        vsftpd_conf 21 "ssl_enable=YES
allow_anon_ssl=YES
force_anon_logins_ssl=NO
force_anon_data_ssl=NO
rsa_cert_file=$WORK/cert.pem
rsa_private_key_file=$WORK/key.pem
require_ssl_reuse=NO"
        bg $SRV vsftpd "$WORK/vsftpd.conf"
        ;;
    inetutils)
        [ -x "$WORK/inetutils/usr/sbin/ftpd" ] || {
            (cd "$WORK" && apt-get download inetutils-ftpd >/dev/null 2>&1 &&
                dpkg -x inetutils-ftpd_*.deb inetutils)
        }
        cp "$ROOT/hello.txt" /srv/ftp/hello.txt 2>/dev/null || true
        bg $SRV "$WORK/inetutils/usr/sbin/ftpd" -D -a default
        ;;
    pyftpd-masq)
        bg $SRV "$PY" "$HERE/pyftpd.py" --root "$ROOT" --masquerade 10.0.0.5
        ;;
    *) echo "unknown server $1" >&2; exit 1 ;;
    esac
    sleep 1.5
}

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
    case_run mangle-alg mangle-alg vsftpd active-then-hang --idle 25
    # A proxy-mode firewall: two TCP connections.
    case_run proxy-passive proxy vsftpd passive
    # Single-capture edge cases.
    case_run malformed route vsftpd malformed --data-port 40000
    case_run port-8884 route vsftpd-8884 passive --ctl-port 8884
    case_run pasv-private route pyftpd-masq passive-control-ip
    case_run tls route vsftpd-tls tls
    case_run abort route vsftpd abort
    # Two captures whose clocks differ by a known offset (+3.25 s).
    editcap -F pcap -t 3.25 "$OUT/lab-alg-passive-server.pcap" "$OUT/lab-clock-offset-server.pcap" >/dev/null
    cp "$OUT/lab-alg-passive-client.pcap" "$OUT/lab-clock-offset-client.pcap"
    log "wrote lab-clock-offset-{client,server}.pcap (server clock +3.25 s)"
}

mkdir -p "$OUT"
if [ $# -eq 0 ]; then
    all_cases
else
    for c in "$@"; do
        line=$(declare -f all_cases | grep -E "case_run $c " | head -1)
        [ -n "$line" ] || { echo "no case $c" >&2; exit 1; }
        eval "$line"
    done
fi
