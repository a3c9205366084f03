"""The sans-IO qmail-remote core (eqmail_ref.remote.delivery) driven in memory: what needs
several scripted servers, failing writes, or exact requests (spec §5.1, §5.4, §5.5, §6).
Everything a single real peer can show is in tests/integration/test_remote_delivery_e2e.py."""

from __future__ import annotations

import pytest

from eqmail_ref.controls import readfile_entries
from eqmail_ref.remote.delivery import SMTPS_WARNING, quote_address
from eqmail_ref.remote.dialogue import offers_login
from eqmail_ref.remote.requests import (
    DNS_OK,
    T_A,
    T_CNAME,
    T_MX,
    DnsAnswer,
    DnsRecord,
    TlsOutcome,
    TlsPrepare,
    TlsPrepared,
)
from eqmail_ref.remote.routes import ColonMap
from eqmail_ref.remote.snapshot import RemoteControls
from tests.helpers.remote_conftest_helpers import a, drive, mx, switches

FLOW = b"220 p\r\n250 p\r\n250 ok\r\n250 ok\r\n354 go\r\n250 queued\r\n"
TWO = {(b"relay.test", T_A): a("10.0.0.1", "10.0.0.2")}
TWO_MX = {(b"x.example", T_MX): mx((10, "mx1.x.example"), (20, "mx2.x.example")),
          (b"mx1.x.example", T_A): a("10.0.0.1"), (b"mx2.x.example", T_A): a("10.0.0.2")}


def controls(routes: str, **kw: object) -> RemoteControls:
    return RemoteControls(helohost=b"mx.test", routes=ColonMap(readfile_entries(routes.encode())),
                          **kw)  # type: ignore[arg-type]


def test_109_greeting_4xx_tries_the_next_address_5xx_is_permanent() -> None:
    run = drive(servers=[b"421 busy\r\n", FLOW], dns=TWO_MX, sw=switches("1.09"))
    assert [c.ip for c in run.connects] == [b"\n\0\0\1", b"\n\0\0\2"]
    assert run.sent[0] == b""  # closed without QUIT
    assert run.report == b"r\0K10.0.0.2 accepted message.\nRemote host said: 250 queued\n\0"
    run = drive(servers=[b"554 no\r\n"], dns=TWO_MX, sw=switches("1.09"))
    assert run.report == b"DConnected to 10.0.0.1 but greeting failed.\nRemote host said: 554 no\n\0"
    run = drive(servers=[b"421 busy\r\n"], dns=TWO_MX)
    assert run.report[:1] == b"Z" and len(run.connects) == 1  # 1.08: any non-220 is Z


def test_refused_connections_try_the_next_address_then_give_up() -> None:
    run = drive(servers=[FLOW], controls=controls("x.example:relay.test\n"), dns=TWO,
                refuse=frozenset({b"\n\0\0\1"}))
    assert run.report.startswith(b"r\0K10.0.0.2 accepted message.")
    run = drive(controls=controls("x.example:relay.test\n"), dns=TWO,
                refuse=frozenset({b"\n\0\0\1", b"\n\0\0\2"}))
    assert run.report == b"ZSorry, I wasn't able to establish an SMTP connection. (#4.4.1)\n\0"


@pytest.mark.parametrize("failing, report", [
    (0, b"ZConnected to 127.0.0.1 but connection died. (#4.4.2)\n\0"),  # EHLO
    (4, b"r\0ZConnected to 127.0.0.1 but connection died. (#4.4.2)\n\0"),  # the first body bytes
    (5, b"r\0ZConnected to 127.0.0.1 but connection died. Possible duplicate! (#4.4.2)\n\0"),
])
def test_a_failed_write_is_a_dead_connection(failing: int, report: bytes) -> None:
    run = drive(servers=[FLOW], controls=controls("x.example:127.0.0.1\n"),
                message=b"x" * 1500 + b"\n", fail_write=failing)
    assert run.report == report


def test_port_keeps_its_low_16_bits_and_465_is_flagged() -> None:
    run = drive(servers=[FLOW], controls=controls(f"x.example:127.0.0.1:{65536 + 2525}\n"))
    assert [c.port for c in run.connects] == [2525]
    assert run.logs == []
    tls_calls: list[object] = []

    def tls(request: object) -> object:
        tls_calls.append(request)
        if isinstance(request, TlsPrepare):
            return TlsPrepared(ok=True)
        return TlsOutcome(ok=False, error=b"error:0A00010B:SSL routines::wrong version number")

    run = drive(servers=[b"220 p\r\n"], controls=controls("x.example:127.0.0.1:465\n"), tls=tls)
    assert run.logs == [SMTPS_WARNING]
    # 1.08 reads a plaintext greeting first, then a handshake without STARTTLS (§5.5.1)
    assert len(tls_calls) == 2 and run.sent == [bytearray()]
    # smtptext is only cleared on the STARTTLS path, so the greeting is still quoted
    assert run.report == (b"ZTLS connect failed: error:0A00010B:SSL routines::wrong version number; "
                          b"connected to 127.0.0.1.\nRemote host said: 220 p\n\0")
    run = drive(controls=controls("x.example:127.0.0.1:465\n"), sw=switches("1.09"), servers=[b""])
    # 1.09 tests an uninitialised code (modelled as 0): greeting failed, nothing read or sent
    assert run.report == b"ZConnected to 127.0.0.1 but greeting failed.\n\0"
    run = drive(servers=[FLOW], controls=controls("x.example:127.0.0.1:465\n"),
                sw=switches(tls_build=False))
    assert run.logs == [] and run.report.startswith(b"r\0K127.0.0.1")  # no TLS: plain SMTP


def test_domainbindings_bind_every_attempt() -> None:
    run = drive(controls=controls("x.example:relay.test\n", bindings=ColonMap([b".y.org:127.0.0.7"])),
                sender=b"s@a.y.org", dns=TWO, refuse=frozenset({b"\n\0\0\1", b"\n\0\0\2"}))
    assert [c.local_address for c in run.connects] == [b"\x7f\0\0\x07"] * 2


def test_every_recipient_an_alias_lifts_the_self_mx_rule() -> None:
    dns = {(b"x.example", T_A): a("127.0.0.1"),
           (b"al.example", T_CNAME): DnsAnswer(status=DNS_OK, records=(
               DnsRecord(rtype=T_CNAME, data=b"x.example"),))}
    assert drive(dns=dns).report.startswith(b"DSorry. Although I'm listed")  # 127.0.0.1 is me
    run = drive(dns=dns, servers=[FLOW], recipients=(b"u@al.example",))
    assert run.report.startswith(b"r\0K127.0.0.1 accepted message.")
    assert b"RCPT TO:<u@x.example>\r\n" in run.wire  # canonicalised


@pytest.mark.parametrize("address, quoted", [
    (b"joe@x.org", b"joe@x.org"), (b"john doe@x.org", b'"john doe"@x.org'),
    (b'a"b@x', b'"a\\"b"@x'), (b".a@x", b'".a"@x'), (b"a.@x", b'"a."@x'), (b"a..b@x", b'"a..b"@x'),
    (b"@x", b'""@x'), (b"a@b@x", b'"a@b"@x'), (b"\xe9@x", b'"\xe9"@x'), (b"a\\b@x", b'"a\\\\b"@x'),
    (b"postmaster", b"postmaster"), (b"", b""),
])
def test_quote_address(address: bytes, quoted: bytes) -> None:
    assert quote_address(address) == quoted


@pytest.mark.parametrize("text, offered", [
    (b"250-p\n250-AUTH LOGIN PLAIN\n250 X\n", True),
    (b"250-p\n250 AUTH=LOGIN\n250 XXXXXXXXXXX\n", True),
    (b"250-p\n250-AUTH PLAIN LOGIN\n", True),
    (b"250-AUTH LOGIN PLAIN\n250 X\n", False),  # never on the first line
    (b"250-p\n250-AUTH CRAM-MD5 LOGIN\n250 X\n", False),
    (b"250-p\n250-Auth LOGIN PLAIN\n250 X\n", False),
])
def test_offers_login(text: bytes, offered: bool) -> None:
    assert offers_login(text) is offered
