"""verdict(): grades a case's differences (ARCHITECTURE.md, Autobahn's grades).

OK              no difference (or the target matched one of the case's accepted alternatives)
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

from harness.cases import INFORMATIONAL, Case, to_bytes
from harness.diff import Difference
from harness.smtp_text import line_codes

__all__ = ["OK", "NON_STRICT", "INFORMATIONAL_V", "UNIMPLEMENTED", "FAILED", "ERROR", "NOT_APPLICABLE",
           "VERDICTS", "grade", "codes"]

OK = "OK"
NON_STRICT = "NON_STRICT"
INFORMATIONAL_V = "INFORMATIONAL"
UNIMPLEMENTED = "UNIMPLEMENTED"
FAILED = "FAILED"
ERROR = "ERROR"
NOT_APPLICABLE = "NOT_APPLICABLE"
VERDICTS = (OK, NON_STRICT, INFORMATIONAL_V, UNIMPLEMENTED, FAILED, ERROR, NOT_APPLICABLE)
BAD = (FAILED, ERROR)


def codes(text: str) -> list[bytes]:
    return line_codes(text.encode("latin-1"))


def _unimplemented(d: Difference) -> bool:
    tgt, ref = codes(d.target), codes(d.reference)
    return bool(tgt) and tgt[0] in (b"500", b"502") and (not ref or ref[0] not in (b"500", b"502"))


def grade(case: Case, diffs: list[Difference], target_received: bytes,
          informational_fails: bool = False) -> tuple[str, str]:
    """(verdict, one-line reason) for a case whose both runs completed."""
    if not diffs:
        return OK, ""
    for alt in case.accept:
        if "replies" in alt and to_bytes(str(alt["replies"])) == target_received:
            return OK, "matched an accepted alternative"
    first = diffs[0]
    reason = f"step {first.step} {first.field}" if first.step is not None else first.field
    if case.grade == INFORMATIONAL and not informational_fails:
        return INFORMATIONAL_V, f"differs at {reason} (informational case)"
    reply_diffs = [d for d in diffs if d.field == "reply"]
    if reply_diffs and _unimplemented(reply_diffs[0]):
        return UNIMPLEMENTED, f"the target does not implement step {reply_diffs[0].step}"
    if all(d.field == "reply" and codes(d.reference) == codes(d.target) and codes(d.target) for d in diffs):
        return NON_STRICT, f"same reply codes, other texts ({len(diffs)} replies)"
    return FAILED, f"differs at {reason}"
