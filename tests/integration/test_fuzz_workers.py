"""`python -m harness.fuzz --workers 2`: two real fuzzer processes share one corpus
directory (each takes inputs the other added) and one findings directory (a difference both
find is saved once, by whichever claimed its signature first; the other counts a hit)."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

BROKEN = "cmd:{fixtures}/broken/bin/qmail-smtpd"


def _fuzz(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.fuzz", *args], capture_output=True, text=True,
                          timeout=timeout)


def _workers(stdout: str) -> dict[int, str]:
    return {int(m.group(1)): m.group(0) for m in re.finditer(r"^worker (\d+) \(seed \d+\):.*$", stdout, re.M)}


def test_two_workers_share_the_corpus(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    done = _fuzz("-t", "ref", "--workers", "2", "--seed", "7", "--sessions", "600", "--sync-every", "25",
                 "--duration", "600", "--corpus", str(corpus), "--out", str(tmp_path / "found"), timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    workers = _workers(done.stdout)
    assert sorted(workers) == [0, 1], done.stdout
    for line in workers.values():
        assert "600 sessions" in line
        taken = int(re.search(r"took (\d+) from other workers", line).group(1))  # type: ignore[union-attr]
        assert taken > 0, line
    files = sorted(corpus.iterdir())
    assert files and all(p.name == f"{hashlib.sha1(p.read_bytes()).hexdigest()}.bin" for p in files), files
    assert "1200 sessions" in done.stdout and f"({len(files)} inputs in {corpus})" in done.stdout, done.stdout
    assert "reply-code state coverage:" in done.stdout


def test_a_finding_both_workers_hit_is_saved_once(tmp_path: Path) -> None:
    out = tmp_path / "found"
    done = _fuzz("-t", BROKEN, "--workers", "2", "--seed", "3", "--sessions", "20000", "--duration", "600",
                 "--timeout", "1", "--kinds", "crash,hang", "--until-found", "crash,hang", "--out", str(out),
                 timeout=600)
    assert done.returncode == 1, done.stdout + done.stderr
    saved = [json.loads(p.read_text()) for p in sorted(out.glob("*.json"))]
    assert sorted(f["kind"] for f in saved) == ["crash", "hang"], done.stdout
    assert len(list((out / ".signatures").iterdir())) == 2
    workers = _workers(done.stdout)
    for line in workers.values():  # each worker hit both: saved it, or counted a hit of the other's
        saved_part, hit_part = line.split("findings saved: ")[1].split("; hit, saved by another: ")
        kinds = set(re.findall(r"(crash|hang): 1", saved_part)) | set(re.findall(r"(crash|hang): 1", hit_part))
        assert kinds == {"crash", "hang"}, line
    assert {f["seed"] for f in saved} <= {3, 4}
    assert "findings: crash: 1, hang: 1 (" in done.stdout, done.stdout
