"""Finding the container engine: a Docker Engine API endpoint for the `docker` SDK.

DOCKER_HOST (or the Docker default socket) wins when it answers. Otherwise, when Podman is
installed, a Podman API service is started once per machine on /run/qmc-podman.sock (or
$XDG_RUNTIME_DIR/qmc-podman.sock when not root) and reused by every later run, like a
daemon: it is left running on purpose (`--time=0`), so the first run pays its start and no
run ever tears down another's engine.

The service gets its listening socket by systemd-style socket activation (LISTEN_FDS): we
bind and listen before starting it, so it is ready the moment it exists and nothing polls.
It sees the harness's containers.conf (runtime runc, ulimits that fit here), because Podman's
compat API ignores the runtime and ulimits a client asks for.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from harness.errors import TargetFault
from harness.resources import IMAGES_DIR

__all__ = ["CONTAINERS_CONF", "client", "engine_name", "is_podman", "podman_env", "podman_socket",
           "start_podman"]

CONTAINERS_CONF = IMAGES_DIR / "containers.conf"
NO_ENGINE = "no container engine: install podman or set DOCKER_HOST"


def podman_env() -> dict[str, str]:
    """The environment for every podman the harness runs (CLI or service)."""
    return {**os.environ, "CONTAINERS_CONF": os.environ.get("QMC_CONTAINERS_CONF", str(CONTAINERS_CONF))}


def podman_socket() -> Path:
    if os.geteuid() == 0:
        return Path("/run/qmc-podman.sock")
    return Path(os.environ.get("XDG_RUNTIME_DIR", "/tmp")) / "qmc-podman.sock"


def _answers(path: Path) -> bool:
    """Is something accepting connections on the unix socket `path`?"""
    probe = socket.socket(socket.AF_UNIX)
    try:
        probe.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        probe.close()


def start_podman(path: Path) -> subprocess.Popen[bytes] | None:
    """Start `podman system service` on `path` unless one answers there (under a lock, so
    two runs starting at once share one service); the process started, or None."""
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _answers(path):
            return None
        path.unlink(missing_ok=True)
        listener = socket.socket(socket.AF_UNIX)
        try:
            listener.bind(str(path))
            listener.listen(128)
            fd = listener.fileno()
            # fd 3 is where socket activation hands over the listener; LISTEN_PID must be the
            # service's own pid, which a process has before and after exec (a tiny Python
            # step, since sh cannot name fds above 9)
            handover = ("import os, sys; os.dup2(int(sys.argv[1]), 3); os.environ['LISTEN_PID'] = "
                        "str(os.getpid()); os.execvp('podman', ['podman', 'system', 'service', '--time=0'])")
            return subprocess.Popen(
                [sys.executable, "-c", handover, str(fd)],
                env={**podman_env(), "LISTEN_FDS": "1"}, pass_fds=[fd], start_new_session=True,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        finally:
            listener.close()


def client() -> Any:
    """A docker.DockerClient for the engine; sets DOCKER_HOST for this process when it starts
    Podman's service. Raises TargetFault with what to do when there is none."""
    try:
        import docker
    except ImportError:
        raise TargetFault("the docker SDK is missing: pip install 'qmail-conformance[harness]'") from None
    host = os.environ.get("DOCKER_HOST", "")
    if not host and not _answers(Path("/var/run/docker.sock")) and shutil.which("podman"):
        path = podman_socket()
        start_podman(path)
        host = os.environ["DOCKER_HOST"] = f"unix://{path}"
    try:
        engine = docker.DockerClient(base_url=host or None, timeout=120)
        engine.ping()
    except Exception as exc:  # noqa: BLE001 - the SDK raises many kinds; all mean "no engine"
        where = f" (DOCKER_HOST={host})" if host else ""
        raise TargetFault(f"{NO_ENGINE}{where}: {exc}") from None
    return engine


def engine_name(engine: Any) -> str:
    for part in engine.version().get("Components", []):
        return str(part.get("Name", ""))
    return "Docker Engine"


def is_podman(engine: Any) -> bool:
    return "podman" in engine_name(engine).lower()
