"""A qmail-remote case's outgoing-side tables, read into the case model: its `relay` list
(fake upstream relays) and its `dns` table (the fake DNS zone). The observers
(harness/observe/relay.py, dns.py) are given these typed objects when the case runs.

relay = [ { name = "mx1", script = [...] }, ... ]   one table per relay, each listening on
    port 25 of an address of its own; `name` (default "relay", then "relay2", ...) is how
    files, DNS records and reports refer to it: `{mx1}` is its address, `{mx1_port}` its
    port (`{client}`, `{client2}` .. `{client8}` are the client's own addresses,
    harness/observe/addresses.py). Keys:
      script   the replies of one connection, in order: a string is a reply (the first is
               the greeting, sent at once; each later one answers the next command, in DATA
               the whole body); tables {tls = true} (TLS handshake now), {close = true}
               (hang up), {hang = true} (answer nothing more), {greet = "..."} (send without
               waiting for a command)
      scripts  several connections, one script each (a connection beyond them is closed)
      refuse   true: nothing listens there, connections are refused
      cert     the DNS names of the relay's TLS certificate (default [NAME + ".test"]),
               issued by the run's test CA: `{ca}` in a file is that CA, `{other_ca}` another
      cn       the certificate's commonName (default: none)
      without a script, a successful dialogue for the job's recipients: `greeting`
      (default "220 NAME ESMTP\r\n"), the `ehlo` reply (default "250-NAME\r\n250
      8BITMIME\r\n"), with `auth = true` the AUTH LOGIN replies 334/334/235, then MAIL,
      each RCPT, DATA and the final dot accepted.
dns = { "NAME TYPE" = ["record", ...] | "RCODE" }   records as in zone files ("10 mx1.x." for
    MX, "{mx1}" or "127.0.0.1" for A, "target.x." for CNAME); RCODE one of NXDOMAIN,
    SERVFAIL, REFUSED, NOTIMP, FORMERR or LAME (see harness.observe.dns).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from harness.cases.check import Bad, Checker, Path_, flag, strings, table, text
from harness.cases.model import (
    RCODES,
    RECORD_TYPES,
    DnsEntry,
    Greet,
    RelayAction,
    RelayPlan,
    ScriptItem,
    Zone,
    to_bytes,
)

__all__ = ["parse_relays", "parse_zone", "RELAY_KEYS", "CLIENT_NAMES"]

RELAY_KEYS = ("name", "script", "scripts", "refuse", "cert", "cn", "tls_max", "client_ca", "ehlo", "auth",
              "greeting")
TLS_VERSIONS = ("TLSv1.2", "TLSv1.3")
_DIALOGUE = ("ehlo", "auth", "greeting")  # shape the default script only
_RESERVED = ("ca", "other_ca", "dns")  # placeholders that are not relays
CLIENT_NAMES = ("client", *(f"client{n}" for n in range(2, 9)))
_FLAGS = {"tls": RelayAction.TLS, "close": RelayAction.CLOSE, "hang": RelayAction.HANG,
          "reset": RelayAction.RESET}
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _item(raw: Any, path: Path_, what: str) -> ScriptItem:
    if isinstance(raw, str):
        return to_bytes(raw)
    if isinstance(raw, dict) and len(raw) == 1:
        (key, value), = raw.items()
        if key == "greet":
            return Greet(to_bytes(text(value, (*path, key), f"{what}: greet")))
        if key in _FLAGS and value is True:
            return _FLAGS[key]
    raise Bad((*path, *(raw if isinstance(raw, dict) else ())),
              f"{what}: an item is a reply string or one of {{tls = true}}, {{close = true}}, "
              "{hang = true}, {reset = true}, {greet = \"...\"}")


def _default_script(name: str, raw: dict[str, Any], recipients: int, path: Path_) -> tuple[ScriptItem, ...]:
    greeting = to_bytes(text(raw.get("greeting", f"220 {name} ESMTP\r\n"), (*path, "greeting"),
                             f"relay {name}: greeting"))
    ehlo = to_bytes(text(raw.get("ehlo", f"250-{name}\r\n250 8BITMIME\r\n"), (*path, "ehlo"),
                         f"relay {name}: ehlo"))
    wants_auth = flag(raw.get("auth", False), (*path, "auth"), f"relay {name}: auth")
    auth: tuple[bytes, ...] = ((b"334 VXNlcm5hbWU6\r\n", b"334 UGFzc3dvcmQ6\r\n", b"235 ok\r\n")
                               if wants_auth else ())
    return (greeting, ehlo, *auth, b"250 ok\r\n", *(b"250 ok\r\n",) * recipients,
            b"354 go\r\n", b"250 queued\r\n")


def _relay(entry: Any, n: int, recipients: int, check: Checker) -> RelayPlan:
    path: Path_ = ("relay",)
    raw = table(entry, path, f"relay #{n}")
    check.keys(raw, RELAY_KEYS, path, f"relay #{n}")
    name = raw.get("name", "relay" if n == 1 else f"relay{n}")
    if not isinstance(name, str) or not name.isidentifier() or name in _RESERVED or name in CLIENT_NAMES:
        raise Bad((*path, "name"), f"relay #{n}: name {name!r} must be a word other than "
                                   f"{', '.join(_RESERVED + CLIENT_NAMES[:1])} and clientN")
    refuse = flag(raw.get("refuse", False), (*path, "refuse"), f"relay {name}: refuse")
    given = [k for k in ("script", "scripts") if k in raw]
    if len(given) == 2:
        raise Bad((*path, "scripts"), f"relay {name}: give script or scripts, not both")
    if refuse and set(raw) - {"name", "refuse"}:
        extra = sorted(set(raw) - {"name", "refuse"})
        raise Bad((*path, extra[0]), f"relay {name}: a refusing relay takes no {', '.join(extra)}")
    dialogue = [k for k in _DIALOGUE if k in raw]
    if given and dialogue:
        raise Bad((*path, dialogue[0]), f"relay {name}: {', '.join(dialogue)} shape the default "
                                        f"dialogue, which a {given[0]} replaces")
    scripts: tuple[tuple[ScriptItem, ...], ...]
    if not given:
        scripts = (_default_script(name, raw, recipients, path),)
    else:
        listed = [raw["script"]] if given == ["script"] else raw["scripts"]
        spath = (*path, given[0])
        if not isinstance(listed, list) or not all(isinstance(s, list) for s in listed):
            raise Bad(spath, f"relay {name}: a script is a list of items")
        scripts = tuple(tuple(_item(i, spath, f"relay {name} item {k}") for k, i in enumerate(s, 1))
                        for s in listed)
    cert = strings(raw.get("cert", [f"{name}.test"]), (*path, "cert"), f"relay {name}: cert")
    cn = text(raw.get("cn", ""), (*path, "cn"), f"relay {name}: cn")
    tls_max = text(raw.get("tls_max", ""), (*path, "tls_max"), f"relay {name}: tls_max")
    if tls_max not in ("", *TLS_VERSIONS):
        raise Bad((*path, "tls_max"), f"relay {name}: tls_max must be one of {', '.join(TLS_VERSIONS)}")
    client_ca = flag(raw.get("client_ca", False), (*path, "client_ca"), f"relay {name}: client_ca")
    return RelayPlan(name=name, scripts=scripts, refuse=refuse, cert=cert, cn=cn, tls_max=tls_max,
                     client_ca=client_ca)


def parse_relays(raw: Any, recipients: int, check: Checker) -> tuple[RelayPlan, ...]:
    """The case's `relay` list as plans; every bad relay is a problem of its own."""
    if not isinstance(raw, list):
        raise Bad(("relay",), "relay must be a list of tables")
    plans = [check.run(("relay",), lambda e=entry, n=n: _relay(e, n, recipients, check))
             for n, entry in enumerate(raw, 1)]
    names = [p.name for p in plans if p is not None]
    if len(set(names)) != len(names):
        raise Bad(("relay", "name"), f"relay names must differ: {names}")
    return tuple(p for p in plans if p is not None)


def _record(rtype: str, record: str, known: set[str], path: Path_, key: str) -> str:
    for name in _PLACEHOLDER.findall(record):
        if name not in known:
            raise Bad(path, f"dns {key!r}: {{{name}}} names no relay (relays and client addresses: "
                            f"{', '.join(sorted(known))})")
    bare = _PLACEHOLDER.sub("", record)
    if rtype == "A" and bare and not _is_ip(bare, 4):
        raise Bad(path, f"dns {key!r}: {record!r} is not an IPv4 address or a {{relay}}")
    # a v4-mapped AAAA names a relay inside an IPv6 address: ::ffff:{relay}
    mapped = _PLACEHOLDER.sub("127.0.0.1", record)
    if rtype == "AAAA" and bare and not _is_ip(bare, 6) and not _is_ip(mapped, 6):
        raise Bad(path, f"dns {key!r}: {record!r} is not an IPv6 address or a {{relay}}")
    if rtype == "MX" and not re.fullmatch(r"\d+ \S+", record):
        raise Bad(path, f"dns {key!r}: {record!r} is not 'PREFERENCE HOST'")
    return record


def _is_ip(text_: str, version: int) -> bool:
    try:
        return ipaddress.ip_address(text_).version == version
    except ValueError:
        return False


def parse_zone(raw: Any, relays: tuple[RelayPlan, ...], check: Checker) -> Zone:
    """The case's `dns` table as a zone; `{NAME}` in records must name a relay, the client
    (`client`, `client2` .. `client8`) or `dns`."""
    zone = table(raw, ("dns",), "dns")
    known = {p.name for p in relays} | set(CLIENT_NAMES) | {"dns"}
    entries: list[DnsEntry] = []
    for key, value in zone.items():
        path = ("dns", key)
        name, _, given = key.rpartition(" ")
        rtype = given.upper()
        if not name or rtype not in RECORD_TYPES:
            check.add(path, f"dns key {key!r} must be 'NAME TYPE' with TYPE {', '.join(RECORD_TYPES)}")
            continue
        if isinstance(value, str):
            if value.upper() not in RCODES:
                check.add(path, f"dns {key!r}: {value!r} is not one of {', '.join(RCODES)}")
                continue
            entries.append(DnsEntry(name=name, rtype=rtype, rcode=value.upper()))
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            records = check.run(path, lambda v=value, p=path, k=key, t=rtype:
                                tuple(_record(t, r, known, p, k) for r in v))
            if records is not None:
                entries.append(DnsEntry(name=name, rtype=rtype, records=records))
        else:
            check.add(path, f"dns {key!r}: a list of record texts or an rcode name")
    return Zone(entries=tuple(entries))
