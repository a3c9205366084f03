"""cdb files for tests (qmail-newmrh makes the real morercpthosts.cdb; eQmail only reads
cdb files, so writing one is no behaviour of the reference)."""

from __future__ import annotations

import struct

from eqmail_ref.cdb import cdb_hash

__all__ = ["cdb_build"]

_PAIR = struct.Struct("<II")


def cdb_build(items: list[tuple[bytes, bytes]]) -> bytes:
    """A cdb holding `items`, as cdbmake writes it."""
    records = bytearray()
    buckets: list[list[tuple[int, int]]] = [[] for _ in range(256)]
    pos = 2048
    for key, value in items:
        h = cdb_hash(key)
        buckets[h & 255].append((h, pos))
        record = _PAIR.pack(len(key), len(value)) + key + value
        records += record
        pos += len(record)
    header = bytearray()
    tables = bytearray()
    for bucket in buckets:
        slots = 2 * len(bucket)
        header += _PAIR.pack(pos + len(tables), slots)
        table = [(0, 0)] * slots
        for h, rpos in bucket:
            i = (h >> 8) % slots
            while table[i][1]:
                i = (i + 1) % slots
            table[i] = (h, rpos)
        for h, rpos in table:
            tables += _PAIR.pack(h, rpos)
    return bytes(header + records + tables)
