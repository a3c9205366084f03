"""The case model: what a case file says, as frozen typed objects built once at load
(ARCHITECTURE.md, house rule 9). Nothing here reads a file or touches the wire; the loader
(harness/cases/load.py) builds these objects and the rest of the harness only reads them.

Strings in case files are bytes: every character U+0000..U+00FF stands for that byte, and
`{{N*TEXT}}` expands to TEXT repeated N times (`to_bytes`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum

__all__ = [
    "StepKind", "CaseKind", "Grade", "RelayAction", "Greet", "ScriptItem", "Step", "RemoteJob",
    "Expectation", "Alternative", "RelayPlan", "DnsEntry", "Zone", "Case", "Catalogue", "to_bytes",
    "VERSIONS", "PINS", "SMTPD_PINS", "REMOTE_PINS", "RCODES", "RECORD_TYPES", "ClientAuth", "ClientScript",
    "CLIENTS", "STARTTLS_MODES", "AUTH_MECHANISMS",
]

VERSIONS = ("1.08", "1.09")
_REPEAT = re.compile(r"\{\{(\d+)\*([^{}]*)\}\}")


def to_bytes(text: str) -> bytes:
    """A case string as bytes: U+0000..U+00FF map to single bytes; {{N*TEXT}} repeats."""
    text = _REPEAT.sub(lambda m: m.group(2) * int(m.group(1)), text)
    return text.encode("latin-1")


class StepKind(StrEnum):
    """What one client step does (harness/drive/session.py plays them)."""

    SEND = "SEND"
    STARTTLS = "STARTTLS"
    CRAM_MD5 = "CRAM_MD5"
    CLOSE = "CLOSE"


class CaseKind(StrEnum):
    SMTPD = "SMTPD"  # a client session against qmail-smtpd
    REMOTE = "REMOTE"  # a qmail-remote run against fake relays and a fake DNS server
    CLIENT = "CLIENT"  # a real client library or tool drives a qmail-smtpd session (category 10)


class Grade(StrEnum):
    """How a difference is judged (ARCHITECTURE.md, verdicts)."""

    STRICT = "STRICT"
    INFORMATIONAL = "INFORMATIONAL"


@dataclass(frozen=True, kw_only=True)
class Step:
    kind: StepKind
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


# The real clients of category 10 (harness/clients/) and what their scripts may ask
CLIENTS = ("smtplib", "aiosmtplib", "openssl-s_client", "swaks")
STARTTLS_MODES = ("no", "opportunistic", "required")  # opportunistic: only if advertised
AUTH_MECHANISMS = ("PLAIN", "LOGIN", "CRAM-MD5", "any")  # any: the client picks (smtplib's login())


@dataclass(frozen=True, kw_only=True)
class ClientAuth:
    mechanism: str
    user: str
    password: str


@dataclass(frozen=True, kw_only=True)
class ClientScript:
    """What a real client does in a category-10 case: connect (the session socket), EHLO
    as `helo`, STARTTLS as `starttls` says, AUTH if `auth`, then send `message` from
    `sender` to `recipients` with `mail_options`, then QUIT. Addresses are text (what a
    library is given), the message bytes."""

    client: str
    sender: str = "joe@example.org"
    recipients: tuple[str, ...] = ("rcpt@example.org",)
    message: bytes = b"Subject: t\r\n\r\nhi\r\n"
    mail_options: tuple[str, ...] = ()
    starttls: str = "no"
    auth: ClientAuth | None = None
    helo: str = "client.test"
    pipelining: bool = False  # swaks --pipeline; the libraries do not pipeline
    send: bool = True  # False: the session ends after AUTH (a login-only script)


# What can be pinned, per case kind: the observations the pipeline records for it
# (harness/execute.py for smtpd, harness/remote_case.py for qmail-remote). `tls` of an smtpd
# session depends on the OpenSSL build and is never pinned; a qmail-remote run observes no
# queue and no checkpassword.
SMTPD_PINS = ("replies", "exit", "queue", "fd3", "log")
REMOTE_PINS = ("replies", "exit", "relay", "source", "auth", "tls", "dns", "log")
PINS = ("replies", "exit", "queue", "fd3", "relay", "source", "auth", "tls", "dns", "log")


@dataclass(frozen=True, kw_only=True)
class Expectation:
    """Pinned observations (None: not pinned), written normalized (harness/normalize.py).

    replies  every byte the session received, greeting included (the report for qmail-remote)
    exit     the program's exit status (128+N for signal N)
    queue    the (message, envelope) pairs the capture program saw, sorted
    fd3      what checkpassword read on fd 3
    relay, source, auth, tls, dns   qmail-remote's observations, one string per item
    log      the program's log lines (stderr), normalized
    """

    replies: bytes | None = None
    exit: int | None = None
    queue: tuple[tuple[bytes, bytes], ...] | None = None
    fd3: bytes | None = None
    relay: tuple[bytes, ...] | None = None
    source: tuple[bytes, ...] | None = None
    auth: tuple[bytes, ...] | None = None
    tls: tuple[bytes, ...] | None = None
    dns: tuple[bytes, ...] | None = None
    log: bytes | None = None

    def pinned(self) -> tuple[str, ...]:
        """The names of the pinned observations, in PINS order."""
        return tuple(f.name for f in fields(Expectation) if getattr(self, f.name) is not None)

    def value(self, key: str) -> object:
        """The pin `key` in the form the transcript holds it (lists, not tuples)."""
        got = getattr(self, key)
        if key == "queue":
            return [list(pair) for pair in got]
        return list(got) if isinstance(got, tuple) else got

    def __bool__(self) -> bool:
        return bool(self.pinned())


@dataclass(frozen=True, kw_only=True)
class Alternative(Expectation):
    """Another outcome the case accepts from a target (ARCHITECTURE.md, accepted outcomes):
    the observations it gives, why it is acceptable, and for which versions."""

    reason: str
    versions: tuple[str, ...] = VERSIONS

    def __bool__(self) -> bool:
        return True


class RelayAction(StrEnum):
    """The script items of a fake relay that are not replies (harness/observe/relay.py)."""

    TLS = "TLS"  # a TLS server handshake now
    CLOSE = "CLOSE"  # hang up
    HANG = "HANG"  # answer nothing more
    RESET = "RESET"  # read the next command, then reset the connection (RST)


@dataclass(frozen=True)
class Greet:
    """Sent at once, without waiting for a command (the SMTPS greeting inside TLS)."""

    data: bytes


ScriptItem = bytes | Greet | RelayAction


@dataclass(frozen=True, kw_only=True)
class RelayPlan:
    """One fake upstream relay of a qmail-remote case."""

    name: str
    scripts: tuple[tuple[ScriptItem, ...], ...]  # one per connection, in order
    refuse: bool = False  # nothing listens: connections are refused
    cert: tuple[str, ...] = ()  # the DNS names of its TLS certificate
    cn: str = ""  # the certificate's commonName ("": none)
    tls_max: str = ""  # the highest TLS version it speaks ("TLSv1.2"; "": the default)
    client_ca: bool = False  # asks for a client certificate of the test client CA

    @property
    def tls(self) -> bool:
        return any(item is RelayAction.TLS for script in self.scripts for item in script)


RCODES = ("NXDOMAIN", "SERVFAIL", "REFUSED", "NOTIMP", "FORMERR", "LAME")
RECORD_TYPES = ("A", "AAAA", "MX", "CNAME", "TXT", "PTR")


@dataclass(frozen=True, kw_only=True)
class DnsEntry:
    """What the fake DNS server answers for (name, type): records in answer order, with
    `{NAME}` placeholders for the relays' and the client's addresses, or an rcode."""

    name: str
    rtype: str
    records: tuple[str, ...] = ()
    rcode: str = ""


@dataclass(frozen=True, kw_only=True)
class Zone:
    entries: tuple[DnsEntry, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.entries)


@dataclass(frozen=True, kw_only=True)
class Case:
    id: str
    title: str
    spec: str
    source: str  # the case file
    line: int = 0  # the line of its `id` (0: not from a file)
    kind: CaseKind = CaseKind.SMTPD
    tags: tuple[str, ...] = ()
    versions: tuple[str, ...] = VERSIONS
    grade: Grade = Grade.STRICT
    profile: str = "default"
    files: Mapping[str, bytes] = field(default_factory=dict)
    env: Mapping[str, bytes] = field(default_factory=dict)
    args: tuple[str, ...] | None = None
    steps: tuple[Step, ...] = ()
    expect: Expectation = Expectation()
    accept: tuple[Alternative, ...] = ()
    remote: RemoteJob | None = None
    relay: tuple[RelayPlan, ...] = ()
    dns: Zone = Zone()
    note: str = ""
    # why this case's log lines (stderr) are not compared: a race the case cannot avoid,
    # e.g. a process killed by SIGPIPE before it logs (README, "What is compared")
    log_unstable: str = ""
    timeout: float = 10.0
    tls_build: bool | None = None  # only for targets built with (True) or without (False) TLS
    client: ClientScript | None = None  # category 10: a real client plays this (kind CLIENT)

    @property
    def category(self) -> int:
        return int(self.id.split(".", 1)[0])

    @property
    def needs_tls(self) -> bool:
        # a client case gets its certificate from its profile (`tls`): without one the
        # server does not offer STARTTLS, which is a case of its own
        return any(s.kind == StepKind.STARTTLS for s in self.steps) or "SMTPS" in self.env

    def where(self) -> str:
        return f"{self.source}:{self.line}: case {self.id}" if self.line else f"{self.source}: case {self.id}"


@dataclass
class Catalogue:
    cases: list[Case]
    problems: list[str]  # one clear line per unusable file or case: FILE:LINE: case ID: what
