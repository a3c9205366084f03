"""smtproutes and domainbindings as qmail-remote reads them (spec §5.3, §6).

Both are `key:value` control files looked up with the same walk: the whole host, then each
suffix that starts at a `.` (longest first), then the empty key. The first match wins,
even when its value is empty. Keys are case-insensitive; a later duplicate wins.
"""

from __future__ import annotations

from dataclasses import dataclass

from eqmail_ref.cbytes import ip_scan, scan_ulong

__all__ = ["ColonMap", "Route", "route_for", "Binding", "binding_for", "SENTINEL_PASSWORD",
           "BAD_BINDING"]

# A user without a password on the LAST smtproutes line: qmail-remote reads the password
# past the end of the entry, where djb's stralloc left its 'Z' sentinel. Verified: real
# eQmail 1.08 sends AUTH LOGIN with the password "Z" (spec §5.3 step 2 says "usually
# empty"; the binary says otherwise).
SENTINEL_PASSWORD = b"Z"


class ColonMap:
    """constmap with flagcolon: entries `key:value`; entries without ':' are ignored."""

    def __init__(self, entries: list[bytes]) -> None:
        self.entries = entries
        self._index: dict[bytes, int] = {}
        for n, entry in enumerate(entries):
            colon = entry.find(b":")
            if colon >= 0:
                self._index[entry[:colon].lower()] = n  # the later duplicate wins

    def lookup(self, key: bytes) -> int | None:
        """The index of the matching entry, or None."""
        return self._index.get(key.lower())

    def value(self, n: int) -> bytes:
        entry = self.entries[n]
        return entry[entry.index(b":") + 1 :]

    def walk(self, host: bytes) -> int | None:
        """The whole host, each `.suffix` longest first, then the empty key."""
        for i in range(len(host) + 1):
            if i == 0 or i == len(host) or host[i] == 0x2E:
                found = self.lookup(host[i:])
                if found is not None:
                    return found
        return None


@dataclass(frozen=True, kw_only=True)
class Route:
    relay: bytes | None  # None: deliver by MX lookup of the host
    port: int = 25
    user: bytes = b""
    password: bytes = b""

    @property
    def wants_auth(self) -> bool:
        return bool(self.user) and bool(self.password)


def route_for(host: bytes, routes: ColonMap) -> Route:
    """qmail-remote's smtproutes lookup and value parse, quirks included (§5.3)."""
    n = routes.walk(host)
    if n is None:
        return Route(relay=None)
    value = routes.value(n)
    if not value:
        return Route(relay=None)
    user = password = b""
    space = value.find(b" ")
    if space >= 0:
        rest = value[space + 1 :]
        second = rest.find(b" ")
        # The C code tests the wrong byte for the second space and always goes on: without
        # one, the password is whatever follows this entry in the file's buffer.
        if second >= 0:
            user, password = rest[:second], rest[second + 1 :]
        else:
            user = rest
            password = (routes.entries[n + 1] if n + 1 < len(routes.entries)
                        else SENTINEL_PASSWORD)
        value = value[:space]
    port = 25
    colon = value.find(b":")
    if colon >= 0:
        port = scan_ulong(value + b"\0", colon + 1)[0]
        value = value[:colon]
    return Route(relay=value, port=port, user=user, password=password)


@dataclass(frozen=True, kw_only=True)
class Binding:
    """The domainbindings decision for one sender (eQmail 1.08 only, §6)."""

    local_ip: bytes | None = None  # packed IPv4 to bind to; None: the OS chooses
    helo: bytes | None = None  # the sender domain, replacing helohost when bound
    error: bytes | None = None  # a Z report: the value did not parse as an IPv4 address


# The Giam text (spec §6): no surviving eQmail 1.08 source shows its own.
BAD_BINDING = b"ZUnable to parse IP address in control/domainbindings (#4.3.0)\n"


def binding_for(sender: bytes, bindings: ColonMap) -> Binding:
    """Match the sender's domain (after the last @; empty for <> or no @) like smtproutes.
    An empty value means no binding and stops the walk. The value must start with
    n.n.n.n (ip_scan); trailing text is ignored (§6, inferred from the patch's sources)."""
    at = sender.rfind(b"@")
    domain = sender[at + 1 :] if at >= 0 else b""
    n = bindings.walk(domain)
    if n is None:
        return Binding()
    value = bindings.value(n)
    if not value:
        return Binding()
    scanned = ip_scan(value)
    if scanned is None:
        return Binding(error=BAD_BINDING)
    return Binding(local_ip=scanned[0], helo=domain)
