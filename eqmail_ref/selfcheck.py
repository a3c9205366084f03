"""`eqmail-ref selfcheck`: run the spec's verified examples (conformance/selfcheck.toml)
against the reference core in-process and report. The conformance harness (`qmc`, the
catalogue) is the full check; this is the quickest proof that the reference still says
what real eQmail says in the spec's own examples.
"""

from __future__ import annotations

import json
import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eqmail_ref.controls import StartupFailure, load_smtpd_controls
from eqmail_ref.inprocess import Answers, InProcessSession
from eqmail_ref.smtpd import SmtpServer
from eqmail_ref.versions import get_version

__all__ = ["load_cases", "run_case", "main", "CaseResult"]

_EXPANSIONS = {
    "{899}": "a" * 899,
    "{900}": "a" * 900,
    "{hops98}": "ReCeIvEd-SPF: x\r\n" * 98,
    "{hops99}": "Received: x\r\n" * 99,
}
_ACCEPT = re.compile(rb"250 ok \d+ qp \d+\r\n")


def _bytes(text: str) -> bytes:
    for key, value in _EXPANSIONS.items():
        text = text.replace(key, value)
    return text.encode("latin-1")


@dataclass
class CaseResult:
    id: str
    title: str
    passed: bool
    differences: list[str] = field(default_factory=list)
    output: str = ""


class CaseError(ValueError):
    """A case file or case that cannot be run; names the file and the case."""


def load_cases(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CaseError(f"{path}: {exc}") from exc
    cases = data.get("case", [])
    for n, case in enumerate(cases, 1):
        missing = {"id", "title", "input", "expect"} - set(case)
        if missing:
            raise CaseError(f"{path}: case #{n} ({case.get('id', '?')}) lacks {sorted(missing)}")
    return data.get("defaults", {}), cases


def run_case(case: dict[str, Any], defaults: dict[str, Any], home: Path) -> CaseResult:
    control = home / "control"
    control.mkdir(parents=True, exist_ok=True)
    for old in control.iterdir():
        old.unlink()
    for name, text in {**defaults.get("controls", {}), **case.get("controls", {})}.items():
        (control / name).write_bytes(_bytes(text))
    version = get_version(case.get("version", "1.08"))
    env = {b"TCPREMOTEIP": b"1.2.3.4", b"TCPLOCALIP": b"5.6.7.8"}
    env.update({k.encode(): _bytes(v) for k, v in case.get("env", {}).items()})
    try:
        controls, error = load_smtpd_controls(home, env, version), ""
    except StartupFailure as exc:
        controls, error = None, str(exc)
    server = SmtpServer(controls=controls, env=env, clock=lambda: (1795537221, 0),
                        version=version, pid=1,
                        checkpassword=(b"checkpassword",) if case.get("checkpassword") else (),
                        startup_error=error)
    session = InProcessSession(server, Answers(queue_pid=1, queue_exit=case.get("queue_exit", 0)))
    session.feed(_bytes(case["input"]))
    t = session.eof()
    output, envelopes = t.output, t.envelopes
    message = t.messages[0] if t.messages else b""
    diffs = []
    expect = _bytes(case["expect"])
    got = _ACCEPT.sub(b"250 ok <time> qp <pid>\r\n", bytes(output))
    if got != expect:
        diffs.append(f"replies: expected {expect!r}, got {got!r}")
    if "envelope" in case and envelopes[:1] != [_bytes(case["envelope"])]:
        diffs.append(f"envelope: expected {_bytes(case['envelope'])!r}, got {envelopes!r}")
    if "body" in case and not message.endswith(b"\n" + _bytes(case["body"])):
        diffs.append(f"body: expected it to end with {_bytes(case['body'])!r}, got {bytes(message)!r}")
    return CaseResult(case["id"], case["title"], not diffs, diffs, got.decode("latin-1"))


def main(cases_path: Path, report: Path, work: Path) -> int:
    defaults, cases = load_cases(cases_path)
    results = []
    for case in cases:
        try:
            results.append(run_case(case, defaults, work))
        except Exception as exc:  # noqa: BLE001 - one broken case must not stop the run
            results.append(CaseResult(case["id"], case["title"], False,
                                      [f"ERROR: {type(exc).__name__}: {exc}"]))
    passed = sum(r.passed for r in results)
    for r in results:
        print(f"{'ok  ' if r.passed else 'FAIL'} {r.id:8} {r.title}")
        for d in r.differences:
            print(f"       {d}")
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(json.dumps({"cases": [r.__dict__ for r in results], "passed": passed,
                                  "failed": len(results) - passed}, indent=2, sort_keys=True))
    print(f"selfcheck: {passed} passed, {len(results) - passed} failed; report: {report}")
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])))
