"""What a qmail-remote case's tables become when it runs: its relay plans
(harness.cases.RelayPlan, read at load by harness/cases/tables.py) as scripts for the fake
relays (harness/observers/relay.py), its zone (harness.cases.Zone) as the fake DNS server's
table (harness/observers/dns.py), with `{NAME}` placeholders filled in with the addresses
allocated for this run."""

from __future__ import annotations

from collections.abc import Mapping

from harness.cases import Greet, RelayPlan, ScriptItem
from harness.cases import Zone as CaseZone
from harness.observers.dns import Zone
from harness.observers.relay import CLOSE, GREET, HANG, TLS, Item

__all__ = ["peer_scripts", "zone_of", "fill_in"]

_ACTIONS: dict[str, Item] = {"TLS": TLS, "CLOSE": CLOSE, "HANG": HANG}


def _item(item: ScriptItem) -> Item:
    if isinstance(item, bytes):
        return item
    if isinstance(item, Greet):
        return GREET(item.data)
    return _ACTIONS[item.value]


def peer_scripts(plan: RelayPlan) -> list[list[Item]]:
    """The plan's scripts as harness.observers.relay.SmtpPeer takes them."""
    return [[_item(i) for i in script] for script in plan.scripts]


def zone_of(zone: CaseZone, fill: Mapping[str, str]) -> Zone:
    """The case's zone as the DNS server's table, placeholders in records replaced."""
    return {(e.name, e.rtype): e.rcode or [fill_in(r, fill) for r in e.records] for e in zone.entries}


def fill_in(text: str, fill: Mapping[str, str]) -> str:
    for key, value in fill.items():
        text = text.replace("{" + key + "}", value)
    return text
