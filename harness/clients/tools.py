"""The command-line clients of category 10: `openssl s_client -starttls smtp` and swaks.

They connect to a TCP port, not to a socket the harness holds, so the session socket is
bridged to a loopback listener the harness makes for the one connection (`Bridge`): every
byte is copied both ways, an end of input is passed on as a half-close. Any target that
hands the harness a connected socket (all of them do) can thus be driven by them.

openssl s_client does its own EHLO and STARTTLS (`-name` is its EHLO name) and then writes
its standard input, the whole script at once (pipelined), without reading: EHLO again,
AUTH (PLAIN, or LOGIN with both answers), MAIL, RCPT, DATA, the dot-stuffed message, QUIT.
`-quiet` prints only what the server says inside TLS and keeps reading after its input
ends, until the server closes. swaks plays its own dialogue from its options; the lines it
prints with --hide-informational (`<-` server, ` ->` client, `~` inside TLS, `**` errors)
are the observation, with the message itself summarized (--suppress-data).
"""

from __future__ import annotations

import base64
import socket
import subprocess
import tempfile
import threading
from pathlib import Path

from harness.cases import ClientScript
from harness.clients.libraries import ClientHang
from harness.clients.outcome import tool_exit

__all__ = ["Bridge", "play_openssl", "play_swaks"]


class Bridge:
    """A loopback listener whose one connection is spliced to `session`."""

    def __init__(self, session: socket.socket, timeout: float) -> None:
        self.session = session
        self.timeout = timeout
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(timeout)
        self.port = self.listener.getsockname()[1]
        self.threads: list[threading.Thread] = []
        self.accepter = threading.Thread(target=self._accept, daemon=True)
        self.accepter.start()

    def _accept(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        finally:
            self.listener.close()
        conn.settimeout(self.timeout)
        self.session.settimeout(self.timeout)
        for src, dst in ((conn, self.session), (self.session, conn)):
            thread = threading.Thread(target=_copy, args=(src, dst), daemon=True)
            thread.start()
            self.threads.append(thread)
        for thread in self.threads:
            thread.join()
        conn.close()

    def close(self) -> None:
        self.listener.close()
        self.accepter.join(self.timeout)


def _copy(src: socket.socket, dst: socket.socket) -> None:
    while True:
        try:
            data = src.recv(65536)
        except OSError:
            data = b""
        if not data:
            break
        try:
            dst.sendall(data)
        except OSError:
            break
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def _run(argv: list[str], stdin: bytes, session: socket.socket, timeout: float,
         name: str) -> subprocess.CompletedProcess[bytes]:
    bridge = Bridge(session, timeout)
    try:
        argv = [a.replace("{port}", str(bridge.port)) for a in argv]
        return subprocess.run(argv, input=stdin, capture_output=True, timeout=timeout + 5, check=False)
    except subprocess.TimeoutExpired as exc:
        raise ClientHang(f"{name} did not end within {timeout + 5:g} s") from exc
    finally:
        bridge.close()


def _dot_stuffed(message: bytes) -> bytes:
    lines = message.split(b"\r\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return b"".join((b"." + line if line.startswith(b".") else line) + b"\r\n" for line in lines)


def openssl_input(script: ClientScript) -> bytes:
    """What openssl s_client writes after its handshake (the script, pipelined)."""
    out = [f"EHLO {script.helo}\r\n".encode()]
    if script.auth is not None:
        user, password = script.auth.user.encode(), script.auth.password.encode()
        if script.auth.mechanism == "LOGIN":
            out += [b"AUTH LOGIN\r\n", base64.b64encode(user) + b"\r\n", base64.b64encode(password) + b"\r\n"]
        else:
            out.append(b"AUTH PLAIN " + base64.b64encode(b"\0" + user + b"\0" + password) + b"\r\n")
    if script.send:
        opts = "".join(f" {o}" for o in script.mail_options)
        out.append(f"MAIL FROM:<{script.sender}>{opts}\r\n".encode())
        out += [f"RCPT TO:<{r}>\r\n".encode() for r in script.recipients]
        out += [b"DATA\r\n", _dot_stuffed(script.message), b".\r\n"]
    out.append(b"QUIT\r\n")
    return b"".join(out)


def play_openssl(sock: socket.socket, script: ClientScript, timeout: float, workdir: Path) -> bytes:
    argv = ["openssl", "s_client", "-connect", "127.0.0.1:{port}", "-starttls", "smtp", "-name", script.helo,
            "-quiet", "-servername", "mx.test"]
    done = _run(argv, openssl_input(script), sock, timeout, "openssl s_client")
    # stdout is the server's replies inside TLS; stderr is OpenSSL's chatter with addresses
    return tool_exit(done.returncode, done.stdout.decode("latin-1").splitlines())


def play_swaks(sock: socket.socket, script: ClientScript, timeout: float, workdir: Path) -> bytes:
    with tempfile.NamedTemporaryFile(dir=workdir, prefix="swaks-data-") as data:
        data.write(script.message)
        data.flush()
        return _swaks(sock, script, timeout, data.name)


def _swaks(sock: socket.socket, script: ClientScript, timeout: float, data: str) -> bytes:
    argv = ["swaks", "--server", "127.0.0.1:{port}", "--helo", script.helo, "--from", script.sender,
            "--to", ",".join(script.recipients), "--data", f"@{data}", "--timeout", f"{timeout:g}",
            "--hide-informational", "--suppress-data"]
    if script.starttls != "no":
        argv.append("--tls" if script.starttls == "required" else "--tls-optional")
    if script.auth is not None:
        mechanism = [] if script.auth.mechanism == "any" else [script.auth.mechanism]
        argv += ["--auth", *mechanism, "--auth-user", script.auth.user,
                 "--auth-password", script.auth.password]
    if script.pipelining:
        argv.append("--pipeline")
    if not script.send:
        argv += ["--quit-after", "AUTH"]
    done = _run(argv, b"", sock, timeout, "swaks")
    lines = [line for line in done.stdout.decode("latin-1").splitlines() if not line.startswith("===")]
    return tool_exit(done.returncode, _cram_answer_blanked(lines))


def _cram_answer_blanked(lines: list[str]) -> list[str]:
    """The line after `AUTH CRAM-MD5` and its 334 is the digest of a new challenge each
    time (the challenge itself is normalized like every 334 CHAL, harness/normalize.py)."""
    out = list(lines)
    for n, line in enumerate(out[:-2]):
        if line.strip().endswith("AUTH CRAM-MD5") and out[n + 1].lstrip("<~- ").startswith("334 "):
            out[n + 2] = out[n + 2][:4] + "(the CRAM-MD5 answer to the challenge)"
    return out
