"""`tcp:HOST:PORT`: an SMTP server that is already running. The harness cannot set its
control files, so only cases tagged `no-fixture` (whose verdict does not depend on them) run;
the others are reported NOT_APPLICABLE. Compared with the reference 1.08 unless
`,version=1.09` is given."""

from __future__ import annotations

import socket

from harness.errors import TargetFault
from harness.fixtures import Fixture
from harness.targets.base import RefOptions, Running, Target

__all__ = ["TcpTarget"]


class _TcpRunning(Running):
    def __init__(self, host: str, port: int) -> None:
        try:
            self.sock = socket.create_connection((host, port), timeout=10)
        except OSError as exc:
            raise TargetFault(f"cannot connect to {host}:{port}: {exc}") from exc

    def finish(self, timeout: float) -> tuple[int | None, bytes]:
        self.sock.close()
        return None, b""

    def kill(self) -> None:
        self.sock.close()


class TcpTarget(Target):
    kind = "tcp"
    controls_fixtures = False

    def __init__(self, spec: str, host: str, port: int, *, version: str = "1.08",
                 tls_build: bool = True) -> None:
        self.spec = spec
        self.name = spec
        self.host = host
        self.port = port
        self.ref = RefOptions(version=version, tls_build=tls_build)

    def start(self) -> None:
        try:
            socket.create_connection((self.host, self.port), timeout=10).close()
        except OSError as exc:
            raise TargetFault(f"{self.spec}: nothing answers at {self.host}:{self.port} ({exc}); "
                              "start the server first") from exc

    def smtpd(self, fx: Fixture) -> Running:
        return _TcpRunning(self.host, self.port)
