from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.resources import FIXTURES_DIR

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_BIN = FIXTURES_DIR / "bin"
# The reference's entry point, independent of where pip put the console script.
EQMAIL_REF = [sys.executable, "-m", "eqmail_ref"]


def needs_tool(name: str) -> str:
    """Path of a required external tool. In CI (CI=true) a missing tool is a failure:
    .ci/run installs it; elsewhere the test is skipped with the install hint."""
    path = shutil.which(name)
    if path:
        return path
    message = f"{name} is not installed (apt-get install ucspi-tcp / the package providing it)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def qmail_home(tmp_path: Path) -> Path:
    """A qmail home with control/me, rcpthosts and an empty smtpplugins."""
    home = tmp_path / "home"
    (home / "control").mkdir(parents=True)
    (home / "control" / "me").write_text("mx.test\n")
    (home / "control" / "rcpthosts").write_text("example.org\n")
    (home / "control" / "smtpplugins").write_text("")
    (home / "queue").mkdir()
    return home


@pytest.fixture
def capture_env(qmail_home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["QMAILQUEUE"] = str(FIXTURE_BIN / "qmail-queue-capture")
    env["QQ_CAPTURE_DIR"] = str(qmail_home / "queue")
    return env


def captured(home: Path) -> list[tuple[bytes, bytes]]:
    out = []
    for msg in sorted((home / "queue").glob("*.msg")):
        out.append((msg.read_bytes(), msg.with_suffix(".env").read_bytes()))
    return out


@contextlib.contextmanager
def running_serve(home: Path, env: dict[str, str], *args: str) -> Iterator[tuple[str, int]]:
    """A running `eqmail-ref serve` on 127.0.0.1 (port chosen by the OS); stopped after."""
    proc = subprocess.Popen(
        [*EQMAIL_REF, "serve", "--listen", "127.0.0.1:0", "--qmail-home", str(home),
         "--concurrency", "4", "--local-name", "mx.local", *args],
        env=env, stderr=subprocess.PIPE, start_new_session=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline().decode()
        assert "listening on" in line, line
        # serve logs a line per message: keep reading so its workers never block on stderr
        threading.Thread(target=proc.stderr.read, daemon=True).start()
        host, port = line.rsplit(" ", 1)[1].strip().rsplit(":", 1)
        yield host, int(port)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:  # never leave a listener behind, even on a bug
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise


@pytest.fixture
def serve_ref(qmail_home: Path, capture_env: dict[str, str]) -> Iterator[tuple[str, int]]:
    with running_serve(qmail_home, capture_env) as address:
        yield address
