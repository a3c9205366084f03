"""A raw SMTP byte client: replies are framed by SMTP grammar (the line whose fourth byte
is not '-' ends a reply), never by a quiet period. The seed of the harness's session
driver; tests and benchmarks use it as it is."""

from __future__ import annotations

import socket

__all__ = ["RawClient"]


class RawClient:
    def __init__(self, host: str, port: int, *, timeout: float | None = 30.0,
                 source: str | None = None) -> None:
        self.sock: socket.socket = socket.create_connection(
            (host, port), timeout=timeout, source_address=(source, 0) if source else None)
        self.buf = bytearray()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def reply(self) -> bytes:
        """One complete reply (all its lines); b"" if the server closed first."""
        start = 0
        while True:
            nl = self.buf.find(b"\n", start)
            if nl < 0:
                chunk = self.sock.recv(65536)
                if not chunk:
                    data, self.buf = bytes(self.buf), bytearray()
                    return data
                self.buf += chunk
                continue
            line = self.buf[start : nl + 1]
            start = nl + 1
            if len(line) < 4 or line[3:4] != b"-":
                data = bytes(self.buf[:start])
                del self.buf[:start]
                return data

    def command(self, line: bytes) -> bytes:
        """Send `line` (CRLF added) and return the reply."""
        self.send(line + b"\r\n")
        return self.reply()

    def rest(self) -> bytes:
        """Everything until the server closes the connection."""
        while True:
            chunk = self.sock.recv(65536)
            if not chunk:
                data, self.buf = bytes(self.buf), bytearray()
                return data
            self.buf += chunk

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
