"""The fuzzer's lane and the process's open-file limit (harness.fuzz.__main__.room_for):
each session waiting in the lane holds descriptors, so the soft limit is raised toward the
hard one, and a lane wider than the hard limit allows is narrowed, and said. Run in child
processes given real limits (setrlimit before they start)."""

from __future__ import annotations

import resource
import subprocess
import sys

import pytest

PROBE = ("import resource; from harness.fuzz.__main__ import room_for; "
         "lane = room_for({lane}, 4); print(lane, resource.getrlimit(resource.RLIMIT_NOFILE)[0])")


def _probe(lane: int, soft: int, hard: int) -> tuple[int, int, str]:
    """(the lane allowed, the soft limit after, what was said) in a child with these limits."""
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    done = subprocess.run([sys.executable, "-c", PROBE.format(lane=lane)], preexec_fn=limit,
                          capture_output=True, text=True, check=True, timeout=60)
    *said, last = done.stdout.strip().splitlines()
    allowed, after = last.split()
    return int(allowed), int(after), "\n".join(said)


@pytest.mark.parametrize(("lane", "soft", "hard", "allowed", "after"), [
    (128, 1024, 1024, 128, 1024),   # fits (lanes 128 + 32 + 8): nothing changes
    (512, 1024, 4096, 512, 2284),   # the soft limit is raised to what the lanes need
    (512, 1024, 1024, 192, 1024),   # the hard limit is too low: the lanes are narrowed
])
def test_the_lane_gets_the_open_files_it_needs(lane: int, soft: int, hard: int, allowed: int,
                                               after: int) -> None:
    if resource.getrlimit(resource.RLIMIT_NOFILE)[1] < hard:
        pytest.fail(f"this machine's hard open-file limit is under {hard}")
    got, soft_after, said = _probe(lane, soft, hard)
    assert (got, soft_after) == (allowed, after)
    assert ("needs" in said) == (allowed < lane), said
