"""What the `exec:` target costs on top of the program it runs, in one run:

1. sessions/s of `exec:` (the fork server: a private mount namespace and the case's home
   per session, harness/targets/exec_server.py) against a bare loop that spawns the same
   program (posix_spawn, fds 0/1 a socketpair, stderr to a file) fed the same input
   (greeting, EHLO, MAIL, RCPT, DATA of ~1 KiB, QUIT, sent at once, replies read to EOF),
   at 1 and 2 sessions at once; the ratio exec:/bare (target >= 0.8). Programs: a tiny C
   stand-in built now under a temporary directory (it chdir()s to its home and reads
   control/me, like qmail; it is not qmail), the reference installed as a qmail home
   (harness/ref_home.py: sh + Python per session), and real eQmail's qmail-smtpd if
   /work/real-eqmail/READY names one (`--real HOME`).
2. with `--catalogue`: wall time of the whole catalogue for one version on `ref:V` and on
   `exec:` of the same programs (the run also runs the reference, as `qmc run` does), and
   the ratio (target <= 2), with and without the tail of real eQmail's pauses (5 s after
   each failed AUTH) that the runner's waiting lane leaves after the CPU lane's end.

    python bench/exec_target.py [--seconds S] [--rounds R] [--catalogue | --only-catalogue] [--real HOME]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from machine import load_average  # noqa: E402 - bench/, the script's own directory
from real_builds import real_home  # noqa: E402

from harness.cases import load_catalogue  # noqa: E402
from harness.fixtures import FIXTURES_DIR, Fixture  # noqa: E402
from harness.runner import Runner  # noqa: E402
from harness.targets import make_target  # noqa: E402
from harness.targets.exec_ import ExecTarget  # noqa: E402
from harness.targets.ref_home import install_reference_home  # noqa: E402
from harness.verdict import ACCEPTED, NOT_APPLICABLE, OK  # noqa: E402

__all__ = ["main"]

# A qmail-smtpd look-alike that costs next to nothing: the fast binary that shows what
# the exec: target itself adds. Canned replies, one per command line; DATA to "\r\n.\r\n".
STAND_IN_C = r"""
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
static char buf[65536]; static size_t len;
static void say(const char *s) { write(1, s, strlen(s)); }
static int line(char *out, size_t max) {            /* 1 line into out, 0 at EOF */
  for (;;) {
    char *nl = memchr(buf, '\n', len);
    if (nl) { size_t n = nl - buf + 1; if (n >= max) n = max - 1;
              memcpy(out, buf, n); out[n] = 0; memmove(buf, nl + 1, len - (nl - buf + 1));
              len -= nl - buf + 1; return 1; }
    ssize_t r = read(0, buf + len, sizeof buf - len);
    if (r <= 0) return 0; len += r;
  }
}
int main(void) {
  char me[256] = "stand-in", l[1024]; int fd;
  if (chdir(HOME) == -1) return 111;
  if ((fd = open("control/me", O_RDONLY)) >= 0) {
    ssize_t n = read(fd, me, sizeof me - 1); if (n > 0) { me[n] = 0; me[strcspn(me, "\n")] = 0; }
    close(fd);
  }
  say("220 "); say(me); say(" ESMTP\r\n");
  while (line(l, sizeof l)) {
    if (!strncasecmp(l, "QUIT", 4)) { say("221 "); say(me); say("\r\n"); return 0; }
    if (!strncasecmp(l, "DATA", 4)) {
      say("354 go ahead\r\n");
      while (line(l, sizeof l) && strcmp(l, ".\r\n")) ;
      say("250 ok\r\n"); continue;
    }
    say("250 ok\r\n");
  }
  return 0;
}
"""

DIALOGUE = (b"EHLO bench\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<r@example.org>\r\nDATA\r\n"
            b"Subject: bench\r\n\r\n" + b"x" * 62 + b"\r\n") + b"y" * 62 * 16 + b"\r\n.\r\nQUIT\r\n"
ENV = {"PATH": b"/usr/bin:/bin", "TCPREMOTEIP": b"1.2.3.4", "TCPLOCALIP": b"5.6.7.8",
       "TCPREMOTEPORT": b"40000", "TCPLOCALPORT": b"25", "PROTO": b"TCP",
       "QMAILQUEUE": str(FIXTURES_DIR / "bin" / "qmail-queue-discard").encode()}


def stand_in(work: Path) -> tuple[Path, str]:
    """The C stand-in installed as a qmail home: (home, its qmail-smtpd)."""
    home = work / "stand-in"
    (home / "bin").mkdir(parents=True)
    (home / "control").mkdir()
    (home / "control" / "me").write_text("stand-in.test\n")
    source = work / "stand-in.c"
    source.write_text(STAND_IN_C)
    program = home / "bin" / "qmail-smtpd"
    subprocess.run(["cc", "-O2", f'-DHOME="{home}"', "-o", str(program), str(source)], check=True)
    return home, str(program)


def _talk(sock: socket.socket) -> None:
    sock.sendall(DIALOGUE)
    while sock.recv(65536):
        pass


def bare_session(program: str, stderr: Path) -> None:
    ours, theirs = socket.socketpair()
    actions = [(os.POSIX_SPAWN_DUP2, theirs.fileno(), 0), (os.POSIX_SPAWN_DUP2, theirs.fileno(), 1),
               (os.POSIX_SPAWN_OPEN, 2, str(stderr), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)]
    pid = os.posix_spawn(program, [program], {k.encode(): v for k, v in ENV.items()},
                         file_actions=actions, setsid=True)
    theirs.close()
    _talk(ours)
    ours.close()
    os.waitpid(pid, 0)


def exec_session(target: ExecTarget, fx: Fixture) -> None:
    running = target.smtpd(fx)
    _talk(running.sock)
    running.sock.close()
    running.finish(10)
    assert running.tree is not None and running.tree.wait(10)


def rate(session: Callable[[int], None], seconds: float, concurrency: int) -> float:
    """Sessions per second with `concurrency` threads each running sessions back to back."""
    counts = [0] * concurrency
    stop = time.perf_counter() + seconds

    def worker(i: int) -> None:
        while time.perf_counter() < stop:
            session(i)
            counts[i] += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / (time.perf_counter() - started)


def sessions(label: str, home: Path, program: str, work: Path, seconds: float, rounds: int) -> bool:
    """One program's rows: bare and exec: at c=1 and c=2, interleaved rounds, medians."""
    target = ExecTarget(f"exec:{home}", str(home), smtpd=program)
    target.start()
    try:
        homes = []
        for i in range(2):  # one case home per thread, a copy of the install's control/
            local = work / f"{label}-case{i}"
            shutil.copytree(home / "control", local / "control")
            homes.append(Fixture(local=local, home=str(home), env=dict(ENV), args=[]))
        errs = [work / f"{label}-bare{i}.err" for i in range(2)]
        ok = True
        for c in (1, 2):
            bare, execd = [], []
            for _ in range(rounds):
                bare.append(rate(lambda i: bare_session(program, errs[i]), seconds, c))
                execd.append(rate(lambda i: exec_session(target, homes[i]), seconds, c))
            b, e = statistics.median(bare), statistics.median(execd)
            ok &= e >= 0.8 * b
            print(f"{label:<28} c={c}  bare {b:>8.1f}/s   exec: {e:>8.1f}/s   exec:/bare {e / b:.2f}")
        return ok
    finally:
        target.stop()


def catalogue(ref_spec: str, exec_spec: str, version: str) -> None:
    cases = [c for c in load_catalogue().cases if version in c.versions]
    walls, whole = {}, {}
    for spec in (ref_spec, exec_spec):
        target = make_target(spec)
        target.start()
        try:
            started = time.perf_counter()
            results = Runner([target], cases, jobs=2).run()
            whole[spec] = time.perf_counter() - started
        finally:
            target.stop()
        bad = sum(r.verdict not in (OK, ACCEPTED, NOT_APPLICABLE) for r in results)
        # real eQmail pauses 5 s after a failed AUTH (the reference's pause is off); those
        # sessions wait in the runner's waiting lane while the CPU lane goes on, so what the
        # pauses add to the wall time is the lane's tail after the CPU lane's last session
        cpu_end = max((r.timing.ended for r in results if r.timing and r.timing.lane == "cpu"), default=0.0)
        end = max((r.timing.ended for r in results if r.timing), default=0.0)
        paused = sum(1 for r in results if r.timing and r.timing.lane == "waiting")
        walls[spec] = whole[spec] - max(0.0, end - cpu_end)
        print(f"{spec[:56]:<56} {len(cases)} cases {whole[spec]:>7.1f}s  not OK/ACCEPTED {bad}"
              f"{f', {paused} in the waiting lane, {walls[spec]:.1f}s without its tail' if paused else ''}")
    print(f"{'':<56} exec:/ref {walls[exec_spec] / walls[ref_spec]:.2f} without the AUTH pauses' tail, "
          f"{whole[exec_spec] / whole[ref_spec]:.2f} with it; {load_average()}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=2.0, help="per round and row")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--catalogue", action="store_true", help="also time the catalogue, exec: vs ref")
    p.add_argument("--only-catalogue", action="store_true", help="the catalogue rows only")
    p.add_argument("--real", help="a real eQmail home (default: from /work/real-eqmail/READY)")
    p.add_argument("--version", default="1.09", help="the real eQmail's version (default 1.09)")
    args = p.parse_args(argv)
    if os.geteuid() != 0:
        print("exec: targets need root")
        return 2
    real = real_home(args.real, args.version)
    ok = True
    with tempfile.TemporaryDirectory(prefix="qmc-bench-", dir="/dev/shm") as tmp:
        work = Path(tmp)
        refhome = install_reference_home(work / "ref", flags=("--version", args.version))
        # the reference's AUTH pause off, as for `ref` (only smtpd takes the flag): the
        # pause is the program's cost, not ours
        smtpd = refhome / "bin" / "qmail-smtpd"
        smtpd.write_text(smtpd.read_text().replace(" smtpd ", " smtpd --auth-sleep-scale 0 ", 1))
        (refhome / "control" / "me").write_text("ref.test\n")
        programs = [("C stand-in", *stand_in(work)), ("reference (sh + Python)", refhome,
                                                       str(refhome / "bin" / "qmail-smtpd"))]
        if real:
            programs.append((f"real eQmail {args.version}", Path(real), f"{real}/bin/qmail-smtpd"))
        print(load_average())
        if not args.only_catalogue:
            print(f"sessions/s, median of {args.rounds} rounds of {args.seconds:g} s\n")
            for label, home, program in programs:
                ok &= sessions(label, home, program, work, args.seconds, args.rounds)
        if args.catalogue or args.only_catalogue:
            print("\ncatalogue, 2 jobs")
            catalogue(f"ref:{args.version}", f"exec:{refhome},version={args.version}", args.version)
            if real:
                catalogue(f"ref:{args.version}", f"exec:{real},version={args.version}", args.version)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
