"""Envelope address handling of qmail-smtpd: addrparse, MAIL parameters, rcpthosts,
badmailfrom (spec §2.5, §2.11-2.13). Pure functions over bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from eqmail_ref.cbytes import ip_scanbracket, scan_ulong

__all__ = [
    "MAX_ADDR",
    "addrparse",
    "MailParams",
    "parse_mail_params",
    "rcpthosts_allowed",
    "badmailfrom_match",
    "CdbLookup",
]

# addrparse rejects when the address plus its terminating NUL is longer than 900 bytes.
MAX_ADDR = 899

CdbLookup = Callable[[bytes], bool]


def addrparse(arg: bytes, liphost: bytes | None, ipme: frozenset[bytes]) -> tuple[bytes, bool]:
    """The address in a MAIL/RCPT argument, and False for `555 syntax error` (§2.11).

    `arg` is already a C string (the command line was cut at its first NUL).
    """
    lt = arg.find(b"<")
    if lt >= 0:
        pos = lt + 1
        terminator = 0x3E  # '>'
    else:
        colon = arg.find(b":")
        pos = len(arg) if colon < 0 else colon + 1
        while pos < len(arg) and arg[pos] == 0x20:
            pos += 1
        terminator = 0x20
    if pos < len(arg) and arg[pos] == 0x40:  # '@': strip the source route through ':'
        colon = arg.find(b":", pos)
        pos = len(arg) if colon < 0 else colon + 1
    out = bytearray()
    escaped = quoted = False
    for ch in arg[pos:]:
        if escaped:
            out.append(ch)
            escaped = False
        elif not quoted and ch == terminator:
            break
        elif ch == 0x5C:  # backslash
            escaped = True
        elif ch == 0x22:  # double quote
            quoted = not quoted
        else:
            out.append(ch)
    addr = bytes(out)
    if liphost is not None:
        addr = _rewrite_localiphost(addr, liphost, ipme)
    return addr, len(addr) <= MAX_ADDR


def _rewrite_localiphost(addr: bytes, liphost: bytes, ipme: frozenset[bytes]) -> bytes:
    at = addr.rfind(b"@")
    if at < 0:
        return addr
    scanned = ip_scanbracket(addr, at + 1)
    if scanned is None or at + 1 + scanned[1] != len(addr):
        return addr
    if scanned[0] not in ipme:
        return addr
    return addr[: at + 1] + liphost


@dataclass(frozen=True, kw_only=True)
class MailParams:
    size_exceeded: bool = False
    auths: tuple[bytes, ...] = ()  # the decoded AUTH= values, in order


# djb's stralloc functions write a 'Z' after the data ("offensive programming"), so
# case_starts() on the unterminated `mfparms` buffer meets a 'Z' right after each token
# and never reads stale bytes of an earlier token.
_SENTINEL = b"Z"


def parse_mail_params(arg: bytes, databytes: int) -> MailParams:
    """mailfrom_parms(): SIZE= and AUTH= after the first `>` (§2.5 step 3)."""
    if not arg.find(b">") > 4:
        return MailParams()
    auths: list[bytes] = []
    # Tokens start at the second byte of the argument and end at a space or at the end.
    for token in arg[1:].split(b" "):
        head = token[:5].lower()
        if head == b"size=":
            size, _ = scan_ulong(token + _SENTINEL, 5)
            if databytes and size > databytes:
                return MailParams(size_exceeded=True, auths=tuple(auths))
        elif head == b"auth=":
            auths.append(_decode_auth_param(token[5:] + _SENTINEL, len(token) - 5))
    return MailParams(auths=tuple(auths))


def _decode_auth_param(value: bytes, length: int) -> bytes:
    """mailfrom_auth(): `+3D` -> `=`, `+2B` -> `+`, other `+` dropped, `<>` -> unknown."""
    if value[:2] == b"<>":
        return b"unknown"
    out = bytearray()
    pos = 0
    while length > 0:
        if value[pos] == 0x2B:  # '+'
            if value[pos : pos + 3].lower() == b"+3d":
                pos += 2
                length -= 2
                out += b"="
            if value[pos : pos + 3].lower() == b"+2b":
                pos += 2
                length -= 2
                out += b"+"
        else:
            out.append(value[pos])
        pos += 1
        length -= 1
    return bytes(out)


def rcpthosts_allowed(
    addr: bytes, rcpthosts: frozenset[bytes] | None, more: CdbLookup | None
) -> bool:
    """rcpthosts(): None means no control/rcpthosts, which allows everything (§2.12).

    `more` looks a key up in morercpthosts.cdb; it raises OSError on a read error.
    """
    if rcpthosts is None:
        return True
    at = addr.rfind(b"@")
    if at < 0:
        return True
    host = addr[at + 1 :].lower()
    keys = [host[j:] for j in range(len(host)) if j == 0 or host[j] == 0x2E]
    if any(key in rcpthosts for key in keys):
        return True
    if more is not None:
        return any(more(key) for key in keys)
    return False


def badmailfrom_match(addr: bytes, badmailfrom: frozenset[bytes] | None) -> bool:
    """bmfcheck() with the wildcard patch: exact, `@host`, then each `.suffix` (§2.13)."""
    if not badmailfrom:
        return False
    low = addr.lower()
    if low in badmailfrom:
        return True
    at = low.rfind(b"@")
    if at < 0:
        return False
    if low[at:] in badmailfrom:
        return True
    return any(low[j:] in badmailfrom for j in range(at + 1, len(low)) if low[j] == 0x2E)
