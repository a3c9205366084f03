"""The message body as qmail-remote writes it to the server (spec §5.5 step 6, §5.1).

`blast()` copies the message one byte at a time into a 1024-byte output buffer: a line that
starts with `.` gets an extra `.`, every LF becomes CRLF, and `.` CRLF ends the data. When the
message ends without a newline, delivery stops with the buffer unflushed, so the server has
seen only what the buffer had flushed so far. That amount follows substdio_put(): a put that
does not fit flushes the buffer as it is first, so a CRLF put at fill 1023 sends 1023 bytes,
not 1024. Verified against real eQmail 1.08: 1023 `x`, LF, 3000 `y` sends 3071 body bytes.

`early` is how much of `sent` the buffer had flushed when the last body byte was put: the
dialogue writes that part first and the rest (with the final `.` CRLF) with `flagcritical`
set, so only a failure after that point says "Possible duplicate!" (spec §5.1).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Body", "BUFFER_SIZE", "blast"]

BUFFER_SIZE = 1024  # qmail-remote's smtpto buffer


@dataclass(frozen=True, kw_only=True)
class Body:
    sent: bytes  # what reaches the server (ends in ".\r\n" when complete)
    complete: bool  # False: the last line had no LF (perm_partialline)
    early: int  # bytes of `sent` flushed before flagcritical is set (all of it when partial)


class _Buffer:
    """Counts what an output buffer of BUFFER_SIZE bytes has flushed."""

    def __init__(self) -> None:
        self.fill = 0
        self.flushed = 0

    def bytes_one_at_a_time(self, count: int) -> None:
        """`count` puts of one byte: a byte put into a full buffer flushes all of it first."""
        if count <= 0:
            return
        flushes = (self.fill + count - 1) // BUFFER_SIZE
        self.flushed += flushes * BUFFER_SIZE
        self.fill += count - flushes * BUFFER_SIZE

    def put(self, count: int) -> None:
        """One put of `count` (< BUFFER_SIZE) bytes."""
        if count > BUFFER_SIZE - self.fill:
            self.flushed += self.fill
            self.fill = 0
        self.fill += count


def blast(message: bytes) -> Body:
    out = bytearray()
    buf = _Buffer()
    start = 0
    n = len(message)
    while start < n:
        lf = message.find(b"\n", start)
        line = message[start:] if lf < 0 else message[start:lf]
        if line[:1] == b".":
            out += b"."
            buf.put(1)
        out += line
        buf.bytes_one_at_a_time(len(line))
        if lf < 0:
            return Body(sent=bytes(out[: buf.flushed]), complete=False, early=buf.flushed)
        out += b"\r\n"
        buf.put(2)
        start = lf + 1
    out += b".\r\n"
    return Body(sent=bytes(out), complete=True, early=buf.flushed)
