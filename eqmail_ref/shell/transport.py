"""Client byte transports for the session shell: a pair of file descriptors (stdin/stdout
under tcpserver, or one socket for both), optionally wrapped in TLS."""

from __future__ import annotations

import os
import select

__all__ = ["FdTransport", "ClientGone"]


class ClientGone(Exception):
    """A write to the client failed: qmail-smtpd's safewrite() exits 1 silently."""


class FdTransport:
    def __init__(self, rfd: int, wfd: int) -> None:
        self.rfd = rfd
        self.wfd = wfd
        self._poll = select.poll()
        self._poll.register(rfd, select.POLLIN | select.POLLHUP | select.POLLERR)

    def read(self, timeout: float) -> bytes | None:
        """Up to 64 KiB; b"" at EOF; None if nothing came within `timeout` seconds."""
        if not self._poll.poll(timeout * 1000):
            return None
        try:
            return os.read(self.rfd, 65536)
        except ConnectionResetError:
            return b""

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self.wfd, view):]
        except OSError as exc:
            raise ClientGone(str(exc)) from exc
