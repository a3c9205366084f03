"""`ref` / `ref:1.09`: the bundled reference eQmail. Each session is a real process (forked
by the warm zygote, harness/targets/zygote.py) running `eqmail-ref smtpd` on the case's
home, exactly as tcpserver would run it; qmail-remote jobs run `eqmail-ref remote`.

Options (spec `ref:1.09,no-tls,auth-sleep=5`): the version; `no-tls` (an eQmail built
without TLS: no STARTTLS); `auth-sleep=S` the pause after a failed AUTH in seconds (real
eQmail's is 5, spec §2.9; default 0 here: the pause changes timing, never bytes).
"""

from __future__ import annotations

import sys

from eqmail_ref.auth import AUTH_SLEEP
from harness.errors import TargetFault
from harness.fixtures import Fixture
from harness.targets.base import RefOptions, RemoteOutcome, Running, Target
from harness.targets.forks import ForkedRunning, ForkServer, run_remote_job

__all__ = ["RefTarget"]


class RefTarget(Target):
    kind = "ref"
    runs_remote = True

    def __init__(self, spec: str, version: str = "1.08", tls_build: bool = True,
                 auth_sleep: float = 0.0) -> None:
        self.spec = spec
        self.name = spec
        self.ref = RefOptions(version=version, tls_build=tls_build)
        self.auth_sleep = auth_sleep
        self.zygote: ForkServer | None = None

    def start(self) -> None:
        if self.zygote is None:
            self.zygote = ForkServer([sys.executable, "-m", "harness.targets.zygote"], self.name)

    def stop(self) -> None:
        if self.zygote is not None:
            zygote, self.zygote = self.zygote, None
            zygote.close()

    def _flags(self) -> list[str]:
        flags = ["--version", self.ref.version]
        return flags if self.ref.tls_build else [*flags, "--no-tls-build"]

    def smtpd(self, fx: Fixture) -> Running:
        if self.zygote is None:
            raise TargetFault(f"{self.name}: not started")
        scale = self.auth_sleep / AUTH_SLEEP  # the program scales its own 5 s
        argv = ["smtpd", *self._flags(), "--auth-sleep-scale", repr(scale),
                "--qmail-home", fx.home, *(a.decode("latin-1") for a in fx.args)]
        return ForkedRunning(self.zygote, argv, fx.env, fx.local / ".stderr")

    def remote(self, fx: Fixture, argv: list[str], message: bytes, timeout: float) -> RemoteOutcome:
        """`eqmail-ref remote` forked by the zygote (a fresh Python would cost ~0.4 s per
        case)."""
        if self.zygote is None:
            raise TargetFault(f"{self.name}: not started")
        dns = ["--dns-server", fx.extra["dns_server"]] if "dns_server" in fx.extra else []
        cmd = ["remote", *self._flags(), *dns, "--qmail-home", fx.home, "--", *argv]
        return run_remote_job(ForkedRunning(self.zygote, cmd, fx.env, fx.local / ".stderr"), message, timeout)
