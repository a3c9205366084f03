"""The state of one qmail-smtpd run: what qmail-smtpd.c keeps in globals (spec §1-§2).

`Session` is plain data for the command handlers (eqmail_ref.commands, auth, data_phase,
spp_engine): how the program was built and started (version, controls, the tcpserver
environment), and the flags of its command loop (`seenmail`, `rcptto`, `flagauth`,
`flagbarf`, `spp_val`, `relayclient`, TLS...). The buffers, the output and the running of
the program are the engine's (eqmail_ref.smtpd.SmtpServer).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from eqmail_ref.auth import AUTH_SLEEP
from eqmail_ref.controls import SmtpdControls
from eqmail_ref.versions import DEFAULT_VERSION, Version

__all__ = ["Session", "Clock", "DEFAULT_IPME"]

Clock = Callable[[], tuple[int, int]]  # (unix time, local offset east of UTC in seconds)
DEFAULT_IPME = frozenset({b"\0\0\0\0", b"\x7f\0\0\x01"})


def _spp_error_queues() -> dict[str, bytearray]:
    return {"mail": bytearray(), "rcpt": bytearray(), "data": bytearray()}


@dataclass(kw_only=True, eq=False)
class Session:
    # --- how this qmail-smtpd was built and started (fixed for the run)
    # None: the control files could not be read at startup; the program crashes before
    # it reads any command, so no handler sees it (see `controls`)
    loaded_controls: SmtpdControls | None
    env: dict[bytes, bytes]  # the environment: plugins and SMTP AUTH change it
    clock: Clock
    version: Version = DEFAULT_VERSION
    checkpassword: tuple[bytes, ...] = ()  # argv of the checkpassword program; () no AUTH
    ipme: frozenset[bytes] = DEFAULT_IPME  # packed local addresses, for [ip] literals
    pid: int = 0
    tls_build: bool = True
    auth_sleep: float = AUTH_SLEEP

    # --- from the environment at startup (tcpserver's variables)
    remoteip: bytes = field(init=False)
    local: bytes = field(init=False)
    remotehost: bytes = field(init=False)
    remoteinfo: bytes | None = field(init=False)
    relayclient: bytes | None = field(init=False)
    localport: bytes = field(init=False)
    submission: bytes = field(init=False)
    smtps: bool = field(init=False)

    # --- the flags of the command loop
    protocol: bytes = field(init=False, default=b"SMTP")
    seenmail: bool = field(init=False, default=False)
    flagbarf: bool = field(init=False, default=False)
    flagauth: bool = field(init=False, default=False)
    tls: bool = field(init=False, default=False)
    tls_verified: bool = field(init=False, default=False)
    tls_verify_err: bytes | None = field(init=False, default=None)
    helo: bytes | None = field(init=False, default=None)
    fakehelo: bytes | None = field(init=False, default=None)  # helo unless it is remotehost
    addr: bytes | None = field(init=False, default=None)  # the last parsed address
    mailfrom: bytes | None = field(init=False, default=None)
    rcptto: bytearray = field(init=False, default_factory=bytearray)  # "T<addr>\0" each
    auth_user: bytes = field(init=False, default=b"")
    fuser: bytes | None = field(init=False, default=None)  # MAIL FROM's AUTH=<...>
    remoteinfo_is_fuser: bool = field(init=False, default=False)
    queue_program: bytes | None = field(init=False, default=None)  # $QMAILQUEUE, read once

    # --- qmail-spp's state (spec §3)
    spp_val: int = field(init=False, default=0)  # the last hook's result (spp_engine); C's 0
    spprun: bool = field(init=False)
    spp_headers: bytearray = field(init=False, default_factory=bytearray)
    rcpt_count: int = field(init=False, default=0)  # exported only by upstream's rcpt hook
    rcpt_count_all: int = field(init=False, default=0)
    spp_errors: dict[str, bytearray] = field(init=False, default_factory=_spp_error_queues)

    def __post_init__(self) -> None:
        if not self.version.ipme_has_zero:
            self.ipme = self.ipme - {b"\0\0\0\0"}
        e = self.env
        self.remoteip = e.get(b"TCPREMOTEIP", b"unknown")
        self.local = e.get(b"TCPLOCALHOST", e.get(b"TCPLOCALIP", b"unknown"))
        self.remotehost = e.get(b"TCPREMOTEHOST", b"unknown")
        self.remoteinfo = e.get(b"TCPREMOTEINFO")
        self.relayclient = e.get(b"RELAYCLIENT")
        self.localport = e.get(b"TCPLOCALPORT", b"0")
        self.submission = e.get(b"SUBMISSIONPORT", b"587")
        self.smtps = b"SMTPS" in e
        self.spprun = self.loaded_controls is not None and self.loaded_controls.spp is not None

    @property
    def controls(self) -> SmtpdControls:
        assert self.loaded_controls is not None
        return self.loaded_controls

    def dohelo(self, arg: bytes) -> None:
        self.helo = arg
        self.fakehelo = None if arg.lower() == self.remotehost.lower() else arg
