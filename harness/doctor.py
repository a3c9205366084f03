"""`qmc doctor -t SPEC`: what a target needs, checked before a run, each missing piece said
with how to get it (ARCHITECTURE.md, house rule 3: a harness error says what to do next).

Each check is a small function returning one `Finding`. BLOCKING findings make `qmc run`
refuse (exit 2) with the same words before it starts anything; WARNING findings are printed
and the run goes on (a few cases will fail or be NOT_APPLICABLE, and the warning says which).

    target kind   checks
    ref           openssl CLI, privileged ports on the loopback observer addresses
    exec:HOME     root, unshare and mount, HOME's programs and control/, openssl CLI, ports
    docker:IMAGE  the engine answers, Podman's network backend, the image and its tools
    tcp:, golden: nothing to check beforehand
"""

from __future__ import annotations

import enum
import errno
import os
import shlex
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import TargetFault
from harness.observe.addresses import AddressPool, LoopbackPool
from harness.targets import parse_spec

__all__ = ["Status", "Finding", "check_openssl_cli", "check_root", "check_host_tools", "check_exec_home",
           "check_ports", "check_engine", "check_network_backend", "check_image", "checks_for", "diagnose",
           "blocking", "format_finding", "CRAM_CASES", "IMAGE_TOOLS"]

# the cases whose CRAM-MD5 checkpassword stub (fixtures/bin/checkpassword-stub) runs `openssl`
CRAM_CASES = "4.3.1, 4.3.7 and 5.3.13"
# what a qmail image needs for the harness's session script (harness/targets/docker_io.py);
# tcpserver is optional: without it the session runs over the exec's stdin/stdout
IMAGE_TOOLS = ("env", "unshare", "mount")
# the ports real qmail-remote insists on (spec §6): relays on 25 and 465, the resolver on 53
PORTS = ((socket.SOCK_STREAM, 25, "25/tcp"), (socket.SOCK_STREAM, 465, "465/tcp"),
         (socket.SOCK_DGRAM, 53, "53/udp"))


class Status(enum.Enum):
    OK = "ok"
    WARNING = "warning"
    BLOCKING = "missing"


@dataclass(frozen=True, kw_only=True)
class Finding:
    check: str
    status: Status
    message: str
    fix: str = ""


def _ok(check: str, message: str) -> Finding:
    return Finding(check=check, status=Status.OK, message=message)


def check_openssl_cli(path: str | None = None) -> Finding:
    found = shutil.which("openssl", path=path)
    if found:
        return _ok("openssl", f"openssl CLI: {found}")
    return Finding(check="openssl", status=Status.WARNING,
                   message=f"no openssl CLI on the PATH: the CRAM-MD5 checkpassword stub needs it, so cases "
                           f"{CRAM_CASES} will fail with 535",
                   fix="install openssl (Debian: apt-get install openssl)")


def check_root(spec: str, euid: int | None = None) -> Finding:
    if (os.geteuid() if euid is None else euid) == 0:
        return _ok("root", "running as root")
    return Finding(check="root", status=Status.BLOCKING,
                   message=f"{spec}: not root: each session runs in a private mount namespace (unshare -m) "
                           "where the case's home is bind-mounted over the install's",
                   fix="run qmc as root (sudo qmc ...)")


def check_host_tools(spec: str, tools: Iterable[str] = ("unshare", "mount"),
                     path: str | None = None) -> Finding:
    missing = [t for t in tools if not shutil.which(t, path=path)]
    if not missing:
        return _ok("tools", f"{', '.join(tools)} found")
    return Finding(check="tools", status=Status.BLOCKING,
                   message=f"{spec}: {', '.join(missing)} not found on the PATH",
                   fix="install util-linux and mount (Debian: apt-get install util-linux mount)")


def check_exec_home(spec: str, home: Path, smtpd: str = "", remote: str = "") -> Finding:
    """The install: an executable qmail-smtpd (HOME/bin/ or smtpd=) blocks; no control/ or no
    qmail-remote only warns (the case's home, control/ included, is mounted over HOME)."""
    where = f"{spec}: {home}"
    if not home.is_dir():
        return Finding(check="home", status=Status.BLOCKING, message=f"{where} is not a directory",
                       fix="name the qmail home of your install, e.g. exec:/var/qmail")
    program = Path(smtpd or home / "bin" / "qmail-smtpd")
    if not os.access(program, os.X_OK):
        lack = "has no bin/" if not smtpd and not (home / "bin").is_dir() else f"has no executable {program}"
        return Finding(check="home", status=Status.BLOCKING, message=f"{where} {lack}: not a qmail home",
                       fix="name the directory that holds bin/qmail-smtpd (exec:/var/qmail), or the program: "
                           "exec:HOME,smtpd=PATH")
    if not (home / "control").is_dir():
        return Finding(check="home", status=Status.WARNING,
                       message=f"{where} has no control/: is it the home {program.name} was compiled with?",
                       fix="name the qmail home your programs read control/ from")
    remote_program = Path(remote or home / "bin" / "qmail-remote")
    if not os.access(remote_program, os.X_OK):
        return Finding(check="home", status=Status.WARNING,
                       message=f"{where}: no executable {remote_program}: the qmail-remote cases "
                               "(7.*, 8.*) will be ERROR",
                       fix="name it (exec:HOME,remote=PATH) or run --cases '[1-69].*'")
    return _ok("home", f"{where}: control/, {program} and {remote_program}")


def check_ports(pool: AddressPool | None = None) -> Finding:
    """Ports 25, 465 (TCP) and 53 (UDP) on one of the loopback addresses the qmail-remote
    cases' fake relays and DNS listen on (harness/observe/addresses.py)."""
    pool = pool or LoopbackPool()
    address = pool.take()
    refused: list[str] = []
    for kind, port, name in PORTS:
        with socket.socket(socket.AF_INET, kind) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((address, port))
            except PermissionError:
                refused.append(f"{name} (no privilege)")
            except OSError as exc:
                refused.append(f"{name} ({errno.errorcode.get(exc.errno or 0, exc)})")
    if not refused:
        return _ok("ports", f"ports 25, 465 and 53 bindable on {address}")
    return Finding(check="ports", status=Status.WARNING,
                   message=f"cannot bind {', '.join(refused)} on {address}: qmail-remote cases (7.*, 8.*) "
                           "that need the real ports will not be comparable",
                   fix="run as root (or grant CAP_NET_BIND_SERVICE); check that 127.0.0.0/8 is on lo")


def check_engine(choice: str = "") -> tuple[Finding, Any]:
    """The engine a docker: target would use (`engine=`, else harness/targets/engine.py's
    choice) answers."""
    from harness.targets.engine import client, engine_name

    try:
        engine = client(choice)
    except TargetFault as exc:
        return Finding(check="engine", status=Status.BLOCKING, message=str(exc),
                       fix="install podman (Debian: apt-get install podman runc), or set DOCKER_HOST "
                           "to a Docker Engine"), None
    return _ok("engine", f"container engine: {engine_name(engine)}"), engine


def check_network_backend(engine: Any) -> Finding:
    """Podman with the CNI backend and no CNI plugins cannot make the harness's networks."""
    from harness.targets.engine import CONTAINERS_CONF, is_podman, podman_env

    if not is_podman(engine) or not shutil.which("podman"):
        return _ok("network", "network backend: the engine's own")
    done = subprocess.run(["podman", "info", "--format", "{{.Host.NetworkBackend}}"], env=podman_env(),
                          capture_output=True, text=True, timeout=60)
    backend = done.stdout.strip()
    plugins = any(Path(d, "bridge").exists() for d in ("/usr/lib/cni", "/opt/cni/bin", "/usr/libexec/cni"))
    if done.returncode == 0 and (backend == "netavark" or plugins):
        return _ok("network", f"podman network backend: {backend}")
    return Finding(check="network", status=Status.BLOCKING,
                   message=f"podman's network backend is {backend or 'unknown'!r} without its plugins "
                           f"({done.stderr.strip()[:200]})",
                   fix=f"install netavark (apt-get install netavark) and use "
                       f"CONTAINERS_CONF={CONTAINERS_CONF}")


def _run_once(engine: Any, image: str, script: str, timeout: float = 60.0) -> bytes:
    """`/bin/sh -c script` in a container of `image`: its stdout. Not containers.run(): it
    follows the container's log, and on Podman 4.3 that stream of a container that ended at
    once twice never ended (the doctor, so `qmc run`, hung for good: bench/README.md,
    docker:). A wait with a deadline, then the log as it is, cannot hang."""
    container = engine.containers.create(image, ["-c", script], entrypoint=["/bin/sh"], network_disabled=True)
    try:
        container.start()
        container.wait(timeout=timeout)
        return bytes(container.logs(stdout=True, stderr=False))
    finally:
        container.remove(force=True)


def check_image(engine: Any, spec: str, image: str, options: dict[str, str]) -> Finding:
    """The image exists and has /bin/sh; a qmail image also env, unshare and mount (and openssl
    for the CRAM-MD5 stub); an image that runs its own server (`port=`) needs nothing."""
    from harness.targets.docker_image import HOME_LABEL, KIND_LABEL, PORT_LABEL

    try:
        labels = engine.images.get(image).labels or {}
    except Exception as exc:  # noqa: BLE001 - the SDK's NotFound and API errors alike
        return Finding(check="image", status=Status.BLOCKING, message=f"{spec}: no image {image} ({exc})",
                       fix=f"build it (python -m harness.images build NAME for the project's images) "
                           f"or pull it (podman pull {image})")
    if "port" in options or PORT_LABEL in labels:
        return _ok("image", f"{spec}: runs its own server")
    # `command -v` of a missing tool is 127 in dash: the script itself always ends 0
    # the home as the docker: target takes it: home=, else the image's label (qmc image), else
    # qmail's own default
    home = options.get("home") or labels.get(HOME_LABEL) or "/var/qmail"
    smtpd = options.get("smtpd") or f"{home}/bin/qmail-smtpd"
    script = ("for t in sh " + " ".join((*IMAGE_TOOLS, "openssl", "tcpserver")) +
              "; do command -v $t >/dev/null 2>&1 && echo $t; done; "
              f"[ -x {shlex.quote(smtpd)} ] && echo smtpd; exit 0")
    try:
        out = _run_once(engine, image, script)
    except Exception as exc:  # noqa: BLE001 - a missing /bin/sh shows as an API error
        return Finding(check="image", status=Status.BLOCKING,
                       message=f"{spec}: /bin/sh does not run in {image} ({str(exc)[:200]})",
                       fix="the harness drives every session through /bin/sh: base the image on one with it")
    found = set(out.decode(errors="replace").split())
    needed = (*IMAGE_TOOLS, "smtpd") if labels.get(KIND_LABEL) != "eqmail-ref" else ()
    missing = [t if t != "smtpd" else smtpd for t in needed if t not in found]
    if missing:
        return Finding(check="image", status=Status.BLOCKING,
                       message=f"{spec}: {image} lacks {', '.join(missing)} (each session bind-mounts the "
                               "case's home over HOME in a mount namespace of its own)",
                       fix="install them in the image (Debian: util-linux, mount, coreutils), or name "
                           "the MTA's home and program: docker:IMAGE,home=DIR,smtpd=PATH")
    if "openssl" not in found:
        return Finding(check="image", status=Status.WARNING,
                       message=f"{spec}: {image} has no openssl: the CRAM-MD5 checkpassword stub needs "
                               f"it, so cases {CRAM_CASES} will fail with 535",
                       fix="install openssl in the image")
    extra = "" if "tcpserver" in found else " (no tcpserver: sessions run over the exec's stdin/stdout)"
    return _ok("image", f"{spec}: {image} has {', '.join(sorted(found - {'smtpd'}))}{extra}")


def checks_for(spec: str) -> list[Callable[[], Finding]]:
    """The checks a target of this spec needs, in the order they are worth reading."""
    kind, arg, options = parse_spec(spec)
    if kind == "ref":
        return [check_openssl_cli, check_ports]
    if kind == "exec":
        return [lambda: check_root(spec), lambda: check_host_tools(spec),
                lambda: check_exec_home(spec, Path(arg), options.get("smtpd", ""), options.get("remote", "")),
                check_openssl_cli, check_ports]
    if kind == "docker":
        return [lambda: _docker(spec, arg, options)]
    return []


def _docker(spec: str, image: str, options: dict[str, str]) -> Finding:
    engine_finding, engine = check_engine(options.get("engine", ""))
    if engine is None:
        return engine_finding
    network = check_network_backend(engine)
    return network if network.status is not Status.OK else check_image(engine, spec, image, options)


def diagnose(specs: Iterable[str]) -> list[Finding]:
    """Every check of every target, each shared check (openssl, ports) once."""
    findings: list[Finding] = []
    done: set[Callable[[], Finding]] = set()
    for spec in specs:
        for check in checks_for(spec):
            if check not in done:
                done.add(check)
                findings.append(check())
    return findings


def blocking(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if f.status is Status.BLOCKING]


def format_finding(finding: Finding) -> str:
    fix = f"\n           fix: {finding.fix}" if finding.fix and finding.status is not Status.OK else ""
    return f"{finding.status.value:<9}  {finding.message}{fix}"
