"""`--shard K/N` parsing (harness/shard.py); slicing and merging are in integration/test_shard_merge.py."""

from __future__ import annotations

import pytest

from harness.errors import HarnessError
from harness.shard import case_order, parse_shard


@pytest.mark.parametrize("text, want", [("1/1", (1, 1)), ("2/3", (2, 3)), (" 3 / 3 ", (3, 3))])
def test_a_shard_is_k_of_n(text: str, want: tuple[int, int]) -> None:
    assert parse_shard(text) == want


@pytest.mark.parametrize("text", ["0/2", "3/2", "1", "1/", "/2", "a/b", "-1/2", "1/0"])
def test_a_bad_shard_says_what_it_wants(text: str) -> None:
    with pytest.raises(HarnessError, match="want K/N with 1 <= K <= N"):
        parse_shard(text)


def test_case_ids_sort_by_number() -> None:
    assert sorted(["4.10.1", "4.9.2", "10.1", "4.9.10"], key=case_order) == ["4.9.2", "4.9.10", "4.10.1", "10.1"]
