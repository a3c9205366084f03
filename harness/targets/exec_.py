"""`exec:QMAIL_HOME`: a qmail installed on this machine, e.g. `exec:/var/qmail`.

qmail programs chdir() to their compiled-in home and read `control/` there, so the case's
home is bind-mounted over QMAIL_HOME inside a private mount namespace (unshare(1), as root)
with the install's `bin/` mounted back into it: the program sees the case's control files,
plugins and users, and the user's real files are never touched, not even read.

Options: `smtpd=PATH` and `remote=PATH` (default QMAIL_HOME/bin/qmail-smtpd and
.../qmail-remote), `version=1.09` (which reference to compare with), `no-tls` (the install
was built without TLS). Sessions run over stdin/stdout, as under tcpserver.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from harness.errors import TargetFault, TargetSpecError
from harness.fixtures import FIXTURES_DIR, Fixture
from harness.targets.base import PopenRunning, RefOptions, RemoteOutcome, Running, Target, resolv_conf

__all__ = ["ExecTarget"]

# inside the namespace: $1 = case home, $2 = qmail home; then the program and its args.
# The install's bin/ is bound at $1/.qmail-bin and linked program by program into the
# case's bin/, so a case's own bin/ programs stay visible next to the install's. Sessions
# that share one home (qmc load) may race to make the same link: the loser finds it made.
_MOUNT = ('set -e; if [ -d "$2/bin" ]; then mkdir -p "$1/bin" "$1/.qmail-bin"; '
          'mount --bind "$2/bin" "$1/.qmail-bin"; for f in "$1"/.qmail-bin/*; do n=${f##*/}; '
          '[ -e "$1/bin/$n" ] || [ -L "$1/bin/$n" ] || ln -s "$2/.qmail-bin/$n" "$1/bin/$n" 2>/dev/null '
          '|| [ -L "$1/bin/$n" ]; done; fi; '
          'mount --rbind "$1" "$2"; shift 2; exec "$@"')


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

    def start(self) -> None:
        if not self.home.is_dir():
            raise TargetSpecError(f"{self.spec}: {self.home} is not a directory; give the qmail "
                                  "home the programs were built for (e.g. exec:/var/qmail)")
        if not os.access(self.smtpd_path, os.X_OK):
            raise TargetSpecError(f"{self.spec}: {self.smtpd_path} is not an executable qmail-smtpd; "
                                  "name it with exec:HOME,smtpd=PATH")
        if os.geteuid() != 0 or not shutil.which("unshare"):
            raise TargetSpecError(f"{self.spec}: needs root and unshare(1) (util-linux) to give the "
                                  "target the case's control files in a private mount namespace")

    def place(self, local: Path) -> tuple[str, str]:
        return str(self.home), str(FIXTURES_DIR)

    def _argv(self, program: str, args: list[str], local: Path) -> list[str]:
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", _MOUNT, "sh",
                str(local), str(self.home), program, *args]

    def smtpd(self, fx: Fixture) -> Running:
        args = [a.decode("latin-1") for a in fx.args]
        return PopenRunning(self._argv(self.smtpd_path, args, fx.local), fx.env, fx.local / ".stderr")

    def remote(self, fx: Fixture, argv: list[str], message: bytes, timeout: float) -> RemoteOutcome:
        command = self._argv(self.remote_path, argv, fx.local)
        if "dns_server" in fx.extra:
            # qmail-remote asks the resolver of /etc/resolv.conf, on port 53 only: give it the
            # case's DNS server by a resolv.conf bind-mounted in the private namespace
            conf = fx.local.parent / f"{fx.local.name}.resolv.conf"
            conf.write_bytes(resolv_conf(self.spec, str(fx.extra["dns_server"])))
            command[6:8] = ['set -e; mount --bind "$1" /etc/resolv.conf; shift; ' + _MOUNT, "sh", str(conf)]
        try:
            done = subprocess.run(command, input=message,
                                  capture_output=True, timeout=timeout,
                                  env={k.encode(): v for k, v in fx.env.items()})
        except subprocess.TimeoutExpired as exc:
            raise TimeoutError(f"qmail-remote did not end within {timeout:g} s") from exc
        except OSError as exc:
            raise TargetFault(f"{self.spec}: cannot run {self.remote_path}: {exc}") from exc
        code = done.returncode
        return RemoteOutcome(stdout=done.stdout, exit=128 - code if code < 0 else code, stderr=done.stderr)
