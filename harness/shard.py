"""`qmc run --shard K/N`: the K-th of N slices of a run's (case, target) pairs, for running
one catalogue on several processes or machines and merging the reports after
(`qmc merge`, harness/report/merge.py).

A slice depends only on the pairs selected, never on the machine: the pairs are ordered by
case id (numerically, `4.10` after `4.9`) and target spec, and dealt round-robin, so every
shard gets a like mix of categories (qmail-remote cases, AUTH pauses) and the N slices
together are the whole selection, each pair in exactly one of them.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.cases import Case
from harness.errors import HarnessError
from harness.targets.base import Target

__all__ = ["parse_shard", "shard_of", "case_order"]


def parse_shard(text: str) -> tuple[int, int]:
    """"K/N" -> (K, N) with 1 <= K <= N."""
    k, sep, n = text.partition("/")
    if not (sep and k.strip().isdigit() and n.strip().isdigit()) or not 1 <= int(k) <= int(n):
        raise HarnessError(f"--shard {text!r}: want K/N with 1 <= K <= N, e.g. --shard 1/2")
    return int(k), int(n)


def case_order(case_id: str) -> list[tuple[int, str]]:
    """A sort key for dotted case ids: numeric parts as numbers."""
    return [(int(p), "") if p.isdigit() else (-1, p) for p in case_id.split(".")]


def shard_of(pairs: Sequence[tuple[Case, Target]], k: int, n: int) -> list[tuple[Case, Target]]:
    """The K-th (1-based) of N round-robin slices of `pairs` in their stable order."""
    ordered = sorted(pairs, key=lambda p: (case_order(p[0].id), p[1].name))
    return ordered[k - 1::n]
