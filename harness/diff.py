"""diff(): the reference's and the target's normalized transcripts, compared field by field.
The result is a list of records (step, field, reference, target); "same" is the empty list
(pytest-httpserver's RequestMatcher.difference)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from itertools import zip_longest
from typing import Any

from harness.normalize import normalize_bytes, normalize_log
from harness.transcript import Exchange, Transcript, b2s

__all__ = ["Difference", "diff", "normalized"]


@dataclass(frozen=True, kw_only=True)
class Difference:
    step: int | None  # None: not tied to a step (exit status, queue, ...)
    field: str
    reference: str
    target: str

    def to_json(self) -> dict[str, Any]:
        return {"step": self.step, "field": self.field, "reference": self.reference, "target": self.target}


def _norm(value: Any, used: set[str]) -> Any:
    if isinstance(value, bytes):
        return normalize_bytes(value, used)
    if isinstance(value, list | tuple):
        return [_norm(v, used) for v in value]
    return value


def normalized(t: Transcript, used: set[str]) -> Transcript:
    """A copy with every received byte string and observation normalized."""
    return Transcript(
        target=t.target, case_id=t.case_id, version=t.version,
        exchanges=[Exchange(step=e.step, kind=e.kind, sent=e.sent,
                            received=normalize_bytes(e.received, used), event=e.event)
                   for e in t.exchanges],
        exit=t.exit, stderr=normalize_log(t.stderr, used),
        observations={k: _norm(v, used) for k, v in t.observations.items()},
        error=t.error, seconds=t.seconds)


def _show(value: Any) -> str:
    if value is None:
        return "(nothing)"
    if isinstance(value, bytes):
        return b2s(value)
    if isinstance(value, list):
        return "\n---\n".join(_show(v) for v in value) if value else "(none)"
    return str(value)


def diff(reference: Transcript, target: Transcript, *, compare_exit: bool = True,
         observations: Collection[str] | None = None, compare_log: bool = False) -> list[Difference]:
    """Both transcripts must already be normalized. `observations`: compare only these
    (None: all). `compare_log`: the programs' log lines (stderr) too, when the harness ran
    the target's programs and so holds what they wrote: qmail admins read those lines, so
    they are part of conformance (README, "What is compared")."""
    out: list[Difference] = []
    for ref, tgt in zip_longest(reference.exchanges, target.exchanges):
        step = (ref or tgt).step
        if ref is None or tgt is None or ref.received != tgt.received:
            out.append(Difference(step=step, field="reply",
                                  reference=_show(ref.received if ref else None),
                                  target=_show(tgt.received if tgt else None)))
        if ref is not None and tgt is not None and ref.event != tgt.event:
            out.append(Difference(step=step, field="event", reference=ref.event, target=tgt.event))
    ref_exit, tgt_exit = reference.exit, target.exit
    if compare_exit and ref_exit is not None and tgt_exit is not None and ref_exit != tgt_exit:
        out.append(Difference(step=None, field="exit", reference=str(ref_exit), target=str(tgt_exit)))
    if compare_log and reference.stderr != target.stderr:
        out.append(Difference(step=None, field="log", reference=_show(reference.stderr),
                              target=_show(target.stderr)))
    keys = set(reference.observations) | set(target.observations)
    if observations is not None:
        keys &= set(observations)
    for key in sorted(keys):
        ref_v, tgt_v = reference.observations.get(key), target.observations.get(key)
        if ref_v != tgt_v:
            out.append(Difference(step=None, field=key, reference=_show(ref_v), target=_show(tgt_v)))
    return out
