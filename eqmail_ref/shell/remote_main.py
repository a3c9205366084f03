"""`eqmail-ref remote`: the reference qmail-remote over real sockets (spec §5, §6).

    main_remote(["--qmail-home", DIR, "--version", "1.08", "--dns-server", "IP:PORT",
                 HOST, SENDER, RECIP, ...])

reads the message on stdin and writes the report (r/h/s per recipient, one K/Z/D, each
NUL-terminated) on stdout; the exit status is 0, as qmail-remote's. The core is
eqmail_ref.remote.delivery; this module performs its requests: DNS through dnspython
(eqmail_ref.shell.remote_resolver) against --dns-server (default: the first nameserver of
/etc/resolv.conf), sockets bound to the domainbindings address before connect(),
timeoutconnect/timeoutremote, STARTTLS (eqmail_ref.shell.remote_tls).
Warnings the core flags (port 465 in a TLS build: SMTPS is broken in real eQmail and
reproduced, spec §5.5.1) go to stderr; stdout carries only the report.
Options that only the reference has: --no-tls-build (behave like an eQmail built with
-DEHLO and without TLS), --domainbindings-nonlocal (spec §6's uncertain path), --seed
(the MX tie-break seed; default now + (pid << 16) as qmail-remote).
"""

from __future__ import annotations

import argparse
import errno
import os
import select
import socket
import ssl
import sys
import time
from pathlib import Path
from typing import Any

from eqmail_ref.effects import Close, Effect, Log, Request
from eqmail_ref.remote.delivery import Job, RemoteDelivery
from eqmail_ref.remote.report import TEMP_CHDIR, TEMP_CONTROL, TEMP_OSERR, USAGE
from eqmail_ref.remote.requests import (
    Connect,
    Connected,
    Disconnect,
    DnsQuery,
    Report,
    TlsHandshake,
    TlsPrepare,
    TlsPrepared,
    Write,
)
from eqmail_ref.remote.snapshot import (
    CONTROL_FILES,
    UNREADABLE,
    ControlFailure,
    FileData,
    RemoteControls,
    parse_remote_controls,
)
from eqmail_ref.remote.switches import NONLOCAL_CONNECT_FAILS, NONLOCAL_PARSE_ERROR, remote_switches
from eqmail_ref.shell.ipme import local_ipv4_addresses
from eqmail_ref.shell.openssl import BUILDS
from eqmail_ref.shell.remote_resolver import DnsClient, default_server, parse_server
from eqmail_ref.shell.remote_tls import ClientContext, close_notify, handshake, prepare
from eqmail_ref.versions import VERSIONS

__all__ = ["main_remote", "deliver", "load_controls"]

_READ_SIZE = 128  # smtpfrombuf


def _read(path: Path) -> FileData:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None
    except OSError:
        return UNREADABLE


def _names(path: Path) -> frozenset[bytes]:
    try:
        return frozenset(os.fsencode(n) for n in os.listdir(path))
    except OSError:
        return frozenset()


def load_controls(home: Path, *, domainbindings: bool) -> RemoteControls:
    """Read control/ under `home`; ControlFailure where qmail-remote says temp_control."""
    control = home / "control"
    files = {name: _read(control / name) for name in CONTROL_FILES
             if name != "domainbindings" or domainbindings}
    return parse_remote_controls(
        files, domainbindings=domainbindings, clientcert=(control / "clientcert.pem").exists(),
        tlshosts=_names(control / "tlshosts"), notlshosts=_names(control / "notlshosts"))


def _local_ipv6_addresses() -> frozenset[bytes]:
    try:
        lines = Path("/proc/net/if_inet6").read_text().splitlines()
    except OSError:
        return frozenset()
    return frozenset(bytes.fromhex(line.split()[0]) for line in lines if line.split())


class _Performer:
    def __init__(self, core: RemoteDelivery, home: Path, dns: DnsClient, openssl: str = "3") -> None:
        self.core = core
        self.openssl = openssl
        self.home = home
        self.dns = dns
        self.sock: socket.socket | None = None
        self.ctx: ClientContext | None = None
        self.timeout = core.controls.timeout
        self.report = bytearray()
        self.closed = False

    def close(self) -> None:
        if self.sock is not None:
            if isinstance(self.sock, ssl.SSLSocket):
                close_notify(self.sock)  # every _exit() is ssl_exit() (tls.h)
            self.sock.close()
            self.sock = None

    def perform(self, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, Report):
                self.report += effect.data
            elif isinstance(effect, Log):
                sys.stderr.buffer.write(effect.line)
                sys.stderr.buffer.flush()
            elif isinstance(effect, Disconnect):
                self.close()
            elif isinstance(effect, Close):
                self.closed = True
                self.close()

    def answer(self, request: Request[Any]) -> object:
        if isinstance(request, DnsQuery):
            return self.dns.query(request)
        if isinstance(request, Connect):
            return self.connect(request)
        if isinstance(request, Write):
            return self.write(request.data)
        if isinstance(request, TlsPrepare):
            prepared, self.ctx = prepare(self.home, request)
            return prepared if self.ctx is not None else TlsPrepared(ok=False, error=prepared.error)
        if isinstance(request, TlsHandshake):
            assert self.sock is not None and self.ctx is not None
            outcome, tls = handshake(self.sock, self.ctx, request, eof_is_error=self.openssl == "3")
            if tls is not None:
                self.sock = tls
            return outcome
        raise TypeError(f"unknown request {request!r}")

    def connect(self, request: Connect) -> Connected:
        """socket(), optional bind(), then timeoutconn(): a non-blocking connect() and a
        wait of `timeout` seconds for it to complete."""
        self.close()
        family = socket.AF_INET6 if len(request.ip) == 16 else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        address = socket.inet_ntop(family, request.ip)
        try:
            if request.local_address is not None:
                sock.bind((socket.inet_ntoa(request.local_address), 0))
            sock.setblocking(False)
            err = sock.connect_ex((address, request.port))
            if err == errno.EINPROGRESS:
                _, writable, _ = select.select([], [sock], [], max(request.timeout, 0))
                err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) if writable else errno.ETIMEDOUT
            if err:
                raise OSError(err, os.strerror(err))
        except OSError as exc:
            sock.close()
            return Connected(ok=False, error=str(exc))
        sock.setblocking(True)
        sock.settimeout(max(self.timeout, 0))
        self.sock = sock
        return Connected(ok=True)

    def write(self, data: bytes) -> bool | bytes:
        assert self.sock is not None
        try:
            self.sock.sendall(data)
        except ssl.SSLError as exc:
            return str(exc.reason or exc).encode()
        except OSError:
            return False
        return True

    def read(self) -> list[Effect]:
        assert self.sock is not None
        try:
            data = self.sock.recv(_READ_SIZE)
        except TimeoutError:
            return self.core.timeout()
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError):
            return self.core.receive(b"")
        except ssl.SSLError as exc:
            return self.core.lost(str(exc.reason or exc).encode())
        except OSError:
            return self.core.lost()
        return self.core.receive(data)


def deliver(home: Path, job: Job, *, version: str = "1.08", dns_server: tuple[str, int] | None = None,
            tls_build: bool = True, bind_nonlocal: str = NONLOCAL_CONNECT_FAILS,
            seed: int | None = None, openssl: str = "3") -> bytes:
    """Everything qmail-remote would write on fd 1 for this job."""
    if not job.recipients:
        return USAGE + b"\0"
    if not home.is_dir() or not os.access(home, os.X_OK):
        return TEMP_CHDIR + b"\0"
    sw = remote_switches(VERSIONS[version], tls_build=tls_build, bind_nonlocal=bind_nonlocal)
    try:
        controls = load_controls(home, domainbindings=sw.domainbindings)
    except ControlFailure:
        return TEMP_CONTROL + b"\0"
    try:
        ipme = local_ipv4_addresses() | (_local_ipv6_addresses() if sw.ipv6 else frozenset())
    except OSError:
        return TEMP_OSERR + b"\0"
    if seed is None:
        seed = int(time.time()) + (os.getpid() << 16)
    core = RemoteDelivery(job=job, controls=controls, switches=sw, ipme=ipme, seed=seed)
    performer = _Performer(core, home, DnsClient(dns_server or default_server()), openssl)
    try:
        effects = core.start()
        while True:
            performer.perform(effects)
            if performer.closed:
                return bytes(performer.report)
            if core.pending is not None:
                effects = core.resolve(performer.answer(core.pending))
            else:
                effects = performer.read()
    finally:
        performer.close()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="eqmail-ref remote",
                                description="deliver stdin like qmail-remote: HOST SENDER RECIP...")
    p.add_argument("--qmail-home", metavar="DIR",
                   help="the directory holding control/ (default: $QMAILHOME)")
    p.add_argument("--version", dest="eqmail_version", default="1.08", choices=sorted(VERSIONS))
    p.add_argument("--dns-server", metavar="IP:PORT",
                   help="the resolver to ask (default: the first nameserver in /etc/resolv.conf)")
    p.add_argument("--no-tls-build", action="store_true",
                   help="behave like an eQmail built with -DEHLO and without TLS")
    p.add_argument("--domainbindings-nonlocal", default=NONLOCAL_CONNECT_FAILS,
                   choices=[NONLOCAL_CONNECT_FAILS, NONLOCAL_PARSE_ERROR],
                   help="a domainbindings address that is not local: bind() fails and the "
                        "connection counts as failed (default), or the parse-error report")
    p.add_argument("--openssl", default="3", choices=BUILDS,
                   help="the OpenSSL the imitated build links against (default 3; 1.x: an EOF in "
                        "the TLS handshake gives no error text)")
    p.add_argument("--seed", type=int, metavar="N",
                   help="seed for ordering MX of equal preference (default now+(pid<<16))")
    p.add_argument("args", nargs=argparse.REMAINDER, metavar="HOST SENDER RECIP...")
    return p


def main_remote(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    positional = [os.fsencode(a) for a in args.args]
    if positional[:1] == [b"--"]:
        positional = positional[1:]
    if len(positional) < 3:
        sys.stdout.buffer.write(USAGE + b"\0")
        sys.stdout.buffer.flush()
        return 0
    home = args.qmail_home or os.environ.get("QMAILHOME")
    if not home:
        print("eqmail-ref remote: no qmail home: give --qmail-home DIR or set $QMAILHOME "
              "(the directory that holds control/)", file=sys.stderr)
        return 2
    try:
        server = parse_server(args.dns_server) if args.dns_server else None
    except (ValueError, OSError) as exc:
        print(f"eqmail-ref remote: --dns-server wants IP:PORT: {exc}", file=sys.stderr)
        return 2
    host, sender, *recipients = positional
    job = Job(host=host, sender=sender, recipients=tuple(recipients), message=sys.stdin.buffer.read())
    report = deliver(Path(home).absolute(), job, version=args.eqmail_version, dns_server=server,
                     tls_build=not args.no_tls_build, bind_nonlocal=args.domainbindings_nonlocal,
                     seed=args.seed, openssl=args.openssl)
    sys.stdout.buffer.write(report)
    sys.stdout.buffer.flush()
    return 0
