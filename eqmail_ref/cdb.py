"""A reader for D. J. Bernstein's constant database format (morercpthosts.cdb).

Reads from an in-memory copy of the file. A truncated or corrupt file raises OSError, which
qmail-smtpd turns into `421 unable to read controls` (spec §2.12).
"""

from __future__ import annotations

import struct

__all__ = ["Cdb", "cdb_hash"]

_PAIR = struct.Struct("<II")


def cdb_hash(key: bytes) -> int:
    h = 5381
    for ch in key:
        h = (((h << 5) + h) & 0xFFFFFFFF) ^ ch
    return h


class Cdb:
    __slots__ = ("_data",)

    def __init__(self, data: bytes) -> None:
        self._data = data

    def _pair(self, pos: int) -> tuple[int, int]:
        if pos < 0 or pos + 8 > len(self._data):
            raise OSError("cdb: read past the end of the file")
        return _PAIR.unpack_from(self._data, pos)

    def __contains__(self, key: bytes) -> bool:
        return self.get(key) is not None

    def get(self, key: bytes) -> bytes | None:
        h = cdb_hash(key)
        table, slots = self._pair(8 * (h & 255))
        if not slots:
            return None
        slot = (h >> 8) % slots
        for _ in range(slots):
            slot_hash, record = self._pair(table + 8 * slot)
            if not record:
                return None
            if slot_hash == h:
                klen, dlen = self._pair(record)
                end = record + 8 + klen + dlen
                if end > len(self._data):
                    raise OSError("cdb: record past the end of the file")
                if self._data[record + 8 : record + 8 + klen] == key:
                    return self._data[record + 8 + klen : end]
            slot = (slot + 1) % slots
        return None
