"""Cases as data: discovery, parsing and validation of `conformance/cases/**/*.toml`.

A case file holds `[[case]]` tables (see conformance/README.md for the format). Strings are
bytes: every character U+0000..U+00FF stands for that byte, and `{{N*TEXT}}` expands to TEXT
repeated N times. A case has either `input` (one write, then end of input: how qmail-smtpd
sees a pipelining client that hangs up) or `steps` (interactive: send, wait for N replies
framed by SMTP grammar, STARTTLS, CRAM-MD5 from the received challenge, close).

Errors name the file and the case (and the step), and a bad case never hides the others:
`load_catalogue` returns the good cases and the list of problems.
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "Case", "Step", "RemoteJob", "Catalogue", "load_catalogue", "load_file", "select", "to_bytes",
    "SEND", "STARTTLS", "CRAM_MD5", "CLOSE", "SMTPD", "REMOTE", "STRICT", "INFORMATIONAL",
    "CATALOGUE_DIR",
]

from harness.resources import CATALOGUE_DIR  # noqa: E402 - data paths live in harness/resources.py

# step kinds
SEND = "SEND"
STARTTLS = "STARTTLS"
CRAM_MD5 = "CRAM_MD5"
CLOSE = "CLOSE"
# case kinds
SMTPD = "SMTPD"
REMOTE = "REMOTE"
# grades: how a difference is judged (ARCHITECTURE.md, verdicts)
STRICT = "STRICT"
INFORMATIONAL = "INFORMATIONAL"

_REPEAT = re.compile(r"\{\{(\d+)\*([^{}]*)\}\}")
_ID = re.compile(r"^\d+(\.\d+)+$")
_VERSIONS = ("1.08", "1.09")
_CASE_KEYS = {"id", "title", "spec", "tags", "versions", "grade", "profile", "files", "env", "args",
              "input", "steps", "expect", "accept", "remote", "relay", "dns", "note", "timeout", "tls_build"}
_STEP_KEYS = {"send", "replies", "starttls", "cram_md5", "close", "tls_version", "ciphers", "client_cert"}


def to_bytes(text: str) -> bytes:
    """A case string as bytes: U+0000..U+00FF map to single bytes; {{N*TEXT}} repeats."""
    text = _REPEAT.sub(lambda m: m.group(2) * int(m.group(1)), text)
    return text.encode("latin-1")


@dataclass(frozen=True, kw_only=True)
class Step:
    kind: str
    data: bytes = b""
    replies: int = 1
    tls_version: str = ""  # "TLSv1.2", "TLSv1.3" or "" for the client's default
    ciphers: str = ""  # an OpenSSL cipher string for TLS <= 1.2
    # STARTTLS with a client certificate whose subject has this emailAddress ("": none in
    # it; None: no certificate), issued by the run's fixture CA ({clientca} in files)
    client_cert: str | None = None
    user: bytes = b""
    secret: bytes = b""


@dataclass(frozen=True, kw_only=True)
class RemoteJob:
    """A qmail-remote run: argv HOST SENDER RECIP... and the message on stdin."""

    host: str
    sender: str
    recipients: tuple[str, ...]
    message: bytes


@dataclass(frozen=True, kw_only=True)
class Case:
    id: str
    title: str
    spec: str
    source: str  # "FILE" for messages
    kind: str = SMTPD
    tags: tuple[str, ...] = ()
    versions: tuple[str, ...] = _VERSIONS
    grade: str = STRICT
    profile: str = "default"
    files: Mapping[str, bytes] = field(default_factory=dict)
    env: Mapping[str, bytes] = field(default_factory=dict)
    args: tuple[str, ...] | None = None
    steps: tuple[Step, ...] = ()
    expect: Mapping[str, Any] = field(default_factory=dict)
    accept: tuple[Mapping[str, Any], ...] = ()
    remote: RemoteJob | None = None
    relay: tuple[Mapping[str, Any], ...] = ()
    dns: Mapping[str, Any] = field(default_factory=dict)
    note: str = ""
    timeout: float = 10.0
    tls_build: bool | None = None  # only for targets built with (True) or without (False) TLS

    @property
    def category(self) -> int:
        return int(self.id.split(".", 1)[0])

    @property
    def needs_tls(self) -> bool:
        return any(s.kind == STARTTLS for s in self.steps) or "SMTPS" in self.env

    def where(self) -> str:
        return f"{self.source}: case {self.id}"


@dataclass
class Catalogue:
    cases: list[Case]
    problems: list[str]  # one clear line per unusable file or case; the run reports them


def _str(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string, not {type(value).__name__}")
    return value


def _parse_step(raw: Any, n: int) -> Step:
    where = f"step {n}"
    if isinstance(raw, str):
        return Step(kind=SEND, data=to_bytes(raw))
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: a step is a string or a table")
    unknown = set(raw) - _STEP_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
    replies = raw.get("replies", 1)
    if not isinstance(replies, int) or replies < 0:
        raise ValueError(f"{where}: replies must be a count >= 0")
    if "send" in raw:
        return Step(kind=SEND, data=to_bytes(_str(raw["send"], f"{where}: send")), replies=replies)
    if raw.get("starttls"):
        cert = raw.get("client_cert")
        return Step(kind=STARTTLS, tls_version=_str(raw.get("tls_version", ""), where),
                    ciphers=_str(raw.get("ciphers", ""), where),
                    client_cert=None if cert is None else _str(cert, f"{where}: client_cert"))
    if "cram_md5" in raw:
        user, _, secret = _str(raw["cram_md5"], f"{where}: cram_md5").partition(" ")
        return Step(kind=CRAM_MD5, user=to_bytes(user), secret=to_bytes(secret))
    if raw.get("close"):
        return Step(kind=CLOSE)
    raise ValueError(f"{where}: needs one of send, starttls, cram_md5, close")


def _parse_remote(raw: Any) -> RemoteJob:
    if not isinstance(raw, dict):
        raise ValueError("remote must be a table {host, sender, recipients, message}")
    recipients = raw.get("recipients", [])
    if not isinstance(recipients, list) or not recipients:
        raise ValueError("remote.recipients must be a non-empty list")
    return RemoteJob(host=_str(raw.get("host"), "remote.host"),
                     sender=_str(raw.get("sender", ""), "remote.sender"),
                     recipients=tuple(_str(r, "remote.recipients") for r in recipients),
                     message=to_bytes(_str(raw.get("message", "Subject: t\n\nhi\n"), "remote.message")))


def _table(raw: dict[str, Any], key: str) -> dict[str, bytes]:
    table = raw.get(key, {})
    if not isinstance(table, dict):
        raise ValueError(f"{key} must be a table")
    return {_str(k, f"{key} key"): to_bytes(_str(v, f"{key}.{k}")) for k, v in table.items()}


def _parse_case(raw: dict[str, Any], source: str) -> Case:
    unknown = set(raw) - _CASE_KEYS
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)}")
    for key in ("id", "title", "spec"):
        if key not in raw:
            raise ValueError(f"lacks '{key}'")
    case_id = _str(raw["id"], "id")
    if not _ID.match(case_id):
        raise ValueError(f"id {case_id!r} is not dotted numbers like 4.2.1")
    versions = tuple(raw.get("versions", _VERSIONS))
    if not versions or set(versions) - set(_VERSIONS):
        raise ValueError(f"versions must be a subset of {list(_VERSIONS)}")
    grade = raw.get("grade", "strict").upper()
    if grade not in (STRICT, INFORMATIONAL):
        raise ValueError("grade must be 'strict' or 'informational'")
    remote = _parse_remote(raw["remote"]) if "remote" in raw else None
    if remote is not None:
        from harness.observers.plan import check_remote_tables  # the outgoing side's tables

        check_remote_tables(raw.get("relay", []), raw.get("dns", {}))
    if remote is None and ("input" in raw) == ("steps" in raw):
        raise ValueError("needs exactly one of 'input' or 'steps'")
    if "input" in raw:
        steps: tuple[Step, ...] = (Step(kind=SEND, data=to_bytes(_str(raw["input"], "input")), replies=0),
                                   Step(kind=CLOSE))
    else:
        steps = tuple(_parse_step(s, n) for n, s in enumerate(raw.get("steps", []), 1))
    args = raw.get("args")
    return Case(
        id=case_id, title=_str(raw["title"], "title"), spec=str(raw["spec"]), source=source,
        kind=REMOTE if remote else SMTPD, tags=tuple(raw.get("tags", ())), versions=versions,
        grade=grade, profile=_str(raw.get("profile", "default"), "profile"),
        files=_table(raw, "files"), env=_table(raw, "env"),
        args=None if args is None else tuple(_str(a, "args") for a in args),
        steps=steps, expect=dict(raw.get("expect", {})), accept=tuple(raw.get("accept", ())),
        remote=remote, relay=tuple(raw.get("relay", ())), dns=dict(raw.get("dns", {})),
        note=str(raw.get("note", "")), timeout=float(raw.get("timeout", 10.0)),
        tls_build=raw.get("tls_build"),
    )


def load_file(path: Path) -> Catalogue:
    """The cases of one file; a syntax error makes the whole file a problem, a bad case only
    that case."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return Catalogue([], [f"{path}: cannot read the case file: {exc}"])
    cases: list[Case] = []
    problems: list[str] = []
    for n, raw in enumerate(data.get("case", []), 1):
        label = raw.get("id", f"#{n}") if isinstance(raw, dict) else f"#{n}"
        try:
            if not isinstance(raw, dict):
                raise ValueError("a case is a [[case]] table")
            cases.append(_parse_case(raw, str(path)))
        except (ValueError, TypeError) as exc:
            problems.append(f"{path}: case {label}: {exc}")
    return Catalogue(cases, problems)


def load_catalogue(paths: Iterable[Path] = (CATALOGUE_DIR,)) -> Catalogue:
    """Every case under the given files or directories (discovered, never listed by hand)."""
    cases: list[Case] = []
    problems: list[str] = []
    seen: dict[str, str] = {}
    for root in paths:
        files = sorted(root.rglob("*.toml")) if root.is_dir() else [root]
        if not files:
            problems.append(f"{root}: no case files")
        for path in files:
            part = load_file(path)
            problems += part.problems
            for case in part.cases:
                if case.id in seen:
                    problems.append(f"{case.where()}: id already used in {seen[case.id]}")
                    continue
                seen[case.id] = case.source
                cases.append(case)
    cases.sort(key=lambda c: [int(x) for x in c.id.split(".")])
    return Catalogue(cases, problems)


def select(cases: Iterable[Case], patterns: Iterable[str] = (), tags: Iterable[str] = ()) -> list[Case]:
    """Cases whose id matches any glob (`4.*`, `3.2.1`) and that carry every tag given."""
    pats, wanted = list(patterns), set(tags)
    return [c for c in cases
            if (not pats or any(fnmatch.fnmatchcase(c.id, p) for p in pats)) and wanted <= set(c.tags)]

