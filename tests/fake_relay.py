"""A scripted SMTP server on loopback for qmail-remote tests: it answers with the given
replies in order and records what the client sent and from which address."""

from __future__ import annotations

import socket
import threading
from types import TracebackType


class FakeRelay:
    def __init__(self, replies: list[bytes], host: str = "127.0.0.1") -> None:
        self.replies = replies
        self.sock = socket.create_server((host, 0))
        self.port: int = self.sock.getsockname()[1]
        self.received = bytearray()
        self.peer: tuple[str, int] | None = None
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        conn, self.peer = self.sock.accept()
        with conn:
            conn.settimeout(30)
            replies = iter(self.replies)
            conn.sendall(next(replies))
            buf = bytearray()
            in_data = False
            try:
                for reply in replies:
                    while not (buf.endswith(b"\r\n.\r\n") if in_data else buf.endswith(b"\n")):
                        chunk = conn.recv(65536)
                        if not chunk:
                            return
                        buf += chunk
                        self.received += chunk
                    in_data = bytes(buf[:4]).upper() == b"DATA"
                    buf.clear()
                    conn.sendall(reply)
                while chunk := conn.recv(65536):  # whatever follows (QUIT) until close
                    self.received += chunk
            except OSError:
                return

    def __enter__(self) -> FakeRelay:
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._thread.join(timeout=30)
        self.sock.close()
