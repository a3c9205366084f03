"""`qmc merge DIR... --out DIR`: the report directories of the shards of one run
(`qmc run --shard K/N`, harness/shard.py), on one machine or several, joined into the
report a single run would have written: one index.json (results, counts per target), the
per-case files beside it, then JUnit and HTML rendered from it as after any run.

A merge refuses, naming the directory, what would not be one run: a directory without an
index.json, a (case, target) pair in two of them, shards of different N or a shard
missing. Directories without shard information (plain runs of disjoint selections) merge
too.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.report.json_ import load_index, write_index

__all__ = ["merge_reports"]


def _load(directory: Path) -> dict[str, Any]:
    path = directory / "index.json"
    try:
        index: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        raise HarnessError(f"{directory}: no index.json (not a qmc report directory)") from None
    except (OSError, ValueError) as exc:
        raise HarnessError(f"{path}: cannot be read: {exc}") from None
    return index


def _check_shards(indexes: list[tuple[Path, dict[str, Any]]]) -> None:
    shards = [(d, index["run"].get("shard")) for d, index in indexes]
    given = [(d, s) for d, s in shards if s]
    if not given:
        return
    if len(given) != len(shards):
        bare = [str(d) for d, s in shards if not s]
        raise HarnessError(f"{', '.join(bare)}: not a shard, while the others are (qmc run --shard K/N)")
    numbers: list[tuple[Path, int, int]] = []
    for d, s in given:
        ks, _, ns_ = str(s).partition("/")
        numbers.append((d, int(ks), int(ns_)))
    ns = {n for _, _, n in numbers}
    if len(ns) != 1:
        raise HarnessError(f"shards of different runs: {', '.join(f'{d} is {k}/{n}' for d, k, n in numbers)}")
    n = ns.pop()
    seen: dict[int, Path] = {}
    for d, k, _ in numbers:
        if k in seen:
            raise HarnessError(f"{d} and {seen[k]} are both shard {k}/{n}")
        seen[k] = d
    missing = [f"{k}/{n}" for k in range(1, n + 1) if k not in seen]
    if missing:
        raise HarnessError(f"shard {', '.join(missing)} missing: give every shard's report directory")


def merge_reports(directories: list[Path], out: Path) -> dict[str, Any]:
    """Write the merged index.json (and copy the case files) into `out`; the merged index."""
    indexes = [(d, _load(d)) for d in directories]
    _check_shards(indexes)
    lines: list[dict[str, Any]] = []
    owner: dict[tuple[str, str], Path] = {}
    targets: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    for directory, index in indexes:
        for target in index["run"].get("targets", []):
            targets.setdefault(target["name"], target)
        problems += [p for p in index["run"].get("problems", []) if p not in problems]
        for line in index["results"]:
            key = (line["id"], line["target"])
            if key in owner:
                raise HarnessError(f"case {key[0]} on {key[1]} is in both {owner[key]} and {directory}")
            owner[key] = directory
            lines.append(line)
    out.mkdir(parents=True, exist_ok=True)
    for line in lines:
        source, dest = owner[(line["id"], line["target"])] / line["file"], out / line["file"]
        if source.exists() and source.resolve() != dest.resolve():
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, dest)
    runs = [index["run"] for _, index in indexes]
    first = runs[0]
    run: dict[str, Any] = {
        "started": min(r["started"] for r in runs), "finished": max(r["finished"] for r in runs),
        "argv": first["argv"], "interrupted": any(r.get("interrupted") for r in runs),
        "targets": list(targets.values()), "normalization_rules": first.get("normalization_rules", []),
        "problems": problems,
        "merged": [{"directory": str(d), "shard": index["run"].get("shard", ""), "argv": index["run"]["argv"]}
                   for d, index in indexes],
    }
    write_index(out, run, lines)
    return load_index(out)
