"""The terminal: a one-line progress bar while the run goes (to stderr, only on a tty) and a
summary table of verdicts per target, then the results that need attention and those a
case's accepted alternative explains ("accepted: <reason>")."""

from __future__ import annotations

import sys
from typing import Any, TextIO

from harness.runner import CaseResult
from harness.verdict import ACCEPTED, BAD, VERDICTS

__all__ = ["Progress", "print_summary"]


class Progress:
    def __init__(self, total: int, stream: TextIO = sys.stderr) -> None:
        self.total = max(total, 1)
        self.done = 0
        self.bad = 0
        self.stream = stream
        self.tty = stream.isatty()

    def __call__(self, result: CaseResult) -> None:
        self.done += 1
        self.bad += result.verdict in BAD and not result.known
        if self.tty:
            width = 30
            filled = width * self.done // self.total
            self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total}"
                              f"  {self.bad} bad  {result.target} {result.case.id:<10}")
            self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")


def print_summary(index: dict[str, Any], out: TextIO = sys.stdout, limit: int = 40) -> None:
    shown = [v for v in VERDICTS if any(c.get(v) for c in index["summary"].values())]
    width = max([len(t) for t in index["summary"]] + [6])
    out.write(f"{'target':<{width}}  " + "  ".join(f"{v:>{max(len(v), 4)}}" for v in shown) + "\n")
    for target, counts in index["summary"].items():
        out.write(f"{target:<{width}}  " + "  ".join(f"{counts.get(v, 0):>{max(len(v), 4)}}" for v in shown)
                  + "\n")
    for described in index["run"].get("targets", []):
        if described.get("engine"):  # docker: targets: which engine, never left to guess
            out.write(f"  {described['name']} ran on {described['engine']}\n")
    attention = [r for r in index["results"] if r["verdict"] in BAD and not r["known"]]
    for r in attention[:limit]:
        out.write(f"  {r['verdict']:<7} {r['target']}  {r['id']}  {r['title']}: {r['reason']}\n")
    if len(attention) > limit:
        out.write(f"  ... and {len(attention) - limit} more (see the reports)\n")
    accepted = [r for r in index["results"] if r["verdict"] == ACCEPTED]
    for r in accepted[:limit]:
        out.write(f"  {r['verdict']} {r['target']}  {r['id']}  {r['title']}: {r['reason']}\n")
    if len(accepted) > limit:
        out.write(f"  ... and {len(accepted) - limit} more accepted (see the reports)\n")
    for problem in index["run"].get("problems", []):
        out.write(f"  PROBLEM {problem}\n")
    if index["run"].get("interrupted"):
        out.write("  interrupted: the reports hold the cases that ran\n")
