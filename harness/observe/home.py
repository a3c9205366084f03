"""Observers: what a case can see besides the SMTP replies, read from the case's home after
the session (ARCHITECTURE.md, observers): the queued messages and envelopes (the capture
program's q/<pid>.msg and .env), what checkpassword read on fd 3 (fd3), and whatever the
case's plugins wrote under out/ (e.g. the environment they saw)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["observe_home"]


def observe_home(local: Path) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    q = local / "q"
    if q.is_dir():
        # capture files are named by pid: keep them as a sorted multiset, not in pid order
        seen["queue"] = sorted([m.read_bytes(), m.with_suffix(".env").read_bytes()
                                if m.with_suffix(".env").exists() else b""]
                               for m in q.glob("*.msg"))
    fd3 = local / "fd3"
    if fd3.exists():
        seen["fd3"] = fd3.read_bytes()
    out = local / "out"
    if out.is_dir():
        for path in sorted(out.rglob("*")):
            if path.is_file():
                seen[f"out/{path.relative_to(out)}"] = path.read_bytes()
    return seen
