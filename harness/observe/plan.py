"""What a qmail-remote case's tables become when it runs: its zone (harness.cases.Zone, read
at load by harness/cases/tables.py) as the fake DNS server's table (harness/observe/dns.py),
with `{NAME}` placeholders filled in with the addresses allocated for this run. (Its relay
plans' scripts are what harness/observe/relay.py plays as they are.)"""

from __future__ import annotations

from collections.abc import Mapping

from harness.cases import Zone as CaseZone
from harness.observe.dns import Zone

__all__ = ["zone_of", "fill_in"]


def zone_of(zone: CaseZone, fill: Mapping[str, str]) -> Zone:
    """The case's zone as the DNS server's table, placeholders in records replaced."""
    return {(e.name, e.rtype): e.rcode or [fill_in(r, fill) for r in e.records] for e in zone.entries}


def fill_in(text: str, fill: Mapping[str, str]) -> str:
    for key, value in fill.items():
        text = text.replace("{" + key + "}", value)
    return text
