"""qmail-remote's DNS logic (dns.c; spec §5.3, §5.4) as generators over DnsQuery.

Each function yields `DnsQuery` requests, is sent the `DnsAnswer`, and returns
`(status, result)` with status DNS_OK, DNS_SOFT or DNS_HARD (dns_mxip can also return
SOFT_SOME, its "some MX failed softly" 1). The shell only runs res_query; everything that
decides what is asked and what the answers mean is here:

  * literal hosts `d.d.d.d` and `[d.d.d.d]` need no lookup and get preference 0;
  * dns_mxip: MX query; NXDOMAIN or no MX record falls back to the host's addresses; the
    MX names are taken lowest preference first, ties broken by djb's linear congruential
    generator from the caller's seed, exactly as the C loop picks and swaps them;
  * each name's addresses: A (1.08: every A answer; 1.09: AAAA first, then only the FIRST
    answer of the A query, so a leading CNAME hides every A record);
  * dns_cname: up to 10 CNAME hops, a final dot dropped, `[...]` and empty names left alone.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass

from eqmail_ref.cbytes import ip_scan, ip_scanbracket
from eqmail_ref.effects import Request
from eqmail_ref.pump import ask
from eqmail_ref.remote.requests import (
    DNS_HARD,
    DNS_OK,
    DNS_SOFT,
    T_A,
    T_AAAA,
    T_CNAME,
    T_MX,
    DnsAnswer,
    DnsQuery,
)
from eqmail_ref.remote.switches import RemoteSwitches

__all__ = ["Candidate", "SOFT_SOME", "literal_ip", "dns_ip", "dns_mxip", "dns_cname"]

SOFT_SOME = "soft-some"  # dns_mxip returned 1: an MX name failed softly, others may be fine
_ULONG = 1 << 64
_CNAME_LOOPS = 10

Query = Request[DnsAnswer]  # DnsQuery, as eqmail_ref.pump.ask() yields it
Lookup = Generator[Query, DnsAnswer, tuple[str, list["Candidate"]]]


@dataclass(frozen=True, kw_only=True)
class Candidate:
    """One address to try (struct ip_mx)."""
    ip: bytes  # 4 or 16 bytes
    pref: int
    fqdn: bytes | None  # the name whose A record gave it (TLS builds: tlshosts); None else


def literal_ip(host: bytes) -> bytes | None:
    """The address of a literal `d.d.d.d` or `[d.d.d.d]` host (the whole name must scan)."""
    if not host:
        return None
    for scan in (ip_scan, ip_scanbracket):
        found = scan(host)
        if found is not None and found[1] == len(host):
            return found[0]
    return None


def _ask(name: bytes, rtype: int) -> Generator[Query, DnsAnswer, DnsAnswer]:
    return (yield from ask(DnsQuery(name=name, rtype=rtype)))


def _ipplus(name: bytes, pref: int, sw: RemoteSwitches) -> Lookup:
    ip = literal_ip(name)
    if ip is not None:
        return DNS_OK, [Candidate(ip=ip, pref=0, fqdn=None)]
    found: list[Candidate] = []
    status6 = DNS_OK
    if sw.ipv6:
        answer = yield from _ask(name, T_AAAA)
        status6 = answer.status
        if status6 == DNS_OK:
            found += [Candidate(ip=r.data, pref=pref, fqdn=None)
                      for r in answer.records if r.rtype == T_AAAA and len(r.data) == 16]
    answer = yield from _ask(name, T_A)
    status4 = answer.status
    if status4 == DNS_OK:
        records = answer.records[:1] if sw.a_first_answer_only else answer.records
        found += [Candidate(ip=r.data[:4], pref=pref, fqdn=name)
                  for r in records if r.rtype == T_A and len(r.data) >= 4]
    if sw.ipv6 and (status4 == DNS_OK or status6 == DNS_OK):
        return DNS_OK, found
    return status4, found


def dns_ip(name: bytes, sw: RemoteSwitches) -> Lookup:
    """dns_ip(): the addresses of a relay host (preference 0)."""
    return (yield from _ipplus(name, 0, sw))


def dns_mxip(name: bytes, seed: int, sw: RemoteSwitches) -> Lookup:
    """dns_mxip(): the addresses of the host's mail exchangers, in the order to try."""
    ip = literal_ip(name)
    if ip is not None:
        return DNS_OK, [Candidate(ip=ip, pref=0, fqdn=None)]
    answer = yield from _ask(name, T_MX)
    if answer.status == DNS_SOFT:
        return DNS_SOFT, []
    if answer.status == DNS_HARD:
        return (yield from dns_ip(name, sw))
    mx = [(r.pref, r.data) for r in answer.records if r.rtype == T_MX]
    if not mx:
        return (yield from dns_ip(name, sw))  # e.g. a CNAME answer: the host's own address
    random = seed % _ULONG
    found: list[Candidate] = []
    soft = False
    while mx:
        best, same = 0, 1
        for j in range(1, len(mx)):
            if mx[j][0] < mx[best][0]:
                best, same = j, 1
            elif mx[j][0] == mx[best][0]:
                same += 1
                random = (random * 69069 + 1) % _ULONG
                if random // 2 < 2147483647 // same:
                    best = j
        pref, target = mx[best]
        status, more = yield from _ipplus(target, pref, sw)
        found += more
        if status == DNS_SOFT:
            soft = True
        mx[best] = mx[-1]
        mx.pop()
    return (SOFT_SOME if soft else DNS_OK), found


def dns_cname(name: bytes) -> Generator[Query, DnsAnswer, tuple[str | int, bytes]]:
    """dns_cname(): (hops followed, canonical name), or (DNS_SOFT/DNS_HARD, name); HARD
    is the alias loop (more than 10 hops)."""
    for loop in range(_CNAME_LOOPS):
        if not name or name.endswith(b"]"):
            return loop, name
        if name.endswith(b"."):
            name = name[:-1]
            continue
        answer = yield from _ask(name, T_CNAME)
        if answer.status == DNS_SOFT:
            return DNS_SOFT, name
        if answer.status == DNS_HARD:
            return loop, name
        target = next((r.data for r in answer.records if r.rtype == T_CNAME), None)
        if target is None:
            return loop, name
        name = target
    return DNS_HARD, name
