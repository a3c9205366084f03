"""JUnit XML from the JSON index: one testsuite per target, one testcase per case; FAILED
and ERROR become <failure>/<error> unless the baseline knows them, NOT_APPLICABLE is
<skipped>; ACCEPTED passes, its reason in <system-out>. CI systems read this file."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from harness.verdict import Verdict

__all__ = ["write_junit"]


def write_junit(index: dict[str, Any], path: Path) -> Path:
    suites = ET.Element("testsuites", name="qmail-conformance")
    for target, counts in index["summary"].items():
        lines = [r for r in index["results"] if r["target"] == target]
        def unknown(verdict: str, lines: list[dict[str, Any]] = lines) -> str:
            return str(sum(1 for r in lines if r["verdict"] == verdict and not r["known"]))

        suite = ET.SubElement(suites, "testsuite", name=target, tests=str(len(lines)),
                              failures=unknown(Verdict.FAILED), errors=unknown(Verdict.ERROR),
                              skipped=str(counts.get(Verdict.NOT_APPLICABLE, 0)))
        for r in lines:
            case = ET.SubElement(suite, "testcase", classname=f"{target}.cat{r['category']}",
                                 name=f"{r['id']} {r['title']}")
            message = f"{r['verdict']}: {r['reason']}"
            if r["verdict"] == Verdict.NOT_APPLICABLE:
                ET.SubElement(case, "skipped", message=r["reason"])
            elif r["verdict"] in (Verdict.FAILED, Verdict.ERROR) and not r["known"]:
                kind = "failure" if r["verdict"] == Verdict.FAILED else "error"
                ET.SubElement(case, kind, message=message).text = f"see {r['file']}"
            else:
                ET.SubElement(case, "system-out").text = message
    ET.indent(suites)
    path.write_bytes(ET.tostring(suites, encoding="utf-8", xml_declaration=True))
    return path
