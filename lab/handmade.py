#!/usr/bin/env python3
"""Hand-built captures for edge cases the lab cannot make on demand:
conflicting retransmissions (and an edited capture holding them), a gap
inside a PORT line, sequence-number wraparound, multi-section
multi-interface pcapng, a truncated file, the
founding server's own reply wording, PASV rewritten to P@SW, snaplen-cut
payloads, a one-direction capture, 4-tuple reuse, and a gzip file with a
misleading name. Deterministic: same bytes on every run.

Usage: python3 lab/handmade.py [OUTDIR]   (default: testdata/)
"""
import gzip
import os
import struct
import sys

from scapy.all import IP, TCP, Ether, Dot1Q, Raw, wrpcap

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "testdata")
T0 = 1_700_000_000.0
CLI, SRV = "198.51.100.60", "203.0.113.10"
MAC_C, MAC_S = "02:00:00:00:00:01", "02:00:00:00:00:02"


class Session:
    """Builds one TCP connection's packets with correct sequence numbers."""

    def __init__(self, cport=40000, sport=21, cisn=1000, sisn=5000, t=T0, cli=CLI, srv=SRV, ttl=(64, 64)):
        self.c = [cli, cport, cisn + 1]
        self.s = [srv, sport, sisn + 1]
        self.t = t
        self.pkts = []
        self.cisn, self.sisn = cisn, sisn
        self.ttl = ttl  # TTL of the client's and of the server's packets at this tap

    def _pkt(self, frm, to, flags, seq, ack, data=b"", dt=0.01):
        self.t += dt
        p = Ether(src=MAC_C if frm is self.c else MAC_S, dst=MAC_S if frm is self.c else MAC_C) / IP(
            src=frm[0], dst=to[0], ttl=self.ttl[0] if frm is self.c else self.ttl[1]
        ) / TCP(sport=frm[1], dport=to[1], flags=flags, seq=seq & 0xFFFFFFFF, ack=ack & 0xFFFFFFFF, window=65000)
        if data:
            p = p / Raw(data)
        p.time = self.t
        self.pkts.append(p)
        return p

    def handshake(self):
        self._pkt(self.c, self.s, "S", self.cisn, 0)
        self._pkt(self.s, self.c, "SA", self.sisn, self.c[2])
        self._pkt(self.c, self.s, "A", self.c[2], self.s[2])

    def send(self, side, data, ack=True, advance=True, seq=None):
        frm, to = (self.c, self.s) if side == "c" else (self.s, self.c)
        s = frm[2] if seq is None else seq
        self._pkt(frm, to, "PA", s, to[2], data)
        if advance:
            frm[2] += len(data)
        if ack:
            self._pkt(to, frm, "A", to[2], frm[2])

    def close(self):
        self._pkt(self.c, self.s, "FA", self.c[2], self.s[2])
        self.c[2] += 1
        self._pkt(self.s, self.c, "FA", self.s[2], self.c[2])
        self.s[2] += 1
        self._pkt(self.c, self.s, "A", self.c[2], self.s[2])

    def login(self, banner=b"220 hand-made FTP server ready.\r\n"):
        self.handshake()
        self.send("s", banner)
        self.send("c", b"USER anonymous\r\n")
        self.send("s", b"331 Please specify the password.\r\n")
        self.send("c", b"PASS secret-word\r\n")
        self.send("s", b"230 Login successful.\r\n")


def transfer(s, d, opening, body, done):
    """Data connection `d` opens, carries `body` (sender, bytes) and
    closes, while control connection `s` says `opening` and `done`."""
    d.handshake()
    s.t = d.t
    s.send("s", opening)
    d.t = s.t
    d.send(*body)
    d.close()
    s.t = d.t
    s.send("s", done)


def out(name):
    return os.path.join(OUT, name)


def overlap_conflict():
    """A retransmission whose bytes differ from the first copy."""
    s = Session()
    s.login()
    start = s.c[2]
    s.send("c", b"PORT 198,51,100,60,125,227\r\n", ack=False)
    s.send("c", b"PORT 198,51,100,60,125,22_\r\n", ack=True, advance=False, seq=start)
    s.send("s", b"200 PORT command successful.\r\n")
    s.close()
    wrpcap(out("hand-overlap-conflict.pcap"), s.pkts)


def edited_capture():
    """An edited capture: the PORT segment followed by a copy of it with
    227 turned into 22_, spliced in from a file 16 years older (its own
    time stamp and IP identification): two copies of the same bytes that
    differ, which no sender retransmits across that time."""
    s = Session()
    s.login()
    start = s.c[2]
    s.send("c", b"PORT 198,51,100,60,125,227\r\n", ack=False)
    spliced = s._pkt(s.c, s.s, "PA", start, s.s[2], b"PORT 198,51,100,60,125,22_\r\n")
    spliced[IP].id = 0x3C1D
    spliced.time = s.t - 16 * 365.25 * 86400
    s.send("s", b"200 PORT command successful.\r\n")
    s.close()
    wrpcap(out("hand-edited-capture.pcap"), s.pkts)


def gap_in_port():
    """The middle segment of a PORT line is missing; the server ACKs it."""
    s = Session()
    s.login()
    line = b"PORT 198,51,100,60,156,64\r\n"
    parts = [line[:9], line[9:17], line[17:]]
    s.send("c", parts[0], ack=False)
    s.c[2] += len(parts[1])  # never captured
    s.send("c", parts[2], ack=True)
    s.send("s", b"200 PORT command successful.\r\n")
    s.send("c", b"NOOP\r\n")
    s.send("s", b"200 NOOP ok.\r\n")
    s.close()
    wrpcap(out("hand-gap-in-port.pcap"), s.pkts)


def seq_wrap():
    """Client sequence numbers wrap around 2^32 in the middle of a PORT."""
    line = b"PORT 198,51,100,60,156,64\r\n"
    # Login bytes: USER (16) + PASS (19) = 35; put the wrap 10 bytes into PORT.
    isn = (1 << 32) - 1 - 35 - 10
    s = Session(cisn=isn, sisn=0xFFFFFF00)
    s.login()
    s.send("c", line[:14], ack=False)
    s.send("c", line[14:])
    s.send("s", b"200 PORT command successful.\r\n")
    s.close()
    wrpcap(out("hand-seq-wrap.pcap"), s.pkts)


def founding_echo():
    """The founding case's server wording: `500 Command not understood '…'`."""
    s = Session(cli="10.225.1.89", srv="192.0.2.21")
    s.login(banner=b"220 FTP Server ready.\r\n")
    s.send("c", b"TYPE I\r\n")
    s.send("s", b"200 Type set to I.\r\n")
    s.send("c", b"PORT 10,225,1,89,124,227\r\n")
    s.send("s", b"500 Command not understood 'PORT 10,225,1,89,124,22_'\r\n")
    s.t += 30
    s.send("s", b"421 Timeout (30 seconds): closing control connection.\r\n")
    s.close()
    wrpcap(out("hand-founding-echo.pcap"), s.pkts)


def smc_pasv():
    """PASV arrives as P@SW (SMC Barricade); a BSD ftpd echoes it."""
    s = Session()
    s.login()
    s.send("c", b"PASV\r\n")
    s.send("s", b"500 'P@SW': command not understood.\r\n")
    s.send("c", b"QUIT\r\n")
    s.send("s", b"221 Goodbye.\r\n")
    s.close()
    wrpcap(out("hand-smc-pasv.pcap"), s.pkts)


def snaplen():
    """Captured with a 70-byte snaplen: payloads are cut."""
    s = Session()
    s.login(banner=b"220 a rather long banner that the snaplen will certainly cut in half\r\n")
    s.send("c", b"NOOP\r\n")
    s.send("s", b"200 NOOP ok.\r\n")
    s.close()
    with open(out("hand-snaplen.pcap"), "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 70, 1))
        for p in s.pkts:
            raw = bytes(p)
            usec = int(round((p.time % 1) * 1e6))
            f.write(struct.pack("<IIII", int(p.time), usec, min(70, len(raw)), len(raw)) + raw[:70])


def one_direction():
    """Only client-to-server packets, as on a half-duplex SPAN."""
    s = Session()
    s.login()
    s.send("c", b"PORT 198,51,100,60,156,64\r\n")
    s.send("c", b"RETR hello.txt\r\n")
    s.close()
    wrpcap(out("hand-one-direction.pcap"), [p for p in s.pkts if p[IP].src == CLI])


def tuple_reuse():
    """The same 4-tuple carries two sessions (new ISN after FIN)."""
    a = Session(cisn=1000)
    a.login()
    a.send("c", b"QUIT\r\n")
    a.send("s", b"221 Goodbye.\r\n")
    a.close()
    b = Session(cisn=900000, sisn=777, t=a.t + 1)
    b.login()
    b.send("c", b"QUIT\r\n")
    b.send("s", b"221 Goodbye.\r\n")
    b.close()
    wrpcap(out("hand-tuple-reuse.pcap"), a.pkts + b.pkts)


def truncated():
    """A valid capture cut in the middle of a record."""
    s = Session()
    s.login()
    s.send("c", b"PORT 198,51,100,60,156,64\r\n")
    s.send("s", b"200 PORT command successful.\r\n")
    s.close()
    tmp = out("hand-truncated.pcap")
    wrpcap(tmp, s.pkts)
    data = open(tmp, "rb").read()
    open(tmp, "wb").write(data[: len(data) - 40])


def ng_block(btype, body, order="<"):
    """One pcapng block, padded, in the byte order `order` ("<" or ">")."""
    body += b"\0" * ((4 - len(body) % 4) % 4)
    n = 12 + len(body)
    return struct.pack(order + "II", btype, n) + body + struct.pack(order + "I", n)


def pcapng_multi():
    """pcapng: two sections; per-interface link types (Ethernet+802.1Q QinQ
    with µs timestamps, raw IPv4 with ns timestamps); the client's packets
    on one interface, the server's on another."""
    s = Session()
    s.login()
    s.send("c", b"PASV\r\n")
    s.send("s", b"227 Entering Passive Mode (203,0,113,10,195,80).\r\n")
    s.send("c", b"QUIT\r\n")
    s.send("s", b"221 Goodbye.\r\n")
    s.close()

    block = ng_block

    def shb():
        return block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))

    def idb(linktype, tsresol):
        opt = struct.pack("<HHB3x", 9, 1, tsresol) + struct.pack("<HH", 0, 0)
        return block(1, struct.pack("<HHI", linktype, 0, 65535) + opt)

    def epb(iface, t, data, res):
        ts = int(round(t * res))
        return block(6, struct.pack("<IIIII", iface, ts >> 32, ts & 0xFFFFFFFF, len(data), len(data)) + data)

    out_bytes = b""
    half = len(s.pkts) // 2
    for section, pkts in enumerate([s.pkts[:half], s.pkts[half:]]):
        out_bytes += shb() + idb(1, 6) + idb(228, 9)
        for p in pkts:
            if p[IP].src == CLI:
                frame = Ether(src=p[Ether].src, dst=p[Ether].dst) / Dot1Q(vlan=100) / Dot1Q(vlan=200) / p[IP]
                out_bytes += epb(0, p.time, bytes(frame), 10**6)
            else:
                out_bytes += epb(1, p.time, bytes(p[IP]), 10**9)
    open(out("hand-multi-section.pcapng"), "wb").write(out_bytes)


def isb_drops():
    """Big-endian pcapngs whose Interface Statistics Block says the tap
    dropped packets (issue #21): 100 received, 7 dropped by the
    interface, 3 by the OS. One holds a clean session; the other a stall
    (the server acknowledged the PASV and never replied, the client quit
    30 s later), whose finding must say the capture reports drops."""
    s = Session(cport=40040)
    s.login()
    s.send("c", b"QUIT\r\n")
    s.send("s", b"221 Goodbye.\r\n")
    s.close()
    write_isb(s.pkts, "hand-isb-drops.pcapng")
    s = Session(cport=40041)
    s.login()
    s.send("c", b"PASV\r\n")
    s.t += 30
    s.send("c", b"QUIT\r\n")
    s.send("s", b"221 Goodbye.\r\n")
    s.close()
    write_isb(s.pkts, "hand-isb-stall.pcapng")


def write_isb(pkts, name):
    """A big-endian pcapng of `pkts` ending in an ISB that reports drops."""

    def block(btype, body):
        return ng_block(btype, body, ">")

    out_bytes = block(0x0A0D0D0A, struct.pack(">IHHq", 0x1A2B3C4D, 1, 0, -1))
    out_bytes += block(1, struct.pack(">HHI", 1, 0, 65535))
    last = 0
    for p in pkts:
        ts = int(round(p.time * 10**6))
        data = bytes(p)
        out_bytes += block(6, struct.pack(">IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(data), len(data)) + data)
        last = ts
    opts = b"".join(struct.pack(">HHQ", code, 8, v) for code, v in ((4, 100), (5, 7), (7, 3)))
    opts += struct.pack(">HH", 0, 0)
    out_bytes += block(5, struct.pack(">III", 0, last >> 32, last & 0xFFFFFFFF) + opts)
    open(out(name), "wb").write(out_bytes)


NAT = "203.0.113.1"


PAIRS_MADE = []


def two_taps(name, script, proxy=False):
    """Both taps of one session through a NAT (or a proxy: own ISNs).
    `script` is a list of (sender, client-side bytes, server-side bytes),
    None where a tap does not see the line; or ("data", side, dst_port)
    for a data-connection SYN seen at a tap. Each pair gets its own time,
    client port and sequence numbers, as real sessions do, so that a
    wrong pairing of these files is a wrong pairing of sessions."""
    n = len(PAIRS_MADE)
    PAIRS_MADE.append(name)
    t, cport, isn = T0 + 1000 * n, 40000 + n, 100000 * n
    c = Session(cport=cport, cisn=1000 + isn, sisn=5000 + isn, t=t, ttl=(64, 63))
    v = Session(cli=NAT, cport=cport, t=t, cisn=(777777 if proxy else 1000) + isn,
                sisn=(888888 if proxy else 5000) + isn, ttl=(63, 64))
    c.handshake()
    v.handshake()
    for step in script:
        if step[0] == "data":
            _, tap, ip, port = step
            sess = c if tap == "client" else v
            p = Ether() / IP(src=SRV, dst=ip, ttl=64) / TCP(sport=20, dport=port, flags="S", seq=42)
            sess.t += 0.01
            p.time = sess.t
            sess.pkts.append(p)
            continue
        side, at_c, at_s = step
        # The server-side tap sees a line a moment after (or before) the client side.
        if at_c is not None:
            c.send(side, at_c)
        if at_s is not None:
            v.t = max(v.t, c.t - 0.005)
            v.send(side, at_s)
        else:
            v.t = c.t
    c.close()
    v.close()
    wrpcap(out("pair-%s-client.pcap" % name), c.pkts)
    wrpcap(out("pair-%s-server.pcap" % name), v.pkts)


def pairs():
    login = [
        ("s", b"220 ready\r\n", b"220 ready\r\n"),
        ("c", b"USER anonymous\r\n", b"USER anonymous\r\n"),
        ("s", b"230 ok\r\n", b"230 ok\r\n"),
    ]
    # SMC Barricade: PASV arrives as P@SW.
    two_taps("smc", login + [
        ("c", b"PASV\r\n", b"P@SW\r\n"),
        ("s", b"500 'P@SW': command not understood.\r\n", b"500 'P@SW': command not understood.\r\n"),
    ])
    # ISA/TMG: the firewall refuses AUTH TLS itself; the server never sees it.
    two_taps("auth-refused", login + [
        ("c", b"AUTH TLS\r\n", None),
        ("s", b"500 Access Denied\r\n", None),
        ("c", b"PWD\r\n", b"PWD\r\n"),
        ("s", b"257 \"/\"\r\n", b"257 \"/\"\r\n"),
    ], proxy=True)
    # Hybrid mode: the client asked for passive, the server got active.
    two_taps("mode", login + [
        ("c", b"PASV\r\n", None),
        ("c", None, b"PORT 203,0,113,1,195,80\r\n"),
        ("s", None, b"200 PORT command successful.\r\n"),
        ("s", b"227 Entering Passive Mode (203,0,113,1,195,80).\r\n", None),
    ], proxy=True)
    # Cisco ASA mask-syst-reply.
    two_taps("syst", login + [
        ("c", b"SYST\r\n", b"SYST\r\n"),
        ("s", b"215 XXXXXXXXXXXX\r\n", b"215 UNIX Type: L8\r\n"),
    ])
    # A 227 damaged on the way to the client.
    two_taps("pasv-mangled", login + [
        ("c", b"PASV\r\n", b"PASV\r\n"),
        ("s", b"227 Entering Passive Mode (203,0,113,10,195,8_).\r\n",
              b"227 Entering Passive Mode (203,0,113,10,195,80).\r\n"),
    ])
    # The ALG rewrote the PORT to an alias port (40001), but the server
    # connected to the original one.
    two_taps("alg-inconsistent", login + [
        ("c", b"PORT 198,51,100,60,156,64\r\n", b"PORT 203,0,113,1,156,65\r\n"),
        ("s", b"200 PORT command successful.\r\n", b"200 PORT command successful.\r\n"),
        ("c", b"RETR f\r\n", b"RETR f\r\n"),
        ("data", "server", "203.0.113.1", 40000),
        ("s", b"425 Failed to establish connection.\r\n", b"425 Failed to establish connection.\r\n"),
    ])


def hostile_bytes():
    """Credentials as servers split them (a tab after PASS, ACCT, SITE
    PASSWD) and quoted back, plus a file name and a PORT with backticks and
    markup."""
    s = Session()
    s.handshake()
    s.send("s", b"220 hand-made FTP server ready.\r\n")
    s.send("c", b"USER alice\r\n")
    s.send("s", b"331 Password required for alice.\r\n")
    s.send("c", b"PASS\ttab-secret\r\n")
    s.send("s", b"500 'PASS\ttab-secret': command not understood.\r\n")
    s.send("c", b"PASS  two-blanks\r\n")
    s.send("s", b"230 User alice logged in.\r\n")
    s.send("c", b"ACCT acct-secret\r\n")
    s.send("s", b"202 ACCT command superfluous.\r\n")
    s.send("c", b"SITE PASSWD old-secret new-secret\r\n")
    s.send("s", b"500 'SITE PASSWD old-secret new-secret': command not understood.\r\n")
    s.send("c", b"CWD a`b``<img src=x>\r\n")
    s.send("s", b"550 a`b``<img src=x>: No such file or directory.\r\n")
    s.send("c", b"PORT 198,51,100,60,1`<img src=x>,7\r\n")
    s.send("s", b"501 Illegal PORT command.\r\n")
    s.close()
    wrpcap(out("hand-hostile-bytes.pcap"), s.pkts)


def lost_lines():
    """A busy tap's loss: `200 Type set to I` and `PASV` never captured
    (their ACKs were), just before the 227; then the transfer and QUIT.
    Also a capture that starts inside a multi-line banner."""
    s = Session()
    s.login()
    s.send("c", b"TYPE I\r\n")
    s.send("s", b"200 Type set to I\r\n")
    lost = [len(s.pkts) - 2]
    s.send("c", b"PASV\r\n")
    lost.append(len(s.pkts) - 2)
    s.send("s", b"227 Entering Passive Mode (203,0,113,10,117,48).\r\n")
    s.send("c", b"LIST\r\n")
    s.send("s", b"150 Here comes the directory listing.\r\n")
    s.send("s", b"226 Directory send OK.\r\n")
    s.send("c", b"QUIT\r\n")
    s.send("s", b"221 Goodbye.\r\n")
    s.close()
    wrpcap(out("hand-lost-lines.pcap"), [p for i, p in enumerate(s.pkts) if i not in lost])
    # Picked up mid-banner: the capture starts with the banner's tail.
    m = Session(cport=40100, cisn=7000, sisn=9000)
    m.handshake()
    m.send("s", b"220-Welcome to the hand-made server.\r\n")
    m.send("s", b"     The local time is Tue Nov 14 22:13:20 2023.\r\n")
    m.send("s", b"220 ready.\r\n")
    m.send("c", b"USER anonymous\r\n")
    m.send("s", b"331 Please specify the password.\r\n")
    m.send("c", b"QUIT\r\n")
    m.send("s", b"221 Goodbye.\r\n")
    m.close()
    wrpcap(out("hand-mid-reply.pcap"), m.pkts[5:])


def two_mangled():
    """Two PORTs damaged in different octets in one session."""
    s = Session()
    s.login()
    s.send("c", b"PORT 198,51,100,60,125,22_\r\n")
    s.send("s", b"501 Illegal PORT command.\r\n")
    s.send("c", b"PORT 198,51,100,60,22_,10\r\n")
    s.send("s", b"501 Illegal PORT command.\r\n")
    s.send("c", b"QUIT\r\n")
    s.send("s", b"221 Goodbye.\r\n")
    s.close()
    wrpcap(out("hand-two-mangled.pcap"), s.pkts)


def long_lines():
    """A 112,721-byte PORT line in 1,400-byte segments and a 131-letter
    verb, each answered by the server."""
    s = Session()
    s.login()
    long_port = b"PORT 198,51,100,60,4,1" + b"0" * (112721 - 22 - 2) + b"\r\n"
    assert len(long_port) == 112721
    for i in range(0, len(long_port), 1400):
        s.send("c", long_port[i:i + 1400])
    s.send("s", b"500 Illegal PORT command.\r\n")
    s.send("c", b"A" * 131 + b"\r\n")
    s.send("s", b"500 Unknown command.\r\n")
    s.send("c", b"QUIT\r\n")
    s.send("s", b"221 Goodbye.\r\n")
    s.close()
    wrpcap(out("hand-long-lines.pcap"), s.pkts)


def tsresol_binary():
    """The minimal pcapng for pcap-parser's binary if_tsresol bug: one
    Ethernet interface with if_tsresol 0x8a (2^-10 s), one 4-byte packet
    at 1,700,000,000.5 s (docs/upstream-pcap-parser.md)."""
    def block(kind, body):
        n = 12 + len(body)
        return struct.pack("<II", kind, n) + body + struct.pack("<I", n)
    shb = struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)
    idb = struct.pack("<HHI", 1, 0, 65535) + bytes([9, 0, 1, 0, 0x8A, 0, 0, 0, 0, 0, 0, 0])
    units = 1_700_000_000 * 1024 + 512
    epb = struct.pack("<IIIII", 0, units >> 32, units & 0xFFFFFFFF, 4, 4) + b"abcd"
    with open(out("hand-tsresol-binary.pcapng"), "wb") as f:
        f.write(block(0x0A0D0D0A, shb) + block(1, idb) + block(6, epb))


def address_forms():
    """Every way FTP writes an address: PORT, EPRT (IPv4 and IPv6), LPRT
    (both families), and the 227/228/229 replies."""
    s = Session()
    s.login()
    s.send("c", b"PORT 198,51,100,60,156,64\r\n")
    s.send("s", b"200 PORT command successful.\r\n")
    s.send("c", b"EPRT |1|198.51.100.60|40001|\r\n")
    s.send("s", b"200 EPRT command successful.\r\n")
    s.send("c", b"EPRT |2|2001:db8::bbbb:1|40002|\r\n")
    s.send("s", b"522 Network protocol not supported, use (1)\r\n")
    s.send("c", b"LPRT 4,4,198,51,100,60,2,156,65\r\n")
    s.send("s", b"200 LPRT command successful.\r\n")
    s.send("c", b"LPRT 6,16,32,1,13,184,187,187,0,0,0,0,0,0,0,0,0,1,2,156,66\r\n")
    s.send("s", b"521 Supported address families are (4)\r\n")
    s.send("c", b"PASV\r\n")
    s.send("s", b"227 Entering Passive Mode (203,0,113,10,117,48).\r\n")
    s.send("c", b"LPSV\r\n")
    s.send("s", b"228 Entering Long Passive Mode (4,4,203,0,113,10,2,117,49)\r\n")
    s.send("c", b"EPSV\r\n")
    s.send("s", b"229 Entering Extended Passive Mode (|||30002|)\r\n")
    s.close()
    wrpcap(out("hand-address-forms.pcap"), s.pkts)


def blind():
    """What a busy tap misses (issue #21, 1 and 2): a control connection
    whose PASV is the last frame captured of it (no ACK, no
    retransmission, nothing later at all) while the capture runs on; a
    connection seen as one PASV frame and nothing else; and, beside them,
    a real stall (the server acknowledged the PASV and never replied, the
    client waited 30 s and quit) and a plain session that keeps the
    capture running for a minute."""
    a = Session(cport=40001, cisn=1000, sisn=5000)
    a.login()
    a.send("c", b"TYPE I\r\n")
    a.send("s", b"200 Switching to Binary mode.\r\n")
    a.send("c", b"PASV\r\n", ack=False)
    b = Session(cport=40002, cisn=2000, sisn=6000, t=T0 + 1)
    b.c[2] += 40
    b.send("c", b"PASV\r\n", ack=False)
    c = Session(cport=40003, cisn=3000, sisn=7000, t=T0 + 2)
    c.login()
    c.send("c", b"PASV\r\n")
    c.t += 30
    c.send("c", b"QUIT\r\n")
    c.send("s", b"221 Goodbye.\r\n")
    c.close()
    d = Session(cport=40004, cisn=4000, sisn=8000, t=T0 + 3)
    d.login()
    for _ in range(6):
        d.t += 10
        d.send("c", b"NOOP\r\n")
        d.send("s", b"200 NOOP ok.\r\n")
    d.close()
    pkts = sorted(a.pkts + b.pkts + c.pkts + d.pkts, key=lambda p: p.time)
    wrpcap(out("hand-blind.pcap"), pkts)


def multiline_gap():
    """A trace that kept only the first bytes of the server's stream
    (issue #21, 3): the first line of a multi-line 230, then 1,441 bytes
    never captured (the client's ACK covers them), then six PORTs, each
    answered by its own 200, the last transfer followed by 25 s of quiet
    before QUIT."""
    s = Session(cport=40010)
    s.handshake()
    s.send("s", b"220 hand-made FTP server ready.\r\n")
    s.send("c", b"USER anonymous\r\n")
    s.send("s", b"331 Please specify the password.\r\n")
    s.send("c", b"PASS secret-word\r\n")
    s.send("s", b"230-Welcome. Usage policy follows.\r\n")
    body = b"".join(b"230-  policy line %04d: be nice to the server.\r\n" % i for i in range(31))[:1441]
    s.send("s", body, ack=False)
    lost = len(s.pkts) - 1
    rest = b"".join(b"230-  policy line %04d: be nice to the server.\r\n" % i for i in range(31))[1441:]
    s.send("s", rest + b"230 Login successful.\r\n")
    lost_tail = len(s.pkts) - 2
    for k in range(6):
        s.send("c", b"PORT 198,51,100,60,156,%d\r\n" % (64 + k))
        s.send("s", b"200 PORT command successful.\r\n")
        s.send("c", b"NLST\r\n")
        s.send("s", b"150 Here comes the directory listing.\r\n")
        s.send("s", b"226 Directory send OK.\r\n")
    s.t += 25
    s.send("c", b"QUIT\r\n")
    s.send("s", b"221 Goodbye.\r\n")
    s.close()
    wrpcap(out("hand-multiline-gap.pcap"), [p for i, p in enumerate(s.pkts) if i not in (lost, lost_tail)])


def two_pasv():
    """Two passive transfers in one session, each with its data
    connection (issue #21, 5: the loss-injection test removes the first
    PASV and 227 at the tap, and the first data connection must not be
    paired with the later 227)."""
    s = Session(cport=40020)
    s.login()
    data = []
    for k, port in enumerate((30000, 30001)):
        s.send("c", b"PASV\r\n")
        p1, p2 = port >> 8, port & 0xFF
        s.send("s", b"227 Entering Passive Mode (203,0,113,10,%d,%d).\r\n" % (p1, p2))
        s.send("c", b"LIST\r\n")
        d = Session(cport=41000 + k, sport=port, cisn=20000 + k, sisn=30000 + k, t=s.t)
        transfer(s, d, b"150 Here comes the directory listing.\r\n",
                 ("s", b"-rw-r--r-- 1 0 0 5 Nov 14 22:13 hello.txt\r\n"), b"226 Directory send OK.\r\n")
        data += d.pkts
    s.send("c", b"QUIT\r\n")
    s.send("s", b"221 Goodbye.\r\n")
    s.close()
    wrpcap(out("hand-two-pasv.pcap"), sorted(s.pkts + data, key=lambda p: p.time))


def telnet_synch():
    """How lftp ends an active transfer it no longer wants (issue #22,
    13): the RFC 959 4.1.3 abort signal, Telnet IP then the Synch (IAC DM
    sent as urgent data), and a close, with no line after them."""
    s = Session(cport=40030)
    s.login()
    s.send("c", b"PORT 198,51,100,60,156,64\r\n")
    s.send("s", b"200 PORT command successful.\r\n")
    s.send("c", b"RETR hello.txt\r\n")
    s.send("s", b"150 Opening BINARY mode data connection.\r\n")
    s.send("c", b"\xff\xf4")
    p = s._pkt(s.c, s.s, "PAU", s.c[2], s.s[2], b"\xff\xf2")
    p[TCP].urgptr = 2
    s.c[2] += 2
    s._pkt(s.s, s.c, "A", s.s[2], s.c[2])
    s.close()
    wrpcap(out("hand-telnet-synch.pcap"), s.pkts)


def active_transfer(s, port, worked, k):
    """A PORT for `port` and its RETR at the client-side tap: the server
    connects to it (worked), or to the port a rewritten low byte 22_ reads
    as, where nothing listens (the client resets it)."""
    s.send("c", b"PORT 198,51,100,60,%d,%d\r\n" % (port >> 8, port & 0xFF))
    s.send("s", b"200 PORT command successful. Consider using PASV.\r\n")
    s.send("c", b"RETR hello.txt\r\n")
    target = port if worked else (port >> 8) * 256 + 22
    d = Session(cport=20, sport=target, cisn=70000 + k, sisn=80000 + k, t=s.t, cli=SRV, srv=CLI)
    if worked:
        transfer(s, d, b"150 Opening BINARY mode data connection for hello.txt (6 bytes).\r\n",
                 ("c", b"hello\n"), b"226 Transfer complete.\r\n")
    else:
        d._pkt(d.c, d.s, "S", d.cisn, 0)
        d._pkt(d.s, d.c, "RA", 0, d.cisn + 1)
        s.t = d.t
        s.send("s", b"425 Failed to establish connection.\r\n")
    return d.pkts


def onset_archive():
    """An archive rotated hourly (tcpdump -G 3600) at the client-side tap,
    six files from 2026-11-03 10:00 UTC, twelve sessions each, five
    minutes apart, every fourth one with a data port whose low byte is
    227. From 13:20 on (the fifth session of the fourth file) a device
    rewrites `227` to `22_` and those transfers fail; the others work
    throughout (issue #25: batch dates the onset)."""
    d = os.path.join(OUT, "hand-onset")
    os.makedirs(d, exist_ok=True)
    t0 = 1_793_700_000.0  # 2026-11-03T10:00:00Z
    for f in range(6):
        pkts = []
        for k in range(12):
            n = f * 12 + k
            s = Session(cport=41000 + n, cisn=100000 * (n + 1), sisn=100000 * (n + 1) + 5000,
                        t=t0 + f * 3600 + k * 300 + 1)
            s.login()
            s.send("c", b"TYPE I\r\n")
            s.send("s", b"200 Switching to Binary mode.\r\n")
            low = 227 if k % 4 == 0 else 100 + k
            worked = not (low == 227 and (f, k) >= (3, 4))
            data = active_transfer(s, (100 + n) * 256 + low, worked, n)
            s.send("c", b"QUIT\r\n")
            s.send("s", b"221 Goodbye.\r\n")
            s.close()
            pkts += s.pkts + data
        wrpcap(os.path.join(d, "tap-2026110%d-%02d00.pcap" % (3, 10 + f)), sorted(pkts, key=lambda p: p.time))


def lenient(text):
    """What sscanf/atoi make of a field: its leading digits (`22_` → 22)."""
    digits = ""
    for ch in text:
        if not ch.isdigit():
            break
        digits += ch
    return int(digits or "0")


def xfer(s, port, how, k):
    """One active transfer on control connection `s` (client-side tap),
    data port `port`: `worked`; `rewritten` (a device turned the digit
    string 227 of the PORT into 22_ on the way: the lenient server
    connects where 22_ reads as 22, nothing listens there, the client
    resets, the server says 425); `reset` (the client resets the server's
    connection to the announced port); `refused` (the server answers the
    PORT with 500 and no transfer follows). Returns the data packets."""
    cli, srv = s.c[0], s.s[0]
    p1, p2 = port >> 8, port & 0xFF
    s.send("c", b"PORT %s,%d,%d\r\n" % (cli.replace(".", ",").encode(), p1, p2))
    if how == "refused":
        s.send("s", b"500 Illegal PORT Command.\r\n")
        return []
    s.send("s", b"200 PORT command successful. Consider using PASV.\r\n")
    s.send("c", b"RETR file-%d.bin\r\n" % k)
    target = port
    if how == "rewritten":
        a, b = (str(x).replace("227", "22_") for x in (p1, p2))
        target = lenient(a) * 256 + lenient(b)
    d = Session(cport=20, sport=target, cisn=700000 + 37 * k, sisn=800000 + 41 * k, t=s.t, cli=srv, srv=cli)
    if how == "worked":
        transfer(s, d, b"150 Opening BINARY mode data connection for file-%d.bin (6 bytes).\r\n" % k,
                 ("c", b"hello\n"), b"226 Transfer complete.\r\n")
    else:
        d._pkt(d.c, d.s, "S", d.cisn, 0)
        d._pkt(d.s, d.c, "RA", 0, d.cisn + 1)
        s.t = d.t
        s.send("s", b"425 Failed to establish connection.\r\n")
    return d.pkts


def archive_session(t, n, cli, srv, banner, transfers):
    """One logged-in session at time `t` (the n-th of its archive) from
    `cli` to `srv`: each (port, how) of `transfers` in turn, then QUIT."""
    s = Session(cport=40000 + n % 20000, cisn=1000 + 100000 * n, sisn=5000 + 100000 * n, t=t, cli=cli, srv=srv)
    s.login(banner=banner)
    s.send("c", b"TYPE I\r\n")
    s.send("s", b"200 Switching to Binary mode.\r\n")
    data = []
    for j, (port, how) in enumerate(transfers):
        data += xfer(s, port, how, 10 * n + j)
    s.send("c", b"QUIT\r\n")
    s.send("s", b"221 Goodbye.\r\n")
    s.close()
    return s.pkts + data


class Ports:
    """Deterministic data ports in 32768–60999 whose bytes never read 227
    (a linear congruential sequence)."""

    def __init__(self, seed):
        self.x = seed

    def __call__(self):
        while True:
            self.x = (self.x * 1103515245 + 12345) % 2**31
            port = 32768 + self.x % 28232
            if "227" not in "%d,%d" % (port >> 8, port & 0xFF):
                return port


def write_archive(dirname, files, gz=False):
    """`files`: {name: packets}, each written sorted by time; gzipped
    (`name.gz`, as rotated archives often are) when `gz`."""
    d = os.path.join(OUT, dirname)
    os.makedirs(d, exist_ok=True)
    for name, pkts in files.items():
        path = os.path.join(d, name)
        wrpcap(path, sorted(pkts, key=lambda p: p.time))
        if gz:
            with open(path, "rb") as f, gzip.GzipFile(path + ".gz", "wb", mtime=0) as g:
                g.write(f.read())
            os.remove(path)


VSFTPD = b"220 (vsFTPd 3.0.3)\r\n"
CLIENTS = ["198.51.100.60", "198.51.100.61", "198.51.100.62"]


def founding_archive():
    """The founding case as an archive shows it (issue #34): a gzipped
    daily capture at the client-side tap, nine days from 2026-12-01, 24
    sessions a day (one an hour, three clients in turn, one vsftpd
    server), two transfers each. Two sessions a day have a data port with
    the digit string 227: as octet 6 (…,150+d,227) at 03:00, as octet 5
    (…,227,90+d) at 16:00 (d = 0 on the first day). From 2026-12-07 a
    device rewrites 227 to 22_: vsftpd reads 22_ as 22, connects to a
    port where nothing listens, and those transfers fail; every other one
    works throughout."""
    t0 = 1_796_083_200.0  # 2026-12-01T00:00:00Z
    ports = Ports(34)
    files = {}
    for day in range(9):
        pkts = []
        for hour in range(24):
            n = day * 24 + hour
            first = ports()
            if hour == 3:
                first = (150 + day) * 256 + 227
            elif hour == 16:
                first = 227 * 256 + 90 + day
            damaged = "227" in "%d,%d" % (first >> 8, first & 0xFF)
            how = "rewritten" if damaged and day >= 6 else "worked"
            pkts += archive_session(t0 + day * 86400 + hour * 3600 + 300, n, CLIENTS[n % 3], SRV, VSFTPD,
                                    [(first, how), (ports(), "worked")])
        files["tap-2026-12-%02d.pcap" % (day + 1)] = pkts
    write_archive("hand-founding", files, gz=True)


def scanner_archive():
    """A scanner among working transfers (issue #34): three daily captures
    of active transfers from three clients to a vsftpd and a ProFTPD
    server, four of them failing each its own way (reset, rewritten) in
    four sessions with nothing in common; and one session in which
    192.0.2.99 logs into a wu-ftpd server and sends eleven PORTs for ports
    0–1023 — each refused with `500 Illegal PORT Command.` — and no
    transfer command."""
    t0 = 1_796_083_200.0 + 20 * 86400  # 2026-12-21
    ports = Ports(7)
    servers = [(SRV, VSFTPD), ("203.0.113.11", b"220 ProFTPD Server (Debian) [203.0.113.11]\r\n")]
    failing = {(0, 5): "reset", (1, 2): "rewritten", (1, 9): "reset", (2, 7): "rewritten"}
    files = {}
    for day in range(3):
        pkts = []
        for k in range(10):
            n = day * 10 + k
            srv, banner = servers[n % 2]
            how = failing.get((day, k), "worked")
            first = ports()
            if how == "rewritten":
                first = (140 + n) * 256 + 227
            pkts += archive_session(t0 + day * 86400 + k * 2000 + 60, n, CLIENTS[n % 3], srv, banner,
                                    [(first, how), (ports(), "worked")])
        if day == 1:
            wu = b"220 ftp.example.org FTP server (Version wu-2.6.2(1) Mon Dec 3 2001) ready.\r\n"
            low = [0, 7, 19, 21, 22, 23, 25, 80, 110, 443, 1023]
            pkts += archive_session(t0 + 86400 + 43210, 99, "192.0.2.99", "203.0.113.12", wu,
                                    [(p, "refused") for p in low])
        files["ftp-2026-12-%02d.pcap" % (21 + day)] = pkts
    write_archive("hand-scanner", files)


def scattered_archive():
    """Failures with nothing in common (issue #34): five daily captures of
    ten sessions from five clients to two servers, two transfers each;
    from the fourth day five transfers fail — connection reset by the
    client or the port rewritten — in five sessions of five clients, at
    five hours, on both servers, with unrelated ports."""
    t0 = 1_796_083_200.0 + 40 * 86400  # 2027-01-10
    ports = Ports(99)
    clients = ["198.51.100.%d" % (70 + i) for i in range(5)]
    servers = [(SRV, VSFTPD), ("203.0.113.11", b"220 ProFTPD Server (Debian) [203.0.113.11]\r\n")]
    failing = {(3, 1): "reset", (3, 6): "rewritten", (4, 3): "reset", (4, 5): "reset", (4, 8): "rewritten"}
    files = {}
    for day in range(5):
        pkts = []
        for k in range(10):
            n = day * 10 + k
            srv, banner = servers[(n // 5) % 2]
            how = failing.get((day, k), "worked")
            first = ports()
            if how == "rewritten":
                first = (140 + n) * 256 + 227
            pkts += archive_session(t0 + day * 86400 + k * 5000 + 120, n, clients[(n + day) % 5], srv, banner,
                                    [(first, how), (ports(), "worked")])
        files["ftp-2027-01-%02d.pcap" % (10 + day)] = pkts
    write_archive("hand-scattered", files)


def strength_archives():
    """The same transfers twice (issue #34): 6 failed with data-port low
    byte 227 rewritten, 94 worked, in 20 sessions of one client. In
    `many/` each failure is in its own session (six sessions of 1 failed
    and 4 working transfers, fourteen of 5 working); in `one/` all six
    are in one session (with 24 working ones), the other nineteen
    sessions holding the remaining 70 working transfers."""
    t0 = 1_796_083_200.0 + 60 * 86400  # 2027-01-30
    for name, fails in [("many", [1] * 6 + [0] * 14), ("one", [6] + [0] * 19)]:
        ports = Ports(5)
        pkts = []
        # 4 working transfers beside each failure, the rest spread evenly.
        work = [4 * f for f in fails]
        rest = [n for n, f in enumerate(fails) if f == 0]
        left = 94 - sum(work)
        for i, n in enumerate(rest):
            work[n] = left // len(rest) + (1 if i < left % len(rest) else 0)
        assert sum(work) == 94, work
        for n, f in enumerate(fails):
            transfers = [((140 + n + 2 * j) * 256 + 227, "rewritten") for j in range(f)]
            transfers += [(ports(), "worked") for _ in range(work[n])]
            pkts += archive_session(t0 + n * 600 + 30, n, CLIENTS[0], SRV, VSFTPD, transfers)
        write_archive(os.path.join("hand-strength", name), {"tap.pcap": pkts})


def logout_227():
    """Pure-FTPd's goodbye as one capture shows it (issue #34): a passive
    listing that works, the client's FIN, then `227 Logout.` with no PASV
    before it — no data setup."""
    s = Session(cport=40077, srv="203.0.113.13")
    s.login(banner=b"220---------- Welcome to Pure-FTPd [privsep] [TLS] ----------\r\n"
                   b"220-You are user number 1 of 50 allowed.\r\n"
                   b"220 You will be disconnected after 15 minutes of inactivity.\r\n")
    s.send("c", b"PASV\r\n")
    s.send("s", b"227 Entering Passive Mode (203,0,113,13,195,80)\r\n")
    s.send("c", b"LIST\r\n")
    d = Session(cport=41077, sport=50000, cisn=31000, sisn=32000, t=s.t, srv="203.0.113.13")
    transfer(s, d, b"150 Accepted data connection\r\n",
             ("s", b"-rw-r--r-- 1 0 0 5 Nov 14 22:13 hello.txt\r\n"), b"226 1 matches total\r\n")
    s._pkt(s.c, s.s, "FA", s.c[2], s.s[2])
    s.c[2] += 1
    s.send("s", b"227 Logout.\r\n")
    s._pkt(s.s, s.c, "FA", s.s[2], s.c[2])
    s.s[2] += 1
    s._pkt(s.c, s.s, "A", s.c[2], s.s[2])
    write_archive("hand-logout", {"pure-ftpd-logout.pcap": s.pkts + d.pkts})


def quoted_replies():
    """A client that sends every command before the server's banner, and
    a server whose replies quote the command they answer, `225` for a
    RETR included (the shape of Zeek's fake-server-delays-all trace,
    issue #31: a reply that quotes its command pairs with it)."""
    s = Session(cport=40040)
    s.handshake()
    lines = [b"USER anonymous", b"PASS anonymous@example.org", b"SYST", b"TYPE I", b"PASV",
             b"RETR robots.txt", b"PORT 114,115", b"QUIT"]
    for l in lines:
        s.send("c", l + b"\r\n")
    s.send("s", b"220 py.fake ready\r\n")
    for code, l in zip([230, 230, 215, 200, 227, 225, 200, 221], lines):
        s.send("s", b"%d Fake response %s\r\n" % (code, l))
    s.close()
    wrpcap(out("hand-quoted-replies.pcap"), s.pkts)


def not_sessions():
    """Connections to port 21 that never were FTP sessions (issue #31):
    a SYN refused with RST (retried once, with the same ISN, as Windows
    does), a SYN never answered (sent three times), and a lone 9-byte
    retransmission of `PORT 192,` on a connection whose start the capture
    does not hold, which the server answers with RST: it has no such
    connection. Then one real session."""
    pkts = []
    r = Session(cport=40050, cisn=50000, t=T0)
    for _ in range(2):
        r._pkt(r.c, r.s, "S", r.cisn, 0)
        r._pkt(r.s, r.c, "RA", 0, r.cisn + 1, dt=0.0005)
        r.t += 0.5
    pkts += r.pkts
    u = Session(cport=40051, cisn=51000, t=T0 + 2)
    for dt in (0, 1, 2):
        u._pkt(u.c, u.s, "S", u.cisn, 0, dt=dt)
    pkts += u.pkts
    x = Session(cport=40053, cisn=53000, sisn=63000, t=T0 + 6)
    x._pkt(x.c, x.s, "PA", x.c[2] + 120, x.s[2] + 300, b"PORT 192,")
    x._pkt(x.s, x.c, "R", x.s[2] + 300, 0, dt=0.0003)
    pkts += x.pkts
    s = Session(cport=40052, cisn=52000, sisn=62000, t=T0 + 10)
    s.login()
    s.send("c", b"TYPE I\r\n")
    s.send("s", b"200 Switching to Binary mode.\r\n")
    s.send("c", b"QUIT\r\n")
    s.send("s", b"221 Goodbye.\r\n")
    s.close()
    pkts += s.pkts
    wrpcap(out("hand-not-sessions.pcap"), sorted(pkts, key=lambda p: p.time))


def vsftpd_backdoor():
    """The vsftpd 2.3.4 backdoor (CVE-2011-2523) as a capture shows it: a
    `USER` ending in `:)` to a server whose banner says vsFTPd 2.3.4, then
    a connection to its port 6200, which no PORT or PASV announced, and a
    shell on it (modelled on Shubh9414/Blue-Team-labs' attack.pcap)."""
    cli, srv = "192.0.2.66", "192.0.2.101"
    s = Session(cport=40060, cli=cli, srv=srv, cisn=60000, sisn=61000)
    s.handshake()
    s.send("s", b"220 (vsFTPd 2.3.4)\r\n")
    s.send("c", b"USER 0p:)\r\n")
    s.send("s", b"331 Please specify the password.\r\n")
    s.send("c", b"PASS oC\r\n")
    b = Session(cport=40061, sport=6200, cli=cli, srv=srv, cisn=63000, sisn=64000, t=s.t + 0.001)
    b.handshake()
    b.send("c", b"id\n")
    b.send("s", b"uid=0(root) gid=0(root)\n")
    b.t += 3
    b.send("c", b"cat /etc/hostname\n")
    b.send("s", b"metasploitable\n")
    s.t = b.t + 5
    s.close()
    b.close()
    wrpcap(out("hand-vsftpd-backdoor.pcap"), sorted(s.pkts + b.pkts, key=lambda p: p.time))


def eprt_private_425():
    """An EPRT naming the client's private address, sent to a public
    server through a NAT that translates the connection but not the EPRT
    (issue #31): the server tries the private address, its connect times
    out, and it answers `425`, twice. Seen at the client side (the tap
    inside the NAT: the control connection carries the private address
    too, TTL 64) and at the server side (the control connection comes
    from the NAT's public address; the server's SYNs to the private
    address go unanswered)."""
    priv, nat = "192.168.1.10", NAT
    c = Session(cport=40070, cli=priv, cisn=70000, sisn=71000, ttl=(64, 52))
    v = Session(cport=40070, cli=nat, cisn=70000, sisn=71000, ttl=(52, 64))
    for tap in (c, v):
        tap.login(banner=b"220---------- Welcome to Pure-FTPd [privsep] [TLS] ----------\r\n"
                         b"220-You are user number 1 of 50 allowed.\r\n"
                         b"220 Local time is now 22:13. Server port: 21.\r\n")
        tap.send("c", b"TYPE I\r\n")
        tap.send("s", b"200 TYPE is now 8-bit binary\r\n")
    data = []
    for k, port in enumerate((41234, 41235)):
        for tap in (c, v):
            tap.send("c", b"EPRT |1|%s|%d|\r\n" % (priv.encode(), port))
            tap.send("s", b"200 PORT command successful\r\n")
            tap.send("c", b"RETR report.pdf\r\n")
        for dt in (0.01, 1, 2, 4, 8):
            p = Ether() / IP(src=SRV, dst=priv, ttl=64) / TCP(sport=20, dport=port, flags="S", seq=90000 + k)
            v.t += dt
            p.time = v.t
            data.append(p)
        c.t += 21
        v.t += 6
        for tap in (c, v):
            tap.send("s", b"425 Could not open data connection to port %d: Connection timed out\r\n" % port)
    for tap in (c, v):
        tap.send("c", b"QUIT\r\n")
        tap.send("s", b"221 Goodbye.\r\n")
        tap.close()
    wrpcap(out("hand-eprt-private-425-client.pcap"), c.pkts)
    wrpcap(out("hand-eprt-private-425-server.pcap"), sorted(v.pkts + data, key=lambda p: p.time))


def gzipped():
    """A gzip capture whose name says nothing about its format."""
    src = open(out("hand-founding-echo.pcap"), "rb").read()
    with gzip.GzipFile(out("hand-founding-echo.bin"), "wb", mtime=0) as g:
        g.write(src)


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    for f in [overlap_conflict, edited_capture, gap_in_port, seq_wrap, founding_echo, smc_pasv, snaplen,
              one_direction, tuple_reuse, truncated, pcapng_multi, gzipped, pairs,
              hostile_bytes, address_forms, lost_lines, two_mangled,
              long_lines, tsresol_binary, blind, multiline_gap,
              two_pasv, telnet_synch, isb_drops, onset_archive, founding_archive,
              scanner_archive, scattered_archive, strength_archives, logout_227, quoted_replies,
              not_sessions, vsftpd_backdoor, eprt_private_425]:
        f()
        print("wrote", f.__name__, file=sys.stderr)
