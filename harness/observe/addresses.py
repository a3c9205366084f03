"""Addresses of the harness's own for the outgoing side of qmail-remote cases.

Each fake relay and each fake DNS server of a case gets an address of its own, so that it
can listen on the port a real qmail-remote insists on (25 for mail exchangers, 53 for the
resolver) while other cases run at the same time. Where those addresses come from, and
which local addresses the client itself has (for domainbindings, spec §6), depends on
where qmail-remote runs: an `OutgoingNet` says both.

* On this machine (`HOST_NET`: the reference, exec: targets): 127.42.0.0/16 for the
  observers (the whole of 127/8 is local on Linux, no setup needed) and 127.0.0.1-8 for
  the client. Several harness processes share it (pytest -n N, shards, two users' runs):
  each address is leased machine-wide with a lock on its byte of one lock file (`Leases`),
  so no two processes hand out the same address, not even one that a `refuse` relay holds
  with nothing bound; the kernel drops a dead process's leases. The walk starts at a
  pid-dependent place, so processes rarely even try each other's addresses.
* In a container (harness/targets/docker_net.py): addresses of the container network's
  subnet made local on the host side, and addresses added to the container's interface.

A taken address is skipped, never shared; an address comes back to its pool when its case
ends and is handed out again as late as possible (`refuse` relays hold an address with
nothing listening on it, and a later case must not be answered there meanwhile).

Privileged ports need root (or CAP_NET_BIND_SERVICE); without it the listeners take a port
of the kernel's choice, which only cases that name the port (smtproutes `{relay_port}`) and
targets that can be told the DNS port (the reference) can use.
"""

from __future__ import annotations

import collections
import errno
import fcntl
import itertools
import os
import socket
import tempfile
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["AddressPool", "Leases", "LoopbackPool", "SubnetPool", "OutgoingNet", "HOST_NET", "listen_tcp",
           "bind_udp", "allocated", "reverse", "CLIENT_NAMES"]

_given: set[str] = set()  # for leak checks: every address handed out in this process
_given_lock = threading.Lock()


def allocated() -> frozenset[str]:
    """Every address handed out so far (a test checks none of them is still in use)."""
    with _given_lock:
        return frozenset(_given)


class AddressPool:
    """Addresses to listen on; `take()` one, `release()` it when its case is over."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def take(self) -> str:
        with self._lock:
            address = self._next()
        with _given_lock:
            _given.add(address)
        return address

    def release(self, address: str) -> None:  # noqa: B027 - a pool may never reuse
        """`address` may be handed out again."""

    def _next(self) -> str:
        raise NotImplementedError


class Leases:
    """Machine-wide leases on numbered addresses: an exclusive POSIX record lock on byte N of
    one lock file per user (in /dev/shm when it is there, else the temp dir). Record locks
    belong to the process, vanish when it dies, and are not inherited by children; the file
    stays open for the process's life, because closing any descriptor of it would drop
    every lock the process holds. Without a usable lock file there are no leases, only the
    pid-spread walk (what every harness process did before)."""

    def __init__(self, name: str) -> None:
        base = "/dev/shm" if os.access("/dev/shm", os.W_OK | os.X_OK) else tempfile.gettempdir()
        self.path = os.path.join(base, f"{name}-{os.geteuid()}.lock")
        self._fd: int | None = None
        self._pid = -1

    def _file(self) -> int | None:
        if self._pid != os.getpid():  # a forked child holds none of its parent's locks
            self._pid = os.getpid()
            try:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError:
                self._fd = None
        return self._fd

    def take(self, n: int) -> bool:
        fd = self._file()
        if fd is None:
            return True
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, n)
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EAGAIN):
                return False  # another process holds it
            return True  # locking unsupported there: the walk alone
        return True

    def give_back(self, n: int) -> None:
        fd = self._file()
        if fd is not None:
            fcntl.lockf(fd, fcntl.LOCK_UN, 1, n)


class LoopbackPool(AddressPool):
    """127.42.0.1 - 127.42.253.254, walked from a pid-dependent start: 65,024 addresses are
    enough that a released one is never needed again within a run. Each is leased
    machine-wide while handed out (`Leases`); one another process holds is skipped."""

    SIZE = 65024  # 254 * 256 host numbers: .x.1 .. .x.254

    def __init__(self, leases: Leases | None = None) -> None:
        super().__init__()
        self._walk = itertools.count((os.getpid() * 97) % 65000)
        self._leases = leases or Leases("qmc-loopback")

    def _next(self) -> str:
        for _ in range(self.SIZE):
            n = next(self._walk) % self.SIZE
            if self._leases.take(n):
                return f"127.42.{n // 254}.{n % 254 + 1}"
        raise OSError(errno.EADDRNOTAVAIL, "every observer address of 127.42/16 is leased by some process")

    def release(self, address: str) -> None:
        _, _, high, low = address.split(".")
        with self._lock:
            self._leases.give_back(int(high) * 254 + int(low) - 1)


class SubnetPool(AddressPool):
    """A fixed set of addresses, reused oldest-released first."""

    def __init__(self, addresses: Iterable[str]) -> None:
        super().__init__()
        self._free = collections.deque(addresses)
        self._held: set[str] = set()

    def _next(self) -> str:
        if not self._free:
            raise OSError(errno.EADDRNOTAVAIL, "every observer address of the container network is in use")
        address = self._free.popleft()
        self._held.add(address)
        return address

    def release(self, address: str) -> None:
        with self._lock:
            if address in self._held:
                self._held.discard(address)
                self._free.append(address)


CLIENT_NAMES = ("client", *(f"client{n}" for n in range(2, 9)))


@dataclass(frozen=True)
class OutgoingNet:
    """Where qmail-remote's peers listen (`pool`) and the client's own addresses: `clients`
    maps the case placeholders `client` (the address the kernel picks when qmail-remote
    binds nothing) and `client2` .. `client8` (further local addresses it may bind)."""

    pool: AddressPool
    clients: Mapping[str, str]


HOST_NET = OutgoingNet(LoopbackPool(), {name: f"127.0.0.{n}" for n, name in enumerate(CLIENT_NAMES, 1)})


def _bind(pool: AddressPool, kind: int, port: int) -> socket.socket:
    """A socket bound to a fresh address of `pool` on `port` (0 if `port` needs a privilege we lack)."""
    for _ in range(256):
        sock = socket.socket(socket.AF_INET, kind)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        address = pool.take()
        try:
            sock.bind((address, port))
        except PermissionError:
            sock.close()
            pool.release(address)
            port = 0
            continue
        except OSError as exc:
            sock.close()
            if exc.errno == errno.EADDRINUSE:  # someone else's: keep it out of the pool
                continue
            pool.release(address)
            raise
        return sock
    raise OSError(errno.EADDRINUSE, "no free address for the outgoing-side observers")


def listen_tcp(pool: AddressPool, port: int = 25) -> socket.socket:
    """A listening TCP socket on a fresh address of `pool`."""
    sock = _bind(pool, socket.SOCK_STREAM, port)
    sock.listen(16)
    return sock


def bind_udp(pool: AddressPool, port: int = 53) -> socket.socket:
    """A UDP socket on a fresh address of `pool`."""
    return _bind(pool, socket.SOCK_DGRAM, port)


def reverse(clients: Mapping[str, str]) -> Mapping[str, str]:
    """address -> `{name}` for the client addresses (the first name wins)."""
    out: dict[str, str] = {}
    for name, address in clients.items():
        out.setdefault(address, "{" + name + "}")
    return out
