"""One Side (harness.drive.side) for every way a session runs: the same session through the
in-process reference and through Targets (the reference as processes, and installed as a
qmail home behind `exec:`) gives the same replies, end and queue; whole sessions (the
fuzzer's begin/result) too. A program that hangs or crashes is seen as such, and a side
that runs many sessions keeps no descriptor of them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.drive.side import Ending, Hang, Side
from harness.drive.side_inprocess import InProcessSide, RefWorld
from harness.drive.side_target import TargetSide
from harness.drive.smtp_text import count_replies, cram_answer, reply_codes
from harness.normalize import normalize_bytes
from harness.targets import make_target
from harness.targets.base import Target
from harness.targets.cmd_ import CommandTarget
from harness.targets.ref_home import install_reference_home
from tests.conftest import needs_tool

CRAM = (b"joe", b"secret")
SESSION: list[bytes | tuple[bytes, bytes]] = [
    b"EHLO client.test\r\n", b"AUTH CRAM-MD5\r\n", CRAM, b"MAIL FROM:<joe@example.org>\r\n",
    b"RCPT TO:<ann@example.org>\r\nRCPT TO:<relayed@elsewhere.test>\r\n", b"DATA\r\n",
    b"Subject: side\r\n\r\nhello\r\n.\r\n", b"NOOP\r\n",
]
WHOLE = b"EHLO c\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\nhi\r\n.\r\nQUIT\r\n"


def _norm(data: bytes) -> bytes:
    return normalize_bytes(data, set())


def _play(side: Side, counts: list[int] | None = None) -> tuple[list[bytes], Ending]:
    """The session step by step; `counts`: how many replies to read per step (what the
    reference said), as property sessions read a process."""
    replies = [side.open()]
    for n, step in enumerate(SESSION):
        data = cram_answer(*step, replies[-1]) if isinstance(step, tuple) else step
        replies.append(side.send(data, counts[n] if counts else 0))
    return replies, side.close()


@pytest.fixture(params=["ref", "exec"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    if request.param == "exec":
        needs_tool("unshare")
        if os.geteuid() != 0:
            message = "exec: targets need root for a private mount namespace"
            pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
        made = make_target(f"exec:{install_reference_home(tmp_path / 'qhome')}")
    else:
        made = make_target("ref")
    made.start()
    try:
        yield made
    finally:
        made.stop()


@pytest.fixture
def reference() -> Iterator[InProcessSide]:
    side = InProcessSide(RefWorld("1.08"))
    try:
        yield side
    finally:
        side.shutdown()


def test_the_same_session_through_the_in_process_side_and_a_target_side(
        reference: InProcessSide, target: Target) -> None:
    expected, ref_end = _play(reference)
    codes = [reply_codes(r) for r in expected]
    assert codes == [[220], [250], [334], [235], [250], [250, 250], [354], [250], [250]]
    side = TargetSide(target, timeout=20.0)
    try:
        got, end = _play(side, [count_replies(r) for r in expected[1:]])
    finally:
        side.shutdown()
    assert [_norm(r) for r in got] == [_norm(r) for r in expected]
    assert _norm(end.rest) == _norm(ref_end.rest) == b""
    assert end.exit == ref_end.exit == 1  # the client hung up without QUIT
    assert [(_norm(m), e) for m, e in end.queue] == [(_norm(m), e) for m, e in ref_end.queue]
    assert len(end.queue) == 1 and end.queue[0][1] == b"Fjoe@example.org\0Tann@example.org\0Trelayed@elsewhere.test\0\0"


def test_a_whole_session_through_both_sides(reference: InProcessSide, target: Target) -> None:
    ref = reference.run(WHOLE)
    side = TargetSide(target, timeout=20.0)
    try:
        pending = side.begin(WHOLE)  # the process starts and works while we wait
        got = pending.result()
    finally:
        side.shutdown()
    assert reply_codes(ref.output) == [220, 250, 250, 250, 354, 250, 221]
    assert _norm(got.output) == _norm(ref.output)
    assert got.status == ref.status == 0 and not got.hang and not ref.hang


def test_starttls_without_a_certificate_in_process_as_in_a_process(reference: InProcessSide,
                                                                   target: Target) -> None:
    """The in-process reference cannot handshake, but it fails tls_init() before any TLS
    byte exactly as the process does (a fuzz finding against real eQmail 1.09: it said
    'unable to initialize ctx' where the real program said 'missing certificate: ...')."""
    session = b"STARTTLS\r\nSTARTTLS\r\nQUIT\r\n"  # twice: the error queue carries over
    ref = reference.run(session)
    side = TargetSide(target, timeout=20.0)
    try:
        got = side.run(session)
    finally:
        side.shutdown()
    assert b"454 TLS missing certificate: error:" in ref.output
    assert got.output == ref.output


def test_a_program_that_stops_answering_is_a_hang_step_by_step_and_whole(tmp_path: Path) -> None:
    mute = CommandTarget(["sh", "-c", "printf '220 mute\\r\\n'; exec sleep 60"])
    side = TargetSide(mute, timeout=0.3)
    try:
        assert side.open() == b"220 mute\r\n"
        with pytest.raises(Hang, match="no complete reply within 0.3 s"):
            side.send(b"NOOP\r\n", 1)
        side.abort()
        run = side.run(b"NOOP\r\n")
        assert run.hang and run.output == b"220 mute\r\n" and run.status is None
    finally:
        side.shutdown()


def test_a_crash_shows_as_its_signal_and_sessions_leave_no_descriptor_behind() -> None:
    crashy = CommandTarget(["sh", "-c", "printf '220 x\\r\\n'; kill -SEGV $$"])
    side = TargetSide(crashy, timeout=5.0)
    try:
        side.run(b"")  # the first session opens what later ones reuse (profiles, imports)
        before = len(os.listdir("/proc/self/fd"))
        for _ in range(20):
            run = side.run(b"QUIT\r\n")
            assert run.output == b"220 x\r\n" and run.status == 139 and not run.hang
        greeting = side.open()
        end = side.close()
        assert greeting == b"220 x\r\n" and end.exit == 139 and end.rest == b""
        assert len(os.listdir("/proc/self/fd")) == before
    finally:
        side.shutdown()


def test_a_side_that_starts_sessions_ahead_still_sees_a_silent_program_and_leaves_nothing() -> None:
    """`ahead`: the next session's program is started while this one plays; a program that
    never greets is still a Hang, and shutdown ends the one started ahead."""
    before = len(os.listdir("/proc/self/fd"))
    silent = TargetSide(CommandTarget(["sh", "-c", "exec sleep 60"]), timeout=0.3, ahead=True)
    try:
        with pytest.raises(Hang, match="no complete reply within 0.3 s"):
            silent.open()
        silent.abort()
        assert silent.next is not None  # the next one was started ahead
    finally:
        silent.shutdown()
    crashy = TargetSide(CommandTarget(["sh", "-c", "printf '220 x\\r\\n'; kill -SEGV $$"]), timeout=5.0,
                        ahead=True)
    try:
        for _ in range(5):
            run = crashy.run(b"QUIT\r\n")
            assert run.output == b"220 x\r\n" and run.status == 139 and not run.hang
        assert crashy.open() == b"220 x\r\n" and crashy.close().exit == 139
    finally:
        crashy.shutdown()
    assert len(os.listdir("/proc/self/fd")) == before
