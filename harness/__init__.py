"""The conformance harness: case -> target.start(fixture) -> session.drive() -> transcript ->
normalize() -> diff(reference, target) -> verdict -> report (ARCHITECTURE.md).

Entry points: the `qmc` command (harness/cli.py), the pytest plugin (harness/pytest_plugin.py)
and the nox sessions."""
