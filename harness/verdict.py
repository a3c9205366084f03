"""verdict: the case's pins checked against the reference, and the grading of a case's
differences (ARCHITECTURE.md, Autobahn's grades).

OK              no difference
ACCEPTED        the target differs from the reference in a way one of the case's accepted
                alternatives describes (ARCHITECTURE.md, accepted outcomes): counted apart
                from OK, with the alternative's reason
NON_STRICT      the same reply codes in the same order, the same queue: only reply texts differ
INFORMATIONAL   differences in a case graded informational (smuggling/ambiguity family)
UNIMPLEMENTED   the target answers 500/502 where the reference implements the command
FAILED          any other difference
ERROR           the target or the harness failed: hang, refused start, crash of our machinery,
                or the reference disagreeing with a case's pinned expectation
NOT_APPLICABLE  the target cannot run the case (a version it does not claim, fixtures it
                does not let us set)
"""

from __future__ import annotations

from collections.abc import Collection
from enum import StrEnum

from harness.cases import Alternative, Case, Expectation, Grade
from harness.diff import Difference
from harness.drive.smtp_text import line_codes
from harness.transcript import Transcript

__all__ = ["Verdict", "OK", "ACCEPTED", "NON_STRICT", "INFORMATIONAL_V", "UNIMPLEMENTED", "FAILED", "ERROR",
           "NOT_APPLICABLE", "VERDICTS", "BAD", "grade", "codes", "broken_pins", "matching_alternative",
           "PIN_BROKEN"]


class Verdict(StrEnum):
    OK = "OK"
    ACCEPTED = "ACCEPTED"
    NON_STRICT = "NON_STRICT"
    INFORMATIONAL = "INFORMATIONAL"
    UNIMPLEMENTED = "UNIMPLEMENTED"
    FAILED = "FAILED"
    ERROR = "ERROR"
    NOT_APPLICABLE = "NOT_APPLICABLE"


OK, ACCEPTED, NON_STRICT = Verdict.OK, Verdict.ACCEPTED, Verdict.NON_STRICT
INFORMATIONAL_V, UNIMPLEMENTED, FAILED = Verdict.INFORMATIONAL, Verdict.UNIMPLEMENTED, Verdict.FAILED
ERROR, NOT_APPLICABLE = Verdict.ERROR, Verdict.NOT_APPLICABLE
VERDICTS = tuple(Verdict)
BAD = (FAILED, ERROR)

PIN_BROKEN = "the reference breaks the case's pinned expectation"

# the diff fields (harness/diff.py) each pin speaks for: the replies pin covers how each
# step ended too (an alternative's replies that stop early come with a "closed" event)
_FIELDS = {"replies": ("reply", "event")}


def codes(text: str) -> list[bytes]:
    return line_codes(text.encode("latin-1"))


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, list):
        return repr([_text(v) for v in value])
    return repr(value)


def _observed(t: Transcript, key: str) -> object:
    if key == "replies":
        return t.received
    if key == "exit":
        return t.exit
    if key == "log":
        return t.stderr
    if key in ("queue", "relay", "source", "auth", "tls", "dns"):  # lists: none seen is []
        return t.observations.get(key, [])
    return t.observations.get(key)


def broken_pins(expect: Expectation, t: Transcript, *, label: str = "expect",
                seen: Collection[str] | None = None) -> list[Difference]:
    """Differences between a (normalized) transcript and pinned observations: `reference`
    holds what the transcript shows, `target` what is pinned. Pins are written normalized.
    `seen`: the observations this transcript can show (None: all; the exit status only when
    it is known), the others are not checked."""
    out = []
    for key in expect.pinned():
        if key == "exit" and t.exit is None:
            continue
        if seen is not None and key not in ("replies", "exit") and key not in seen:
            continue
        got, want = _observed(t, key), expect.value(key)
        if got != want:
            out.append(Difference(step=None, field=f"{label}.{key}", reference=_text(got),
                                  target=_text(want)))
    return out


def matching_alternative(case: Case, diffs: list[Difference], target: Transcript,
                         seen: Collection[str] | None = None) -> Alternative | None:
    """The first of the case's alternatives for the target's version that accounts for every
    difference: each lies in an observation the alternative gives, and the target shows
    exactly what the alternative gives (only its keys are compared, normalized as for the
    diff). What the alternative does not mention must still equal the reference."""
    for alt in case.accept:
        if target.version not in alt.versions:
            continue
        covered = {f for key in alt.pinned() for f in _FIELDS.get(key, (key,))}
        if all(d.field in covered for d in diffs) and not broken_pins(alt, target, seen=seen):
            return alt
    return None


def _unimplemented(d: Difference) -> bool:
    tgt, ref = codes(d.target), codes(d.reference)
    return bool(tgt) and tgt[0] in (b"500", b"502") and (not ref or ref[0] not in (b"500", b"502"))


def grade(case: Case, diffs: list[Difference], target: Transcript, informational_fails: bool = False,
          seen: Collection[str] | None = None) -> tuple[Verdict, str]:
    """(verdict, one-line reason) for a case whose both runs completed; `target` is the
    target's normalized transcript, `seen` the observations compared (None: all)."""
    if not diffs:
        return OK, ""
    alt = matching_alternative(case, diffs, target, seen)
    if alt is not None:
        return ACCEPTED, f"accepted: {alt.reason}"
    first = diffs[0]
    reason = f"step {first.step} {first.field}" if first.step is not None else first.field
    if case.grade == Grade.INFORMATIONAL and not informational_fails:
        return INFORMATIONAL_V, f"differs at {reason} (informational case)"
    reply_diffs = [d for d in diffs if d.field == "reply"]
    if reply_diffs and _unimplemented(reply_diffs[0]):
        return UNIMPLEMENTED, f"the target does not implement step {reply_diffs[0].step}"
    if all(d.field == "reply" and codes(d.reference) == codes(d.target) and codes(d.target) for d in diffs):
        return NON_STRICT, f"same reply codes, other texts ({len(diffs)} replies)"
    return FAILED, f"differs at {reason}"
