"""nox sessions: `conformance` (the main job), `tests`, `lint`, `bench`.

    nox -s conformance                                  # the catalogue vs the reference 1.08 and 1.09
    nox -s conformance -- -t docker:IMAGE -t ref        # any qmc run options
    nox -s conformance -- --property --target ref:1.09 --against ref --max-examples 1000
    nox -s fuzz -- --target ref --duration 60s --seed 1 --corpus fuzz-corpus --out findings/fuzz
"""

from __future__ import annotations

import nox

nox.options.sessions = ["conformance", "tests"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def conformance(session: nox.Session) -> None:
    """`qmc run` with the given options; with none, the catalogue against ref and ref:1.09.
    With `--property`: generated differential sessions instead (python -m harness.property)."""
    session.install("-e", ".[harness]")
    if "--property" in session.posargs:
        session.run("python", "-m", "harness.property", *(a for a in session.posargs if a != "--property"))
        return
    session.run("qmc", "run", *session.posargs)


@nox.session
def fuzz(session: nox.Session) -> None:
    """`nox -s fuzz -- --target X --duration 60s --seed S [--corpus DIR] [--out DIR]`."""
    session.install("-e", ".[harness]")
    default = ["--target", "ref", "--duration", "60s"]
    session.run("python", "-m", "harness.fuzz", *(session.posargs or default))


@nox.session
def tests(session: nox.Session) -> None:
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("-e", ".[test]")
    session.run("ruff", "check", ".")
    session.run("mypy")


@nox.session
def bench(session: nox.Session) -> None:
    session.install("-e", ".[harness]")
    session.run("python", "bench/smtp_sessions.py", *session.posargs)
