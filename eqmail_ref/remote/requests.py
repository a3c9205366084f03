"""Effects and requests of the qmail-remote core (eqmail_ref.remote.delivery), and the
answers the shell gives back with `RemoteDelivery.resolve()` (eqmail_ref.pump checks each
against its request's declared type).

Plain effects: `Report` (bytes for fd 1), `Disconnect`, and from eqmail_ref.effects `Log`
(a warning for stderr: the broken port 465 path, spec §5.5.1) and `Close` (the end).

Requests (`eqmail_ref.effects.Request[Answer]`) wait for an answer; plain effects do not.
Server bytes are not an answer: they come in through `receive()` when the core wants input.
"""

from __future__ import annotations

from dataclasses import dataclass

from eqmail_ref.effects import Effect, Request

__all__ = [
    "T_A", "T_CNAME", "T_MX", "T_AAAA", "DNS_OK", "DNS_SOFT", "DNS_HARD",
    "Report", "DnsQuery", "DnsRecord", "DnsAnswer", "Connect", "Connected", "Write", "Disconnect",
    "TlsPrepare", "TlsPrepared", "TlsHandshake", "TlsOutcome",
]

T_A, T_CNAME, T_MX, T_AAAA = 1, 5, 15, 28

# res_query()'s outcome as qmail's dns.c classifies it:
DNS_OK = "ok"  # an answer with at least one record
DNS_SOFT = "soft"  # ECONNREFUSED or TRY_AGAIN (timeout, SERVFAIL, REFUSED)
DNS_HARD = "hard"  # NXDOMAIN, or no record of the asked type (NO_DATA)


@dataclass(frozen=True, kw_only=True)
class Report(Effect):
    """Bytes for qmail-remote's fd 1: an r/h/s recipient report or the K/Z/D message
    report, each already ending in NUL (spec §5.1)."""
    data: bytes


# --- answers to the requests -------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class DnsRecord:
    rtype: int
    data: bytes  # A/AAAA: the packed address; CNAME/MX: the target name without final dot
    pref: int = 0  # MX preference


@dataclass(frozen=True, kw_only=True)
class DnsAnswer:
    status: str  # DNS_OK, DNS_SOFT or DNS_HARD
    records: tuple[DnsRecord, ...] = ()  # the answer section, in order, of every type


@dataclass(frozen=True, kw_only=True)
class Connected:
    ok: bool
    error: str = ""  # for logs and tests only; qmail-remote prints nothing per address


@dataclass(frozen=True, kw_only=True)
class TlsPrepared:
    ok: bool
    error: bytes = b""  # why the CA file did not load (OpenSSL's text, build dependent)


@dataclass(frozen=True, kw_only=True)
class TlsOutcome:
    ok: bool
    error: bytes = b""  # ssl_error_str() of a failed handshake ("" for none)
    verify_error: bytes | None = None  # X509_verify_cert_error_string() when it failed
    # False: the TLS layer gave up after the verification failure (Python's ssl cannot
    # finish a handshake whose verification failed); nothing more can be written, so no
    # QUIT. eQmail finishes the handshake and sends QUIT inside TLS. The report is the same.
    usable: bool = True
    has_cert: bool = True
    san_dns: tuple[bytes, ...] = ()  # the DNS subjectAltNames, in certificate order
    common_name: bytes | None = None  # the first CN of the subject


# --- requests, each with its answer type -----------------------------------------------


@dataclass(frozen=True, kw_only=True)
class DnsQuery(Request[DnsAnswer]):
    """res_query(name, C_IN, rtype), no search list."""
    name: bytes
    rtype: int


@dataclass(frozen=True, kw_only=True)
class Connect(Request[Connected]):
    """socket(), bind() to `local_address` if given (domainbindings), then connect() within
    `timeout` seconds (timeoutconn). Answer: Connected."""
    ip: bytes  # 4 bytes (IPv4) or 16 (IPv6)
    port: int
    local_address: bytes | None
    timeout: int


@dataclass(frozen=True, kw_only=True)
class Write(Request[bool | bytes]):
    """Write these bytes to the server (through TLS once it is on) within the remote
    timeout. Answer: True; False if the write failed (qmail-remote's dropped()); or, for a
    failed TLS write, OpenSSL's error text as bytes (shown in the "connection died" line)."""
    data: bytes


@dataclass(frozen=True, kw_only=True)
class Disconnect(Effect):
    """close() the current connection; the core goes on with the next address."""


@dataclass(frozen=True, kw_only=True)
class TlsPrepare(Request[TlsPrepared]):
    """SSL_CTX_new + the CA file (`cafile`, relative to the qmail home) when the server
    must verify + control/clientcert.pem when `client_cert`. Answer: TlsPrepared."""
    cafile: bytes | None
    client_cert: bool
    no_sslv3: bool


@dataclass(frozen=True, kw_only=True)
class TlsHandshake(Request[TlsOutcome]):
    """SSL_connect over the current connection with this cipher list, no SNI, within
    `timeout` seconds. Answer: TlsOutcome."""
    ciphers: bytes
    timeout: int
