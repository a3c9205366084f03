"""The outgoing side's fakes hold up. In a process that holds many descriptors (a mutation
worker, a soak, a long pytest session), with descriptor numbers past 1023, the fake DNS
server and the fake relay still answer and stop. Seen in bench/mutation.py's worker: select() raised
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
from harness.observe.relay import CLOSE, SmtpPeer


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


def test_a_relay_that_hangs_up_sends_an_eof_never_a_reset() -> None:
    """`close = true` in a relay script: the client sees the end of the stream (FIN) even if
    it is still sending; a close with unread input would reset the connection instead, and
    what a TLS client then reports depended on timing (7.5.16 under pytest -n 2)."""
    with SmtpPeer([[b"220 relay ESMTP\r\n", b"220 go\r\n", CLOSE]]) as relay:
        with socket.create_connection((relay.host, relay.port), timeout=10) as client:
            assert client.recv(100) == b"220 relay ESMTP\r\n"
            client.sendall(b"STARTTLS\r\n")
            assert client.recv(100) == b"220 go\r\n"
            client.sendall(b"\x16\x03\x01" + b"x" * (1 << 20))  # far more than the relay reads
            client.shutdown(socket.SHUT_WR)
            assert client.recv(100) == b""
