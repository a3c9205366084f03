"""Every citation of the behaviour spec resolves to a heading of docs/spec/: the `spec` key
of every catalogue case ("2.13", "5.3, 5.5.4"; "verified" names the recordings instead) and
every "§N.M" in the code (eqmail_ref/, harness/, tests/, scripts/). A failure lists the
file and line of each citation that names no section."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from harness.resources import CONFORMANCE_DIR

ROOT = Path(__file__).resolve().parents[2]
SPEC_DIR = ROOT / "docs" / "spec"
CODE_DIRS = ("eqmail_ref", "harness", "tests", "scripts")
CASE_FILES = [*sorted(CONFORMANCE_DIR.rglob("*.toml")), ROOT / "eqmail_ref" / "selfcheck.toml"]

_HEADING = re.compile(r"^#{1,6}\s+§(\d+(?:\.\d+)*)\s", re.M)
# "§2.4", "§2.9-2.10", "§1-§2", "§5, §6" (each § on its own), "§6's"
_CITATION = re.compile(r"§(\d+(?:\.\d+)*)(?:\s*[-–]\s*§?(\d+(?:\.\d+)*))?")
_SPEC_KEY = re.compile(r'^\s*spec\s*=\s*"([^"]*)"', re.M)
NOT_A_SECTION = {"verified"}  # a session recorded from real eQmail (conformance/README.md)


def sections() -> set[str]:
    found: set[str] = set()
    for md in SPEC_DIR.glob("*.md"):
        found.update(_HEADING.findall(md.read_text(encoding="utf-8")))
    return found


def line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def test_the_spec_has_every_top_section_and_no_duplicate_heading() -> None:
    numbers = [n for md in SPEC_DIR.glob("*.md") for n in _HEADING.findall(md.read_text(encoding="utf-8"))]
    assert {str(n) for n in range(9)} <= set(numbers)
    assert sorted(n for n in set(numbers) if numbers.count(n) > 1) == []


def test_every_case_spec_value_names_a_section() -> None:
    known = sections()
    bad: list[str] = []
    cases = 0
    for path in CASE_FILES:
        text = path.read_text(encoding="utf-8")
        cases += sum(1 for c in tomllib.loads(text).get("case", []) if "spec" in c)
        for m in _SPEC_KEY.finditer(text):
            for ref in (r.strip() for r in m.group(1).split(",")):
                if ref not in known and ref not in NOT_A_SECTION:
                    bad.append(f"{path.relative_to(ROOT)}:{line_of(text, m.start())}: spec = {m.group(1)!r}")
    # every case's spec key was looked at (none hides in an inline table)
    assert cases == len([m for p in CASE_FILES for m in _SPEC_KEY.finditer(p.read_text(encoding="utf-8"))])
    assert cases > 700
    assert bad == [], "unresolved spec sections:\n" + "\n".join(bad)


def test_every_section_sign_in_the_code_names_a_section() -> None:
    known = sections()
    bad: list[str] = []
    cited = 0
    for top in CODE_DIRS:
        for path in sorted((ROOT / top).rglob("*.py")):
            if path == Path(__file__).resolve():
                continue
            text = path.read_text(encoding="utf-8")
            for m in _CITATION.finditer(text):
                cited += 1
                for ref in filter(None, m.groups()):
                    if ref not in known:
                        bad.append(f"{path.relative_to(ROOT)}:{line_of(text, m.start())}: §{ref}")
    assert cited > 100
    assert bad == [], "citations that name no heading of docs/spec:\n" + "\n".join(bad)


def test_the_citation_pattern_reads_ranges_and_lists() -> None:
    found = [g for m in _CITATION.finditer("spec §2.4-2.9, §4; §1-§2 and §6's") for g in m.groups() if g]
    assert found == ["2.4", "2.9", "4", "1", "2", "6"]
