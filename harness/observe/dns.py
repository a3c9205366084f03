"""The fake DNS server (ARCHITECTURE.md, observers): scripted answers over UDP on loopback,
built from dnspython messages, that a real qmail-remote (glibc's resolver, port 53 only)
can be pointed at too: the address and port are the caller's choice.

`zone` maps (name, type) to a list of record texts in answer order ("10 mx1.example." for
MX, "127.0.0.5" for A, "target.example." for CNAME, "::1" for AAAA), to an rcode name
("NXDOMAIN", "SERVFAIL", "REFUSED", "NOTIMP", "FORMERR"), or to "LAME": NOERROR with no
records and neither AA nor RA (what glibc takes for a lame referral). A name with a CNAME
answers every other type as a recursive resolver does: the CNAME, then the target's records
of that type. A name listed with other types only answers NOERROR with no records; an
unlisted name is NXDOMAIN. Answers carry RA. Every question is recorded in `queries` as
(name, type).
"""

from __future__ import annotations

import socket
import threading
from types import TracebackType

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

from harness.observe.waiting import first_readable

__all__ = ["DnsServer", "Zone"]

Zone = dict[tuple[str, str], list[str] | str]


class DnsServer:
    def __init__(self, zone: Zone, *, host: str = "127.0.0.1", port: int = 0,
                 sock: socket.socket | None = None) -> None:
        self.zone = {(name.lower().rstrip("."), rtype.upper()): v for (name, rtype), v in zone.items()}
        if sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind((host, port))
        self.sock = sock
        self.address: tuple[str, int] = sock.getsockname()[:2]
        self.queries: list[tuple[str, str]] = []
        self._wake_r, self._wake_w = socket.socketpair()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def spec(self) -> str:
        return f"{self.address[0]}:{self.address[1]}"

    def _answer(self, request: dns.message.Message) -> dns.message.Message:
        question = request.question[0]
        rtype = dns.rdatatype.to_text(question.rdtype)
        self.queries.append((question.name.to_text(omit_final_dot=True).lower(), rtype))
        response = dns.message.make_response(request)
        response.flags |= dns.flags.RA
        self._fill(response, question.name, rtype, hops=8)
        return response

    def _fill(self, response: dns.message.Message, qname: dns.name.Name, rtype: str,
              hops: int) -> None:
        name = qname.to_text(omit_final_dot=True).lower()
        entry = self.zone.get((name, rtype))
        cname = self.zone.get((name, "CNAME"))
        if entry is None and isinstance(cname, list) and hops > 0:
            response.answer.append(dns.rrset.from_text(qname, 300, "IN", "CNAME", *cname))
            self._fill(response, dns.name.from_text(cname[0]), rtype, hops - 1)
        elif entry == "LAME":
            response.flags &= ~(dns.flags.RA | dns.flags.AA)
        elif isinstance(entry, str):
            response.set_rcode(dns.rcode.from_text(entry))
        elif entry is not None:
            response.answer.append(dns.rrset.from_text(qname, 300, "IN", rtype, *entry))
        elif not any(key == name for key, _ in self.zone) and not response.answer:
            response.set_rcode(dns.rcode.NXDOMAIN)

    def _serve(self) -> None:
        while True:
            if first_readable(self._wake_r, self.sock):
                return
            data, peer = self.sock.recvfrom(65535)
            try:
                request = dns.message.from_wire(data)
            except Exception:  # not DNS: ignore, as a server would
                continue
            self.sock.sendto(self._answer(request).to_wire(want_shuffle=False), peer)

    def __enter__(self) -> DnsServer:
        return self

    def stop(self) -> None:
        """End the thread and close the socket; safe to call twice."""
        if self._wake_w.fileno() < 0:
            return
        self._wake_w.send(b"x")
        self._thread.join(timeout=30)
        self.sock.close()
        self._wake_r.close()
        self._wake_w.close()

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
