"""Byte helpers that reproduce the C library idioms qmail relies on.

qmail handles most strings as C strings (they end at the first NUL) and parses numbers with
djb's `scan_ulong` (digits only, no sign, wraps around). Getting these details right is what
makes the reference byte-exact on hostile input.
"""

from __future__ import annotations

__all__ = [
    "cstr",
    "scan_ulong",
    "to_uint32",
    "to_int32",
    "ip_scan",
    "ip_scanbracket",
    "case_equal",
]

_ULONG = 1 << 64


def cstr(data: bytes) -> bytes:
    """The C-string view of `data`: everything before the first NUL."""
    i = data.find(b"\0")
    return data if i < 0 else data[:i]


def scan_ulong(data: bytes, start: int = 0) -> tuple[int, int]:
    """djb scan_ulong: (value modulo 2**64, number of digits read)."""
    pos = start
    result = 0
    n = len(data)
    while pos < n and 48 <= data[pos] <= 57:
        result = (result * 10 + data[pos] - 48) % _ULONG
        pos += 1
    return result, pos - start


def to_uint32(value: int) -> int:
    return value & 0xFFFFFFFF


def to_int32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def ip_scan(data: bytes, start: int = 0) -> tuple[bytes, int] | None:
    """qmail ip_scan: four dotted decimals, each truncated to a byte. (ip, length) or None."""
    octets = bytearray()
    pos = start
    for k in range(4):
        value, digits = scan_ulong(data, pos)
        if not digits:
            return None
        octets.append(value & 0xFF)
        pos += digits
        if k < 3:
            if pos >= len(data) or data[pos] != 0x2E:
                return None
            pos += 1
    return bytes(octets), pos - start


def ip_scanbracket(data: bytes, start: int = 0) -> tuple[bytes, int] | None:
    """qmail ip_scanbracket: `[d.d.d.d]`. (ip, length including brackets) or None."""
    if start >= len(data) or data[start] != 0x5B:
        return None
    scanned = ip_scan(data, start + 1)
    if scanned is None:
        return None
    ip, length = scanned
    end = start + 1 + length
    if end >= len(data) or data[end] != 0x5D:
        return None
    return ip, length + 2


def case_equal(a: bytes, b: bytes) -> bool:
    """qmail case_diffs()==0: only ASCII A-Z fold, exactly like bytes.lower()."""
    return a.lower() == b.lower()
