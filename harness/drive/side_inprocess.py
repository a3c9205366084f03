"""The reference core in this process as a Side (harness.drive.side): no processes, no sockets.

`RefWorld` is the reference configured for one fixture profile and version: the same
control files, env and argv a real run gets from the fixture home. It answers checkpassword
as fixtures/bin/checkpassword-stub does with the home's users, and qmail-queue as the capture
program (the queued messages are observed). `InProcessSide` plays sessions on it; a whole
session (`begin`/`run`) is guarded: a Python exception is a crash of the reference, an
endless loop (SIGALRM after `timeout`) a hang.
"""

from __future__ import annotations

import hashlib
import hmac
import shutil
import signal
import tempfile
from pathlib import Path
from types import FrameType
from typing import Any

from eqmail_ref.controls import SmtpdControls, StartupFailure, load_smtpd_controls
from eqmail_ref.effects import CheckPassword, Close, Request, Sleep, StartTls
from eqmail_ref.inprocess import Answers, InProcessSession, Transcript
from eqmail_ref.shell import openssl
from eqmail_ref.shell.ipme import local_ipv4_addresses
from eqmail_ref.shell.session import system_clock  # (seconds, UTC offset): the Received date
from eqmail_ref.shell.tls import tls_init_failure
from eqmail_ref.smtpd import SmtpServer
from eqmail_ref.versions import get_version
from harness.drive.side import Ending, Pending, Run, session_case
from harness.fixtures import Profile, build_fixture, load_profiles

__all__ = ["RefWorld", "InProcessSide"]

_SIGSEGV = 128 + signal.SIGSEGV  # how a modelled crash of eQmail shows as an exit status


class _StubAnswers(InProcessSession):
    """Answers checkpassword as fixtures/bin/checkpassword-stub does with the home's users,
    and STARTTLS as far as a session without a socket can: tls_init()'s failures before the
    handshake (a missing certificate, no key) exactly as the process shell gives them."""

    users: dict[bytes, bytes] = {}
    home: Path | None = None
    tls_errors: openssl.ErrorQueue | None = None  # one eQmail process, one OpenSSL error queue

    def _answer(self, request: Request[Any]) -> object:
        if isinstance(request, CheckPassword):
            self.answers = Answers(queue_pid=self.answers.queue_pid, password_ok=self._check(request.data))
        if isinstance(request, StartTls) and self.home is not None:
            self.tls_errors = self.tls_errors or openssl.ErrorQueue()
            failed = tls_init_failure(self.home, request.ciphers, self.tls_errors)
            if failed is not None:
                return failed
        return super()._answer(request)

    def _check(self, fd3: bytes) -> bool:
        # the stub reads fd 3 with NULs turned into newlines and takes lines 1..3
        lines = fd3.replace(b"\x00", b"\n").split(b"\n")
        user, secret, challenge = (lines + [b"", b"", b""])[:3]
        if not challenge:
            return user in self.users and self.users[user] == secret
        known = self.users.get(user)
        if not known:
            return False
        return hmac.new(known, challenge, hashlib.md5).hexdigest().encode() == secret


class RefWorld:
    """The reference configured for one fixture profile and version: builds in-process
    sessions that see exactly the control files, env and argv a real run would."""

    def __init__(self, version: str, profile: str = "auth", *, tls_build: bool = True,
                 profiles: dict[str, Profile] | None = None) -> None:
        self.version = get_version(version)
        self.profile = profile
        self.tls_build = tls_build
        self.profiles = profiles or load_profiles()
        self.dir = Path(tempfile.mkdtemp(prefix="qmc-world-"))
        self.fixture = build_fixture(session_case(profile), self.profiles, self.dir)
        self.env = {k.encode(): v for k, v in self.fixture.env.items()}
        users = (self.dir / "users").read_bytes() if (self.dir / "users").exists() else b""
        self.users = dict(line.partition(b":")[::2] for line in users.splitlines() if b":" in line)
        self.controls: SmtpdControls | None = None
        self.error = ""
        try:
            self.controls = load_smtpd_controls(self.dir, self.env, self.version)
        except StartupFailure as exc:
            self.error = str(exc)
        self.ipme = local_ipv4_addresses()

    def session(self) -> InProcessSession:
        server = SmtpServer(controls=self.controls, env=dict(self.env), clock=system_clock,
                            version=self.version, checkpassword=tuple(self.fixture.args), ipme=self.ipme,
                            pid=4242, tls_build=self.tls_build, auth_sleep=0.0, startup_error=self.error)
        session = _StubAnswers(server, Answers(queue_pid=4243))
        session.users, session.home = self.users, self.dir
        return session

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def _exit_status(close: Close | None) -> int | None:
    return None if close is None else (_SIGSEGV if close.crash else close.exit_code)


class _Alarm(Exception):
    pass


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise _Alarm


class _Done:
    def __init__(self, run: Run) -> None:
        self.run = run

    def result(self) -> Run:
        return self.run


class InProcessSide:
    """A Side on a RefWorld; `timeout` guards whole sessions against an endless loop."""

    def __init__(self, world: RefWorld, name: str = "", *, timeout: float = 2.0) -> None:
        self.world = world
        self.name = name or f"ref:{world.version.name} (in-process)"
        self.timeout = timeout
        self.session: InProcessSession | None = None
        self.seen = 0
        self.pauses = 0
        self.asked = 0  # how many of the session's requests were counted for `pauses`
        self.posted = b""

    def _new(self) -> bytes:
        assert self.session is not None
        out = self.session.t.output
        data, self.seen = bytes(out[self.seen:]), len(out)
        asked = self.session.t.requests
        self.pauses += sum(isinstance(r, Sleep) for r in asked[self.asked:])
        self.asked = len(asked)
        return data

    def open(self) -> bytes:
        self.session = self.world.session()
        self.seen = self.pauses = self.asked = 0
        return self._new()

    def send(self, data: bytes, replies: int = 0, grace: float = 0.0) -> bytes:
        assert self.session is not None
        self.session.feed(data)
        return self._new()

    def post(self, data: bytes, replies: int = 0, grace: float = 0.0) -> None:
        self.posted = self.send(data, replies, grace)

    def collect(self) -> bytes:
        return self.posted

    def close(self, grace: float = 0.0) -> Ending:
        assert self.session is not None
        t = self.session.eof()
        rest = self._new()
        self.session = None
        queue = tuple(sorted(zip(t.messages, t.envelopes, strict=False)))
        return Ending(rest=rest, exit=_exit_status(t.close), queue=queue)

    def abort(self) -> None:
        self.session = None

    def run(self, data: bytes) -> Run:
        old = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, self.timeout)
        try:
            session = self.world.session()
            session.feed(data)
            t: Transcript = session.eof()
        except _Alarm:
            return Run(output=b"", status=None, hang=True)
        except Exception as exc:  # noqa: BLE001 - any exception is a crash of the reference
            return Run(output=b"", status=None, error=f"{type(exc).__name__}: {exc}")
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
        crash = t.close is not None and t.close.crash
        pauses = sum(isinstance(r, Sleep) for r in t.requests)
        return Run(output=bytes(t.output), status=_exit_status(t.close), modelled_crash=crash, pauses=pauses)

    def begin(self, data: bytes, grace: float = 0.0) -> Pending:
        return _Done(self.run(data))

    def shutdown(self) -> None:
        self.session = None
        self.world.close()
