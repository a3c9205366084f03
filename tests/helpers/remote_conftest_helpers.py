"""Helpers for the qmail-remote tests: an in-memory driver for the sans-IO core, control
homes, and a runner for the reference's `remote` entry point."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from eqmail_ref.effects import Close, Effect, Log
from eqmail_ref.remote.delivery import Job, RemoteDelivery
from eqmail_ref.remote.requests import (
    DNS_HARD,
    DNS_OK,
    T_A,
    T_MX,
    Connect,
    Connected,
    Disconnect,
    DnsAnswer,
    DnsQuery,
    DnsRecord,
    Report,
    TlsHandshake,
    TlsOutcome,
    TlsPrepare,
    TlsPrepared,
    Write,
)
from eqmail_ref.remote.snapshot import RemoteControls
from eqmail_ref.remote.switches import RemoteSwitches, remote_switches
from eqmail_ref.versions import VERSIONS
from tests.conftest import EQMAIL_REF

# `eqmail-ref remote` as users run it (cli.py hands it to eqmail_ref.shell.remote_main)
REMOTE_MAIN = [*EQMAIL_REF, "remote"]

LOCALHOST = b"\x7f\x00\x00\x01"
NXDOMAIN = DnsAnswer(status=DNS_HARD)


def a(*ips: str) -> DnsAnswer:
    return DnsAnswer(status=DNS_OK, records=tuple(
        DnsRecord(rtype=T_A, data=bytes(int(o) for o in ip.split("."))) for ip in ips))


def mx(*pairs: tuple[int, str]) -> DnsAnswer:
    return DnsAnswer(status=DNS_OK, records=tuple(
        DnsRecord(rtype=T_MX, data=name.encode(), pref=pref) for pref, name in pairs))


def switches(version: str = "1.08", **kw: object) -> RemoteSwitches:
    return remote_switches(VERSIONS[version], **kw)  # type: ignore[arg-type]


@dataclass
class Run:
    """What the core did: bytes written per connection, the report, the requests."""
    sent: list[bytearray] = field(default_factory=list)
    report: bytes = b""
    requests: list[object] = field(default_factory=list)
    connects: list[Connect] = field(default_factory=list)
    logs: list[bytes] = field(default_factory=list)

    @property
    def wire(self) -> bytes:
        return bytes(self.sent[-1]) if self.sent else b""


def drive(*, servers: Iterable[bytes] = (), host: bytes = b"x.example", sender: bytes = b"s@y.org",
          recipients: tuple[bytes, ...] = (b"r@x.example",), message: bytes = b"Subject: x\n\nhi\n",
          controls: RemoteControls | None = None, sw: RemoteSwitches | None = None,
          dns: Mapping[tuple[bytes, int], DnsAnswer] | None = None,
          refuse: frozenset[bytes] = frozenset(), ipme: frozenset[bytes] = frozenset({LOCALHOST}),
          tls: Callable[[object], object] | None = None, mode: str = "whole",
          fail_write: int | None = None, seed: int = 0) -> Run:
    """Run the core against scripted servers (one byte string per connection, all its
    replies; the connection closes after them), scripted DNS and connect outcomes. A
    missing DNS entry answers NXDOMAIN. `fail_write`: the n-th Write (0-based) fails."""
    controls = controls or RemoteControls(helohost=b"mx.test")
    core = RemoteDelivery(job=Job(host=host, sender=sender, recipients=recipients, message=message),
                          controls=controls, switches=sw or switches(), ipme=ipme, seed=seed)
    scripts = iter(servers)
    run = Run()
    writes = 0
    pending_server: list[bytes] = []
    effects: list[Effect] = core.start()
    while True:
        for e in effects:
            if isinstance(e, Report):
                run.report += e.data
            elif isinstance(e, Log):
                run.logs.append(e.line)
            elif isinstance(e, Disconnect):
                pass
            elif isinstance(e, Close):
                assert core.done
                return run
        if core.pending is not None:
            request = core.pending
            run.requests.append(request)
            answer: object
            if isinstance(request, DnsQuery):
                answer = (dns or {}).get((request.name, request.rtype), NXDOMAIN)
            elif isinstance(request, Connect):
                run.connects.append(request)
                answer = Connected(ok=request.ip not in refuse)
                if request.ip not in refuse:
                    script = next(scripts)
                    stream = [script] if mode == "whole" else [script[i : i + 1] for i in range(len(script))]
                    pending_server = [*stream, b""]
                    run.sent.append(bytearray())
            elif isinstance(request, Write):
                answer = writes != fail_write
                writes += 1
                if answer:
                    run.sent[-1] += request.data
            elif isinstance(request, (TlsPrepare, TlsHandshake)):
                assert tls is not None, request
                answer = tls(request)
            else:
                raise AssertionError(request)
            effects = core.resolve(answer)
            continue
        assert core.wants_input, "the core neither asks nor waits"
        effects = core.receive(pending_server.pop(0)) if pending_server else core.timeout()


def tls_ok(request: object) -> object:
    if isinstance(request, TlsPrepare):
        return TlsPrepared(ok=True)
    return TlsOutcome(ok=True, san_dns=(b"mx.x.example",), common_name=b"mx.x.example")


def make_home(root: Path, files: Mapping[str, str | bytes] | None = None) -> Path:
    """A qmail home with control/me = mx.test and the given control files."""
    control = root / "control"
    control.mkdir(parents=True, exist_ok=True)
    (control / "me").write_text("mx.test\n")
    for name, content in (files or {}).items():
        path = control / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return root


def run_remote(home: Path, *args: str, message: bytes = b"Subject: x\n\nhi\n",
               options: tuple[str, ...] = ()) -> bytes:
    """The reference's `remote` entry point as a process; returns its stdout (the report)."""
    return run_remote_both(home, *args, message=message, options=options)[0]


def run_remote_both(home: Path, *args: str, message: bytes = b"Subject: x\n\nhi\n",
                    options: tuple[str, ...] = ()) -> tuple[bytes, bytes]:
    """(stdout, stderr) of `eqmail-ref remote`; it must exit 0 without a traceback."""
    done = subprocess.run([*REMOTE_MAIN, "--qmail-home", str(home), *options, *args],
                          input=message, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert b"Traceback" not in done.stderr, done.stderr.decode(errors="replace")
    return done.stdout, done.stderr


# --------------------------------------------------------------- real qmail-remote (optional)

REAL_REMOTE_ENV = "EQMAIL_REAL_REMOTE"
REAL_HOME_ENV = "EQMAIL_REAL_HOME"


def real_remote_home(binary: str) -> Path:
    """The qmail home compiled into a real qmail-remote (conf-qmail; it chdir()s there):
    $EQMAIL_REAL_HOME, else HOME when the binary is HOME/bin/qmail-remote of an install
    (e.g. a build under /work/real-eqmail/home-1.08), else /var/qmail."""
    import os

    given = os.environ.get(REAL_HOME_ENV)
    if given:
        return Path(given)
    path = Path(binary).resolve()
    if path.parent.name == "bin" and (path.parent.parent / "control").is_dir():
        return path.parent.parent
    return Path("/var/qmail")


def real_remote_binary() -> str | None:
    """A real eQmail 1.08 qmail-remote to compare with, from $EQMAIL_REAL_REMOTE (built by
    the user, never by this project). It chdir()s to its compiled-in home
    (real_remote_home), so it runs in a private mount namespace with the test's home bound
    there: root and unshare(1) are needed."""
    import os
    import shutil

    path = os.environ.get(REAL_REMOTE_ENV)
    if not path or not os.access(path, os.X_OK) or os.geteuid() != 0:
        return None
    if not shutil.which("unshare") or not real_remote_home(path).is_dir():
        return None
    return path


def run_real_remote(binary: str, home: Path, *args: str, message: bytes = b"Subject: x\n\nhi\n",
                    nameserver: str | None = None) -> bytes:
    """The real binary's stdout; `nameserver` (an IPv4 address answering on port 53)
    replaces /etc/resolv.conf inside the namespace. When the binary lives in the home it
    reads (HOME/bin/qmail-remote), binding the test's home over HOME would hide it: it is
    bound from its own path to a spare one first."""
    import os
    import tempfile

    compiled = real_remote_home(binary)
    program = binary
    mounts = ""
    if Path(binary).resolve().is_relative_to(compiled):
        spare = Path(tempfile.mkdtemp(prefix="qmc-real-remote-", dir=home.parent)) / "qmail-remote"
        spare.touch()
        mounts = f"mount --bind {_q(str(Path(binary).resolve()))} {_q(str(spare))} && "
        program = str(spare)
    mounts += f"mount --bind {_q(str(home))} {_q(str(compiled))}"
    if nameserver is not None:
        conf = home.parent / f"{home.name}-resolv.conf"
        conf.write_text(f"nameserver {nameserver}\n")
        mounts += f" && mount --bind {_q(str(conf))} /etc/resolv.conf"
    script = f'{mounts} && exec "$0" "$@"'
    done = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script,
                           program, *args], input=message, capture_output=True, timeout=60)
    assert done.returncode == 0, (done.returncode, done.stderr, os.fspath(compiled))
    return done.stdout


def _q(text: str) -> str:
    import shlex

    return shlex.quote(text)
