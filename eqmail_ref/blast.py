"""The DATA byte machine of qmail-smtpd's blast() (spec §2.14).

Rules, as the C code applies them byte by byte:
  * CR LF becomes LF; a CR not followed by LF is kept; any other LF is a bare LF (fatal).
  * A line-initial `.` is dropped before any byte but CR; `.` CR LF ends the data;
    `.` CR X keeps `.` CR.
  * While in the header (until the first line that is exactly CR LF), a raw line whose
    first 8 bytes are `received` or first 9 are `delivered` (each letter all-lower or
    all-upper) counts as a hop. There is no colon check.

`DataReader.feed()` takes input as it arrives and returns the unstuffed output. Complete
lines at a line start go through a fast path; everything else goes through the byte states
of the C code, so a line split across reads behaves exactly as one that is not.
"""

from __future__ import annotations

import re

__all__ = ["DataReader", "MORE", "END", "BARE_LF"]

MORE = 0
END = 1
BARE_LF = 2

# The C code's states: 0 mid-line, 1 line start, 2 after line-start '.',
# 3 after line-start ".\r", 4 after '\r' (the CR is not output yet).
_MID, _START, _DOT, _DOTCR, _CR = 0, 1, 2, 3, 4
_CR_OR_LF = re.compile(rb"[\r\n]")


class DataReader:
    __slots__ = ("state", "hops", "in_header", "_prefix")

    def __init__(self) -> None:
        self.state = _START
        self.hops = 0
        self.in_header = True
        self._prefix = bytearray()  # first raw bytes of the current line, while in the header

    def _header_line_bytes(self, raw: bytes | bytearray) -> None:
        """Feed raw bytes of the current line to the hop counter (header only)."""
        need = 9 - len(self._prefix)
        if need <= 0 or not raw:
            return
        before = len(self._prefix)
        self._prefix += raw[:need]
        low = bytes(self._prefix).lower()
        if before < 8 <= len(self._prefix) and low[:8] == b"received":
            self.hops += 1
        if before < 9 <= len(self._prefix) and low[:9] == b"delivered":
            self.hops += 1

    def _header_line_end(self) -> None:
        if self._prefix[:2] == b"\r\n":
            self.in_header = False
        self._prefix.clear()

    def feed(self, data: bytes | bytearray, out: bytearray) -> tuple[int, int]:
        """Consume `data`, appending message bytes to `out`.

        Returns (outcome, consumed): MORE (all consumed), END (the `.` line was read;
        `consumed` bytes belong to the message) or BARE_LF (fatal; stop reading).
        """
        i = 0
        n = len(data)
        state = self.state
        while i < n:
            if state == _START and not self.in_header:
                j = data.find(b"\n", i)
                if j >= 0:
                    # Fast path: one whole line from a line start.
                    if j == i or data[j - 1] != 0x0D:
                        self.state = state
                        return BARE_LF, j + 1
                    if data[i] == 0x2E:  # '.'
                        if j - i == 2:  # ".\r\n"
                            self.state = _START
                            return END, j + 1
                        if data[i + 1] == 0x0D:
                            out += data[i : j - 1]
                        else:
                            out += data[i + 1 : j - 1]
                    else:
                        out += data[i : j - 1]
                    out.append(0x0A)
                    i = j + 1
                    continue
            if state == _MID:
                m = _CR_OR_LF.search(data, i)
                stop = n if m is None else m.start()
                if stop > i:
                    if self.in_header:
                        self._header_line_bytes(data[i:stop])
                    out += data[i:stop]
                    i = stop
                    continue
            ch = data[i]
            i += 1
            if self.in_header:
                self._header_line_bytes(data[i - 1 : i])
                if ch == 0x0A:
                    self._header_line_end()
            if state == _MID:
                if ch == 0x0A:
                    self.state = state
                    return BARE_LF, i
                if ch == 0x0D:
                    state = _CR
                    continue
            elif state == _START:
                if ch == 0x0A:
                    self.state = state
                    return BARE_LF, i
                if ch == 0x2E:
                    state = _DOT
                    continue
                if ch == 0x0D:
                    state = _CR
                    continue
                state = _MID
            elif state == _DOT:
                if ch == 0x0A:
                    self.state = state
                    return BARE_LF, i
                if ch == 0x0D:
                    state = _DOTCR
                    continue
                state = _MID
            elif state == _DOTCR:
                if ch == 0x0A:
                    self.state = _START
                    return END, i
                out += b".\r"
                if ch == 0x0D:
                    state = _CR
                    continue
                state = _MID
            else:  # _CR
                if ch == 0x0A:
                    state = _START
                elif ch != 0x0D:
                    out.append(0x0D)
                    state = _MID
            out.append(ch)
        self.state = state
        return MORE, n
