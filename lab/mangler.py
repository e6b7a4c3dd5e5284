#!/usr/bin/env python3
"""The founding firewall, reproduced: rewrites the byte string `227` to `22_`
in place in client-to-server FTP control segments (Check Point SmartDefense
"FTP Bounce" behaviour, docs/middleboxes.md). Same length, so no TCP
sequence change. Fed by: iptables -A FORWARD -p tcp --dport 21 -j NFQUEUE.
Server-to-client segments, when queued too (`--sport 21`), are rewritten
after their first 4 bytes, so a 227 reply keeps its code and loses its
port's 227.
"""
import sys

from netfilterqueue import NetfilterQueue
from scapy.all import IP, TCP, Raw


def handle(pkt):
    ip = IP(pkt.get_payload())
    load = ip[Raw].load if ip.haslayer(Raw) else b""
    keep = 4 if ip.haslayer(TCP) and ip[TCP].sport == 21 else 0
    if b"227" in load[keep:]:
        ip[Raw].load = load[:keep] + load[keep:].replace(b"227", b"22_")
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
