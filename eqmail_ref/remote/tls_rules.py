"""qmail-remote's STARTTLS decisions and texts (tls_init(); spec §5.6), without any I/O.

Texts, in the order tls_init() can print them (each then goes through quit() with
"; connecting to " before the handshake or "; connected to " after it, the address and
".\\n"):
  ZNo TLS achieved while control/tlshosts/<fqdn>.pem exists
  ZTLS unable to load control/tlshosts/<fqdn>.pem[: <OpenSSL error>]
  ZSTARTTLS rejected while control/tlshosts/<fqdn>.pem exists   (+ the remote's reply)
  ZTLS connect failed[: <OpenSSL error>]
  ZTLS unable to verify server with control/tlshosts/<fqdn>.pem: <X509 error>
  ZTLS unable to verify server <fqdn>: no certificate provided
  ZTLS unable to verify server <fqdn>: certificate contains no valid commonName
  ZTLS unable to verify server <fqdn>: received certificate for <CN, outsafe>
and for port 465 after the handshake: "ZTLS Connected to <ip> but greeting failed".
"""

from __future__ import annotations

from dataclasses import dataclass

from eqmail_ref.cbytes import cstr
from eqmail_ref.remote.requests import TlsOutcome

__all__ = [
    "TlsPlan", "tls_plan", "ehlo_keywords", "offers_starttls", "match_partner", "name_problem",
    "outsafe", "NO_TLS_HEAD", "LOAD_FAILED_HEAD", "REJECTED_HEAD", "CONNECT_FAILED",
    "VERIFY_WITH_HEAD", "VERIFY_SERVER_HEAD", "NO_CERT", "NO_CN", "RECEIVED_FOR",
    "CONNECTING_TO", "CONNECTED_TO", "TLS_GREETING_HEAD", "EXISTS", "TIMED_OUT",
]

NO_TLS_HEAD = b"ZNo TLS achieved while "
LOAD_FAILED_HEAD = b"ZTLS unable to load "
REJECTED_HEAD = b"ZSTARTTLS rejected while "
EXISTS = b" exists"
CONNECT_FAILED = b"ZTLS connect failed"
VERIFY_WITH_HEAD = b"ZTLS unable to verify server with "
VERIFY_SERVER_HEAD = b"ZTLS unable to verify server "
NO_CERT = b"no certificate provided"
NO_CN = b"certificate contains no valid commonName"
RECEIVED_FOR = b": received certificate for "
CONNECTING_TO = b"; connecting to "
CONNECTED_TO = b"; connected to "
TLS_GREETING_HEAD = b"ZTLS Connected to "
TIMED_OUT = b"timed out"  # ssl_error_str() for a TLS read or write timeout


@dataclass(frozen=True, kw_only=True)
class TlsPlan:
    attempt: bool  # False: no TLS with this server (notlshosts, exhaustivelist)
    servercert: bytes | None = None  # control/tlshosts/<fqdn>.pem: TLS and verification required


def tls_plan(fqdn: bytes | None, tlshosts: frozenset[bytes], notlshosts: frozenset[bytes]) -> TlsPlan:
    """The tlshosts/notlshosts part of tls_init(). `tlshosts` and `notlshosts` are the
    names in those directories. Without an fqdn (a literal address) STARTTLS is tried
    whenever offered and never required."""
    if fqdn is None:
        return TlsPlan(attempt=True)
    name = cstr(fqdn)
    if name + b".pem" in tlshosts:
        return TlsPlan(attempt=True, servercert=b"control/tlshosts/" + name + b".pem")
    if b"exhaustivelist" in tlshosts or name in notlshosts:
        return TlsPlan(attempt=False)
    return TlsPlan(attempt=True)


def ehlo_keywords(text: bytes) -> list[bytes]:
    """ehlo(): the keyword of each line after the first (its first word from the fifth
    byte, cut at '='), walking the reply exactly as the C loop does."""
    first = text.find(b"\n")
    if first < 0:
        return []
    s = first + 1
    end = len(text) - 6
    words: list[bytes] = []
    while s <= end:
        s += 4
        p = s
        word: bytes | None = None
        was_space = False
        while p < len(text):
            ch = text[p]
            if ch in b"\n \t":
                if not was_space and word is None:
                    word = text[s:p]
                if ch == 0x0A:
                    break
                was_space = True
            elif was_space:
                was_space = False
                s = p
            p += 1
        if word is None:
            word = text[s:p]
        words.append(cstr(word).split(b"=", 1)[0])
        s = p + 1
    return words


def offers_starttls(keywords: list[bytes]) -> bool:
    return any(k.lower() == b"starttls" for k in keywords)


def match_partner(fqdn: bytes, name: bytes) -> bool:
    """match_partner(): the name equals the fqdn (ASCII case-insensitively), or is
    `*<rest>` where <rest> equals the fqdn from its first dot on."""
    if name.lower() == fqdn.lower():
        return True
    if name[:1] == b"*":
        dot = fqdn.find(b".")
        domain = fqdn[dot:] if dot >= 0 else b""
        return name[1:].lower() == domain.lower()
    return False


def outsafe(data: bytes) -> bytes:
    return bytes(c if 33 <= c <= 126 else 0x3F for c in data)


def name_problem(fqdn: bytes, outcome: TlsOutcome, *, cn_only_without_dns_san: bool) -> bytes | None:
    """The report text (up to the "; connected to") when the verified certificate does not
    name the server, None when it does."""
    if not outcome.has_cert:
        return VERIFY_SERVER_HEAD + fqdn + b": " + NO_CERT
    if outcome.san_dns:
        if cn_only_without_dns_san:
            return None  # 1.09: any DNS name at all skips the CN check, matching or not
        if any(match_partner(fqdn, name) for name in outcome.san_dns):
            return None
    cn = outcome.common_name
    if not cn:
        return VERIFY_SERVER_HEAD + fqdn + b": " + NO_CN
    if not match_partner(fqdn, cn):
        return VERIFY_SERVER_HEAD + fqdn + RECEIVED_FOR + outsafe(cn)
    return None
