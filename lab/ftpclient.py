#!/usr/bin/env python3
"""Scripted FTP clients for the portmortem lab.

Each scenario sends exact bytes (and, where it matters, exact TCP segment
boundaries: TCP_NODELAY plus a pause between send() calls), so the captures
show precisely what the tests assert. Run inside the client namespace.
"""
import argparse
import socket
import ssl
import sys
import time

TIMEOUT = 20.0  # inetutils-ftpd sends its banner ~5 s after connecting


class Ctl:
    def __init__(self, host, port):
        self.s = socket.create_connection((host, port), timeout=TIMEOUT)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.local_ip = self.s.getsockname()[0]

    def log(self, *a):
        print(*a, file=sys.stderr, flush=True)

    def send(self, *parts, pause=0.4):
        """Sends each part in its own segment."""
        for i, p in enumerate(parts):
            if i:
                time.sleep(pause)
            self.log(">>", p)
            self.s.sendall(p)

    def line(self):
        while b"\n" not in self.buf:
            d = self.s.recv(4096)
            if not d:
                raise EOFError("connection closed")
            self.buf += d
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r")

    def reply(self):
        first = self.line()
        lines = [first]
        if len(first) >= 4 and first[3:4] == b"-":
            code = first[:3]
            while True:
                l = self.line()
                lines.append(l)
                if l[:3] == code and l[3:4] == b" ":
                    break
        self.log("<<", b" | ".join(lines))
        return int(first[:3]) if first[:3].isdigit() else 0, lines

    def cmd(self, text, **kw):
        self.send(text.encode() + b"\r\n" if isinstance(text, str) else text, **kw)
        return self.reply()

    def login(self, user="anonymous", password="lab@example.org"):
        self.reply()  # banner
        code, _ = self.cmd("USER " + user)
        if code == 331:
            self.cmd("PASS " + password)

    def quit(self):
        try:
            self.cmd("QUIT")
        except (EOFError, OSError):
            pass
        self.s.close()


def port_arg(ip, port):
    return ",".join(ip.split(".") + [str(port >> 8), str(port & 0xFF)])


def listen(ip, port):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((ip, port))
    ls.listen(1)
    ls.settimeout(8)
    return ls


def recv_all(sock):
    data = b""
    sock.settimeout(8)
    while True:
        d = sock.recv(65536)
        if not d:
            return data
        data += d


def active(c, port, filename, verb="PORT", data_ip=None):
    """PORT (or EPRT) to a listener on `port`, then RETR."""
    ip = c.local_ip
    ls = listen(ip, port)
    if verb == "PORT":
        code, _ = c.cmd("PORT " + port_arg(data_ip or ip, port))
    else:
        code, _ = c.cmd("EPRT |1|%s|%d|" % (data_ip or ip, port))
    if code >= 400:
        ls.close()
        return code
    c.send(b"RETR " + filename.encode() + b"\r\n")
    code, _ = c.reply()
    if code < 200:
        try:
            conn, _ = ls.accept()
            c.log("data:", recv_all(conn)[:60])
            conn.close()
        except socket.timeout:
            c.log("no data connection arrived")
        code, _ = c.reply()
    ls.close()
    return code


def active_line(c, line, port, filename):
    """Sends `line` (an address command, exactly as written, however
    malformed) with a listener on `port`, the data port its writer meant;
    RETR when the server accepted it. Returns the last reply code."""
    ls = listen(c.local_ip, port)
    try:
        try:
            code, _ = c.cmd(line)
        except socket.timeout:
            c.log("no reply to", line)
            return None
        if code < 200 or code >= 400:
            return code
        c.send(b"RETR " + filename.encode() + b"\r\n")
        code, _ = c.reply()
        if code < 200:
            try:
                conn, _ = ls.accept()
                c.log("data:", recv_all(conn)[:60])
                conn.close()
            except socket.timeout:
                c.log("no data connection arrived")
            code, _ = c.reply()
        return code
    finally:
        ls.close()


def passive(c, filename, verb="PASV", use_control_ip=False):
    code, lines = c.cmd(verb)
    if code not in (227, 229):
        return code
    text = lines[-1].decode()
    if verb == "PASV":
        nums = text[text.index("(") + 1 : text.index(")")].split(",")
        host, port = ".".join(nums[:4]), int(nums[4]) * 256 + int(nums[5])
        if use_control_ip:
            # Python ftplib since bpo-43285, FileZilla: ignore the address.
            host = c.s.getpeername()[0]
    else:
        host, port = c.s.getpeername()[0], int(text.split("|")[3])
    d = socket.create_connection((host, port), timeout=TIMEOUT)
    c.send(b"RETR " + filename.encode() + b"\r\n")
    code, _ = c.reply()
    if code < 200:
        c.log("data:", recv_all(d)[:60])
        code, _ = c.reply()
    d.close()
    return code


def tls(args):
    import ftplib

    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    f = ftplib.FTP_TLS(context=ctx, timeout=TIMEOUT)
    f.connect(args.host, args.ctl_port)
    f.login()
    f.prot_p()
    f.set_pasv(True)
    try:
        f.retrbinary("RETR " + args.file, lambda b: None)
    except ftplib.all_errors as e:
        print("tls transfer failed:", e, file=sys.stderr)
    f.quit()


def run(args):
    if args.scenario == "tls":
        return tls(args)
    c = Ctl(args.host, args.ctl_port)
    c.login()
    c.cmd("TYPE I")
    s = args.scenario
    if s == "active":
        active(c, args.data_port, args.file)
    elif s == "active-then-hang":
        # The founding symptom: a script that waits after a failed PORT
        # (or a PORT that never gets an answer).
        try:
            code = active(c, args.data_port, args.file)
        except (socket.timeout, EOFError) as e:
            code = "no reply (%s)" % e
        c.log("PORT/RETR ended with", code, "- idling")
        time.sleep(args.idle)
        c.s.close()
        return
    elif s == "active-then-clean":
        active(c, args.data_port, args.file)
        active(c, args.data_port + 1, args.file)
    elif s == "passive":
        passive(c, args.file)
    elif s == "passive-control-ip":
        passive(c, args.file, use_control_ip=True)
    elif s == "eprt":
        active(c, args.data_port, args.file, verb="EPRT")
    elif s == "epsv":
        passive(c, args.file, verb="EPSV")
    elif s == "retr-name":
        c.cmd("RETR " + args.file)
    elif s == "split-port":
        # PORT split across two segments: the Linux FTP helper drops it.
        ls = listen(c.local_ip, args.data_port)
        arg = port_arg(c.local_ip, args.data_port).encode()
        cut = len(arg) // 2
        # Both halves go out before the first retransmission timeout.
        c.send(b"PORT " + arg[:cut], arg[cut:] + b"\r\n", pause=0.05)
        try:
            c.reply()
            c.cmd("RETR " + args.file)
        except (socket.timeout, EOFError) as e:
            c.log("no reply:", e)
        ls.close()
    elif s == "malformed":
        ip = c.local_ip
        p = port_arg(ip, args.data_port)
        c.cmd("PORT %s\n" % p, pause=0)  # bare LF
        c.send(b"PORT " + p.encode() + b" \r\n")  # trailing space
        c.reply()
        c.send(b"NOOP\r\nPORT " + p.encode() + b"\r\n")  # pipelined, not at segment start
        c.reply()
        c.reply()
        c.cmd("EPRT |2|%s|%d|" % (ip, args.data_port))  # wrong family
        c.cmd("PORT %s,300,1" % ",".join(ip.split(".")))  # octet out of range
        c.cmd("port " + p)  # lower case, valid
    elif s == "sent-malformed":
        # The client's own malformed address commands: the founding 227 ->
        # 22_ damage written by the script itself, so no device is to blame.
        # Each listens on the port its writer meant (32227, 58122).
        h = c.local_ip.replace(".", ",")
        c.s.settimeout(5)  # inetutils answers some of them with silence
        active_line(c, "PORT %s,125,22_" % h, 125 * 256 + 227, args.file)
        active_line(c, "PORT %s,22_,10" % h, 227 * 256 + 10, args.file)
        active_line(c, "EPRT |1|%s|3222_|" % c.local_ip, 32227, args.file)
        # Another host's address (the reviewer's line).
        active_line(c, "PORT 192,0,2,77,125,22_", 32227, args.file)
    elif s == "private-eprt":
        # A client on a private address behind a NAT that does not
        # translate address commands: it announces its own address.
        for verb in ("EPRT", "PORT"):
            try:
                c.log(verb, "ended with", active(c, args.data_port, args.file, verb=verb))
            except socket.timeout as e:
                c.log(verb, "no reply:", e)
    elif s == "port-eprt":
        # One active transfer announced by PORT, one by EPRT, to the same
        # port (…,125,227 and |32227|: what the 227 -> 22_ mangler damages
        # and the NAT helper rewrites). A device that swallows a line
        # leaves the client waiting: it gives up after 8 s and quits.
        c.s.settimeout(8)
        try:
            for verb in ("PORT", "EPRT"):
                c.log(verb, "ended with", active(c, args.data_port, args.file, verb=verb))
        except socket.timeout as e:
            c.log("no reply:", e)
    elif s == "pipelined-port":
        # NOOP and PORT in one segment: the PORT is not at the start of it.
        c.send(b"NOOP\r\nPORT " + port_arg(c.local_ip, args.data_port).encode() + b"\r\n")
        c.reply()
        c.reply()
    elif s == "abort":
        # ABOR preceded by Telnet IP and Synch, as ftplib.abort() sends it.
        c.send(b"\xff\xf4\xff\xf2ABOR\r\n")
        c.reply()
    else:
        sys.exit("unknown scenario " + s)
    c.quit()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("scenario")
    ap.add_argument("--host", default="203.0.113.10")
    ap.add_argument("--ctl-port", type=int, default=21)
    ap.add_argument("--data-port", type=int, default=125 * 256 + 227)
    ap.add_argument("--file", default="hello.txt")
    ap.add_argument("--idle", type=float, default=25.0)
    run(ap.parse_args())
