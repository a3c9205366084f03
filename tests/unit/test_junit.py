"""harness/report/junit.py: the JUnit XML, parsed back. One testsuite per target, one
testcase per case; FAILED/ERROR become <failure>/<error> unless the baseline knows them,
NOT_APPLICABLE is <skipped>, everything else is system-out."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from harness.report.junit import write_junit


def line(case_id: str, target: str, verdict: str, *, known: bool = False, reason: str = "why") -> dict[str, Any]:
    return {"id": case_id, "title": f"title of {case_id} <&>", "category": int(case_id.split(".")[0]),
            "spec": "2.1", "target": target, "verdict": verdict, "reason": reason, "known": known,
            "file": f"cases/{target}/{case_id}.json"}


INDEX: dict[str, Any] = {
    "summary": {"ref": {"OK": 2, "NOT_APPLICABLE": 1}, "tcp:x": {"FAILED": 2, "ERROR": 1, "NON_STRICT": 1}},
    "results": [
        line("1.1.1", "ref", "OK", reason=""), line("2.5.4", "ref", "OK", reason=""),
        line("7.1.1", "ref", "NOT_APPLICABLE", reason="no relay"),
        line("1.1.1", "tcp:x", "FAILED", reason="differs at step 1 reply"),
        line("2.5.4", "tcp:x", "FAILED", known=True, reason="differs at queue"),
        line("3.1.1", "tcp:x", "ERROR", reason="hang at step 2"),
        line("4.1.1", "tcp:x", "NON_STRICT", reason="same reply codes"),
    ],
}


def parse(tmp_path: Path) -> ET.Element:
    path = write_junit(INDEX, tmp_path / "junit.xml")
    assert path.read_bytes().startswith(b"<?xml")
    return ET.parse(path).getroot()


def test_one_suite_per_target_with_counts(tmp_path: Path) -> None:
    root = parse(tmp_path)
    assert root.tag == "testsuites"
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert list(suites) == ["ref", "tcp:x"]
    assert {k: suites["ref"].get(k) for k in ("tests", "failures", "errors", "skipped")} == \
        {"tests": "3", "failures": "0", "errors": "0", "skipped": "1"}
    # the known FAILED is not counted
    assert {k: suites["tcp:x"].get(k) for k in ("tests", "failures", "errors", "skipped")} == \
        {"tests": "4", "failures": "1", "errors": "1", "skipped": "0"}


def test_testcases_carry_the_verdict_as_junit_elements(tmp_path: Path) -> None:
    root = parse(tmp_path)
    cases = {(s.get("name"), c.get("name")): c for s in root.findall("testsuite") for c in s.findall("testcase")}
    skipped = cases[("ref", "7.1.1 title of 7.1.1 <&>")]
    assert skipped.get("classname") == "ref.cat7"
    assert skipped.find("skipped").get("message") == "no relay"  # type: ignore[union-attr]

    failure = cases[("tcp:x", "1.1.1 title of 1.1.1 <&>")].find("failure")
    assert failure is not None
    assert failure.get("message") == "FAILED: differs at step 1 reply"
    assert failure.text == "see cases/tcp:x/1.1.1.json"

    error = cases[("tcp:x", "3.1.1 title of 3.1.1 <&>")].find("error")
    assert error is not None and error.get("message") == "ERROR: hang at step 2"

    known = cases[("tcp:x", "2.5.4 title of 2.5.4 <&>")]
    assert known.find("failure") is None
    assert known.find("system-out").text == "FAILED: differs at queue"  # type: ignore[union-attr]

    ok = cases[("ref", "1.1.1 title of 1.1.1 <&>")]
    assert [child.tag for child in ok] == ["system-out"]
    assert cases[("tcp:x", "4.1.1 title of 4.1.1 <&>")].find("system-out").text == \
        "NON_STRICT: same reply codes"  # type: ignore[union-attr]
