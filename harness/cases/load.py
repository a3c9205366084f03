"""Loading case files: discovery, parsing into the case model (harness/cases/model.py) and
validation (conformance/README.md is the format).

A case has either `input` (one write, then end of input: how qmail-smtpd sees a pipelining
client that hangs up) or `steps` (interactive: send, wait for N replies framed by SMTP
grammar, STARTTLS, CRAM-MD5 from the received challenge, close); a qmail-remote case has
`remote` (and `relay`, `dns`) instead. Every key at every level is known or a problem:
a misspelt pin must not silently vanish. A problem names the file, the line and the case
(`FILE:LINE: case ID: what`), and a bad case never hides the others: `load_catalogue`
returns the good cases and the list of problems.
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from harness.cases.check import Bad, Checker, Path_, case_headers, flag, strings, table, text
from harness.cases.client_script import parse_client
from harness.cases.model import (
    PINS,
    REMOTE_PINS,
    SMTPD_PINS,
    VERSIONS,
    Alternative,
    Case,
    CaseKind,
    Catalogue,
    ClientScript,
    Expectation,
    Grade,
    RelayPlan,
    RemoteJob,
    Step,
    StepKind,
    Zone,
    to_bytes,
)
from harness.cases.tables import parse_relays, parse_zone
from harness.resources import CATALOGUE_DIR  # the package carries its data (harness/resources.py)

__all__ = ["load_catalogue", "load_file", "select", "CATALOGUE_DIR"]


_ID = re.compile(r"^\d+(\.\d+)+$")
_CASE_KEYS = ("id", "title", "spec", "tags", "versions", "grade", "profile", "files", "env", "args",
              "input", "steps", "expect", "accept", "remote", "relay", "dns", "note", "log_unstable",
              "timeout", "tls_build", "client", "script")
_STEP_KEYS = ("send", "replies", "starttls", "cram_md5", "close", "tls_version", "ciphers", "client_cert")
_STEP_ACTIONS = ("send", "starttls", "cram_md5", "close")
_STEP_OPTIONS = {"send": ("replies",), "starttls": ("tls_version", "ciphers", "client_cert"),
                 "cram_md5": (), "close": ()}
_TLS_VERSIONS = ("TLSv1.2", "TLSv1.3")
_REMOTE_KEYS = ("host", "sender", "recipients", "message")
_LIST_PINS = ("relay", "source", "auth", "tls", "dns")


# -- steps ---------------------------------------------------------------------------------
def _step(raw: Any, n: int, check: Checker) -> Step:
    path: Path_ = ("steps",)
    where = f"step {n}"
    if isinstance(raw, str):
        return Step(kind=StepKind.SEND, data=to_bytes(raw))
    if not isinstance(raw, dict):
        raise Bad(path, f"{where}: a step is a string or a table")
    typo = check.keys(raw, _STEP_KEYS, path, where)
    actions = [k for k in _STEP_ACTIONS if k in raw]
    if not actions and typo:
        return Step(kind=StepKind.SEND)  # a misspelt action: its unknown key is the problem
    if len(actions) != 1:
        raise Bad((*path, *actions[1:2]), f"{where}: needs exactly one of {', '.join(_STEP_ACTIONS)}"
                                          + (f", not {' and '.join(actions)}" if actions else ""))
    action = actions[0]
    stray = sorted(set(raw) & (set(_STEP_KEYS) - {action, *_STEP_OPTIONS[action]}))
    if stray:
        raise Bad((*path, stray[0]), f"{where}: '{stray[0]}' does not go with '{action}'")
    if action in ("starttls", "close") and raw[action] is not True:
        raise Bad((*path, action), f"{where}: {action} must be true")
    if action == "send":
        replies = raw.get("replies", 1)
        if isinstance(replies, bool) or not isinstance(replies, int) or replies < 0:
            raise Bad((*path, "replies"), f"{where}: replies must be a count >= 0")
        return Step(kind=StepKind.SEND, data=to_bytes(text(raw["send"], (*path, "send"), f"{where}: send")),
                    replies=replies)
    if action == "starttls":
        version = text(raw.get("tls_version", ""), (*path, "tls_version"), f"{where}: tls_version")
        if version and version not in _TLS_VERSIONS:
            raise Bad((*path, "tls_version"),
                      f"{where}: tls_version must be one of {', '.join(_TLS_VERSIONS)}")
        cert = raw.get("client_cert")
        return Step(kind=StepKind.STARTTLS, tls_version=version,
                    ciphers=text(raw.get("ciphers", ""), (*path, "ciphers"), f"{where}: ciphers"),
                    client_cert=None if cert is None
                    else text(cert, (*path, "client_cert"), f"{where}: client_cert"))
    if action == "cram_md5":
        user, _, secret = text(raw["cram_md5"], (*path, "cram_md5"), f"{where}: cram_md5").partition(" ")
        return Step(kind=StepKind.CRAM_MD5, user=to_bytes(user), secret=to_bytes(secret))
    return Step(kind=StepKind.CLOSE)


def _steps(raw: dict[str, Any], check: Checker) -> tuple[Step, ...]:
    if "input" in raw:
        data = to_bytes(text(raw["input"], ("input",), "input"))
        return (Step(kind=StepKind.SEND, data=data, replies=0), Step(kind=StepKind.CLOSE))
    listed = raw["steps"]
    if not isinstance(listed, list):
        raise Bad(("steps",), "steps must be a list")
    steps = [check.run(("steps",), lambda s=s, n=n: _step(s, n, check)) for n, s in enumerate(listed, 1)]
    return tuple(s for s in steps if s is not None)


# -- pins and alternatives ---------------------------------------------------------------
def _pins(raw: dict[str, Any], path: Path_, where: str, allowed: tuple[str, ...],
          check: Checker) -> dict[str, Any]:
    """The observation keys of an `expect` or `accept` table as Expectation fields."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in PINS:
            continue  # reported by check.keys
        kpath = (*path, key)
        if key not in allowed:
            check.add(kpath, f"{where}: '{key}' cannot be pinned in this kind of case "
                             f"(pinnable: {', '.join(allowed)})")
        elif key == "exit":
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 255:
                check.add(kpath, f"{where}: exit must be a status 0..255")
            else:
                out[key] = value
        elif key in ("replies", "fd3", "log"):
            out[key] = check.run(kpath, lambda v=value, p=kpath, k=key: to_bytes(text(v, p, f"{where}: {k}")))
        elif key == "queue":
            if not isinstance(value, list) or not all(_pair(m) for m in value):
                check.add(kpath, f"{where}: queue must be a list of [message, envelope] string pairs")
            else:
                out[key] = tuple(sorted((to_bytes(m), to_bytes(e)) for m, e in value))
        else:
            got = check.run(kpath, lambda v=value, p=kpath, k=key: strings(v, p, f"{where}: {k}"))
            out[key] = None if got is None else tuple(to_bytes(s) for s in got)
    return out


def _pair(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and all(isinstance(x, str) for x in value)


def _expect(raw: Any, allowed: tuple[str, ...], check: Checker) -> Expectation:
    pins = table(raw, ("expect",), "expect")
    check.keys(pins, PINS, ("expect",), "expect")
    return Expectation(**_pins(pins, ("expect",), "expect", allowed, check))


def _alternative(raw: Any, n: int, allowed: tuple[str, ...], versions: tuple[str, ...],
                 check: Checker) -> Alternative:
    where = f"accept #{n}"
    alt = table(raw, ("accept",), where)
    typo = check.keys(alt, (*PINS, "reason", "versions"), ("accept",), where)
    reason = text(alt.get("reason"), ("accept", "reason"), f"{where}: reason") if "reason" in alt else ""
    if not reason.strip():
        raise Bad(("accept",), f"{where}: needs a reason (why a target may do this)")
    only = strings(alt.get("versions", list(versions)), ("accept", "versions"), f"{where}: versions",
                   empty=False)
    if set(only) - set(versions):
        raise Bad(("accept", "versions"), f"{where}: versions must be among the case's {list(versions)}")
    pins = _pins(alt, ("accept",), where, allowed, check)
    if not any(k in PINS for k in alt) and not typo:
        raise Bad(("accept",), f"{where}: gives no observation ({', '.join(allowed)})")
    return Alternative(reason=reason, versions=only, **pins)


def _accept(raw: Any, allowed: tuple[str, ...], versions: tuple[str, ...],
            check: Checker) -> tuple[Alternative, ...]:
    if not isinstance(raw, list):
        raise Bad(("accept",), "accept must be a list of tables")
    alts = [check.run(("accept",), lambda a=a, n=n: _alternative(a, n, allowed, versions, check))
            for n, a in enumerate(raw, 1)]
    return tuple(a for a in alts if a is not None)


# -- the case ------------------------------------------------------------------------------
def _remote(raw: Any, check: Checker) -> RemoteJob:
    job = table(raw, ("remote",), "remote")
    typo = check.keys(job, _REMOTE_KEYS, ("remote",), "remote")
    for key in ("host", "recipients"):
        if key not in job:
            raise Bad(("remote",), "" if typo else f"remote needs {key}")
    return RemoteJob(host=text(job["host"], ("remote", "host"), "remote.host"),
                     sender=text(job.get("sender", ""), ("remote", "sender"), "remote.sender"),
                     recipients=strings(job.get("recipients", []), ("remote", "recipients"),
                                        "remote.recipients", empty=False),
                     message=to_bytes(text(job.get("message", "Subject: t\n\nhi\n"), ("remote", "message"),
                                           "remote.message")))


def _bytes_table(raw: dict[str, Any], key: str) -> dict[str, bytes]:
    got = table(raw.get(key, {}), (key,), key)
    return {k: to_bytes(text(v, (key, k), f"{key}.{k}")) for k, v in got.items()}


def _parse_case(raw: dict[str, Any], source: str, line: int, check: Checker) -> Case | None:
    check.keys(raw, _CASE_KEYS, (), "case")
    for key in ("id", "title", "spec"):
        if key not in raw:
            check.add((), f"lacks '{key}'")
    case_id = check.run(("id",), lambda: text(raw.get("id", ""), ("id",), "id"))
    if case_id and not _ID.match(case_id):
        check.add(("id",), f"id {case_id!r} is not dotted numbers like 4.2.1")
    versions = check.run(("versions",), lambda: strings(raw.get("versions", list(VERSIONS)), ("versions",),
                                                        "versions", empty=False))
    if versions and set(versions) - set(VERSIONS):
        check.add(("versions",), f"versions must be among {list(VERSIONS)}")
        versions = None
    grade_text = check.run(("grade",), lambda: text(raw.get("grade", "strict"), ("grade",), "grade"))
    if grade_text is not None and grade_text.upper() not in Grade.__members__:
        check.add(("grade",), "grade must be 'strict' or 'informational'")
    kind = (CaseKind.REMOTE if "remote" in raw else CaseKind.CLIENT if "client" in raw or "script" in raw
            else CaseKind.SMTPD)
    remote = check.run(("remote",), lambda: _remote(raw["remote"], check)) if "remote" in raw else None
    steps: tuple[Step, ...] | None = ()
    relay: tuple[RelayPlan, ...] | None = ()
    dns: Zone | None = Zone()
    client: ClientScript | None = None
    if kind == CaseKind.CLIENT:
        for key in ("input", "steps", "remote", "relay", "dns"):
            if key in raw:
                check.add((key,), f"'{key}' does not go with 'client' (a real client plays the script)")
        if "client" not in raw or "script" not in raw:
            check.add(("script",) if "script" in raw else ("client",),
                      "a client case needs both 'client' and 'script'")
        else:
            client = check.run(("script",), lambda: parse_client(raw["client"], raw["script"], check))
    elif kind == CaseKind.SMTPD:
        for key in ("relay", "dns"):
            if key in raw:
                check.add((key,), f"'{key}' belongs to qmail-remote cases (with 'remote')")
        if ("input" in raw) == ("steps" in raw):
            check.add(("steps",) if "steps" in raw else (), "needs exactly one of 'input' or 'steps'")
        else:
            steps = check.run(("steps",), lambda: _steps(raw, check))
    else:
        for key in ("input", "steps", "args"):
            if key in raw:
                check.add((key,), f"'{key}' belongs to qmail-smtpd cases, not to one with 'remote'")
        recipients = len(remote.recipients) if remote else 1
        relay = check.run(("relay",), lambda: parse_relays(raw.get("relay", []), recipients, check))
        dns = check.run(("dns",), lambda: parse_zone(raw.get("dns", {}), relay or (), check))
    allowed = REMOTE_PINS if kind == CaseKind.REMOTE else SMTPD_PINS
    expect = check.run(("expect",), lambda: _expect(raw.get("expect", {}), allowed, check))
    accept = check.run(("accept",),
                       lambda: _accept(raw.get("accept", []), allowed, versions or VERSIONS, check))
    simple = {key: check.run((key,), build) for key, build in {
        "title": lambda: text(raw.get("title", ""), ("title",), "title"),
        "spec": lambda: text(raw.get("spec", ""), ("spec",), "spec"),
        "tags": lambda: strings(raw.get("tags", []), ("tags",), "tags"),
        "profile": lambda: text(raw.get("profile", "default"), ("profile",), "profile"),
        "files": lambda: _bytes_table(raw, "files"),
        "env": lambda: _bytes_table(raw, "env"),
        "args": lambda: strings(raw["args"], ("args",), "args") if "args" in raw else None,
        "note": lambda: text(raw.get("note", ""), ("note",), "note"),
        "log_unstable": lambda: text(raw.get("log_unstable", ""), ("log_unstable",), "log_unstable"),
        "timeout": lambda: _timeout(raw.get("timeout", 10.0)),
        "tls_build": lambda: (flag(raw["tls_build"], ("tls_build",), "tls_build")
                              if "tls_build" in raw else None),
    }.items()}
    if check.found:
        return None
    assert case_id is not None and versions is not None and grade_text is not None
    assert steps is not None and relay is not None and dns is not None
    assert expect is not None and accept is not None
    return Case(id=case_id, source=source, line=line, kind=kind, versions=versions,
                grade=Grade[grade_text.upper()], steps=steps, expect=expect, accept=accept,
                remote=remote, relay=relay, dns=dns, client=client, **simple)


def _timeout(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise Bad(("timeout",), "timeout must be a number of seconds > 0")
    return float(value)


# -- files and the catalogue ---------------------------------------------------------------
def load_file(path: Path) -> Catalogue:
    """The cases of one file; a syntax error makes the whole file a problem, a bad case only
    that case."""
    try:
        source = path.read_text(encoding="utf-8")
        data = tomllib.loads(source)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return Catalogue([], [f"{path}: cannot read the case file: {exc}"])
    lines = source.splitlines()
    headers = case_headers(lines)
    cases: list[Case] = []
    problems: list[str] = []
    unknown = sorted(set(data) - {"case"})
    if unknown:
        problems.append(f"{path}: unknown top-level keys {unknown} (a case file holds [[case]] tables)")
    raws = data.get("case", [])
    for n, raw in enumerate(raws if isinstance(raws, list) else [raws]):
        start = headers[n] if n < len(headers) else 0
        end = headers[n + 1] if n + 1 < len(headers) else len(lines)
        check = Checker(lines, start, end)
        label = raw.get("id", f"#{n + 1}") if isinstance(raw, dict) else f"#{n + 1}"
        if not isinstance(raw, dict):
            check.add((), "a case is a [[case]] table")
            case = None
        else:
            case = _parse_case(raw, str(path), check.id_line + 1, check)
        if case is not None:
            cases.append(case)
        problems += [f"{path}:{line}: case {label}: {what}" for line, what in check.found]
    return Catalogue(cases, problems)


def load_catalogue(paths: Iterable[Path] = (CATALOGUE_DIR,)) -> Catalogue:
    """Every case under the given files or directories (discovered, never listed by hand)."""
    cases: list[Case] = []
    problems: list[str] = []
    seen: dict[str, Case] = {}
    for root in paths:
        files = sorted(root.rglob("*.toml")) if root.is_dir() else [root]
        if not files:
            problems.append(f"{root}: no case files")
        for path in files:
            part = load_file(path)
            problems += part.problems
            for case in part.cases:
                if case.id in seen:
                    first = seen[case.id]
                    problems.append(f"{case.where()}: id already used in {first.source}:{first.line}")
                    continue
                seen[case.id] = case
                cases.append(case)
    cases.sort(key=lambda c: [int(x) for x in c.id.split(".")])
    return Catalogue(cases, problems)


def select(cases: Iterable[Case], patterns: Iterable[str] = (), tags: Iterable[str] = ()) -> list[Case]:
    """Cases whose id matches any glob (`4.*`, `3.2.1`) and that carry every tag given."""
    pats, wanted = list(patterns), set(tags)
    return [c for c in cases
            if (not pats or any(fnmatch.fnmatchcase(c.id, p) for p in pats)) and wanted <= set(c.tags)]
