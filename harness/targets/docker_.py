"""`docker:IMAGE`: an MTA in a container image, driven through the Docker Engine API (the
`docker` SDK): Docker Engine or Podman's Docker-compatible service (harness/targets/engine.py
chooses, starts one when it is ours to start, and the target says which).

start() makes a private network (`--internal`, no DNS, a 198.18.0.0/15 subnet with a gateway
so that we reach the container; no route out) and one container on it that only waits; it
puts fixtures/bin at /qmc/fixtures/bin. Each case's home goes to /qmc/<n>. The image's labels
say which kind it is, and a probe in the container what it has (harness/targets/docker_image.py).

When the engine runs on this machine (a unix socket: harness/targets/engine.py
`on_this_machine`), a case costs no Engine API call: /qmc is a host directory of the
target's own, bind-mounted, so files move by local copies (harness/targets/docker_files.py);
the reference image's sessions are forked by `ref`'s warm fork server running in the
container (harness/targets/docker_forks.py), a qmail image's are TCP connections to the
container's one session supervisor, a tcpserver started once with the target
(harness/targets/docker_supervisor.py; the image needs tcpserver and setsid), and a case
home's sessions after its first two to a tcpserver of that home's own, in a mount namespace
made once (harness/targets/docker_case_servers.py). Otherwise (an
engine over tcp://, `api-only`, an image without tcpserver, `transport=stdio`) files move by
put_archive/get_archive when the engine is elsewhere, and each session is an exec running
the case's session script (harness/targets/docker_io.py), under a tcpserver of its own when
the image has one, else over the exec's stdin/stdout. qmail-remote jobs are forked by the
reference image's fork server, else one exec each.

Two kinds of image:
* the reference (label org.qmail-conformance.kind=eqmail-ref, `python -m harness.images build
  ref`): sessions run `eqmail-ref smtpd --qmail-home /qmc/<n>`, concurrently.
* a qmail whose programs have their home compiled in (`home=`, default /var/qmail; `smtpd=`
  and `remote=` name the programs, default HOME/bin/qmail-smtpd and HOME/bin/qmail-remote):
  each session runs in its own mount namespace where the case's home is HOME, so sessions
  stay independent and concurrent and the image's files are never changed
  (harness/targets/docker_qmail.py: the mount script, bin/, resolv.conf).

qmail-remote cases (categories 7-8) run when the harness is root on the engine's machine:
harness/targets/docker_net.py gives the container network the fake relays' and DNS
server's addresses and the container its client addresses; the reference image is told the
DNS server with --dns-server, a qmail image gets a resolv.conf naming it (docker_qmail.py).

A third kind runs its own server: `port=N` (or the image label org.qmail-conformance.port,
as the postfix, exim4 and opensmtpd images of harness/images have): the container runs the
image's own command, and each session is a TCP connection to that port, as for a tcp:
target (harness.runner.on_the_wire): the harness gives it no files, so it runs the cases of
the plain default profile, compared on the wire. For side-by-side baselines of other MTAs.

Spec options: `home=` (default: the image's org.qmail-conformance.home label, which `qmc image
--from-home` sets, else /var/qmail), `smtpd=`, `remote=`, `version=1.09`, `no-tls`,
`transport=auto|tcpserver|stdio` (auto: the fork server for the reference image on this
machine, else tcpserver when the image has one; tcpserver: never the fork server), `port=`,
`engine=podman|docker|URL` (harness/targets/engine.py: which engine, printed when the target starts),
`api-only` (archives and an exec per session, as for an engine on another machine).
"""

from __future__ import annotations

import itertools
import os
import secrets
import socket
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from harness.errors import TargetFault, TargetSpecError, reason
from harness.fixtures import FIXTURES_DIR, Fixture, scratch_dir
from harness.observe.addresses import OutgoingNet
from harness.targets.base import RefOptions, RemoteOutcome, Running, Target
from harness.targets.docker_case_servers import CaseServers
from harness.targets.docker_files import ArchiveFiles, CaseFiles, SharedFiles
from harness.targets.docker_forks import ContainerForkedRunning, ContainerForks
from harness.targets.docker_image import HOME_LABEL, KIND_LABEL, PORT_LABEL, probe
from harness.targets.docker_io import StdioRunning, TcpRunning, run_stdio_job, session_script
from harness.targets.docker_net import NoOutgoing, await_greeting, prepare, private_network
from harness.targets.docker_qmail import LINKED_BIN, bin_layout, qmail_argv, resolv_files
from harness.targets.docker_supervisor import Supervisor
from harness.targets.docker_supervisor import session_script as supervised_script
from harness.targets.engine import client, describe, on_this_machine
from harness.targets.forks import run_remote_job
from harness.targets.tcp import ServerConnection

__all__ = ["DockerTarget", "RUN_LABEL"]

RUN_LABEL = "org.qmail-conformance.run"
_SERVER_START = 90.0  # seconds an image's own server may take to greet
ROOT = "/qmc"
# waits without needing any program but sh: `read` on the never-written stdin
_KEEPER = "command -v sleep >/dev/null && exec sleep infinity; read _"


class DockerTarget(Target):
    kind = "docker"

    def __init__(self, spec: str, image: str, *, home: str = "", smtpd: str = "",
                 remote: str = "", version: str = "1.08", tls_build: bool = True,
                 transport: str = "auto", port: int = 0, engine: str = "", api_only: bool = False) -> None:
        self.spec = spec
        self.name = spec
        self.image = image
        self.home = home
        self.smtpd_path = smtpd
        self.remote_path = remote
        self.ref = RefOptions(version=version, tls_build=tls_build)
        self.transport = transport  # auto: fork server / supervisor / per-session tcpserver / stdio
        self.port = port  # > 0: the image runs its own server there (see the module text)
        self.engine_choice = engine  # podman, docker, an API URL or "" (harness/targets/engine.py)
        self.engine_text = ""
        self.api_only = api_only  # as for an engine elsewhere: no bind mount, no fork server or supervisor
        self.host_dir: Path | None = None  # bind-mounted at /qmc when the engine is on this machine
        self.files: CaseFiles | None = None
        self.supervisor: Supervisor | None = None
        self.case_servers: CaseServers | None = None  # a case home's later sessions (qmail images)
        self.forks: ContainerForks | None = None  # the reference image's fork server
        self.engine: Any = None
        self.network: Any = None
        self.container: Any = None
        self.address = ""
        self.run_id = secrets.token_hex(4)
        self.reference = False  # the image is our reference (eqmail-ref entry point)
        self.tcpserver = False
        self.tokens: dict[str, str] = {}  # case dir -> its session script's marker token
        self.dirs: dict[str, str] = {}  # local case dir -> its directory in the container
        self.serial = itertools.count(1)
        self.bin_names: list[str] = []  # the image's HOME/bin, linked into each case's bin/
        self.lock = threading.Lock()
        self.subnet = self.gateway = ""
        self.net: OutgoingNet | None = None  # set by start() when qmail-remote cases can run
        self.runs_remote = False
        self._undo_net: Any = None

    # -- bringing it up ------------------------------------------------------------------
    def start(self) -> None:
        if self.container is not None:
            return
        self.engine = client(self.engine_choice)
        # which engine, and why, before anything else: two engines may hold different images
        self.engine_text = describe(self.engine)
        print(f"qmc: {self.spec}: engine {self.engine_text}", file=sys.stderr, flush=True)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        import docker

        try:
            labels = self.engine.images.get(self.image).labels or {}
        except docker.errors.ImageNotFound:
            raise TargetSpecError(f"image {self.image} not found: build it with "
                                  "python -m harness.images build ref (local images are named "
                                  "localhost/...)") from None
        self.reference = labels.get(KIND_LABEL) == "eqmail-ref" and not self.smtpd_path
        # `qmc image --from-home` labels the image with its home (harness/images/from_home.py)
        self.home = self.home or str(labels.get(HOME_LABEL) or "/var/qmail")
        if not self.port and str(labels.get(PORT_LABEL, "")).isdigit() and not self.smtpd_path:
            self.port = int(labels[PORT_LABEL])
        self.network, self.subnet, self.gateway = private_network(
            self.engine, f"qmc-{self.run_id}-net", {RUN_LABEL: self.run_id}, self.spec)
        # the image's own command for a server image; else a keeper the sessions exec into
        own: dict[str, Any] = {} if self.port else {"entrypoint": ["/bin/sh", "-c", _KEEPER], "command": []}
        if not self.port and not self.api_only and on_this_machine(self.engine):
            # on tmpfs, as case homes are (scratch_dir): each session creates and removes its
            # stderr file, and ext4's inode allocation was 7% of a docker: fuzzing run's CPU
            self.host_dir = Path(tempfile.mkdtemp(prefix=f"qmc-{self.run_id}-", dir=scratch_dir()))
            self.host_dir.chmod(0o755)
            (self.host_dir / ".shared").write_text(self.run_id)
            own["volumes"] = {str(self.host_dir): {"bind": ROOT, "mode": "rw"}}
        try:
            self.container = self.engine.containers.run(
                self.image, **own, detach=True,
                stdin_open=True, init=True, name=f"qmc-{self.run_id}-mta", hostname="mx",
                network=self.network.name, labels={RUN_LABEL: self.run_id},
                cap_add=[] if self.reference or self.port else ["SYS_ADMIN"])
            self.container.reload()
        except docker.errors.APIError as exc:
            raise TargetFault(f"image {self.image} does not start: {exc.explanation or exc} "
                              "(the image needs /bin/sh)") from None
        if self.container.status != "running":
            logs = self.container.logs().decode("utf-8", "replace")[-2000:]
            raise TargetFault(f"image {self.image} does not start: {logs or self.container.status}")
        self.address = self.container.attrs["NetworkSettings"]["Networks"][self.network.name]["IPAddress"]
        if self.port:
            failed = await_greeting(self.address, self.port, _SERVER_START, self._alive)
            if failed:
                raise TargetFault(f"image {self.image}: {failed}; {self._gone()}")
            self.controls_fixtures = False
            self.no_remote = "an image's own server: the harness runs its SMTP listener only"
            return
        facts = self._check()
        try:
            pid = int(self.container.attrs.get("State", {}).get("Pid") or 0)
            self.net, self._undo_net = prepare(pid, self.subnet, self.gateway, self.address)
            self.runs_remote = True
        except NoOutgoing as exc:
            self.no_remote = f"qmail-remote cases do not run here: {exc}"
        if self.host_dir is not None and "shared" not in facts:
            raise TargetFault(f"{self.spec}: the engine does not show the container this machine's "
                              f"{self.host_dir} at {ROOT}; for an engine elsewhere, add the option api-only")
        self.files = (SharedFiles(self.host_dir) if self.host_dir is not None
                      else ArchiveFiles(self.container, self._api))
        # only fixtures/bin: the programs cases name as {fixtures}/bin/... (golden data stays here)
        self.files.install(FIXTURES_DIR / "bin", f"{ROOT}/fixtures/bin", [LINKED_BIN, f"{ROOT}/fixtures"])
        if self.host_dir is None:
            return
        if self.reference and self.transport == "auto" and "python3" in facts:
            label = f"{self.spec}: the reference's fork server in the container"
            self.forks = ContainerForks(self.engine, self.container, self.host_dir, ROOT, label)
        elif self.tcpserver and "setsid" in facts:
            self.supervisor = Supervisor(self.engine, self.container, self.address)
            self.case_servers = CaseServers(self.supervisor, clean="cleansh" in facts)

    def _check(self) -> set[str]:
        """What the image has (tcpserver, setsid, ...) and whether it sees our /qmc."""
        program = ("eqmail-ref" if self.reference
                   else self.smtpd_path or f"{self.home}/bin/qmail-smtpd")
        facts = probe(self.container, self.image, program=program, home=self.home, shared=(ROOT, self.run_id),
                      qmail=not self.reference, transport=self.transport, gone=self._gone)
        self.tcpserver = "tcpserver" in facts and self.transport != "stdio"
        self.bin_names = sorted(f[4:] for f in facts if f.startswith("bin:"))
        return facts

    def stop(self) -> None:
        for server in (self.case_servers, self.supervisor, self.forks):
            if server is not None:
                server.close()
        self.case_servers, self.supervisor, self.forks = None, None, None
        if self._undo_net is not None:
            self._undo_net()
            self._undo_net = None
        for thing in (self.container, self.network):
            if thing is None:
                continue
            try:
                if thing is self.container:
                    thing.remove(force=True)
                else:
                    thing.remove()
            except Exception:  # noqa: BLE001, S110 - stop never raises; leftovers are labelled
                pass
        self.container = self.network = None
        if self.files is not None:
            self.files.close()  # after the container: nothing writes there any more
            self.files = None
        elif self.host_dir is not None:  # a start that failed before the files were set up
            SharedFiles(self.host_dir).close()
        self.host_dir = None

    def describe(self) -> dict[str, str]:
        return {**super().describe(), "engine": self.engine_text or self.engine_choice or "default"}

    # -- files -------------------------------------------------------------------------------
    def _dir(self, local: Path) -> str:
        """The case's directory in the container: numbered per target, since runners reuse
        local directory names (a second run must not see the first one's queue files)."""
        with self.lock:
            if str(local) not in self.dirs:
                self.dirs[str(local)] = f"{ROOT}/{next(self.serial)}"
            return self.dirs[str(local)]

    def place(self, local: Path) -> tuple[str, str]:
        return (self._dir(local) if self.reference else self.home), f"{ROOT}/fixtures"

    def upload(self, fx: Fixture) -> None:
        """The case's home and its session script: one copy when /qmc is ours, else one archive."""
        files = self._need()
        workdir = self._dir(fx.local)
        argv = self._argv(fx, "smtpd", fx.args)
        if self.forks is not None:  # the request carries argv and env
            scripts = {}
        elif self.supervisor is not None:  # any number of sessions, each with a token of its own
            scripts = {".session": supervised_script(workdir, fx.env, argv)}
        else:
            token = secrets.token_hex(6)
            scripts = {".run": session_script(workdir, token, fx.env, argv, self.tcpserver)}
            with self.lock:
                self.tokens[workdir] = token
        links, empty = ({}, []) if self.reference else bin_layout(fx.local, self.bin_names)
        files.put_case(fx.local, workdir, scripts, links, empty)

    def download(self, fx: Fixture) -> None:
        self._need().get(self._dir(fx.local), fx.local)

    def _need(self) -> CaseFiles:
        """The target's files (a port= image has none: nothing asks for them there)."""
        if self.container is None:
            raise TargetFault(f"{self.spec}: not started")
        if self.files is None:
            raise TargetFault(f"{self.spec}: the image runs its own server; it takes no files")
        return self.files

    def _alive(self) -> bool:
        self.container.reload()
        return bool(self.container.status == "running")

    def _gone(self) -> str:
        """What the container said before it ended, for the error message."""
        try:
            self.container.reload()
            logs = self.container.logs().decode("utf-8", "replace").strip()[-2000:]
            return f"container {self.container.status}: {logs or '(no output)'}"
        except Exception as exc:  # noqa: BLE001 - removed or engine gone: say so
            return f"the container is gone ({reason(exc)})"

    def _api(self, what: str, call: Any, *args: Any) -> Any:
        """An engine call on the container; its failure is the target's fault (ERROR)."""
        try:
            return call(*args)
        except Exception as exc:  # noqa: BLE001 - the SDK raises many kinds
            raise TargetFault(f"{self.spec}: {what} failed: {reason(exc)}; {self._gone()}") from None

    # -- programs ----------------------------------------------------------------------------
    def outgoing(self) -> OutgoingNet | None:
        return self.net

    def _argv(self, fx: Fixture, program: str, args: list[bytes]) -> list[bytes]:
        dns = str(fx.extra.get("dns_server", "")) if program == "remote" else ""
        if self.reference:
            flags = ["--version", self.ref.version, "--qmail-home", fx.home]
            if not self.ref.tls_build:
                flags.append("--no-tls-build")
            if program == "smtpd":
                flags += ["--auth-sleep-scale", "0"]
            if dns:
                flags += ["--dns-server", dns]
            return [b"eqmail-ref", program.encode(), *(f.encode() for f in flags), *args]
        return qmail_argv(self._dir(fx.local), self.home, [self._program(program).encode(), *args],
                          dns=bool(dns))

    def _program(self, program: str) -> str:
        """A qmail image's qmail-smtpd or qmail-remote."""
        return (self.smtpd_path or f"{self.home}/bin/qmail-smtpd" if program == "smtpd"
                else self.remote_path or f"{self.home}/bin/qmail-remote")

    def _case_scripts(self, fx: Fixture) -> None:
        """The case home's own server (harness/targets/docker_case_servers.py) and its sessions."""
        assert self.case_servers is not None
        workdir, argv = self._dir(fx.local), [self._program("smtpd").encode(), *fx.args]
        self._need().put(workdir, self.case_servers.files(workdir, self.home, fx.env, argv))

    def _resolv(self, fx: Fixture) -> dict[str, bytes]:
        # the reference takes --dns-server (_argv)
        return {} if self.reference else resolv_files(self.spec, str(fx.extra.get("dns_server", "")))

    def _script(self, fx: Fixture, name: str, program: str, args: list[bytes], tcp: bool) -> tuple[str, str]:
        token = secrets.token_hex(6)
        workdir = self._dir(fx.local)
        script = session_script(workdir, token, fx.env, self._argv(fx, program, args), tcp)
        self._need().put(workdir, {name: script, **self._resolv(fx)})
        return f"{workdir}/{name}", token

    def smtpd(self, fx: Fixture) -> Running:
        if self.container is None:
            raise TargetFault(f"{self.spec}: not started")
        if self.port:
            where = (socket.AF_INET, (self.address, self.port))
            return ServerConnection(where, f"{self.spec} port {self.port}")
        workdir = self._dir(fx.local)
        home = self._need().host_path(workdir) if self.files is not None else None
        if self.forks is not None and home is not None:
            argv = [a.decode("latin-1") for a in self._argv(fx, "smtpd", fx.args)[1:]]
            return ContainerForkedRunning(self.forks, argv, fx.env, home / ".stderr")
        if self.case_servers is not None and home is not None:
            return self.case_servers.open(workdir, home, lambda: self._case_scripts(fx))
        with self.lock:
            token = self.tokens.get(workdir, "")  # one upload, any number of sessions (qmc load)
        if not token:
            raise TargetFault(f"{self.spec}: smtpd() before upload() of {workdir}")
        path = f"{workdir}/.run"
        args = (self.engine, self.container, path, token)
        what = "starting the session"
        running: Running = (self._api(what, TcpRunning, *args, self.address) if self.tcpserver
                            else self._api(what, StdioRunning, *args))
        return running

    def remote(self, fx: Fixture, argv: list[str], message: bytes, timeout: float) -> RemoteOutcome:
        """qmail-remote HOST SENDER RECIP... with the message on stdin; its report on stdout."""
        workdir = self._dir(fx.local)
        home = self._need().host_path(workdir)
        args = [os.fsencode(a) for a in argv]
        if self.forks is not None and home is not None:
            # the arguments as `ref` gives them (str: the server's JSON carries them as such)
            cmd = [a.decode("latin-1") for a in self._argv(fx, "remote", [])[1:]] + argv
            return run_remote_job(ContainerForkedRunning(self.forks, cmd, fx.env, home / ".stderr"),
                                  message, timeout)
        if self.supervisor is None or home is None:
            path, token = self._script(fx, ".remote", "remote", args, False)
            return run_stdio_job(StdioRunning(self.engine, self.container, path, token), message, timeout)
        script = supervised_script(workdir, fx.env, self._argv(fx, "remote", args))
        self._need().put(workdir, {".remote": script, **self._resolv(fx)})
        job = self.supervisor.open(workdir, home, "remote")
        try:
            return run_remote_job(job, message, timeout)
        finally:
            job.release()
