"""Delivery by MX (spec §5.4): `eqmail-ref remote` asks a fake DNS server (dnspython
messages over UDP on loopback) and delivers to SMTP peers listening on port 25 of several
127.0.0.x addresses. Checked: the questions asked, MX preference order, the next MX after a
refused connection, A fallback, NXDOMAIN/SERVFAIL reports, recipient CNAME
canonicalisation, literals, relays by name, and the self-MX rule (127.0.0.1 is "me").

With $EQMAIL_REAL_REMOTE set (root), a REAL eQmail 1.08 qmail-remote runs every case too,
its resolv.conf pointing at the same fake server, which then listens on port 53.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers.fake_dns_server import DnsServer, Zone
from tests.helpers.fake_smtp_peer import Item, SmtpPeer
from tests.helpers.remote_conftest_helpers import make_home, real_remote_binary, run_real_remote, run_remote

G, EHLO, OK, GO, QUEUED = (b"220 mx ESMTP\r\n", b"250-mx\r\n250 8BITMIME\r\n", b"250 ok\r\n",
                           b"354 go\r\n", b"250 queued\r\n")
FLOW = [G, EHLO, OK, OK, GO, QUEUED]
DNS_HOST = "127.0.0.153"
TEMP_DNS = b"ZSorry, I couldn't find any host by that name. (#4.1.2)\n\0"


def _can_listen(host: str, port: int, kind: int = socket.SOCK_STREAM) -> bool:
    try:
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind((host, port))
        return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not _can_listen("127.0.0.21", 25),
                                reason="needs to listen on port 25 of 127.0.0.x (root)")


def K(ip: str) -> bytes:
    return f"K{ip} accepted message.\nRemote host said: 250 queued\n".encode() + b"\0"


@dataclass
class MxCase:
    id: str
    zone: Zone
    peers: dict[str, list[Item]]  # address -> script of the peer on its port 25
    report: bytes
    queries: list[tuple[str, str]] | None = None
    args: tuple[str, ...] = ("x.example", "s@y.org", "r@x.example")
    routes: str = ""
    rcpt: bytes | None = None  # the RCPT TO line the peer must see
    delivered_to: str | None = None


CASES = [
    MxCase("mx-lowest-preference-first",
           {("x.example", "MX"): ["20 mx2.x.example.", "10 mx1.x.example."],
            ("mx1.x.example", "A"): ["127.0.0.21"], ("mx2.x.example", "A"): ["127.0.0.22"]},
           {"127.0.0.21": FLOW}, b"r\0" + K("127.0.0.21"),
           [("x.example", "CNAME"), ("x.example", "MX"), ("mx1.x.example", "A"), ("mx2.x.example", "A")],
           delivered_to="127.0.0.21"),
    MxCase("mx-next-after-refused-connection",
           {("x.example", "MX"): ["10 mx1.x.example.", "20 mx2.x.example."],
            ("mx1.x.example", "A"): ["127.0.0.23"], ("mx2.x.example", "A"): ["127.0.0.24"]},
           {"127.0.0.24": FLOW}, b"r\0" + K("127.0.0.24"), delivered_to="127.0.0.24"),
    MxCase("mx-every-a-record-in-order",
           {("x.example", "MX"): ["10 mx1.x.example."],
            ("mx1.x.example", "A"): ["127.0.0.25", "127.0.0.26"]},
           {"127.0.0.26": FLOW}, b"r\0" + K("127.0.0.26"), delivered_to="127.0.0.26"),
    MxCase("no-mx-falls-back-to-a", {("x.example", "A"): ["127.0.0.27"]},
           {"127.0.0.27": FLOW}, b"r\0" + K("127.0.0.27"),
           [("x.example", "CNAME"), ("x.example", "MX"), ("x.example", "A")]),
    MxCase("nxdomain", {}, {}, b"DSorry, I couldn't find any host named x.example. (#5.1.2)\n\0"),
    MxCase("servfail", {("x.example", "MX"): "SERVFAIL"}, {},
           b"ZSorry, I couldn't find any host by that name. (#4.1.2)\n\0"),
    MxCase("refused-rcode", {("x.example", "MX"): "REFUSED"}, {},
           b"ZSorry, I couldn't find any host by that name. (#4.1.2)\n\0"),
    MxCase("formerr-rcode", {("x.example", "MX"): "FORMERR"}, {},
           b"DSorry, I couldn't find any host named x.example. (#5.1.2)\n\0"),
    MxCase("mx-names-without-address", {("x.example", "MX"): ["10 gone.example."]}, {},
           b"DSorry, I couldn't find a mail exchanger or IP address. (#5.4.4)\n\0"),
    MxCase("mx-address-lookup-soft", {("x.example", "MX"): ["10 mx1.x.example."],
                                      ("mx1.x.example", "A"): "SERVFAIL"}, {},
           b"ZSorry, I couldn't find any host by that name. (#4.1.2)\n\0"),
    MxCase("recipient-soft-cname", {("x.example", "CNAME"): "SERVFAIL"}, {},
           b"ZCNAME lookup failed temporarily. (#4.4.3)\n\0"),
    MxCase("recipient-domain-canonicalised",
           {("alias.example", "CNAME"): ["real.example."], ("real.example", "A"): ["127.0.0.28"],
            ("x.example", "A"): ["127.0.0.28"]},
           {"127.0.0.28": FLOW}, b"r\0" + K("127.0.0.28"),
           args=("x.example", "s@y.org", "r@alias.example"), rcpt=b"RCPT TO:<r@real.example>\r\n"),
    MxCase("recipient-final-dot-dropped", {("x.example", "A"): ["127.0.0.29"]},
           {"127.0.0.29": FLOW}, b"r\0" + K("127.0.0.29"),
           args=("x.example", "s@y.org", "r@x.example."), rcpt=b"RCPT TO:<r@x.example>\r\n"),
    MxCase("self-mx-is-ambiguous", {("x.example", "MX"): ["10 me.x.example."],
                                    ("me.x.example", "A"): ["127.0.0.1"]}, {},
           b"DSorry. Although I'm listed as a best-preference MX or A for that host,\n"
           b"it isn't in my control/locals file, so I don't treat it as local. (#5.4.6)\n\0"),
    MxCase("self-mx-cuts-worse-preferences",
           {("x.example", "MX"): ["5 mx1.x.example.", "10 me.x.example.", "20 mx3.x.example."],
            ("mx1.x.example", "A"): ["127.0.0.30"], ("me.x.example", "A"): ["127.0.0.1"],
            ("mx3.x.example", "A"): ["127.0.0.31"]},
           {"127.0.0.31": FLOW},
           b"ZSorry, I wasn't able to establish an SMTP connection. (#4.4.1)\n\0"),
    MxCase("all-recipients-aliases-lift-the-self-mx-rule",
           {("x.example", "MX"): ["10 me.x.example.", "20 mx2.x.example."],
            ("me.x.example", "A"): ["127.0.0.1"], ("mx2.x.example", "A"): ["127.0.0.32"],
            ("al.example", "CNAME"): ["x.example."]},
           {"127.0.0.32": FLOW}, b"r\0" + K("127.0.0.32"),
           args=("x.example", "s@y.org", "r@al.example")),
    MxCase("bracketed-literal-host", {}, {"127.0.0.33": FLOW}, b"r\0" + K("127.0.0.33"),
           [], args=("[127.0.0.33]", "s@y.org", "r@[127.0.0.33]")),
    MxCase("empty-smtproutes-value-means-mx", {("x.example", "A"): ["127.0.0.34"]},
           {"127.0.0.34": FLOW}, b"r\0" + K("127.0.0.34"), routes="x.example:\n:127.0.0.1:1\n"),
    MxCase("relay-by-name-a-only-no-cname",
           {("relay.test", "A"): ["127.0.0.35"], ("relay.test", "MX"): ["10 nowhere.test."]},
           {"127.0.0.35": FLOW}, b"r\0" + K("127.0.0.35"), [("relay.test", "A")],
           routes="x.example:relay.test\n"),
    MxCase("relay-name-nxdomain", {}, {},
           b"DSorry, I couldn't find any host named relay.test. (#5.1.2)\n\0",
           routes="x.example:relay.test:2525\n"),
    MxCase("relay-that-is-me-is-used", {}, {"127.0.0.1": FLOW}, b"r\0" + K("127.0.0.1"),
           routes="x.example:127.0.0.1\n"),
    # how glibc's answers reach dns.c (spec §5.4): soft = TRY_AGAIN, everything else hard
    MxCase("notimp-rcode", {("x.example", "MX"): "NOTIMP"}, {}, TEMP_DNS),
    MxCase("lame-empty-answer-without-aa-ra", {("x.example", "MX"): "LAME"}, {}, TEMP_DNS),
    MxCase("mx-query-answered-by-a-cname-falls-back-to-a",
           {("x.example", "CNAME"): ["real.example."], ("real.example", "A"): ["127.0.0.36"]},
           {"127.0.0.36": FLOW}, b"r\0" + K("127.0.0.36"), rcpt=b"RCPT TO:<r@real.example>\r\n"),
    # bad smtproutes values (issue 4): a relay that is not a whole literal is a name to look up
    MxCase("relay-literal-with-junk-is-a-name", {}, {},
           b"DSorry, I couldn't find any host named 127.0.0.1x. (#5.1.2)\n\0",
           [("127.0.0.1x", "A")], routes="x.example:127.0.0.1x\n"),
    MxCase("relay-unclosed-bracket-is-a-name", {}, {},
           b"DSorry, I couldn't find any host named [127.0.0.1. (#5.1.2)\n\0",
           routes="x.example:[127.0.0.1:26\n"),
    MxCase("relay-name-too-long-is-never-asked", {}, {},
           b"DSorry, I couldn't find any host named " + b"a" * 300 + b". (#5.1.2)\n\0", [],
           routes="x.example:" + "a" * 300 + "\n"),
    MxCase("relay-label-too-long-is-never-asked", {}, {},
           b"DSorry, I couldn't find any host named " + b"b" * 64 + b".test. (#5.1.2)\n\0", [],
           routes="x.example:" + "b" * 64 + ".test\n"),
    MxCase("host-bytes-outside-33-126-shown-as-?", {}, {},
           b"DSorry, I couldn't find any host named bad?host??. (#5.1.2)\n\0",
           args=("bad host\t\x7f", "s@y.org", "r@[127.0.0.1]")),
]


@contextmanager
def _world(case: MxCase, port53: bool) -> Iterator[DnsServer]:
    with ExitStack() as stack:
        dns = stack.enter_context(DnsServer(case.zone, host=DNS_HOST, port=53 if port53 else 0))
        for address, script in case.peers.items():
            peer = stack.enter_context(SmtpPeer([script], host=address, port=25))
            dns.peers = getattr(dns, "peers", {})  # type: ignore[attr-defined]
            dns.peers[address] = peer  # type: ignore[attr-defined]
        yield dns


def _run(case: MxCase, home: Path, real: bool) -> tuple[bytes, list[tuple[str, str]], dict[str, bytes]]:
    port53 = _can_listen(DNS_HOST, 53, socket.SOCK_DGRAM)
    if real and not port53:
        pytest.skip("the real binary needs the fake DNS on port 53")
    with _world(case, port53) as dns:
        if real:
            binary = real_remote_binary()
            assert binary is not None
            report = run_real_remote(binary, home, *case.args, nameserver=DNS_HOST)
        else:
            report = run_remote(home, *case.args, options=("--dns-server", dns.spec))
        peers: dict[str, SmtpPeer] = getattr(dns, "peers", {})
    received = {a: bytes(p.connections[0].received) for a, p in peers.items() if p.connections}
    return report, dns.queries, received


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_reference(case: MxCase, tmp_path: Path) -> None:
    home = make_home(tmp_path, {"smtproutes": case.routes} if case.routes else {})
    report, queries, received = _run(case, home, real=False)
    assert report == case.report
    if case.queries is not None:
        assert queries == case.queries
    if case.delivered_to is not None:
        assert list(received) == [case.delivered_to]
    if case.rcpt is not None:
        assert case.rcpt in next(iter(received.values()))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_same_as_real_eqmail_108(case: MxCase, tmp_path: Path) -> None:
    if real_remote_binary() is None:
        pytest.skip("set $EQMAIL_REAL_REMOTE to a real eQmail 1.08 qmail-remote (run as root)")
    home = make_home(tmp_path, {"smtproutes": case.routes} if case.routes else {})
    assert _run(case, home, real=True) == _run(case, home, real=False)
