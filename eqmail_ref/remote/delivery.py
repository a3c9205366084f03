"""The sans-IO core of qmail-remote: one delivery, from routing to the report (spec §5, §6).

    core = RemoteDelivery(job=..., controls=..., switches=..., ipme=..., seed=...)
    effects = core.start()
    loop: perform effects (Report: bytes for fd 1; Disconnect: close the connection;
          Close: the end); if core.pending: effects = core.resolve(answer); elif
          core.wants_input: effects = core.receive(server bytes) / core.timeout() /
          core.lost(error)

(the driving API of eqmail_ref.pump, shared with qmail-smtpd's core)

Requests (eqmail_ref.remote.requests): DnsQuery, Connect, Write, TlsPrepare, TlsHandshake.
The core never touches a socket, a resolver or the clock; the shell is
eqmail_ref.shell.remote_main.

Order of main() (qmail-remote.c), kept here: smtproutes lookup and value parse; the sender
quoted; (1.08) domainbindings looked up on the sender's domain (parse error: Z); each
recipient quoted and, without a relay, its domain CNAME-canonicalised; the relay's
addresses (dns_ip) or the host's mail exchangers (dns_mxip); the self-MX rule; then each
eligible address in order: bind (domainbindings), connect, smtp(). tcpto (the
remembered-timeout file) is not modelled: every address is tried.

Port 465 in a TLS build is SMTPS, which is broken in real eQmail (§5.5.1): the core
reproduces it (eqmail_ref.remote.dialogue) and flags it with a `Log` warning for stderr.
"""

from __future__ import annotations

from dataclasses import dataclass

from eqmail_ref.effects import Effect, Log
from eqmail_ref.pump import Step, ask
from eqmail_ref.remote.dialogue import Dialogue
from eqmail_ref.remote.report import (
    PERM_AMBIGMX,
    PERM_NOMX,
    TEMP_DNS,
    TEMP_DNSCANON,
    TEMP_NOCONN,
    USAGE,
    host_not_found,
)
from eqmail_ref.remote.requests import DNS_HARD, DNS_SOFT, Connect, Disconnect
from eqmail_ref.remote.resolve import SOFT_SOME, Candidate, dns_cname, dns_ip, dns_mxip
from eqmail_ref.remote.routes import BAD_BINDING, binding_for, route_for
from eqmail_ref.remote.snapshot import RemoteControls
from eqmail_ref.remote.switches import NONLOCAL_PARSE_ERROR, RemoteSwitches
from eqmail_ref.remote.tls_rules import TIMED_OUT

__all__ = ["Job", "RemoteDelivery", "quote_address", "SMTPS_WARNING"]

_PREF_NONE = 100000  # prefme without a local MX
_PREF_RELAY = 300000
_PREF_ALIASES = 500000
_SAFE = frozenset(b"!#$%&'*+-./0123456789=?ABCDEFGHIJKLMNOPQRSTUVWXYZ^_`"
                  b"abcdefghijklmnopqrstuvwxyz{|}~")
SMTPS_WARNING = (b"eqmail-ref remote: port 465 (SMTPS) is broken in real eQmail 1.08/1.09 "
                 b"(spec 5.5.1): reproducing that, not working SMTPS\n")


def quote_address(address: bytes) -> bytes:
    """addrmangle() without the CNAME step (§5.4): split at the last @, the local part
    RFC 821-quoted (quote.c) when it is empty, has a byte outside the safe set, a leading
    or trailing dot, or "..". An address without @ is used as it is."""
    at = address.rfind(b"@")
    if at < 0:
        return address
    box, host = address[:at], address[at + 1 :]
    if (not box or any(c not in _SAFE for c in box) or box[:1] == b"." or box[-1:] == b"."
            or b".." in box):
        escaped = bytearray(b'"')
        for c in box:
            if c in b'\r\n"\\':
                escaped.append(0x5C)
            escaped.append(c)
        box = bytes(escaped + b'"')
    return box + b"@" + host


@dataclass(frozen=True, kw_only=True)
class Job:
    host: bytes  # argv[1]
    sender: bytes  # argv[2]
    recipients: tuple[bytes, ...]  # argv[3:]
    message: bytes  # fd 0


class RemoteDelivery(Dialogue):
    def __init__(self, *, job: Job, controls: RemoteControls, switches: RemoteSwitches,
                 ipme: frozenset[bytes], seed: int = 0) -> None:
        self._init_dialogue()
        self.job = job
        self.controls = controls
        self.sw = switches
        self.ipme = ipme  # packed local addresses (ipme_init), 4 or 16 bytes
        self.seed = seed  # now() + (getpid() << 16) in qmail-remote
        self.message = job.message
        self.helohost = controls.helohost
        self.sender = b""
        self.recipients: list[bytes] = []
        self.auth_user = self.auth_password = b""
        self.port = 25
        self.local_address: bytes | None = None
        super().__init__(self._main(), self.effects)

    # ----------------------------------------------------------------- driving API

    def receive(self, data: bytes) -> list[Effect]:
        """Server bytes; b"" means the server closed the connection."""
        if self.done:
            return []
        if data:
            self.parser.feed(data)
        else:
            self.eof = True
        return self._resume()

    def timeout(self) -> list[Effect]:
        """timeoutremote passed while waiting for a reply."""
        return self.lost(TIMED_OUT if self.ssl_state == "ok" else b"")

    def lost(self, ssl_error: bytes = b"") -> list[Effect]:
        """The read failed (reset, timeout; inside TLS with OpenSSL's error text)."""
        if self.done:
            return []
        self.ssl_err = ssl_error
        self.eof = True
        self.parser.buf.clear()
        return self._resume()

    # ------------------------------------------------------------------------ main()

    def _main(self) -> Step:
        if not self.job.recipients:
            self.zerodie(USAGE)
        yield from self._setup()
        relay = self.route_relay
        host = relay if relay is not None else self.job.host
        if relay is not None:
            status, ips = yield from dns_ip(relay, self.sw)
        else:
            status, ips = yield from dns_mxip(host, self.seed, self.sw)
        if status == DNS_SOFT:
            self.zerodie(TEMP_DNS)
        if status == DNS_HARD:
            self.zerodie(host_not_found(host)[:-1])
        if not ips:
            self.zerodie(TEMP_DNS if status == SOFT_SOME else PERM_NOMX)
        prefme = _PREF_NONE
        for cand in ips:
            if cand.ip in self.ipme and cand.pref < prefme:
                prefme = cand.pref
        if relay is not None:
            prefme = _PREF_RELAY
        if self.all_aliases:
            prefme = _PREF_ALIASES
        eligible = [cand for cand in ips if cand.pref < prefme]
        if not eligible:
            self.zerodie(PERM_AMBIGMX)
        for cand in eligible:
            yield from self._attempt(cand)
        self.zerodie(TEMP_NOCONN)

    def _setup(self) -> Step:
        route = route_for(self.job.host, self.controls.routes)
        self.route_relay = route.relay
        # timeoutconn() packs the port with uint16_pack_big: only its low 16 bits count
        self.port = route.port & 0xFFFF
        if self.sw.tls_build and self.port == 465:
            self.effects.append(Log(line=SMTPS_WARNING))
        self.auth_user, self.auth_password = route.user, route.password
        self.sender = quote_address(self.job.sender)
        if self.sw.domainbindings and self.controls.bindings is not None:
            self._bind()
        self.all_aliases = True
        canonicalise = route.relay is None
        for recipient in self.job.recipients:
            at = recipient.rfind(b"@")
            if at < 0:
                self.recipients.append(recipient)
                alias = canonicalise
            else:
                domain = recipient[at + 1 :]
                alias = canonicalise
                if canonicalise:
                    hops, domain = yield from dns_cname(domain)
                    if hops == DNS_SOFT:
                        self.zerodie(TEMP_DNSCANON)
                    if hops == 0:
                        alias = False
                self.recipients.append(quote_address(recipient[: at + 1]) + domain)
            if not alias:
                self.all_aliases = False

    def _bind(self) -> None:
        """domainbindings (spec §6): the sender's domain walked like smtproutes; the
        uncertain paths follow the switches."""
        assert self.controls.bindings is not None
        binding = binding_for(self.job.sender, self.controls.bindings)
        if binding.error is not None:
            self.zerodie(binding.error)
        if binding.local_ip is None or binding.helo is None:
            return
        ip = binding.local_ip
        if self.sw.bind_sets_helo:
            self.helohost = binding.helo
        if ip == b"\0\0\0\0":
            return  # 0.0.0.0: the OS chooses
        if self.sw.bind_nonlocal == NONLOCAL_PARSE_ERROR and ip not in self.ipme:
            self.zerodie(BAD_BINDING)
        self.local_address = ip

    def _attempt(self, cand: Candidate) -> Step:
        result = yield from ask(Connect(ip=cand.ip, port=self.port, local_address=self.local_address,
                                        timeout=self.controls.timeoutconnect))
        if not result.ok:
            return
        next_address = yield from self.smtp(cand)
        if next_address:
            self.effects.append(Disconnect())
