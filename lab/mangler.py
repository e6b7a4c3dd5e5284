#!/usr/bin/env python3
"""The founding firewall, reproduced: rewrites the byte string `227` to `22_`
in place in client-to-server FTP control segments (Check Point SmartDefense
"FTP Bounce" behaviour, docs/middleboxes.md). Same length, so no TCP
sequence change. Fed by: iptables -A FORWARD -p tcp --dport 21 -j NFQUEUE.
"""
import sys

from netfilterqueue import NetfilterQueue
from scapy.all import IP, TCP, Raw


def handle(pkt):
    ip = IP(pkt.get_payload())
    if ip.haslayer(Raw) and b"227" in ip[Raw].load:
        ip[Raw].load = ip[Raw].load.replace(b"227", b"22_")
        del ip.chksum
        del ip[TCP].chksum
        pkt.set_payload(bytes(ip))
        print("mangled", ip[TCP].seq, file=sys.stderr, flush=True)
    pkt.accept()


q = NetfilterQueue()
q.bind(0, handle)
print("mangler ready", file=sys.stderr, flush=True)
try:
    q.run()
except KeyboardInterrupt:
    pass
