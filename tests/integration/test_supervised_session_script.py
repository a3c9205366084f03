"""The session script of a `docker:` supervisor or case server
(harness/targets/docker_supervisor.py session_script), run by this machine's /bin/sh with
what a case server's session inherits (tcpserver's variables, PATH; sh adds PWD): the
program gets exactly the case's environment, from sh builtins on the clean path and from
env -i where sh cannot set it (a name sh cannot export, a program named without its path),
and the markers say its pid and its exit status."""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.targets.docker_supervisor import INHERITED, session_script

ENV = shutil.which("env") or "/usr/bin/env"
# what tcpserver and the case server's start give each session (docker_case_servers.case_script)
STARTED = {name.decode(): "inherited" for name in INHERITED.split()} | {"PATH": "/usr/bin:/bin"}


def _run(tmp_path: Path, env: dict[str, bytes], argv: list[bytes], *, clean: bool) -> tuple[dict[str, str], str]:
    """(the environment the program printed, the markers) of one session."""
    script = tmp_path / ".inner"
    script.write_bytes(session_script(str(tmp_path), env, argv, clean=clean))
    token = secrets.token_hex(6)
    done = subprocess.run(["/bin/sh", str(script), token], env=STARTED, stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=30, check=True, cwd=tmp_path)
    printed = dict(line.split("=", 1) for line in done.stdout.decode().split("\0") if line)
    markers = re.sub(token, "T", done.stderr.decode())
    return printed, markers


@pytest.mark.parametrize(("env", "program", "clean"), [
    ({"A": b"1", "TCPREMOTEIP": b"1.2.3.4", "IFS": b"x"}, ENV, True),  # builtins; IFS does not upset the script
    ({"A": b"1", "TCPREMOTEIP": b"1.2.3.4"}, ENV, False),  # env -i
    ({"A.B": b"1", "C": b"two words"}, ENV, True),  # a name sh cannot export: env -i
    ({"PATH": b"/usr/bin:/bin", "A": b"1"}, "env", True),  # found through the case's PATH: env -i
    ({}, ENV, True),  # nothing at all
])
def test_the_program_gets_the_cases_environment_and_nothing_more(tmp_path: Path, env: dict[str, bytes],
                                                                 program: str, clean: bool) -> None:
    printed, markers = _run(tmp_path, env, [program.encode(), b"-0"], clean=clean)
    assert printed == {name: value.decode() for name, value in env.items()}
    assert re.fullmatch(r"QMC-PID-T \d+\nQMC-EXIT-T 0\nQMC-TREE-T\n", markers), markers


def test_a_failing_program_says_its_status(tmp_path: Path) -> None:
    _, markers = _run(tmp_path, {"A": b"1"}, [b"/bin/sh", b"-c", b"exit 7"], clean=True)
    assert "QMC-EXIT-T 7\n" in markers
