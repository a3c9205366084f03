"""MAIL/RCPT, addrparse, rcpthosts, badmailfrom, localiphost (spec §2.5, §2.6, §2.11-2.13)."""

from __future__ import annotations

import pytest

from eqmail_ref import replies as R
from eqmail_ref.addresses import addrparse, parse_mail_params
from eqmail_ref.cdb import Cdb
from tests.helpers.cdb_build import cdb_build
from tests.helpers.core_driver import MODES, make_controls, replies, run

IPME = frozenset({b"\0\0\0\0", b"\x7f\0\0\x01"})


@pytest.mark.parametrize("arg, addr", [
    (b"FROM:<a@b>", b"a@b"),
    (b"TO:<@r1,@r2:\"john doe\"@example.org>", b"john doe@example.org"),
    (b"TO: x\\\"y@example.org junk", b"x\"y@example.org"),
    (b"TO:<\"a>b\"@example.org>", b"a>b@example.org"),
    (b"TO:<u@[0.0.0.0]>", b"u@mx.test"),
    (b"TO:<u@[127.0.0.1]>", b"u@mx.test"),
    (b"TO:<u@[1.2.3.4]>", b"u@[1.2.3.4]"),
    (b"TO:<u@[127.0.0.257]>", b"u@mx.test"),  # octets are truncated to a byte: 257 -> 1
    (b"TO:<u@[127.0.0.1]x>", b"u@[127.0.0.1]x"),
    (b"", b""),
    (b"FROM:<>", b""),
    (b"FROM:<a@b", b"a@b"),  # no termination check
    (b"TO:postmaster", b"postmaster"),
    (b"<@route:u@d>", b"u@d"),
])
def test_addrparse(arg: bytes, addr: bytes) -> None:
    assert addrparse(arg, b"mx.test", IPME) == (addr, True)


def test_addrparse_localiphost_off_without_me() -> None:
    assert addrparse(b"<u@[0.0.0.0]>", None, IPME) == (b"u@[0.0.0.0]", True)


def test_address_length_limit() -> None:
    ok = b"<" + b"a" * 899 + b">"
    assert addrparse(ok, None, IPME)[1]
    assert not addrparse(b"<" + b"a" * 900 + b">", None, IPME)[1]
    t = run(b"MAIL FROM:" + ok + b"\r\nMAIL FROM:<" + b"a" * 900 + b">\r\n")
    assert replies(t)[1:] == [R.OK, R.SYNTAX]


@pytest.mark.parametrize("mode", MODES)
def test_rcpt_edge_cases_accepted(mode: str) -> None:
    t = run(b"MAIL FROM:<a@b>\r\nRCPT TO:<>\r\nRCPT\r\nRCPT TO:<postmaster>\r\n", mode)
    assert replies(t)[1:] == [R.OK] * 4


def test_rcpthosts_wildcards() -> None:
    controls = make_controls(rcpthosts=frozenset({b"example.org", b".example.net"}))
    script = b"MAIL FROM:<a@b>\r\n" + b"".join(
        b"RCPT TO:<u@%s>\r\n" % h for h in
        (b"example.org", b"EXAMPLE.ORG", b"a.example.org", b"a.example.net", b"a.b.example.net",
         b"example.net"))
    t = run(script, controls=controls)
    assert replies(t)[1:] == [R.OK, R.OK, R.OK, R.NOGATEWAY, R.OK, R.OK, R.NOGATEWAY]


def test_no_rcpthosts_file_is_an_open_relay() -> None:
    t = run(b"MAIL FROM:<a@b>\r\nRCPT TO:<u@anywhere.test>\r\n", controls=make_controls(rcpthosts=None))
    assert replies(t)[1:] == [R.OK, R.OK]


def test_morercpthosts_cdb() -> None:
    cdb = Cdb(cdb_build([(b"more.example", b""), (b".sub.example", b"")]))
    controls = make_controls(rcpthosts=frozenset(), morercpthosts=cdb)
    t = run(b"MAIL FROM:<a@b>\r\nRCPT TO:<u@MORE.example>\r\nRCPT TO:<u@x.sub.example>\r\n"
            b"RCPT TO:<u@other.example>\r\n", controls=controls)
    assert replies(t)[1:] == [R.OK, R.OK, R.OK, R.NOGATEWAY]


def test_broken_cdb_is_421_unable_to_read_controls() -> None:
    controls = make_controls(rcpthosts=frozenset(), morercpthosts=Cdb(b"short"))
    t = run(b"MAIL FROM:<a@b>\r\nRCPT TO:<u@x.example>\r\nNOOP\r\n", controls=controls)
    assert replies(t)[1:] == [R.OK, R.CONTROL]
    assert t.close is not None and t.close.exit_code == 1


def test_relayclient_is_appended_and_bypasses_rcpthosts() -> None:
    env = {b"TCPREMOTEIP": b"1.2.3.4", b"RELAYCLIENT": b"+relay"}
    d = run(b"MAIL FROM:<a@b>\r\nRCPT TO:<u@far.example>\r\nDATA\r\nx\r\n.\r\n", env=env)
    assert replies(d)[1:3] == [R.OK, R.OK]
    assert d.envelopes == [b"Fa@b\0Tu@far.example+relay\0\0"]


@pytest.mark.parametrize("entry, sender, rejected", [
    (b"bad@example.com", b"BAD@example.com", True),
    (b"@evil.example", b"u@EVIL.example", True),
    (b".bad.example", b"u@mail.bad.example", True),
    (b".bad.example", b"u@bad.example", False),
    (b".com", b"u@x.y.com", True),
    (b"@evil.example", b"u@sub.evil.example", False),
    (b"", b"", False),
])
def test_badmailfrom(entry: bytes, sender: bytes, rejected: bool) -> None:
    controls = make_controls(badmailfrom=frozenset({entry.lower()} - {b""}))
    t = run(b"MAIL FROM:<%s>\r\nRCPT TO:<r@example.org>\r\nRCPT TO:<s@example.org>\r\n" % sender,
            controls=controls)
    # The sender is accepted at MAIL and rejected per recipient (§2.13).
    expected = R.BADMAILFROM if rejected else R.OK
    assert replies(t)[1:] == [R.OK, expected, expected]


def test_mail_size_parameter() -> None:
    controls = make_controls(databytes=1000)
    t = run(b"MAIL FROM:<a@b> SIZE=1000\r\nMAIL FROM:<a@b> size=1001\r\n"
            b"MAIL FROM:<a@b> BODY=8BITMIME\r\n", controls=controls)
    assert replies(t)[1:] == [R.OK, R.SIZE, R.OK]


def test_mail_size_ignored_without_databytes() -> None:
    assert replies(run(b"MAIL FROM:<a@b> SIZE=99999999999\r\n"))[1:] == [R.OK]


def test_mail_params_see_no_stale_bytes() -> None:
    # mfparms is unterminated, but stralloc's 'Z' after each token hides stale bytes:
    # "SIZE" after "ABCD=99999" is not SIZE=99999 (verified against eQmail 1.08).
    assert not parse_mail_params(b"FROM:<a@b> ABCD=99999 SIZE", 1000).size_exceeded
    assert parse_mail_params(b"FROM:<a@b> AUTH=<a@b>  ", 0).auths == (b"<a@b>",)


@pytest.mark.parametrize("param, info", [
    (b"AUTH=joe", b"joe"), (b"AUTH=<>", b"unknown"), (b"AUTH=a+3Db+2Bc+20d", b"a=b+c20d"),
    (b"AUTH=<joe@y>", b"<joe@y>"),
])
def test_mail_auth_parameter_sets_remoteinfo(param: bytes, info: bytes) -> None:
    t = run(b"MAIL FROM:<a@b> %s\r\nRCPT TO:<r@example.org>\r\nDATA\r\nx\r\n.\r\n" % param)
    assert t.queue_env[0][b"TCPREMOTEINFO"] == info
    safe = info.replace(b"<", b"?").replace(b">", b"?")
    assert b"(%s@1.2.3.4)" % safe in t.messages[0]


def test_second_mail_restarts_and_failed_mail_keeps_transaction() -> None:
    t = run(b"MAIL FROM:<a@b>\r\nRCPT TO:<r@example.org>\r\nMAIL FROM:<" + b"x" * 900 +
            b">\r\nDATA\r\nx\r\n.\r\n")
    assert replies(t)[1:5] == [R.OK, R.OK, R.SYNTAX, R.GO_AHEAD]
    assert t.envelopes == [b"Fa@b\0Tr@example.org\0\0"]


def test_zero_address_is_local_in_108_only() -> None:
    from eqmail_ref.versions import VERSIONS
    script = b"MAIL FROM:<a@b>\r\nRCPT TO:<u@[0.0.0.0]>\r\nRCPT TO:<u@[127.0.0.1]>\r\nDATA\r\nx\r\n.\r\n"
    controls = make_controls(rcpthosts=frozenset({b"mx.test"}))
    t108 = run(script, controls=controls)
    assert t108.envelopes == [b"Fa@b\0Tu@mx.test\0Tu@mx.test\0\0"]
    t109 = run(script, controls=controls, version=VERSIONS["1.09"])
    assert replies(t109)[2] == R.NOGATEWAY  # 1.09's ipme never matches 0.0.0.0 (verified)
    assert t109.envelopes == [b"Fa@b\0Tu@mx.test\0\0"]
