"""The fake upstream relay: a scripted SMTP server on loopback (real sockets, one thread)
that records what qmail-remote sent it (ARCHITECTURE.md, observers).

    with SmtpPeer([[b"220 hi\\r\\n", b"250 ok\\r\\n", ...], ...], host="127.0.0.1") as peer:
        ... run the client against peer.port ...
    peer.connections[0].received / .peer / .commands / .tls_version

Each accepted connection takes the next script (none left: it is closed at once). Script
items, in order:
  bytes      the first one is sent at once (the greeting); every later one is sent after
             the next client command (a line, or in DATA the body up to CRLF.CRLF)
  GREET(b)   sent at once, without waiting for a command (the SMTPS greeting inside TLS)
  TLS        a TLS server handshake now, with `tls_context`
  CLOSE      hang up
  HANG       answer nothing more: read (and record) until the client gives up
  RESET      read (and record) the next command, then reset the connection: the client,
             waiting for the reply, gets ECONNRESET from its read (not an EOF)
After the script the peer keeps reading (what follows, QUIT) until the client closes.
The peer never waits on a clock: reads block until data or EOF. `stop()` (and leaving the
`with` block) first lets the connections already made end by themselves (their client has
exited, so EOF is near), then cuts whatever still hangs, so no thread outlives it.
"""

from __future__ import annotations

import itertools
import socket
import ssl
import struct
import threading
from dataclasses import dataclass, field
from types import TracebackType

from harness.cases import Greet, RelayAction, ScriptItem
from harness.observe.waiting import first_readable

__all__ = ["SmtpPeer", "PeerConnection", "GREET", "TLS", "CLOSE", "HANG", "RESET", "Item"]

_SAFETY = 30.0  # a read that waits this long means a hung client: the connection ends
_ACCEPTED = itertools.count()  # orders the connections of several peers


# the script items are the case model's own (a case's relay plan is a list of them)
GREET = Greet
TLS, CLOSE, HANG, RESET = RelayAction.TLS, RelayAction.CLOSE, RelayAction.HANG, RelayAction.RESET
Item = ScriptItem


@dataclass
class PeerConnection:
    peer: tuple[str, int]
    received: bytearray = field(default_factory=bytearray)
    commands: list[bytes] = field(default_factory=list)
    tls_version: str | None = None
    tls_cipher: str | None = None
    tls_error: str | None = None
    tls_client_cert: dict[str, object] | None = None  # when tls_context asks for one
    # how the client ended TLS: True with close_notify, False without (OpenSSL 3 clients
    # then report "unexpected eof while reading"), None: no TLS or not ended by the client
    tls_close_notify: bool | None = None
    serial: int = field(default_factory=lambda: next(_ACCEPTED))


class SmtpPeer:
    def __init__(self, scripts: list[list[Item]], *, host: str = "127.0.0.1", port: int = 0,
                 tls_context: ssl.SSLContext | None = None,
                 listener: socket.socket | None = None) -> None:
        self.scripts = list(scripts)
        self.tls_context = tls_context
        self.listener = listener if listener is not None else socket.create_server((host, port))
        self.host: str = self.listener.getsockname()[0]
        self.port: int = self.listener.getsockname()[1]
        self.connections: list[PeerConnection] = []
        self.errors: list[BaseException] = []
        self._current: socket.socket | None = None
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = socket.socketpair()
        self._thread = threading.Thread(target=self._serve, daemon=True, name=f"relay-{self.host}")
        self._thread.start()

    # ------------------------------------------------------------------ server side

    def _serve(self) -> None:
        try:
            while True:
                if first_readable(self._wake_r, self.listener):
                    # stopping: still take the connections the client made before it ended
                    self.listener.setblocking(False)
                    while self._accept_one():
                        pass
                    return
                self._accept_one()
        except BaseException as exc:  # reported by stop()
            self.errors.append(exc)

    def _accept_one(self) -> bool:
        try:
            conn, addr = self.listener.accept()
        except (BlockingIOError, OSError):
            return False
        record = PeerConnection(peer=(addr[0], addr[1]))
        self.connections.append(record)
        script: list[Item] = self.scripts.pop(0) if self.scripts else [CLOSE]
        with conn:
            conn.setblocking(True)
            conn.settimeout(_SAFETY)
            with self._lock:
                self._current = conn
            try:
                self._converse(conn, script, record)
            except (OSError, ssl.SSLError):
                pass  # the client went away mid-reply: what it sent is recorded
            finally:
                with self._lock:
                    self._current = None
        return True

    def _converse(self, conn: socket.socket, script: list[Item], rec: PeerConnection) -> None:
        sock: socket.socket = conn
        buf = bytearray()
        in_data = False
        first = True
        for item in script:
            if item == CLOSE:
                self._hang_up(conn)
                return
            if item == HANG:
                break
            if item == RESET:
                command = self._next_command(sock, buf, rec, in_data)
                if command is not None:
                    rec.commands.append(command)
                # SO_LINGER 0: close() sends RST, so the client's pending read fails
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
            if item == TLS:
                assert self.tls_context is not None, "TLS step without tls_context"
                try:
                    tls = self.tls_context.wrap_socket(sock, server_side=True,
                                                       suppress_ragged_eofs=False)
                except (ssl.SSLError, OSError) as exc:
                    rec.tls_error = str(exc)
                    return
                sock = tls
                rec.tls_version = tls.version()
                cipher = tls.cipher()
                rec.tls_cipher = cipher[0] if cipher else None
                rec.tls_client_cert = dict(tls.getpeercert() or {}) or None
                continue
            if isinstance(item, GREET):
                sock.sendall(item.data)
                continue
            assert isinstance(item, bytes)
            if not first:
                command = self._next_command(sock, buf, rec, in_data)
                if command is None:
                    return
                rec.commands.append(command)
                in_data = (not in_data and command.upper().startswith(b"DATA")
                           and item.startswith(b"354"))
            first = False
            sock.sendall(item)
        if buf:
            rec.commands.append(bytes(buf))
        self._drain(sock, rec)

    def _next_command(self, sock: socket.socket, buf: bytearray, rec: PeerConnection,
                      in_data: bool) -> bytes | None:
        while True:
            if in_data:
                end = buf.find(b"\r\n.\r\n")
                if buf.startswith(b".\r\n"):
                    end, size = 0, 3
                else:
                    size = end + 5
                if end >= 0:
                    command = bytes(buf[:size])
                    del buf[:size]
                    return command
            else:
                lf = buf.find(b"\n")
                if lf >= 0:
                    command = bytes(buf[: lf + 1])
                    del buf[: lf + 1]
                    return command
            chunk = self._recv(sock, rec)
            if not chunk:
                if buf:
                    rec.commands.append(bytes(buf))
                return None
            buf += chunk
            rec.received += chunk

    @staticmethod
    def _recv(sock: socket.socket, rec: PeerConnection | None = None) -> bytes:
        try:
            data = sock.recv(65536)
        except ssl.SSLEOFError:
            if rec is not None:
                rec.tls_close_notify = False
            return b""
        except (OSError, ssl.SSLError):
            return b""
        if not data and rec is not None and isinstance(sock, ssl.SSLSocket):
            rec.tls_close_notify = True
        return data

    def _hang_up(self, conn: socket.socket) -> None:
        """CLOSE: end our side (FIN) and discard what the client still sends until it closes.
        Closing with unread input would send a reset instead, and whether the client then
        sees an EOF or a reset (e.g. in a TLS handshake: OpenSSL 3's "unexpected eof while
        reading" or a bare syscall error) would depend on which came first."""
        try:
            conn.shutdown(socket.SHUT_WR)
            while conn.recv(65536):
                pass
        except OSError:
            pass

    def _drain(self, sock: socket.socket, rec: PeerConnection) -> None:
        while chunk := self._recv(sock, rec):
            rec.received += chunk

    # ------------------------------------------------------------------ test side

    def stop(self, grace: float = 10.0) -> None:
        """End the thread: connections already made run to their EOF (up to `grace`
        seconds), then a connection that still hangs is cut. Safe to call twice."""
        if self._wake_w.fileno() < 0:
            return
        self._wake_w.send(b"x")
        self._thread.join(timeout=grace)
        with self._lock:
            if self._current is not None:
                try:
                    self._current.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        self._thread.join(timeout=_SAFETY)
        self.listener.close()
        self._wake_r.close()
        self._wake_w.close()
        if self._thread.is_alive():
            raise RuntimeError("the SMTP peer thread did not stop")

    def __enter__(self) -> SmtpPeer:
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
        if self.errors and et is None:
            raise self.errors[0]

    @property
    def only(self) -> PeerConnection:
        assert len(self.connections) == 1, self.connections
        return self.connections[0]
