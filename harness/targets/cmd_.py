"""`cmd:PROGRAM ARGS...`: a qmail-smtpd-like program run per session over stdin/stdout (one
end of a socketpair, as tcpserver runs qmail-smtpd), with the fixture's env, in the fixture
home. No mount namespace (unlike exec:): the program must take its home from its arguments
or env; `{home}` and `{fixtures}` in the arguments are the fixture's paths.

The fuzzer's cheapest process target (`python -m harness.fuzz --target cmd:...`): one
fork+exec per session and nothing else.
"""

from __future__ import annotations

from harness.fixtures import FIXTURES_DIR, Fixture
from harness.targets.base import PopenRunning, RefOptions, Running, Target

__all__ = ["CommandTarget"]


class CommandTarget(Target):
    kind = "cmd"

    def __init__(self, argv: list[str], *, version: str = "1.08") -> None:
        self.argv = argv
        self.spec = "cmd:" + " ".join(argv)
        self.name = self.spec
        self.ref = RefOptions(version=version)

    def smtpd(self, fx: Fixture) -> Running:
        argv = [a.replace("{home}", fx.home).replace("{fixtures}", str(FIXTURES_DIR)) for a in self.argv]
        return PopenRunning(argv, fx.env, fx.local / ".stderr", cwd=str(fx.local))
