"""nox sessions: `nox -s conformance` (the main job), `tests`, `lint`, `bench`."""

from __future__ import annotations

import nox

nox.options.sessions = ["conformance", "tests"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def conformance(session: nox.Session) -> None:
    """Until the harness lands: the reference selfcheck (the spec's verified examples)."""
    session.install("-e", ".")
    session.run("eqmail-ref", "selfcheck", *session.posargs)


@nox.session
def tests(session: nox.Session) -> None:
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("-e", ".[test]")
    session.run("ruff", "check", "eqmail_ref", "tests")
    session.run("mypy")


@nox.session
def bench(session: nox.Session) -> None:
    session.install("-e", ".")
    session.run("python", "bench/smtp_sessions.py", *session.posargs)
