"""`python -m harness.fuzz`'s options: the pause lane's and the window's widths reach the fuzzer."""

from __future__ import annotations

from harness.fuzz.__main__ import _fuzz_parser
from harness.fuzz.engine import LANE, WINDOW


def test_the_lane_defaults_wide_and_can_be_set() -> None:
    assert _fuzz_parser().parse_args(["-t", "ref"]).lane == LANE >= 64
    assert _fuzz_parser().parse_args(["-t", "ref", "--lane", "1"]).lane == 1


def test_the_window_defaults_to_several_sessions_and_can_be_set() -> None:
    assert _fuzz_parser().parse_args(["-t", "ref"]).window == WINDOW >= 2
    assert _fuzz_parser().parse_args(["-t", "ref", "--window", "1"]).window == 1
