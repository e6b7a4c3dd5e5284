# Shared by the lab scripts (make-testdata.sh, probe.sh): the three
# namespaces, the in-path devices and the servers. Source it; needs root.
#
#   client ns pm-cli 198.51.100.60 | fw ns pm-fw 198.51.100.1, 203.0.113.1 | server ns pm-srv 203.0.113.10
#
# or, for `probe --trace`, a routed chain with a plain router on each side
# of the device (chain_topology):
#
#   pm-cli 198.51.100.60 | pm-r1 198.51.100.1, 192.0.2.1 | pm-fw 192.0.2.2, 192.0.2.5
#     | pm-r2 192.0.2.6, 203.0.113.1 | pm-srv 203.0.113.10

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
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
    local ns
    for ns in pm-cli pm-r1 pm-fw pm-r2 pm-srv pm-span; do
        # What the servers left in the namespace: inetutils ftpd's daemon,
        # vsftpd's session processes (a hung session outlives its listener).
        ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
        ip netns del "$ns" 2>/dev/null || true
    done
    ! mountpoint -q "$WORK/bpf" || umount "$WORK/bpf"
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

# The chain: every router answers TTL-limited packets with ICMP Time
# Exceeded, unthrottled (Linux sends about one a second to a host once a
# burst is spent: net.ipv4.icmp_ratelimit). The device keeps the names
# fwin/fwout, so `firewall` works on it unchanged.
chain_topology() {
    stop_all
    for ns in pm-cli pm-r1 pm-fw pm-r2 pm-srv; do ip netns add "$ns"; done
    ip link add cli0 netns pm-cli type veth peer name r1in netns pm-r1
    ip link add r1out netns pm-r1 type veth peer name fwin netns pm-fw
    ip link add fwout netns pm-fw type veth peer name r2in netns pm-r2
    ip link add r2out netns pm-r2 type veth peer name srv0 netns pm-srv
    local a
    for a in "pm-cli cli0 198.51.100.60/24" "pm-r1 r1in 198.51.100.1/24" "pm-r1 r1out 192.0.2.1/30" \
        "pm-fw fwin 192.0.2.2/30" "pm-fw fwout 192.0.2.5/30" "pm-r2 r2in 192.0.2.6/30" \
        "pm-r2 r2out 203.0.113.1/24" "pm-srv srv0 203.0.113.10/24"; do
        set -- $a
        ip netns exec "$1" ip addr add "$3" dev "$2"
        ip netns exec "$1" ip link set lo up
        ip netns exec "$1" ip link set "$2" up
        ip netns exec "$1" ethtool -K "$2" tso off gso off gro off tx off rx off >/dev/null 2>&1 || true
    done
    for ns in pm-r1 pm-fw pm-r2; do
        ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1
        ip netns exec "$ns" sysctl -qw net.ipv4.icmp_ratelimit=0
    done
    $CLI ip route add default via 198.51.100.1
    ip netns exec pm-r1 ip route add default via 192.0.2.2
    $FW ip route add 198.51.100.0/24 via 192.0.2.1
    $FW ip route add default via 192.0.2.6
    ip netns exec pm-r2 ip route add default via 192.0.2.5
    $SRV ip route add default via 203.0.113.1
}

# A switch between the hosts and the firewall that carries the client leg
# as VLAN 10 and the server leg as VLAN 20, and mirrors both into one SPAN
# port: every frame that leaves or reaches cli0 (srv0) is copied, tagged,
# by a tc classifier (lab/span.py) into a veth whose far end is a port of
# bridge br0 in namespace pm-span; `tcpdump -i br0` there is the SPAN
# capture. Nothing is added to pm-fw, so its own captures stay as they are.
#
# `span oneway`: a mirror of what each host sends only (ingress-only port
# mirroring on the switch: cli0's and srv0's egress), the client leg
# untagged and the server leg as VLAN 201, so each leg carries one
# direction of every connection.
span() { # [oneway]
    local legs=("pm-cli cli0 spanc 10" "pm-srv srv0 spans 20") hooks="ingress egress"
    if [ "${1:-}" = oneway ]; then
        legs=("pm-cli cli0 spanc 0" "pm-srv srv0 spans 201")
        hooks="egress"
    fi
    ip netns add pm-span
    local sp="ip netns exec pm-span"
    $sp sysctl -qw net.ipv6.conf.all.disable_ipv6=1
    $sp sysctl -qw net.ipv6.conf.default.disable_ipv6=1
    # No IGMP/MLD of its own: the SPAN carries only the mirrored frames.
    $sp ip link add br0 type bridge mcast_snooping 0
    mkdir -p "$WORK/bpf"
    mountpoint -q "$WORK/bpf" || mount -t bpf bpf "$WORK/bpf"
    local x h
    for x in "${legs[@]}"; do
        set -- $x
        ip link add "$3" netns "$1" type veth peer name "$3p" netns pm-span
        ip netns exec "$1" sysctl -qw "net.ipv6.conf.$3.disable_ipv6=1"
        ip netns exec "$1" ip link set "$3" up
        ip netns exec "$1" ethtool -K "$3" tso off gso off gro off tx off rx off >/dev/null 2>&1 || true
        $sp ip link set "$3p" master br0 up
        $sp bridge link set dev "$3p" isolated on # a SPAN port forwards nothing
        ip netns exec "$1" "$PY" "$HERE/span.py" "$WORK/bpf/$3" \
            "$(ip netns exec "$1" cat "/sys/class/net/$3/ifindex")" "$4"
        ip netns exec "$1" tc qdisc add dev "$2" clsact
        for h in $hooks; do
            ip netns exec "$1" tc filter add dev "$2" "$h" bpf object-pinned "$WORK/bpf/$3" direct-action
        done
    done
    $sp ip link set br0 up
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

# A home router: the client's LAN is private (10.0.0.60 behind 10.0.0.1),
# masqueraded to 203.0.113.1 without the FTP helper, so address commands
# cross untranslated; nothing from outside may open a connection inside
# (dropped silently: the server's data connection times out).
nat_private() {
    $CLI ip addr flush dev cli0
    $CLI ip addr add 10.0.0.60/24 dev cli0
    $CLI ip route add default via 10.0.0.1
    $FW ip addr flush dev fwin
    $FW ip addr add 10.0.0.1/24 dev fwin
    $FW nft -f - <<'EOF'
table ip lab {
    chain inbound {
        type filter hook forward priority 0; policy accept;
        iifname "fwout" ct state new drop
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
    masq) nat_private ;;
    mangle | mangle-alg | mangle-both)
        $FW iptables -A FORWARD -p tcp --dport 21 -j NFQUEUE --queue-num 0
        if [ "$1" = mangle-both ]; then
            # Replies too (after their code): for the reply direction's trace.
            $FW iptables -A FORWARD -p tcp --sport 21 -j NFQUEUE --queue-num 0
        fi
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
    vsftpd-promiscuous)
        # Accepts a PORT/EPRT address other than the client's (as ProFTPD's
        # AllowForeignAddress does) and gives up connecting after 5 s.
        # (connect_from_port_20 breaks with port_promiscuous: 500 OOPS:
        # vsf_sysutil_bind.)
        vsftpd_conf 21 "port_promiscuous=YES
connect_from_port_20=NO
connect_timeout=5"
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
        # It daemonizes (stop_all stops what is left in the namespace).
        $SRV "$WORK/inetutils/usr/sbin/ftpd" -D -a default
        ;;
    reflect)
        bg $SRV "${PORTMORTEM:-$HERE/../target/release/portmortem}" reflect --listen 203.0.113.10:21 --quiet
        ;;
    pyftpd-masq)
        bg $SRV "$PY" "$HERE/pyftpd.py" --root "$ROOT" --masquerade 10.0.0.5
        ;;
    *) echo "unknown server $1" >&2; exit 1 ;;
    esac
    sleep 1.5
}


# Runs the cases named on the command line (each a line of the function
# $1 that starts with "$2 NAME "), or the whole function without names.
run_cases() {
    local fn=$1 runner=$2
    shift 2
    if [ $# -eq 0 ]; then
        "$fn"
        return
    fi
    for c in "$@"; do
        local line
        line=$(declare -f "$fn" | grep -E "$runner $c( |;|\$)" | head -1 || true)
        [ -n "$line" ] || { echo "no case $c" >&2; exit 1; }
        eval "$line"
    done
}
