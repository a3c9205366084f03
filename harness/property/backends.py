"""The two ends a generated session is played against, behind one small interface (Side):

* `InProcessSide`: the reference core in this process (eqmail_ref.inprocess), built from the
  same fixture home as a real run would get. Thousands of sessions per second; it answers
  checkpassword like fixtures/bin/checkpassword-stub and qmail-queue like the capture program.
* `TargetSide`: any harness Target (harness.targets): a fresh fixture home per session,
  `Target.smtpd()` gives the socket, replies are read one by one by SMTP grammar
  (harness.session.ReplyReader); how many to read comes from the reference (the in-process
  side is always played first), the timeout only turns a hung target into a finding.
"""

from __future__ import annotations

import hashlib
import hmac
import shutil
import tempfile
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eqmail_ref.controls import SmtpdControls, StartupFailure, load_smtpd_controls
from eqmail_ref.effects import CheckPassword, Request
from eqmail_ref.inprocess import Answers, InProcessSession
from eqmail_ref.shell.ipme import local_ipv4_addresses
from eqmail_ref.smtpd import SmtpServer
from eqmail_ref.versions import get_version
from harness.cases import Case
from harness.fixtures import Fixture, Profile, build_fixture, load_profiles
from harness.observe import observe_home
from harness.session import PlainChannel, ReplyReader
from harness.targets.base import Running, Target

__all__ = ["Side", "Ending", "Hang", "InProcessSide", "TargetSide", "RefWorld", "count_replies",
           "session_case"]


class Hang(Exception):
    """The target gave no complete reply (or did not end) within the timeout."""


@dataclass(kw_only=True)
class Ending:
    """How a session ended, once our side closed."""

    rest: bytes  # what the server said after our last step
    exit: int | None  # 128+N for signal N; None when the side cannot tell
    queue: list[list[bytes]] = field(default_factory=list)  # sorted [message, envelope] pairs


def count_replies(data: bytes) -> int:
    """Complete SMTP replies in `data` (lines whose fourth byte is not '-')."""
    return sum(1 for line in data.split(b"\n")[:-1] if len(line) < 4 or line[3:4] != b"-")


def session_case(profile: str) -> Case:
    """The stand-in case a generated session runs under: only its fixture profile matters."""
    return Case(id="0.0", title="generated session", spec="-", source="generated", profile=profile)


class Side(ABC):
    name: str = ""

    @abstractmethod
    def open(self) -> bytes:
        """Start a session; the greeting."""

    @abstractmethod
    def send(self, data: bytes, replies: int) -> bytes:
        """Write `data`; what came back (`replies` replies for a target side)."""

    @abstractmethod
    def close(self) -> Ending:
        """End our side and collect how the session ended; always releases the session."""

    def abort(self) -> None:  # noqa: B027 - only sides with processes need it
        """Kill the session if one runs; never raises."""

    def cram(self, user: bytes, secret: bytes, challenge_reply: bytes, replies: int) -> bytes:
        """Answer a CRAM-MD5 challenge (this side's own last reply) correctly."""
        return self.send(cram_line(user, secret, challenge_reply), replies)


def cram_line(user: bytes, secret: bytes, challenge_reply: bytes) -> bytes:
    import base64

    try:
        challenge = base64.b64decode(challenge_reply[4:].strip(), validate=True)
    except ValueError:
        challenge = b""
    digest = hmac.new(secret, challenge, hashlib.md5).hexdigest().encode()
    return base64.b64encode(user + b" " + digest) + b"\r\n"


class _StubAnswers(InProcessSession):
    """Answers checkpassword as fixtures/bin/checkpassword-stub does with the home's users."""

    users: dict[bytes, bytes] = {}

    def _answer(self, request: Request[Any]) -> object:
        if isinstance(request, CheckPassword):
            self.answers = Answers(queue_pid=self.answers.queue_pid, password_ok=self._check(request.data))
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
        server = SmtpServer(controls=self.controls, env=dict(self.env), clock=_clock, version=self.version,
                            checkpassword=tuple(self.fixture.args), ipme=self.ipme, pid=4242,
                            tls_build=self.tls_build, auth_sleep=0.0, startup_error=self.error)
        session = _StubAnswers(server, Answers(queue_pid=4243))
        session.users = self.users
        return session

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def _clock() -> tuple[int, int]:
    import time

    now = time.time()
    return int(now), int((now % 1) * 1_000_000)


class InProcessSide(Side):
    def __init__(self, world: RefWorld, name: str = "") -> None:
        self.world = world
        self.name = name or f"ref:{world.version.name} (in-process)"
        self.session: InProcessSession | None = None
        self.seen = 0

    def _new(self) -> bytes:
        assert self.session is not None
        out = self.session.t.output
        data, self.seen = bytes(out[self.seen:]), len(out)
        return data

    def open(self) -> bytes:
        self.session = self.world.session()
        self.seen = 0
        return self._new()

    def send(self, data: bytes, replies: int = 0) -> bytes:
        assert self.session is not None
        self.session.feed(data)
        return self._new()

    def close(self) -> Ending:
        assert self.session is not None
        t = self.session.eof()
        rest = self._new()
        close = t.close
        code = None if close is None else (139 if close.crash else close.exit_code)
        queue = sorted([m, e] for m, e in zip(t.messages, t.envelopes, strict=False))
        self.session = None
        return Ending(rest=rest, exit=code, queue=queue)


class TargetSide(Side):
    """One harness Target; sessions run one at a time on fresh fixture homes."""

    def __init__(self, target: Target, profile: str = "auth", *, timeout: float = 6.0,
                 profiles: dict[str, Profile] | None = None) -> None:
        self.target = target
        self.name = target.name
        self.profile = profile
        self.timeout = timeout
        self.profiles = profiles or load_profiles()
        self.base = Path(tempfile.mkdtemp(prefix="qmc-side-"))
        self.n = 0
        self.running: Running | None = None
        self.fx: Fixture | None = None
        self.reader: ReplyReader | None = None

    def open(self) -> bytes:
        self.n += 1
        local = self.base / str(self.n)
        local.mkdir()
        home, fixtures = self.target.place(local)
        self.fx = build_fixture(session_case(self.profile), self.profiles, local, home=home,
                                fixtures=fixtures)
        self.target.upload(self.fx)
        running = self.running = self.target.smtpd(self.fx)
        running.sock.settimeout(self.timeout)  # a hang guard only: replies are framed by grammar
        self.reader = ReplyReader(PlainChannel(running.sock))
        return self._read(1)

    def _read(self, n: int) -> bytes:
        assert self.reader is not None
        got = b""
        try:
            for _ in range(n):
                got += self.reader.reply()
                if self.reader.eof and not self.reader.buf:
                    break
        except TimeoutError:
            raise Hang(f"{self.name}: no complete reply within {self.timeout:g} s (got {got!r})") from None
        return got

    def send(self, data: bytes, replies: int = 0) -> bytes:
        assert self.reader is not None
        try:
            self.reader.channel.sendall(data)
        except OSError:
            pass  # the server closed: what it said before is still read below
        return self._read(replies)

    def close(self) -> Ending:
        assert self.running is not None and self.reader is not None and self.fx is not None
        running, fx = self.running, self.fx
        self.running = None
        try:
            self.reader.channel.close_write()
            try:
                rest = self.reader.rest()
            except TimeoutError:
                raise Hang(f"{self.name}: still talking {self.timeout:g} s after the client closed") from None
            running.sock.close()
            try:
                code, _ = running.finish(self.timeout)
            except TimeoutError:
                raise Hang(f"{self.name}: did not exit {self.timeout:g} s after the client closed") from None
            if running.tree is not None and not running.tree.wait(self.timeout):
                raise Hang(f"{self.name}: a program it started still ran {self.timeout:g} s after it ended")
        except BaseException:
            running.kill()
            running.sock.close()
            raise
        self.target.download(fx)
        queue = observe_home(fx.local).get("queue", [])
        shutil.rmtree(fx.local, ignore_errors=True)
        return Ending(rest=rest, exit=code, queue=queue)

    def abort(self) -> None:
        if self.running is not None:
            self.running.kill()
            self.running.sock.close()
            self.running = None
        if self.fx is not None:
            shutil.rmtree(self.fx.local, ignore_errors=True)

    def shutdown(self) -> None:
        self.abort()
        shutil.rmtree(self.base, ignore_errors=True)
