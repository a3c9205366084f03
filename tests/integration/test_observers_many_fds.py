"""The outgoing side's observers in a process that holds many descriptors (a mutation worker,
a soak, a long pytest session): with descriptor numbers past 1023 the fake DNS server and
the fake relay still answer and stop. Seen in bench/mutation.py's worker: select() raised
"filedescriptor out of range" in their threads and cases then hung."""

from __future__ import annotations

import os
import resource
import socket
from collections.abc import Iterator

import dns.message
import dns.query
import pytest

from harness.observe.dns import DnsServer
from harness.observe.relay import SmtpPeer


@pytest.fixture
def many_fds() -> Iterator[None]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < 2048:
        pytest.skip(f"the descriptor limit ({hard}) is below 2048")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 2048), hard))
    null = os.open(os.devnull, os.O_RDONLY)
    held = [os.dup(null) for _ in range(1100)]
    try:
        assert max(held) > 1023
        yield
    finally:
        for fd in [null, *held]:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_the_fake_dns_answers_past_fd_1023(many_fds: None) -> None:
    with DnsServer({("x.example", "A"): ["127.0.0.7"]}) as server:
        assert server.sock.fileno() > 1023
        answer = dns.query.udp(dns.message.make_query("x.example", "A"), server.address[0],
                               port=server.address[1], timeout=10)
    assert [r.to_text() for rrset in answer.answer for r in rrset] == ["127.0.0.7"]


def test_the_fake_relay_answers_past_fd_1023(many_fds: None) -> None:
    with SmtpPeer([[b"220 relay ESMTP\r\n", b"221 bye\r\n"]]) as relay:
        assert relay.listener.fileno() > 1023
        with socket.create_connection((relay.host, relay.port), timeout=10) as client:
            assert client.recv(100) == b"220 relay ESMTP\r\n"
            client.sendall(b"QUIT\r\n")
            assert client.recv(100) == b"221 bye\r\n"
