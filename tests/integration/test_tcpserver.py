"""The reference `smtpd` as an ucspi program under Debian's real tcpserver (ucspi-tcp),
exactly as qmail-smtpd is run."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import EQMAIL_REF, FIXTURE_BIN, captured, needs_tool
from tests.helpers.raw_client import RawClient


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def tcpserver_ref(qmail_home: Path, capture_env: dict[str, str]) -> Iterator[tuple[str, int]]:
    tcpserver = needs_tool("tcpserver")
    port = _free_port()
    proc = subprocess.Popen(
        [tcpserver, "-v", "-H", "-R", "-l", "tcp.local", "127.0.0.1", str(port),
         *EQMAIL_REF, "smtpd", "--qmail-home", str(qmail_home),
         str(FIXTURE_BIN / "checkpassword-accept")],
        env=capture_env, stderr=subprocess.PIPE, start_new_session=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline().decode()
        assert line.startswith("tcpserver: status: 0/"), line
        yield "127.0.0.1", port
    finally:
        proc.terminate()
        proc.wait()


def test_session_under_tcpserver(tcpserver_ref: tuple[str, int], qmail_home: Path) -> None:
    host, port = tcpserver_ref
    with RawClient(host, port, source="127.0.0.9") as c:
        assert c.reply() == b"220 mx.test ESMTP\r\n"
        assert c.command(b"HELO a") == b"250 mx.test\r\n"
        assert c.command(b"MAIL FROM:<a@b>") == b"250 ok\r\n"
        assert c.command(b"RCPT TO:<r@example.org>") == b"250 ok\r\n"
        assert c.command(b"DATA") == b"354 go ahead\r\n"
        assert c.command(b"hello\r\n.").startswith(b"250 ok ")
        assert c.command(b"QUIT") == b"221 mx.test\r\n"
    [(message, envelope)] = captured(qmail_home)
    assert message.startswith(b"Received: from unknown (HELO a) (127.0.0.9)\n  by tcp.local with SMTP;")
    assert envelope == b"Fa@b\0Tr@example.org\0\0"


def test_auth_plain_under_tcpserver(tcpserver_ref: tuple[str, int]) -> None:
    # checkpassword-accept reads fd 3 and accepts everyone.
    host, port = tcpserver_ref
    with RawClient(host, port) as c:
        c.reply()
        assert c.command(b"AUTH PLAIN AGpvZQBzZWNyZXQ=") == b"235 ok, joe, go ahead (#2.0.0)\r\n"
        assert c.command(b"AUTH PLAIN AGpvZQBzZWNyZXQ=") == (
            b"503 you're already authenticated (#5.5.0)\r\n")


def test_startup_failure_is_a_silent_crash(tcpserver_ref: tuple[str, int],
                                           qmail_home: Path) -> None:
    (qmail_home / "control" / "smtpplugins").unlink()  # fatal in 1.08 (spec §1, §3.1)
    host, port = tcpserver_ref
    with RawClient(host, port) as c:
        assert c.rest() == b""
