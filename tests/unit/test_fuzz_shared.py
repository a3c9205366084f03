"""The files fuzzer workers share (harness.fuzz.shared): corpus inputs written atomically
under their content hash and taken once by the others, and one claim per finding signature."""

from __future__ import annotations

import hashlib
from pathlib import Path

from harness.fuzz.engine import Stats
from harness.fuzz.shared import CLAIMS_DIR, SharedCorpus, claim_signature
from harness.fuzz.workers import merge_stats, stats_from_json, stats_to_json


def test_each_worker_takes_what_the_other_added_once(tmp_path: Path) -> None:
    a, b = SharedCorpus(tmp_path / "corpus"), SharedCorpus(tmp_path / "corpus")
    assert a.load() == [] and b.load() == []
    assert a.add(b"EHLO x\r\n") and a.add(b"NOOP\r\n")
    assert not a.add(b"NOOP\r\n")  # the same content is the same file
    assert sorted(b.take_new()) == [b"EHLO x\r\n", b"NOOP\r\n"]
    assert b.take_new() == [] and a.take_new() == []  # nothing new; nobody takes its own inputs
    assert not b.add(b"NOOP\r\n")  # already there (taken from a): not written again
    assert b.add(b"RSET\r\n")
    assert a.take_new() == [b"RSET\r\n"]
    names = sorted(p.name for p in (tmp_path / "corpus").iterdir())
    assert names == sorted(f"{hashlib.sha1(x).hexdigest()}.bin" for x in (b"EHLO x\r\n", b"NOOP\r\n", b"RSET\r\n"))


def test_a_half_written_input_is_not_taken(tmp_path: Path) -> None:
    corpus = SharedCorpus(tmp_path)
    (tmp_path / ".abc.bin.1.host.tmp").write_bytes(b"half")  # another worker's write under way
    assert corpus.take_new() == []


def test_a_signature_is_claimed_once(tmp_path: Path) -> None:
    assert claim_signature(tmp_path, "crash: signal 11")
    assert not claim_signature(tmp_path, "crash: signal 11")
    assert claim_signature(tmp_path, "hang")
    assert len(list((tmp_path / CLAIMS_DIR).iterdir())) == 2


def test_worker_stats_merge_as_one_run() -> None:
    one = Stats(sessions=10, seconds=2.0, findings={"crash": 1}, hits={"crash: signal 11": 3},
                features={("ehlo", 0, 220), ("ehlo", 220, 250)}, corpus_added=2, corpus_taken=1)
    two = Stats(sessions=5, seconds=3.0, known={"crash": 1}, hits={"crash: signal 11": 1, "hang": 2},
                features={("ehlo", 0, 220), ("fresh", 0, 220)}, corpus_added=1, corpus_taken=2)
    merged = merge_stats([stats_from_json(stats_to_json(s)) for s in (one, two)])
    assert (merged.sessions, merged.seconds, merged.corpus_added, merged.corpus_taken) == (15, 3.0, 3, 3)
    assert merged.findings == {"crash": 1} and merged.known == {"crash": 1}
    assert merged.hits == {"crash: signal 11": 4, "hang": 2} and len(merged.features) == 3
