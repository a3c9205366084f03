"""The fuzzer: pure parts (classification, delta debugging), the in-process reference (no
crash, no hang), and a deliberately broken ucspi server (fixtures/broken/) spawned per
session, whose crash and hang are caught, minimized, saved and replayed by the CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.drive.side import Run
from harness.drive.smtp_text import reply_codes
from harness.fuzz.__main__ import open_sides, parse_duration
from harness.fuzz.engine import Fuzzer, Stats, classify
from harness.fuzz.minimize import minimize

BROKEN = "cmd:{fixtures}/broken/bin/qmail-smtpd"


def test_classify() -> None:
    ok = Run(output=b"220 x\r\n250 ok\r\n", status=0)
    assert classify(ok, ok) is None
    assert classify(ok, Run(output=b"", status=None, hang=True)).kind == "hang"  # type: ignore[union-attr]
    crash = classify(ok, Run(output=b"220 x\r\n", status=139))
    assert crash is not None and crash.signature == "crash: signal 11"
    # a crash the reference makes too (eQmail crashes there) is no finding
    assert classify(Run(output=b"", status=139, modelled_crash=True), Run(output=b"", status=139)) is None
    died = classify(ok, Run(output=b"220 x\r\n", status=1))
    assert died is not None and died.kind == "crash"
    differs = classify(ok, Run(output=b"220 x\r\n500 no\r\n", status=0))
    assert differs is not None and differs.signature == "reply: '250 ok' vs '500 no'"
    # normalization: the queue-accept line's time and pid are not a difference
    assert classify(Run(output=b"250 ok 1 qp 2\r\n", status=0), Run(output=b"250 ok 3 qp 4\r\n", status=0)) is None


def test_ddmin_finds_the_one_line_and_bytes() -> None:
    data = b"".join(b"NOOP %d\r\n" % i for i in range(40)) + b"BOOM\r\n" + b"RSET\r\n" * 9
    assert minimize(data, lambda d: b"BOOM" in d) == b"BOOM"
    small = minimize(b"abcXdef", lambda d: b"X" in d and len(d) > 2)
    assert b"X" in small and len(small) == 3  # 1-minimal: no single byte can go


def test_reply_codes_and_durations() -> None:
    assert reply_codes(b"250-a\r\n250 b\r\n354 go\r\n") == [250, 354]
    assert parse_duration("60s") == 60 and parse_duration("10m") == 600 and parse_duration("5") == 5


@pytest.fixture
def work() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="qmc-test-fuzz-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_reference_in_process_survives_and_the_corpus_is_kept(work: Path) -> None:
    corpus = work / "corpus"
    pair = open_sides("ref", None, "auth", 5.0, work / "home")
    target = pair.target
    assert pair.reference is None  # the reference against itself: only its own crashes and hangs count
    try:
        stats = Fuzzer(target, None, seed=11, out=work / "out", corpus=corpus).run(3600, max_sessions=3000)
        again = Fuzzer(target, None, seed=12, out=work / "out", corpus=corpus)
        assert len(again.corpus) == len(list(corpus.glob("*.bin"))) == stats.corpus_added > 0
        again.run(3600, max_sessions=500)
    finally:
        pair.close()
    assert stats.findings == {} and stats.sessions == 3000
    assert "(state, code) pairs" in stats.coverage() and len(stats.features) > 50


def test_the_broken_target_is_caught_minimized_and_replayed(work: Path) -> None:
    pair = open_sides(BROKEN, None, "auth", 1.0, work / "home")
    target, reference = pair.target, pair.reference
    assert reference is not None
    out = work / "findings"
    try:
        fuzzer = Fuzzer(target, reference, seed=3, out=out, kinds=frozenset({"crash", "hang"}),
                        meta={"target": BROKEN, "against": None, "profile": "auth", "timeout": 1.0},
                        log=lambda _: None)

        def both(stats: Stats) -> bool:
            return {"crash", "hang"} <= set(stats.findings)

        stats = fuzzer.run(3600, max_sessions=20000, until=both)
    finally:
        pair.close()
    assert stats.findings == {"crash": 1, "hang": 1}
    saved = {json.loads(p.read_text())["kind"]: p for p in stats.saved}
    crash = json.loads(saved["crash"].read_text())
    hang = json.loads(saved["hang"].read_text())
    # minimized: one RCPT line just over the 300 bytes that crash it; ETRN with a short argument
    assert crash["bytes"].upper().startswith("RCPT TO:") and 300 < len(crash["bytes"]) <= 304, crash["bytes"]
    assert hang["bytes"].upper().startswith("ETRN ") and len(hang["bytes"]) <= 8, hang["bytes"]
    assert len(crash["original"]) >= len(crash["bytes"]) and crash["seed"] == 3
    for path, says in ((saved["crash"], "crash: signal 11"), (saved["hang"], "hang")):
        done = subprocess.run([sys.executable, "-m", "harness.fuzz", "replay", str(path)],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 1 and says in done.stdout, done.stdout + done.stderr
