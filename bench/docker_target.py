"""The whole catalogue through the harness on `ref` and on `docker:` targets, in one run:
the reference image (sessions run `eqmail-ref smtpd`), the reference installed as a qmail
home and packaged by `qmc image --from-home` (each session in a private mount namespace, as
for a real eQmail), and, when /work/real-eqmail/READY names one, real eQmail 1.09 packaged
the same way (built locally, never committed) against `ref:1.09`. The docker: targets run
on the fast path (files through a bind mount; the reference image's sessions forked by its
fork server in the container, a qmail home's under the one tcpserver supervisor); with
`--api-only` the reference image is also timed on the Engine API path (archives, an exec
per session: how every docker: target ran before). A target with cases that take real
eQmail's 5 s pause after a failed AUTH gets a second row without those cases.

    python bench/docker_target.py [--jobs N] [--cases GLOB] [--api-only] [--no-real]

`run` is what `qmc run -t docker:...` takes (the Runner also runs the reference once per
case for a target that is not `ref`); ratios are to `ref` (or `ref:1.09`) alone. Target
start-up (container, network, supervisor) and image builds are reported apart. Needs root
and podman (or DOCKER_HOST).
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import io
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from machine import load_average  # noqa: E402 - bench/, the script's own directory
from real_builds import real_home  # noqa: E402

from harness.cases import Case, load_catalogue  # noqa: E402
from harness.runner import Runner  # noqa: E402
from harness.targets import make_target  # noqa: E402
from harness.verdict import NOT_APPLICABLE, OK  # noqa: E402

__all__ = ["main"]

REF_IMAGE = "localhost/qmc/eqmail-ref:latest"
HOME_IMAGE = "localhost/qmc/bench-ref-home:latest"
REAL_IMAGE = "localhost/qmc/bench-real-eqmail-109:local"  # local only: never pushed or committed
UIDS = "alias=7790:2108,qmaild=7791:2108,qmailq=7797:2107,qmail=2107,nofiles=2108"


def _image_of_reference_home(where: Path) -> str:
    """`qmc image --from-home` of the reference installed as a self-contained home."""
    from harness.cli import main as qmc
    from harness.targets.ref_home import install_reference_home

    home = install_reference_home(where / "qhome", smtpd_flags=("--auth-sleep-scale", "0"), bundle=True)
    (home / "queue").mkdir()
    args = ["image", "--from-home", str(home), "--tag", HOME_IMAGE, "--uids", UIDS,
            "--package", "python3", "--package", "python3-cryptography", "--package", "python3-dnspython"]
    with contextlib.redirect_stdout(io.StringIO()) as out:
        if qmc(args) != 0:
            raise RuntimeError(f"qmc image failed: {out.getvalue()[-2000:]}")
    return HOME_IMAGE


def _image_of_real_home() -> tuple[str, str] | None:
    """(image, home) of real eQmail 1.09 when this machine has a build of it."""
    from harness.cli import main as qmc

    home = real_home(None, "1.09")
    if not home or not Path(home).is_dir():
        return None
    with contextlib.redirect_stdout(io.StringIO()) as out:
        if qmc(["image", "--from-home", home, "--tag", REAL_IMAGE]) != 0:
            raise RuntimeError(f"qmc image of {home} failed: {out.getvalue()[-2000:]}")
    return REAL_IMAGE, home


def _run(spec: str, cases: list[Case], jobs: int) -> tuple[float, float, dict[str, int], set[str]]:
    """(start seconds, run seconds, verdict counts, ids of the cases that took 4.5 s or more:
    real eQmail's 5 s pause after a failed AUTH)."""
    target = make_target(spec)
    started = time.perf_counter()
    try:
        target.start()
        start = time.perf_counter() - started
        began = time.perf_counter()
        results = Runner([target], cases, jobs=jobs).run()
        wall = time.perf_counter() - began
    finally:
        target.stop()
    counts: dict[str, int] = {}
    paused = set()
    for result in results:
        if result.target == target.name:
            counts[result.verdict.value] = counts.get(result.verdict.value, 0) + 1
            if result.transcript is not None and result.transcript.seconds >= 4.5:
                paused.add(result.case.id)
    return start, wall, counts, paused


def _row(spec: str, start: float, wall: float, base_wall: float, counts: dict[str, int]) -> bool:
    """Print one row; True if a case was neither OK nor not applicable (real eQmail's known
    ACCEPTED cases aside)."""
    ratio = f"{wall / base_wall:.2f}x" if base_wall else "-"
    text = " ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    name = spec if len(spec) <= 58 else spec[:30] + "..." + spec[-25:]
    print(f"{name:<58} {start:>5.1f}s {wall:>7.1f}s {ratio:>7}  {text:<40} {load_average()}", flush=True)
    bad = {k: v for k, v in counts.items() if k not in (OK.value, NOT_APPLICABLE.value)}
    return bool(bad) and "real" not in spec


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--cases", default="*", help="a glob over case ids (default: the whole catalogue)")
    p.add_argument("--api-only", action="store_true", help="also time the reference image on the API path")
    p.add_argument("--no-real", action="store_true", help="leave out real eQmail even if it is here")
    p.add_argument("--only-real", action="store_true", help="only ref:1.09 and real eQmail's image")
    args = p.parse_args(argv)
    cases = [c for c in load_catalogue().cases if fnmatch.fnmatch(c.id, args.cases)]
    rows: list[tuple[str, str]] = [] if args.only_real else [("ref", ""), (f"docker:{REF_IMAGE}", "ref")]
    with tempfile.TemporaryDirectory(prefix="qmc-bench-docker-") as tmp:
        began = time.perf_counter()
        built = []
        if not args.only_real:
            rows.append((f"docker:{_image_of_reference_home(Path(tmp))}", "ref"))
            built.append(f"image of the reference home: {time.perf_counter() - began:.1f} s")
        if not args.no_real:
            began = time.perf_counter()
            real = _image_of_real_home()
            if real is not None:
                rows += [("ref:1.09", ""), (f"docker:{real[0]},version=1.09", "ref:1.09")]
                built.append(f"image of {real[1]}: {time.perf_counter() - began:.1f} s")
        if args.api_only:  # before: archives and an exec per session
            rows.append((f"docker:{REF_IMAGE},api-only", "ref"))
        print(f"{len(cases)} cases x 1 version, {args.jobs} jobs; {'; '.join(built)}; {load_average()}\n")
        head = ("target", "start", "run", "vs ref", "verdicts", "load after")
        print("{:<58} {:>6} {:>8} {:>7}  {:<40} {}".format(*head))
        walls: dict[str, float] = {}
        failed = False
        for spec, base in rows:
            start, wall, counts, paused = _run(spec, cases, args.jobs)
            walls[spec] = wall
            failed |= _row(spec, start, wall, walls.get(base, 0.0), counts)
            if paused:  # the same without the cases that pause: what the harness costs
                rest = [c for c in cases if c.id not in paused]
                note = f"  (without the {len(paused)} cases that pause 5 s)"
                _, base_wall, base_counts, _ = _run(base, rest, args.jobs)
                _row(base + note, 0.0, base_wall, 0.0, base_counts)
                start, wall, counts, _ = _run(spec, rest, args.jobs)
                _row(spec + note, start, wall, base_wall, counts)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
