"""The differential state machine: every generated step goes to the reference and to the
target, and the two must answer the same after normalization (harness.normalize), end the
same way and queue the same messages. Hypothesis shrinks a disagreement to a minimal
session; `explore()` repeats the search with each finding's signature marked as known, so
one run reports several distinct differences, not the first one only.

Real eQmail pauses 5 s after a failed AUTH (spec §2.9); the in-process reference only says
that it would (Side.pauses). A step that made the reference pause gives the target that
much more time. With a lane (harness.property.lane), a session whose reference paused is
not waited for: its target session is replayed in the lane while the search goes on, and
what the lane finds is reported like what hypothesis finds (shrunk by deleting steps).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hypothesis import HealthCheck, Phase, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.errors import HypothesisException
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule, run_state_machine_as_test

import harness.property.strategies as gen
from harness.drive.differential import signature_of
from harness.drive.side import AUTH_PAUSE, Ending, Hang, Side
from harness.drive.side_recording import Recording
from harness.drive.smtp_text import count_replies, cram_answer
from harness.normalize import normalize_bytes

if TYPE_CHECKING:
    from harness.property.lane import Lane

__all__ = ["Finding", "Step", "Disagreement", "explore", "play", "reduce_steps"]


@dataclass(frozen=True, kw_only=True)
class Step:
    """One step of a generated session: bytes to send, or a CRAM-MD5 answer computed from
    each side's own challenge (`cram` = (user, secret))."""

    data: bytes = b""
    cram: tuple[bytes, bytes] | None = None
    replies: int = 0  # how many replies the reference gave


@dataclass(kw_only=True)
class Finding:
    steps: list[Step]
    step: int | None  # the differing step (1-based), None for the session's end
    what: str  # "reply", "end", "queue", "exit", "hang", "crash"
    reference: bytes
    target: bytes
    signature: str
    rules: list[str] = field(default_factory=list)


class Disagreement(AssertionError):
    def __init__(self, finding: Finding) -> None:
        super().__init__(f"{finding.what} at step {finding.step}: reference {finding.reference!r}, "
                         f"target {finding.target!r}")
        self.finding = finding


def _norm(data: bytes, used: set[str]) -> bytes:
    return normalize_bytes(data, used)


class Play:
    """One session on both sides, step by step; raises Disagreement at the first difference."""

    def __init__(self, ref: Side, tgt: Side, known: set[str], lane: Lane | None = None) -> None:
        self.ref, self.tgt, self.known, self.lane = ref, tgt, known, lane
        self.steps: list[Step] = []
        self.used: set[str] = set()
        self.last = {"ref": b"", "tgt": b""}
        self.closed = False
        self.ended = False
        self.deferred = False  # the target's session goes to the lane at the end
        # the step whose target replies are not read yet, and what the reference said: the
        # target answers while hypothesis draws the next step (Side.post); they are read
        # before anything more is written, so every step still follows the reply before it
        self.pending: tuple[int, bytes] | None = None
        greeting = ref.open()
        # the reference's output and pauses per step, for the lane
        self.said, self.paused = [greeting], [ref.pauses]
        try:
            self._compare(0, "reply", greeting, self._guard(lambda: tgt.open()))
        except BaseException:
            self.abort()
            raise

    def _guard(self, act: Callable[[], bytes]) -> bytes:
        try:
            return act()
        except Hang as exc:
            self._fail(len(self.steps) or None, "hang", b"", str(exc).encode())
            raise AssertionError("unreachable") from None

    def _fail(self, step: int | None, what: str, ref: bytes, tgt: bytes) -> None:
        sig = signature_of(what, ref, tgt)
        raise Disagreement(Finding(steps=list(self.steps), step=step, what=what, reference=ref, target=tgt,
                                   signature=sig, rules=sorted(self.used)))

    def _compare(self, step: int | None, what: str, ref: bytes, tgt: bytes) -> None:
        a, b = _norm(ref, self.used), _norm(tgt, self.used)
        if a != b:
            if signature_of(what, a, b) in self.known:
                self.closed = True  # a known difference: the rest of this session says nothing new
                return
            self._fail(step, what, a, b)

    def _collect(self) -> None:
        if self.pending is not None:
            step, got_ref = self.pending
            self.pending = None
            got_tgt = self._guard(self.tgt.collect)
            self.last["tgt"] = got_tgt or self.last["tgt"]
            self._compare(step, "reply", got_ref, got_tgt)

    def step(self, data: bytes = b"", cram: tuple[bytes, bytes] | None = None) -> bytes:
        self._collect()
        if self.closed:
            return b""
        # a CRAM-MD5 answer is computed from each side's own challenge (its last reply)
        ref_data = data if cram is None else cram_answer(*cram, self.last["ref"])
        tgt_data = data if cram is None else cram_answer(*cram, self.last["tgt"])
        before = self.ref.pauses
        got_ref = self.ref.send(ref_data, 0)
        n = count_replies(got_ref)
        self.steps.append(Step(data=data, cram=cram, replies=n))
        self.said.append(got_ref)
        self.paused.append(self.ref.pauses - before)
        if self.ref.pauses > before and self.lane is not None:
            self._defer()
        if self.deferred:
            return got_ref
        self.last["ref"] = got_ref or self.last["ref"]
        self.tgt.post(tgt_data, n, AUTH_PAUSE * (self.ref.pauses - before))
        self.pending = (len(self.steps), got_ref)
        return got_ref

    def end(self) -> None:
        if self.ended:
            return
        if not self.deferred:
            self._collect()  # a difference there: abort() still ends both sessions
        self.ended = True
        before = self.ref.pauses
        ref_end = self.ref.close()
        if self.ref.pauses > before and self.lane is not None:
            self._defer()
        if self.deferred:
            assert self.lane is not None
            recording = Recording(self.ref.name, self.said, self.paused, ref_end, self.ref.pauses - before)
            self.lane.submit(recording, self.steps, frozenset(self.known))
            return
        try:
            tgt_end: Ending = self.tgt.close(AUTH_PAUSE * (self.ref.pauses - before))
        except Hang as exc:
            self._fail(None, "hang", b"", str(exc).encode())
            return
        if self.closed:
            return
        self._compare(None, "end", ref_end.rest, tgt_end.rest)
        if ref_end.exit is not None and tgt_end.exit is not None and ref_end.exit != tgt_end.exit:
            self._fail(None, "exit", str(ref_end.exit).encode(), str(tgt_end.exit).encode())
        ref_q = b"\n====\n".join(m + b"\n--\n" + e for m, e in ref_end.queue)
        tgt_q = b"\n====\n".join(m + b"\n--\n" + e for m, e in tgt_end.queue)
        self._compare(None, "queue", ref_q, tgt_q)

    def _defer(self) -> None:
        """The target would pause now: drop its session; the lane replays it from the start
        (steps played so far agreed, and replay from a fresh start keeps every step sent
        after the reply before it, as here)."""
        if not self.deferred:
            self.deferred = True
            self.pending = None  # the lane compares that step too
            self.tgt.abort()

    def abort(self) -> None:
        if not self.ended:
            self.ended = True
            self.tgt.abort()
            try:
                self.ref.close()
            except Exception:  # noqa: BLE001 - the in-process side is only being discarded
                pass


def play(ref: Side, tgt: Side, steps: list[Step], known: frozenset[str] = frozenset()) -> Finding | None:
    """Replay fixed steps on both sides (a saved finding); the finding, or None if they agree."""
    try:
        p = Play(ref, tgt, set(known))
        try:
            for s in steps:
                p.step(s.data, s.cram)
            p.end()
        finally:
            p.abort()
    except Disagreement as exc:
        return exc.finding
    return None


def reduce_steps(ref: Side, tgt: Side, finding: Finding, known: frozenset[str]) -> Finding:
    """Hypothesis's stateful shrinker keeps leading steps it cannot delete in order; drop every
    step whose removal keeps the same difference (one-at-a-time delta debugging)."""
    best = finding
    i = 0
    while i < len(best.steps):
        trial = best.steps[:i] + best.steps[i + 1:]
        got = play(ref, tgt, trial, known)
        if got is not None and got.signature == best.signature:
            best = got
        else:
            i += 1
    return best


def _machine(ref: Side, tgt: Side, known: set[str], found: list[Finding],
             lane: Lane | None) -> type[RuleBasedStateMachine]:
    class SmtpDifferential(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            try:
                self.p = Play(ref, tgt, known, lane)
            except Disagreement as exc:  # the greetings differ
                found.append(exc.finding)
                raise
            self.reply = b""

        def _do(self, data: bytes = b"", cram: tuple[bytes, bytes] | None = None) -> None:
            try:
                self.reply = self.p.step(data, cram) or self.reply
            except Disagreement as exc:
                found.append(exc.finding)
                raise

        @rule(data=gen.commands())
        def command(self, data: bytes) -> None:
            self._do(data)

        @rule(data=st.lists(gen.commands(), min_size=2, max_size=4))
        def pipelined(self, data: list[bytes]) -> None:
            self._do(b"".join(data))

        @rule(data=st.sampled_from([b"EHLO client.test\r\n", b"HELO client.test\r\n",
                                    b"MAIL FROM:<joe@example.org>\r\n", b"RCPT TO:<joe@example.org>\r\n",
                                    b"RCPT TO:<ann@sub.example.net>\r\n", b"DATA\r\n", b"RSET\r\n",
                                    b"AUTH LOGIN\r\n", b"AUTH PLAIN\r\n", b"AUTH CRAM-MD5\r\n",
                                    b"AUTH PLAIN AGpvZQBzZWNyZXQ=\r\n", b"NOOP\r\n", b"VRFY joe\r\n"]))
        def well_formed(self, data: bytes) -> None:
            self._do(data)

        @precondition(lambda self: self.reply.startswith(b"354"))
        @rule(body=gen.bodies())
        def body(self, body: bytes) -> None:
            self._do(body)

        @precondition(lambda self: self.reply.startswith(b"334"))
        @rule(line=gen.auth_lines())
        def auth_answer(self, line: bytes) -> None:
            self._do(line)

        @precondition(lambda self: self.reply.startswith(b"334 ") and len(self.reply) > 30)
        @rule(cred=st.sampled_from([*gen.USERS, (b"joe", b"wrong")]))
        def cram_answer(self, cred: tuple[bytes, bytes]) -> None:
            self._do(cram=cred)

        @rule(data=gen.garbage)
        def garbage(self, data: bytes) -> None:
            self._do(data)

        @rule()
        def quit(self) -> None:
            self._do(b"QUIT\r\n")

        def teardown(self) -> None:
            try:
                self.p.end()
            except Disagreement as exc:
                found.append(exc.finding)
                raise
            finally:
                self.p.abort()

    return SmtpDifferential


def explore(ref: Side, tgt: Side, *, max_examples: int, seed: int, max_findings: int = 8,
            known: set[str] | None = None, step_count: int = 12,
            progress: Callable[[Finding], None] | None = None, lane: Lane | None = None,
            shrink: bool = True) -> list[Finding]:
    """Search for disagreements; each one found is shrunk and then counted as known, and the
    search starts again (same budget) until a round finds nothing new. `lane`: sessions whose
    reference paused are replayed there (harness.property.lane); what it finds counts at the
    end of the first round where hypothesis found nothing, in the order they were played.
    `shrink` False: a finding is reported as found, not shrunk by hypothesis nor by deleting
    steps (a benchmark's work)."""
    known = set(known or ())
    findings: list[Finding] = []
    waiting: list[Finding] = []  # the lane's, not yet reported
    phases = list(Phase) if shrink else [p for p in Phase if p is not Phase.shrink]
    for round_no in range(max_findings):
        found: list[Finding] = []
        machine = _machine(ref, tgt, known, found, lane)
        hypothesis_seed(seed + round_no)(machine)
        config = settings(max_examples=max_examples, stateful_step_count=step_count, deadline=None,
                          database=None, print_blob=False, report_multiple_bugs=False,
                          suppress_health_check=list(HealthCheck), phases=phases)
        try:
            run_state_machine_as_test(machine, settings=config)  # type: ignore[no-untyped-call]
        except (Disagreement, HypothesisException, BaseExceptionGroup):
            pass  # what was found is in `found`; a flaky target still leaves its finding there
        finally:
            # the lane is waited for only when hypothesis found nothing: otherwise its
            # sessions go on pausing while the finding is shrunk and the next round runs
            if lane is not None and not found:
                waiting += lane.drain()
        # hypothesis replays its shrunk example last
        new = found[-1] if found else next((f for f in waiting if f.signature not in known), None)
        if new is None:
            break
        finding = reduce_steps(ref, tgt, new, frozenset(known)) if shrink else new
        findings.append(finding)
        known.add(finding.signature)
        if progress:
            progress(finding)
    return findings
