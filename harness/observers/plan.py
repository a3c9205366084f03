"""What a qmail-remote case asks of the outgoing-side observers: its `relay` list (fake
upstream relays) and its `dns` table (the fake DNS zone), checked when the case file is
read and turned into scripts and a zone when the case runs.

relay = [ { name = "mx1", script = [...] }, ... ]   one table per relay, each listening on
    port 25 of a loopback address of its own; `name` (default "relay", then "relay2", ...)
    is how files, DNS records and reports refer to it: `{mx1}` is its address,
    `{mx1_port}` its port (`{client}`, `{client2}` .. `{client8}` are the client's own
    addresses, harness/observers/addresses.py). Keys:
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
      without a script, a successful dialogue for the job's recipients: greeting, the
      `ehlo` reply (default "250-NAME\r\n250 8BITMIME\r\n"), with `auth = true` the
      AUTH LOGIN replies 334/334/235, then MAIL, each RCPT, DATA and the final dot accepted.
dns = { "NAME TYPE" = ["record", ...] | "RCODE" }   records as in zone files ("10 mx1.x." for
    MX, "{mx1}" or "127.0.0.1" for A, "target.x." for CNAME); RCODE one of NXDOMAIN,
    SERVFAIL, REFUSED, NOTIMP, FORMERR or LAME (see harness.observers.dns).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.observers.dns import Zone
from harness.observers.relay import CLOSE, GREET, HANG, TLS, Item

__all__ = ["RelayPlan", "relay_plans", "zone_of", "check_remote_tables", "RCODES"]

RCODES = ("NXDOMAIN", "SERVFAIL", "REFUSED", "NOTIMP", "FORMERR", "LAME")
_RELAY_KEYS = {"name", "script", "scripts", "refuse", "cert", "cn", "ehlo", "auth", "greeting"}
_FLAGS: dict[str, Item] = {"tls": TLS, "close": CLOSE, "hang": HANG}


@dataclass(frozen=True, kw_only=True)
class RelayPlan:
    name: str
    scripts: tuple[tuple[Item, ...], ...]
    refuse: bool = False
    cert: tuple[str, ...] = ()
    cn: str = ""

    @property
    def tls(self) -> bool:
        return any(item == TLS for script in self.scripts for item in script)


def _latin1(text: Any, what: str) -> bytes:
    # cases.to_bytes, without importing harness.cases (which imports this module)
    from harness.cases import to_bytes

    if not isinstance(text, str):
        raise ValueError(f"{what} must be a string")
    return to_bytes(text)


def _item(raw: Any, what: str) -> Item:
    if isinstance(raw, str):
        return _latin1(raw, what)
    if isinstance(raw, dict) and len(raw) == 1:
        (key, value), = raw.items()
        if key == "greet":
            return GREET(_latin1(value, what))
        if key in _FLAGS and value is True:
            return _FLAGS[key]
    raise ValueError(f"{what}: an item is a reply string or one of {{tls = true}}, {{close = true}}, "
                     "{hang = true}, {greet = \"...\"}")


def _default_script(name: str, raw: Mapping[str, Any], recipients: int) -> tuple[Item, ...]:
    greeting = _latin1(raw.get("greeting", f"220 {name} ESMTP\r\n"), f"relay {name}: greeting")
    ehlo = _latin1(raw.get("ehlo", f"250-{name}\r\n250 8BITMIME\r\n"), f"relay {name}: ehlo")
    auth: tuple[bytes, ...] = ((b"334 VXNlcm5hbWU6\r\n", b"334 UGFzc3dvcmQ6\r\n", b"235 ok\r\n")
                               if raw.get("auth") else ())
    return (greeting, ehlo, *auth, b"250 ok\r\n", *(b"250 ok\r\n",) * recipients,
            b"354 go\r\n", b"250 queued\r\n")


def relay_plans(raw: Sequence[Mapping[str, Any]], recipients: int = 1) -> list[RelayPlan]:
    """The case's `relay` list as plans; ValueError names what is wrong."""
    if not isinstance(raw, list | tuple):
        raise ValueError("relay must be a list of tables")
    plans: list[RelayPlan] = []
    for n, entry in enumerate(raw, 1):
        if not isinstance(entry, dict):
            raise ValueError(f"relay #{n} must be a table")
        unknown = set(entry) - _RELAY_KEYS
        if unknown:
            raise ValueError(f"relay #{n}: unknown keys {sorted(unknown)} (known: {sorted(_RELAY_KEYS)})")
        name = entry.get("name", "relay" if n == 1 else f"relay{n}")
        if not isinstance(name, str) or not name.isidentifier() or name in ("ca", "other_ca", "dns"):
            raise ValueError(f"relay #{n}: name {name!r} must be a word other than ca, other_ca, dns")
        if "script" in entry and "scripts" in entry:
            raise ValueError(f"relay {name}: give script or scripts, not both")
        scripts_raw = [entry["script"]] if "script" in entry else entry.get("scripts")
        scripts: tuple[tuple[Item, ...], ...]
        if scripts_raw is None:
            scripts = (_default_script(name, entry, recipients),)
        else:
            if not isinstance(scripts_raw, list) or not all(isinstance(s, list) for s in scripts_raw):
                raise ValueError(f"relay {name}: a script is a list of items")
            scripts = tuple(tuple(_item(i, f"relay {name} item {k}") for k, i in enumerate(s, 1))
                            for s in scripts_raw)
        cert = entry.get("cert", [f"{name}.test"])
        if not isinstance(cert, list) or not all(isinstance(c, str) for c in cert):
            raise ValueError(f"relay {name}: cert is a list of DNS names")
        cn = entry.get("cn", "")
        if not isinstance(cn, str):
            raise ValueError(f"relay {name}: cn is a string")
        plans.append(RelayPlan(name=name, scripts=scripts, refuse=bool(entry.get("refuse", False)),
                               cert=tuple(cert), cn=cn))
    names = [p.name for p in plans]
    if len(set(names)) != len(names):
        raise ValueError(f"relay names must differ: {names}")
    return plans


def zone_of(raw: Mapping[str, Any], fill: Mapping[str, str] | None = None) -> Zone:
    """The case's `dns` table as a harness.observers.dns zone, `{name}` placeholders in
    records replaced from `fill` (relay names -> addresses)."""
    if not isinstance(raw, dict):
        raise ValueError("dns must be a table {\"NAME TYPE\" = [records] or \"RCODE\"}")
    zone: Zone = {}
    for key, value in raw.items():
        name, _, rtype = key.rpartition(" ")
        if not name or rtype.upper() not in ("A", "AAAA", "MX", "CNAME", "TXT", "PTR"):
            raise ValueError(f"dns key {key!r} must be 'NAME TYPE' with TYPE A, AAAA, MX, CNAME, TXT or PTR")
        if isinstance(value, str):
            if value.upper() not in RCODES:
                raise ValueError(f"dns {key!r}: {value!r} is not one of {', '.join(RCODES)}")
            zone[(name, rtype.upper())] = value.upper()
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            zone[(name, rtype.upper())] = [fill_in(v, fill or {}) for v in value]
        else:
            raise ValueError(f"dns {key!r}: a list of record texts or an rcode name")
    return zone


def fill_in(text: str, fill: Mapping[str, str]) -> str:
    for key, value in fill.items():
        text = text.replace("{" + key + "}", value)
    return text


def check_remote_tables(relay: Any, dns: Any) -> None:
    """For harness.cases: raise ValueError if a case's relay or dns table is unusable."""
    plans = relay_plans(relay)
    zone_of(dns, {p.name: "127.0.0.1" for p in plans})
