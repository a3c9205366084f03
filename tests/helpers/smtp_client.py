"""A raw SMTP byte client: replies are framed by SMTP grammar (the line whose fourth byte
is not '-' ends a reply), never by a quiet period. The seed of the harness's session
driver; tests and benchmarks use it as it is."""

from __future__ import annotations

import socket

from harness.drive.session import PlainChannel, ReplyReader

__all__ = ["RawClient"]


class RawClient:
    def __init__(self, host: str, port: int, *, timeout: float | None = 30.0,
                 source: str | None = None) -> None:
        self.sock: socket.socket = socket.create_connection(
            (host, port), timeout=timeout, source_address=(source, 0) if source else None)
        self.reader = ReplyReader(PlainChannel(self.sock))

    @classmethod
    def over(cls, sock: socket.socket) -> RawClient:
        """A client on a socket that is already connected (e.g. SMTPS, TLS from the start)."""
        client = cls.__new__(cls)
        client.use(sock)
        return client

    def use(self, sock: socket.socket) -> None:
        """Go on over `sock` (the same connection wrapped in TLS after STARTTLS)."""
        self.sock = sock
        self.reader = ReplyReader(PlainChannel(sock))

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def reply(self) -> bytes:
        """One complete reply (all its lines); what is left (maybe b"") if the server closed."""
        return self.reader.reply()

    def command(self, line: bytes) -> bytes:
        """Send `line` (CRLF added) and return the reply."""
        self.send(line + b"\r\n")
        return self.reply()

    def rest(self) -> bytes:
        """Everything until the server closes the connection."""
        return self.reader.rest()

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
