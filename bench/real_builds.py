"""Where this machine's real eQmail builds are, for the benchmarks that measure against one:
/work/real-eqmail/READY (never part of the project) lists `home-VERSION=DIR` lines. No build,
no row: users without one run the other rows."""

from __future__ import annotations

from pathlib import Path

__all__ = ["READY", "real_home"]

READY = Path("/work/real-eqmail/READY")


def real_home(given: str | None, version: str) -> str | None:
    """`given` if set, else the READY file's home of `version`, else None."""
    if given is not None or not READY.exists():
        return given
    homes = dict(line.split("=", 1) for line in READY.read_text().splitlines()
                 if "=" in line and not line.startswith("#"))
    return homes.get(f"home-{version}") or None
