"""`eqmail-ref remote` over real sockets: smtproutes relays and domainbindings sources."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import EQMAIL_REF
from tests.fake_relay import FakeRelay

OK = [b"220 relay ESMTP\r\n", b"250-relay\r\n250-AUTH LOGIN PLAIN\r\n250 8BITMIME\r\n",
      b"250 ok\r\n", b"250 ok\r\n", b"354 go\r\n", b"250 queued\r\n"]
AUTH = OK[:2] + [b"334 VXNlcm5hbWU6\r\n", b"334 UGFzc3dvcmQ6\r\n", b"235 ok\r\n"] + OK[2:]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "control").mkdir()
    (tmp_path / "control" / "me").write_text("mx.test\n")
    return tmp_path


def remote(home: Path, *args: str, message: bytes = b"Subject: x\n\nhi\n",
           version: str = "1.08") -> bytes:
    done = subprocess.run([*EQMAIL_REF, "remote", "--qmail-home", str(home), "--version", version,
                           *args], input=message, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_delivery_through_a_relay_with_auth(home: Path) -> None:
    with FakeRelay(AUTH) as relay:
        (home / "control" / "smtproutes").write_text(f".example:127.0.0.1:{relay.port} joe pass word\n")
        report = remote(home, "x.example", "s@y.org", "r@x.example",
                        message=b"Subject: x\n\n.dot\n")
    assert report == b"r\0K127.0.0.1 accepted message.\nRemote host said: 250 queued\n\0"
    assert bytes(relay.received) == (
        b"EHLO mx.test\r\nAUTH LOGIN\r\nam9l\r\ncGFzcyB3b3Jk\r\n"
        b"MAIL FROM:<s@y.org> AUTH=<s@y.org>\r\nRCPT TO:<r@x.example>\r\nDATA\r\n"
        b"Subject: x\r\n\r\n..dot\r\n.\r\nQUIT\r\n")


@pytest.mark.parametrize("sender, source, helo", [
    ("u@bound.test", "127.0.0.2", b"bound.test"),
    ("u@a.sub.test", "127.0.0.3", b"a.sub.test"),
    ("u@other.test", "127.0.0.1", b"mx.test"),  # unmatched: the OS chooses, helohost stays
])
def test_domainbindings_bind_the_source(home: Path, sender: str, source: str, helo: bytes) -> None:
    (home / "control" / "domainbindings").write_text("bound.test:127.0.0.2\n.sub.test:127.0.0.3\n")
    with FakeRelay(OK) as relay:
        (home / "control" / "smtproutes").write_text(f"x.example:127.0.0.1:{relay.port}\n")
        report = remote(home, "x.example", sender, "r@x.example")
    assert report.startswith(b"r\0K127.0.0.1 accepted message.")
    assert relay.peer is not None and relay.peer[0] == source
    assert relay.received.startswith(b"EHLO " + helo + b"\r\n")


def test_domainbindings_are_1_08_only(home: Path) -> None:
    (home / "control" / "domainbindings").write_text("bound.test:127.0.0.2\n")
    with FakeRelay(OK) as relay:
        (home / "control" / "smtproutes").write_text(f"x.example:127.0.0.1:{relay.port}\n")
        remote(home, "x.example", "u@bound.test", "r@x.example", version="1.09")
    assert relay.peer is not None and relay.peer[0] == "127.0.0.1"


def test_bad_binding_and_unreachable_relay(home: Path) -> None:
    (home / "control" / "domainbindings").write_text("bound.test:nonsense\n")
    (home / "control" / "smtproutes").write_text("x.example:127.0.0.1:1\n")
    assert remote(home, "x.example", "u@bound.test", "r@x.example") == (
        b"ZUnable to parse IP address in control/domainbindings (#4.3.0)\n\0")
    assert remote(home, "x.example", "u@free.test", "r@x.example") == (
        b"ZSorry, I wasn't able to establish an SMTP connection. (#4.4.1)\n\0")


def test_invoked_improperly(home: Path) -> None:
    assert remote(home, "x.example", "s@y.org") == b"DI (qmail-remote) was invoked improperly. (#5.3.5)\n\0"


def test_no_me_and_no_helohost(tmp_path: Path) -> None:
    (tmp_path / "control").mkdir()
    assert remote(tmp_path, "x.example", "s@y.org", "r@x") == b"ZUnable to read control files. (#4.3.0)\n\0"
