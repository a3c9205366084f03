"""Installs the reference as a qmail home: DIR/bin/qmail-smtpd and DIR/bin/qmail-remote are
small sh wrappers that run this Python's `eqmail_ref` with `--qmail-home DIR`. That is how
the `exec:` target (and a user's tcpserver run file) can drive the reference exactly like a
real install, e.g. `qmc run -t exec:/tmp/qhome`."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

__all__ = ["install_reference_home"]


def install_reference_home(home: Path, *, flags: tuple[str, ...] = ()) -> Path:
    """Write the wrappers (with extra `flags` such as --version 1.09) and return `home`."""
    (home / "bin").mkdir(parents=True, exist_ok=True)
    (home / "control").mkdir(exist_ok=True)
    python = shlex.quote(sys.executable)
    for program, command in (("qmail-smtpd", "smtpd"), ("qmail-remote", "remote")):
        extra = " ".join(shlex.quote(f) for f in flags)
        home_arg = shlex.quote(str(home))
        script = (f"#!/bin/sh\n# the reference eQmail {command}, installed by harness/targets/ref_home.py\n"
                  f"exec {python} -m eqmail_ref {command} --qmail-home {home_arg} {extra} \"$@\"\n")
        path = home / "bin" / program
        path.write_text(script)
        path.chmod(0o755)
    return home
