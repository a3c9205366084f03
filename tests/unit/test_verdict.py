"""The grading of harness/verdict.py over real transcripts: a case file parsed by
harness.cases, transcripts normalized and diffed by harness.diff, then grade(). Verdicts are
compared by their string value ("OK", "NON_STRICT", ...), which the reports carry; reasons
only by the step or field they name."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cases import Case, load_file
from harness.diff import diff, normalized
from harness.transcript import Exchange, Transcript
from harness.verdict import grade

CASES = """
[[case]]
id = "9.9.1"
title = "strict"
spec = "2.1"
steps = ["EXPN x\\r\\n", "QUIT\\r\\n"]

[[case]]
id = "9.9.2"
title = "informational"
spec = "2.14"
grade = "informational"
steps = ["EXPN x\\r\\n", "QUIT\\r\\n"]

[[case]]
id = "9.9.3"
title = "with an accepted alternative"
spec = "2.1"
steps = ["EXPN x\\r\\n", "QUIT\\r\\n"]
accept = [{ reason = "a target that refuses the command", replies = "220 mx.test ESMTP\\r\\n502 unimplemented (#5.5.1)\\r\\n221 mx.test\\r\\n" }]
"""

GREETING = b"220 mx.test ESMTP\r\n"
QUIT = b"221 mx.test\r\n"


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Case]:
    path = tmp_path_factory.mktemp("cases") / "cases.toml"
    path.write_text(CASES)
    loaded = load_file(Path(path))
    assert loaded.problems == []
    return {c.title: c for c in loaded.cases}


def run(target: str, replies: list[bytes], queue: list[bytes] | None = None) -> Transcript:
    return Transcript(target=target, case_id="9.9.1", version="1.08",
                      exchanges=[Exchange(step=n, kind="SEND", received=r) for n, r in enumerate(replies)],
                      exit=0, observations={"queue": queue or []})


def verdict(case: Case, ref: Transcript, tgt: Transcript, **kw: bool) -> tuple[str, str]:
    used: set[str] = set()
    nref, ntgt = normalized(ref, used), normalized(tgt, used)
    v, reason = grade(case, diff(nref, ntgt), ntgt, **kw)
    return str(getattr(v, "value", v)), reason


REF = run("ref", [GREETING, b"500 unrecognised (#5.5.2)\r\n", QUIT])


def test_ok_when_nothing_differs_after_normalization(cases: dict[str, Case]) -> None:
    ref = run("ref", [GREETING, b"250 ok 1795537221 qp 10\r\n", QUIT])
    tgt = run("tgt", [GREETING, b"250 ok 1795539999 qp 99\r\n", QUIT])
    assert verdict(cases["strict"], ref, tgt) == ("OK", "")


def test_accepted_when_the_target_matches_an_accepted_alternative(cases: dict[str, Case]) -> None:
    tgt = run("tgt", [GREETING, b"502 unimplemented (#5.5.1)\r\n", QUIT])
    assert verdict(cases["with an accepted alternative"], REF, tgt)[0] == "ACCEPTED"
    # the same transcript without the alternative is a real difference
    assert verdict(cases["strict"], REF, tgt)[0] == "FAILED"


def test_non_strict_same_codes_other_texts(cases: dict[str, Case]) -> None:
    tgt = run("tgt", [GREETING, b"500 5.5.2 command not recognized\r\n", b"221 2.0.0 Bye\r\n"])
    assert verdict(cases["strict"], REF, tgt)[0] == "NON_STRICT"


def test_unimplemented_when_the_target_says_500_where_the_reference_implements_it(
        cases: dict[str, Case]) -> None:
    ref = run("ref", [GREETING, b"252 send some mail, i'll try my best\r\n", QUIT])
    tgt = run("tgt", [GREETING, b"502 unimplemented (#5.5.1)\r\n", QUIT])
    v, reason = verdict(cases["strict"], ref, tgt)
    assert v == "UNIMPLEMENTED"
    assert "step 1" in reason


def test_500_against_the_reference_s_own_500_is_not_unimplemented(cases: dict[str, Case]) -> None:
    tgt = run("tgt", [GREETING, b"502 unimplemented (#5.5.1)\r\n", QUIT])
    assert verdict(cases["strict"], REF, tgt)[0] == "FAILED"


def test_informational_case_and_informational_fails(cases: dict[str, Case]) -> None:
    tgt = run("tgt", [GREETING, b"250 ok\r\n", QUIT])
    v, reason = verdict(cases["informational"], REF, tgt)
    assert v == "INFORMATIONAL"
    assert "step 1" in reason
    assert verdict(cases["informational"], REF, tgt, informational_fails=True)[0] == "FAILED"


def test_failed_on_another_reply_code(cases: dict[str, Case]) -> None:
    tgt = run("tgt", [GREETING, b"250 ok\r\n", QUIT])
    v, reason = verdict(cases["strict"], REF, tgt)
    assert v == "FAILED"
    assert "step 1 reply" in reason


def test_failed_when_codes_match_but_the_queue_differs(cases: dict[str, Case]) -> None:
    ref = run("ref", [GREETING, b"250 ok\r\n", QUIT], queue=[b"msg", b"Fa\x00Tb\x00\x00"])
    tgt = run("tgt", [GREETING, b"250 ok\r\n", QUIT], queue=[b"msg", b"Fa\x00Tc\x00\x00"])
    v, reason = verdict(cases["strict"], ref, tgt)
    assert v == "FAILED"
    assert "queue" in reason


def test_failed_when_a_step_is_missing(cases: dict[str, Case]) -> None:
    tgt = run("tgt", [GREETING, b"500 unrecognised (#5.5.2)\r\n"])
    v, reason = verdict(cases["strict"], REF, tgt)
    assert v == "FAILED"
    assert "step 2" in reason
