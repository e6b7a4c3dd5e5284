#!/usr/bin/env python3
"""Builds a large, realistic capture for the benchmark.

Mostly bulk TCP (FTP data transfers from port 20 and passive ports, HTTPS)
and DNS, with a known number of real FTP control sessions spliced in from
the lab captures: clean ones (lab-mangle-clean) and the founding case
(lab-mangle-inetutils: a PORT whose 227 became 22_, echoed by the server;
lab-mangle-vsftpd: the server connects to the wrong port). Each spliced
session gets its own client address (198.51.100.10-99, so the PORT lines
are patched without changing their length) and client port, and its own
time.

Usage: make_capture.py OUT.pcap [--gb 1.0] [--sessions 300] [--corrupt 6]
       make_capture.py OUTDIR --split N ...   (about N files rotated by
                                              size, as tcpdump -C does)
       make_capture.py OUT.pcap --connections N  (N FTP connections that
                                              never close: flow-table stress)
Prints what it put in (the benchmark checks portmortem finds exactly that).
"""
import argparse
import os
import random
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TESTDATA = os.path.join(HERE, "..", "testdata")
MSS = 1448


def read_pcap(path):
    data = open(path, "rb").read()
    assert data[:4] == b"\xd4\xc3\xb2\xa1", path
    out, off = [], 24
    while off + 16 <= len(data):
        sec, usec, cap, orig = struct.unpack_from("<IIII", data, off)
        out.append((sec + usec / 1e6, bytearray(data[off + 16 : off + 16 + cap])))
        off += 16 + cap
    return out


def ip4(s):
    return bytes(int(x) for x in s.split("."))


def frame(src, dst, sport, dport, seq, ack, flags, payload=b"", ttl=64):
    total = 20 + 20 + len(payload)
    iph = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, 0x4000, ttl, 6, 0, src, dst)
    tcph = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 0x50, flags, 65535, 0, 0)
    return b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00" + iph + tcph + payload


def udp_frame(src, dst, sport, dport, payload):
    total = 28 + len(payload)
    iph = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, 0, 64, 17, 0, src, dst)
    return b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00" + iph + struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def respliced(pkts, client_ip, cport, t0):
    """A lab session moved to client_ip:cport starting at t0 (PORT lines
    and data connections follow the new address)."""
    old = ip4("198.51.100.60")
    new = ip4(client_ip)
    old_txt = b"198,51,100,60,"
    new_txt = ("198,51,100,%s," % client_ip.split(".")[3]).encode()
    base = pkts[0][0]
    out = []
    oport = None
    for ts, fr in pkts:
        fr = bytearray(fr)
        if fr[12:14] != b"\x08\x00":
            continue
        ihl = (fr[14] & 0xF) * 4
        if fr[23] != 6:
            continue
        tcp = 14 + ihl
        sport, dport = struct.unpack_from("!HH", fr, tcp)
        if oport is None and dport == 21:
            oport = sport
        for o in (26, 30):
            if fr[o : o + 4] == old:
                fr[o : o + 4] = new
        if sport == oport and dport == 21:
            struct.pack_into("!H", fr, tcp, cport)
        if dport == oport and sport == 21:
            struct.pack_into("!H", fr, tcp + 2, cport)
        off = tcp + (fr[tcp + 12] >> 4) * 4
        payload = bytes(fr[off:])
        if old_txt in payload:
            fr[off:] = payload.replace(old_txt, new_txt)
        out.append((t0 + (ts - base), bytes(fr)))
    return out


def bulk_flow(rng, t, idx, kind):
    """A bulk TCP transfer: handshake, data segments with an ACK every
    other one, FIN. Yields (ts, frame)."""
    srv = ip4("203.0.113.%d" % (20 + idx % 200))
    cli = ip4("192.0.2.%d" % (1 + idx % 250))
    if kind == "ftp-data":
        sp, dp = 20, 30000 + idx % 30000
    elif kind == "pasv":
        sp, dp = 50000 + idx % 1000, 40000 + idx % 20000
    else:
        sp, dp = 443, 40000 + idx % 20000
    s_isn, c_isn = rng.getrandbits(32), rng.getrandbits(32)
    segs = rng.randint(300, 3000)
    yield t, frame(cli, srv, dp, sp, c_isn, 0, 0x02)
    yield t + 0.0001, frame(srv, cli, sp, dp, s_isn, c_isn + 1, 0x12)
    yield t + 0.0002, frame(cli, srv, dp, sp, c_isn + 1, s_isn + 1, 0x10)
    body = bytes(rng.getrandbits(8) for _ in range(64)) * (MSS // 64 + 1)
    seq = s_isn + 1
    for k in range(segs):
        t += 0.00002
        yield t, frame(srv, cli, sp, dp, seq, c_isn + 1, 0x18, body[:MSS])
        seq += MSS
        if k % 2:
            yield t + 0.000005, frame(cli, srv, dp, sp, c_isn + 1, seq, 0x10)
    yield t + 0.0001, frame(srv, cli, sp, dp, seq, c_isn + 1, 0x11)
    yield t + 0.0002, frame(cli, srv, dp, sp, c_isn + 1, seq + 1, 0x11)


PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)


def record(ts, fr):
    sec = int(ts)
    return struct.pack("<IIII", sec, int((ts - sec) * 1e6), len(fr), len(fr)) + fr


def write_pcap(path, records):
    with open(path, "wb") as f:
        f.write(PCAP_HEADER)
        n = 0
        for ts, fr in records:
            f.write(record(ts, fr))
            n += 1
    return n


def write_rotated(outdir, records, size):
    """Like tcpdump -C: a new file every `size` bytes (sessions that span
    a rotation are split between files, as in real archives)."""
    os.makedirs(outdir, exist_ok=True)
    n, k, f, written = 0, 0, None, size
    for ts, fr in records:
        if written >= size:
            if f:
                f.close()
            f = open(os.path.join(outdir, "part-%04d.pcap" % k), "wb")
            f.write(PCAP_HEADER)
            k, written = k + 1, len(PCAP_HEADER)
        r = record(ts, fr)
        f.write(r)
        written += len(r)
        n += 1
    if f:
        f.close()
    return n, k


def build(args, rng):
    clean = read_pcap(os.path.join(TESTDATA, "lab-mangle-clean-client.pcap"))
    bad = [read_pcap(os.path.join(TESTDATA, n)) for n in ("lab-mangle-inetutils-client.pcap", "lab-mangle-vsftpd-client.pcap")]
    target = int(args.gb * 1e9)
    # Bulk bytes per flow average about 1650 segments × 1.5 KB.
    flows = max(1, target // (1650 * 1530))
    t0 = 1_700_000_000.0
    span = flows * 0.02
    # FTP control sessions, spread over the capture, some corrupted.
    sessions = []
    corrupt_at = set(rng.sample(range(args.sessions), min(args.corrupt, args.sessions)))
    for i in range(args.sessions):
        src = bad[i % 2] if i in corrupt_at else clean
        ip = "198.51.100.%d" % (10 + i % 90)
        # Client ports 20000-64999, then 1024 up: (address, port) stays
        # unique past 45,000 sessions (the address cycles every 90).
        cport = 20000 + i if i < 45000 else 1024 + (i - 45000) // 90
        sessions.extend(respliced(src, ip, cport, t0 + span * i / max(1, args.sessions)))
    # Bulk flows started one after another, 8 at a time interleaved.
    streams = []
    for i in range(flows):
        kind = ("ftp-data", "pasv", "https")[i % 3]
        streams.append(bulk_flow(rng, t0 + i * 0.02, i, kind))
    dns = [(t0 + k * 0.05, udp_frame(ip4("192.0.2.53"), ip4("192.0.2.1"), 53, 40000 + k % 1000, b"\x00" * 60)) for k in range(int(span / 0.05))]
    import heapq

    merged = heapq.merge(sessions, dns, *streams, key=lambda r: r[0])
    return merged, flows, len(corrupt_at)


def connections(n):
    """n FTP control connections that open, greet, log in and never
    close: the flow table's worst case (every one is tracked)."""
    srv = ip4("203.0.113.10")
    t = 1_700_000_000.0
    for i in range(n):
        cli = ip4("198.51.%d.%d" % (100 + (i >> 16) % 100, (i >> 8) & 0xFF))
        port = 1024 + (i & 0xFF) * 200 + (i >> 24)
        t += 0.0001
        yield t, frame(cli, srv, port, 21, 1000, 0, 0x02)
        yield t, frame(srv, cli, 21, port, 5000, 1001, 0x12)
        yield t, frame(srv, cli, 21, port, 5001, 1001, 0x18, b"220 hi\r\n")
        yield t, frame(cli, srv, port, 21, 1001, 5009, 0x18, b"USER a\r\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--gb", type=float, default=1.0)
    ap.add_argument("--sessions", type=int, default=300)
    ap.add_argument("--corrupt", type=int, default=6)
    ap.add_argument("--split", type=int, default=0, help="write about N files into OUT (a directory), rotated by size")
    ap.add_argument("--seed", type=int, default=227)
    ap.add_argument("--connections", type=int, default=0, help="instead: N FTP connections that never close")
    a = ap.parse_args()
    if a.connections:
        n = write_pcap(a.out, connections(a.connections))
        print("frames=%d ftp_sessions=%d" % (n, a.connections))
        return
    rng = random.Random(a.seed)
    records, flows, corrupt = build(a, rng)
    files = 1
    if a.split:
        n, files = write_rotated(a.out, records, int(a.gb * 1e9 / a.split) + 1)
    else:
        n = write_pcap(a.out, records)
    print("frames=%d files=%d bulk_flows=%d ftp_sessions=%d corrupted_sessions=%d" % (n, files, flows, a.sessions, corrupt))


if __name__ == "__main__":
    main()
