"""The package as a user gets it: a wheel built from this source tree, installed (not
editable) into a fresh virtualenv, run from an empty directory. The catalogue, fixtures and
golden data must come with it (ARCHITECTURE.md, house rule 11), the fixture programs must
stay executable, and `qmc`, `eqmail-ref` and the pytest plugin must work without a checkout.

The venv reuses the machine's installed dependencies (--system-site-packages); the wheel
itself is installed with --no-deps --no-index. The build needs setuptools from the package
registry (pip's build isolation), as any `pip install .` does.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from eqmail_ref.__about__ import __version__
from harness.cases import load_catalogue
from harness.resources import CATALOGUE_DIR, PACKAGED_FIXTURES_DIR, PROGRAM_DIRS, runnable_fixtures


def _project_root() -> Path:
    for parent in Path(__file__).resolve().parents:
        if (parent / "pyproject.toml").is_file():
            return parent
    raise AssertionError("no pyproject.toml above the tests")


# what a source tree holds that a build must not see (caches, earlier builds, reports)
_NOT_SOURCE = shutil.ignore_patterns(".git", ".nox", "build", "dist", "*.egg-info", "__pycache__",
                                     ".*_cache", ".hypothesis", "reports", "venv", ".venv")


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment without PYTHONPATH: the installed copy, not a checkout, must answer."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_ADDOPTS")}
    return {**env, **extra}


class Installed:
    def __init__(self, venv: Path, cwd: Path) -> None:
        self.bin = venv / "bin"
        self.cwd = cwd

    def run(self, program: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.bin / program), *args], cwd=self.cwd, env=_clean_env(**env),
                              capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    base = tmp_path_factory.mktemp("package")
    source = base / "source"
    shutil.copytree(_project_root(), source, ignore=_NOT_SOURCE)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check",
                            "-w", str(base / "dist"), str(source)],
                           capture_output=True, text=True, env=_clean_env(), timeout=300)
    assert built.returncode == 0, built.stdout + built.stderr
    wheel, = (base / "dist").glob("qmail_conformance-*.whl")
    venv = base / "venv"
    # without its own pip (ensurepip takes seconds): this pip installs into it
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
                   check=True, timeout=120)
    done = subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
                           "--no-deps", "--no-index", "--disable-pip-version-check", str(wheel)],
                          capture_output=True, text=True, env=_clean_env(), timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    empty = base / "elsewhere"
    empty.mkdir()
    return Installed(venv, empty)


def test_the_installed_package_is_not_the_checkout(installed: Installed) -> None:
    done = installed.run("python", "-c", "import harness, harness.resources as r; "
                                         "print(harness.__file__); print(r.CATALOGUE_DIR); print(r.FIXTURES_DIR)")
    assert done.returncode == 0, done.stderr
    venv = str(installed.bin.parent)
    assert all(line.startswith(venv) for line in done.stdout.splitlines()), done.stdout


def test_versions(installed: Installed) -> None:
    for program in ("qmc", "eqmail-ref"):
        done = installed.run(program, "--version")
        assert (done.returncode, done.stdout.strip()) == (0, f"{program} {__version__}")


def test_fixture_programs_keep_their_exec_bits(installed: Installed) -> None:
    done = installed.run("python", "-c", "from harness.resources import PACKAGED_FIXTURES_DIR as d; print(d)")
    fixtures = Path(done.stdout.strip())
    programs = [p for d in PROGRAM_DIRS for p in (fixtures / d).iterdir()]
    assert {p.name for p in programs} >= {"qmail-queue-capture", "checkpassword-stub", "qmail-smtpd"}
    assert [p for p in programs if not os.access(p, os.X_OK)] == []


def test_qmc_list_says_where_the_catalogue_comes_from(installed: Installed) -> None:
    done = installed.run("qmc", "list")
    assert done.returncode == 0, done.stderr
    count = len(load_catalogue([CATALOGUE_DIR]).cases)
    assert len(done.stdout.splitlines()) == count
    assert f"{count} cases; catalogue: built-in {installed.bin.parent}" in done.stderr


def test_catalogue_adds_and_catalogue_only_replaces(installed: Installed) -> None:
    mine = installed.cwd / "mine.toml"
    mine.write_text('[[case]]\nid = "99.1"\ntitle = "my own case"\nspec = "2.2"\n'
                    'input = "QUIT\\r\\n"\n')
    both = installed.run("qmc", "list", "--catalogue", str(mine))
    only = installed.run("qmc", "list", "--catalogue-only", str(mine))
    assert (both.returncode, only.returncode) == (0, 0), both.stderr + only.stderr
    assert "99.1" in both.stdout and len(both.stdout.splitlines()) > 700
    assert [line.split()[0] for line in only.stdout.splitlines()] == ["99.1"]
    assert f"catalogue: {mine}" in only.stderr and "built-in" not in only.stderr


def test_qmc_run_from_an_empty_directory(installed: Installed) -> None:
    done = installed.run("qmc", "run", "--cases", "1.*", "--out", "reports")
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads((installed.cwd / "reports" / "index.json").read_text())["summary"]
    assert set(summary) == {"ref", "ref:1.09"}
    for counts in summary.values():
        assert counts["OK"] > 50 and counts["FAILED"] == counts["ERROR"] == 0, summary


def test_the_pytest_plugin_runs_a_built_in_case(installed: Installed) -> None:
    # autoload off: the machine's editable install registers the same plugin too
    done = installed.run("python", "-m", "pytest", "-p", "harness.pytest_plugin", "--target", "ref",
                         "--qmc-cases", "1.0.1", "-p", "no:cacheprovider", PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def test_eqmail_ref_selfcheck_finds_its_examples(installed: Installed) -> None:
    done = installed.run("eqmail-ref", "selfcheck", "--report", "selfcheck.json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (installed.cwd / "selfcheck.json").is_file()


def test_programs_without_exec_bits_run_from_a_private_copy(tmp_path: Path) -> None:
    """An installer that drops the zip's modes: the targets get a copy whose programs run."""
    stripped = tmp_path / "fixtures"
    shutil.copytree(PACKAGED_FIXTURES_DIR, stripped, ignore=shutil.ignore_patterns("golden"))
    for d in PROGRAM_DIRS:
        for program in (stripped / d).iterdir():
            program.chmod(stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP)
    runnable = runnable_fixtures(stripped)
    assert runnable != stripped
    assert (runnable / "profiles.toml").read_bytes() == (stripped / "profiles.toml").read_bytes()
    ran = subprocess.run([str(runnable / "bin" / "qmail-queue-discard")], input=b"message\n",
                         capture_output=True, timeout=30)
    assert ran.returncode == 0, ran.stderr
    assert runnable_fixtures(PACKAGED_FIXTURES_DIR) == PACKAGED_FIXTURES_DIR
