"""Delta debugging (Zeller's ddmin) of a finding's byte stream: first by lines, then, for
short inputs, by single bytes. `still_fails(candidate)` reruns the candidate and says whether
the same finding (kind and signature) happens; the number of reruns is capped."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["ddmin", "minimize"]


def ddmin(chunks: list[bytes], still_fails: Callable[[bytes], bool], budget: list[int]) -> list[bytes]:
    """The smallest sublist (1-minimal within the budget) of `chunks` that still fails."""
    n = 2
    while len(chunks) >= 2 and budget[0] > 0:
        size = max(1, len(chunks) // n)
        subsets = [chunks[i:i + size] for i in range(0, len(chunks), size)]
        reduced = False
        for i in range(len(subsets)):
            if budget[0] <= 0:
                break
            complement = [c for j, s in enumerate(subsets) if j != i for c in s]
            budget[0] -= 1
            if still_fails(b"".join(complement)):
                chunks, n, reduced = complement, max(n - 1, 2), True
                break
        if not reduced:
            if n >= len(chunks):
                break
            n = min(len(chunks), n * 2)
    return chunks


def minimize(data: bytes, still_fails: Callable[[bytes], bool], max_runs: int = 300,
             byte_level_below: int = 400) -> bytes:
    budget = [max_runs]
    lines = data.splitlines(keepends=True)
    data = b"".join(ddmin(lines, still_fails, budget))
    if len(data) <= byte_level_below:
        data = b"".join(ddmin([bytes([b]) for b in data], still_fails, budget))
    return data
