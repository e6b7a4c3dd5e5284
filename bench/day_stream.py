#!/usr/bin/env python3
"""A day of FTP traffic, time-compressed, as a pcap stream on stdout.

For the `watch` memory benchmark: HOURS of capture time (default 24)
with a new FTP session every INTERVAL seconds (default 2), written as
fast as the reader takes it. Every session is a real dialogue (banner,
login, PORT, the server's data connection, transfer, QUIT) with its
own client address and port; one in 50 is abandoned after its PORT (the
client goes silent, so `watch` must expire it by the capture's clock and
report the stall), and one in 250 is the founding case seen from the
client's side: a PORT whose low byte is 227, and the server connecting
to port …,22 (it read the `22_` a device made of it).

Usage: day_stream.py [--hours 24] [--interval 2] > day.pcap
       day_stream.py --hours 24 | portmortem watch -
Prints what it put in to stderr (sessions, abandoned, damaged).
"""
import argparse
import struct
import sys

SERVER = bytes([203, 0, 113, 10])


def frame(src, dst, sport, dport, seq, ack, flags, payload=b""):
    total = 40 + len(payload)
    iph = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, 0x4000, 64, 6, 0, src, dst)
    tcph = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 0x50, flags, 65535, 0, 0)
    return b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00" + iph + tcph + payload


SYN, ACK, FIN, PSH, RST = 0x02, 0x10, 0x01, 0x08, 0x04


class Conn:
    """One TCP connection's sequence numbers, writing frames at time t."""

    def __init__(self, out, a, ap, b, bp, t):
        self.out, self.a, self.ap, self.b, self.bp = out, a, ap, b, bp
        self.seq = {0: 1000, 1: 5000}
        self.t = t

    def send(self, side, flags, payload=b"", dt=0.001):
        self.t += dt
        src, sp, dst, dp = (self.a, self.ap, self.b, self.bp) if side == 0 else (self.b, self.bp, self.a, self.ap)
        ack = self.seq[1 - side] if flags & ACK else 0
        self.out.packet(self.t, frame(src, dst, sp, dp, self.seq[side], ack, flags, payload))
        self.seq[side] += len(payload) + (1 if flags & (SYN | FIN) else 0)

    def open(self):
        self.send(0, SYN)
        self.send(1, SYN | ACK)
        self.send(0, ACK)

    def close(self):
        self.send(0, FIN | ACK)
        self.send(1, FIN | ACK)
        self.send(0, ACK)


class Out:
    def __init__(self, w):
        self.w = w
        self.w.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))

    def packet(self, t, data):
        sec = int(t)
        self.w.write(struct.pack("<IIII", sec, int((t - sec) * 1e6), len(data), len(data)))
        self.w.write(data)


def session(out, n, t, abandoned, damaged):
    client = bytes([10, (n >> 16) & 255, (n >> 8) & 255, n & 255])
    cport = 20000 + n % 40000
    c = Conn(out, client, cport, SERVER, 21, t)
    c.open()
    for side, line in ((1, b"220 (vsFTPd 3.0.3)\r\n"), (0, b"USER anonymous\r\n"), (1, b"331 Please specify the password.\r\n"),
                       (0, b"PASS guest@\r\n"), (1, b"230 Login successful.\r\n")):
        c.send(side, ACK | PSH, line, dt=0.01)
    # The data port: low byte 227 for a damaged session. The capture is the
    # client's side: the PORT leaves intact, a device on the way makes it
    # `…,22_`, and the server connects to what it read.
    hi, lo = (0xC3, 227) if damaged else (0xC3, 0x50 + n % 100)
    ip = ",".join(str(b) for b in client)
    c.send(0, ACK | PSH, ("PORT %s,%d,%d\r\n" % (ip, hi, lo)).encode(), dt=0.01)
    c.send(1, ACK | PSH, b"200 PORT command successful. Consider using PASV.\r\n", dt=0.005)
    if abandoned:
        return
    c.send(0, ACK | PSH, b"RETR file.bin\r\n", dt=0.01)
    # vsftpd reads `22_` as 22: it connects to …,195,22 and is refused.
    dport = hi * 256 + (22 if damaged else lo)
    d = Conn(out, SERVER, 20, client, dport, c.t)
    if damaged:
        d.send(0, SYN)
        d.send(1, RST | ACK)
        c.t = d.t
        c.send(1, ACK | PSH, b"425 Failed to establish connection.\r\n", dt=0.005)
    else:
        d.open()
        c.t = d.t
        c.send(1, ACK | PSH, b"150 Opening BINARY mode data connection for file.bin (1000 bytes).\r\n", dt=0.002)
        d.t = c.t
        d.send(0, ACK | PSH, b"x" * 1000)
        d.close()
        c.t = d.t
        c.send(1, ACK | PSH, b"226 Transfer complete.\r\n", dt=0.002)
    c.send(0, ACK | PSH, b"QUIT\r\n", dt=0.01)
    c.send(1, ACK | PSH, b"221 Goodbye.\r\n", dt=0.002)
    c.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hours", type=float, default=24)
    ap.add_argument("--interval", type=float, default=2.0)
    args = ap.parse_args()
    out = Out(sys.stdout.buffer)
    t0 = 1_800_000_000.0
    n = 0
    abandoned = damaged = 0
    while n * args.interval < args.hours * 3600:
        a = n % 50 == 49
        d = n % 250 == 124
        abandoned += a
        damaged += d
        session(out, n + 1, t0 + n * args.interval, a, d)
        n += 1
    sys.stdout.buffer.flush()
    print("sessions=%d abandoned=%d damaged=%d hours=%g" % (n, abandoned, damaged, args.hours), file=sys.stderr)


if __name__ == "__main__":
    main()
