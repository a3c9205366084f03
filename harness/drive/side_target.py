"""Any harness Target as a Side (harness.drive.side), through its `Running` session.

Step by step (`open`/`send`/`close`, property sessions): replies are read one by one by SMTP
grammar (harness.drive.session.ReplyReader); how many to read comes from the reference (the
in-process side is played first); the timeout only turns a hung target into a Hang. Whole
(`begin`/`result`, the fuzzer): every byte is written at once and the side half-closes; the
output is drained until the server closes (at most MAX_OUTPUT bytes, within the timeout).

Each session gets a fresh fixture home built from the profile (so its queue can be
observed), unless the side is given one `fixture` for every session (the fuzzer's: nothing
is observed but the wire and the exit status, and nothing is built per session).

`ahead`: the next session is started (its home built, its program spawned) as soon as
one is taken, so that starting a program, ~3 ms for real eQmail and more on a busy
machine, overlaps what the caller does meanwhile (hypothesis drawing the next example,
the reference's answer) instead of adding to it. A program waits for its first command
exactly as when it has just started; a program that never greets is still a Hang.

The catalogue's case runner (harness.execute) runs its sessions with the same parts: the
fixture home made ready for the target (`prepare`), the one definition of "the session has
ended" (`await_end`: the program exited, and so did everything it started), and what is
observed after (`observe`); its steps, STARTTLS included, are played by harness.drive.session.
"""

from __future__ import annotations

import select
import shutil
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

from harness.cases import Case
from harness.drive.session import PlainChannel, ReplyReader
from harness.drive.side import MAX_OUTPUT, Ending, Hang, Pending, Run, session_case
from harness.fixtures import Fixture, Profile, build_fixture, load_profiles, scratch_dir
from harness.observe.home import observe_home
from harness.targets.base import Running, Target

__all__ = ["TargetSide", "prepare", "await_end", "discard", "observe"]


def prepare(target: Target, case: Case, profiles: dict[str, Profile], local: Path, *,
            queue_program: str | None = None) -> Fixture:
    """The case's home built in the empty directory `local` for the place the target sees it
    at, and uploaded; an empty one for a target that runs by itself (controls_fixtures False:
    nothing of ours to write, nothing to observe but the wire)."""
    home, fixtures = target.place(local)
    if not target.controls_fixtures:
        return Fixture(local=local, home=home, env={}, args=[])
    fx = build_fixture(case, profiles, local, home=home, fixtures=fixtures, queue_program=queue_program)
    target.upload(fx)
    return fx


def observe(target: Target, fx: Fixture) -> dict[str, Any]:
    """After the session ended: what the observers read in the case's home (harness.observe)."""
    if not target.controls_fixtures:
        return {}
    target.download(fx)
    return observe_home(fx.local)


def await_end(running: Running, timeout: float) -> tuple[int | None, bytes]:
    """Once our end of the socket is closed: (exit status, stderr) when the program and every
    program it started (queue, plugin, checkpassword) have exited. Raises Hang otherwise; a
    Hang for a lingering child carries the program's own exit status and stderr."""
    try:
        code, stderr = running.finish(timeout)
    except TimeoutError:
        raise Hang(f"the program did not exit within {timeout:g} s after the client closed") from None
    if running.tree is not None and not running.tree.wait(timeout):
        raise Hang(f"a program the session started (queue, plugin, checkpassword) still ran "
                   f"{timeout:g} s after it ended", status=code, stderr=stderr)
    return code, stderr


def discard(running: Running) -> None:
    """Kill a session we give up on and release its descriptors; never raises."""
    running.kill()
    running.sock.close()
    if running.tree is not None:
        running.tree.close()


def _drain(sock: socket.socket, deadline: float) -> tuple[bytes, bool, bool]:
    """Everything until the server closes: (output, hung, reset: it reset the connection)."""
    out = bytearray()
    poll = select.poll()  # not select(): a long run may have fd numbers past 1023
    poll.register(sock, select.POLLIN)
    while len(out) < MAX_OUTPUT:
        left = deadline - time.monotonic()
        if left <= 0 or not poll.poll(left * 1000):
            return bytes(out), True, False
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            return bytes(out), False, True
        if not chunk:
            return bytes(out), False, False
        out += chunk
    return bytes(out), False, False


def _write_all(sock: socket.socket, data: bytes) -> None:
    try:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass  # it closed early: what it said is still read


class _Whole:
    def __init__(self, side: TargetSide, running: Running, fx: Fixture, grace: float) -> None:
        self.side, self.running, self.fx, self.grace = side, running, fx, grace

    def result(self) -> Run:
        running, timeout = self.running, self.side.timeout + self.grace
        try:
            output, hung, reset = _drain(running.sock, time.monotonic() + timeout)
            running.sock.close()
            if not hung:
                try:
                    status, _ = await_end(running, timeout)
                    return Run(output=output, status=status, reset=reset)
                except Hang:
                    pass
            discard(running)
            return Run(output=output, status=None, hang=True)
        except BaseException:
            discard(running)
            raise
        finally:
            self.side._release(self.fx)


class TargetSide:
    """One harness Target; sessions run one at a time. The target's owner starts and stops it."""

    def __init__(self, target: Target, profile: str = "auth", *, timeout: float = 6.0,
                 profiles: dict[str, Profile] | None = None, fixture: Fixture | None = None,
                 ahead: bool = False) -> None:
        self.target = target
        self.name = target.name
        self.profile = profile
        self.timeout = timeout
        self.profiles = profiles or load_profiles()
        self.shared = fixture
        self.base = Path(tempfile.mkdtemp(prefix="qmc-side-", dir=scratch_dir()))
        self.n = 0
        self.running: Running | None = None
        self.fx: Fixture | None = None
        self.reader: ReplyReader | None = None
        self.pauses = 0  # a process does not tell its pauses (harness.drive.side.Side)
        self.ahead = ahead
        self.next: tuple[Running, Fixture] | None = None  # the session started ahead
        self.posted = (0, 0.0)  # the replies (and grace) the last post() waits for

    def twin(self) -> TargetSide:
        """Another side on the same target, for a session at the same time as this one's
        (harness.property.lane); the target's owner starts and stops it."""
        return TargetSide(self.target, self.profile, timeout=self.timeout, profiles=self.profiles,
                          fixture=self.shared)

    def _fixture(self) -> Fixture:
        if self.shared is not None:
            return self.shared
        self.n += 1
        local = self.base / str(self.n)
        local.mkdir()
        return prepare(self.target, session_case(self.profile), self.profiles, local)

    def _release(self, fx: Fixture) -> None:
        if fx is not self.shared:
            shutil.rmtree(fx.local, ignore_errors=True)

    def _start(self) -> tuple[Running, Fixture]:
        fx = self._fixture()
        try:
            return self.target.smtpd(fx), fx
        except BaseException:
            self._release(fx)
            raise

    def _session(self) -> tuple[Running, Fixture]:
        """A started session: the one started ahead if there is one."""
        got, self.next = self.next, None
        return got if got is not None else self._start()

    def _start_next(self) -> None:
        """With `ahead`: start the next session, once the one taken has what it needs."""
        if self.ahead and self.next is None:
            try:
                self.next = self._start()
            except Exception:  # noqa: BLE001 - it fails again when it is needed, and says why there
                self.next = None

    def open(self) -> bytes:
        running, self.fx = self._session()
        self.running = running
        running.sock.settimeout(self.timeout)  # a hang guard only: replies are framed by grammar
        self.reader = ReplyReader(PlainChannel(running.sock))
        try:
            return self._read(1)
        finally:
            self._start_next()

    def _read(self, n: int, grace: float = 0.0) -> bytes:
        assert self.reader is not None and self.running is not None
        got = b""
        if grace:
            self.running.sock.settimeout(self.timeout + grace)
        try:
            for _ in range(n):
                got += self.reader.reply()
                if self.reader.eof and not self.reader.buf:
                    break
        except TimeoutError:
            raise Hang(f"{self.name}: no complete reply within {self.timeout + grace:g} s "
                       f"(got {got!r})") from None
        finally:
            if grace:
                self.running.sock.settimeout(self.timeout)
        return got

    def send(self, data: bytes, replies: int = 0, grace: float = 0.0) -> bytes:
        self.post(data, replies, grace)
        return self.collect()

    def post(self, data: bytes, replies: int = 0, grace: float = 0.0) -> None:
        assert self.reader is not None
        try:
            self.reader.channel.sendall(data)
        except OSError:
            pass  # the server closed: what it said before is still read by collect()
        self.posted = (replies, grace)

    def collect(self) -> bytes:
        replies, grace = self.posted
        self.posted = (0, 0.0)
        return self._read(replies, grace)

    def close(self, grace: float = 0.0) -> Ending:
        assert self.running is not None and self.reader is not None and self.fx is not None
        running, fx = self.running, self.fx
        self.running = None
        timeout = self.timeout + grace
        try:
            self.reader.channel.close_write()
            running.sock.settimeout(timeout)
            try:
                rest = self.reader.rest()
            except TimeoutError:
                raise Hang(f"{self.name}: still talking {timeout:g} s after the client closed") from None
            running.sock.close()
            try:
                code, stderr = await_end(running, timeout)
            except Hang as exc:
                raise Hang(f"{self.name}: {exc.args[0]}") from None
        except BaseException:
            discard(running)
            self._release(fx)
            raise
        queue: tuple[tuple[bytes, bytes], ...] = ()
        if fx is not self.shared:  # a shared home's queue holds every session's messages
            queue = tuple((m, e) for m, e in observe(self.target, fx).get("queue", []))
        self._release(fx)
        self.fx = None
        return Ending(rest=rest, exit=code, stderr=stderr, queue=queue)

    def abort(self) -> None:
        if self.running is not None:
            discard(self.running)
            self.running = None
        if self.fx is not None:
            self._release(self.fx)
            self.fx = None

    def begin(self, data: bytes, grace: float = 0.0) -> Pending:
        running, fx = self._session()
        _write_all(running.sock, data)
        self._start_next()
        return _Whole(self, running, fx, grace)

    def run(self, data: bytes) -> Run:
        return self.begin(data).result()

    def shutdown(self) -> None:
        self.abort()
        if self.next is not None:
            running, fx = self.next
            self.next = None
            discard(running)
            self._release(fx)
        shutil.rmtree(self.base, ignore_errors=True)
