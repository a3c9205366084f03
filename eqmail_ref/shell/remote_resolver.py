"""res_query() for the qmail-remote shell (eqmail_ref.shell.remote_main): dnspython against
one configurable server.

What qmail's dns.c sees from glibc, reproduced (spec §5.4):
  * a query with RD set, no search list, no EDNS; UDP, and TCP again when truncated;
    5 seconds per try, 2 tries (glibc's RES_TIMEOUT and RES_DFLRETRY);
  * an answer with rcode NOERROR and at least one answer record (of any type): DNS_OK with
    the answer section in order;
  * NOERROR without answers (NO_DATA), NXDOMAIN, FORMERR, or a name that cannot be encoded
    (empty label, label over 63 bytes, name over 255): DNS_HARD;
  * SERVFAIL, NOTIMP, REFUSED, an empty NOERROR answer with neither AA nor RA (a lame
    referral), no answer in time, or a refused connection: DNS_SOFT (glibc gives up on
    such a server, then res_query reports TRY_AGAIN or ECONNREFUSED).
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype

from eqmail_ref.remote import requests as rq
from eqmail_ref.remote.requests import DnsAnswer, DnsQuery, DnsRecord

__all__ = ["DnsClient", "parse_server", "default_server"]

_TIMEOUT = 5.0
_TRIES = 2


def parse_server(spec: str) -> tuple[str, int]:
    """`IP:PORT`, `[IPv6]:PORT`, or a bare IP (port 53). ValueError if malformed."""
    host, port = spec, "53"
    if spec.startswith("["):
        end = spec.find("]")
        if end < 0:
            raise ValueError(f"bad DNS server {spec!r}: no closing ]")
        host, rest = spec[1:end], spec[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"bad DNS server {spec!r}")
            port = rest[1:]
    elif spec.count(":") == 1:
        host, port = spec.split(":")
    socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"bad DNS server port in {spec!r}")
    return host, int(port)


def default_server(resolv_conf: Path = Path("/etc/resolv.conf")) -> tuple[str, int]:
    """The first `nameserver` of resolv.conf, port 53; 127.0.0.1 when there is none."""
    try:
        lines = resolv_conf.read_text(errors="replace").splitlines()
    except OSError:
        lines = []
    for line in lines:
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "nameserver":
            try:
                return parse_server(fields[1].split("%")[0])
            except (ValueError, OSError):
                continue
    return "127.0.0.1", 53


def _name(raw: bytes) -> dns.name.Name | None:
    """The query name from bytes, label by label (no IDNA, backslash escapes as
    res_mkquery reads them are not interpreted); None if it cannot be encoded."""
    if raw in (b"", b"."):
        return dns.name.root
    labels = raw[:-1].split(b".") if raw.endswith(b".") else raw.split(b".")
    try:
        return dns.name.Name([*labels, b""])
    except dns.exception.DNSException:
        return None


def _text(name: dns.name.Name) -> bytes:
    """dn_expand()'s presentation: labels joined by dots, no final dot."""
    if name == dns.name.root:
        return b""
    return name.to_text(omit_final_dot=True).encode("latin-1", errors="replace")


def _records(response: dns.message.Message) -> tuple[DnsRecord, ...]:
    found: list[DnsRecord] = []
    for rrset in response.answer:
        for rdata in rrset:
            rtype = int(rrset.rdtype)
            if rtype == rq.T_A:
                found.append(DnsRecord(rtype=rtype, data=socket.inet_aton(rdata.address)))
            elif rtype == rq.T_AAAA:
                found.append(DnsRecord(rtype=rtype, data=socket.inet_pton(socket.AF_INET6,
                                                                         rdata.address)))
            elif rtype == rq.T_CNAME:
                found.append(DnsRecord(rtype=rtype, data=_text(rdata.target)))
            elif rtype == rq.T_MX:
                found.append(DnsRecord(rtype=rtype, data=_text(rdata.exchange),
                                       pref=int(rdata.preference)))
            else:
                found.append(DnsRecord(rtype=rtype, data=b""))
    return tuple(found)


def _lame(response: dns.message.Message) -> bool:
    """glibc's "referred query": an empty NOERROR answer that is neither authoritative nor
    recursive is a lame server, skipped like SERVFAIL."""
    return (response.rcode() == dns.rcode.NOERROR and not response.answer
            and not response.flags & (dns.flags.AA | dns.flags.RA) and not response.additional)


class DnsClient:
    """res_query() against one server. `log` keeps every question asked, in order."""

    def __init__(self, server: tuple[str, int], *, timeout: float = _TIMEOUT,
                 tries: int = _TRIES) -> None:
        self.host, self.port = server
        self.timeout = timeout
        self.tries = tries
        self.log: list[DnsQuery] = []

    def query(self, request: DnsQuery) -> DnsAnswer:
        self.log.append(request)
        name = _name(request.name)
        if name is None:
            return DnsAnswer(status=rq.DNS_HARD)
        query = dns.message.make_query(name, dns.rdatatype.RdataType.make(request.rtype))
        query.flags |= dns.flags.RD
        for _ in range(self.tries):
            try:
                response = self._udp(query)
                if response is not None and response.flags & dns.flags.TC:
                    response = dns.query.tcp(query, self.host, port=self.port, timeout=self.timeout)
            except ConnectionRefusedError:
                return DnsAnswer(status=rq.DNS_SOFT)  # errno ECONNREFUSED
            except (OSError, dns.exception.DNSException):
                continue
            if response is None:
                continue  # no answer in time
            if response.rcode() in (dns.rcode.SERVFAIL, dns.rcode.NOTIMP, dns.rcode.REFUSED):
                continue
            if _lame(response):
                continue
            if response.rcode() != dns.rcode.NOERROR or not response.answer:
                return DnsAnswer(status=rq.DNS_HARD)
            return DnsAnswer(status=rq.DNS_OK, records=_records(response))
        return DnsAnswer(status=rq.DNS_SOFT)

    def _udp(self, query: dns.message.Message) -> dns.message.Message | None:
        """One UDP exchange over a connected socket (so a closed port is ECONNREFUSED, as
        glibc sees it); None when nothing matching came within the timeout."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        deadline = time.monotonic() + self.timeout
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.connect((self.host, self.port))
            sock.send(query.to_wire())
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                sock.settimeout(left)
                try:
                    wire = sock.recv(65535)
                except TimeoutError:
                    return None
                try:
                    response = dns.message.from_wire(wire)
                except dns.exception.DNSException:
                    continue
                if query.is_response(response):
                    return response
