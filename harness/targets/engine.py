"""Finding the container engine: a Docker Engine API endpoint for the `docker` SDK.

The user chooses with `engine=` on the target (`docker:IMAGE,engine=podman|docker|URL`) or
$QMC_ENGINE; without a choice DOCKER_HOST wins, then the Docker default socket when it
answers, then Podman, then a Docker Engine of our own. The target prints which one it uses
and why, and the report's run header names it: a dockerd on a socket of its own is never
passed over in silence.

Podman: its API service is started once per machine on /run/qmc-podman-CONF.sock (or
$XDG_RUNTIME_DIR/... when not root; CONF: a hash of its containers.conf) and reused by every later run, like a
daemon: it is left running on purpose (`--time=0`), so the first run pays its start and no
run ever tears down another's engine. It sees the harness's containers.conf (runtime runc,
ulimits that fit here), because Podman's compat API ignores the runtime and ulimits a client
asks for. Docker (`engine=docker` with nothing on /var/run/docker.sock): Debian's dockerd is
started the same way on /run/qmc-dockerd.sock, its store under /var/lib/qmc-dockerd.

Both get their listening socket by systemd-style socket activation (LISTEN_FDS): we bind and
listen before starting the service, so it is ready the moment it exists and nothing polls.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import TargetFault, TargetSpecError
from harness.resources import IMAGES_DIR

__all__ = ["CONTAINERS_CONF", "ENGINE_ENV", "EngineChoice", "choose", "client", "describe", "dockerd_socket",
           "engine_name", "is_podman", "on_this_machine", "podman_env", "podman_socket", "start_dockerd",
           "start_podman"]

CONTAINERS_CONF = IMAGES_DIR / "containers.conf"
NO_ENGINE = "no container engine: install podman or set DOCKER_HOST"
ENGINE_ENV = "QMC_ENGINE"
DOCKER_DEFAULT = Path("/var/run/docker.sock")
DOCKERD_ROOT = Path("/var/lib/qmc-dockerd")


def podman_env() -> dict[str, str]:
    """The environment for every podman the harness runs (CLI or service)."""
    return {**os.environ, "CONTAINERS_CONF": os.environ.get("QMC_CONTAINERS_CONF", str(CONTAINERS_CONF))}


def podman_socket() -> Path:
    """The service's socket, named after its containers.conf: a service started with another
    configuration (an older harness's) is not reused, since the service reads it only once."""
    conf = Path(podman_env()["CONTAINERS_CONF"])
    try:
        tag = hashlib.sha256(conf.read_bytes()).hexdigest()[:8]
    except OSError:
        tag = "noconf"
    name = f"qmc-podman-{tag}.sock"
    if os.geteuid() == 0:
        return Path("/run") / name
    return Path(os.environ.get("XDG_RUNTIME_DIR", "/tmp")) / name


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
    """Start `podman system service` on `path` unless one answers there; the process started,
    or None."""
    return _activated(path, ["podman", "system", "service", "--time=0"], podman_env(), subprocess.DEVNULL)


def dockerd_socket() -> Path:
    return Path("/run/qmc-dockerd.sock")


def start_dockerd(path: Path, data_root: Path = DOCKERD_ROOT) -> subprocess.Popen[bytes] | None:
    """Start a Docker Engine (Debian's docker.io: dockerd with its own containerd) on `path`
    unless one answers there: the same socket activation as Podman's service (dockerd's
    `-H fd://`), its images and containers under `data_root`, no default bridge (the harness
    makes its own networks). Left running, like Podman's service. Needs root."""
    if os.geteuid() != 0:
        raise TargetFault("a Docker Engine of the harness's own needs root: run as root, or start "
                          "dockerd yourself and set DOCKER_HOST (or engine=unix:///PATH.sock)")
    if not shutil.which("dockerd"):
        raise TargetFault("dockerd is missing: apt-get install docker.io (or use engine=podman)")
    data_root.mkdir(parents=True, exist_ok=True)
    argv = ["dockerd", "-H", "fd://", "--data-root", str(data_root), "--exec-root",
            str(path.with_suffix(".d")), "--pidfile", str(path.with_suffix(".pid")), "--bridge", "none"]
    with open(data_root / "dockerd.log", "ab") as log:
        return _activated(path, argv, os.environ.copy(), log.fileno())


def _activated(path: Path, argv: list[str], env: dict[str, str], log: int) -> subprocess.Popen[bytes] | None:
    """Start `argv` as a socket-activated service on `path` unless one answers there (under a
    lock, so two runs starting at once share one service); the process started, or None."""
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
                        "str(os.getpid()); os.execvp(sys.argv[2], sys.argv[2:])")
            return subprocess.Popen(
                [sys.executable, "-c", handover, str(fd), *argv],
                env={**env, "LISTEN_FDS": "1"}, pass_fds=[fd], start_new_session=True,
                stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        finally:
            listener.close()


@dataclass(frozen=True, kw_only=True)
class EngineChoice:
    """Where the engine's API is, and why that one (printed, so that nobody is surprised)."""

    url: str
    why: str


def choose(choice: str = "") -> EngineChoice:
    """The engine for `choice` (podman, docker or an API URL; empty: $QMC_ENGINE, then
    DOCKER_HOST, then the Docker default socket, then Podman, then a dockerd of our own),
    started when it is ours to start."""
    choice = choice or os.environ.get(ENGINE_ENV, "")
    how = f"engine={choice}" if choice else ""
    if choice == "podman":
        if not shutil.which("podman"):
            raise TargetFault("podman is missing: apt-get install podman runc (or use engine=docker)")
        start_podman(podman_socket())
        return EngineChoice(url=f"unix://{podman_socket()}", why=how)
    if choice == "docker":
        if _answers(DOCKER_DEFAULT):
            return EngineChoice(url=f"unix://{DOCKER_DEFAULT}", why=f"{how}, the default socket")
        start_dockerd(dockerd_socket())
        return EngineChoice(url=f"unix://{dockerd_socket()}", why=f"{how}, the harness's own dockerd")
    if "://" in choice:
        return EngineChoice(url=choice, why=how)
    if choice:
        raise TargetSpecError(f"engine {choice!r}: podman, docker or an API URL "
                              "(unix:///run/docker.sock, tcp://HOST:2375)")
    if os.environ.get("DOCKER_HOST"):
        return EngineChoice(url=os.environ["DOCKER_HOST"], why="DOCKER_HOST")
    if _answers(DOCKER_DEFAULT):
        return EngineChoice(url=f"unix://{DOCKER_DEFAULT}", why="the Docker default socket answers")
    if shutil.which("podman"):
        start_podman(podman_socket())
        return EngineChoice(url=f"unix://{podman_socket()}",
                            why=f"no DOCKER_HOST, nothing on {DOCKER_DEFAULT}, podman installed")
    if shutil.which("dockerd") and os.geteuid() == 0:
        start_dockerd(dockerd_socket())
        return EngineChoice(url=f"unix://{dockerd_socket()}",
                            why=f"no DOCKER_HOST, nothing on {DOCKER_DEFAULT}, dockerd installed")
    raise TargetFault(NO_ENGINE)


def client(choice: str = "") -> Any:
    """A docker.DockerClient for the engine `choice` names (see choose()); its `qmc_choice`
    says where and why. Raises TargetFault with what to do when there is none."""
    try:
        import docker
    except ImportError:
        raise TargetFault("the docker SDK is missing: pip install 'qmail-conformance[harness]'") from None
    where = choose(choice)
    try:
        engine: Any = docker.DockerClient(base_url=where.url, timeout=120)
        engine.ping()
    except Exception as exc:  # noqa: BLE001 - the SDK raises many kinds; all mean "no engine"
        raise TargetFault(f"{NO_ENGINE} ({where.url}, chosen by {where.why}): {exc}") from None
    engine.qmc_choice = where
    return engine


def describe(engine: Any) -> str:
    """E.g. 'Docker Engine 20.10.24 at unix:///run/qmc-dockerd.sock (engine=docker)'."""
    version = engine.version()
    where: EngineChoice | None = getattr(engine, "qmc_choice", None)
    url = where.url if where else engine.api.base_url
    why = f" ({where.why})" if where and where.why else ""
    return f"{engine_name(engine)} {version.get('Version', '?')} at {url}{why}"


def engine_name(engine: Any) -> str:
    for part in engine.version().get("Components", []):
        name = str(part.get("Name", ""))
        return "Docker Engine" if name == "Engine" else name  # dockerd calls itself "Engine"
    return "Docker Engine"


def is_podman(engine: Any) -> bool:
    return "podman" in engine_name(engine).lower()


def on_this_machine(engine: Any) -> bool:
    """Does the engine run on this machine, sharing our filesystem (a unix socket: Podman's
    service or a dockerd here)? Then a docker: target bind-mounts a directory of ours instead
    of moving files by archive, and runs its sessions under one supervisor
    (harness/targets/docker_files.py, docker_supervisor.py). An engine over tcp:// may be
    anywhere: it gets the API-only path. The target checks the claim in the container."""
    where: EngineChoice | None = getattr(engine, "qmc_choice", None)
    url = where.url if where else str(engine.api.base_url)
    return url.startswith("unix://") or url == "http+docker://localhost"
