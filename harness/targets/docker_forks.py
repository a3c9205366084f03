"""The reference image's sessions at fork speed: the warm fork server of `ref`
(harness/targets/zygote.py) runs inside the container, started once with the target.

A session of the reference image costs a Python start (~75 ms here, most of it imports)
when tcpserver starts `eqmail-ref smtpd` per connection; the fork server pays it once. It
needs an engine on this machine (the bind-mounted /qmc of harness/targets/docker_files.py)
and python3 in the image: the harness listens on a SOCK_SEQPACKET socket at /qmc/.forks,
one exec runs /qmc/.zygote.py (a copy of zygote.py: the image holds eqmail_ref, not the
harness) which connects to it, and from then on each session is a request on that socket
with the session's socket, TreeWatch pipe and status pipe passed as SCM_RIGHTS, exactly as
for `ref` (harness/targets/forks.py). Unix sockets and passed descriptors cross the
container's namespaces; pids do not: the pid the server reports is the container's, so a
kill is one exec of kill(1) in the container (kills are rare), and the stderr path the
server opens is the container's name of the host file we read.
"""

from __future__ import annotations

import json
import shutil
import socket
import time
from pathlib import Path, PurePosixPath
from typing import Any

from harness.errors import TargetFault, reason
from harness.targets import zygote
from harness.targets.docker_io import ExecStream, kill_group
from harness.targets.forks import ForkedRunning, ForkServer

__all__ = ["ContainerForks", "ContainerForkedRunning"]

_START = 60.0  # seconds the server may take to import the reference and connect


class ContainerForks(ForkServer):
    """The fork server in the container; `host` is the bind-mounted /qmc on this machine."""

    def __init__(self, engine: Any, container: Any, host: Path, root: str, label: str) -> None:  # noqa: D107
        self.label = label
        self.engine, self.container, self.host, self.root = engine, container, host, root
        shutil.copyfile(zygote.__file__, host / ".zygote.py")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        listener.bind(str(host / ".forks"))
        listener.listen(1)
        listener.settimeout(_START)
        command = ["python3", f"{root}/.zygote.py", "--connect", f"{root}/.forks"]
        self.stream: ExecStream | None = None
        try:
            created = engine.api.exec_create(container.id, command, stdin=False)
            self.stream = ExecStream(engine, created["Id"], engine.api.exec_start(created["Id"], socket=True))
            self.sock, _ = listener.accept()
            self.sock.settimeout(_START)
            hello = json.loads(self.sock.recv(65536) or b'{"error": "it ended before it was ready"}')
        except Exception as exc:  # noqa: BLE001 - the SDK's errors too: all mean "it cannot serve"
            hello = {"error": f"no answer ({reason(exc)}): {self._said()}"}
        finally:
            listener.close()
            (host / ".forks").unlink(missing_ok=True)
        if "error" in hello:
            self.close()
            raise TargetFault(f"{label} cannot serve: {hello['error']}")
        self.sock.settimeout(None)

    def _said(self) -> str:
        """What the server wrote before it ended (for the error message)."""
        if self.stream is None:
            return "(not started)"
        try:
            while self.stream.frame(time.monotonic() + 5) is not None:
                pass
        except (TimeoutError, OSError):
            pass
        return (self.stream.stderr + self.stream.stdout).decode("utf-8", "replace")[-800:] or "(nothing)"

    def spawn(self, argv: list[str], env: dict[str, bytes], stderr: Path, session: int, tree: int,
              **extra: str) -> int:
        inside = PurePosixPath(self.root, *stderr.relative_to(self.host).parts)
        return super().spawn(argv, env, Path(inside), session, tree, **extra)

    def close(self) -> None:
        """EOF on the control socket: the server kills what still runs and ends."""
        for thing in (getattr(self, "sock", None), self.stream):
            if thing is not None:
                thing.close()


class ContainerForkedRunning(ForkedRunning):
    """A session forked in the container: stderr read from the host side of /qmc, killed
    by the container's pid."""

    def __init__(self, server: ContainerForks, argv: list[str], env: dict[str, bytes], stderr: Path) -> None:
        super().__init__(server, argv, env, stderr)
        self.forks = server

    def kill(self) -> None:
        try:
            pid = self._read(b"P", 10)
        except (TimeoutError, TargetFault):
            return
        kill_group(self.forks.engine, self.forks.container, pid)
        try:
            self._read(b"S", 10)
        except (TimeoutError, TargetFault):
            pass
