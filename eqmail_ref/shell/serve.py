"""`eqmail-ref serve`: a TCP listener that runs the reference qmail-smtpd per connection.

It sets the environment tcpserver -H -R would (PROTO, TCPLOCALIP, TCPLOCALPORT,
TCPREMOTEIP, TCPREMOTEPORT, and TCPLOCALHOST with --local-name) and serves connections
from a pool of pre-forked worker processes, like `tcpserver -c N` but without starting an
interpreter per connection. Connections beyond the pool wait in the listen backlog.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

from eqmail_ref.controls import StartupFailure
from eqmail_ref.shell.control_cache import ControlCache
from eqmail_ref.shell.ipme import local_ipv4_addresses
from eqmail_ref.shell.session import run_session, system_clock
from eqmail_ref.shell.transport import FdTransport
from eqmail_ref.smtpd import SmtpServer
from eqmail_ref.versions import Version

__all__ = ["ServeOptions", "serve"]

_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}

_HIDDEN = (b"TCPLOCALHOST", b"TCPREMOTEHOST", b"TCPREMOTEINFO", b"TCP6LOCALIP",
           b"TCP6REMOTEIP", b"TCP6LOCALPORT", b"TCP6REMOTEPORT", b"TCP6INTERFACE")


@dataclass(frozen=True, kw_only=True)
class ServeOptions:
    host: str
    port: int
    home: Path
    version: Version
    checkpassword: tuple[bytes, ...] = ()
    concurrency: int = 40
    local_name: bytes | None = None
    tls_build: bool = True
    sleep_scale: float = 1.0
    memory_queue: bool = False
    openssl: str = "3"  # the OpenSSL of the imitated build (run_session)


def _session_env(base: dict[bytes, bytes], conn: socket.socket,
                 local_name: bytes | None) -> dict[bytes, bytes]:
    lip, lport = conn.getsockname()[:2]
    rip, rport = conn.getpeername()[:2]
    env = dict(base)
    env[b"PROTO"] = b"TCP"
    env[b"TCPLOCALIP"] = lip.encode()
    env[b"TCPLOCALPORT"] = b"%d" % lport
    env[b"TCPREMOTEIP"] = rip.encode()
    env[b"TCPREMOTEPORT"] = b"%d" % rport
    if local_name is not None:
        env[b"TCPLOCALHOST"] = local_name
    return env


def _die_with_parent(parent: int) -> None:
    """A worker must not outlive the listener, even one killed with SIGKILL."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(0)


def _worker(listener: socket.socket, opts: ServeOptions, ipme: frozenset[bytes],
            parent: int) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)  # blocked across fork()
    _die_with_parent(parent)
    base = {k: v for k, v in os.environb.items() if k not in _HIDDEN}
    cache = ControlCache(opts.home, opts.version)
    pid = os.getpid()
    while True:
        conn, _ = listener.accept()
        try:
            env = _session_env(base, conn, opts.local_name)
            try:
                controls, error = cache.get(env), ""
            except StartupFailure as exc:
                controls, error = None, str(exc)
            server = SmtpServer(
                controls=controls, env=env, clock=system_clock, version=opts.version,
                checkpassword=opts.checkpassword, ipme=ipme, pid=pid,
                tls_build=opts.tls_build, auth_sleep=5.0 * opts.sleep_scale,
                startup_error=error,
            )
            fd = conn.fileno()
            run_session(server, FdTransport(fd, fd), memory_queue=opts.memory_queue,
                        openssl=opts.openssl)
        except OSError:
            pass  # the client went away; the next connection is unaffected
        finally:
            conn.close()


def serve(opts: ServeOptions) -> None:
    """Bind, fork the workers, print `listening on HOST:PORT` on stderr, then serve until
    SIGTERM/SIGINT."""
    listener = socket.create_server((opts.host, opts.port), backlog=1024)
    os.chdir(opts.home)
    ipme = local_ipv4_addresses()
    host, port = listener.getsockname()[:2]
    workers: set[int] = set()
    parent = os.getpid()

    def spawn() -> None:
        # SIGTERM/SIGINT stay blocked from fork() until the worker is in `workers` (parent)
        # or has its own handlers (child): a stop can never miss a worker.
        signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            pid = os.fork()
            if pid == 0:
                try:
                    _worker(listener, opts, ipme, parent)
                finally:
                    os._exit(0)
            workers.add(pid)
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)

    def stop(signum: int, frame: object) -> None:
        for pid in workers:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        os._exit(0)  # workers that are still starting die with us (PR_SET_PDEATHSIG)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for _ in range(opts.concurrency):
        spawn()
    # said once every worker exists: whoever waits for this line finds the whole pool
    sys.stderr.write(f"eqmail-ref serve: listening on {host}:{port}\n")
    sys.stderr.flush()
    try:
        while True:
            pid, _ = os.wait()
            if pid in workers:
                workers.discard(pid)
                spawn()  # a worker died (e.g. killed): keep the pool full
    finally:
        for pid in workers:
            try:
                os.kill(pid, signal.SIGTERM)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
