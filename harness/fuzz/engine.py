"""The fuzz loop: pick a protocol state, make an input (grammar or mutation of the corpus),
run it on the reference (in-process, at once) and on the target, classify (crash, hang,
divergence), keep inputs that reach new reply-code states in the corpus, minimize and save
each new finding. Deterministic for a seed and a corpus.

Real eQmail sleeps 5 s after a failed AUTH (spec §2.9). The reference says how often a
session asks to pause, so the target gets that much more time before it counts as hung, and
such sessions go to a lane of their own while the loop goes on: one lane per number of
pauses (1, 2, 3 or more), since in one lane every session takes as long, so its oldest is
the first to end. Each is judged when its lane is full (always the oldest: the order of
judgements, and so the corpus, does not depend on timing). About 10% of the fuzzer's
sessions pause: ~97% of them once, ~3% twice, a few three times (2026-12-07). One lane for
all held the loop whenever a session that pauses three times (15 s) was the oldest; a lane
of 16 held real eQmail 1.09 on `exec:` to 42 sessions/s, one of 128 to ~250/s. `lane` is the
once-pausing lane's width (256: room for ~50 pausing sessions/s, ~500/s in all, more than
a bare loop of real eQmail runs here); the twice-pausing lane is a quarter as wide, the
others a sixteenth (LANE_SHARES). Each waiting session holds a few descriptors: the CLI
widens the open-file limit to fit (harness.fuzz.__main__.room_for).

The other sessions are under way `window` at once: a session is begun (its input written,
the target's program running) and judged once `window` - 1 more have been begun after it,
oldest first. So the target's program runs while this loop makes the next inputs and runs
them on the reference, on the other core, instead of the loop waiting for each program in
turn. The corpus then grows `window` sessions late, the same way on every run: a seed still
gives the same sessions. `window` 1 judges each session at once.

Workers (`--workers N`, harness.fuzz.workers) share the corpus directory and the findings
through files (harness.fuzz.shared): each takes the others' new inputs every `sync_every`
sessions, and a signature another worker claimed first only counts a hit here."""

from __future__ import annotations

import hashlib
import json
import random
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eqmail_ref import replies
from harness.drive.differential import signature_of
from harness.drive.side import AUTH_PAUSE, Pending, Run, Side
from harness.drive.smtp_text import count_replies, reply_codes
from harness.fuzz.inputs import STATES, generate, mutate
from harness.fuzz.minimize import minimize
from harness.fuzz.shared import SharedCorpus, claim_signature
from harness.normalize import normalize_bytes

__all__ = ["KINDS", "LANE", "WINDOW", "lane_widths", "Fuzzer", "Stats", "Verdict", "classify",
           "REFERENCE_CODES"]

LANE = 256  # pausing sessions waiting at once (see the module docstring)
WINDOW = 4  # other sessions under way at once (see the module docstring)
LANE_SHARES = (1, 4, 16)  # the lanes of 1, 2 and 3+ pauses are lane, lane/4 and lane/16 wide


def lane_widths(lane: int) -> tuple[int, ...]:
    """The widths of the lanes of sessions that pause 1, 2 and 3+ times; at least 2 unless
    `lane` is 1 (a lane of 1 judges each session at once)."""
    return tuple(max(min(lane, 2), lane // share) for share in LANE_SHARES)

KINDS = frozenset({"crash", "hang", "divergence"})
REFERENCE_CODES = frozenset(int(m.group(1)) for v in vars(replies).values() if isinstance(v, bytes)
                            for m in [re.match(rb"(\d{3})", v)] if m) | {220, 221, 235, 250, 334, 554}


# a session begun and not yet judged: (input, state, session seed, the reference's run, the target's)
_Begun = tuple[bytes, str, int, Run | None, Pending]


@dataclass(frozen=True)
class Verdict:
    kind: str  # "crash", "hang", "divergence"
    signature: str


def classify(ref: Run | None, got: Run) -> Verdict | None:
    if got.error:
        return Verdict("crash", f"crash: {got.error.split(':', 1)[0]}")
    if got.hang:
        return Verdict("hang", "hang")
    # a crash the reference models (eQmail crashes there too) is not a finding by itself
    signalled = got.status is not None and got.status > 128 and not got.modelled_crash
    if signalled and not (ref is not None and ref.status == got.status):
        return Verdict("crash", f"crash: signal {got.status - 128 if got.status else 0}")
    if ref is None:
        return None
    a, b = normalize_bytes(ref.output, set()), normalize_bytes(got.output, set())
    if a != b or (ref.status is not None and got.status is not None and ref.status != got.status):
        if got.status not in (0, None) and count_replies(got.output) < count_replies(ref.output) \
                and got.status != ref.status:
            return Verdict("crash", f"crash: exit {got.status} without reply")
        if a == b:
            return Verdict("divergence", f"exit: {ref.status} vs {got.status}")
        return Verdict("divergence", signature_of("reply", a, b))
    return None


@dataclass
class Stats:
    sessions: int = 0
    seconds: float = 0.0
    searched: float = 0.0  # seconds until the last session was begun (then the lane's tail)
    findings: dict[str, int] = field(default_factory=dict)  # kind -> distinct findings
    hits: dict[str, int] = field(default_factory=dict)  # signature -> sessions that hit it
    saved: list[Path] = field(default_factory=list)
    modelled_crashes: int = 0
    features: set[tuple[str, int, int]] = field(default_factory=set)  # (state, previous code, code)
    corpus_added: int = 0
    corpus_taken: int = 0  # inputs taken from other workers' additions to the shared corpus
    known: dict[str, int] = field(default_factory=dict)  # kind -> signatures another worker saved

    def hit_kinds(self) -> set[str]:
        return set(self.findings) | set(self.known)

    def coverage(self) -> str:
        pairs = {(s, c) for s, _, c in self.features}
        codes = {c for _, _, c in self.features}
        per_state = "; ".join(f"{s}: {len({c for t, c in pairs if t == s})}" for s in STATES)
        return (f"reply-code state coverage: {len(pairs)} (state, code) pairs, {len(self.features)} "
                f"(state, code -> code) transitions, {len(codes & REFERENCE_CODES)}/{len(REFERENCE_CODES)} "
                f"of the reference's reply codes; codes per state: {per_state}")


class Fuzzer:
    def __init__(self, target: Side, reference: Side | None, *, seed: int, out: Path,
                 corpus: Path | None = None, states: list[str] | None = None, minimize_runs: int = 300,
                 meta: dict[str, Any] | None = None, kinds: frozenset[str] = KINDS,
                 log: Callable[[str], None] = print, record: list[bytes] | None = None,
                 lane: int = LANE, window: int = WINDOW, sync_every: int = 0, claims: bool = False) -> None:
        self.target, self.reference = target, reference
        self.widths = lane_widths(lane)
        self.lanes: tuple[deque[_Begun], ...] = tuple(deque() for _ in self.widths)  # by pauses
        self.window = max(1, window)
        self.flight: deque[_Begun] = deque()
        self.seed = seed
        self.out = out
        self.states = states or list(STATES)
        self.minimize_runs = minimize_runs
        self.kinds = kinds  # the kinds saved as findings; the others are only counted
        self.record = record  # every input sent, in order (the benchmark replays them bare)
        self.meta = meta or {}
        self.log = log
        self.stats = Stats()
        self.shared = SharedCorpus(corpus) if corpus is not None else None
        self.corpus: list[bytes] = self.shared.load() if self.shared is not None else []
        self.kept = set(self.corpus)  # an input reaching new states under two prefixes is kept once
        self.sync_every = sync_every  # 0: never take what other workers add meanwhile
        self.claims = claims  # save a finding only if no other worker claimed its signature

    def _begin(self, data: bytes) -> tuple[Run | None, Pending]:
        ref = self.reference.run(data) if self.reference is not None else None
        return ref, self.target.begin(data, grace=AUTH_PAUSE * (ref.pauses if ref else 0))

    def _judge(self, data: bytes) -> tuple[Verdict | None, Run | None, Run]:
        ref, pending = self._begin(data)
        got = pending.result()
        return classify(ref, got), ref, got

    def run(self, duration: float, max_sessions: int | None = None,
            until: Callable[[Stats], bool] | None = None) -> Stats:
        """Fuzz for `duration` seconds, or `max_sessions`, or until `until(stats)` holds."""
        started = time.monotonic()
        rng = random.Random(self.seed)
        while time.monotonic() - started < duration and (max_sessions is None or
                                                         self.stats.sessions < max_sessions):
            if until is not None and until(self.stats):
                break
            if self.sync_every and self.stats.sessions % self.sync_every == 0 and self.stats.sessions:
                self.sync()
            session_seed = rng.getrandbits(64)
            state, body = self.make_input(random.Random(session_seed))
            data = STATES[state] + body
            if self.record is not None:
                self.record.append(data)
            ref, pending = self._begin(data)
            self.stats.sessions += 1
            queue, size = self.flight, self.window
            if ref is not None and ref.pauses:  # (a lane of 1 judges it at once, as the window's)
                which = min(ref.pauses, len(self.lanes)) - 1
                queue, size = self.lanes[which], self.widths[which]
            queue.append((data, state, session_seed, ref, pending))
            if len(queue) >= size:
                self._settle(*queue.popleft())
        self.stats.searched = time.monotonic() - started
        for queue in (self.flight, *self.lanes):
            while queue:
                self._settle(*queue.popleft())
        self.stats.seconds = time.monotonic() - started
        return self.stats

    def make_input(self, srng: random.Random) -> tuple[str, bytes]:
        """A session's protocol state and the bytes sent after reaching it: grammar-made, or
        two corpus inputs mutated together."""
        state = srng.choice(self.states)
        if self.corpus and srng.random() < 0.6:
            return state, mutate(srng, srng.choice(self.corpus), srng.choice(self.corpus))
        return state, generate(srng, state)

    def sync(self) -> None:
        """Take the inputs other workers wrote to the shared corpus since the last sync."""
        if self.shared is not None:
            taken = self.shared.take_new()
            taken = [body for body in taken if body not in self.kept]
            self.corpus.extend(taken)
            self.kept.update(taken)
            self.stats.corpus_taken += len(taken)

    def _settle(self, data: bytes, state: str, session_seed: int, ref: Run | None, pending: Pending) -> None:
        got = pending.result()
        verdict = classify(ref, got)
        self.stats.modelled_crashes += bool(ref.modelled_crash if ref else got.modelled_crash)
        if verdict is None or verdict.kind == "divergence":
            body = data[len(STATES[state]):]
            self._cover(state, body, ref or got)  # a crashing or hanging input would slow every run
        if verdict is not None:
            self._found(verdict, data, state, session_seed, ref, got)

    def _cover(self, state: str, body: bytes, run: Run) -> None:
        codes = reply_codes(run.output)
        new = {(state, prev, code) for prev, code in zip([0, *codes], codes, strict=False)}
        new -= self.stats.features
        self.stats.features |= new
        if new and body not in self.kept:
            self.kept.add(body)
            self.corpus.append(body)
            self.stats.corpus_added += 1
            if self.shared is not None:
                self.shared.add(body)

    def _found(self, verdict: Verdict, data: bytes, state: str, session_seed: int, ref: Run | None,
               got: Run) -> None:
        hits = self.stats.hits
        hits[verdict.signature] = hits.get(verdict.signature, 0) + 1
        if hits[verdict.signature] > 1 or verdict.kind not in self.kinds:
            return
        if self.claims and not claim_signature(self.out, verdict.signature):
            self.stats.known[verdict.kind] = self.stats.known.get(verdict.kind, 0) + 1
            return

        def still_fails(candidate: bytes) -> bool:
            return self._judge(candidate)[0] == verdict

        small = minimize(data, still_fails, self.minimize_runs)
        _, ref_small, got_small = self._judge(small)
        self.stats.findings[verdict.kind] = self.stats.findings.get(verdict.kind, 0) + 1
        record = {
            **self.meta, "kind": verdict.kind, "signature": verdict.signature, "seed": self.seed,
            "session": self.stats.sessions, "session_seed": session_seed, "state": state,
            "bytes": small.decode("latin-1"), "original": data.decode("latin-1"),
            "target_output": got_small.output.decode("latin-1"), "target_status": got_small.status,
            "target_reset": got_small.reset,
            "reference_output": ref_small.output.decode("latin-1") if ref_small else None,
            "reference_status": ref_small.status if ref_small else None,
        }
        self.out.mkdir(parents=True, exist_ok=True)
        path = self.out / f"{verdict.kind}-{hashlib.sha1(small).hexdigest()[:12]}.json"
        path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
        self.stats.saved.append(path)
        lost = (" (the target reset the connection: replies it wrote last may be lost on the way;"
                " a tcpserver without -D?)" if got_small.reset else "")
        self.log(f"fuzz: {verdict.signature} ({len(data)} -> {len(small)} bytes) -> {path}{lost}")
