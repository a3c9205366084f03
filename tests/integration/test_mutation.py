"""bench/mutation.py: mutmut's mutants of the reference, run through the real catalogue
machinery in a worker process (fork servers and all). A mutant that changes a reply is
killed by the case that sees it; the unmutated reference, run the same way, is not."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def mutation() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_mutation", ROOT / "bench" / "mutation.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_mutation"] = module
    spec.loader.exec_module(module)
    return module


def test_a_mutant_is_killed_and_the_original_is_not(mutation: ModuleType, tmp_path: Path) -> None:
    mutants = mutation.mutate_tree(tmp_path, {"eqmail_ref/commands.py"})
    assert mutants and all(m.path == "eqmail_ref/commands.py" for m in mutants)
    # unknown verbs answer 500 unrecognised: the mutant that drops that reply must die
    dropped = next(m for m in mutants if m.function == "x_unrecognised" and "None" in m.change)
    assert dropped.change.startswith("-") and dropped.line > 1
    workers = mutation.Workers(tmp_path, timeout=300)
    try:
        killed = workers.ask({"name": dropped.name, "cases": ["1.0.1", "1.3.3", "1.3.4"]})
        clean = workers.ask({"name": "", "cases": ["1.0.1", "1.3.3", "1.3.4"]})
    finally:
        workers.close()
    assert killed["killed"] and killed["by"], killed
    assert not clean["killed"] and clean["cases"] >= 2, clean


def test_keys_are_stable_and_equivalents_load(mutation: ModuleType, tmp_path: Path) -> None:
    first = mutation.mutate_tree(tmp_path / "a", {"eqmail_ref/b64.py"})
    second = mutation.mutate_tree(tmp_path / "b", {"eqmail_ref/b64.py"})
    assert [m.key for m in first] == [m.key for m in second]
    assert len({m.key for m in first}) == len(first)
    assert isinstance(mutation.equivalents(), dict)
