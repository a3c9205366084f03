"""Findings as replayable case files (harness/cases.py format, `steps`), one file each, so
`qmc run --target X --catalogue DIR/finding-N.toml` replays a shrunk disagreement as a case,
and `load_finding()` turns one back into steps for `machine.play()`."""

from __future__ import annotations

import json
from pathlib import Path

from harness.cases import CRAM_MD5, SEND, load_file
from harness.errors import CaseFileError
from harness.property.machine import Finding, Step

__all__ = ["toml_string", "finding_toml", "save_finding", "load_finding"]

_ESCAPES = {0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0C: "\\f", 0x0D: "\\r", 0x22: '\\"', 0x5C: "\\\\"}


def toml_string(data: bytes) -> str:
    """A TOML basic string whose characters U+0000..U+00FF are the bytes (cases.to_bytes)."""
    out = []
    for b in data:
        if b in _ESCAPES:
            out.append(_ESCAPES[b])
        elif b < 0x20 or b >= 0x7F:
            out.append(f"\\u{b:04X}")
        else:
            out.append(chr(b))
    return '"' + "".join(out) + '"'


def finding_toml(finding: Finding, *, case_id: str, profile: str, version: str, seed: int,
                 reference: str, target: str) -> str:
    lines = [
        f"# A disagreement found by `python -m harness.property` (seed {seed}), shrunk by hypothesis.",
        f"# reference {reference} vs target {target}: {finding.what} at step {finding.step}",
        f"#   reference: {json.dumps(finding.reference.decode('latin-1'))[:300]}",
        f"#   target:    {json.dumps(finding.target.decode('latin-1'))[:300]}",
        f"# normalized by: {', '.join(finding.rules) or '-'}",
        "",
        "[[case]]",
        f"id = {json.dumps(case_id)}",
        f"title = {json.dumps('generated: ' + finding.signature[:150])}",
        'spec = "property"',
        'tags = ["property", "finding"]',
        f"versions = [{json.dumps(version)}]",
        f"profile = {json.dumps(profile)}",
        "steps = [",
    ]
    for s in finding.steps:
        if s.cram is not None:
            lines.append(f"  {{ cram_md5 = {toml_string(s.cram[0] + b' ' + s.cram[1])} }},")
        else:
            lines.append(f"  {{ send = {toml_string(s.data)}, replies = {s.replies} }},")
    lines += ["]", ""]
    return "\n".join(lines)


def save_finding(out: Path, n: int, finding: Finding, **meta: str | int) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"finding-{n}.toml"
    path.write_text(finding_toml(finding, case_id=f"99.{n}", **meta), encoding="utf-8")  # type: ignore[arg-type]
    return path


def load_finding(path: Path) -> tuple[list[Step], str]:
    """The steps of a saved finding and its fixture profile."""
    catalogue = load_file(path)
    if catalogue.problems or not catalogue.cases:
        raise CaseFileError("; ".join(catalogue.problems) or f"{path}: no case")
    case = catalogue.cases[0]
    steps = []
    for s in case.steps:
        if s.kind == SEND:
            steps.append(Step(data=s.data, replies=s.replies))
        elif s.kind == CRAM_MD5:
            steps.append(Step(cram=(s.user, s.secret), replies=1))
    return steps, case.profile
