"""`python -m harness.fuzz --workers N`: N fuzzer processes (multiprocessing, 'spawn': each
opens its own sides, as one run would) that share the corpus and the findings directory
through files (harness.fuzz.shared), AFL-style. Worker i uses seed S+i and takes the others'
new inputs every --sync-every sessions. All workers start their first session together
(a barrier, once every worker's sides are up), so none runs alone while the others still
start. The parent waits for them all and prints one merged summary."""

from __future__ import annotations

import argparse
import json
import multiprocessing
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.fuzz.engine import Stats

__all__ = ["run_workers", "stats_to_json", "stats_from_json", "merge_stats"]

START_TIMEOUT = 300.0  # seconds a worker waits at the barrier for the others' sides (docker: may pull)


def stats_to_json(stats: Stats) -> dict[str, Any]:
    return {"sessions": stats.sessions, "seconds": stats.seconds, "searched": stats.searched,
            "findings": stats.findings, "hits": stats.hits, "saved": [str(p) for p in stats.saved],
            "modelled_crashes": stats.modelled_crashes, "features": sorted(stats.features),
            "corpus_added": stats.corpus_added, "corpus_taken": stats.corpus_taken, "known": stats.known}


def stats_from_json(data: dict[str, Any]) -> Stats:
    return Stats(sessions=data["sessions"], seconds=data["seconds"], searched=data["searched"],
                 findings=data["findings"], hits=data["hits"], saved=[Path(p) for p in data["saved"]],
                 modelled_crashes=data["modelled_crashes"],
                 features={(s, int(a), int(b)) for s, a, b in data["features"]},
                 corpus_added=data["corpus_added"], corpus_taken=data["corpus_taken"], known=data["known"])


def _add(into: dict[str, int], more: dict[str, int]) -> None:
    for key, n in more.items():
        into[key] = into.get(key, 0) + n


def merge_stats(parts: list[Stats]) -> Stats:
    """The workers' stats as one run's: counts add up, coverage is the union, and the time is
    the longest worker's (they ran side by side). A signature one worker saved and another only
    hit is one finding: the claims (harness.fuzz.shared) made sure only one worker saved it."""
    merged = Stats(seconds=max((s.seconds for s in parts), default=0.0),
                   searched=max((s.searched for s in parts), default=0.0))
    for s in parts:
        merged.sessions += s.sessions
        merged.modelled_crashes += s.modelled_crashes
        merged.corpus_added += s.corpus_added
        merged.corpus_taken += s.corpus_taken
        merged.features |= s.features
        merged.saved += s.saved
        _add(merged.findings, s.findings)
        _add(merged.hits, s.hits)
        _add(merged.known, s.known)
    return merged


def _worker(options: dict[str, Any], index: int, barrier: threading.Barrier, result: str) -> None:
    from harness.fuzz.__main__ import fuzz_one  # imported in the new process (spawn)

    args = argparse.Namespace(**options)

    def ready() -> None:
        try:
            barrier.wait(START_TIMEOUT)
        except threading.BrokenBarrierError:  # a worker failed to start: go on alone
            pass

    def log(line: str) -> None:
        print(f"[worker {index}] {line}", flush=True)

    try:
        stats, target, reference = fuzz_one(args, args.seed + index, sync_every=args.sync_every, claims=True,
                                            log=log, ready=ready)
    except BaseException as e:
        barrier.abort()  # the others do not wait for this one at the start
        if isinstance(e, HarnessError):
            print(f"fuzz: worker {index}: {e}", file=sys.stderr, flush=True)
            sys.exit(2)
        raise
    Path(result).write_text(json.dumps({"target": target, "reference": reference,
                                        "stats": stats_to_json(stats)}))


def run_workers(args: argparse.Namespace) -> int:
    from harness.fuzz.__main__ import summary

    n = args.workers
    work = Path(tempfile.mkdtemp(prefix="qmc-fuzz-workers-"))
    try:
        options = dict(vars(args))
        options.pop("func", None)
        options["corpus"] = args.corpus or str(work / "corpus")  # the workers share one, always
        ctx = multiprocessing.get_context("spawn")
        barrier = ctx.Barrier(n)
        results = [work / f"worker-{i}.json" for i in range(n)]
        procs = [ctx.Process(target=_worker, args=(options, i, barrier, str(results[i])),
                             name=f"fuzz-worker-{i}") for i in range(n)]
        started = time.monotonic()
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        wall = time.monotonic() - started
        failed = [f"worker {i} (exit status {p.exitcode})" for i, p in enumerate(procs)
                  if not results[i].exists()]
        if failed:
            raise HarnessError(f"--workers {n}: {', '.join(failed)} ended without results; "
                               "see its output above")
        done = [json.loads(r.read_text()) for r in results]
        corpus_size = len(list(Path(options["corpus"]).glob("*.bin")))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    parts = [stats_from_json(d["stats"]) for d in done]
    for i, s in enumerate(parts):
        found = ", ".join(f"{k}: {v}" for k, v in sorted(s.findings.items())) or "none"
        known = ", ".join(f"{k}: {v}" for k, v in sorted(s.known.items())) or "none"
        print(f"worker {i} (seed {args.seed + i}): {s.sessions} sessions in {s.seconds:.1f} s; "
              f"corpus +{s.corpus_added}, took {s.corpus_taken} from other workers; findings saved: {found}; "
              f"hit, saved by another: {known}")
    merged = merge_stats(parts)
    print(summary(merged, done[0]["target"], done[0]["reference"], f"{args.seed}..{args.seed + n - 1}",
                  f"+{merged.corpus_added} ({corpus_size} inputs in {args.corpus or 'a temporary directory'})"
                  )
          + f"; {n} workers, {wall:.1f} s with their start")
    print(merged.coverage())
    return 1 if merged.findings or merged.known else 0
