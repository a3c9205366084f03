"""`python -m harness.fuzz`'s options: the pause lane's width reaches the fuzzer."""

from __future__ import annotations

from harness.fuzz.__main__ import _fuzz_parser
from harness.fuzz.engine import LANE


def test_the_lane_defaults_wide_and_can_be_set() -> None:
    assert _fuzz_parser().parse_args(["-t", "ref"]).lane == LANE >= 64
    assert _fuzz_parser().parse_args(["-t", "ref", "--lane", "1"]).lane == 1
