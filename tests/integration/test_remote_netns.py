"""domainbindings (eQmail 1.08, spec §6) on addresses of a network namespace of its own:
`ip netns add` and a veth pair carrying 198.18.0.1-3/24 (RFC 2544 benchmarking space, never
routed). The SMTP peer listens on 198.18.0.1:25 inside the namespace; `eqmail-ref remote`
runs there with `ip netns exec`, so its ipme (this host's addresses) are the namespace's.

The namespace is created per test and ALWAYS deleted (with its veth pair), also on failure.
Needs root and iproute2: in CI a missing one fails the test (tests.conftest.needs_tool).
"""

from __future__ import annotations

import ctypes
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import needs_tool
from tests.helpers.fake_smtp_peer import SmtpPeer
from tests.helpers.remote_conftest_helpers import REMOTE_MAIN, make_home

FLOW = [b"220 relay ESMTP\r\n", b"250-relay\r\n250 8BITMIME\r\n", b"250 ok\r\n", b"250 ok\r\n",
        b"354 go\r\n", b"250 queued\r\n"]
PEER = "198.18.0.1"
BINDINGS = "bound.test:198.18.0.2\n.sub.test:198.18.0.3\nfar.test:198.18.0.9\n"
K = b"r\0K198.18.0.1 accepted message.\nRemote host said: 250 queued\n\0"
CLONE_NEWNET = 0x40000000


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


@pytest.fixture
def netns() -> Iterator[str]:
    needs_tool("ip")
    if os.geteuid() != 0:
        message = "network namespaces need root"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    name = f"eqref-{os.getpid()}"
    try:
        _ip("netns", "add", name)
        _ip("link", "add", "eqr-a", "netns", name, "type", "veth", "peer", "name", "eqr-b", "netns", name)
        for address, dev in ((PEER, "eqr-a"), ("198.18.0.2", "eqr-b"), ("198.18.0.3", "eqr-b")):
            _ip("-n", name, "addr", "add", f"{address}/24", "dev", dev)
        for dev in ("lo", "eqr-a", "eqr-b"):
            _ip("-n", name, "link", "set", dev, "up")
        yield name
    finally:
        # deleting the namespace removes both veth ends; never leave one behind
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)
    assert name not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                                      timeout=30).stdout


@contextmanager
def _inside(name: str) -> Iterator[None]:
    """This thread in the namespace (sockets made now stay there), then back."""
    libc = ctypes.CDLL(None, use_errno=True)
    with open("/proc/thread-self/ns/net") as own, open(f"/run/netns/{name}") as target:
        if libc.setns(target.fileno(), CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns")
        try:
            yield
        finally:
            if libc.setns(own.fileno(), CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back")


def _deliver(ns: str, tmp: Path, sender: str, *options: str) -> tuple[bytes, SmtpPeer]:
    with _inside(ns):
        peer = SmtpPeer([FLOW], host=PEER, port=25)
    with peer:
        home = make_home(tmp, {"domainbindings": BINDINGS, "smtproutes": f"x.example:{PEER}\n"})
        done = subprocess.run(["ip", "netns", "exec", ns, *REMOTE_MAIN, "--qmail-home", str(home),
                               *options, "x.example", sender, "r@x.example"],
                              input=b"Subject: x\n\nhi\n", capture_output=True, timeout=60)
    assert done.returncode == 0 and b"Traceback" not in done.stderr, done.stderr
    return done.stdout, peer


@pytest.mark.parametrize("sender, source, helo", [
    ("u@bound.test", "198.18.0.2", b"bound.test"),
    ("u@a.sub.test", "198.18.0.3", b"a.sub.test"),
    ("u@other.test", PEER, b"mx.test"),  # unmatched: the kernel's choice, helohost stays
])
def test_bound_source_in_a_namespace(netns: str, tmp_path: Path, sender: str, source: str,
                                     helo: bytes) -> None:
    report, peer = _deliver(netns, tmp_path, sender)
    assert report == K
    assert peer.only.peer[0] == source
    assert peer.only.received.startswith(b"EHLO " + helo + b"\r\n")


def test_address_not_in_the_namespace(netns: str, tmp_path: Path) -> None:
    # default path (spec §6): bind() fails, the address counts as a failed connection
    report, peer = _deliver(netns, tmp_path, "u@far.test")
    assert report == b"ZSorry, I wasn't able to establish an SMTP connection. (#4.4.1)\n\0"
    assert peer.connections == []
    # the switch: Giam's ipme check, which sees the namespace's own addresses
    report, peer = _deliver(netns, tmp_path, "u@far.test", "--domainbindings-nonlocal", "parse-error")
    assert report == b"ZUnable to parse IP address in control/domainbindings (#4.3.0)\n\0"
    report, peer = _deliver(netns, tmp_path, "u@bound.test", "--domainbindings-nonlocal", "parse-error")
    assert report == K and peer.only.peer[0] == "198.18.0.2"
