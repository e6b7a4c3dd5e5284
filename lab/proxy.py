#!/usr/bin/env python3
"""A transparent control-channel proxy, as a proxy-mode firewall does it:
the client's connection ends here and a second TCP connection (own ports,
own sequence numbers) goes to the server. Bytes are relayed unchanged.
Fed by an iptables REDIRECT of port 21.
"""
import select
import socket
import struct
import sys
import threading

SO_ORIGINAL_DST = 80


def relay(a, b):
    socks = [a, b]
    while True:
        r, _, _ = select.select(socks, [], [], 60)
        if not r:
            break
        for s in r:
            data = s.recv(65536)
            if not data:
                a.close()
                b.close()
                return
            (b if s is a else a).sendall(data)


def serve(port):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("0.0.0.0", port))
    ls.listen(8)
    print("proxy ready", file=sys.stderr, flush=True)
    while True:
        c, _ = ls.accept()
        raw = c.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
        dport, dip = struct.unpack("!2xH4s8x", raw)
        up = socket.create_connection((socket.inet_ntoa(dip), dport))
        for s in (c, up):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=relay, args=(c, up), daemon=True).start()


if __name__ == "__main__":
    serve(int(sys.argv[1]) if len(sys.argv) > 1 else 2121)
