"""qmail-remote cases (categories 7 and 8): run `remote HOST SENDER RECIP...` against a fake
upstream relay and a fake DNS server the harness starts, and observe the report bytes, the
relay's record of the dialogue and the client's source address."""

from __future__ import annotations

from pathlib import Path

from harness.cases import Case
from harness.errors import TargetFault
from harness.fixtures import Profile
from harness.targets.base import Target
from harness.transcript import Transcript

__all__ = ["run_remote_case"]


def run_remote_case(target: Target, case: Case, profiles: dict[str, Profile], workdir: Path,
                    t: Transcript) -> None:
    raise TargetFault("qmail-remote cases are not wired into the harness yet")
