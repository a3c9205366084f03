"""Where the package's data lives: the one module that knows (ARCHITECTURE.md, house rule 11).

The catalogue, the fixtures (profiles, the sh programs cases run, the broken smtpd, the
baselines) and the golden recordings ship inside the package under `harness/data/` and are
found through `importlib.resources`, so a `pip install` (not editable) or a pipx install works
from any directory; nothing here resolves a path relative to a checkout.

    harness/data/conformance/cases/*.toml     the catalogue (CATALOGUE_DIR)
    harness/data/conformance/verified-real-*  recordings of real eQmail the cases came from
    harness/data/fixtures/profiles.toml       fixture profiles (PROFILES_FILE)
    harness/data/fixtures/bin/, broken/bin/   programs a target runs ({fixtures}/bin/...)
    harness/data/fixtures/baselines/          baselines of other MTAs' images
    harness/data/fixtures/golden/ref-1.0x/    the reference's golden transcripts

Targets run the fixture programs by path, so they must be executable. A wheel may lose the
exec bits (an installer that ignores the zip's modes, a read-only copy without them): then
FIXTURES_DIR is a private copy of the programs with their bits set (see runnable_fixtures).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import stat
import tempfile
from importlib.resources import as_file, files
from pathlib import Path

__all__ = [
    "DATA_DIR", "CATALOGUE_DIR", "CONFORMANCE_DIR", "PACKAGED_FIXTURES_DIR", "FIXTURES_DIR",
    "PROFILES_FILE", "GOLDEN_DIR", "BASELINES_DIR", "PROGRAM_DIRS", "runnable_fixtures",
    "catalogue_origin", "IMAGES_DIR", "HTML_ASSETS_DIR", "EQMAIL_REF_DIR",
]

# the directories whose files a target executes (by path: {fixtures}/bin/qmail-queue-capture)
PROGRAM_DIRS = ("bin", "broken/bin")

_keep = contextlib.ExitStack()  # a zipped install is extracted once, for the process's life
atexit.register(_keep.close)


def _not_executable(fixtures: Path) -> list[Path]:
    return [p for d in PROGRAM_DIRS if (fixtures / d).is_dir()
            for p in sorted((fixtures / d).iterdir()) if p.is_file() and not os.access(p, os.X_OK)]


def runnable_fixtures(fixtures: Path) -> Path:
    """`fixtures` when its programs are executable, else a private copy of the directory
    (without the golden data) whose programs are: the targets run them by path."""
    if not _not_executable(fixtures):
        return fixtures
    copy = Path(tempfile.mkdtemp(prefix="qmc-fixtures-"))
    atexit.register(_remove_in, os.getpid(), copy)
    shutil.copytree(fixtures, copy, dirs_exist_ok=True, ignore=shutil.ignore_patterns("golden"))
    for d in PROGRAM_DIRS:
        for program in (copy / d).iterdir() if (copy / d).is_dir() else ():
            program.chmod(program.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return copy


def _remove_in(pid: int, path: Path) -> None:
    # only the process that made it: a forked session that exits normally must not remove it
    if os.getpid() == pid:
        shutil.rmtree(path, ignore_errors=True)


def catalogue_origin(paths: list[Path], *, builtin: bool) -> str:
    """Where the cases of a run come from, in words (`qmc list`, `qmc run`)."""
    parts = [f"built-in {CATALOGUE_DIR}"] if builtin else []
    parts += [str(p) for p in paths]
    return "catalogue: " + " + ".join(parts)


def _package_dir(package: str) -> Path:
    return Path(_keep.enter_context(as_file(files(package))))


DATA_DIR = _package_dir("harness.data")
CONFORMANCE_DIR = DATA_DIR / "conformance"
CATALOGUE_DIR = CONFORMANCE_DIR / "cases"
PACKAGED_FIXTURES_DIR = DATA_DIR / "fixtures"
PROFILES_FILE = PACKAGED_FIXTURES_DIR / "profiles.toml"
GOLDEN_DIR = PACKAGED_FIXTURES_DIR / "golden"
BASELINES_DIR = PACKAGED_FIXTURES_DIR / "baselines"
FIXTURES_DIR = runnable_fixtures(PACKAGED_FIXTURES_DIR)
# through `harness`, not the subpackages: importing those would import their modules (a cycle)
HARNESS_DIR = _package_dir("harness")
IMAGES_DIR = HARNESS_DIR / "images"  # Containerfiles and the Podman containers.conf
HTML_ASSETS_DIR = HARNESS_DIR / "report" / "html_assets"
EQMAIL_REF_DIR = _package_dir("eqmail_ref")  # copied into the reference's image
