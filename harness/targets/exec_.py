"""`exec:QMAIL_HOME`: a qmail installed on this machine, e.g. `exec:/var/qmail`.

qmail programs chdir() to their compiled-in home and read `control/` there, so each
session sees the case's home bind-mounted over QMAIL_HOME in a private mount namespace
(as root), with the install's `bin/` mounted back into it: the program sees the case's
control files, plugins and users, and the user's real files are never touched, not even
read. A fork server set up once per target (harness/targets/exec_server.py) does that by
system calls in a forked child, then execs the program: a session costs about what the
program itself costs.

Options: `smtpd=PATH` and `remote=PATH` (default QMAIL_HOME/bin/qmail-smtpd and
.../qmail-remote), `version=1.09` (which reference to compare with), `no-tls` (the install
was built without TLS). Sessions run over stdin/stdout, as under tcpserver.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from harness.errors import TargetFault, TargetSpecError
from harness.fixtures import FIXTURES_DIR, Fixture
from harness.targets.base import RefOptions, RemoteOutcome, Running, Target, resolv_conf
from harness.targets.forks import ForkedRunning, ForkServer, run_remote_job

__all__ = ["ExecTarget"]


class ExecTarget(Target):
    kind = "exec"
    runs_remote = True

    def __init__(self, spec: str, home: str, *, smtpd: str = "", remote: str = "",
                 version: str = "1.08", tls_build: bool = True) -> None:
        self.spec = spec
        self.name = spec
        self.home = Path(home)
        self.smtpd_path = smtpd or str(self.home / "bin" / "qmail-smtpd")
        self.remote_path = remote or str(self.home / "bin" / "qmail-remote")
        self.ref = RefOptions(version=version, tls_build=tls_build)
        self.server: ForkServer | None = None

    def start(self) -> None:
        if not self.home.is_dir():
            raise TargetSpecError(f"{self.spec}: {self.home} is not a directory; give the qmail "
                                  "home the programs were built for (e.g. exec:/var/qmail)")
        if not os.access(self.smtpd_path, os.X_OK):
            raise TargetSpecError(f"{self.spec}: {self.smtpd_path} is not an executable qmail-smtpd; "
                                  "name it with exec:HOME,smtpd=PATH")
        if os.geteuid() != 0:
            raise TargetSpecError(f"{self.spec}: needs root to give the target the case's control "
                                  "files in a private mount namespace")
        if self.server is None:
            self.server = ForkServer([sys.executable, "-m", "harness.targets.exec_server",
                                      "--qmail-home", str(self.home)], self.spec)

    def stop(self) -> None:
        if self.server is not None:
            server, self.server = self.server, None
            server.close()

    def place(self, local: Path) -> tuple[str, str]:
        return str(self.home), str(FIXTURES_DIR)

    def _run(self, program: str, args: list[bytes], fx: Fixture, resolv: str = "") -> ForkedRunning:
        if self.server is None:
            raise TargetFault(f"{self.spec}: not started")
        # the exact bytes of every argument, as latin-1 text through the server's JSON
        argv = [a.decode("latin-1") for a in (os.fsencode(program), *args)]
        return ForkedRunning(self.server, argv, fx.env, fx.local / ".stderr", home=str(fx.local),
                             resolv=resolv)

    def smtpd(self, fx: Fixture) -> Running:
        return self._run(self.smtpd_path, fx.args, fx)

    def remote(self, fx: Fixture, argv: list[str], message: bytes, timeout: float) -> RemoteOutcome:
        resolv = ""
        if "dns_server" in fx.extra:
            # qmail-remote asks the resolver of /etc/resolv.conf, on port 53 only: give it the
            # case's DNS server by a resolv.conf bind-mounted in the session's namespace
            conf = fx.local.parent / f"{fx.local.name}.resolv.conf"
            conf.write_bytes(resolv_conf(self.spec, str(fx.extra["dns_server"])))
            resolv = str(conf)
        running = self._run(self.remote_path, [os.fsencode(a) for a in argv], fx, resolv)
        return run_remote_job(running, message, timeout)
