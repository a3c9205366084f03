"""`qmc run --shard K/N` and `qmc merge`: the shards of a run, merged, are the run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from harness.cases import CATALOGUE_DIR, load_catalogue, select
from harness.runner import Runner
from harness.shard import shard_of
from harness.targets.ref import RefTarget

CASES = ["1.*", "4.2.*", "7.1.*", "8.1.*"]  # smtpd cases, a failed AUTH, qmail-remote's listeners


def _qmc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, timeout=300)


def _selection(args: list[str]) -> list[str]:
    return [a for pattern in CASES for a in ("--cases", pattern)] + args


def _verdicts(out: Path) -> dict[tuple[str, str], str]:
    index = json.loads((out / "index.json").read_text())
    return {(r["id"], r["target"]): r["verdict"] for r in index["results"]}


def test_shards_merged_equal_one_unsharded_run(tmp_path: Path) -> None:
    targets = ["-t", "ref", "-t", "ref:1.09"]
    whole = _qmc("run", *_selection([*targets, "--out", str(tmp_path / "whole")]))
    assert whole.returncode == 0, whole.stderr
    for k in (1, 2):
        shard = _qmc("run", *_selection([*targets, "--shard", f"{k}/2", "--out", str(tmp_path / f"s{k}")]))
        assert shard.returncode == 0, shard.stderr
    one, two = _verdicts(tmp_path / "s1"), _verdicts(tmp_path / "s2")
    assert one and two and not set(one) & set(two)  # disjoint slices

    merged = _qmc("merge", str(tmp_path / "s1"), str(tmp_path / "s2"), "--out", str(tmp_path / "merged"))
    assert merged.returncode == 0, merged.stderr
    assert _verdicts(tmp_path / "merged") == _verdicts(tmp_path / "whole")
    index = json.loads((tmp_path / "merged" / "index.json").read_text())
    single = json.loads((tmp_path / "whole" / "index.json").read_text())
    assert index["summary"] == single["summary"]
    assert [r["id"] for r in index["results"]] == [r["id"] for r in single["results"]]
    assert [t["name"] for t in index["run"]["targets"]] == ["ref", "ref:1.09"]
    for line in index["results"]:  # the per-case files came along: the HTML links work
        assert (tmp_path / "merged" / line["file"]).is_file()
    junit = (tmp_path / "merged" / "junit.xml").read_text()
    assert junit.count("<testcase") == len(index["results"])
    assert (tmp_path / "merged" / "report.html").is_file()

    # a shard missing, or one given twice, is not one run
    lone = _qmc("merge", str(tmp_path / "s1"), "--out", str(tmp_path / "bad"))
    assert lone.returncode == 2 and "shard 2/2 missing" in lone.stderr
    twice = _qmc("merge", str(tmp_path / "s1"), str(tmp_path / "s1"), str(tmp_path / "s2"),
                 "--out", str(tmp_path / "bad"))
    assert twice.returncode == 2 and "both shard 1/2" in twice.stderr


def test_a_slice_depends_on_the_pairs_not_their_order() -> None:
    cases = select(load_catalogue([CATALOGUE_DIR]).cases, CASES)
    targets = [RefTarget("ref"), RefTarget("ref:1.09", "1.09")]
    pairs = [(c, t) for c in cases for t in targets]
    runner = Runner(targets, cases, shard=(2, 3))
    shuffled = list(reversed(pairs))
    ids = [(c.id, t.name) for c, t in runner.pairs()]
    assert ids == [(c.id, t.name) for c, t in shard_of(shuffled, 2, 3)]
    slices = [{(c.id, t.name) for c, t in shard_of(pairs, k, 3)} for k in (1, 2, 3)]
    assert set().union(*slices) == {(c.id, t.name) for c, t in pairs}
    assert sum(map(len, slices)) == len(pairs)
    assert max(map(len, slices)) - min(map(len, slices)) <= 1
    runner.close()
