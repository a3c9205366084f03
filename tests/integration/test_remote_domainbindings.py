"""domainbindings (eQmail 1.08, spec §6) over real sockets: the peer sees the bound source
address (several 127.0.0.x, which need no setup on Linux) and the EHLO name, for relays and
for MX delivery; the fallback for an unmatched sender; the error paths and their switch.
Real eQmail 1.08 cannot be compared here: the domainbindings patch is lost (spec §8)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.helpers.fake_dns_server import DnsServer
from tests.helpers.fake_smtp_peer import SmtpPeer
from tests.helpers.remote_conftest_helpers import make_home, run_remote

FLOW = [b"220 relay ESMTP\r\n", b"250-relay\r\n250 8BITMIME\r\n", b"250 ok\r\n", b"250 ok\r\n",
        b"354 go\r\n", b"250 queued\r\n"]
BINDINGS = "bound.test:127.0.0.2\n.sub.test:127.0.0.3\nempty.test:\nJUNK.test:127.0.0.5trailing\n"
NOCONN = b"ZSorry, I wasn't able to establish an SMTP connection. (#4.4.1)\n\0"
BAD = b"ZUnable to parse IP address in control/domainbindings (#4.3.0)\n\0"


def _deliver(tmp: Path, sender: str, bindings: str, *options: str) -> tuple[bytes, SmtpPeer]:
    with SmtpPeer([FLOW]) as peer:
        home = make_home(tmp, {"domainbindings": bindings,
                               "smtproutes": f"x.example:127.0.0.1:{peer.port}\n"})
        report = run_remote(home, "x.example", sender, "r@x.example", options=options)
    return report, peer


@pytest.mark.parametrize("sender, source, helo", [
    ("u@bound.test", "127.0.0.2", b"bound.test"),
    ("u@BOUND.TEST", "127.0.0.2", b"BOUND.TEST"),  # keys are case-insensitive
    ("u@a.sub.test", "127.0.0.3", b"a.sub.test"),
    ("u@deep.a.sub.test", "127.0.0.3", b"deep.a.sub.test"),
    ("u@sub.test", "127.0.0.1", b"mx.test"),  # .sub.test does not match sub.test itself
    ("u@other.test", "127.0.0.1", b"mx.test"),  # unmatched: the OS chooses, helohost stays
    ("u@empty.test", "127.0.0.1", b"mx.test"),  # an empty value: no binding
    ("u@junk.test", "127.0.0.5", b"junk.test"),  # ip_scan reads a prefix; the rest is ignored
])
def test_source_address_and_ehlo_name(tmp_path: Path, sender: str, source: str, helo: bytes) -> None:
    report, peer = _deliver(tmp_path, sender, BINDINGS)
    assert report == b"r\0K127.0.0.1 accepted message.\nRemote host said: 250 queued\n\0"
    assert peer.only.peer[0] == source
    assert peer.only.received.startswith(b"EHLO " + helo + b"\r\n")


def test_catch_all_binds_the_null_sender_and_empty_ehlo(tmp_path: Path) -> None:
    # An empty key matches the catch-all `:ip`; the sender domain (empty) replaces helohost,
    # as the only surviving domainbindings code does (spec §6; switch bind_sets_helo).
    report, peer = _deliver(tmp_path, "", ":127.0.0.4\n")
    assert report.endswith(b"accepted message.\nRemote host said: 250 queued\n\0")
    assert peer.only.peer[0] == "127.0.0.4"
    assert peer.only.received.startswith(b"EHLO \r\nMAIL FROM:<>\r\n")


def test_zero_address_keeps_the_os_choice_but_not_the_name(tmp_path: Path) -> None:
    _, peer = _deliver(tmp_path, "u@zero.test", "zero.test:0.0.0.0\n")
    assert peer.only.peer[0] == "127.0.0.1"
    assert peer.only.received.startswith(b"EHLO zero.test\r\n")


def test_version_109_has_no_domainbindings(tmp_path: Path) -> None:
    report, peer = _deliver(tmp_path, "u@bound.test", BINDINGS, "--version", "1.09")
    assert report.endswith(b"accepted message.\nRemote host said: 250 queued\n\0")
    assert peer.only.peer[0] == "127.0.0.1"
    assert peer.only.received.startswith(b"EHLO mx.test\r\n")


@pytest.mark.parametrize("value", ["not-an-ip", "1.2.3", "", "[127.0.0.2]", " 127.0.0.2"])
def test_value_that_does_not_parse(tmp_path: Path, value: str) -> None:
    report, peer = _deliver(tmp_path, "u@bad.test", f"bad.test:{value}\n")
    if value == "":
        assert peer.only.peer[0] == "127.0.0.1"  # empty: no binding, not an error
    else:
        assert report == BAD
        assert peer.connections == []


@pytest.mark.parametrize("bindings, source, helo", [
    ("bound.test 127.0.0.2\n", "127.0.0.1", b"mx.test"),  # no colon: the line is ignored
    ("x" * 100000 + ":127.0.0.9\nbound.test:127.0.0.2\n", "127.0.0.2", b"bound.test"),  # huge key
    ("bound.test:383.0.0.2\n", "127.0.0.2", b"bound.test"),  # ip_scan keeps each octet's low byte
    ("bound.test:127.0.0.2.5\n", "127.0.0.2", b"bound.test"),  # a prefix is enough
    ("# comment\n\n  \nBound.Test:127.0.0.2\t \n", "127.0.0.2", b"bound.test"),
    ("bound.test:127.0.0.2\nbound.test:127.0.0.3\n", "127.0.0.3", b"bound.test"),  # last wins
])
def test_odd_lines(tmp_path: Path, bindings: str, source: str, helo: bytes) -> None:
    report, peer = _deliver(tmp_path, "u@bound.test", bindings)
    assert report.endswith(b"accepted message.\nRemote host said: 250 queued\n\0")
    assert peer.only.peer[0] == source
    assert peer.only.received.startswith(b"EHLO " + helo + b"\r\n")


def test_huge_value_does_not_parse(tmp_path: Path) -> None:
    report, peer = _deliver(tmp_path, "u@bound.test", "bound.test:" + "1" * 100000 + "\n")
    assert (report, peer.connections) == (BAD, [])


def _nonlocal_bind_allowed() -> bool:
    try:
        return Path("/proc/sys/net/ipv4/ip_nonlocal_bind").read_text().strip() != "0"
    except OSError:
        return False


# 192.0.2.1 (TEST-NET-1) is only ever passed to bind(), which fails: no packet leaves.
@pytest.mark.skipif(_nonlocal_bind_allowed(), reason="net.ipv4.ip_nonlocal_bind lets any bind succeed")
def test_nonlocal_address_fails_every_connection(tmp_path: Path) -> None:
    report, peer = _deliver(tmp_path, "u@far.test", "far.test:192.0.2.1\n")
    assert report == NOCONN
    assert peer.connections == []


def test_nonlocal_as_parse_error_switch(tmp_path: Path) -> None:
    # Giam's variant checks ipme first; 127.0.0.2 is not an interface address
    report, peer = _deliver(tmp_path, "u@bound.test", BINDINGS,
                            "--domainbindings-nonlocal", "parse-error")
    assert (report, peer.connections) == (BAD, [])
    report, peer = _deliver(tmp_path, "u@lo.test", "lo.test:127.0.0.1\n",
                            "--domainbindings-nonlocal", "parse-error")
    assert peer.only.peer[0] == "127.0.0.1"


def test_unreadable_domainbindings(tmp_path: Path) -> None:
    home = make_home(tmp_path, {"smtproutes": "x.example:127.0.0.1:1\n"})
    (home / "control" / "domainbindings").mkdir()
    assert run_remote(home, "x.example", "u@bound.test", "r@x.example") == (
        b"ZUnable to read control files. (#4.3.0)\n\0")


def _can_listen_25(host: str) -> bool:
    try:
        with socket.create_server((host, 25)):
            return True
    except OSError:
        return False


@pytest.mark.skipif(not _can_listen_25("127.0.0.42"), reason="needs port 25 on 127.0.0.x (root)")
def test_every_mx_attempt_is_bound(tmp_path: Path) -> None:
    zone = {("x.example", "MX"): ["10 mx1.x.example.", "20 mx2.x.example."],
            ("mx1.x.example", "A"): ["127.0.0.41"], ("mx2.x.example", "A"): ["127.0.0.42"]}
    with DnsServer(zone) as dns, SmtpPeer([FLOW], host="127.0.0.42", port=25) as peer:
        home = make_home(tmp_path, {"domainbindings": ".test:127.0.0.6\n"})
        report = run_remote(home, "x.example", "u@a.test", "r@x.example",
                            options=("--dns-server", dns.spec))
    assert report == b"r\0K127.0.0.42 accepted message.\nRemote host said: 250 queued\n\0"
    assert peer.only.peer[0] == "127.0.0.6"
    assert peer.only.received.startswith(b"EHLO a.test\r\n")
