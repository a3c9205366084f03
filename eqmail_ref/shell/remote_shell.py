"""`eqmail-ref remote HOST SENDER RECIP...`: the reference qmail-remote over real sockets.

Reads the message on stdin and writes the report protocol on stdout (spec §5.1). Done so
far: smtproutes relays (literal IPs, or names resolved to IPv4 A records), domainbindings
(1.08: bind the source address before each connect; EHLO as the sender domain), timeouts.
Not yet: MX lookup without a relay, STARTTLS (see the qmail-remote issue).
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

from eqmail_ref.cbytes import ip_scan
from eqmail_ref.controls import readfile_entries, readint_value, readline_value
from eqmail_ref.effects import Send
from eqmail_ref.remote.client import Delivery, Finished, Report, SmtpDialogue, quote_address
from eqmail_ref.remote.report import TEMP_CONTROL, TEMP_DNS, TEMP_NOCONN, USAGE, host_not_found
from eqmail_ref.remote.routes import Binding, ColonMap, binding_for, route_for
from eqmail_ref.versions import Version

__all__ = ["deliver", "main_remote"]


def _control(home: Path, name: str) -> bytes | None:
    try:
        return (home / "control" / name).read_bytes()
    except FileNotFoundError:
        return None


def _literal(host: bytes) -> bytes | None:
    inner = host[1:-1] if host[:1] == b"[" and host[-1:] == b"]" else host
    scanned = ip_scan(inner)
    return scanned[0] if scanned is not None and scanned[1] == len(inner) else None


def _addresses(host: bytes) -> list[bytes] | bytes:
    """The IPv4 addresses to try, or a finished report for a lookup failure."""
    literal = _literal(host)
    if literal is not None:
        return [literal]
    try:
        infos = socket.getaddrinfo(host.decode("latin-1"), None, socket.AF_INET, socket.SOCK_STREAM)
    except socket.gaierror as exc:
        if exc.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", -5)):
            return host_not_found(host)
        return TEMP_DNS + b"\0"
    return [socket.inet_aton(str(info[4][0])) for info in infos]


def _talk(sock: socket.socket, dialogue: SmtpDialogue, out: list[bytes]) -> bool:
    """Run one dialogue; True if it asks for the next address (1.09 4xx greeting)."""
    try_next = False
    effects = dialogue.take()
    while True:
        for e in effects:
            if isinstance(e, Send):
                try:
                    sock.sendall(e.data)
                except OSError:
                    pass  # the next read sees the dead connection
            elif isinstance(e, Report):
                out.append(e.data)
            elif isinstance(e, Finished):
                try_next = e.try_next
        if dialogue.done:
            return try_next
        try:
            data = sock.recv(65536)
        except OSError:  # timeout or reset: "connection died"
            data = b""
        effects = dialogue.receive(data)


def deliver(home: Path, version: Version, host: bytes, sender: bytes, recipients: list[bytes],
            message: bytes) -> bytes:
    """The whole report qmail-remote would write."""
    me = _control(home, "me")
    helo_data = _control(home, "helohost")
    helohost = readline_value(helo_data if helo_data is not None else me or b"")
    if helo_data is None and me is None:
        return TEMP_CONTROL + b"\0"
    timeout = readint_value(_control(home, "timeoutremote") or b"", 1200)
    timeoutconnect = readint_value(_control(home, "timeoutconnect") or b"", 60)
    routes = ColonMap(readfile_entries(_control(home, "smtproutes") or b""))
    binding = Binding()
    if version.domainbindings:
        binding = binding_for(sender, ColonMap(readfile_entries(_control(home, "domainbindings") or b"")))
        if binding.error is not None:
            return binding.error + b"\0"
    route = route_for(host, routes)
    if route.relay is None:
        return TEMP_DNS + b"\0"  # MX lookup: not implemented yet (qmail-remote issue)
    addresses = _addresses(route.relay)
    if isinstance(addresses, bytes):
        return addresses
    delivery = Delivery(
        sender=quote_address(sender), recipients=tuple(quote_address(r) for r in recipients),
        message=message, helohost=binding.helo or helohost, auth_user=route.user,
        auth_password=route.password, version=version)
    out: list[bytes] = []
    for ip in addresses:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            if binding.local_ip is not None:
                sock.bind((socket.inet_ntoa(binding.local_ip), 0))  # a bind error: next address
            sock.settimeout(max(timeoutconnect, 1))
            sock.connect((socket.inet_ntoa(ip), route.port))
            sock.settimeout(max(timeout, 1))
        except OSError:
            sock.close()
            continue
        with sock:
            if not _talk(sock, SmtpDialogue(delivery, ip), out):
                return b"".join(out)
    return b"".join(out) + TEMP_NOCONN + b"\0"


def main_remote(argv: list[str], home: Path, version: Version) -> int:
    if len(argv) < 3:
        sys.stdout.buffer.write(USAGE + b"\0")
        return 0
    host, sender, *recipients = (os.fsencode(a) for a in argv)
    message = sys.stdin.buffer.read()
    sys.stdout.buffer.write(deliver(home, version, host, sender, recipients, message))
    sys.stdout.buffer.flush()
    return 0
