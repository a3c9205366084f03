"""`qmc load`: real mail through a target at a chosen concurrency, with aiosmtplib as the
well-behaved client (ARCHITECTURE.md, session: aiosmtplib is a persona, not the core client),
then a check against the queue observer that nothing was lost or duplicated.

Every message carries a run id and its number (`X-Qmc-Load: RUN-N`). A message the target
accepted with 250 must be queued exactly once; one it refused must carry the reply it got; a
session that ends with no reply at all is a silent refusal. Replies other than success are
counted, so what a target says under pressure (tcpserver's limit, a 421) is in the result.

The queue is read with a capture program of its own (`qmail-queue-unique`): pids wrap here
(pid_max 32768) long before a soak ends, so the usual capture, which names files by pid,
would overwrite an earlier message and report it lost.

Soak (`duration`): sessions keep going until the time is up; the harness's own descendant
processes that were alive at the start (fork servers, listeners) are sampled for their
memory, and any process left behind at the end is reported as a leak.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import re
import secrets
import socket
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiosmtplib

from harness.cases import Case
from harness.errors import HarnessError, TargetFault
from harness.fixtures import FIXTURES_DIR, Fixture, build_fixture, load_profiles
from harness.observe.home import observe_home
from harness.targets.base import Running, Target

__all__ = ["LoadPlan", "LoadResult", "run_load", "message_for", "ids_in"]

_TAG = b"X-Qmc-Load: "
_ID = re.compile(rb"^X-Qmc-Load: (\S+)\r?$", re.M)
# the queue program of a load run: unique file names whatever the pid
QUEUE_PROGRAM = "bin/qmail-queue-unique"


@dataclass(frozen=True, kw_only=True)
class LoadPlan:
    messages: int = 100
    concurrency: int = 4
    auth: bool = False  # AUTH PLAIN as joe (the fixture's checkpassword user)
    starttls: bool = False
    size: int = 1024  # bytes of body, about
    duration: float = 0.0  # > 0: soak for this many seconds instead of `messages`
    timeout: float = 30.0  # per session
    queue_dir: Path | None = None  # where a tcp: target's queue capture writes
    env: dict[str, str] = field(default_factory=dict)  # added to the session environment
    sender: str = "load@example.com"
    recipient: str = "r@example.org"


@dataclass(kw_only=True)
class LoadResult:
    run_id: str
    target: str
    sent: int = 0
    accepted: int = 0
    refused: int = 0
    silent: int = 0  # sessions that ended with no reply to the message
    queued: int = 0
    lost: list[str] = field(default_factory=list)  # accepted, never queued
    duplicated: list[str] = field(default_factory=list)  # queued more than once
    unconfirmed: list[str] = field(default_factory=list)  # queued without a 250 (client saw an error)
    queue_checked: bool = True
    replies: Counter[str] = field(default_factory=Counter)  # every reply other than success
    errors: Counter[str] = field(default_factory=Counter)  # client-side failures, by kind
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    # (seconds, RSS bytes) of the processes that live through the run (fork servers, listeners)
    memory: list[tuple[float, int]] = field(default_factory=list)
    leaked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.lost or self.duplicated or self.silent or self.leaked or self.problems)

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    def to_json(self) -> dict[str, Any]:
        rate = self.sent / self.seconds if self.seconds else 0.0
        return {
            "run_id": self.run_id, "target": self.target, "sent": self.sent, "accepted": self.accepted,
            "refused": self.refused, "silent": self.silent, "queued": self.queued,
            "queue_checked": self.queue_checked, "lost": self.lost, "duplicated": self.duplicated,
            "unconfirmed": self.unconfirmed, "replies": dict(sorted(self.replies.items())),
            "errors": dict(sorted(self.errors.items())), "seconds": round(self.seconds, 3),
            "rate": round(rate, 1),
            "latency_ms": {f"p{p}": round(self.percentile(p) * 1000, 2) for p in (50, 90, 99, 100)},
            "memory": [[round(t, 1), rss] for t, rss in self.memory], "leaked": self.leaked,
            "problems": self.problems, "failed": self.failed,
        }


def message_for(run_id: str, n: int, size: int) -> bytes:
    """A message with a unique id, padded with 70-byte lines to about `size` bytes of body."""
    head = (f"From: load@example.com\r\nTo: r@example.org\r\nSubject: qmc load {n}\r\n"
            f"Message-ID: <{run_id}.{n}@qmc.test>\r\n").encode() + _TAG + f"{run_id}-{n}\r\n\r\n".encode()
    line = b"x" * 68 + b"\r\n"
    return head + line * max(1, size // len(line))


def ids_in(queue: list[bytes], run_id: str) -> Counter[str]:
    """How often each message id of this run occurs in the queued messages."""
    seen: Counter[str] = Counter()
    prefix = f"{run_id}-".encode()
    for msg in queue:
        for m in _ID.finditer(msg):
            if m.group(1).startswith(prefix):
                seen[m.group(1).decode()] += 1
    return seen


def _load_case() -> Case:
    return Case(id="0.0.0", title="qmc load", spec="", source="qmc load", profile="tls")


class _Opener:
    """Sessions on the target: one fixture for the whole run (built once), then only
    `target.smtpd` per session, as the catalogue does."""

    def __init__(self, target: Target, plan: LoadPlan, workdir: Path) -> None:
        self.target = target
        home, fixtures = target.place(workdir)
        if target.controls_fixtures:
            self.fx = build_fixture(_load_case(), load_profiles(), workdir, home=home, fixtures=fixtures,
                                    queue_program=f"{fixtures}/{QUEUE_PROGRAM}")
            self.fx.env.update({k: v.encode() for k, v in plan.env.items()})
            target.upload(self.fx)
        else:
            self.fx = Fixture(local=workdir, home=home, env={}, args=[])

    def queue(self, plan: LoadPlan) -> list[bytes] | None:
        if self.target.controls_fixtures:
            self.target.download(self.fx)
            return [m for m, _env in observe_home(self.fx.local).get("queue", [])]
        if plan.queue_dir is not None:
            return [p.read_bytes() for p in sorted(plan.queue_dir.glob("*.msg"))]
        return None


def _descendants() -> dict[int, int]:
    """pid -> RSS bytes of every process below this one (from /proc; no polling loop)."""
    parent: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry.name)
        parent[pid] = int(fields[1])
        rss[pid] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    mine, frontier = {}, [os.getpid()]
    while frontier:
        p = frontier.pop()
        for child, ppid in parent.items():
            if ppid == p and child not in mine:
                mine[child] = rss[child]
                frontier.append(child)
    return mine


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


class _Progress:
    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.enabled, self.last = total, enabled, 0.0

    def show(self, r: LoadResult, final: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not final and now - self.last < 0.1):
            return
        self.last = now
        of = f"/{self.total}" if self.total else ""
        sys.stderr.write(f"\rload: {r.sent}{of} sent, {r.accepted} accepted, {r.refused} refused, "
                         f"{r.silent} silent" + ("\n" if final else ""))
        sys.stderr.flush()


async def _session(opener: _Opener, plan: LoadPlan, n: int, r: LoadResult,
                   pool: concurrent.futures.Executor) -> tuple[str, bool]:
    """One message through one session: ('accepted'|'refused'|'silent', ok)."""
    loop = asyncio.get_running_loop()
    started = time.monotonic()
    try:
        running: Running = await loop.run_in_executor(pool, opener.target.smtpd, opener.fx)
    except TargetFault as exc:
        r.errors[f"start: {exc}"] += 1
        return "silent", False
    running.sock.setblocking(False)
    smtp = aiosmtplib.SMTP(sock=running.sock, local_hostname="client.test", timeout=plan.timeout,
                           start_tls=False, validate_certs=False)
    outcome, failure = "silent", ""
    transports: list[asyncio.BaseTransport | None] = []
    try:
        await smtp.connect()
        transports.append(smtp.transport)
        if plan.starttls:
            await smtp.starttls(server_hostname="mx.test", validate_certs=False)
            transports.append(smtp.transport)
        if plan.auth:
            await smtp.login("joe", "secret")
        refused, _text = await smtp.sendmail(plan.sender, [plan.recipient],
                                             message_for(r.run_id, n, plan.size))
        outcome = "refused" if refused else "accepted"
        for reply in refused.values():
            r.replies[f"{reply.code} {reply.message}"] += 1
        try:
            await smtp.quit()
        except aiosmtplib.SMTPException:
            pass
    except aiosmtplib.SMTPResponseException as exc:
        r.replies[f"{exc.code} {exc.message}"] += 1
        outcome = "refused"
    except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
        failure = type(exc).__name__
    finally:
        await _close(smtp, transports, running.sock)
    try:
        status, stderr = await loop.run_in_executor(pool, _finish, running, plan.timeout)
        if failure:  # what the program said on its way out is the useful half of the story
            last = stderr.strip().splitlines()[-1:] or [b""]
            failure += f" (exit {status}: {last[0].decode(errors='replace')[:200]})"
    except TargetFault as exc:
        failure = failure or str(exc)
    if failure:
        r.errors[failure] += 1
    r.latencies.append(time.monotonic() - started)
    return outcome, outcome == "accepted"


async def _close(smtp: aiosmtplib.SMTP, transports: list[asyncio.BaseTransport | None],
                 sock: socket.socket) -> None:
    """End the session's connection at once and let the loop forget its fd before the fd is
    freed. A graceful TLS close waits for the peer's close_notify; a socket closed under it
    frees its fd number while the loop still watches it, the next session's socket gets the
    same number, and the old transport's late clean-up unregisters the new one (its greeting
    is never read: seen after STARTTLS sessions). `abort()` unregisters at once."""
    smtp.close()
    for transport in reversed(transports):
        if isinstance(transport, asyncio.Transport):
            transport.abort()
    for _ in range(100):  # one or two loop turns: the transport closes the socket itself
        if sock.fileno() == -1:
            return
        await asyncio.sleep(0)
    sock.close()  # never connected: no transport watches it


def _finish(running: Running, timeout: float) -> tuple[int | None, bytes]:
    try:
        ended = running.finish(timeout)
        if running.tree is not None and not running.tree.wait(timeout):
            raise TargetFault("a program the session started was still running after it")
        return ended
    except TimeoutError:
        running.kill()
        raise TargetFault("the session's program did not exit") from None


def _numbers(plan: LoadPlan) -> Iterator[int]:
    n = 0
    deadline = time.monotonic() + plan.duration if plan.duration > 0 else None
    while (n < plan.messages) if deadline is None else (time.monotonic() < deadline):
        yield n
        n += 1


async def _drive(opener: _Opener, plan: LoadPlan, r: LoadResult, progress: _Progress,
                 sample: Callable[[], None]) -> set[str]:
    accepted: set[str] = set()
    numbers = _numbers(plan)
    last_sample = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(plan.concurrency * 2 + 2) as pool:

        async def worker() -> None:
            nonlocal last_sample
            for n in numbers:  # one shared iterator: each number is taken once
                r.sent += 1
                outcome, ok = await _session(opener, plan, n, r, pool)
                if ok:
                    r.accepted += 1
                    accepted.add(f"{r.run_id}-{n}")
                elif outcome == "refused":
                    r.refused += 1
                else:
                    r.silent += 1
                progress.show(r)
                if plan.duration > 0 and time.monotonic() - last_sample >= max(1.0, plan.duration / 20):
                    last_sample = time.monotonic()
                    sample()

        await asyncio.gather(*(worker() for _ in range(plan.concurrency)))
    return accepted


def run_load(target: Target, plan: LoadPlan, workdir: Path, *, progress: bool = False) -> LoadResult:
    """Send the plan's messages through a started target and check its queue."""
    if plan.messages < 1 and plan.duration <= 0:
        raise HarnessError("qmc load: --messages must be at least 1 (or give --duration)")
    if plan.concurrency < 1:
        raise HarnessError("qmc load: --concurrency must be at least 1")
    if not (FIXTURES_DIR / QUEUE_PROGRAM).exists():
        raise HarnessError(f"qmc load: {FIXTURES_DIR / QUEUE_PROGRAM} is missing: reinstall the package")
    r = LoadResult(run_id=secrets.token_hex(4), target=target.name)
    opener = _Opener(target, plan, workdir)
    before = _descendants()
    started = time.monotonic()

    def sample() -> None:
        now = _descendants()
        r.memory.append((time.monotonic() - started, sum(now.get(p, 0) for p in before)))

    sample()
    show = _Progress(0 if plan.duration > 0 else plan.messages, progress)
    accepted = asyncio.run(_drive(opener, plan, r, show, sample))
    r.seconds = time.monotonic() - started
    sample()
    show.show(r, final=True)
    _check_queue(opener.queue(plan), accepted, r)
    if plan.duration > 0:
        _check_soak(before, r)
    return r


def _check_queue(queue: list[bytes] | None, accepted: set[str], r: LoadResult) -> None:
    if queue is None:
        r.queue_checked = False
        return
    seen = ids_in(queue, r.run_id)
    r.queued = sum(seen.values())
    r.lost = sorted(accepted - set(seen), key=_number)
    r.duplicated = sorted((i for i, k in seen.items() if k > 1), key=_number)
    r.unconfirmed = sorted(set(seen) - accepted, key=_number)


def _check_soak(before: dict[int, int], r: LoadResult) -> None:
    after = _descendants()
    r.leaked = [f"{pid} {_command(pid)}" for pid in sorted(set(after) - set(before))]
    if len(r.memory) >= 4:
        first = r.memory[len(r.memory) // 4][1]  # after warm-up
        last = r.memory[-1][1]
        if last > first * 1.25 + (8 << 20):
            r.problems.append(f"the target's long-lived processes grew from {first >> 10} KiB to "
                              f"{last >> 10} KiB during the soak")


def _number(message_id: str) -> int:
    return int(message_id.rsplit("-", 1)[1])


def summary(r: LoadResult) -> str:
    data = r.to_json()
    lat = data["latency_ms"]
    lines = [f"{r.target}: {r.sent} sent in {r.seconds:.2f} s ({data['rate']}/s), {r.accepted} accepted, "
             f"{r.refused} refused, {r.silent} silent; latency ms p50 {lat['p50']} p90 {lat['p90']} "
             f"p99 {lat['p99']} max {lat['p100']}"]
    if r.queue_checked:
        lines.append(f"queue: {r.queued} queued, {len(r.lost)} lost, {len(r.duplicated)} duplicated, "
                     f"{len(r.unconfirmed)} queued without a 250")
    else:
        lines.append("queue: not checked (give --queue-dir for a tcp: target); replies only")
    for what, items in (("lost", r.lost), ("duplicated", r.duplicated)):
        if items:
            lines.append(f"{what}: {', '.join(items[:10])}{' ...' if len(items) > 10 else ''}")
    lines += [f"reply x{k}: {text}" for text, k in r.replies.most_common(10)]
    lines += [f"client error x{k}: {text}" for text, k in r.errors.most_common(10)]
    lines += [f"leaked process: {p}" for p in r.leaked]
    lines += r.problems
    lines.append("FAILED" if r.failed else "OK")
    return "\n".join(lines)


