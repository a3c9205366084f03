"""Events and effects exchanged between the sans-IO cores and the shells that run them.

A core returns lists of effects. Most are instructions (`Send`, `Close`, `Log`,
`QueueWrite`); the *requests* (subclasses of `Request[A]`) need an answer of type A, which
the shell passes back with the core's `resolve()` (eqmail_ref.pump: the answer is checked
against the request's declared type there, once, before the core sees it).

A request declares its answer type by its base: `class Sleep(Request[None])`; the core
asks with `answer = yield from ask(request)` (eqmail_ref.pump), typed A.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar, get_args, get_origin

__all__ = [
    "Effect", "Request", "Send", "Close", "Log", "QueueWrite",
    "OpenQueue", "CloseQueue", "RunPlugin", "CheckPassword", "Sleep", "StartTls",
    "QueueOpened", "QueueExit", "ProcessExit", "PluginRun", "TlsResult",
    "VerifyClientCert", "ClientCert",
]

Env = dict[bytes, bytes]
A = TypeVar("A")


@dataclass(frozen=True, kw_only=True)
class Effect:
    pass


@dataclass(frozen=True, kw_only=True)
class Request(Effect, Generic[A]):
    """An effect the core waits on; A is the type of the shell's answer."""

    # A as a runtime type (a class, NoneType or a union) for the pump's isinstance check;
    # taken from the subclass's `Request[A]` base when the subclass is created.
    answer_type: ClassVar[Any]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for base in cls.__dict__.get("__orig_bases__", ()):
            if get_origin(base) is Request:
                cls.answer_type = get_args(base)[0]
                return
        if not hasattr(cls, "answer_type"):  # a subclass of a concrete request inherits it
            raise TypeError(f"{cls.__name__}: a request declares its answer type: "
                            f"class {cls.__name__}(Request[AnswerType])")


@dataclass(frozen=True, kw_only=True)
class Send(Effect):
    data: bytes


@dataclass(frozen=True, kw_only=True)
class Close(Effect):
    exit_code: int
    crash: bool = False  # eQmail crashes here (SIGSEGV): no output, exit by signal 11
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class Log(Effect):
    line: bytes  # one qmail-smtpd log line for stderr, with its newline


@dataclass(frozen=True, kw_only=True)
class QueueWrite(Effect):
    data: bytes  # message bytes for qmail-queue's fd 0


# --- answers to requests -------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class QueueOpened:
    ok: bool  # False: pipe() or fork() failed (451 qqt failure)
    pid: int = 0


@dataclass(frozen=True, kw_only=True)
class ProcessExit:
    exit_code: int | None = None  # None with signal set: killed by a signal
    signal: int | None = None
    failure: str | None = None  # the shell could not even start it (pipe/fork)


@dataclass(frozen=True, kw_only=True)
class QueueExit(ProcessExit):
    write_failed: bool = False


@dataclass(frozen=True, kw_only=True)
class PluginRun(ProcessExit):
    lines: tuple[bytes, ...] = ()


@dataclass(frozen=True, kw_only=True)
class TlsResult:
    ok: bool
    cipher: bytes = b""  # OpenSSL's name of the negotiated cipher
    error: bytes = b""  # "<what>[: <openssl error>]" for the 454 reply
    fatal: bool = True  # False: failed before the handshake; the session goes on in clear


@dataclass(frozen=True, kw_only=True)
class ClientCert:
    present: bool = False
    email: bytes | None = None  # the subject's emailAddress
    verify_error: bytes | None = None  # X509 verification failure text


# --- requests of the server core, each with its answer type ----------------------------


@dataclass(frozen=True, kw_only=True)
class OpenQueue(Request[QueueOpened]):
    """Start qmail-queue (`program`, run in the qmail home) with this environment."""
    program: bytes
    env: Env = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class CloseQueue(Request[QueueExit]):
    """Close fd 0, write `envelope` to fd 1 (skipped if `failed`), close it, wait."""
    envelope: bytes
    failed: bool


@dataclass(frozen=True, kw_only=True)
class RunPlugin(Request[PluginRun]):
    """Run one qmail-spp plugin line: `:cmd` via /bin/sh -c, else exec'd as a path."""
    command: bytes
    env: Env = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class CheckPassword(Request[ProcessExit]):
    """Run the checkpassword program (argv) with `data` on fd 3."""
    argv: tuple[bytes, ...]
    data: bytes
    env: Env = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Sleep(Request[None]):
    """Sleep; the answer is None once the time has passed."""
    seconds: float


@dataclass(frozen=True, kw_only=True)
class StartTls(Request[TlsResult]):
    """Start a TLS server handshake. `leftover` is client data already received beyond
    what qmail-smtpd had read (it belongs to the handshake). `announce` is sent in clear
    first (`220 ready for tls`), empty for SMTPS."""
    leftover: bytes
    ciphers: bytes
    announce: bytes


@dataclass(frozen=True, kw_only=True)
class VerifyClientCert(Request[ClientCert]):
    """Ask the TLS layer for the client's verified certificate (tlsclients relaying)."""
