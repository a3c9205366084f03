"""One case on one target: build the fixture, start the session, drive it, wait for the
program's end, read the observers. A fault of the target (hang, crash of our machinery,
refused start) becomes `Transcript.error`, never an exception out of here."""

from __future__ import annotations

import time
from pathlib import Path

from harness.cases import Case, CaseKind
from harness.drive.session import drive
from harness.drive.side import Hang
from harness.drive.side_target import await_end, discard, observe, prepare
from harness.errors import HarnessError, StepTimeout, TargetFault
from harness.fixtures import Profile
from harness.targets.base import Target
from harness.transcript import Transcript

__all__ = ["run_case_on"]


def run_case_on(target: Target, case: Case, profiles: dict[str, Profile], workdir: Path) -> Transcript:
    """Run `case` on `target` in the empty directory `workdir`."""
    recorded = target.recorded(case)
    if recorded is not None:
        return recorded
    started = time.monotonic()
    t = Transcript(target=target.name, case_id=case.id, version=target.ref.version)
    try:
        if case.kind == CaseKind.REMOTE:
            from harness.remote_case import run_remote_case

            run_remote_case(target, case, profiles, workdir, t)
        else:
            _run_smtpd(target, case, profiles, workdir, t)
    except HarnessError:
        raise
    except TargetFault as exc:
        t.error = str(exc)
    except Exception as exc:  # noqa: BLE001 - any failure of a target run is reported, the run goes on
        t.error = f"{type(exc).__name__}: {exc}"
    t.seconds = round(time.monotonic() - started, 4)
    return t


def _run_smtpd(target: Target, case: Case, profiles: dict[str, Profile], workdir: Path,
               t: Transcript) -> None:
    fx = prepare(target, case, profiles, workdir)
    running = target.smtpd(fx)
    try:
        try:
            if case.client is not None:  # category 10: a real client plays the session
                from harness.clients import ClientHang, play

                try:
                    t.exchanges = play(running.sock, case.client, case.timeout, fx.local)
                except ClientHang as exc:
                    raise StepTimeout(str(exc), []) from exc
            else:
                t.exchanges, tls = drive(running.sock, case.steps, case.timeout, smtps="SMTPS" in case.env)
                if tls:
                    t.observations["tls"] = f"{tls['version']} {tls['cipher']}".encode()
        except StepTimeout as exc:
            t.exchanges = exc.args[1]
            t.error = f"hang: {exc.args[0]}"
            discard(running)
            return
        finally:
            running.sock.close()
        try:
            t.exit, t.stderr = await_end(running, case.timeout)
        except Hang as exc:
            t.exit, t.stderr, t.error = exc.status, exc.stderr, f"hang: {exc}"
            discard(running)
            return
    except BaseException:
        running.kill()
        raise
    t.observations.update(observe(target, fx))
