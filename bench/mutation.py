"""How strong is the catalogue? The mutation score of the reference.

Every mutant of the reference (mutmut's mutations: a flipped comparison, a changed number or
string, a dropped argument, ...) is an eQmail that is wrong in one small way. A mutant is
killed when the catalogue notices: a golden replay (fixtures/golden, both versions) differs, or
the mutated reference breaks a case's pinned expectation (the cases without recordings, e.g.
qmail-remote's). The share killed is the catalogue's strength; each survivor names a behaviour
no case pins, or an equivalent change (listed with its reason in bench/mutation-equivalent.toml
and then not counted).

How it drives the reference's process model: mutmut writes every mutant of a file into one
copy of it behind trampolines that pick the mutant named by MUTANT_UNDER_TEST. That copy of
eqmail_ref/ goes into a temporary tree put first on PYTHONPATH, with a sitecustomize.py that
fixes the mutant in each Python process at start, because the fork server clears the
environment of every session it forks (harness/targets/zygote.py). A worker process runs the
catalogue for one mutant after another, restarting the reference's fork servers in between,
and stops a mutant's run at its first non-OK verdict.

Usage:
    python bench/mutation.py --sample 300 --seed 7 [--out mutation.json] [--timeout 180]
    python bench/mutation.py --all
    python bench/mutation.py --list            # the mutants, one line each, nothing run
    python bench/mutation.py --sample 300 --seed 7 --resume mutation.partial.jsonl
        # after new cases or equivalents: the earlier kills stand, the rest is judged again
"""

from __future__ import annotations

import argparse
import ast
import difflib
import hashlib
import itertools
import json
import os
import random
import selectors
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "eqmail_ref"
# not mutated: the command-line glue, and shells the catalogue never runs (serve is the
# listener for tcp: users, inprocess the engine of property sessions and the fuzzer)
NOT_MUTATED = {"cli.py", "__main__.py", "selfcheck.py", "serve.py", "inprocess.py"}
EQUIVALENT = Path(__file__).resolve().parent / "mutation-equivalent.toml"
SITECUSTOMIZE = """\
# bench/mutation.py: the mutant named at process start stays active after the fork server
# clears the environment of a session (harness/targets/zygote.py). In the tracing pass
# ("stats"), each process writes the functions it ran to QMC_TRACE_DIR/PID.hits when it ends
# (the fork server's children end with os._exit, which runs no atexit handler).
import os
_mode = os.environ.get("MUTANT_UNDER_TEST", "")
if _mode == "stats" and os.environ.get("QMC_TRACE_DIR"):
    import atexit
    import mutmut.stats
    _dir, _hits, _os_exit = os.environ["QMC_TRACE_DIR"], set(), os._exit
    mutmut.stats.record_trampoline_hit = lambda name, caller=None: _hits.add(name)

    def _dump():
        if _hits:
            with open(os.path.join(_dir, "%d.hits" % os.getpid()), "w") as f:
                f.write("\\n".join(sorted(_hits)))

    def _exit_after_dump(code):
        _dump()
        _os_exit(code)

    os._exit = _exit_after_dump
    atexit.register(_dump)
if _mode:
    from mutmut.mutation.trampoline import set_mutant_under_test
    set_mutant_under_test(_mode)
"""


@dataclass(frozen=True, kw_only=True)
class Mutant:
    key: str  # module:function:hash of the change, stable while the function is unchanged
    name: str  # what MUTANT_UNDER_TEST says: module.x_function__mutmut_N
    path: str
    line: int
    function: str
    change: str  # the lines that differ, '-' original, '+' mutant

    @property
    def module(self) -> str:
        return self.name.rpartition(".")[0]


# ----------------------------------------------------------------------------- mutants

def _function_lines(code: str) -> dict[str, int]:
    """Mangled function name (mutmut's x_f / xǁClassǁm) -> its def line in the original."""
    from mutmut.mutation.trampoline_templates import mangle_function_name

    lines: dict[str, int] = {}
    for node in ast.parse(code).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            lines[mangle_function_name(name=node.name, class_name=None)] = node.lineno
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    lines[mangle_function_name(name=item.name, class_name=node.name)] = item.lineno
    return lines


def _span(code_lines: list[str], span: object) -> list[str]:
    return code_lines[span.start - 1:span.end]  # type: ignore[attr-defined]


def mutate_tree(dest: Path, only: set[str] | None = None) -> list[Mutant]:
    """Write the mutated package under `dest`; every mutant it holds (of the files named in
    `only`, as paths like eqmail_ref/commands.py, if given)."""
    from mutmut.mutation.file_mutation import mutate_file_contents

    shutil.copytree(ROOT / PACKAGE, dest / PACKAGE, ignore=shutil.ignore_patterns("__pycache__"))
    (dest / "sitecustomize.py").write_text(SITECUSTOMIZE)
    mutants: list[Mutant] = []
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        rel = path.relative_to(ROOT)
        if path.name in NOT_MUTATED or (only is not None and str(rel) not in only):
            continue
        code = path.read_text()
        mutated = mutate_file_contents(str(rel), code)
        if not mutated.mutant_names:
            continue
        (dest / rel).write_text(mutated.code)
        module = ".".join(rel.with_suffix("").parts)
        module = module.removesuffix(".__init__")
        defs = _function_lines(code)
        lines = mutated.code.splitlines()
        spans = mutated.line_span_by_function_name
        for name in mutated.mutant_names:
            function = name.rpartition("__mutmut_")[0]
            orig = _span(lines, spans[f"{function}__mutmut_orig"])[1:]
            mine = _span(lines, spans[name])[1:]
            change = [d for d in difflib.unified_diff(orig, mine, lineterm="", n=0)
                      if d[:1] in "+-" and d[:3] not in ("+++", "---")]
            first = next((n for n, (a, b) in enumerate(zip(orig, mine, strict=False)) if a != b), 0)
            digest = hashlib.sha1("\n".join(change).encode()).hexdigest()[:10]
            mutants.append(Mutant(key=f"{module}:{function}:{digest}", name=f"{module}.{name}",
                                  path=str(rel), line=defs.get(function, 0) + 1 + first,
                                  function=function, change="\n".join(change)))
    return mutants


def _listed(table: str) -> dict[str, str]:
    """key -> reason of one table of bench/mutation-equivalent.toml."""
    if not EQUIVALENT.exists():
        return {}
    data = tomllib.loads(EQUIVALENT.read_text())
    return {e["key"]: e["reason"] for e in data.get(table, [])}


def equivalents() -> dict[str, str]:
    return _listed("equivalent")


def known_survivors() -> dict[str, str]:
    """Survivors kept on purpose ([[survivor]] in the same file): still counted as survived,
    but each says why no case kills it yet."""
    return _listed("survivor")


# ----------------------------------------------------------------------------- the killer

def worker() -> int:
    """Reads one JSON request a line and answers one JSON line:
    {"trace": true} -> runs the whole catalogue unmutated, one case at a time, and answers
        {"hits": {function: [case ids]}, "bad": [...]} (bad: results that were not OK);
    {"name": MUTANT, "cases": [ids]} -> runs those cases with the mutant, stopping at the
        first non-OK verdict: {"name", "killed", "by", "verdict", "reason", "cases"}."""
    sys.path.insert(0, str(ROOT))
    from mutmut.mutation.trampoline import set_mutant_under_test

    from harness.cases import load_catalogue
    from harness.resources import GOLDEN_DIR
    from harness.runner import Runner
    from harness.targets.golden import GoldenTarget
    from harness.targets.ref import RefTarget
    from harness.verdict import NOT_APPLICABLE, OK

    catalogue = load_catalogue().cases
    # the reference's own recordings (real eQmail's, beside them, differ where real builds may)
    goldens = [GoldenTarget(f"golden:{d}", str(d)) for d in sorted(GOLDEN_DIR.glob("ref-*"))
               if (d / "index.json").exists()]
    for g in goldens:
        g.start()
    recorded = {c for g in goldens for c in g.index.get("cases", [])}
    by_category: dict[int, list[Any]] = defaultdict(list)
    for case in catalogue:
        if case.id in recorded or case.expect:
            by_category[case.category].append(case)
    # round robin over the categories: a mutant of one area dies early whatever the area
    ordered = [c for batch in itertools.zip_longest(*by_category.values()) for c in batch if c is not None]
    for line in sys.stdin:
        request = json.loads(line)
        tracing = bool(request.get("trace"))
        name = "stats" if tracing else str(request["name"])
        wanted = None if tracing else set(request["cases"])
        trace_dir = Path(tempfile.mkdtemp(prefix="qmc-trace-"))
        os.environ.update(MUTANT_UNDER_TEST=name, QMC_TRACE_DIR=str(trace_dir))
        set_mutant_under_test(name)
        refs = {v: RefTarget(f"ref:{v}", v, True) for v in ("1.08", "1.09")}
        try:
            for r in refs.values():
                r.start()
        except Exception as exc:  # noqa: BLE001 - a mutant that stops the reference starting
            for r in refs.values():
                r.stop()
            print(json.dumps({"name": name, "killed": True, "cases": 0, "by": "(start)",
                              "verdict": "ERROR", "reason": str(exc)[:200]}), flush=True)
            continue
        chosen = [c for c in ordered if wanted is None or c.id in wanted]
        plan: list[tuple[list[Any], list[Any]]] = [
            ([g, refs[g.ref.version]], [c for c in chosen if c.id in g.index["cases"]]) for g in goldens]
        plan.append((list(refs.values()), [c for c in chosen if c.id not in recorded]))
        watch = _Watch(tracing, trace_dir)
        try:
            for targets, cases in plan:
                # tracing: a run per case, since the runner hands pausing cases out first and
                # overlaps them (harness/runner.py), and a case's .hits must be its own
                for batch in [[c] for c in cases] if tracing else [cases]:
                    runner = Runner(targets, batch, jobs=1 if tracing else 2)
                    runner.progress = watch.seen_by(runner, (OK, NOT_APPLICABLE))
                    runner.run()
                    if watch.bad and not tracing:
                        break
                if watch.bad and not tracing:
                    break
        finally:
            for r in refs.values():
                r.stop()
            shutil.rmtree(trace_dir, ignore_errors=True)
        if tracing:
            answer: dict[str, Any] = {"hits": {f: sorted(c) for f, c in watch.hits.items()}, "bad": watch.bad}
        else:
            answer = {"name": name, "killed": bool(watch.bad), "cases": len(watch.cases),
                      **(watch.bad[0] if watch.bad else {})}
        print(json.dumps(answer), flush=True)
    return 0


class _Watch:
    """What one mutant's runs saw: the first non-OK results (a kill stops the runner), and
    while tracing, which functions each case ran (one case at a time, so the .hits files
    written meanwhile are that case's)."""

    def __init__(self, tracing: bool, trace_dir: Path) -> None:
        self.tracing, self.trace_dir = tracing, trace_dir
        self.hits: dict[str, set[str]] = defaultdict(set)
        self.bad: list[dict[str, str]] = []
        self.cases: set[str] = set()

    def seen_by(self, runner: Any, fine: tuple[str, ...]) -> Any:
        def seen(result: Any) -> None:
            self.cases.add(result.case.id)
            if result.verdict not in fine:
                self.bad.append({"by": result.case.id, "verdict": str(result.verdict),
                                 "reason": str(result.reason)[:200]})
                if not self.tracing:
                    runner.stopping.set()
            for path in self.trace_dir.glob("*.hits"):
                for function in path.read_text().split():
                    self.hits[function].add(result.case.id)
                path.unlink()
        return seen


class Workers:
    """One worker process, fed mutant by mutant; a mutant that takes longer than `timeout`
    (an endless loop, a hang past the cases' own timeouts) kills the worker: TIMEOUT."""

    def __init__(self, tree: Path, timeout: float) -> None:
        self.tree, self.timeout = tree, timeout
        self.proc: subprocess.Popen[str] | None = None

    def _start(self) -> subprocess.Popen[str]:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(self.tree), str(ROOT)])}
        env.pop("MUTANT_UNDER_TEST", None)
        return subprocess.Popen([sys.executable, __file__, "--worker"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True, env=env, cwd=self.tree,
                                start_new_session=True)

    def ask(self, request: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
        if self.proc is None:
            self.proc = self._start()
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        ready = sel.select(timeout or self.timeout)
        sel.close()
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            self.close()
            return {"name": request.get("name", ""), "timeout": True}
        return dict(json.loads(line))

    def close(self) -> None:
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, 9)
            except OSError:
                pass
            self.proc.wait()
            self.proc = None


# ----------------------------------------------------------------------------- the run

def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sample", type=int, default=300, help="mutants drawn at random (default 300)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--all", action="store_true", help="every mutant (hours on 2 cores)")
    p.add_argument("--list", action="store_true", help="list the mutants; run nothing")
    p.add_argument("--file", action="append", metavar="PATH",
                   help="mutate only this file (e.g. eqmail_ref/commands.py; repeatable)")
    p.add_argument("--timeout", type=float, default=180.0, help="seconds per mutant before TIMEOUT")
    p.add_argument("--out", default="mutation.json", help="result with every survivor (JSON)")
    p.add_argument("--resume", metavar="PARTIAL",
                   help="an earlier run's .partial.jsonl of the same sample: its killed mutants "
                        "are taken as they are, the rest (survivors, mutants it did not reach) "
                        "are judged again, by today's catalogue")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker()
    with tempfile.TemporaryDirectory(prefix="qmc-mutants-") as tmp:
        tree = Path(tmp)
        mutants = mutate_tree(tree, set(args.file) if args.file else None)
        if args.list:
            for m in mutants:
                print(f"{m.key}  {m.path}:{m.line}  {m.change.splitlines()[-1] if m.change else ''}")
            print(f"{len(mutants)} mutants")
            return 0
        known = equivalents()
        chosen = mutants if args.all else sorted(random.Random(args.seed).sample(mutants, min(args.sample,
                                                                                           len(mutants))),
                                                 key=lambda m: m.name)
        return run(tree, mutants, chosen, known, args)


def run(tree: Path, mutants: list[Mutant], chosen: list[Mutant], known: dict[str, str],
        args: argparse.Namespace) -> int:
    workers = Workers(tree, args.timeout)
    started = time.monotonic()
    partial = Path(args.out).with_suffix(".partial.jsonl")
    earlier: dict[str, dict[str, Any]] = {}
    if args.resume:
        for line in Path(args.resume).read_text().splitlines():
            judged = json.loads(line)
            earlier[judged["key"]] = {k: v for k, v in judged.items() if k not in asdict(chosen[0])}
    partial.unlink(missing_ok=True)
    try:
        # one unmutated pass, a case at a time: it must be all OK, and it tells which cases
        # run each function, so that a mutant runs only the cases that can see it
        traced = workers.ask({"trace": True}, timeout=3600)
        broken = [b for b in traced.get("bad", []) if b["verdict"] in ("FAILED", "ERROR")]
        if traced.get("timeout") or broken:
            print(f"the unmutated reference does not replay its own golden data: {broken or traced}",
                  file=sys.stderr)
            return 2
        # a case that is not OK unmutated (an informational one whose recording depends on the
        # day, e.g. 3.3.6) cannot tell a mutant apart: left out, and said
        noisy = {b["by"] for b in traced.get("bad", [])}
        if noisy:
            print(f"left out, not OK without a mutant: {', '.join(sorted(noisy))}", flush=True)
        hits: dict[str, list[str]] = {f: [c for c in cases if c not in noisy]
                                      for f, cases in traced["hits"].items()}
        print(f"traced in {time.monotonic() - started:.0f} s: {len(hits)} functions run by the catalogue",
              flush=True)
        outcomes: list[tuple[Mutant, dict[str, Any]]] = []
        for n, m in enumerate(chosen, 1):
            cases = hits.get(m.name.rpartition("__mutmut_")[0], [])
            before = earlier.get(m.key, {})
            if m.key in known:
                verdict: dict[str, Any] = {"equivalent": known[m.key]}
            elif before.get("killed") or before.get("timeout"):
                verdict = before
            elif not cases:
                verdict = {"killed": False, "cases": 0, "uncovered": True}
            else:
                verdict = workers.ask({"name": m.name, "cases": cases})
            outcomes.append((m, verdict))
            with partial.open("a") as f:  # a run cut short keeps what it judged
                f.write(json.dumps({**asdict(m), **verdict}) + "\n")
            state = ("equivalent" if "equivalent" in verdict else "TIMEOUT" if verdict.get("timeout")
                     else "killed" if verdict.get("killed") else "SURVIVED")
            print(f"[{n}/{len(chosen)}] {state:10} {m.path}:{m.line} {m.function} "
                  f"({verdict.get('by', '')}, {verdict.get('cases', 0)} of {len(cases)} cases)", flush=True)
    finally:
        workers.close()
    return report(mutants, outcomes, time.monotonic() - started, Path(args.out), args)


def report(mutants: list[Mutant], outcomes: list[tuple[Mutant, dict[str, Any]]], seconds: float,
           out: Path, args: argparse.Namespace) -> int:
    rows: dict[str, Counter[str]] = defaultdict(Counter)
    for m, v in outcomes:
        state = ("equivalent" if "equivalent" in v else "timeout" if v.get("timeout")
                 else "killed" if v.get("killed") else "survived")
        rows[m.path][state] += 1
        rows["(all)"][state] += 1
    print(f"\n{len(outcomes)} of {len(mutants)} mutants, {seconds / 60:.1f} min")
    print(f"{'module':40} {'killed':>7} {'survived':>9} {'timeout':>8} {'equiv':>6} {'score':>7}")
    for path in sorted(rows, key=lambda p: (p == "(all)", p)):
        c = rows[path]
        judged = c["killed"] + c["survived"] + c["timeout"]
        score = (c["killed"] + c["timeout"]) / judged if judged else 1.0
        print(f"{path:40} {c['killed']:7} {c['survived']:9} {c['timeout']:8} {c['equivalent']:6} "
              f"{score:7.1%}")
    total = rows["(all)"]
    judged = total["killed"] + total["survived"] + total["timeout"]
    score = (total["killed"] + total["timeout"]) / judged if judged else 1.0
    why = known_survivors()
    survivors = [{**asdict(m), "cases_run": v.get("cases", 0), "uncovered": bool(v.get("uncovered")),
                  "known": why.get(m.key, "")}
                 for m, v in outcomes
                 if not v.get("killed") and not v.get("timeout") and "equivalent" not in v]
    unexplained = [s["key"] for s in survivors if not s["known"]]
    print(f"{len(survivors)} survivors, {len(unexplained)} without a case or a reason"
          + (": " + ", ".join(unexplained) if unexplained else ""))
    out.write_text(json.dumps({"seed": args.seed, "sample": len(outcomes), "mutants": len(mutants),
                               "score": round(score, 4), "seconds": round(seconds, 1),
                               "counts": {p: dict(c) for p, c in rows.items()},
                               "survivors": survivors}, indent=1, sort_keys=True) + "\n")
    print(f"score (killed + timeout) / non-equivalent: {score:.1%}; survivors in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
