"""Installs the reference as a qmail home: DIR/bin/qmail-smtpd and DIR/bin/qmail-remote are
small sh wrappers that run this Python's `eqmail_ref` with `--qmail-home DIR`. That is how
the `exec:` target (and a user's tcpserver run file) can drive the reference exactly like a
real install, e.g. `qmc run -t exec:/tmp/qhome`."""

from __future__ import annotations

import shlex
import shutil
import sys
import tempfile
import zipapp
from pathlib import Path

__all__ = ["install_reference_home"]


def _zipapp(target: Path) -> Path:
    import eqmail_ref

    with tempfile.TemporaryDirectory(prefix="qmc-zipapp-") as tmp:
        shutil.copytree(Path(eqmail_ref.__file__).parent, Path(tmp) / "eqmail_ref",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        # the package's own __main__ (zipapp's main= would drop main()'s exit status)
        shutil.copy(Path(tmp) / "eqmail_ref" / "__main__.py", Path(tmp) / "__main__.py")
        zipapp.create_archive(tmp, target, interpreter="/usr/bin/python3")
    return target


def install_reference_home(home: Path, *, flags: tuple[str, ...] = (), smtpd_flags: tuple[str, ...] = (),
                           bundle: bool = False) -> Path:
    """Write the wrappers (with extra `flags` such as --version 1.09, `smtpd_flags` for
    qmail-smtpd alone, e.g. --auth-sleep-scale 0) and return `home`.
    `bundle`: a home that stands alone, as a real install does (for `qmc image --from-home`):
    the reference's package is a zipapp in HOME/bin (bin/ is the part of an image's home a
    docker: session sees beside the case's files) run by the system's /usr/bin/python3, not
    by this Python with its own site-packages."""
    (home / "bin").mkdir(parents=True, exist_ok=True)
    (home / "control").mkdir(exist_ok=True)
    python = shlex.quote(sys.executable)
    if bundle:
        python = f"/usr/bin/python3 {shlex.quote(str(_zipapp(home / 'bin' / 'eqmail-ref.pyz')))}"
    for program, command in (("qmail-smtpd", "smtpd"), ("qmail-remote", "remote")):
        extra = " ".join(shlex.quote(f) for f in (*flags, *(smtpd_flags if command == "smtpd" else ())))
        home_arg = shlex.quote(str(home))
        run = python if bundle else f"{python} -m eqmail_ref"
        script = (f"#!/bin/sh\n# the reference eQmail {command}, installed by harness/targets/ref_home.py\n"
                  f"exec {run} {command} --qmail-home {home_arg} {extra} \"$@\"\n")
        path = home / "bin" / program
        path.write_text(script)
        path.chmod(0o755)
    return home
