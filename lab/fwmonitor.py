#!/usr/bin/env python3
"""Check Point `fw monitor -o` files made from the lab's own captures on
the firewall (there is no Check Point here): each packet of
testdata/lab-<case>-legs.pcapng (dumpcap -i fwin -i fwout, one interface
block per leg) written at the inspection points fw monitor would write it,
as a snoop file (RFC 1761) whose 14-byte link header is the FW-1 header as
Wireshark's dissector reads it (epan/dissectors/packet-fw1.c): byte 0 the
point, byte 1 the chain position (0 here), bytes 2-11 the interface name
NUL-padded, bytes 12-13 the EtherType of the IP packet that follows.

Which point: a packet entering the firewall on an interface is seen at
`i` (before inspection) and `I` (after), one leaving it at `o` and `O`.
The lab's hosts send with TTL 64 and the firewall forwards with 63
(lab/README.md), so a copy with TTL 64 entered on its interface and one
with 63 left by it. The device's change (the mangler's rewrite, the NAT
helper's) falls between `I` and `o`, where fw monitor has no point: `I`
holds the bytes of `i`, `o` those of `O`. Packets are written in time
order, as the firewall saw them (dumpcap's file is not). Only IPv4 frames
are kept: fw monitor sees the IP layer, and the lab's other frames are
ARP and IPv6 neighbour discovery on each link. Timestamps keep snoop's
microseconds.

Written: lab-fw-mangle-fwmon.snoop (all four points: fw monitor's default)
and lab-fw-alg-fwmon.snoop (`-m iO`: only the points on the wire).
Deterministic: same bytes on every run.

Usage: python3 lab/fwmonitor.py [TESTDATA]   (default: testdata/)
"""
import os
import struct
import sys

DIR = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "testdata")
FILES = [("fw-mangle", "iIoO"), ("fw-alg", "iO")]


def pcapng_frames(path):
    """(ns timestamp, interface name, frame bytes, original length) of
    every Enhanced Packet Block, with each section's byte order and each
    interface's if_name and if_tsresol."""
    data = open(path, "rb").read()
    at, end = 0, "<"
    ifaces = []
    out = []
    while at + 12 <= len(data):
        kind = struct.unpack_from(end + "I", data, at)[0]
        if kind == 0x0A0D0D0A:
            end = "<" if data[at + 8 : at + 12] == b"\x4d\x3c\x2b\x1a" else ">"
            ifaces = []
        blen = struct.unpack_from(end + "I", data, at + 4)[0]
        body = data[at + 8 : at + blen - 4]
        if kind == 1:
            name, resol = None, 6
            o = 8
            while o + 4 <= len(body):
                code, olen = struct.unpack_from(end + "HH", body, o)
                val = body[o + 4 : o + 4 + olen]
                if code == 0:
                    break
                if code == 2:
                    name = val.decode()
                if code == 9:
                    resol = val[0]
                o += 4 + (olen + 3) // 4 * 4
            assert resol < 0x80, "binary if_tsresol not handled"
            ifaces.append((name, 10**resol))
        elif kind == 6:
            iface, hi, lo, caplen, origlen = struct.unpack_from(end + "IIIII", body, 0)
            name, units = ifaces[iface]
            ns = ((hi << 32) | lo) * 1_000_000_000 // units
            out.append((ns, name, body[20 : 20 + caplen], origlen))
        at += blen
    return out


def fw1_header(point, name, ethertype):
    return point.encode() + b"\0" + name.encode().ljust(10, b"\0") + struct.pack(">H", ethertype)


def snoop(records):
    """A snoop version 2 file of DL_ETHER (4), records padded to 4 bytes
    as Wireshark's writer pads them."""
    out = bytearray(b"snoop\0\0\0" + struct.pack(">II", 2, 4))
    for ns, frame, origlen in records:
        pad = -len(frame) % 4
        secs, micros = divmod(ns // 1000, 1_000_000)
        out += struct.pack(">IIIIII", origlen, len(frame), 24 + len(frame) + pad, 0, secs, micros)
        out += frame + b"\0" * pad
    return bytes(out)


def points_of(frame, mask):
    """The points this copy is written at: entering (TTL 64) or leaving
    (TTL 63, forwarded), within the mask."""
    ttl = frame[14 + 8]
    entering = {64: True, 63: False}[ttl]
    return [p for p in ("iI" if entering else "oO") if p in mask]


def main():
    for case, mask in FILES:
        frames = pcapng_frames(os.path.join(DIR, f"lab-{case}-legs.pcapng"))
        frames = [f for f in frames if f[2][12:14] == b"\x08\x00"]
        frames.sort(key=lambda f: f[0])
        records = []
        for ns, name, frame, origlen in frames:
            for p in points_of(frame, mask):
                records.append((ns, fw1_header(p, name, 0x0800) + frame[14:], origlen))
        path = os.path.join(DIR, f"lab-{case}-fwmon.snoop")
        with open(path, "wb") as f:
            f.write(snoop(records))
        print(f"wrote {path}: {len(records)} records from {len(frames)} IPv4 frames, points {mask}")


main()
