"""The JSON report: `index.json` (the run, the summary per target, one line per result) and
one file per (target, case) with both transcripts, the differences and the normalization
rules applied. Keys sorted, so two reports diff cleanly. Case files are written as results
arrive, so an interrupted or killed run still leaves what it did."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

from harness.normalize import RULES
from harness.runner import CaseResult
from harness.targets.base import Target
from harness.verdict import VERDICTS

__all__ = ["JsonReport", "slug", "load_index", "summarize", "write_index", "result_order"]


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "target"


class JsonReport:
    def __init__(self, out: Path, targets: list[Target], argv: list[str],
                 shard: tuple[int, int] | None = None) -> None:
        self.out = out
        self.targets = targets
        self.argv = argv
        self.shard = shard  # this run is slice K of N (harness/shard.py): `qmc merge` joins them
        self.started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        self.lines: list[dict[str, Any]] = []
        (out / "cases").mkdir(parents=True, exist_ok=True)

    def add(self, result: CaseResult) -> None:
        rel = f"cases/{slug(result.target)}/{result.case.id}.json"
        path = self.out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result.to_json(), indent=1, sort_keys=True) + "\n")
        self.lines.append({"id": result.case.id, "title": result.case.title, "category": result.case.category,
                           "spec": result.case.spec, "target": result.target, "verdict": result.verdict,
                           "reason": result.reason, "known": result.known, "file": rel})

    def finish(self, *, interrupted: bool = False, problems: list[str] | None = None) -> Path:
        run: dict[str, Any] = {
            "started": self.started, "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "argv": self.argv, "interrupted": interrupted,
            "targets": [t.describe() for t in self.targets],
            "normalization_rules": [{"name": r.name, "why": r.why} for r in RULES],
            "problems": problems or []}
        if self.shard:
            run["shard"] = f"{self.shard[0]}/{self.shard[1]}"
        return write_index(self.out, run, self.lines)


def result_order(line: dict[str, Any]) -> tuple[list[int], str]:
    return [int(p) for p in line["id"].split(".")], line["target"]


def summarize(run: dict[str, Any], lines: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Verdict counts per target of the run, every verdict named (0 when none)."""
    summary: dict[str, dict[str, int]] = {}
    for t in run["targets"]:
        counts = Counter(line["verdict"] for line in lines if line["target"] == t["name"])
        summary[t["name"]] = {v: counts.get(v, 0) for v in VERDICTS}
    return summary


def write_index(out: Path, run: dict[str, Any], lines: list[dict[str, Any]]) -> Path:
    """index.json: the run, the summary per target and the results in case order."""
    index = {"run": run, "summary": summarize(run, lines), "results": sorted(lines, key=result_order)}
    path = out / "index.json"
    path.write_text(json.dumps(index, indent=1, sort_keys=True) + "\n")
    return path


def load_index(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "index.json").read_text())
    return data
