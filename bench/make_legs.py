#!/usr/bin/env python3
"""Builds a large capture taken on a device: both legs in one file.

Repeats the sessions of a lab firewall capture taken as a SPAN of two
VLANs (testdata/lab-fw-mangle-span.pcap: a 227→22_ mangler between the
legs, so every session has findings the comparison must reconcile), each
copy its own connection: the client's control port and every TCP
sequence and acknowledgement number shifted alike (so the legs still
share initial sequence numbers), and its own time. Writes the one file
and each leg alone (the frames of VLAN 10, of VLAN 20), so that the cost
of reading the legs as one file can be set against `compare` of the two.

Usage: make_legs.py OUT.pcap [--sessions N]
Writes OUT.pcap, OUT-a.pcap, OUT-b.pcap; prints what it put in.
"""
import argparse
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "..", "testdata", "lab-fw-mangle-span.pcap")


def frames(path):
    data = open(path, "rb").read()
    assert data[:4] == b"\xd4\xc3\xb2\xa1", path
    out, off = [], 24
    while off + 16 <= len(data):
        sec, usec, cap, orig = struct.unpack_from("<IIII", data, off)
        out.append((sec * 1_000_000 + usec, bytearray(data[off + 16: off + 16 + cap]), orig))
        off += 16 + cap
    return data[:24], out


def vlan_tcp(b):
    """(vlan, offset of the TCP header) of an 802.1Q IPv4 TCP frame."""
    if b[12:14] != b"\x81\x00":
        return None, None
    vlan = struct.unpack_from(">H", b, 14)[0] & 0xFFF
    if b[16:18] != b"\x08\x00" or b[27] != 6:
        return vlan, None
    return vlan, 18 + (b[18] & 0xF) * 4


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--sessions", type=int, default=6000)
    a = ap.parse_args()
    header, src = frames(SRC)
    t0 = src[0][0]
    span = src[-1][0] - t0 + 1_000_000
    stem = os.path.splitext(a.out)[0]
    outs = {None: open(a.out, "wb"), 10: open(stem + "-a.pcap", "wb"), 20: open(stem + "-b.pcap", "wb")}
    for f in outs.values():
        f.write(header)
    n = {k: 0 for k in outs}
    for i in range(a.sessions):
        shift = (i * 2_654_435_761) & 0xFFFFFFFF
        for ts, b, orig in src:
            b = bytearray(b)
            vlan, t = vlan_tcp(b)
            if t is not None:
                sport, dport = struct.unpack_from(">HH", b, t)
                # The control connection's client port: its own per copy.
                port = 10000 + i % 50000
                if dport == 21:
                    struct.pack_into(">H", b, t, port)
                elif sport == 21:
                    struct.pack_into(">H", b, t + 2, port)
                seq, ack = struct.unpack_from(">II", b, t + 4)
                struct.pack_into(">II", b, t + 4, (seq + shift) & 0xFFFFFFFF, (ack + shift) & 0xFFFFFFFF)
            at = ts - t0 + i * span + 1_800_000_000 * 1_000_000
            rec = struct.pack("<IIII", at // 1_000_000, at % 1_000_000, len(b), orig) + b
            for k in (None, vlan):
                if k in outs:
                    outs[k].write(rec)
                    n[k] += 1
    for f in outs.values():
        f.close()
    print("sessions=%d frames=%d frames_a=%d frames_b=%d" % (a.sessions, n[None], n[10], n[20]))


if __name__ == "__main__":
    main()
