"""`qmc` (also `python -m harness`): the harness's command line.

    qmc run [--target SPEC]... [--cases GLOB]... [--tag TAG]... [--baseline FILE] [--out DIR] [--jobs N]
    qmc list [--cases GLOB]...
    qmc show CASE-ID
    qmc record --target SPEC --out DIR [--cases GLOB]... [--skip-tag TAG]...
    qmc load [--target SPEC] --messages N --concurrency C [--auth] [--starttls] [--size B] [--duration S]
    qmc image --from-home DIR --tag TAG [--uids LIST] [--package PKG]... [--engine E]
    qmc merge DIR... --out DIR

`run --shard K/N` runs the K-th of N slices of the selected (case, target) pairs
(harness/shard.py); `merge` joins the shards' report directories into one run's report.

`run` with no --target is the main job: the catalogue against the reference 1.08 and 1.09
side by side. Exit status: 0 when no result needs attention (FAILED or ERROR not in the
baseline; ACCEPTED does not) and the catalogue has no problems, 1 when some do (problems are
reported as FILE:LINE: case ID: what, and the good cases still run), 2 for a usage or
set-up error, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from eqmail_ref.__about__ import __version__
from harness.baseline import load_baseline, mark_known, write_baseline
from harness.cases import CATALOGUE_DIR, Alternative, Case, Catalogue, load_catalogue, select
from harness.errors import exit_status_of
from harness.load_cli import register as register_load
from harness.report.json_ import JsonReport
from harness.report.junit import write_junit
from harness.report.terminal import Progress, print_summary
from harness.resources import catalogue_origin
from harness.runner import CaseResult, Runner
from harness.shard import parse_shard
from harness.targets import make_target
from harness.targets.base import Target
from harness.verdict import BAD

__all__ = ["main"]

DEFAULT_TARGETS = ["ref", "ref:1.09"]


def _catalogue_paths(args: argparse.Namespace) -> list[Path]:
    """The built-in catalogue plus --catalogue paths, or only the --catalogue-only ones."""
    if args.catalogue_only:
        return [Path(p) for p in args.catalogue_only]
    return [CATALOGUE_DIR, *(Path(p) for p in args.catalogue)]


def _origin(args: argparse.Namespace) -> str:
    return catalogue_origin([Path(p) for p in args.catalogue_only or args.catalogue],
                            builtin=not args.catalogue_only)


def _catalogue(args: argparse.Namespace) -> tuple[Catalogue, list[Case]]:
    catalogue = load_catalogue(_catalogue_paths(args))
    skip = set(args.skip_tag)
    return catalogue, [c for c in select(catalogue.cases, args.cases, args.tag) if not skip & set(c.tags)]


def _start(specs: list[str]) -> list[Target]:
    targets: list[Target] = []
    try:
        for spec in specs:
            target = make_target(spec)
            target.start()
            targets.append(target)
    except BaseException:
        _stop(targets)
        raise
    return targets


def _stop(targets: list[Target]) -> None:
    for target in targets:
        target.stop()


def _write_html(index: dict[str, object], out: Path) -> Path | None:
    try:
        from harness.report.html import write_html
    except ImportError:
        return None
    try:
        path: Path | None = write_html(index, out)
    except Exception as exc:  # noqa: BLE001 - a rendering bug must not lose the other reports
        print(f"qmc: the HTML report failed ({type(exc).__name__}: {exc}); index.json is complete",
              file=sys.stderr)
        return None
    return path


def _render(index: dict[str, Any], out: Path, index_path: Path) -> None:
    """JUnit and HTML from the index, the summary on the terminal."""
    write_junit(index, out / "junit.xml")
    html = _write_html(index, out)
    print_summary(index)
    print(f"reports: {index_path}, {out / 'junit.xml'}" + (f", {html}" if html else ""))


def cmd_merge(args: argparse.Namespace) -> int:
    from harness.report.merge import merge_reports

    out = Path(args.out)
    index = merge_reports([Path(d) for d in args.dirs], out)
    _render(index, out, out / "index.json")
    bad = any(r["verdict"] in BAD and not r["known"] for r in index["results"])
    return 1 if bad or index["run"]["problems"] else 0


def cmd_run(args: argparse.Namespace) -> int:
    catalogue, cases = _catalogue(args)
    for problem in catalogue.problems:
        print(f"qmc: {problem}", file=sys.stderr)
    if not cases:
        print("qmc: no case selected" + (f" by {args.cases}" if args.cases else "") + f" ({_origin(args)})",
              file=sys.stderr)
        return 2
    baseline = load_baseline(Path(args.baseline)) if args.baseline and Path(args.baseline).exists() else {}
    if not _fit(args.target or DEFAULT_TARGETS):
        return 2
    shard = parse_shard(args.shard) if args.shard else None
    targets = _start(args.target or DEFAULT_TARGETS)
    out = Path(args.out)
    report = JsonReport(out, targets, sys.argv[1:], shard=shard)
    progress = Progress(-(-len(cases) * len(targets) // (shard[1] if shard else 1)))
    results: list[CaseResult] = []

    def arrived(result: CaseResult) -> None:
        mark_known(result, baseline)
        report.add(result)
        results.append(result)
        progress(result)

    interrupted = False
    try:
        Runner(targets, cases, jobs=args.jobs, shard=shard, keep=args.keep,
               informational_fails=args.informational_fails, progress=arrived).run()
    except KeyboardInterrupt:
        interrupted = True
    finally:
        progress.close()
        _stop(targets)
        index_path = report.finish(interrupted=interrupted, problems=catalogue.problems)
    from harness.report.json_ import load_index

    _render(load_index(out), out, index_path)
    if args.update_baseline:
        write_baseline(Path(args.update_baseline), results)
        print(f"baseline written: {args.update_baseline}")
    if interrupted:
        return 130
    needs_attention = any(r.verdict in BAD and not r.known for r in results)
    return 1 if needs_attention or catalogue.problems else 0


def _fit(specs: list[str]) -> bool:
    """`qmc doctor`'s checks before a run: warnings printed, False when one blocks."""
    from harness.doctor import Status, blocking, diagnose, format_finding

    findings = [f for f in diagnose(specs) if f.status is not Status.OK]
    for finding in findings:
        print(f"qmc: {format_finding(finding)}", file=sys.stderr)
    if blocking(findings):
        print("qmc: not run: fix what is missing first (qmc doctor -t SPEC checks again)", file=sys.stderr)
        return False
    return True


def cmd_doctor(args: argparse.Namespace) -> int:
    from harness.doctor import blocking, diagnose, format_finding

    findings = diagnose(args.target or DEFAULT_TARGETS)
    for finding in findings:
        print(format_finding(finding))
    return 1 if blocking(findings) else 0


def cmd_list(args: argparse.Namespace) -> int:
    catalogue, cases = _catalogue(args)
    for case in cases:
        print(f"{case.id:<10} {','.join(case.versions):<10} {case.title}")
    for problem in catalogue.problems:
        print(f"qmc: {problem}", file=sys.stderr)
    print(f"{len(cases)} cases; {_origin(args)}", file=sys.stderr)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    catalogue, _ = _catalogue(args)
    for case in catalogue.cases:
        if case.id == args.case:
            print(f"{case.id}  {case.title}\n  spec §{case.spec}  versions {', '.join(case.versions)}  "
                  f"grade {case.grade}  profile {case.profile}  tags {', '.join(case.tags) or '-'}\n"
                  f"  from {case.source}:{case.line}")
            for name, content in case.files.items():
                print(f"  file {name}: {content!r}")
            for key, value in case.env.items():
                print(f"  env {key}={value!r}")
            for n, step in enumerate(case.steps, 1):
                replies = f" replies={step.replies}" if step.data else ""
                print(f"  step {n} {step.kind} {step.data!r}{replies}")
            for label, pins in [("expect", case.expect), *(("accept", alt) for alt in case.accept)]:
                if pins:
                    shown = {key: pins.value(key) for key in pins.pinned()}
                    why = (f" ({pins.reason}; {', '.join(pins.versions)})"
                           if isinstance(pins, Alternative) else "")
                    print(f"  {label}{why} {shown}")
            return 0
    print(f"qmc: no case {args.case}", file=sys.stderr)
    return 2


def cmd_record(args: argparse.Namespace) -> int:
    from harness.targets.golden import write_golden

    _, cases = _catalogue(args)
    targets = _start([args.target])
    try:
        runner = Runner(targets, cases, jobs=args.jobs)
        results = runner.run()
    finally:
        _stop(targets)
    transcripts = [r.transcript for r in results if r.transcript is not None]
    write_golden(Path(args.out), targets[0], transcripts)
    errors = [r for r in results if r.transcript is not None and r.transcript.error]
    for r in errors:
        print(f"qmc: {r.case.id}: {r.transcript.error if r.transcript else ''}", file=sys.stderr)
    print(f"recorded {len(transcripts)} transcripts of {args.target} in {args.out}")
    return 1 if errors else 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="qmc", description="conformance harness for qmail-compatible MTAs")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    def selection(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--cases", action="append", default=[], metavar="GLOB", help="case ids, e.g. '4.*'")
        sp.add_argument("--tag", action="append", default=[], help="only cases with this tag")
        sp.add_argument("--skip-tag", action="append", default=[], metavar="TAG",
                        help="leave out cases with this tag (e.g. 'big' when recording golden data)")
        sp.add_argument("--catalogue", action="append", default=[], metavar="PATH",
                        help="your own case files or directories, run IN ADDITION to the built-in "
                             f"catalogue ({CATALOGUE_DIR}); repeatable")
        sp.add_argument("--catalogue-only", action="append", default=[], metavar="PATH",
                        help="case files or directories run INSTEAD of the built-in catalogue; repeatable")
        sp.add_argument("--jobs", "-j", type=int, default=min(4, os.cpu_count() or 1),
                        help="cases run at once (default: the CPUs, at most 4)")

    run = sub.add_parser("run", help="run cases against targets and report")
    run.add_argument("--target", "-t", action="append", default=[], metavar="SPEC",
                     help="ref, ref:1.09, exec:/var/qmail, docker:IMAGE, tcp:HOST:PORT, golden:DIR "
                          "(repeatable)")
    run.add_argument("--out", default="reports", help="report directory (default: reports)")
    run.add_argument("--baseline", help="accepted divergences (JSON); CI fails only on new ones")
    run.add_argument("--update-baseline", metavar="FILE", help="write this run's divergences as a baseline")
    run.add_argument("--informational-fails", action="store_true",
                     help="policy: differences in informational cases (smuggling family) are FAILED")
    run.add_argument("--shard", metavar="K/N", help="run only the K-th of N slices of the selected "
                     "(case, target) pairs; join the reports with qmc merge")
    run.add_argument("--keep", action="store_true", help="keep the case homes (in a qmc-* temp dir)")
    selection(run)
    run.set_defaults(func=cmd_run)
    lst = sub.add_parser("list", help="list the selected cases")
    selection(lst)
    lst.set_defaults(func=cmd_list)
    show = sub.add_parser("show", help="show one case")
    show.add_argument("case")
    selection(show)
    show.set_defaults(func=cmd_show)
    doc = sub.add_parser("doctor", help="check what the targets need before a run, and say how to get "
                                        "what is missing")
    doc.add_argument("--target", "-t", action="append", default=[], metavar="SPEC",
                     help="the targets to check (default: ref and ref:1.09)")
    doc.set_defaults(func=cmd_doctor)
    merge = sub.add_parser("merge", help="join the report directories of a run's shards into one")
    merge.add_argument("dirs", nargs="+", metavar="DIR")
    merge.add_argument("--out", required=True, help="the merged report directory")
    merge.set_defaults(func=cmd_merge)
    rec = sub.add_parser("record", help="save a target's transcripts as golden data")
    rec.add_argument("--target", "-t", required=True)
    rec.add_argument("--out", required=True)
    selection(rec)
    rec.set_defaults(func=cmd_record)
    img = sub.add_parser("image", help="package an installed qmail as an image for the docker: target")
    img.add_argument("--from-home", required=True, metavar="DIR", help="the qmail home, e.g. /var/qmail")
    img.add_argument("--tag", required=True, help="the image's name, e.g. localhost/me/eqmail:1.09")
    img.add_argument("--uids", default="", metavar="LIST",
                     help="ids the binaries were compiled with, when this machine has no such accounts: "
                          "USER=UID:GID and GROUP=GID, comma-separated (default: this machine's "
                          "qmail accounts and the owners of the home's files)")
    img.add_argument("--package", action="append", default=[], metavar="PKG",
                     help="one more Debian package to install (repeatable)")
    img.add_argument("--engine", default="", help="podman, docker or an API URL (default: as for docker:)")
    img.set_defaults(func=cmd_image)
    register_load(sub)
    return p


def cmd_image(args: argparse.Namespace) -> int:
    from harness.images.from_home import image_from_home

    line = image_from_home(Path(args.from_home), args.tag, uids=args.uids, packages=tuple(args.package),
                           engine=args.engine)
    print(f"built {args.tag}; next:\n  {line}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return exit_status_of("qmc", lambda: int(args.func(args)))
