"""The pipeline for a whole run: case -> target -> session -> transcript -> normalize ->
diff(reference, target) -> verdict, for every (case, target) pair, `jobs` at a time.

The reference transcript of a case is computed once per reference configuration (version,
TLS build) and shared by every target compared with it; a `ref` target whose configuration
is the yardstick's own is the reference run itself. A case's pinned expectations (`expect`, smtpd and
qmail-remote cases alike) are checked against the reference in the verdict stage: if the
reference breaks them the case is an ERROR for every target (the yardstick is wrong, fix
the reference or the case).

Two lanes (spec §2.9): real eQmail sleeps 5 s before `535` after a failed AUTH, and on a
target that keeps the pause (exec:, docker:, `ref,auth-sleep=5`) those cases would hold the
CPU lane's few workers asleep. A pair whose reference shows that failed AUTH (the
reference runs with the pause off, so knowing costs nothing) runs its target session in
the waiting lane, a second pool of `waiting` threads: they sleep side by side while the
CPU lane goes on, so the pauses cost about one pause, not one per case. Pairs whose client
tries AUTH at all are handed out first, so that the pauses begin early in the run. Each result
records its lane and when its target session started and ended (`CaseResult.timing`).

Ctrl-C stops handing out new work, lets running cases end (each is bounded by its
timeouts), and returns what was done: the caller writes partial reports.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.cases import Case, CaseKind, StepKind
from harness.diff import Difference, diff, normalized
from harness.execute import run_case_on
from harness.fixtures import Profile, load_profiles, scratch_dir
from harness.targets.base import RefOptions, Target
from harness.targets.ref import RefTarget
from harness.transcript import Transcript
from harness.verdict import ERROR, NOT_APPLICABLE, PIN_BROKEN, Verdict, broken_pins, grade

__all__ = ["CaseResult", "Runner", "Timing", "applicable", "may_pause", "pauses_after_auth"]


@dataclass(frozen=True, kw_only=True)
class Timing:
    """Which lane ran the target's session and when (seconds since the run began)."""

    lane: str  # "cpu" or "waiting"
    started: float
    ended: float

    def to_json(self) -> dict[str, Any]:
        return {"lane": self.lane, "started": round(self.started, 4), "ended": round(self.ended, 4)}


@dataclass(kw_only=True)
class CaseResult:
    case: Case
    target: str
    verdict: Verdict
    reason: str = ""  # for ACCEPTED "accepted: " and the alternative's reason
    differences: list[Difference] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)  # normalization rules that changed something
    reference: Transcript | None = None
    transcript: Transcript | None = None
    known: bool = False  # listed in the baseline with this verdict
    timing: Timing | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.case.id, "title": self.case.title, "spec": self.case.spec,
            "category": self.case.category, "tags": list(self.case.tags), "source": self.case.source,
            "target": self.target, "verdict": self.verdict, "reason": self.reason, "known": self.known,
            "differences": [d.to_json() for d in self.differences], "normalized_by": sorted(self.rules),
            "reference": self.reference.to_json() if self.reference else None,
            "transcript": self.transcript.to_json() if self.transcript else None,
            "timing": self.timing.to_json() if self.timing else None,
        }


def on_the_wire(case: Case) -> bool:
    """Can a server the harness does not configure (tcp:, an image's own listener) run the
    case? Yes if it is tagged `no-fixture`, or if it is an smtpd case on the plain `default`
    profile (fixtures/profiles.toml) with no files, environment or arguments of its own: a
    server set up as that profile says (me = mx.test, rcpthosts example.org and
    .example.net, no plugins) should then answer as the reference does."""
    if "no-fixture" in case.tags:
        return True
    return (case.kind != CaseKind.REMOTE and case.profile == "default" and not case.files
            and not case.env and not case.args)


def applicable(case: Case, target: Target) -> str:
    """Why `target` cannot run `case`, or "" if it can."""
    if target.ref.version not in case.versions:
        return f"the case is for eQmail {', '.join(case.versions)} only"
    if case.tls_build is not None and case.tls_build != target.ref.tls_build:
        return f"the case is for eQmail built {'with' if case.tls_build else 'without'} TLS only"
    if not target.controls_fixtures and not on_the_wire(case):
        return ("needs files or settings of its own, which the harness cannot give this target "
                "(it runs the cases of the plain default profile)")
    if case.kind == CaseKind.REMOTE and not target.runs_remote:
        return target.no_remote
    if case.client is not None:
        from harness.clients import unavailable

        why = unavailable(case.client)
        if why:
            return why
    return target.cannot_run(case)


WIRE_OBSERVATIONS = frozenset({"tls"})
FAILED_AUTH = b"535 authentication failed"  # written after the pause (spec §2.9)


def pauses_after_auth(reference: Transcript) -> bool:
    """Will a target that keeps eQmail's pause sleep in this case? Yes when the reference
    answered a failed AUTH: checkpassword said no, qmail-smtpd slept, then said 535."""
    return FAILED_AUTH in reference.received


def may_pause(case: Case) -> bool:
    """A cheap hint, before the reference has run: does the client try AUTH at all? A
    category-10 client with credentials too (it has no steps): a library that tries one
    mechanism after another pauses once per failure, 15 s in 10.4.15, and handed out last
    that pause was the run's tail on real eQmail (bench/exec_target.py --catalogue)."""
    if case.client is not None and case.client.auth is not None:
        return True
    return any(step.kind == StepKind.CRAM_MD5 or b"AUTH" in step.data.upper() for step in case.steps)


def _keeps_pause(target: Target) -> bool:
    """Does the target sleep after a failed AUTH? Every real one does; the reference only
    when told to (`auth-sleep=`)."""
    return not isinstance(target, RefTarget) or target.auth_sleep > 0


class Runner:
    def __init__(self, targets: Sequence[Target], cases: Sequence[Case], *, jobs: int = 1,
                 waiting: int = 32, shard: tuple[int, int] | None = None, workdir: Path | None = None,
                 keep: bool = False, informational_fails: bool = False,
                 profiles: dict[str, Profile] | None = None,
                 progress: Callable[[CaseResult], None] | None = None) -> None:
        self.targets = list(targets)
        self.cases = list(cases)
        self.jobs = max(1, jobs)
        self.waiting = max(1, waiting)  # sessions that may sleep at once (the waiting lane)
        self.shard = shard
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="qmc-", dir=scratch_dir()))
        self.keep = keep
        self.informational_fails = informational_fails
        self.profiles = profiles if profiles is not None else load_profiles()
        self.progress = progress
        self.stopping = threading.Event()
        self._refs: dict[RefOptions, RefTarget] = {}
        self._ref_results: dict[tuple[RefOptions, str], Future[Transcript]] = {}
        self._lock = threading.Lock()
        self._serial = 0
        self._epoch = time.monotonic()
        self._waiting_pool: ThreadPoolExecutor | None = None

    # -- the reference ------------------------------------------------------------------
    def _yardstick(self, options: RefOptions) -> RefTarget:
        with self._lock:
            for target in self.targets:
                if isinstance(target, RefTarget) and target.ref == options and target.auth_sleep == 0:
                    self._refs.setdefault(options, target)
            if options not in self._refs:
                ref = RefTarget(f"ref:{options.version}{'' if options.tls_build else ',no-tls'}",
                                options.version, options.tls_build)
                ref.start()
                self._refs[options] = ref
            return self._refs[options]

    def _reference(self, case: Case, options: RefOptions) -> Transcript:
        key = (options, case.id)
        with self._lock:
            fut = self._ref_results.get(key)
            owner = fut is None
            if owner:
                fut = self._ref_results[key] = Future()
        assert fut is not None
        if owner:
            try:
                fut.set_result(run_case_on(self._yardstick(options), case, self.profiles, self._dir("ref")))
            except BaseException as exc:
                fut.set_exception(exc)
        return fut.result()

    def _dir(self, label: str) -> Path:
        with self._lock:
            self._serial += 1
            path = self.workdir / f"{self._serial:06d}-{label.replace('/', '_').replace(':', '_')}"
        path.mkdir(parents=True)
        return path

    # -- one pair ----------------------------------------------------------------------
    def run_one(self, case: Case, target: Target) -> CaseResult:
        """The pair on the calling thread, its pause (if any) included."""
        first = self._begin(case, target)
        return first if isinstance(first, CaseResult) else self._finish(case, target, first, "cpu")

    def _begin(self, case: Case, target: Target) -> CaseResult | Transcript:
        """The result if there is nothing to run, else the reference transcript."""
        why = applicable(case, target)
        if why:
            return CaseResult(case=case, target=target.name, verdict=NOT_APPLICABLE, reason=why)
        return self._reference(case, target.ref)

    def _finish(self, case: Case, target: Target, reference: Transcript, lane: str) -> CaseResult:
        started = time.monotonic() - self._epoch
        if self._yardstick(target.ref) is target:
            transcript = reference
        else:
            # a running server (tcp:) gets none of our files: no directory of its own
            workdir = self._dir(target.name) if target.controls_fixtures else self.workdir
            transcript = run_case_on(target, case, self.profiles, workdir)
        timing = Timing(lane=lane, started=started, ended=time.monotonic() - self._epoch)
        result = self._grade(case, target, reference, transcript)
        result.timing = timing
        return result

    def _grade(self, case: Case, target: Target, reference: Transcript, transcript: Transcript) -> CaseResult:
        result = CaseResult(case=case, target=target.name, verdict=ERROR,
                            reference=reference, transcript=transcript)
        if reference.error or transcript.error:
            side = "reference" if reference.error else "target"
            result.reason = f"{side}: {reference.error or transcript.error}"
            return result
        used: set[str] = set()
        ref_n, tgt_n = normalized(reference, used), normalized(transcript, used)
        result.rules = sorted(used)
        broken = broken_pins(case.expect, ref_n)
        if broken:
            result.differences = broken
            keys = ", ".join(d.field.removeprefix("expect.") for d in broken)
            result.reason = f"{PIN_BROKEN} {keys}: fix the reference or the case"
            return result
        # a target we do not configure shows only the wire (and TLS): the reference's queue,
        # fd 3 and files are not compared with its nothing
        seen = None if target.controls_fixtures else WIRE_OBSERVATIONS
        result.differences = diff(ref_n, tgt_n, compare_exit=transcript.exit is not None, observations=seen,
                                  compare_log=seen is None and not case.log_unstable)
        result.verdict, result.reason = grade(case, result.differences, tgt_n, self.informational_fails, seen)
        return result

    # -- the run -----------------------------------------------------------------------
    def pairs(self) -> list[tuple[Case, Target]]:
        """The (case, target) pairs of this run: all of them, or the shard's slice."""
        everything = [(c, t) for c in self.cases for t in self.targets]
        if self.shard is None:
            return everything
        from harness.shard import shard_of

        return shard_of(everything, *self.shard)

    def run(self) -> list[CaseResult]:
        results: list[CaseResult] = []

        def collect(fut: Future[CaseResult | Future[CaseResult] | None]) -> None:
            result = fut.result()
            if isinstance(result, Future):  # handed to the waiting lane
                result = result.result()
            if result is not None:
                results.append(result)
                if self.progress:
                    self.progress(result)

        try:
            with ThreadPoolExecutor(self.jobs, thread_name_prefix="qmc") as pool, \
                    ThreadPoolExecutor(self.waiting, thread_name_prefix="qmc-waiting") as waiting:
                self._waiting_pool = waiting
                pairs = self.pairs()
                # pairs that may pause are handed out first, so that their pauses begin early
                # and overlap the rest of the run; results still come in the pairs' order
                first = sorted(range(len(pairs)), key=lambda n: not may_pause(pairs[n][0]))
                submitted = {n: pool.submit(self._guarded, *pairs[n]) for n in first}
                futures = [submitted[n] for n in range(len(pairs))]
                done = 0
                try:
                    for fut in futures:
                        collect(fut)
                        done += 1
                except KeyboardInterrupt:
                    # no new cases; the ones running end within their timeouts and are kept
                    self.stopping.set()
                    for fut in futures[done:]:
                        if not fut.cancel():
                            collect(fut)
                    raise
        finally:
            self._waiting_pool = None
            self.close()
        return results

    def _guarded(self, case: Case, target: Target) -> CaseResult | Future[CaseResult] | None:
        """The CPU lane's work for a pair: the reference, then the target's session here,
        or in the waiting lane when the target will pause (the future of its result)."""
        if self.stopping.is_set():
            return None
        first = self._begin(case, target)
        if isinstance(first, CaseResult):
            return first
        if self._waiting_pool is not None and _keeps_pause(target) and pauses_after_auth(first):
            return self._waiting_pool.submit(self._finish, case, target, first, "waiting")
        return self._finish(case, target, first, "cpu")

    def close(self) -> None:
        for ref in self._refs.values():
            if ref not in self.targets:
                ref.stop()
        if not self.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)

