"""The harness as a pytest plugin (entry point `pytest11: harness.pytest_plugin`; testinfra /
pytest-httpserver style).

    pytest --target ref --qmc-cases '4.*'                  # the built-in catalogue's 4.x cases
    pytest --target ref --target docker:IMAGE my-cases/   # your case files, one item per case × target
    pytest --target ref my-cases/auth.toml -k 4.2

Case files given on the command line (or found under given directories) are collected when
at least one `--target` is set; `--qmc-cases GLOB` adds the built-in catalogue (it ships
inside the package, harness/resources.py) and keeps only the cases whose id matches. Each
(case, target) is one test item whose outcome is its verdict: FAILED and ERROR fail (unless
`--qmc-baseline` knows them), NOT_APPLICABLE skips.

Several processes: `pytest -n N --target SPEC ...` (pytest-xdist); every worker starts its
own targets (fork server, container, network) and takes machine-wide leases on the
observers' addresses (harness/observe/addresses.py), so workers never meet. Several
machines: xdist's `--tx ssh=HOST//python=python3 --rsyncdir ...`, or `qmc run --shard`.

Fixtures for hand-written tests: `make_target` (session-scoped factory: spec -> started
target, stopped at the end) and `qmc_target` (parametrized by every --target).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.baseline import load_baseline, mark_known
from harness.cases import CATALOGUE_DIR, Case, load_file, select
from harness.runner import CaseResult, Runner
from harness.targets import make_target
from harness.targets.base import Target
from harness.verdict import BAD, NOT_APPLICABLE

__all__ = ["pytest_addoption", "pytest_collect_file", "make_target_fixture"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("qmc", "qmail conformance harness")
    group.addoption("--target", action="append", default=[], metavar="SPEC",
                    help="a target to run conformance case files against (repeatable)")
    group.addoption("--qmc-baseline", metavar="FILE", help="accepted divergences (JSON)")
    group.addoption("--qmc-cases", action="append", default=[], metavar="GLOB",
                    help="run the built-in catalogue's cases whose id matches (e.g. '4.*', repeatable); "
                         "also filters the case files given")


class _Session:
    """Targets and the runner, shared by every item of the pytest session."""

    def __init__(self, config: pytest.Config) -> None:
        self.specs: list[str] = config.getoption("target")
        path = config.getoption("qmc_baseline")
        self.baseline = load_baseline(Path(path)) if path else {}
        self.targets: dict[str, Target] = {}
        self.runner: Runner | None = None

    def target(self, spec: str) -> Target:
        if spec not in self.targets:
            target = make_target(spec)
            target.start()
            self.targets[spec] = target
        return self.targets[spec]

    def run(self, case: Case, spec: str) -> CaseResult:
        target = self.target(spec)
        if self.runner is None:
            self.runner = Runner(list(self.targets.values()), [])
        self.runner.targets = list(self.targets.values())
        result = self.runner.run_one(case, target)
        mark_known(result, self.baseline)
        return result

    def close(self) -> None:
        if self.runner is not None:
            self.runner.close()
        for target in self.targets.values():
            target.stop()


_KEY = pytest.StashKey[_Session]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_KEY] = _Session(config)
    if config.getoption("qmc_cases") and config.getoption("target"):
        # collected like a directory given on the command line (pytest reads config.args later)
        config.args.append(str(CATALOGUE_DIR))


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.stash.get(_KEY, None)
    if session is not None:
        session.close()


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix == ".toml" and parent.config.getoption("target") and _is_case_file(file_path):
        collector: pytest.Collector = CaseFile.from_parent(parent, path=file_path)
        return collector
    return None


def _is_case_file(path: Path) -> bool:
    try:
        return "[[case]]" in path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False


class CaseFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        catalogue = load_file(self.path)
        for problem in catalogue.problems:
            name = f"problem:{problem.split(': ', 1)[-1][:60]}"
            yield ProblemItem.from_parent(self, name=name, problem=problem)
        for case in select(catalogue.cases, self.config.getoption("qmc_cases")):
            for spec in self.config.getoption("target"):
                yield CaseItem.from_parent(self, name=f"{case.id}[{spec}]", case=case, spec=spec)


class CaseItem(pytest.Item):
    def __init__(self, *, case: Case, spec: str, **kw: Any) -> None:
        super().__init__(**kw)
        self.case = case
        self.spec = spec
        self.result: CaseResult | None = None

    def runtest(self) -> None:
        self.result = self.config.stash[_KEY].run(self.case, self.spec)
        # the verdict itself, not only pass/skip/fail: in --junitxml and across xdist workers
        self.user_properties.append(("qmc_verdict", str(self.result.verdict)))
        if self.result.verdict == NOT_APPLICABLE:
            pytest.skip(self.result.reason)
        if self.result.verdict in BAD and not self.result.known:
            raise CaseFailure(self.result.reason)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, CaseFailure) and self.result is not None:
            r = self.result
            lines = [f"{r.verdict}: {r.case.id} {r.case.title} on {r.target}: {r.reason}"]
            for d in r.differences[:10]:
                where = f"step {d.step} " if d.step is not None else ""
                lines.append(f"  {where}{d.field}:\n    reference: {d.reference!r}\n"
                             f"    target:    {d.target!r}")
            return "\n".join(lines)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"case {self.case.id} on {self.spec}: {self.case.title}"


class ProblemItem(pytest.Item):
    def __init__(self, *, problem: str, **kw: Any) -> None:
        super().__init__(**kw)
        self.problem = problem

    def runtest(self) -> None:
        raise CaseFailure(self.problem)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        return self.problem


class CaseFailure(Exception):
    """A case whose verdict needs attention, or a case file that cannot be used."""


@pytest.fixture(scope="session", name="make_target")
def make_target_fixture(request: pytest.FixtureRequest) -> Callable[[str], Target]:
    """spec -> a started target, stopped when the pytest session ends."""
    session: _Session = request.config.stash[_KEY]
    return session.target


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "qmc_target" in metafunc.fixturenames:
        specs = metafunc.config.getoption("target") or ["ref"]
        metafunc.parametrize("qmc_target", specs, indirect=True, ids=specs)


@pytest.fixture(name="qmc_target")
def qmc_target_fixture(request: pytest.FixtureRequest, make_target: Callable[[str], Target]) -> Target:
    """The target of this test (parametrized by every --target; `ref` without one)."""
    return make_target(str(request.param))
