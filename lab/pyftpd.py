#!/usr/bin/env python3
"""pyftpdlib server for the lab. With --masquerade it advertises a private
address in its 227 replies, as a server behind NAT without its passive
address configured does (private-addr-in-pasv)."""
import argparse

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer

ap = argparse.ArgumentParser()
ap.add_argument("--root", required=True)
ap.add_argument("--addr", default="203.0.113.10")
ap.add_argument("--port", type=int, default=21)
ap.add_argument("--masquerade")
a = ap.parse_args()

auth = DummyAuthorizer()
auth.add_anonymous(a.root)
FTPHandler.authorizer = auth
FTPHandler.passive_ports = range(50100, 50110)
FTPHandler.permit_foreign_addresses = False
if a.masquerade:
    FTPHandler.masquerade_address = a.masquerade
FTPServer((a.addr, a.port), FTPHandler).serve_forever()
