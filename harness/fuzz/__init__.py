"""SMTP fuzzing of a target's qmail-smtpd against the reference: grammar-aware and
mutational byte streams in several protocol states; crashes, hangs and divergences are
minimized and saved as replayable findings (`python -m harness.fuzz`, see __main__)."""

from harness.fuzz.engine import Fuzzer, Stats, Verdict, classify
from harness.fuzz.runners import InProcessRunner, Run, SpawnRunner, TargetRunner

__all__ = ["Fuzzer", "Stats", "Verdict", "classify", "Run", "InProcessRunner", "SpawnRunner", "TargetRunner"]
