"""The Received line qmail-smtpd writes (spec §2.15) and eQmail's local-time date."""

from __future__ import annotations

import calendar
import time

__all__ = ["safeput", "date822", "received_pieces"]

_SAFE = frozenset(b".@%+/=:-abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_MONTHS = (b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun",
           b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec")
_SAFE_TABLE = bytes(c if c in _SAFE else 0x3F for c in range(256))


def safeput(value: bytes) -> bytes:
    """Every byte outside [A-Za-z0-9.@%+/=:-] becomes '?' (the value is a C string)."""
    nul = value.find(b"\0")
    if nul >= 0:
        value = value[:nul]
    return value.translate(_SAFE_TABLE)


def date822(when: int, utcoffset: int) -> bytes:
    """`D Mon YYYY HH:MM:SS +hhmm\\n`: eQmail's date822fmt patched to local time.

    `utcoffset` is the local offset east of UTC in seconds at `when` (tm_gmtoff).
    """
    tm = time.gmtime(when + utcoffset)
    local = calendar.timegm(tm)
    if local < when:
        sign, minutes = b"-", (when - local + 30) // 60
    else:
        sign, minutes = b"+", (local - when + 30) // 60
    return b"%d %s %d %02d:%02d:%02d %s%02d%02d\n" % (
        tm.tm_mday, _MONTHS[tm.tm_mon - 1], tm.tm_year, tm.tm_hour, tm.tm_min, tm.tm_sec,
        sign, minutes // 60, minutes % 60,
    )


def received_pieces(
    *,
    protocol: bytes,
    local: bytes,
    remoteip: bytes,
    remotehost: bytes,
    remoteinfo: bytes | None,
    helo: bytes | None,
    date: bytes,
) -> list[tuple[bytes, bool]]:
    """The line as received.c writes it: (piece, byte by byte?). safeput() puts one byte at
    a time, the rest is one qmail_puts()/qmail_put() each; that decides where the 1024-byte
    queue buffer is flushed (data_phase.QueueBuffer)."""
    parts = [(b"Received: from ", False), (safeput(remotehost), True)]
    if helo is not None:
        parts += [(b" (HELO ", False), (safeput(helo), True), (b")", False)]
    parts.append((b" (", False))
    if remoteinfo is not None:
        parts += [(safeput(remoteinfo), True), (b"@", False)]
    parts += [(safeput(remoteip), True), (b")\n  by ", False), (safeput(local), True),
              (b" with ", False), (protocol, False), (b"; ", False), (date, False)]
    return parts
