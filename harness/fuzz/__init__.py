"""SMTP fuzzing of a target's qmail-smtpd against the reference: grammar-aware and
mutational byte streams in several protocol states; crashes, hangs and divergences are
minimized and saved as replayable findings (`python -m harness.fuzz`, see __main__). Sessions
run on Sides (harness.drive.side): the in-process reference, or any target through its sessions."""

from harness.drive.side import Run
from harness.fuzz.engine import Fuzzer, Stats, Verdict, classify

__all__ = ["Fuzzer", "Stats", "Verdict", "classify", "Run"]
