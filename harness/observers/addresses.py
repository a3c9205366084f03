"""Loopback addresses of the harness's own for the outgoing side: each fake relay and each
fake DNS server of a qmail-remote case gets an address of its own in 127.42.0.0/16 (the
whole of 127/8 is local on Linux, no setup needed), so that it can listen on the port a real
qmail-remote insists on (25 for mail exchangers, 53 for the resolver) while other cases run
at the same time. The start of the walk depends on the pid, so two harness processes rarely
meet; a taken address is skipped, never shared.

Privileged ports need root (or CAP_NET_BIND_SERVICE); without it the listeners take a port
of the kernel's choice, which only cases that name the port (smtproutes `{relay_port}`) and
targets that can be told the DNS port (the reference) can use.
"""

from __future__ import annotations

import errno
import itertools
import os
import socket
import threading

__all__ = ["PREFIX", "next_address", "listen_tcp", "bind_udp", "allocated"]

PREFIX = "127.42."
_lock = threading.Lock()
_walk = itertools.count((os.getpid() * 97) % 65000)
_given: set[str] = set()  # for leak checks: every address this process has handed out


def next_address() -> str:
    """A loopback address no other allocation of this process has had."""
    with _lock:
        n = next(_walk) % 65024  # 254 * 256 host numbers: .x.1 .. .x.254
        address = f"{PREFIX}{n // 254}.{n % 254 + 1}"
        _given.add(address)
    return address


def allocated() -> frozenset[str]:
    """Every address handed out so far (a test checks none of them is still in use)."""
    with _lock:
        return frozenset(_given)


def _bind(kind: int, port: int) -> tuple[socket.socket, int]:
    """A socket bound to a fresh address on `port` (0 if `port` needs a privilege we lack)."""
    for _ in range(256):
        sock = socket.socket(socket.AF_INET, kind)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((next_address(), port))
        except PermissionError:
            sock.close()
            port = 0
            continue
        except OSError as exc:
            sock.close()
            if exc.errno == errno.EADDRINUSE:
                continue
            raise
        return sock, sock.getsockname()[1]
    raise OSError(errno.EADDRINUSE, "no free loopback address in 127.42.0.0/16")


def listen_tcp(port: int = 25) -> socket.socket:
    """A listening TCP socket on a fresh loopback address."""
    sock, _ = _bind(socket.SOCK_STREAM, port)
    sock.listen(16)
    return sock


def bind_udp(port: int = 53) -> socket.socket:
    """A UDP socket on a fresh loopback address."""
    return _bind(socket.SOCK_DGRAM, port)[0]
