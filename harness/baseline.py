"""Baselines: accepted divergences per target, so that CI fails only on new ones.

A baseline is JSON: {"TARGET": {"CASE-ID": "VERDICT", ...}, ...}. A result is *known* when
the baseline lists its case with the same verdict for its target; `qmc run --update-baseline`
writes the current non-OK results as the new baseline (ACCEPTED is the catalogue's own
knowledge of real builds, ARCHITECTURE.md: never a user's divergence)."""

from __future__ import annotations

import json
from pathlib import Path

from harness.errors import HarnessError
from harness.runner import CaseResult
from harness.verdict import ACCEPTED, NOT_APPLICABLE, OK

__all__ = ["load_baseline", "mark_known", "write_baseline"]


def load_baseline(path: Path) -> dict[str, dict[str, str]]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise HarnessError(f"{path}: cannot read the baseline: {exc}") from exc
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise HarnessError(f"{path}: a baseline is {{target: {{case id: verdict}}}}")
    return data


def mark_known(result: CaseResult, baseline: dict[str, dict[str, str]]) -> None:
    result.known = baseline.get(result.target, {}).get(result.case.id) == result.verdict


def write_baseline(path: Path, results: list[CaseResult]) -> None:
    data: dict[str, dict[str, str]] = {}
    for r in results:
        if r.verdict not in (OK, ACCEPTED, NOT_APPLICABLE):
            data.setdefault(r.target, {})[r.case.id] = r.verdict
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
