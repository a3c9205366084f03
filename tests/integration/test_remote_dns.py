"""qmail-remote's DNS logic (eqmail_ref.remote.resolve, dns.c; spec §5.3, §5.4) over the
shell's res_query (eqmail_ref.shell.remote_resolver.DnsClient) against a fake DNS server on
loopback (tests/helpers/fake_dns_server.py), and the MX tie-break order from scripted answers.

How glibc classifies answers was verified with real eQmail 1.08 (tests/integration/test_remote_mx_e2e.py
runs the same cases through the real binary): SERVFAIL, REFUSED, NOTIMP and an empty
NOERROR answer with neither AA nor RA are temporary; NXDOMAIN, FORMERR and an empty answer
from a recursive server are permanent.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Generator
from typing import TypeVar

import pytest

from eqmail_ref.remote.requests import DNS_HARD, DNS_OK, DNS_SOFT, T_MX, DnsAnswer, DnsQuery, DnsRecord
from eqmail_ref.remote.resolve import SOFT_SOME, Candidate, dns_cname, dns_ip, dns_mxip
from eqmail_ref.shell.remote_resolver import DnsClient, parse_server
from tests.helpers.fake_dns_server import DnsServer, Zone
from tests.helpers.remote_conftest_helpers import a, switches

T = TypeVar("T")
Answerer = Callable[[DnsQuery], DnsAnswer]


def run(lookup: Generator[DnsQuery, DnsAnswer, T], answer: Answerer) -> T:
    try:
        query = next(lookup)
        while True:
            query = lookup.send(answer(query))
    except StopIteration as stop:
        result: T = stop.value
        return result


def ips(found: list[Candidate]) -> list[tuple[str, int]]:
    return [(socket.inet_ntop(socket.AF_INET6 if len(c.ip) == 16 else socket.AF_INET, c.ip), c.pref)
            for c in found]


ZONE: Zone = {
    ("x.example", "MX"): ["20 mx2.x.example.", "10 mx1.x.example."],
    ("mx1.x.example", "A"): ["127.0.0.11", "127.0.0.12"],
    ("mx2.x.example", "A"): ["127.0.0.21"],
    ("nomx.example", "A"): ["127.0.0.31"],
    ("alias.example", "CNAME"): ["nomx.example."],
    ("soft.example", "MX"): "SERVFAIL",
    ("refused.example", "MX"): "REFUSED",
    ("notimp.example", "MX"): "NOTIMP",
    ("lame.example", "MX"): "LAME",
    ("formerr.example", "MX"): "FORMERR",
    ("halfsoft.example", "MX"): ["10 broken.example.", "20 mx2.x.example."],
    ("broken.example", "A"): "SERVFAIL",
    ("allsoft.example", "MX"): ["10 broken.example."],
    ("empty.example", "MX"): ["10 gone.example."],
    ("noa.example", "TXT"): ["hello"],
    ("v6.example", "AAAA"): ["::1"],
    ("v6.example", "A"): ["127.0.0.61", "127.0.0.62"],
    ("cnamefirst.example", "CNAME"): ["v6.example."],
}


@pytest.fixture(scope="module")
def dns() -> Generator[DnsClient, None, None]:
    with DnsServer(ZONE) as server:
        yield DnsClient(server.address)


def mxip(host: bytes, dns: DnsClient, version: str = "1.08", seed: int = 0) -> tuple[str, list[Candidate]]:
    return run(dns_mxip(host, seed, switches(version)), dns.query)


def test_mx_in_preference_order_then_each_a_record(dns: DnsClient) -> None:
    dns.log.clear()
    status, found = mxip(b"x.example", dns)
    assert (status, ips(found)) == (DNS_OK, [("127.0.0.11", 10), ("127.0.0.12", 10), ("127.0.0.21", 20)])
    assert [c.fqdn for c in found] == [b"mx1.x.example", b"mx1.x.example", b"mx2.x.example"]
    assert [(q.name, q.rtype) for q in dns.log] == [(b"x.example", 15), (b"mx1.x.example", 1),
                                                    (b"mx2.x.example", 1)]


def test_no_mx_falls_back_to_a_also_through_a_cname(dns: DnsClient) -> None:
    assert ips(mxip(b"nomx.example", dns)[1]) == [("127.0.0.31", 0)]
    # the MX answer is only the CNAME: no MX record, so the A lookup (the resolver follows it)
    assert ips(mxip(b"alias.example", dns)[1]) == [("127.0.0.31", 0)]


@pytest.mark.parametrize("host, status", [
    (b"soft.example", DNS_SOFT), (b"refused.example", DNS_SOFT), (b"notimp.example", DNS_SOFT),
    (b"lame.example", DNS_SOFT), (b"formerr.example", DNS_HARD), (b"missing.example", DNS_HARD),
    (b"noa.example", DNS_HARD),  # records, but neither MX nor A: the A answer is empty
])
def test_answer_classes(dns: DnsClient, host: bytes, status: str) -> None:
    assert mxip(host, dns) == (status, [])


def test_soft_mx_address_lookups(dns: DnsClient) -> None:
    assert (lambda r: (r[0], ips(r[1])))(mxip(b"halfsoft.example", dns)) == (SOFT_SOME, [("127.0.0.21", 20)])
    assert mxip(b"allsoft.example", dns) == (SOFT_SOME, [])
    assert mxip(b"empty.example", dns) == (DNS_OK, [])


def test_literals_and_relays(dns: DnsClient) -> None:
    dns.log.clear()
    assert ips(mxip(b"[127.0.0.9]", dns)[1]) == [("127.0.0.9", 0)]
    assert ips(run(dns_ip(b"127.0.0.9", switches()), dns.query)[1]) == [("127.0.0.9", 0)]
    assert ips(run(dns_ip(b"mx2.x.example", switches()), dns.query)[1]) == [("127.0.0.21", 0)]
    assert [(q.name, q.rtype) for q in dns.log] == [(b"mx2.x.example", 1)]  # never an MX query


def test_names_that_cannot_be_asked_are_hard_without_a_query() -> None:
    # res_mkquery fails (label over 63, name over 255, empty label): NO_RECOVERY, hard
    with DnsServer(ZONE) as server:
        for name in (b"a" * 64 + b".example", b"x." * 130 + b"example", b"a..b.example"):
            assert mxip(name, DnsClient(server.address)) == (DNS_HARD, [])
    assert server.queries == []


def test_no_nameserver_is_soft() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert mxip(b"x.example", DnsClient(("127.0.0.1", port))) == (DNS_SOFT, [])


def test_109_asks_aaaa_first_and_keeps_only_the_first_a_answer(dns: DnsClient) -> None:
    assert ips(mxip(b"v6.example", dns, "1.09")[1]) == [("::1", 0), ("127.0.0.61", 0)]
    assert ips(mxip(b"v6.example", dns, "1.08")[1]) == [("127.0.0.61", 0), ("127.0.0.62", 0)]
    # 1.09's stray break: the first answer of the A query is the CNAME, so no A at all
    assert ips(mxip(b"cnamefirst.example", dns, "1.09")[1]) == [("::1", 0)]
    assert ips(mxip(b"cnamefirst.example", dns, "1.08")[1]) == [("127.0.0.61", 0), ("127.0.0.62", 0)]


def test_equal_preferences_ordered_by_the_seeded_generator() -> None:
    records = tuple(DnsRecord(rtype=T_MX, data=n, pref=p)
                    for p, n in [(20, b"c"), (10, b"a"), (10, b"b"), (5, b"z")])
    addresses = {b"a": "10.0.0.1", b"b": "10.0.0.2", b"c": "10.0.0.3", b"z": "10.0.0.26"}

    def answer(q: DnsQuery) -> DnsAnswer:
        return DnsAnswer(status=DNS_OK, records=records) if q.rtype == T_MX else a(addresses[q.name])

    orders = set()
    for seed in range(200):
        found = run(dns_mxip(b"x", seed, switches()), answer)[1]
        assert [c.pref for c in found] == [5, 10, 10, 20]
        orders.add(tuple(c.fqdn for c in found))
    assert orders == {(b"z", b"a", b"b", b"c"), (b"z", b"b", b"a", b"c")}


def test_canonical_follows_cnames() -> None:
    zone: Zone = {
        ("alias.example", "CNAME"): ["mid.example."], ("mid.example", "CNAME"): ["real.example."],
        ("real.example", "A"): ["127.0.0.5"], ("loop.example", "CNAME"): ["loop.example."],
        ("soft.example", "CNAME"): "SERVFAIL"}
    with DnsServer(zone) as server:
        client = DnsClient(server.address)

        def canonical(name: bytes) -> tuple[str | int, bytes]:
            return run(dns_cname(name), client.query)

        assert canonical(b"real.example") == (0, b"real.example")
        # the server answers a CNAME question with the first hop only: two hops, two questions
        assert canonical(b"alias.example") == (2, b"real.example")
        assert canonical(b"missing.example") == (0, b"missing.example")
        assert canonical(b"real.example.") == (1, b"real.example")  # the dot drop counts as a hop
        assert canonical(b"[127.0.0.1]") == (0, b"[127.0.0.1]")
        assert canonical(b"") == (0, b"")
        assert canonical(b"loop.example") == (DNS_HARD, b"loop.example")
        assert canonical(b"soft.example") == (DNS_SOFT, b"soft.example")


@pytest.mark.parametrize("spec, parsed", [
    ("127.0.0.1", ("127.0.0.1", 53)), ("127.0.0.1:5353", ("127.0.0.1", 5353)),
    ("[::1]:54", ("::1", 54)), ("::1", ("::1", 53)),
])
def test_parse_server(spec: str, parsed: tuple[str, int]) -> None:
    assert parse_server(spec) == parsed


@pytest.mark.parametrize("spec", ["nonsense", "127.0.0.1:0", "127.0.0.1:x", "[::1", "[::1]x"])
def test_parse_server_rejects(spec: str) -> None:
    with pytest.raises((ValueError, OSError)):
        parse_server(spec)
