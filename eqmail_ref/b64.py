"""qmail's base64 (eQmail base64.c), quirks included (spec §2.9).

`b64decode` never reports bad input: characters outside the alphabet are skipped inside a
group, trailing `=` are counted as padding, and input shorter than one group decodes to
nothing. Too much padding (`====`) gives a negative length, which crashes eQmail later.
"""

from __future__ import annotations

__all__ = ["b64decode", "b64encode"]

_VALUES = {c: i for i, c in enumerate(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")}
_PAD = 0x3D


def _group(data: bytes, start: int) -> bytes:
    x = 0
    for ch in data[start : start + 4]:
        value = _VALUES.get(ch)
        if value is not None:
            x = ((x << 6) + value) & 0xFFFFFFFF
        elif ch == _PAD:
            x = (x << 6) & 0xFFFFFFFF
    return bytes(((x >> 16) & 255, (x >> 8) & 255, x & 255))


def b64decode(data: bytes) -> bytes | None:
    """The decoded bytes; None where the C code computes a negative length (`=`, `====`,
    `a====`): the stralloc then claims 4 GiB and eQmail crashes when it uses it."""
    length = len(data)
    if length == 0:
        return b""
    pad = 0
    while length and data[length - 1] == _PAD:
        pad += 1
        length -= 1
    groups = (length + pad) // 4
    out_len = groups * 3 - pad
    if out_len < 0:
        return None
    if out_len == 0:
        return b""
    out = bytearray()
    for g in range(groups - 1):
        out += _group(data, g * 4)
    last = _group(data, (groups - 1) * 4)
    out += last[: max(0, 3 - pad)]
    return bytes(out[:out_len])


def b64encode(data: bytes) -> bytes:
    import base64

    return base64.b64encode(data)
