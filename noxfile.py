"""nox sessions: `conformance` (the main job), `tests`, `lint`, `bench`.

    nox -s conformance                                  # the catalogue vs the reference 1.08 and 1.09
    nox -s conformance -- -t docker:IMAGE -t ref        # any qmc run options
"""

from __future__ import annotations

import nox

nox.options.sessions = ["conformance", "tests"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def conformance(session: nox.Session) -> None:
    """`qmc run` with the given options; with none, the catalogue against ref and ref:1.09."""
    session.install("-e", ".[harness]")
    session.run("qmc", "run", *session.posargs)


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
